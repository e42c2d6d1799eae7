"""Privacy of specifications: what a released spec may reveal about its rows.

=====================  ================================================
module                 holds
=====================  ================================================
``grouping.py``        `group_means`: points that are each the mean of at least
                       m rows (the private default of every RKME), and
                       `MIN_ROWS_PER_POINT`, the default m; `coarse_count`,
                       the row count as it goes on the wire
=====================  ================================================

Nothing here imports `protocol` or `lwnode`: it is engine maths.
"""

from __future__ import annotations

from engine.privacy.grouping import (
    MIN_ROWS_PER_POINT,
    TooFewRowsError,
    coarse_count,
    group_means,
)

__all__ = ["MIN_ROWS_PER_POINT", "TooFewRowsError", "coarse_count", "group_means"]
