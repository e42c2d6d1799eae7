"""The ``[budget]`` caps on spec sizes: what one record or one search may cost.

A search's cost grows with the points of the specs it compares: the requirement's
against each candidate's (re-rank), and the candidates' among themselves (mixture).
The engine keeps that work within a memory budget whatever the sizes
(`engine.search.catalog`), but time still grows as points squared, so the node
refuses specs larger than it means to serve, where they enter:

=======================================  ===============================================
entry                                    refusal
=======================================  ===============================================
peers' announcements (gossip, sync,      not stored; counted as ``too_many_points``
search answers: `lwnode.federation.intake`)         (``rejected_too_many_points``, per peer)
own publish (`NodeService.publish`)      413 ``too_many_points``, nothing kept
HTTP search (`lwnode.http.jsonio`)            413 ``too_many_points``
a peer's routed search                   its ``bad_request`` error reply
=======================================  ===============================================

Defaults (1,000 points for both) are ten times what specs made by this project
carry (``n_points=100``; the web page builds at most 500) and a tenth of what the
wire format allows (10,000), where one mixture search over three such specs needed
a 30,000 x 30,000 kernel matrix (issue 14).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.specification.rkme import RKMESpec
from lwnode.errors import TooManyPoints
from lwnode.node.records import Offer, points_of

TOO_MANY_POINTS = "too_many_points"
"""The intake's refusal reason for an announcement over ``[budget] spec_points``."""


def oversized(specs: Sequence[RKMESpec], cap: int) -> str | None:
    """Why `specs` are over `cap` points (the first that is), or None."""
    return _over([len(spec.points_) for spec in specs], cap)


def announcement_oversized(record: Offer, cap: int) -> str | None:
    """`oversized` for a peer's announcement or summary (which states its points)."""
    return _over(points_of(record), cap)


def _over(points: Sequence[int], cap: int) -> str | None:
    for n in points:
        if n > cap:
            return f"a statistical spec of {n} points (this node takes at most {cap})"
    return None


def check_spec(spec: RKMESpec | None, cap: int, what: str, setting: str) -> None:
    """Raise `TooManyPoints` (413) when `spec` has more than `cap` points; the message
    names `what` (e.g. "requirement") and the `setting` that bounds it."""
    if spec is not None and len(spec.points_) > cap:
        raise TooManyPoints(f"{what}: a statistical spec of {len(spec.points_)} points; this "
                            f"node takes at most {cap} ([budget] {setting}): make it with "
                            "fewer points")
