"""`NodeCatalog`: the engine's search `Catalog` plus where each learnware lives.

The engine catalog is in memory only; the store is the truth. At start-up the
node rebuilds the catalog from every announcement the store keeps (its own and
its peers'), and afterwards applies each record it stores, so catalog and store
hold the same ids (`ids` and `Store.iter_announcements` are compared by the tests
after every crash).

Searches run in worker threads while publishes add entries, so access goes
through a readers-writer lock: many searches at once, one writer alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.search import Catalog, Mixture, Requirement, SearchResult
from engine.search.catalog import DEFAULT_MEMORY_BUDGET
from engine.specification.semantic import InputSpec
from lwnode.node.records import announcement_of
from lwnode.node.store.base import ANNOUNCEMENT, RecordRow, Store
from protocol.messages import SpecAnnouncement


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
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        self._catalog = Catalog(shortlist=shortlist, points_dir=points_dir,
                                memory_budget=memory_budget)
        self.memory_budget = memory_budget
        self.skipped = 0
        """Announcements `rebuild` left out for specs over its `max_points`."""
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

    def add(self, announcement: SpecAnnouncement) -> None:
        """Insert an owner's announcement (the first owner's specs index the id)."""
        a = announcement
        loc = Location(a.owner, a.organization, a.semantic.name, a.package_urls, a.package_size,
                       a.sequence)
        with self._lock.write():
            owners = self._where.setdefault(a.learnware_id, {})
            if not owners:
                try:
                    self._catalog.add(a.learnware_id, a.semantic, a.statistical[0])
                except BaseException:
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
                self._catalog.remove(learnware_id)

    def apply(self, row: RecordRow) -> None:
        """Reflect a record just stored: an announcement adds, a tombstone removes."""
        if row.kind == ANNOUNCEMENT:
            self.add(announcement_of(row))
        else:
            self.remove(row.owner, row.learnware_id)

    def rebuild(self, store: Store, max_points: int | None = None) -> int:
        """Load every announcement the store keeps; returns the number of ids.

        With `max_points`, announcements whose specs have more points (kept from
        before the node's ``[budget] spec_points`` was lowered) are left out and
        counted in `skipped`.
        """
        self.skipped = 0
        for row in store.iter_announcements():
            announcement = announcement_of(row)
            if max_points is not None and any(len(s.points_) > max_points
                                              for s in announcement.statistical):
                self.skipped += 1
                continue
            self.add(announcement)
        return len(self)

    def input_of(self, learnware_id: str) -> InputSpec | None:
        """The learnware's input spec (its columns), None if unknown or not stated."""
        with self._lock.read():
            if learnware_id not in self._where:
                return None
            return self._catalog.get(learnware_id).semantic.input

    def search(self, requirement: Requirement, k: int, max_mixture: int) -> SearchResult:
        with self._lock.read():
            return self._catalog.search(requirement, k=k, max_mixture=max_mixture)

    def mixture_over(self, ids: list[str], requirement: Requirement, max_mixture: int
                     ) -> Mixture | None:
        """The best mixture of the learnwares `ids` only (e.g. a routed search's merged
        hits, from every owner), computed exactly on a catalog of just those."""
        if requirement.spec is None or max_mixture < 2:
            return None
        with self._lock.read():
            entries = [self._catalog.get(i) for i in dict.fromkeys(ids) if i in self._catalog]
        few = Catalog(index=False, memory_budget=self.memory_budget)
        for entry in entries:
            few.add(entry.id, entry.semantic, entry.spec)
        if len(few) < 2:
            return None
        # k covers every entry: a mixture across feature spaces is drawn from the ranked
        # matches (engine.hetero.mixture), a homogeneous one from all candidates.
        return few.search(requirement, k=len(few), max_mixture=max_mixture,
                          exact=True).mixture

    def nbytes(self) -> int:
        return self._catalog.nbytes()
