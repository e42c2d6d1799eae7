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

At scale the summarised learnwares live in a persisted, memory-mapped `Segment`
(`lwnode.node.segment`) written from the store, plus the in-memory `SketchIndex`
for those that arrived since: `rebuild` opens the segment and replays the records
written after it, instead of decoding every stored summary. An entry or offer of
the segment that changes afterwards is flagged dead in memory and lives on in the
in-memory indexes. Every learnware id with an offer is indexed in exactly one of
the three: the full catalog, the in-memory sketch index, the segment.

Searches run in worker threads while publishes add entries, so access goes
through a readers-writer lock: many searches at once, one writer alone.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import SearchError
from engine.search import Catalog, Match, Mixture, Requirement, SearchResult
from engine.search import semantic_filter as sf
from engine.search.catalog import DEFAULT_MEMORY_BUDGET, MIXTURE_POOL
from engine.search.sketch_ann import ANN_MIN_CANDIDATES
from engine.search.sketch_search import (
    DEFAULT_SKETCH_SHORTLIST,
    SketchIndex,
    nearest_by_index,
    nearest_by_sketch,
)
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import InputSpec, SemanticSpec
from lwnode.node.records import Offer, offer_of, points_of
from lwnode.node.segment import (
    Location,
    Segment,
    SegmentUnusable,
    SegmentWriter,
    Settings,
    remove_leftovers,
)
from lwnode.node.store.base import ANNOUNCEMENT, ChangeFeed, RecordRow, Store
from protocol.messages import SpecAnnouncement, SpecSummary, Withdrawal

log = logging.getLogger(__name__)

REWRITE_AFTER = 20_000
"""Records written since the segment beyond which a start rewrites it rather than
replaying them (or a quarter of its entries, if more): a replayed record costs about
0.14 ms and lives in memory, a rewrite decodes every stored record once."""
INDEX_REWRITE_AFTER = REWRITE_AFTER // 2
"""Changes after which a running node rewrites its segment in the background (from a
snapshot of the store), so its next start replays few; or as many as the last segment
written holds, if more: a rewrite decodes every stored record, so a store that grows
pays about one extra decode per change, however large it grows."""


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
        self.index_note = ""
        """Why `rebuild` wrote the segment anew ("" when it used the one it found)."""
        self.replayed_to = 0
        """The last store change `rebuild` replayed over the segment."""
        self._where: dict[str, dict[str, Location]] = {}
        """Offers taken in since the segment was written (all offers without one)."""
        self._segment: Segment | None = None
        self._entry_dead = np.zeros(0, dtype=bool)
        self._offer_dead = np.zeros(0, dtype=bool)
        self._segment_live = 0
        self._changed = 0
        """Offers added or removed since the segment was written (`changes_since_index`)."""
        self._written = 0
        self._lock = RWLock()

    def __len__(self) -> int:
        return self._segment_live + len(self._catalog) + len(self._sketches)

    def ids(self) -> set[str]:
        with self._lock.read():
            out = set(self._where)
            if self._segment is not None:
                seg = self._segment
                out.update(seg.id_at(int(r)) for r in np.flatnonzero(~self._entry_dead))
            return out

    def gammas(self, space: str) -> dict[float, int]:
        """How many learnwares of `space` this node knows carry each kernel gamma (public:
        each gamma travels in a signed spec or sketch); the DP mode's market convention."""
        with self._lock.read():
            out: Counter[float] = Counter(self._catalog.gammas(space))
            out.update(self._sketches.gammas(space))
            seg = self._segment
            found = None if seg is None else seg.columns(space)
            if found is not None:
                first, columns = found
                live = ~self._entry_dead[first:first + len(columns["gamma"])]
                values, counts = np.unique(columns["gamma"][live], return_counts=True)
                out.update({float(g): int(c) for g, c in zip(values, counts, strict=True)})
            return dict(out)

    def locations(self, learnware_id: str) -> list[Location]:
        with self._lock.read():
            return self._locations(learnware_id)

    def _locations(self, learnware_id: str) -> list[Location]:
        found = list(self._where.get(learnware_id, {}).values())
        seg, row = self._segment, self._segment_row(learnware_id)
        if seg is not None and row is not None:
            found.extend(seg.offer(row, k) for k in seg.offers_of(row)
                         if not self._offer_dead[k])
        return sorted(found, key=lambda x: x.owner)

    def _owners(self, learnware_id: str) -> tuple[str, ...]:
        """The owners of `_locations`, without making the locations (a segment offer's
        name may need its entry's semantic spec inflated: a shortlist asks this of
        every candidate)."""
        found = list(self._where.get(learnware_id, {}))
        seg, row = self._segment, self._segment_row(learnware_id)
        if seg is not None and row is not None:
            found.extend(seg.offer_owner(k) for k in seg.offers_of(row)
                         if not self._offer_dead[k])
        return tuple(sorted(found))

    # -- the segment ------------------------------------------------------------------------
    def _segment_row(self, learnware_id: str) -> int | None:
        """The id's row in the segment (its entry may be dead: its offers may not)."""
        return None if self._segment is None else self._segment.row_of(learnware_id)

    def _segment_entry(self, learnware_id: str) -> int | None:
        """The id's row in the segment if the segment indexes it."""
        row = self._segment_row(learnware_id)
        return None if row is None or self._entry_dead[row] else row

    def _live_offers(self, row: int | None) -> list[int]:
        if row is None or self._segment is None:
            return []
        return [k for k in self._segment.offers_of(row) if not self._offer_dead[k]]

    def _kill_offer(self, row: int | None, owner: str) -> bool:
        """Flag the segment's offer of `owner` for entry `row` dead; False if none."""
        seg = self._segment
        if row is None or seg is None or (number := seg.owner_number(owner)) is None:
            return False
        for k in self._live_offers(row):
            if int(seg.a["offer_owner"][k]) == number:
                self._offer_dead[k] = True
                return True
        return False

    def _kill_entry(self, row: int | None) -> None:
        if row is not None and not self._entry_dead[row]:
            self._entry_dead[row] = True
            self._segment_live -= 1

    def _use(self, segment: Segment) -> None:
        self._segment = segment
        self._written = segment.n
        self._entry_dead = np.zeros(segment.n, dtype=bool)
        self._offer_dead = np.zeros(segment.n_offers, dtype=bool)
        self._segment_live = segment.n

    def mapped_bytes(self) -> int:
        """Bytes of the memory-mapped segment's files (page cache, not the heap)."""
        return 0 if self._segment is None else self._segment.mapped_bytes()

    def add(self, offer: Offer) -> None:
        """Insert an owner's offer. The first offer indexes the id: a full announcement
        in the catalog, a summary in the sketch index; a full announcement of an id
        known only by summary moves it to the catalog."""
        a = offer
        loc = Location(a.owner, a.organization, a.semantic.name, a.package_urls, a.package_size,
                       a.sequence)
        with self._lock.write():
            self._changed += 1
            owners = self._where.setdefault(a.learnware_id, {})
            row = self._segment_row(a.learnware_id)
            indexed = bool(owners) or bool(self._live_offers(row))
            try:
                if isinstance(a, SpecAnnouncement) and a.learnware_id not in self._catalog:
                    self._catalog.add(a.learnware_id, a.semantic, a.statistical[0])
                    if a.learnware_id in self._summarised:
                        self._forget_summary(a.learnware_id)
                    self._kill_entry(self._segment_entry(a.learnware_id))
                elif isinstance(a, SpecSummary) and not indexed:
                    ref = a.specs[0]
                    self._sketches.add(a.learnware_id, a.semantic, ref.sketch)
                    self._summarised[a.learnware_id] = (a.semantic, ref.id)
                    self._by_spec[ref.id] = a.learnware_id
            except BaseException:
                if not owners:
                    del self._where[a.learnware_id]
                raise
            self._kill_offer(row, a.owner)  # this offer supersedes the segment's
            owners[a.owner] = loc

    def remove(self, owner: str, learnware_id: str) -> None:
        """Forget one owner's offer; the id leaves the index with its last owner."""
        with self._lock.write():
            self._changed += 1
            row = self._segment_row(learnware_id)
            owners = self._where.get(learnware_id)
            popped = owners is not None and owners.pop(owner, None) is not None
            if not self._kill_offer(row, owner) and not popped:
                return
            if owners is not None and not owners:
                del self._where[learnware_id]
            if owners or self._live_offers(row):
                return
            if learnware_id in self._summarised:
                self._forget_summary(learnware_id)
            elif learnware_id in self._catalog:
                self._catalog.remove(learnware_id)
            self._kill_entry(self._segment_entry(learnware_id))

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

    def apply_each(self, items: Sequence[RecordRow | Offer | Withdrawal]) -> None:
        """Reflect stored records in order, as rows or as their verified records. One
        the engine cannot index stays stored but is not searchable, and is logged."""
        for item in items:
            try:
                if isinstance(item, RecordRow):
                    self.apply(item)
                elif isinstance(item, Withdrawal):
                    self.remove(item.owner, item.learnware_id)
                else:
                    self.add(item)
            except Exception:
                log.exception("cannot index %s of %s", item.learnware_id, item.owner)

    def rebuild(self, store: Store, max_points: int | None = None,
                each: Callable[[RecordRow, Offer], None] | None = None,
                index_dir: Path | None = None, write: bool = True) -> int:
        """Load every announcement the store keeps; returns the number of ids.

        With `index_dir`, the summaries come from the segment there (written anew
        from the store when missing or unusable: `index_note` says why; with
        `write=False` that raises `SegmentUnusable` instead) and only the records
        written after it are decoded (up to `replayed_to`). `each` sees every offer
        decoded here.
        With `max_points`, announcements whose specs have more points (kept from
        before the node's ``[budget] spec_points`` was lowered) are left out and
        counted in `skipped`, as are offers the engine cannot index.
        """
        self.skipped = 0
        if index_dir is None:
            for _, row in store.changes_after(0):
                if row.kind == ANNOUNCEMENT:
                    self._load(row, max_points, each)
            return len(self)
        remove_leftovers(index_dir)
        epoch, last = store.change_mark()
        settings = self.index_settings(epoch, max_points)
        try:
            segment = Segment(index_dir, settings)
            if segment.change > last:
                raise SegmentUnusable(f"written at change {segment.change}, past the "
                                      f"store's last ({last})")
            if last - segment.change > max(REWRITE_AFTER, segment.n // 4):
                raise SegmentUnusable(f"{last - segment.change} records written since")
            self.index_note = ""
        except SegmentUnusable as exc:
            if not write:
                raise
            self.index_note = str(exc)
            write_segment(store, index_dir, settings, max_points)
            segment = Segment(index_dir, settings)
        with self._lock.write():
            self._use(segment)
        self.skipped = segment.skipped
        for owner, learnware_id in segment.full:
            full = store.get_record(owner, learnware_id)
            if full is not None and full.kind == ANNOUNCEMENT:
                self._load(full, max_points, each)
        self._changed = 0  # what the replay below adds is what changed since the segment
        self.replayed_to = segment.change
        for change, row in store.changes_after(segment.change):
            if row.kind == ANNOUNCEMENT:
                self._load(row, max_points, each)
            else:
                self.remove(row.owner, row.learnware_id)
            self.replayed_to = change
        return len(self)

    def _load(self, row: RecordRow, max_points: int | None,
              each: Callable[[RecordRow, Offer], None] | None) -> None:
        offer = offer_of(row)
        if each is not None:  # the caller's look at every stored offer, decoded once
            each(row, offer)
        if max_points is not None and any(n > max_points for n in points_of(offer)):
            self.skipped += 1
            return
        try:
            self.add(offer)
        except SearchError:  # e.g. a summary's sketch of a size this index does not hold
            self.skipped += 1

    def changes_since_index(self) -> int:
        """Offers added or removed since the segment was written (0 without one)."""
        return self._changed if self._segment is not None else 0

    def index_settings(self, epoch: str, max_points: int | None) -> Settings:
        """What a segment for this catalog must agree with (`Settings`)."""
        sketches = self._sketches
        return Settings(epoch, sketches.n_features, sketches.dtype, sketches.version,
                        max_points)

    def index_size(self) -> int:
        """Entries of the segment last written (0 without one)."""
        return self._written

    def index_rewritten(self, seen: int, entries: int) -> None:
        """A new segment of `entries` was written from a snapshot taken when
        `changes_since_index` was `seen` (the next start maps it; this catalog keeps
        the one it has)."""
        with self._lock.write():
            self._changed = max(0, self._changed - seen)
            self._written = entries

    def input_of(self, learnware_id: str) -> InputSpec | None:
        """The learnware's input spec (its columns), None if unknown or not stated."""
        with self._lock.read():
            if learnware_id in self._summarised:
                return self._summarised[learnware_id][0].input
            if learnware_id in self._catalog:
                return self._catalog.get(learnware_id).semantic.input
            row = self._segment_entry(learnware_id)
            return None if row is None or self._segment is None else \
                self._segment.semantic_at(row).input

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
            return self._summarised_here(learnware_id)

    def _summarised_here(self, learnware_id: str) -> bool:
        return learnware_id in self._summarised or \
            self._segment_entry(learnware_id) is not None

    def to_fetch(self, ids: list[str]) -> list[ToFetch]:
        """What to fetch to rank the learnwares `ids` exactly (those known by summary)."""
        with self._lock.read():
            return [self._to_fetch(i) for i in dict.fromkeys(ids) if self._summarised_here(i)]

    def _to_fetch(self, learnware_id: str) -> ToFetch:
        if learnware_id in self._summarised:
            spec_id = self._summarised[learnware_id][1]
        else:
            row = self._segment_entry(learnware_id)
            assert row is not None and self._segment is not None
            spec_id = self._segment.spec_id_at(row)
        return ToFetch(learnware_id, spec_id, self._owners(learnware_id))

    def owners_of_spec(self, spec_id: str) -> tuple[str, ...]:
        """Owners of the summarised learnware whose (first) spec is `spec_id`, if any."""
        with self._lock.read():
            learnware_id = self._by_spec.get(spec_id)
            if learnware_id is None and self._segment is not None:
                row = self._segment.row_of_spec(spec_id)
                if row is not None and not self._entry_dead[row]:
                    learnware_id = self._segment.id_at(row)
            if learnware_id is None:
                return ()
            return self._owners(learnware_id)

    def shortlist(self, requirement: Requirement) -> Shortlist:
        """Phase 1 of a search: the summarised candidates nearest by sketch, with their
        estimates, and the full specs to fetch for them (none for a search without a
        statistical spec)."""
        if requirement.spec is None:
            return Shortlist((), 0, ())
        with self._lock.read():
            if not self._any_summarised():
                return Shortlist((), 0, ())
            scored, n_candidates = ([], 0) if not len(self._sketches) else \
                self._sketches.shortlist_scored(requirement)
            more, n_more = self._segment_shortlist(requirement, self._sketches.shortlist)
            if more:
                scored = sorted([*scored, *more], key=lambda m: (m.mmd2, m.id))[
                    :self._sketches.shortlist]
            return Shortlist(tuple(scored), n_candidates + n_more,
                             tuple(self._to_fetch(m.id) for m in scored))

    def _any_summarised(self) -> bool:
        return bool(len(self._sketches) or self._segment_live)

    def _segment_shortlist(self, requirement: Requirement, n: int) -> tuple[list[Match], int]:
        """The segment's `n` candidates nearest by sketch, and how many passed the
        filter (the rules of `SketchIndex.shortlist_scored`)."""
        seg, spec = self._segment, requirement.spec
        if seg is None or spec is None or not self._segment_live:
            return [], 0
        found = seg.columns(spec.space)
        if found is None:
            return [], 0
        first, columns = found
        size = len(columns["gamma"])
        allowed = seg.allowed_rows(requirement.semantic)
        if allowed is not None:
            allowed = allowed[(allowed >= first) & (allowed < first + size)] - first
        codes = {name: columns[f"class_{name}"] for name in sf.CLASS_FIELDS}
        mask = sf.candidate_mask(codes, columns["input_dim"],
                                 ~self._entry_dead[first:first + size], requirement.semantic,
                                 allowed)
        n_rows = int(np.count_nonzero(mask))
        if n_rows == 0:
            return [], 0
        ann = seg.ann(spec.space)
        nearest = None
        if ann is not None and n_rows >= ANN_MIN_CANDIDATES:
            # a large space: the index's candidates, not a scan (None: too few of them
            # pass this filter, so scan)
            nearest = nearest_by_index(spec, columns, None if n_rows == size else mask, n, ann,
                                       n_features=self._sketches.n_features,
                                       version=self._sketches.version)
        if nearest is None:
            nearest = nearest_by_sketch(spec, columns, np.flatnonzero(mask), n,
                                        n_features=self._sketches.n_features,
                                        version=self._sketches.version)
        near, approx, scores = nearest
        return [Match(seg.id_at(first + int(r)), float(a), float(s), approximate=True)
                for r, a, s in zip(near, approx, scores, strict=True)], n_rows

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
            if not self._any_summarised():
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
        if not self._any_summarised():
            return full
        more = self._sketches.semantic_search(requirement.semantic, k)
        seg, n_seg = self._segment_semantic(requirement.semantic, k)
        single = sorted([*full.single, *more.single, *seg], key=_best_first)[:k]
        return SearchResult(tuple(single), None,
                            full.n_candidates + more.n_candidates + n_seg, True, None)

    def _segment_semantic(self, semantic: SemanticSpec | None, k: int
                          ) -> tuple[list[Match], int]:
        """The segment's top `k` by the share of the requirement's words (ties by id),
        and how many passed the filter (`SpaceEntries.semantic_search`'s rules)."""
        seg = self._segment
        if seg is None or not self._segment_live:
            return [], 0
        mask = ~self._entry_dead
        if semantic is not None:
            codes = {name: seg.a[f"class_{name}"] for name in sf.CLASS_FIELDS}
            mask &= sf.class_mask(codes, seg.a["input_dim"], semantic, seg.n)
        allowed = seg.allowed_rows(semantic)
        if allowed is not None:
            keep = np.zeros(seg.n, dtype=bool)
            keep[allowed] = True
            mask &= keep
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return [], 0
        words = sf.stems(sf.text_of(semantic)) if semantic is not None else set()
        counts = seg.stem_counts(words)[rows] if words else np.zeros(len(rows), np.int64)
        rank = np.empty(seg.n, dtype=np.int64)  # each row's place in id order
        rank[seg.a["ids_order"]] = np.arange(seg.n)
        key = -counts * (seg.n + 1) + rank[rows]  # most words first, then by id
        pos = np.argpartition(key, k - 1)[:k] if len(rows) > k else np.arange(len(rows))
        pos = pos[np.argsort(key[pos])]
        return [Match(seg.id_at(int(rows[p])), None,
                      float(counts[p]) / len(words) if words else 1.0)
                for p in pos], len(rows)

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
                     if i in self._catalog else (i, self._semantic_of(i), fetched[i])
                     for i in dict.fromkeys(ids)
                     if i in self._catalog or (self._summarised_here(i) and i in fetched)]
        few = Catalog(index=False, memory_budget=self.memory_budget)
        for entry_id, semantic, spec in specs:
            few.add(entry_id, semantic, spec)
        if len(few) < 2:
            return None
        # k covers every entry: a mixture across feature spaces is drawn from the ranked
        # matches (engine.hetero.mixture), a homogeneous one from all candidates.
        return few.search(requirement, k=len(few), max_mixture=max_mixture,
                          exact=True).mixture

    def _semantic_of(self, learnware_id: str) -> SemanticSpec:
        """The semantic spec of a learnware known by summary."""
        if learnware_id in self._summarised:
            return self._summarised[learnware_id][0]
        row = self._segment_entry(learnware_id)
        assert row is not None and self._segment is not None
        return self._segment.semantic_at(row)

    @property
    def points_dir(self) -> str | os.PathLike[str] | None:
        return self._catalog.points_dir

    def nbytes(self) -> int:
        """Bytes of the indexes' arrays in memory (the segment's mapped files apart)."""
        return (self._catalog.nbytes() + self._sketches.nbytes() + self._entry_dead.nbytes
                + self._offer_dead.nbytes)


def write_segment(feed: ChangeFeed, index_dir: Path, settings: Settings,
                  max_points: int | None) -> int:
    """A segment of every summary `feed` holds (at start-up nothing else writes
    meanwhile; later `feed` is a snapshot); returns the change it reflects. Summaries
    over `max_points` or with sketches of other settings are counted as skipped."""
    writer, change = SegmentWriter(settings), feed.change_mark()[1]
    sketch = (settings.n_features, settings.dtype, settings.version)
    for _, row in feed.changes_after(0):
        if row.kind != ANNOUNCEMENT:
            continue
        offer = offer_of(row)
        if isinstance(offer, SpecAnnouncement):
            writer.full.append((row.owner, row.learnware_id))
        elif (max_points is not None and any(n > max_points for n in points_of(offer))) or \
                any((r.sketch.n_features, r.sketch.dtype, r.sketch.version) != sketch
                    for r in offer.specs[:1]):
            writer.skipped += 1
        else:
            writer.add(offer)
    writer.finish(index_dir, change)
    return change


def rewrite_in_child(database: str, index_dir: str, settings: Settings,
                     max_points: int | None) -> None:
    """A child process's whole work (`NodeService.keep_index`): a segment written from a
    snapshot of the store, at low priority and off the node's interpreter lock."""
    from lwnode.node.store.sqlite import Snapshot

    os.nice(10)
    feed = Snapshot(Path(database))
    try:
        write_segment(feed, Path(index_dir),
                      Settings(feed.change_mark()[0], settings.n_features, settings.dtype,
                               settings.version, max_points), max_points)
    finally:
        feed.close()


def _best_first(match: Match) -> tuple[float, str]:
    return (-match.score, match.id)


def _gamma(requirement: Requirement) -> float | None:
    return None if requirement.spec is None else float(requirement.spec.gamma_)
