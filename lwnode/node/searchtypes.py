"""What a search asks and answers, shared by the service and its peer layer."""

from __future__ import annotations

from dataclasses import dataclass

from engine.hetero.mapping import ColumnMapping
from engine.search import Mixture, Requirement
from lwnode.node.segment import Location


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: the engine's requirement, how many singles, mixture size, and
    the time budget of routing it to peers (None: ``[p2p] search_deadline_ms``)."""

    requirement: Requirement
    k: int
    max_mixture: int
    deadline_ms: int | None = None


@dataclass(frozen=True)
class Hit:
    """One learnware in an answer, with where to fetch it."""

    learnware_id: str
    owner: str
    organization: str
    name: str
    score: float
    mmd2: float | None
    package_url: str
    size: int
    local: bool
    locations: tuple[Location, ...] = ()
    mapping: ColumnMapping | None = None
    """Set for a heterogeneous match: which of the user's columns feed the learnware's."""
    approximate: bool = False
    """`mmd2` and `score` are sketch estimates: the full spec could not be fetched."""


@dataclass(frozen=True)
class SearchAnswer:
    """Ranked hits, the best mixture, and how complete the answer is."""

    hits: tuple[Hit, ...]
    mixture: Mixture | None
    n_candidates: int
    exact: bool
    partial: bool = False
    missed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    mixture_hits: tuple[Hit, ...] = ()
    """Where each mixture member lives (in the mixture's order)."""
    asked: tuple[str, ...] = ()
    """Peers the search was forwarded to (empty: answered from this node's catalog)."""
    answered: tuple[str, ...] = ()
    """Those of `asked` that answered in time."""
