"""Privacy of specifications: what a released spec may reveal about its rows.

=====================  ================================================
module                 holds
=====================  ================================================
``record.py``          `privacy_record`, `check_privacy_record`: the signed
                       ``privacy`` record in every spec's ``to_dict()``
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
from engine.privacy.record import check_privacy_record, privacy_record

__all__ = ["MIN_ROWS_PER_POINT", "TooFewRowsError", "check_privacy_record", "coarse_count",
           "group_means", "privacy_record"]
