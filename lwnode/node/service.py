"""`NodeService`: what a node does, independent of HTTP.

Publish, withdraw, list, describe, serve packages, search, and take in peers'
records. Blocking work never runs on the event loop:

==============  ============================================================
executor        runs
==============  ============================================================
store thread    every `Store` call (one thread: SQLite writes are serial),
                including signing inside the publish transaction
io threads      upload writes, package reads
search threads  catalog searches and inserts (numpy releases the GIL),
                decoding and verifying records
checker         usability checks: a process pool by default (`lwnode.node.checker`)
==============  ============================================================
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from engine.checks import CheckOptions
from engine.hetero.mapping import ColumnMapping
from engine.package.limits import PackageLimits
from engine.search import Mixture, Requirement
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec
from lwnode.config import NodeConfig
from lwnode.errors import (
    Busy,
    Forbidden,
    Gone,
    NameTaken,
    NotFound,
    PackageRejected,
    StoreError,
    TooManyPoints,
)
from lwnode.node.budget import check_spec
from lwnode.node.catalog import INDEX_REWRITE_AFTER, NodeCatalog, ToFetch, rewrite_in_child
from lwnode.node.checker import Checker
from lwnode.node.diskbudget import (
    SEARCHED_TAGS_KEPT,
    Decision,
    Tally,
    decide,
    new_interests,
)
from lwnode.node.peering import NoPeers, PeerInfo, PeerLayer
from lwnode.node.records import (
    OFFER_TYPES,
    Offer,
    announcement_of,
    offer_of,
    own_summary,
    points_of,
    sign_again,
    sign_announcement,
    sign_withdrawal,
    verified_row,
)
from lwnode.node.searchtypes import Hit, SearchAnswer, SearchQuery
from lwnode.node.segment import SegmentUnusable, written_entries
from lwnode.node.speccache import SpecCache
from lwnode.node.store.base import (
    ANNOUNCEMENT,
    OwnLearnware,
    Page,
    RecordFilter,
    RecordRow,
    Store,
)
from lwnode.node.store.blobs import BlobWriter
from protocol.codec import decode_spec, encode_spec
from protocol.content import content_id
from protocol.errors import ProtocolError
from protocol.messages import SpecAnnouncement, SpecSummary, now_ms
from protocol.owneraddrs import dialable, loopback_only
from protocol.replication import FILTER_CHANGE_SECONDS, ReplicationFilter
from protocol.signing import Identity
from protocol.summary import spec_ids_of

log = logging.getLogger("lwnode.service")
T = TypeVar("T")

UPLOAD_FLUSH_BYTES = 1 << 20
WITHHELD_KEPT = 10_000
READ_CHUNK_BYTES = 1 << 18
DISK_CHECK_SECONDS = 2.0
"""Least time between two looks at the disk budget (after records were taken in)."""
DROP_CHUNK = 5000
"""Peers' learnwares a running node deletes in one store transaction when it narrows."""
AUTO_FILTER_KEY = "replication.auto"
"""Store meta key of the filter the disk budget narrowed to, with the settings it was
chosen under (`NodeService.check_disk`)."""
SEARCHED_TAGS_KEY = "replication.searched_tags"
"""Store meta key of the tags this node's users searched, with their counts."""
SUMMARY_ADDRS_KEY = "summary.addrs"
"""Store meta key of the p2p addresses this node's own summaries were last signed with
(a JSON list; `NodeService.renew_summaries`)."""
STOPPED_KEY = "replication.stopped"
"""Store meta key of a stop (over the disk budget, nothing to narrow to), with the
settings and interests it was decided under: a start under the same ones does not
count the store again to decide it anew (`NodeService._load_keeps`)."""


def package_path(learnware_id: str) -> str:
    return f"/v1/learnwares/{learnware_id}/package"


@dataclass(frozen=True)
class PublishResult:
    learnware: OwnLearnware
    created: bool
    report: dict[str, Any]


@dataclass(frozen=True)
class Details:
    """Everything the node knows of one learnware id."""

    learnware_id: str
    records: tuple[RecordRow, ...]
    own: OwnLearnware | None


class NodeService:
    """One organization's dock (see the module doc).

    Parameters
    ----------
    config
        The resolved `NodeConfig`.
    identity
        The node's key: signs its announcements and tombstones.
    store
        Its persistent state; the service owns it from `start` to `stop`.
    peers
        The network seam (`NoPeers` when absent).
    scratch
        A directory for rebuildable files (the catalog's points, if on disk).
    """

    def __init__(self, config: NodeConfig, identity: Identity, store: Store,
                 peers: PeerLayer[NodeService] | None = None, *,
                 scratch: Path | None = None) -> None:
        self.config = config
        self.identity = identity
        self.store = store
        self.peers = peers or NoPeers()
        self._points_root = None
        if scratch is not None and config.search.points_on_disk:
            self._points_root = scratch / "catalog-points"  # rebuilt at every start
            shutil.rmtree(self._points_root, ignore_errors=True)
            self._points_root.mkdir(mode=0o700, parents=True)
        self._index_dir = None if scratch is None else scratch / "catalog-index"
        """The persisted index of summarised learnwares (`lwnode.node.segment`)."""
        self.catalog = self._new_catalog()
        self.spec_cache = SpecCache(config.search.spec_cache_mb << 20)
        """Peers' full specs fetched for searches (`fetch_specs`), served on too."""
        self._own_specs: dict[str, str] = {}
        """Spec id -> learnware id of this node's own announcements (served to peers)."""
        self._withheld: dict[str, None] = {}
        """Spec ids their owners withheld (`note_withheld`), oldest first."""
        self._summaries: dict[tuple[str, int], tuple[tuple[str, ...], bytes]] = {}
        """(learnware id, sequence) -> the signed summary of an own announcement."""
        self.organization = config.organization_of(identity.node_id)
        self.public_url = config.public_url()
        self.limits = PackageLimits(max_package_bytes=config.http.max_upload_bytes)
        self.checker = Checker(
            CheckOptions(time_limit=config.checks.time_limit, allow_code=config.checks.allow_code,
                         trusted_types=config.checks.trusted_types, package_limits=self.limits),
            isolation=config.checks.isolation, workers=config.checks.workers)
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="lwnode-store")
        self._io_pool = ThreadPoolExecutor(2, thread_name_prefix="lwnode-io")
        self._search_pool = ThreadPoolExecutor(config.search.workers,
                                               thread_name_prefix="lwnode-search")
        self._index_pool = ThreadPoolExecutor(1, thread_name_prefix="lwnode-index")
        self._rewriting: asyncio.Future[None] | None = None
        self._index_child: multiprocessing.process.BaseProcess | None = None
        self.keeps: ReplicationFilter = config.replication.filter
        """What this node keeps of peers' learnwares now: ``[replication]``, narrowed to
        its interests when over its disk budget (`check_disk`)."""
        self.taking_new = True
        """False while over the disk budget with nothing left to narrow to: no new
        peers' learnwares are taken in (`lwnode.federation.intake`, step 6)."""
        self.disk_note = ""
        """Why the node narrowed or stopped taking (health, `lwnode status`)."""
        self._searched: Counter[str] = Counter()
        self._searched_changed = False
        self._interests = 0
        """Raised when the node's interests may have grown (a tag searched for the first
        time, an own publish): a node that stopped taking looks at narrowing again, and
        an automatic filter at widening (`diskbudget`, "A later interest widens once")."""
        self._stopped_at = 0
        self._considered: tuple[str, ...] | None = None
        """The interest tags the automatic filter was chosen from (None: `keeps` is the
        configured filter)."""
        self._chosen_at = 0
        self._disk_check: asyncio.Future[Decision] | None = None
        self._disk_later: asyncio.TimerHandle | None = None
        self._disk_checked_at = -float("inf")
        self._keeps_changed_at = -float("inf")
        self._rewrite_again = False
        self.started_at = time.time()
        self._stopping = False
        self._naming = asyncio.Lock()  # one publish at a time between name check and add

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def _new_catalog(self) -> NodeCatalog:
        """An empty catalog, with a points folder of its own (a catalog that replaces
        another must not truncate the files the old one's searches still read)."""
        points_dir = None
        if self._points_root is not None:
            points_dir = Path(tempfile.mkdtemp(prefix="catalog-", dir=self._points_root))
        config = self.config
        return NodeCatalog(shortlist=config.search.shortlist, points_dir=points_dir,
                           memory_budget=config.budget.search_memory_mb << 20,
                           sketch_shortlist=config.search.sketch_shortlist)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Rebuild the catalog from the store, then start the peer layer."""
        began = time.perf_counter()
        await self._store(self._load_keeps)
        if self.config.replication.max_disk_mb:
            await self.check_disk(starting=True)
        keeps = self.keeps
        dropped = await self._run(self._store_pool, self.store.drop_not_kept, keeps,
                                  self.node_id)
        if dropped:
            log.info("replication: %d stored learnware(s) of peers outside what this node "
                     "keeps (%s) deleted", dropped, keeps.describe())
        # the rows deleted were spread over the whole table: only a vacuum packs what is
        # left (else the disk budget would count the half-empty pages)
        freed = await self.in_store(self.store.reclaim, 0.25, force=dropped > 0)
        if freed:
            log.info("store: %.1f MB of pages freed by deletions given back to the file "
                     "system", freed / 1e6)
        n = await self._run(self._store_pool, self.catalog.rebuild, self.store,
                            self.config.budget.spec_points, self._index_own_offer,
                            self._index_dir)
        if self.catalog.index_note:
            log.info("catalog index written anew (%s)", self.catalog.index_note)
        self.keep_index()
        recovery = self.store.recovery
        if recovery.temp_files or recovery.orphan_blobs:
            log.warning("recovered from an unclean stop: %d unfinished upload(s) and %d "
                        "unowned package(s) removed", recovery.temp_files,
                        len(recovery.orphan_blobs))
        log.info("catalog rebuilt: %d learnware(s) in %.2f s", n, time.perf_counter() - began)
        if self.catalog.skipped:
            log.warning("%d stored announcement(s) have specs over [budget] spec_points = %d "
                        "or sketches this node cannot index: kept in the store, not "
                        "searchable", self.catalog.skipped, self.config.budget.spec_points)
        await self.peers.start(self)
        await self.renew_summaries()
        # again with the catalog built: its scratch points, and the index it wrote,
        # were not on disk at the first look
        self.keep_disk()

    async def stop(self) -> None:
        self._stopping = True
        if self._disk_later is not None:
            self._disk_later.cancel()
        if self._disk_check is not None:
            await asyncio.gather(self._disk_check, return_exceptions=True)
        if self._searched_changed:
            try:
                await self._keep_searched()
            except Exception as exc:  # the counts are a hint; losing a few is harmless
                log.info("could not keep the searched tags: %s", exc)
        if self._index_child is not None and self._index_child.is_alive():
            self._index_child.terminate()  # a background index rewrite gives up
        try:
            await self.peers.stop()
        finally:
            await self.checker.close()
            for pool in (self._search_pool, self._io_pool, self._store_pool,
                         self._index_pool):
                pool.shutdown(wait=True, cancel_futures=True)

    async def _apply(self, row: RecordRow) -> None:
        """Reflect a record just stored in the catalog (search threads)."""
        await self._run(self._search_pool, self.catalog.apply, row)
        self.keep_index()
        self.keep_disk()

    def keep_index(self, force: bool = False) -> None:
        """Rewrite the persisted catalog index in the background once enough has changed
        since it was written (each change costs the next start a replay, and stays in
        the heap until then): a child process writes it from a snapshot of the store,
        then the running node moves to it (`_move_to_index`). `force`: now (after a
        rewrite under way, if any), e.g. when the store took a new epoch."""
        catalog = self.catalog
        if force and self._rewriting is not None:
            self._rewrite_again = True
            return
        if self._index_dir is None or self._rewriting is not None or self._stopping or \
                (not force and catalog.changes_since_index() < max(INDEX_REWRITE_AFTER,
                                                                   catalog.index_size())):
            return
        database = self.store.database_path()
        if database is not None:
            self._rewriting = asyncio.ensure_future(self._rewrite_index(
                database, self._index_dir, catalog.changes_since_index()))

    async def _rewrite_index(self, database: Path, index_dir: Path, seen: int) -> None:
        began = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=rewrite_in_child, name="lwnode-index",
            args=(str(database), str(index_dir), self.catalog.index_settings("", None),
                  self.config.budget.spec_points), daemon=True)
        try:
            child.start()
            self._index_child = child
            await asyncio.get_running_loop().run_in_executor(self._index_pool, child.join)
            if not self._stopping:  # its snapshot may have kept a vacuum's log whole
                await self._store(self.store.settle_log)
            if child.exitcode == 0:
                entries = written_entries(index_dir)
                self.catalog.index_rewritten(seen, entries)
                log.info("catalog index rewritten in the background (%d learnwares) in "
                         "%.1f s", entries, time.perf_counter() - began)
                if not self._stopping:
                    try:
                        await self._move_to_index(index_dir)
                    except Exception:
                        if not self._stopping:
                            log.exception("catalog index: could not move to the rewritten "
                                          "index (the running catalog stays)")
            elif not self._stopping:
                log.warning("catalog index: the background rewrite failed (exit code %s); "
                            "the next start replays from the index it finds",
                            child.exitcode)
        finally:
            self._index_child = None
            self._rewriting = None
            if self._rewrite_again and not self._stopping:
                self._rewrite_again = False
                self.keep_index(force=True)
            else:
                self.keep_disk()  # the index on disk changed: within the budget?

    async def _move_to_index(self, index_dir: Path) -> None:
        """Replace the running catalog by one on the index just written: it maps the
        index and replays what the store took in since, so what the old one held in
        memory is let go. Searches under way finish on the old one. Records stored while
        the new one was built are applied to it after the swap (applying twice changes
        nothing), so none is lost in between."""
        new = self._new_catalog()
        try:
            await self._store(new.rebuild, self.store, self.config.budget.spec_points,
                              self._index_own_offer, index_dir, False)
        except SegmentUnusable as exc:
            log.info("catalog index: the running catalog stays (%s)", exc)
            _remove_points(new)
            return
        old, self.catalog = self.catalog, new
        later = await self._store(lambda: [r for _, r in self.store.changes_after(
            new.replayed_to)])
        await self._run(self._search_pool, new.apply_each, later)
        _remove_points(old)
        log.info("catalog moved to the rewritten index: %d learnware(s), %d record(s) "
                 "replayed", len(new), new.changes_since_index())

    # -- disk budget -----------------------------------------------------------------------
    def _load_keeps(self) -> None:
        """The filter the disk budget narrowed to in an earlier run, if chosen under the
        same ``[replication]`` settings (store thread); and the searched tags."""
        section = self.config.replication
        text = self.store.meta(AUTO_FILTER_KEY)
        if text is not None:
            saved = json.loads(text)
            if saved.get("under") == self._settings_key():
                self.keeps = ReplicationFilter(**saved["keeps"])
                self.disk_note = saved.get("why", "")
                # (a filter kept before `considered` was: chosen from its own tags)
                self._considered = tuple(saved.get("considered", self.keeps.scenarios))
                log.warning("disk budget: keeping peers' %s, as chosen in an earlier run "
                            "(%s)", self.keeps.describe(), self.disk_note)
            else:
                self.store.set_meta(AUTO_FILTER_KEY, None)
                log.info("disk budget: [replication] changed since the node narrowed what "
                         "it keeps; starting again from %s", section.filter.describe())
        searched = self.store.meta(SEARCHED_TAGS_KEY)
        if searched is not None:
            self._searched = Counter({str(k): int(v) for k, v in json.loads(searched).items()})
        stopped = self.store.meta(STOPPED_KEY)
        if self._considered is None and stopped is None:
            return
        own = self.store.tally(self.node_id, peers=False)  # (a few rows: the node's own)
        if self._considered is not None and new_interests(own, self._searched,
                                                          self._considered, self.keeps):
            self._chosen_at = -1  # interests it did not have when it chose: look again
        if stopped is not None:
            saved = json.loads(stopped)
            if saved.get("under") == self._settings_key() and \
                    saved.get("interests") == self._interest_key(own):
                # decided under the same settings and interests: what the store holds
                # of peers' only shrank since (updates, withdrawals), and `check_disk`
                # measures the disk again at once (and resumes if it is well under)
                self.taking_new = False
                self.disk_note = saved.get("why", "")
                log.warning("disk budget: %s (as in an earlier run)", self.disk_note)
            else:  # stale: `check_disk` counts the store and decides anew
                self.store.set_meta(STOPPED_KEY, None)

    def _interest_key(self, tally: Tally) -> dict[str, list[str]]:
        """What a stop depends on besides the settings: the node's interests."""
        return {"own_tags": sorted(tally.own_tags), "own_types": sorted(tally.own_types),
                "searched": sorted(self._searched)}

    def _settings_key(self) -> dict[str, Any]:
        section = self.config.replication
        return {**section.filter.to_dict(), "max_disk_mb": section.max_disk_mb}

    async def disk_used(self) -> int:
        """Bytes on disk the budget bounds: the database's pages in use and its
        write-ahead log, the persisted index, the catalog's scratch points (file sizes;
        docs/operations.md, "Disk budget", says what is in, what is out and why)."""
        used = await self._store(self.store.disk_bytes)
        if self._index_dir is not None:
            used += await self._run(self._io_pool, _dir_bytes, self._index_dir)
        if self._points_root is not None:
            used += await self._run(self._io_pool, _dir_bytes, self._points_root, True)
        return used

    def keep_disk(self) -> None:
        """Look at the disk budget in the background after records were taken in (at
        most every `DISK_CHECK_SECONDS`)."""
        if not self.config.replication.max_disk_mb or self._stopping:
            return
        loop = asyncio.get_running_loop()  # its clock: virtual in the network simulation
        wait = self._disk_checked_at + DISK_CHECK_SECONDS - loop.time()
        if self._disk_check is not None or wait > 0:
            # a check runs or ran just now: one more after it, for what came since
            if self._disk_later is None:
                self._disk_later = loop.call_later(max(wait, DISK_CHECK_SECONDS / 4),
                                                   self._check_later)
            return
        self._disk_checked_at = loop.time()
        self._disk_check = asyncio.ensure_future(self.check_disk())

    def _check_later(self) -> None:
        self._disk_later = None
        self.keep_disk()

    async def check_disk(self, starting: bool = False) -> Decision:
        """Measure the disk, decide (`lwnode.node.diskbudget.decide`) and apply: the one
        place a node narrows what it keeps or stops taking new peers' learnwares.
        `starting`: before the catalog is built (the start path then drops and
        rebuilds under the narrowed filter, as for a narrower ``[replication]``)."""
        try:
            section = self.config.replication
            if self._rewriting is not None or self._rewrite_again:
                # the index on disk is being replaced (after a narrowing, say): its
                # files are not what the node keeps; look again when it is done
                # (`_rewrite_index` looks again when it is done)
                return Decision("keep", self.keeps, "the index is being rewritten")
            used = await self.disk_used()
            budget = section.max_disk_bytes
            # stopped, but with new interests since: may they be narrowed to now?
            again = (not self.taking_new and self._interests != self._stopped_at
                     and used > budget > 0)
            # an automatic filter, with new interests since it was chosen: widen?
            widen = (self._considered is not None and budget > 0 and self.taking_new
                     and self._interests != self._chosen_at)
            interests_at = self._interests
            tally = None
            if budget and ((used > budget and (self.taking_new or again)) or widen):
                tally = await self._store(self.store.tally, self.node_id)
            decision = decide(used, budget, current=self.keeps, configured=section.filter,
                              taking_new=self.taking_new or again, tally=tally,
                              searched=self._searched,
                              considered=self._considered if widen else None)
            if decision.action in ("narrow", "widen"):
                loop = asyncio.get_running_loop()
                wait = self._keeps_changed_at + FILTER_CHANGE_SECONDS - loop.time()
                if wait > 0:  # peers take one change of a node's filter a minute
                    if self._disk_later is None:
                        self._disk_later = loop.call_later(wait, self._check_later)
                    return Decision("keep", self.keeps, "a change within the minute")
                self._chosen_at = interests_at
                await self._narrow(decision, starting)
                self.taking_new = True
                await self._store(self.store.set_meta, STOPPED_KEY, None)
            elif decision.action == "stop":
                self._stopped_at = self._interests
                if self.taking_new or decision.why != self.disk_note:
                    log.warning("disk budget: %s (over_disk_budget in the counters)",
                                decision.why)
                self.taking_new = False
                self.disk_note = decision.why
                if tally is not None:  # (else decided before, and kept then)
                    await self._store(self.store.set_meta, STOPPED_KEY, json.dumps(
                        {"under": self._settings_key(),
                         "interests": self._interest_key(tally), "why": decision.why}))
            elif decision.action == "resume":
                self.taking_new = True
                self.disk_note = ""
                await self._store(self.store.set_meta, STOPPED_KEY, None)
                log.warning("disk budget: %s: taking new peers' learnwares again",
                            decision.why)
            if widen:
                self._chosen_at = interests_at  # each new interest is looked at once
            if self._searched_changed:
                await self._keep_searched()
            return decision
        finally:
            if not starting:
                self._disk_check = None

    async def _narrow(self, decision: Decision, starting: bool) -> None:
        """Keep only `decision.keeps` of peers' learnwares from now on: remembered for
        the next start, told to peers in the next digests, and the others deleted from
        the store and the catalog (as a start under that filter would). A widening
        deletes what the new filter leaves out, if any; what it adds comes by sync."""
        self.keeps = decision.keeps
        self.disk_note = decision.why
        self._considered = decision.considered
        if not starting:  # (peers saw no filter of this run yet)
            self._keeps_changed_at = asyncio.get_running_loop().time()
        await self._store(self.store.set_meta, AUTO_FILTER_KEY, json.dumps(
            {"keeps": decision.keeps.to_dict(), "under": self._settings_key(),
             "why": decision.why, "considered": list(decision.considered)}))
        log.warning("disk budget: %s", decision.why)
        if starting:
            return  # `start` drops and rebuilds
        # a part at a time: the store's thread serves other requests in between (intake,
        # digests, listings; searches read the catalog, not the store)
        began, dropped, after = time.perf_counter(), 0, 0
        while after >= 0:
            n, after = await self._store(self.store.drop_some_not_kept, self.keeps,
                                         self.node_id, after, DROP_CHUNK)
            dropped += n
        if not dropped:
            return  # (a widening that leaves nothing out)
        deleted_s, began = time.perf_counter() - began, time.perf_counter()
        freed = await self.in_store(self.store.reclaim, 0.25, force=True)
        log.warning("disk budget: %d stored learnware(s) of peers outside it deleted in "
                    "%.1f s (%d at a time); %.1f MB of the database given back in %.1f s",
                    dropped, deleted_s, DROP_CHUNK, freed / 1e6, time.perf_counter() - began)
        if self._index_dir is not None and self.store.database_path() is not None:
            self.keep_index(force=True)  # the store's new epoch: a new index, moved to
            return
        new = self._new_catalog()

        def build() -> int:  # store thread: no write between the build and the mark
            new.rebuild(self.store, self.config.budget.spec_points, self._index_own_offer)
            return self.store.change_mark()[1]

        mark = await self._store(build)
        old, self.catalog = self.catalog, new
        later = await self._store(lambda: [r for _, r in self.store.changes_after(mark)])
        await self._run(self._search_pool, new.apply_each, later)
        _remove_points(old)

    def note_searched(self, query: SearchQuery) -> None:
        """Count the scenario tags of a search by this node's own users (an interest
        the disk budget narrows to); bounded, the least searched forgotten first."""
        semantic = query.requirement.semantic
        tags = [] if semantic is None else [t.strip().lower() for t in semantic.scenarios]
        for tag in tags:
            if tag:
                if tag not in self._searched:
                    self._interests += 1
                self._searched[tag] += 1
                self._searched_changed = True
        if (not self.taking_new and self._interests != self._stopped_at) or \
                (self._considered is not None and self._interests != self._chosen_at):
            self.keep_disk()  # a new interest: narrow to it, or widen for it
        while len(self._searched) > SEARCHED_TAGS_KEPT:
            del self._searched[min(self._searched, key=lambda t: (self._searched[t], t))]

    async def _keep_searched(self) -> None:
        self._searched_changed = False
        await self._store(self.store.set_meta, SEARCHED_TAGS_KEY,
                          json.dumps(dict(self._searched), sort_keys=True))

    @property
    def stopping(self) -> bool:
        """The node has begun to stop: its threads take no new work."""
        return self._stopping

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        if self._stopping:
            raise Busy("the node is shutting down")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(fn, *args))

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (decoding a request, maths) in the search threads."""
        return await self._run(self._search_pool, fn, *args)

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._store_pool, fn, *args)

    async def in_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` in the store thread (the one thread that touches the store)."""
        return await self._run(self._store_pool, functools.partial(fn, **kwargs), *args)

    # -- uploads and publishing -----------------------------------------------------------
    async def new_upload(self) -> Upload:
        return Upload(self, await self._store(self.store.blob_writer))

    async def publish(self, upload: Upload) -> PublishResult:
        """Check an upload and, if usable, host and announce it (idempotent by id)."""
        writer = upload.writer
        await upload.flush()
        learnware_id = writer.content_id()
        existing = await self._store(self.store.get_own, learnware_id)
        if existing is not None and existing.status == "active":
            await upload.discard()
            return PublishResult(existing, False, json.loads(existing.report))
        await self._run(self._io_pool, writer.close)
        outcome = await self.checker.check(writer.path)
        report = outcome.report.to_dict()
        if not outcome.report.ok or outcome.semantic is None or outcome.spec is None:
            await upload.discard()
            raise PackageRejected(f"package rejected: {outcome.report.reason}", report)
        if outcome.report.learnware_id != learnware_id:
            await upload.discard()
            raise StoreError(f"upload {learnware_id} was read back as "
                             f"{outcome.report.learnware_id}")
        try:
            check_spec(outcome.spec, self.config.budget.spec_points, "package",
                       "spec_points")
        except ValueError:
            await upload.discard()
            raise
        semantic, spec, size, now = outcome.semantic, outcome.spec, writer.size, now_ms()

        def make_record(sequence: int) -> RecordRow:
            return sign_announcement(
                self.identity, learnware_id=learnware_id, organization=self.organization,
                semantic=semantic, spec=spec, size=size,
                urls=(self.public_url + package_path(learnware_id),), sequence=sequence,
                now=now)

        async with self._naming:
            try:
                await self._store(self._check_name_free, semantic.name, learnware_id)
            except NameTaken:
                await upload.discard()
                raise
            own, created = await self._store(self.store.add_own, writer, self.node_id,
                                             json.dumps(report), make_record, now)
        if created:
            row = await self._store(self.store.get_record, self.node_id, learnware_id)
            assert row is not None
            await self.offer(row)
            log.info("published %s (%s, %d bytes, sequence %d)", learnware_id, semantic.name,
                     size, own.sequence)
        return PublishResult(own, created, report)

    async def offer(self, row: RecordRow) -> None:
        """Make an own announcement just stored searchable here, its specs servable to
        peers, and known to the network (its signed summary, gossiped)."""
        self._interests += 1  # (its tags are the node's interests)
        await self._apply(row)
        await self._run(self._search_pool, self._index_own_specs, [row])
        await self._announce(row)

    def _check_name_free(self, name: str, learnware_id: str) -> None:
        """Refuse a second active learnware of this node with `name` (compared as the
        command line resolves a handle: case and surrounding spaces aside), so that a
        handle organization/name names one learnware of its owner. Refused rather than
        renamed with a suffix: the name is the developer's, signed in the package, and
        a name the node made up would be one no script or colleague expects."""
        wanted = name.strip().lower()
        if not wanted:
            return
        page = self.store.list_announcements(RecordFilter(owner=self.node_id,
                                                          name=name.strip()), 1000)
        taken = sorted(r.learnware_id for r in page.rows if r.learnware_id != learnware_id
                       and r.name.strip().lower() == wanted)
        if taken:
            raise NameTaken(f"this node already offers a learnware named {name.strip()!r} "
                            f"({taken[0]}): a handle ({self.organization}/{name.strip()}) "
                            "names one learnware of its owner; give this one another name "
                            "(name in its semantic spec) and pack it again, or withdraw "
                            f"{taken[0]} first")

    async def withdraw(self, learnware_id: str) -> OwnLearnware:
        """Withdraw an own learnware: signed tombstone kept, package deleted."""
        own = await self._store(self.store.get_own, learnware_id)
        if own is None:
            records = await self._store(self.store.records_for, learnware_id)
            owners = sorted(r.owner for r in records if r.kind == ANNOUNCEMENT)
            if owners:
                raise Forbidden(f"learnware {learnware_id} belongs to {', '.join(owners)}; only "
                                "its owner can withdraw it")
            raise NotFound(f"learnware {learnware_id} is not known to this node")
        now = now_ms()

        def make_record(sequence: int) -> RecordRow:
            return sign_withdrawal(self.identity, learnware_id=learnware_id, sequence=sequence,
                                   now=now)

        before = await self._store(self.store.get_record, self.node_id, learnware_id)
        out = await self._store(self.store.withdraw_own, learnware_id, make_record, now)
        if before is not None and before.kind == ANNOUNCEMENT:
            for spec_id in spec_ids_of(await self.compute(announcement_of, before)):
                self._own_specs.pop(spec_id, None)
            self._summaries.pop((learnware_id, before.sequence), None)
        row = await self._store(self.store.get_record, out.owner, learnware_id)
        assert row is not None
        await self._apply(row)
        await self._announce(row)
        log.info("withdrew %s (sequence %d)", learnware_id, row.sequence)
        return out

    async def _announce(self, row: RecordRow) -> None:
        try:
            summary = (await self.compute(self.summary_envelope, row)
                       if row.kind == ANNOUNCEMENT and self.offers_summaries else None)
            await self.peers.announce(row.envelope, summary)
        except Exception as exc:  # gossip is best-effort; anti-entropy repairs
            log.warning("announcing %s %s failed: %s", row.kind, row.learnware_id, exc)

    @property
    def offers_summaries(self) -> bool:
        """Own learnwares go to peers as signed summaries (``[p2p] announce``)."""
        return self.config.p2p.announce == "summary"

    def summary_envelope(self, row: RecordRow) -> bytes:
        """The signed summary of an own announcement row (derived once, then kept),
        with this node's p2p addresses (`PeerLayer.own_addrs`, schema 1.5)."""
        addrs = self.peers.own_addrs()
        key = (row.learnware_id, row.sequence)
        kept = self._summaries.get(key)
        if kept is None or kept[0] != addrs:
            kept = (addrs, own_summary(self.identity, announcement_of(row), addrs))
            self._summaries[key] = kept
        return kept[1]

    async def renew_summaries(self) -> int:
        """Sign the own learnwares' announcements again, each at its next sequence, and
        announce them, when the p2p addresses this node would put in their summaries
        (`PeerLayer.own_addrs`, schema 1.5) are not those it last signed them with (kept
        in the store): after a restart on another port or address, or with other
        ``[p2p] announce_addrs``. A summary signed again at its old sequence is a
        duplicate to a peer that holds it (the replay rule, docs/protocol.md section 8),
        which would keep the old addresses; at the next sequence it replaces the old
        one, by gossip or by the next anti-entropy round. Returns how many were
        signed again (none when the addresses are the same, or without a peer layer)."""
        if isinstance(self.peers, NoPeers) or not self.offers_summaries:
            return 0
        addrs = json.dumps(list(self.peers.own_addrs()))
        if await self._store(self.store.meta, SUMMARY_ADDRS_KEY) == addrs:
            return 0
        renewed = []
        for own in await self._store(self.store.list_own):
            row = await self._store(self.store.get_record, self.node_id, own.learnware_id)
            if own.status != "active" or row is None or row.kind != ANNOUNCEMENT:
                continue
            announcement = await self.compute(announcement_of, row)
            renewed.append(await self._store(
                self.store.renew_own, own.learnware_id,
                functools.partial(self._sign_again, announcement)))
            self._summaries.pop((own.learnware_id, row.sequence), None)
        # kept once all are signed again: a stop half-way signs them all again next time
        await self._store(self.store.set_meta, SUMMARY_ADDRS_KEY, addrs)
        for row in renewed:
            await self._apply(row)
            await self._announce(row)
        if renewed:
            log.info("own summaries signed again at new sequences for the p2p addresses "
                     "%s (%d learnware(s))", addrs, len(renewed))
        return len(renewed)

    def _sign_again(self, announcement: SpecAnnouncement, sequence: int) -> RecordRow:
        return sign_again(self.identity, announcement, sequence=sequence, now=now_ms())

    def _index_own_specs(self, rows: list[RecordRow]) -> None:
        """Know which own announcement holds each own spec id, to serve peers (they
        hold our summaries) from the store, not from memory."""
        for row in rows:
            self._index_own_offer(row, announcement_of(row))

    def _index_own_offer(self, row: RecordRow, offer: Offer) -> None:
        if row.owner == self.node_id and isinstance(offer, SpecAnnouncement):
            for spec_id in spec_ids_of(offer):
                self._own_specs[spec_id] = row.learnware_id

    async def receive_record(self, data: bytes) -> bool:
        """Take in a peer's signed record (gossip or sync): verify, keep if newer, index.

        Returns True if it was new. Raises `SignatureError` / `ProtocolError` for a
        record that cannot be trusted, `TooManyPoints` for specs over ``[budget]
        spec_points``. Own records coming back are ignored: this node's store is their
        source of truth.
        """
        row, record = await self._run(self._search_pool, verified_row, data, now_ms())
        if isinstance(record, OFFER_TYPES):
            cap = self.config.budget.spec_points
            if any(n > cap for n in points_of(record)):
                raise TooManyPoints(f"announcement: a statistical spec over {cap} points "
                                    "([budget] spec_points)")
        if row.owner == self.node_id:
            return False
        if not await self._store(self.store.put_record, row):
            return False
        await self._apply(row)
        return True

    # -- reading --------------------------------------------------------------------------
    async def list_learnwares(self, where: RecordFilter, limit: int, cursor: str | None
                              ) -> Page:
        return await self._store(self.store.list_announcements, where, limit, cursor)

    async def details(self, learnware_id: str) -> Details:
        records = await self._store(self.store.records_for, learnware_id)
        own = await self._store(self.store.get_own, learnware_id)
        if not records:
            raise NotFound(f"learnware {learnware_id} is not known to this node")
        if not any(r.kind == ANNOUNCEMENT for r in records):
            raise Gone(f"learnware {learnware_id} was withdrawn by its owner")
        return Details(learnware_id, tuple(records), own)

    async def specs(self, learnware_id: str) -> tuple[SemanticSpec, tuple[RKMESpec, ...]]:
        """The semantic and full statistical specs (fetched when known by summary)."""
        details = await self.details(learnware_id)
        offers = [await self.compute(offer_of, r) for r in details.records
                  if r.kind == ANNOUNCEMENT]
        full = next((o for o in offers if isinstance(o, SpecAnnouncement)), None)
        if full is not None:
            return full.semantic, full.statistical
        summary = offers[0]
        assert isinstance(summary, SpecSummary)
        owners = tuple(o.owner for o in offers)
        wanted = {ref.id: owners for ref in summary.specs}
        got = await self.fetch_specs(wanted, sources={i: learnware_id for i in wanted})
        missing = [i for i in wanted if i not in got]
        if missing:
            raise Busy(f"learnware {learnware_id}: this node keeps only its summary and "
                       f"could not fetch {len(missing)} of its full specs from "
                       f"{', '.join(owners)} or peers now; try again later")
        return summary.semantic, tuple(got[ref.id] for ref in summary.specs)

    # -- full specs by content id ----------------------------------------------------------
    async def fetch_specs(self, wanted: dict[str, tuple[str, ...]],
                          timeout: float | None = None, *, dial_owners: bool = True,
                          sources: Mapping[str, str] | None = None) -> dict[str, RKMESpec]:
        """Full specs by content id (-> the owners that offer them): from the cache,
        else from peers (then kept in the cache). Ids no one could supply within
        `timeout` seconds are left out. `dial_owners`: owners this node is not connected
        to may be dialled (for its own users; not to answer a peer's search), also at
        the addresses in their summaries of the learnwares `sources` names (spec id ->
        learnware id; `owner_addrs`)."""
        got = await self.compute(self.spec_cache.get_many, list(wanted))
        missing = {i: owners for i, owners in wanted.items() if i not in got}
        if not missing:
            return got
        fetched = await self.peers.fetch_specs(
            missing, self.config.p2p.search_deadline_ms / 1000.0 if timeout is None
            else timeout, dial_owners=dial_owners, sources=sources)
        got.update(await self.compute(self.keep_fetched, missing, fetched))
        return got

    async def owner_addrs(self, owner: str, learnware_ids: list[str]) -> tuple[str, ...]:
        """The p2p addresses `owner` gives in its signed summary (schema 1.5) of the
        first of `learnware_ids` (at most 2 looked at) whose summary has any, those this
        node may dial: public hosts; loopback ones when this node listens on loopback
        only or ``[fetch] private_network``; other private ones with that setting only.
        Each names the owner's own peer id (checked when the summary was taken in)."""
        private = self.config.fetch.private_network
        loopback = private or loopback_only(self.peers.multiaddrs())
        for learnware_id in list(dict.fromkeys(learnware_ids))[:2]:
            row = await self._store(self.store.get_record, owner, learnware_id)
            if row is None or row.kind != ANNOUNCEMENT:
                continue
            offer = await self.compute(offer_of, row)
            if isinstance(offer, SpecSummary) and offer.addrs:
                return tuple(a for a in offer.addrs
                             if dialable(a, private=private, loopback=loopback))
        return ()

    def note_withheld(self, spec_ids: list[str]) -> None:
        """Spec ids their owner answered a request for without the spec: a search does
        not rank their learnwares by sketch estimate (an owner cannot have its claim
        ranked while withholding what would check it). Bounded; forgotten oldest first."""
        for spec_id in spec_ids:
            self._withheld[spec_id] = None
        while len(self._withheld) > WITHHELD_KEPT:
            del self._withheld[next(iter(self._withheld))]

    def keep_fetched(self, wanted: dict[str, tuple[str, ...]], fetched: dict[str, bytes]
                      ) -> dict[str, RKMESpec]:
        """Decode (checking each content id) and cache what peers sent."""
        out = {}
        for spec_id, data in fetched.items():
            if spec_id not in wanted:
                continue
            try:
                out[spec_id] = decode_spec(data, spec_id)
            except ProtocolError as exc:  # checked here too: the service trusts no layer
                log.info("fetched spec %s refused: %s", spec_id, exc)
                continue
            self.spec_cache.put(spec_id, data)
        return out

    async def specs_held(self, wanted: list[str]) -> dict[str, bytes]:
        """Encoded full specs this node can serve a peer now: cached, or its own (read
        from its announcements in the store)."""
        out = await self.compute(self.spec_cache.get_many_bytes, wanted)
        own = {self._own_specs[i] for i in wanted if i not in out and i in self._own_specs}
        if own:
            rows = await self._store(_own_rows, self.store, self.node_id, sorted(own))
            out.update(await self.compute(_specs_in, rows, set(wanted) - set(out)))
        return out

    async def package_file(self, learnware_id: str) -> Path | None:
        """The package's file on this machine if this node hosts it (else None)."""
        try:
            path: Path = await self._store(self.store.blob_path, learnware_id)
        except (NotFound, Gone):
            return None
        return path

    async def open_package(self, learnware_id: str) -> tuple[IO[bytes], int]:
        """An open file of a hosted package and its size (the caller closes it)."""
        path = await self._store(self.store.blob_path, learnware_id)

        def opener(p: Path) -> tuple[IO[bytes], int]:
            try:
                f = open(p, "rb")  # closed by the caller
            except FileNotFoundError:
                raise Gone(f"learnware {learnware_id} was withdrawn by its owner") from None
            return f, Path(p).stat().st_size

        return await self._run(self._io_pool, opener, path)

    async def read_chunk(self, f: IO[bytes], n: int) -> bytes:
        return await self._run(self._io_pool, f.read, n)

    async def close_file(self, f: IO[bytes]) -> None:
        await self._run(self._io_pool, f.close)

    # -- search ---------------------------------------------------------------------------
    async def gammas(self, space: str) -> dict[float, int]:
        """The kernel gammas of `space`'s learnwares this node knows, with their counts
        (`NodeCatalog.gammas`): the market's convention for a DP spec's public gamma."""
        return await self._run(self._search_pool, self.catalog.gammas, space)

    async def search(self, query: SearchQuery, *, own_user: bool = True) -> SearchAnswer:
        """Search the local catalog while the peer layer routes the query; merged.
        `own_user`: the searcher is one of this node's users (its tags are counted as
        the node's interests, `note_searched`)."""
        if own_user:
            self.note_searched(query)
        local = asyncio.ensure_future(self.search_local(query, fetch_share=1.0,
                                                        dial_owners=True))
        try:
            return await self.peers.search(query, local)
        finally:
            if not local.done():
                local.cancel()

    async def search_local(self, query: SearchQuery, fetch_share: float = 0.5, *,
                           dial_owners: bool = False) -> SearchAnswer:
        """The answer from this node's catalog alone (also what peers are answered).

        Full specs of summarised candidates may take `fetch_share` of the deadline: a
        peer's request needs the rest for the exact ranking and the way back; the
        node's own user waits for the routed answers anyway. `dial_owners`: the
        candidates' owners may be dialled for them (`fetch_specs`): for the node's own
        user, whose search is ranked here; a peer's search is ranked at its asker."""
        shortlisted = await self.compute(self.catalog.shortlist, query.requirement)
        to_fetch = list(shortlisted.to_fetch)
        fetched = await self._fetch_candidates(to_fetch, query.deadline_ms, fetch_share,
                                               dial_owners=dial_owners)
        withheld = {t.learnware_id for t in to_fetch if t.spec_id in self._withheld}
        result = await self._run(self._search_pool, self.catalog.search, query.requirement,
                                 query.k, query.max_mixture, fetched, withheld, shortlisted)
        hits = []
        for match in result.single:
            hit = self.hit_for(match.id, match.score, match.mmd2, match.mapping,
                               approximate=match.approximate)
            if hit is not None:
                hits.append(hit)
        mixture, members = result.mixture, list[Hit]()
        if mixture is not None:
            by_id = {h.learnware_id: h for h in hits}
            for i in mixture.ids:
                member = by_id.get(i) or self.hit_for(i, 0.0, None)
                if member is None:
                    mixture, members = None, []
                    break
                members.append(member)
        return SearchAnswer(tuple(hits), mixture, result.n_candidates, result.exact,
                            notes=result.notes, mixture_hits=tuple(members))

    async def _fetch_candidates(self, to_fetch: list[ToFetch], deadline_ms: int | None,
                                share: float = 0.5, *, dial_owners: bool = True
                                ) -> dict[str, RKMESpec]:
        """learnware id -> full spec of the summarised candidates of a search, fetched
        within `share` of the search's deadline."""
        if not to_fetch:
            return {}
        wanted: dict[str, tuple[str, ...]] = {}
        sources: dict[str, str] = {}
        for item in to_fetch:
            wanted[item.spec_id] = item.owners
            sources.setdefault(item.spec_id, item.learnware_id)
        budget_ms = deadline_ms or self.config.p2p.search_deadline_ms
        got = await self.fetch_specs(wanted, share * budget_ms / 1000.0,
                                     dial_owners=dial_owners, sources=sources)
        return {item.learnware_id: got[item.spec_id] for item in to_fetch
                if item.spec_id in got}

    async def mixture_over(self, ids: list[str], requirement: Requirement, max_mixture: int,
                           *, fetch: Set[str] | None = None) -> Mixture | None:
        """The best mixture of the learnwares `ids` (e.g. a routed search's merged hits),
        fetching the full specs of those known by summary — of those in `fetch` only,
        when given (the others' from the cache: a search that has just fetched its
        candidates would wait for the same missing specs a second time)."""
        to_fetch = await self.compute(self.catalog.to_fetch, ids)
        now = [t for t in to_fetch if fetch is None or t.learnware_id in fetch]
        fetched = await self._fetch_candidates(now, None)
        cached = await self.compute(self.spec_cache.get_many,
                                    [t.spec_id for t in to_fetch if t not in now])
        fetched.update({t.learnware_id: cached[t.spec_id] for t in to_fetch
                        if t.spec_id in cached})
        return await self.compute(self.catalog.mixture_over, ids, requirement, max_mixture,
                                  fetched)

    def hit_for(self, learnware_id: str, score: float, mmd2: float | None,
                mapping: ColumnMapping | None = None, *, approximate: bool = False
                ) -> Hit | None:
        """A learnware of the catalog with where it lives (None if it is not there)."""
        locations = self.catalog.locations(learnware_id)
        if not locations:  # withdrawn between ranking and here
            return None
        mine = next((loc for loc in locations if loc.owner == self.node_id), None)
        first = mine or locations[0]
        url = (self.public_url + package_path(learnware_id) if mine is not None
               else first.package_urls[0])
        return Hit(learnware_id, first.owner, first.organization, first.name, score, mmd2, url,
                   first.size, mine is not None, tuple(locations), mapping, approximate)

    # -- node ----------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """The node's state; ``status`` is "degraded" while a background part is down
        (``down`` names each with its cause) and the API answers 503."""
        counts = await self._store(self.store.counts)
        down = self.peers.problems()
        return {
            "status": "degraded" if down else "ok",
            "down": down,
            "node_id": self.node_id,
            "organization": self.organization,
            "http_url": self.public_url,
            "peer_multiaddrs": list(self.peers.multiaddrs()),
            "counts": {"hosted": counts.own_active, "withdrawn": counts.own_withdrawn,
                       "catalog": len(self.catalog), "announcements": counts.announcements,
                       "tombstones": counts.withdrawals, "owners": counts.owners,
                       "peers": counts.peers},
            "peer_layer": {"enabled": self.peers.enabled, "counters": self.peers.counters()},
            "spec_cache": self.spec_cache.counters(),
            "catalog_index": {"entries": self.catalog.index_size(),
                              "changes_since": self.catalog.changes_since_index(),
                              "mapped_bytes": self.catalog.mapped_bytes(),
                              "rewriting": self._rewriting is not None},
            "replication": {**self.keeps.to_dict(), "keeps": self.keeps.describe(),
                            "configured": self.config.replication.filter.to_dict(),
                            "max_disk_mb": self.config.replication.max_disk_mb,
                            "disk_bytes": await self.disk_used(),
                            "taking_new": self.taking_new, "note": self.disk_note},
            "uptime_seconds": round(time.time() - self.started_at, 3),
        }

    async def peer_list(self) -> list[PeerInfo]:
        return await self.peers.peers()


def _remove_points(catalog: NodeCatalog) -> None:
    """Delete a catalog's points folder (searches still reading it keep their open file)."""
    if catalog.points_dir is not None:
        shutil.rmtree(catalog.points_dir, ignore_errors=True)


def _dir_bytes(path: Path, below: bool = False) -> int:
    """Bytes of the files in a folder (`below`: and in its folders); 0 if there is none."""
    total = 0
    try:
        for entry in os.scandir(path):
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                elif below and entry.is_dir(follow_symlinks=False):
                    total += _dir_bytes(Path(entry.path), True)
            except FileNotFoundError:  # (a file removed while counting)
                continue
    except FileNotFoundError:
        return 0
    return total


def _own_rows(store: Store, owner: str, learnware_ids: list[str]) -> list[RecordRow]:
    rows = [store.get_record(owner, i) for i in learnware_ids]
    return [r for r in rows if r is not None and r.kind == ANNOUNCEMENT]


def _specs_in(rows: list[RecordRow], wanted: set[str]) -> dict[str, bytes]:
    """The encoded specs among `wanted` that these announcements carry."""
    out = {}
    for row in rows:
        for spec in announcement_of(row).statistical:
            data = encode_spec(spec)
            spec_id = content_id(data)
            if spec_id in wanted:
                out[spec_id] = data
    return out


class Upload:
    """A package upload in progress, buffered into `UPLOAD_FLUSH_BYTES` writes."""

    def __init__(self, service: NodeService, writer: BlobWriter) -> None:
        self.service = service
        self.writer = writer
        self._buffer: list[bytes] = []
        self._buffered = 0

    @property
    def size(self) -> int:
        return self.writer.size + self._buffered

    async def write(self, chunk: bytes) -> None:
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= UPLOAD_FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer, self._buffered = [], 0
            await self.service._run(self.service._io_pool, self.writer.write, data)

    async def discard(self) -> None:
        self._buffer, self._buffered = [], 0
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.writer.discard)
