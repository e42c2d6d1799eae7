"""Privacy of specifications: what a released spec may reveal about its rows.

=====================  ================================================
module                 holds
=====================  ================================================
``record.py``          `privacy_record`, `check_privacy_record`: the signed
                       ``privacy`` record in every spec's ``to_dict()``
``report.py``          `privacy_report`: the owner's measurement of what a spec
                       reveals (nearest-row distance, rows per point, membership
                       AUC by holding out half of the rows)
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
from engine.privacy.report import PrivacyReport, privacy_report

__all__ = ["MIN_ROWS_PER_POINT", "PrivacyReport", "TooFewRowsError", "check_privacy_record",
           "coarse_count", "group_means", "privacy_record", "privacy_report"]
