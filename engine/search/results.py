"""What a search is asked (`Requirement`) and what it answers (`SearchResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import SearchError
from engine.hetero.mapping import ColumnMapping
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec


@dataclass(frozen=True)
class Requirement:
    """A user's task: an optional (partial) semantic spec and an optional RKME.

    The RKME is built on the user's own machine from unlabelled rows; only its
    reduced points travel, never the rows.
    """

    semantic: SemanticSpec | None = None
    spec: RKMESpec | None = None

    def __post_init__(self) -> None:
        if self.semantic is not None and not isinstance(self.semantic, SemanticSpec):
            raise SearchError("requirement.semantic: expected a SemanticSpec")
        if self.spec is not None:
            if not isinstance(self.spec, RKMESpec):
                raise SearchError("requirement.spec: expected a fitted RKME spec")
            self.spec._check_fitted()


@dataclass(frozen=True)
class Match:
    """One learnware in the ranking.

    `mmd2` is the squared MMD between the requirement and the learnware's RKME (None
    for a semantic-only search); `score` is in [0, 1], higher is better, and
    comparable across queries (see `engine.search.scoring`). `mapping` is set for a
    heterogeneous match (a learnware over other columns, compared after mapping the
    user's columns onto its own; see `engine.hetero`) and None otherwise.
    `approximate` marks `mmd2` and `score` estimated from sketches
    (`engine.search.sketch`), not computed on the full specs.
    """

    id: str
    mmd2: float | None
    score: float
    mapping: ColumnMapping | None = None
    approximate: bool = False


@dataclass(frozen=True)
class Mixture:
    """A weighted set of learnwares whose mixed RKME fits the requirement best.

    `mappings` is empty when every member takes the user's columns; for a mixture
    across feature spaces it holds one entry per id — the member's `ColumnMapping`,
    or None for a member over the user's own columns — so reuse needs no look-up in
    the single matches (``HeteroReuser(..., mappings=mixture.mappings)``).
    """

    ids: tuple[str, ...]
    weights: tuple[float, ...]
    mmd2: float
    score: float
    mappings: tuple[ColumnMapping | None, ...] = ()

    def __post_init__(self) -> None:
        if self.mappings and len(self.mappings) != len(self.ids):
            raise SearchError(f"mixture.mappings: {len(self.mappings)} for {len(self.ids)} "
                              "members; give one per member or none")

    def mapping_of(self, learnware_id: str) -> ColumnMapping | None:
        """The column mapping of member `learnware_id` (None: it takes the user's columns)."""
        if learnware_id not in self.ids:
            raise SearchError(f"mixture: {learnware_id} is not a member")
        return self.mappings[self.ids.index(learnware_id)] if self.mappings else None


@dataclass(frozen=True)
class SearchResult:
    """Ranked single matches, the best mixture (or None), and how they were found.

    `n_candidates` counts entries that passed the semantic filter and are
    comparable with the requirement's spec; `exact` is False when an index
    shortlist was re-ranked instead of scanning every candidate exactly.
    """

    single: tuple[Match, ...]
    mixture: Mixture | None
    n_candidates: int
    exact: bool
    gamma: float | None = None
    notes: tuple[str, ...] = field(default=())
