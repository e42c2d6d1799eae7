"""`NodeCatalog`: the engine's search `Catalog` plus where each learnware lives.

The engine catalog is in memory only; the store is the truth. At start-up the
node rebuilds the catalog from every announcement the store keeps (its own and
its peers'), and afterwards applies each record it stores, so catalog and store
hold the same ids (`ids` and `Store.iter_announcements` are compared by the tests
after every crash).

Two indexes. A learnware this node holds a full announcement of (its own, or a
peer's from before schema 1.3) is in the engine's `Catalog` with its full spec. A
learnware known only by its owner's summary (1.3: spec ids and sketches) is in a
`SketchIndex`. A search with a statistical spec is then two-phase, because the
second phase needs full specs the node may have to fetch from peers:

1. `shortlist` — the summarised candidates nearest by sketch (their first spec id
   and owners, to fetch by);
2. `search(..., fetched=...)` — the full catalog's search as before, and, when
   summarised candidates were fetched, an exact search over them together with the
   full catalog's best, for the singles and the mixture (scores are exact MMD²
   under one kernel on both sides, so they merge).

Searches run in worker threads while publishes add entries, so access goes
through a readers-writer lock: many searches at once, one writer alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from dataclasses import dataclass

from engine.errors import SearchError
from engine.search import Catalog, Match, Mixture, Requirement, SearchResult
from engine.search.catalog import DEFAULT_MEMORY_BUDGET, MIXTURE_POOL
from engine.search.sketch_search import DEFAULT_SKETCH_SHORTLIST, SketchIndex
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import InputSpec, SemanticSpec
from lwnode.node.records import Offer, offer_of, points_of
from lwnode.node.store.base import ANNOUNCEMENT, RecordRow, Store
from protocol.messages import SpecAnnouncement, SpecSummary


class RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class ToFetch:
    """A summarised candidate of a search: the full spec to fetch and who offers it."""

    learnware_id: str
    spec_id: str
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Shortlist:
    """Phase 1 of a search (`NodeCatalog.shortlist`): the summarised candidates nearest
    by sketch, best first, with their sketch estimates; how many passed the filter;
    the full specs to fetch for them."""

    matches: tuple[Match, ...]
    n_candidates: int
    to_fetch: tuple[ToFetch, ...]


@dataclass(frozen=True)
class Location:
    """One owner's offer of a learnware, from its announcement."""

    owner: str
    organization: str
    name: str
    package_urls: tuple[str, ...]
    size: int
    sequence: int


class NodeCatalog:
    """Search over every announced learnware, with owners and package URLs.

    Parameters
    ----------
    shortlist
        Index candidates re-ranked exactly per search (see `engine.search.Catalog`).
    points_dir
        Scratch directory for the reduced-set points (None: in memory).
    memory_budget
        Working memory of one search, in bytes (see `engine.search.Catalog`).
    """

    def __init__(self, *, shortlist: int = 200,
                 points_dir: str | os.PathLike[str] | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 sketch_shortlist: int = DEFAULT_SKETCH_SHORTLIST) -> None:
        self._catalog = Catalog(shortlist=shortlist, points_dir=points_dir,
                                memory_budget=memory_budget)
        self._sketches = SketchIndex(shortlist=sketch_shortlist)
        self._summarised: dict[str, tuple[SemanticSpec, str]] = {}
        """Learnwares in the sketch index: semantic spec and first spec id."""
        self._by_spec: dict[str, str] = {}
        """First spec id -> learnware id, for the learnwares in the sketch index."""
        self.memory_budget = memory_budget
        self.skipped = 0
        """Records `rebuild` left out: specs over its `max_points`, or offers the
        engine cannot index."""
        self._where: dict[str, dict[str, Location]] = {}
        self._lock = RWLock()

    def __len__(self) -> int:
        return len(self._where)

    def ids(self) -> set[str]:
        with self._lock.read():
            return set(self._where)

    def locations(self, learnware_id: str) -> list[Location]:
        with self._lock.read():
            return sorted(self._where.get(learnware_id, {}).values(), key=lambda x: x.owner)

    def add(self, offer: Offer) -> None:
        """Insert an owner's offer. The first offer indexes the id: a full announcement
        in the catalog, a summary in the sketch index; a full announcement of an id
        known only by summary moves it to the catalog."""
        a = offer
        loc = Location(a.owner, a.organization, a.semantic.name, a.package_urls, a.package_size,
                       a.sequence)
        with self._lock.write():
            owners = self._where.setdefault(a.learnware_id, {})
            try:
                if isinstance(a, SpecAnnouncement) and a.learnware_id not in self._catalog:
                    self._catalog.add(a.learnware_id, a.semantic, a.statistical[0])
                    if a.learnware_id in self._summarised:
                        self._forget_summary(a.learnware_id)
                elif isinstance(a, SpecSummary) and not owners:
                    ref = a.specs[0]
                    self._sketches.add(a.learnware_id, a.semantic, ref.sketch)
                    self._summarised[a.learnware_id] = (a.semantic, ref.id)
                    self._by_spec[ref.id] = a.learnware_id
            except BaseException:
                if not owners:
                    del self._where[a.learnware_id]
                raise
            owners[a.owner] = loc

    def remove(self, owner: str, learnware_id: str) -> None:
        """Forget one owner's offer; the id leaves the index with its last owner."""
        with self._lock.write():
            owners = self._where.get(learnware_id)
            if owners is None or owners.pop(owner, None) is None:
                return
            if not owners:
                del self._where[learnware_id]
                if learnware_id in self._summarised:
                    self._forget_summary(learnware_id)
                else:
                    self._catalog.remove(learnware_id)

    def _forget_summary(self, learnware_id: str) -> None:
        _, spec_id = self._summarised.pop(learnware_id)
        self._by_spec.pop(spec_id, None)
        self._sketches.remove(learnware_id)

    def apply(self, row: RecordRow) -> None:
        """Reflect a record just stored: an announcement adds, a tombstone removes."""
        if row.kind == ANNOUNCEMENT:
            self.add(offer_of(row))
        else:
            self.remove(row.owner, row.learnware_id)

    def rebuild(self, store: Store, max_points: int | None = None,
                each: Callable[[RecordRow, Offer], None] | None = None) -> int:
        """Load every announcement the store keeps; returns the number of ids.

        With `max_points`, announcements whose specs have more points (kept from
        before the node's ``[budget] spec_points`` was lowered) are left out and
        counted in `skipped`, as are offers the engine cannot index.
        """
        self.skipped = 0
        for row in store.iter_announcements():
            offer = offer_of(row)
            if each is not None:  # the caller's look at every stored offer, decoded once
                each(row, offer)
            if max_points is not None and any(n > max_points for n in points_of(offer)):
                self.skipped += 1
                continue
            try:
                self.add(offer)
            except SearchError:  # e.g. a summary's sketch of a size this index does not hold
                self.skipped += 1
        return len(self)

    def input_of(self, learnware_id: str) -> InputSpec | None:
        """The learnware's input spec (its columns), None if unknown or not stated."""
        with self._lock.read():
            if learnware_id not in self._where:
                return None
            if learnware_id in self._summarised:
                return self._summarised[learnware_id][0].input
            return self._catalog.get(learnware_id).semantic.input

    def unusable(self, offer: Offer) -> str | None:
        """Why this node could not index a peer's summary (its sketches are of another
        size, quantisation or version than the index holds), or None."""
        if not isinstance(offer, SpecSummary):
            return None
        index, sketch = self._sketches, offer.specs[0].sketch
        got = (sketch.n_features, sketch.dtype, sketch.version)
        if got != (index.n_features, index.dtype, index.version):
            return (f"sketch D={got[0]} {got[1]} version {got[2]}: this node indexes "
                    f"D={index.n_features} {index.dtype} version {index.version}")
        return None

    def summarised(self, learnware_id: str) -> bool:
        """Known by summary only (its full spec is fetched when a search needs it)."""
        with self._lock.read():
            return learnware_id in self._summarised

    def to_fetch(self, ids: list[str]) -> list[ToFetch]:
        """What to fetch to rank the learnwares `ids` exactly (those known by summary)."""
        with self._lock.read():
            return [self._to_fetch(i) for i in dict.fromkeys(ids) if i in self._summarised]

    def _to_fetch(self, learnware_id: str) -> ToFetch:
        return ToFetch(learnware_id, self._summarised[learnware_id][1],
                       tuple(sorted(self._where[learnware_id])))

    def owners_of_spec(self, spec_id: str) -> tuple[str, ...]:
        """Owners of the summarised learnware whose (first) spec is `spec_id`, if any."""
        with self._lock.read():
            learnware_id = self._by_spec.get(spec_id)
            return () if learnware_id is None else tuple(sorted(self._where[learnware_id]))

    def shortlist(self, requirement: Requirement) -> Shortlist:
        """Phase 1 of a search: the summarised candidates nearest by sketch, with their
        estimates, and the full specs to fetch for them (none for a search without a
        statistical spec)."""
        if requirement.spec is None:
            return Shortlist((), 0, ())
        with self._lock.read():
            if not len(self._sketches):
                return Shortlist((), 0, ())
            scored, n_candidates = self._sketches.shortlist_scored(requirement)
            return Shortlist(tuple(scored), n_candidates,
                             tuple(self._to_fetch(m.id) for m in scored))

    def search(self, requirement: Requirement, k: int, max_mixture: int,
               fetched: Mapping[str, RKMESpec] | None = None,
               withheld: Set[str] = frozenset(), shortlisted: Shortlist | None = None
               ) -> SearchResult:
        """Phase 2: rank every learnware (`shortlisted`: phase 1's answer, computed here
        when not given; `fetched`: learnware id -> full spec of its candidates). A
        shortlisted candidate whose full spec did not arrive is ranked by its sketch
        estimate (`Match.approximate`, and a note) rather than left out, unless its
        owner withheld it (`withheld`: left out); it takes no part in the mixture."""
        if shortlisted is None:
            shortlisted = self.shortlist(requirement)
        with self._lock.read():
            if requirement.spec is None:
                return self._semantic_search(requirement, k)
            if not len(self._sketches):
                return self._catalog.search(requirement, k=k, max_mixture=max_mixture)
            scored, n_summarised = list(shortlisted.matches), shortlisted.n_candidates
            full = self._full_search(requirement, max(k, MIXTURE_POOL), max_mixture,
                                     bool(scored))
            pool = [(m.id, self._catalog.get(m.id).spec) for m in full.single
                    if m.mapping is None]
        fetched = fetched or {}
        got = [(m.id, fetched[m.id]) for m in scored if m.id in fetched
               and fetched[m.id].space == requirement.spec.space]
        have = {i for i, _ in got}
        estimated = [m for m in scored if m.id not in have and m.id not in withheld]
        notes = list(full.notes)
        if estimated:
            notes.append(f"{len(estimated)} of {len(scored)} shortlisted learnwares known by "
                         "summary could not be fetched: ranked by their sketches "
                         "(approximate MMD², marked so)")
        refused = sum(m.id in withheld and m.id not in have for m in scored)
        if refused:
            notes.append(f"{refused} shortlisted learnware(s) left out: their owners "
                         "withheld the full specs")
        n = full.n_candidates + n_summarised
        exact = full.exact and len(have) == len(scored) == n_summarised
        hetero = [m for m in full.single if m.mapping is not None]
        if got:
            few = Catalog(index=False, memory_budget=self.memory_budget)
            blank = SemanticSpec()  # both sides passed the semantic filter already
            for entry_id, spec in [*pool, *got]:
                few.add(entry_id, blank, spec)
            ranked = few.search(Requirement(spec=requirement.spec), k=k,
                                max_mixture=max_mixture, exact=True)
            same_space, mixture, gamma = list(ranked.single), ranked.mixture, ranked.gamma
        else:
            same_space = [m for m in full.single if m.mapping is None]
            mixture, gamma = None, full.gamma
        # as the engine ranks: by MMD² in the requirement's space, and by score when
        # matches over other columns join them (engine.hetero.search)
        single = sorted([*same_space, *estimated], key=lambda m: (m.mmd2, m.id))
        if hetero:
            single = sorted([*single, *hetero], key=lambda m: -m.score)
        return SearchResult(tuple(single[:k]), mixture or full.mixture, n, exact, gamma,
                            tuple(notes))

    def _full_search(self, requirement: Requirement, k: int, max_mixture: int,
                     summarised: bool) -> SearchResult:
        """The full catalog's search; when it refuses (e.g. only learnwares over other
        columns, and a requirement without column descriptions) but summarised
        learnwares of the requirement's own space are candidates, those answer."""
        if not len(self._catalog):
            return SearchResult((), None, 0, True, _gamma(requirement))
        try:
            return self._catalog.search(requirement, k=k, max_mixture=max_mixture)
        except SearchError:
            if not summarised:
                raise
            return SearchResult((), None, 0, True, _gamma(requirement))

    def _semantic_search(self, requirement: Requirement, k: int) -> SearchResult:
        full = self._catalog.search(requirement, k=k, max_mixture=1)
        if not len(self._sketches):
            return full
        more = self._sketches.semantic_search(requirement.semantic, k)
        single = sorted([*full.single, *more.single], key=_best_first)[:k]
        return SearchResult(tuple(single), None, full.n_candidates + more.n_candidates, True,
                            None)

    def mixture_over(self, ids: list[str], requirement: Requirement, max_mixture: int,
                     fetched: Mapping[str, RKMESpec] | None = None) -> Mixture | None:
        """The best mixture of the learnwares `ids` only (e.g. a routed search's merged
        hits, from every owner), computed exactly on a catalog of just those; ids known
        by summary take part when their full spec is in `fetched`."""
        if requirement.spec is None or max_mixture < 2:
            return None
        fetched = fetched or {}
        with self._lock.read():
            specs = [(i, self._catalog.get(i).semantic, self._catalog.get(i).spec)
                     if i in self._catalog else (i, self._summarised[i][0], fetched[i])
                     for i in dict.fromkeys(ids)
                     if i in self._catalog or (i in self._summarised and i in fetched)]
        few = Catalog(index=False, memory_budget=self.memory_budget)
        for entry_id, semantic, spec in specs:
            few.add(entry_id, semantic, spec)
        if len(few) < 2:
            return None
        # k covers every entry: a mixture across feature spaces is drawn from the ranked
        # matches (engine.hetero.mixture), a homogeneous one from all candidates.
        return few.search(requirement, k=len(few), max_mixture=max_mixture,
                          exact=True).mixture

    def nbytes(self) -> int:
        return self._catalog.nbytes() + self._sketches.nbytes()


def _best_first(match: Match) -> tuple[float, str]:
    return (-match.score, match.id)


def _gamma(requirement: Requirement) -> float | None:
    return None if requirement.spec is None else float(requirement.spec.gamma_)
