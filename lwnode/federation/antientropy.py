"""Anti-entropy over ``/lwdock/sync/1.0.0``: digests, then paginated pulls of what is missing.

Gossip is lossy by design (libp2p drops on full queues, a node may be offline), so
each node reconciles with its peers as soon as one connects and every
``[p2p] sync_interval`` seconds (`lwnode.federation.layer` schedules the rounds). One
round, A pulling from B (protocol.md section 8):

1. A sends a `Digest` per range of owners (`split_digests` tiles the owner space);
   B answers each with its own digest of the same range.
2. `wants_from` lists the owners whose fingerprints differ; A never asks for its
   own records (its store is their source of truth).
3. A sends `SyncRequest(wants)` and follows ``next_cursor`` until it is empty; every
   page's records go through `lwnode.federation.intake` like gossip (signature, trust, content,
   replay), in one store transaction per page.

B answers from its store in the store thread, pages filled up to
`MAX_SYNC_RECORDS` records or `MAX_MESSAGE_BYTES`. Rounds are symmetric: B pulls
from A in its own round, so both converge without anyone re-publishing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lwnode.federation.intake import SYNC, Intake
from lwnode.federation.p2p.base import PeerNetwork
from lwnode.node.store.base import ANNOUNCEMENT, RecordRow, Store
from protocol import limits
from protocol.codec import decode_envelope, decode_message, encode_message
from protocol.errors import ProtocolError, UnsupportedVersionError
from protocol.messages import (
    Digest,
    DigestEntry,
    ErrorCode,
    ErrorReply,
    SyncRequest,
    SyncResponse,
    SyncWant,
)
from protocol.replication import FILTER_CHANGE_SECONDS, ReplicationFilter, narrowing
from protocol.sync import make_cursor, owner_fingerprint, read_cursor, split_digests, wants_from
from protocol.versions import SYNC_PROTOCOL, honours_filters, reads_summaries

if TYPE_CHECKING:
    from lwnode.node.service import NodeService

log = logging.getLogger("lwnode.federation")

PAGE_BUDGET_BYTES = limits.MAX_MESSAGE_BYTES - 4096
"""Bytes of envelopes per page, leaving room for the message's own framing."""
MAX_PEERS_KEPT = 4096
"""Peers whose replication filter `AntiEntropy.keeps_of` remembers."""
ENVELOPE_OVERHEAD = 16
"""Bytes a record adds inside a `SyncResponse` beyond its envelope's bytes (map headers)."""


@dataclass(frozen=True)
class RoundResult:
    """What one pull from a peer brought."""

    peer: str
    wants: int
    pages: int
    records: int
    accepted: int


# -- digests (store thread) --------------------------------------------------------------------
def digest_entries(store: Store, start: str = "", end: str = "",
                   filters: Sequence[ReplicationFilter] = (), exempt: str = "",
                   exempt_filters: Sequence[ReplicationFilter] = ()) -> list[DigestEntry]:
    """This store's digest entries for owners in ``[start, end)`` (end "" = no end), over
    the records that pass every replication filter; the `exempt` owner's records need
    pass only `exempt_filters` (a node serves all of its own learnwares that the asker
    keeps, whatever it keeps of others')."""
    return Digests().entries(store, start, end, filters, exempt, exempt_filters)


class Digests:
    """Digest entries kept up to date by the store's change numbers.

    A fingerprint hashes every (learnware id, sequence) of its owner: recomputing all of
    them read every stored record (about 1 s per digest at 200,000 records, and a node
    answers a digest per peer per round). Each combination of replication filters (a
    node meets a few: its own, and its peers') has a view, every owner's (max
    sequence, count, fingerprint) over the records that pass, computed once; after
    that, `Store.owners_changed_after` says whose records changed since the view was
    last read, and only theirs are recomputed. The `KEPT_FILTER_SETS` views last used
    are kept (a few bytes an owner each); a new store epoch starts them all anew.
    Store thread only.
    """

    KEPT_FILTER_SETS = 8

    def __init__(self) -> None:
        self._epoch = ""
        self._views: dict[tuple[ReplicationFilter, ...], _View] = {}

    def entries(self, store: Store, start: str = "", end: str = "",
                filters: Sequence[ReplicationFilter] = (), exempt: str = "",
                exempt_filters: Sequence[ReplicationFilter] = ()) -> list[DigestEntry]:
        epoch, last = store.change_mark()
        if epoch != self._epoch:
            self._views.clear()
            self._epoch = epoch
        key, exempt_key = narrowing(filters), narrowing(exempt_filters)
        owners = dict(self._view(store, key, last))
        if exempt and exempt_key != key:
            owners.pop(exempt, None)
            kept = self._view(store, exempt_key, last).get(exempt)
            if kept is not None:
                owners[exempt] = kept
        return [DigestEntry(owner, *owners[owner]) for owner in sorted(owners)
                if owner >= start and (not end or owner < end)]

    def _view(self, store: Store, key: tuple[ReplicationFilter, ...], last: int
              ) -> dict[str, tuple[int, int, bytes]]:
        view = self._views.pop(key, None)
        if view is None:
            view = _View(last, {owner: _entry(store.owner_sequences(owner, key))
                                for owner, _, _ in store.owners(key)})
        elif view.seen != last:
            for owner in store.owners_changed_after(view.seen):
                sequences = store.owner_sequences(owner, key)
                if sequences:
                    view.owners[owner] = _entry(sequences)
                else:
                    view.owners.pop(owner, None)
            view.seen = last
        self._views[key] = view  # the most recently used last
        while len(self._views) > self.KEPT_FILTER_SETS:
            del self._views[next(iter(self._views))]
        return view.owners


@dataclass
class _View:
    """One filter combination's digest, as of change number `seen`."""

    seen: int
    owners: dict[str, tuple[int, int, bytes]]


def _entry(sequences: list[tuple[str, int]]) -> tuple[int, int, bytes]:
    """(max sequence, count, fingerprint) of one owner's (learnware id, sequence) pairs."""
    return max(q for _, q in sequences), len(sequences), owner_fingerprint(sequences)


# -- pages (store thread) --------------------------------------------------------------------
def sync_page(store: Store, wants: Sequence[SyncWant], cursor: bytes,
              filters: Sequence[ReplicationFilter] = (), exempt: str = "",
              exempt_filters: Sequence[ReplicationFilter] = ()
              ) -> tuple[list[RecordRow], bytes]:
    """The records of one page and the next cursor (empty: last page).

    Wants are served in order; the cursor is "after (owner, sequence)" of the last
    record sent. Raises `ProtocolError` for a cursor this node did not issue. Pages
    are filled by the stored envelopes' sizes (an own announcement sent as its
    smaller summary leaves the page under its budget). Only records that pass every
    filter are sent (the asker's and ours); the `exempt` owner's (this node's own)
    need pass only `exempt_filters` (the asker's).
    """
    owners = [w.owner for w in wants]
    start_owner, start_seq = (owners[0], -1) if not cursor else read_cursor(cursor)
    if start_owner not in owners:
        raise ProtocolError(f"cursor: owner {start_owner} is not among the wants")
    page: list[RecordRow] = []
    used = 0
    for want in wants[owners.index(start_owner):]:
        after = max(want.after_sequence, start_seq) if want.owner == start_owner else \
            want.after_sequence
        while True:
            rows = store.records_after(want.owner, after, 64,
                                       exempt_filters if want.owner == exempt else filters)
            if not rows:
                break
            for row in rows:
                size = len(row.envelope) + ENVELOPE_OVERHEAD
                if page and (len(page) >= limits.MAX_SYNC_RECORDS
                             or used + size > PAGE_BUDGET_BYTES):
                    return page, make_cursor(want.owner, after)
                page.append(row)
                used += size
                after = row.sequence
    return page, b""


class AntiEntropy:
    """Serves ``/lwdock/sync/1.0.0`` and pulls from peers (see the module doc)."""

    def __init__(self, service: NodeService, network: PeerNetwork, intake: Intake, *,
                 timeout: float = 10.0) -> None:
        self.service = service
        self.network = network
        self.intake = intake
        self.timeout = timeout
        self.rounds = 0
        self.rounds_failed = 0
        self.records_pulled = 0
        self._digests = Digests()
        self.keeps_of: dict[str, ReplicationFilter] = {}
        """What each peer said it keeps in its last digest (routed search prefers the
        peers that keep what is asked); at most `MAX_PEERS_KEPT` peers."""
        self._filter_changed_at: dict[str, float] = {}
        self.rounds_skipped = 0
        """Rounds not pulled: the peer is older than 1.4 and would ignore our filter."""
        self.rounds_skipped_full = 0
        """Rounds not pulled: this node is over its disk budget and takes nothing new."""
        self.on_behind: Callable[[str], None] | None = None
        """Called with a peer whose digest shows records we lack (to pull from it soon)."""
        self._pulling: set[str] = set()
        """Owners whose records a round is pulling now: another round skips them (a node
        joining through two peers would otherwise receive and check everything twice)."""

    @property
    def holds(self) -> ReplicationFilter:
        """What this node replicates (`[replication]`, narrowed when over its disk
        budget: `NodeService.keeps`): told to peers in its digests."""
        return self.service.keeps

    # -- serving ---------------------------------------------------------------------------
    async def handle(self, peer: str, data: bytes) -> bytes:
        """Answer a `Digest` with ours of the same range, a `SyncRequest` with a page."""
        try:
            message = await self.service.compute(decode_message, data, (Digest, SyncRequest))
            if isinstance(message, Digest):
                if message.node != peer:
                    raise ProtocolError(f"Digest.node: {message.node} is not the sender "
                                        f"{peer}")
                if not self._note_keeps(peer, message.holds):
                    raise ProtocolError(f"Digest.holds: {peer} changed its replication "
                                        f"filter within {FILTER_CHANGE_SECONDS:g} s")
                # over what both keep, so that the asker compares like with like
                both = narrowing((message.holds, self.holds))
                entries = await self.service.in_store(
                    self._digests.entries, self.service.store, message.range_start,
                    message.range_end, both, self.service.node_id, narrowing((message.holds,)))
                if both == narrowing((message.holds,)):
                    # we keep all the asker keeps (the same filter, or everything): its
                    # entries cover the same part as ours, and a difference is news
                    self._note_behind(peer, entries, message)
                reply: Digest | SyncResponse | ErrorReply = Digest(
                    self.service.node_id, message.range_start, message.range_end,
                    tuple(entries[:limits.MAX_DIGEST_ENTRIES]), holds=self.holds)
            else:
                rows, cursor = await self.service.in_store(
                    sync_page, self.service.store, message.wants, message.cursor,
                    narrowing((*message.filters, self.holds)), self.service.node_id,
                    narrowing(message.filters))
                summaries = (reads_summaries(message.version)
                             and self.service.offers_summaries)
                reply = await self.service.compute(self._response, rows, cursor, summaries)
        except UnsupportedVersionError as exc:
            reply = ErrorReply(ErrorCode.UNSUPPORTED_VERSION, str(exc)[:1000])
        except ProtocolError as exc:
            log.info("sync request from %s refused: %s", peer, exc)
            reply = ErrorReply(ErrorCode.BAD_REQUEST, str(exc)[:1000])
        return await self.service.compute(encode_message, reply)

    def _response(self, rows: Sequence[RecordRow], cursor: bytes, summaries: bool
                  ) -> SyncResponse:
        """A page as sent: this node's own announcements as their signed summaries to a
        peer that reads them (derived here, in the search threads, not the store's)."""
        service = self.service
        envelopes = [service.summary_envelope(r) if summaries and r.owner == service.node_id
                     and r.kind == ANNOUNCEMENT else r.envelope for r in rows]
        return SyncResponse(tuple(decode_envelope(e) for e in envelopes), cursor)

    def _note_keeps(self, peer: str, holds: ReplicationFilter) -> bool:
        """Remember what `peer` keeps; False if it changed that too soon (see
        `FILTER_CHANGE_SECONDS`)."""
        now = asyncio.get_running_loop().time()  # virtual in the network simulation
        known = self.keeps_of.pop(peer, None)
        changed_at = self._filter_changed_at.get(peer, -FILTER_CHANGE_SECONDS)
        if known is not None and known != holds:
            if now - changed_at < FILTER_CHANGE_SECONDS:
                self.keeps_of[peer] = known
                return False
            self._filter_changed_at[peer] = now
        self.keeps_of[peer] = holds  # the most recent last
        while len(self.keeps_of) > MAX_PEERS_KEPT:
            gone = next(iter(self.keeps_of))
            del self.keeps_of[gone]
            self._filter_changed_at.pop(gone, None)
        return True

    def _note_behind(self, peer: str, entries: Sequence[DigestEntry], theirs: Digest) -> None:
        """A peer that shows us, by its digest, that it holds records we lack has just
        learnt them (e.g. by sync from a third node): pull from it now rather than at
        the next round, so what one node catches up on spreads hop by hop at once."""
        if self.on_behind is None or theirs.node != peer:
            return
        mine = {e.owner: e for e in entries}
        if any(w.owner != self.service.node_id for w in wants_from(mine, theirs)):
            self.on_behind(peer)

    # -- pulling ---------------------------------------------------------------------------
    async def _ask(self, peer: str, message: Digest | SyncRequest,
                   expected: type[Digest] | type[SyncResponse]) -> Digest | SyncResponse:
        data = await self.service.compute(encode_message, message)
        answer = await self.network.request(peer, SYNC_PROTOCOL, data, timeout=self.timeout)
        reply: Digest | SyncResponse = await self.service.compute(decode_message, answer,
                                                                  expected)
        return reply

    async def pull(self, peer: str) -> RoundResult:
        """One round with `peer`: compare digests, pull every page of what we lack.

        Raises `PeerError` / `ProtocolError` when the peer fails; the caller
        retries at the next round.
        """
        self.rounds += 1
        try:
            return await self._pull(peer)
        except Exception:
            self.rounds_failed += 1
            raise

    async def _pull(self, peer: str) -> RoundResult:
        """Digests over what we keep; compared over what both keep (the peer's answer
        says what it keeps, and covers only that); then the pages of what is missing."""
        service = self.service
        if not service.taking_new:
            # every page would bring learnwares this node then leaves out; gossip still
            # brings updates and withdrawals of those it holds
            self.rounds_skipped_full += 1
            return RoundResult(peer, 0, 0, 0, 0)
        mine_filters = narrowing((self.holds,))
        mine = await service.in_store(self._digests.entries, service.store, "", "",
                                      mine_filters)
        compared: dict[str, DigestEntry] | None = None
        both: tuple[ReplicationFilter, ...] = mine_filters
        wants: list[SyncWant] = []
        for digest in split_digests(service.node_id, mine):
            digest = replace(digest, holds=self.holds)
            theirs = await self._ask(peer, digest, Digest)
            assert isinstance(theirs, Digest)
            if (theirs.node != peer or theirs.range_start != digest.range_start
                    or theirs.range_end != digest.range_end):
                raise ProtocolError(f"{peer} answered a digest of {theirs.node} for range "
                                    f"[{theirs.range_start!r}, {theirs.range_end!r})")
            if mine_filters and not honours_filters(theirs.version):
                # it answered for everything it holds: pulling would bring what we do
                # not keep, every round; gossip and 1.4 peers bring ours
                self.rounds_skipped += 1
                return RoundResult(peer, 0, 0, 0, 0)
            if compared is None:
                self._note_keeps(peer, theirs.holds)
                both = narrowing((self.holds, theirs.holds))
                # the peer's own records pass our filter only, as in its answer
                compared = {e.owner: e for e in (mine if both == mine_filters else
                                                 await service.in_store(
                                                     self._digests.entries, service.store,
                                                     "", "", both, peer, mine_filters))}
            wants += [w for w in wants_from(compared, theirs)
                      if w.owner != service.node_id and w.owner not in self._pulling]
        mine_now = {w.owner for w in wants}
        self._pulling |= mine_now
        try:
            return await self._pull_wants(peer, wants, mine_filters)
        finally:
            self._pulling -= mine_now

    async def _pull_wants(self, peer: str, wants: list[SyncWant],
                          filters: tuple[ReplicationFilter, ...] = ()) -> RoundResult:
        """Follow the cursor of each chunk of wants; the next page is requested while
        this one is checked and stored (the peer builds it meanwhile)."""
        pages = records = accepted = 0
        for i in range(0, len(wants), limits.MAX_SYNC_WANTS):
            chunk = tuple(wants[i:i + limits.MAX_SYNC_WANTS])
            ahead = asyncio.ensure_future(self._ask(
                peer, SyncRequest(chunk, filters=filters), SyncResponse))
            try:
                while True:
                    page = await ahead
                    assert isinstance(page, SyncResponse)
                    if page.next_cursor:
                        if not page.records:
                            raise ProtocolError(f"{peer} sent an empty page with a cursor")
                        ahead = asyncio.ensure_future(self._ask(
                            peer, SyncRequest(chunk, page.next_cursor, filters),
                            SyncResponse))
                    pages += 1
                    records += len(page.records)
                    self.records_pulled += len(page.records)
                    if page.records:
                        verdicts = await self.intake.take(page.records, via=SYNC, peer=peer)
                        accepted += sum(v.outcome == "accepted" for v in verdicts)
                    if not page.next_cursor:
                        break
            finally:
                ahead.cancel()
        if accepted:
            log.info("anti-entropy with %s: %d record(s) new of %d pulled", peer, accepted,
                     records)
        return RoundResult(peer, len(wants), pages, records, accepted)

    def counters(self) -> dict[str, int]:
        return {"sync_rounds": self.rounds, "sync_rounds_failed": self.rounds_failed,
                "sync_rounds_skipped_old_peer": self.rounds_skipped,
                "sync_rounds_skipped_over_disk_budget": self.rounds_skipped_full,
                "sync_records_pulled": self.records_pulled}



