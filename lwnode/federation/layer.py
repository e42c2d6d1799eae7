"""`Federation`: the node's `PeerLayer` over a `PeerNetwork` — how nodes form one dock network.

===================  ===========================================================
part                 what it does
===================  ===========================================================
spec gossip          an own publish or withdrawal -> its signed envelope on the
                     announce topic; received envelopes -> `lwnode.federation.intake`
                     (signature, trust, content, replay, store, catalog)
anti-entropy         a pull (`lwnode.federation.antientropy`) from each peer as soon as it
                     connects and every ``[p2p] sync_interval`` seconds
routed search        ``POST /v1/search`` and peers' ``/lwdock/search/1.0.0``
                     requests go through `lwnode.federation.routing.route_search` (fan-out,
                     ttl, visited, deadline); peers' hits are verified and admitted
                     like gossip; the mixture is computed over every owner's hits
peers                ``/v1/peers`` (connection, organization, URL, what each sent
                     and how much of it was refused) and counters for ``/v1/health``
===================  ===========================================================

Every background task is owned here and cancelled by `stop`. The long-running ones
(gossip intake, peer watcher, the libp2p thread itself) run under a
`lwnode.federation.supervision.Supervisor`: a crash is logged with its cause and the part
restarted with back-off, and ``/v1/health`` names it (503 "degraded") until it is
back. While the libp2p layer is down, searches answer from the local catalog and
``/v1/peers`` lists the peers kept in the store as disconnected.

Known peers (node id and addresses) are kept in the store; a node that restarts
re-dials them (with the keep-connected loop's back-off), not only its bootstrap list.
Decoding, signatures and maths run in the service's threads, never on the event
loop (nor in the libp2p thread).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from engine.errors import SearchError
from engine.hetero.features import order_by_name, same_columns
from engine.search import Requirement as EngineRequirement
from lwnode.config import NodeConfig
from lwnode.errors import Busy
from lwnode.federation.antientropy import AntiEntropy, RoundResult
from lwnode.federation.intake import (
    ACCEPTED,
    GOSSIP,
    SEARCH,
    Checked,
    Intake,
    Verdict,
    check_hits,
    signed_by_owner,
)
from lwnode.federation.ownerfetch import UnreachableOwners, plan_fetch
from lwnode.federation.p2p.base import PeerNetwork, PeerStatus
from lwnode.federation.p2p.errors import NetworkClosed, PeerError, ProtocolNotSupported
from lwnode.federation.quotas import AnnouncementQuotas, QuotaSettings
from lwnode.federation.routing import (
    RecentQueries,
    RoutingPolicy,
    empty_response,
    prefer_keepers,
    route_search,
)
from lwnode.federation.searchwire import (
    answer_of,
    for_older_asker,
    local_response,
    mixture_hit,
    query_of,
    request_of,
)
from lwnode.federation.supervision import Supervisor
from lwnode.federation.trust import TrustPolicy
from lwnode.node.peering import PeerInfo, PeerLayer
from lwnode.node.privacypolicy import routing_refusal
from lwnode.node.records import offer_of
from lwnode.node.searchtypes import Hit, SearchAnswer, SearchQuery
from lwnode.node.service import NodeService
from lwnode.node.store.base import PeerRow, Pin, RecordFilter, Store
from protocol import limits
from protocol.codec import decode_message, encode_message
from protocol.errors import ProtocolError, UnsupportedVersionError
from protocol.messages import (
    ErrorCode,
    ErrorReply,
    MixtureHit,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SpecRequest,
    SpecResponse,
    now_ms,
)
from protocol.owneraddrs import own_addrs, peer_id_of_key
from protocol.summary import asked_items, pack_spec_response
from protocol.versions import (
    ANNOUNCE_TOPIC,
    SEARCH_PROTOCOL,
    SPECS_PROTOCOL,
    SUMMARY_TOPIC,
    SYNC_PROTOCOL,
    reads_summaries,
)

log = logging.getLogger("lwnode.federation")

GOSSIP_BATCH = 256
"""Envelopes taken from the announce queue at once (one store transaction)."""
SYNC_SLOTS = 4
"""Anti-entropy rounds running at once."""
SYNC_RETRY = 2.0
"""Seconds before a failed round with a peer is tried again."""

SPEC_RELAYS = 2
"""Peers asked for the specs whose owners are not connected (they ask the owner)."""
SPEC_FORWARD_TIMEOUT = 1.0
"""The time scale of spec relays, in seconds (the default search deadline): a node
serving a `SpecRequest` of ttl t waits at most ``SPEC_FORWARD_TIMEOUT * t /
(MAX_SPEC_TTL + 1)`` for the specs it forwards (`spec_relay_wait`: 0.67 s at ttl 2),
so the ttl carries the asker's budget without a field on the wire: each relay of a
chain answers with a third of the scale left for the way back, before an asker that
waits the default deadline (or the relay before it) stops waiting."""

R = TypeVar("R", SearchRequest, SpecRequest)


def spec_relay_wait(ttl: int) -> float:
    """Seconds a node serving a `SpecRequest` of `ttl` waits for what it forwards."""
    return SPEC_FORWARD_TIMEOUT * ttl / (limits.MAX_SPEC_TTL + 1)


AskWithBytes = Callable[[str, SearchRequest, bytes], Awaitable[SearchResponse]]


class Federation(PeerLayer[NodeService]):
    """A node's peer layer (see the module doc).

    Parameters
    ----------
    network
        The peer network (`Libp2pNetwork` in a node, `InProcessNetwork` in unit
        tests), not started yet: `start` registers the handlers, subscribes and
        starts it.
    watch_interval
        Seconds between looks at the peer list (new connections start a sync).
    sync_timeout
        Seconds one sync request may take.
    sync
        Run anti-entropy rounds (False only to test gossip or routing alone).
    """

    enabled = True

    def __init__(self, network: PeerNetwork, *, watch_interval: float = 0.25,
                 sync_timeout: float = 10.0, sync: bool = True) -> None:
        self.network = network
        self.sync = sync
        self.watch_interval = watch_interval
        self.sync_timeout = sync_timeout
        self.counts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recent = RecentQueries()
        self._connected: set[str] = set()
        self._synced_at: dict[str, float] = {}
        self._syncing: set[str] = set()
        self._again: set[str] = set()
        self._sync_slots = asyncio.Semaphore(SYNC_SLOTS)
        self._started = False
        self.supervisor = Supervisor()
        self._persisted: dict[str, tuple[str, ...]] = {}
        self._unreachable = UnreachableOwners()
        self.service: NodeService
        self.policy: TrustPolicy
        self.intake: Intake
        self.antientropy: AntiEntropy
        self.routing: RoutingPolicy

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, service: NodeService) -> None:
        self.service = service
        config = service.config
        self.policy = TrustPolicy.from_config(config.trust, service.node_id)
        self.intake = Intake(service, self.policy, AnnouncementQuotas(quota_settings(config)))
        self.intake.on_refused = self.network.penalize  # GossipSub scoring (docs/p2p.md)
        self.antientropy = AntiEntropy(service, self.network, self.intake,
                                       timeout=self.sync_timeout)
        self.antientropy.on_behind = self._nudge
        self.routing = RoutingPolicy(fanout=config.p2p.search_fanout)
        self.network.set_handler(SYNC_PROTOCOL, self._members_only(self.antientropy.handle))
        self.network.set_handler(SEARCH_PROTOCOL, self._members_only(self._serve_search))
        self.network.set_handler(SPECS_PROTOCOL, self._members_only(self._serve_specs))
        inbox = await self.network.subscribe(ANNOUNCE_TOPIC)
        summaries = await self.network.subscribe(SUMMARY_TOPIC)
        await self.network.start()
        self._started = True
        try:
            await self._pin_own_name()
        except BaseException:
            await self.stop()
            raise
        self.supervisor.run("gossip intake", lambda: self._consume_gossip(inbox))
        self.supervisor.run("summary intake", lambda: self._consume_gossip(summaries))
        self.supervisor.run("peer watcher", self._watch_peers)
        self.supervisor.watch("libp2p peer layer", lambda: self.network.down,
                              self.network.restart)
        self._spawn(self._redial_known())
        log.info("peer layer of %s listening on %s (trust: %s)", service.node_id,
                 ", ".join(self.network.listen_addrs), self.policy.mode)

    async def stop(self) -> None:
        await self.supervisor.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._started:
            await self.network.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            # the network closed, or the node stopping under a task spawned just before,
            # is the stop itself, not a failure
            stopped = isinstance(exc, NetworkClosed) or \
                (isinstance(exc, Busy) and self.service.stopping)
            if not stopped:
                log.error("federation task failed", exc_info=exc)

    def problems(self) -> dict[str, str]:
        return self.supervisor.down()

    async def _redial_known(self) -> None:
        """Re-dial the peers kept in the store from earlier runs (kept connected after)."""
        rows = await self.service.in_store(self.service.store.list_peers)
        for row in rows:
            for addr in row.multiaddrs:
                try:
                    await self.network.connect(addr, keep=True)
                except ValueError:  # an address of ours or not a peer address: skip
                    continue
                except PeerError as exc:  # wanted now: the keep-connected loop retries
                    log.debug("known peer %s not reachable yet: %s", row.node_id, exc)
                break

    async def _pin_own_name(self) -> None:
        """Our organization name is ours: pin it to our key (trust on first use)."""
        service = self.service
        pin = Pin(service.organization, service.node_id, service.identity.public_key, now_ms())
        await service.in_store(service.store.pin, [pin])
        held = (await service.in_store(service.store.pinned, [pin.organization]))[
            pin.organization]
        if held.owner != service.node_id:
            log.warning("organization name %r is pinned to another node (%s): peers that met "
                        "it first will refuse this node's announcements; choose another "
                        "[node] organization", pin.organization, held.owner)

    # -- gossip ---------------------------------------------------------------------------------
    async def announce(self, envelope: bytes, summary: bytes | None = None) -> None:
        """An own offer goes out as its signed summary on the summary topic (1.3 peers
        fetch the full specs when a search needs them); a tombstone goes on the
        announce topic, which every node reads."""
        if summary is not None:
            await self.network.publish(SUMMARY_TOPIC, summary)
        else:
            await self.network.publish(ANNOUNCE_TOPIC, envelope)
        self.counts["announced"] += 1

    async def _consume_gossip(self, inbox: asyncio.Queue[Any]) -> None:
        """Take announcements off the queue in batches and admit them, per sender."""
        while True:
            batch = [await inbox.get()]
            while len(batch) < GOSSIP_BATCH:
                try:
                    batch.append(inbox.get_nowait())
                except asyncio.QueueEmpty:
                    break
            by_origin: dict[str, list[bytes]] = {}
            for message in batch:
                by_origin.setdefault(message.origin, []).append(message.data)
            for origin, items in by_origin.items():
                try:
                    await self.intake.take(items, via=GOSSIP, peer=origin)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("gossip from %s could not be taken in", origin)

    # -- peers and anti-entropy -----------------------------------------------------------------
    async def _watch_peers(self) -> None:
        """Start a sync with each newly connected peer and every `sync_interval` after."""
        loop = asyncio.get_running_loop()
        interval = self.service.config.p2p.sync_interval
        while True:
            try:
                statuses = await self.network.peers()
            except PeerError:  # the libp2p layer is down: its own supervisor restarts it
                await asyncio.sleep(self.watch_interval)
                continue
            now = loop.time()
            connected = {p.node_id: p for p in statuses if p.connected}
            changed = [p for node_id, p in connected.items()
                       if self._persisted.get(node_id) != p.addrs]
            if changed:
                for p in changed:
                    self._persisted[p.node_id] = p.addrs
                self._spawn(self._remember(changed))
            for node_id in connected if self.sync else ():
                if not self.policy.talks_to(node_id):
                    continue
                fresh = node_id not in self._connected
                if fresh or now - self._synced_at.get(node_id, -math.inf) >= interval:
                    self._schedule_sync(node_id, now)
            self._connected = set(connected)
            await asyncio.sleep(self.watch_interval)

    def _schedule_sync(self, peer: str, now: float) -> None:
        if peer in self._syncing:
            self._again.add(peer)  # a round is running: one more when it ends
            return
        self._syncing.add(peer)
        self._synced_at[peer] = now
        self._spawn(self._sync(peer))

    def _nudge(self, peer: str) -> None:
        """Pull from `peer` now: it holds records we lack (see `lwnode.federation.antientropy`)."""
        if self.sync and peer in self._connected:
            self._schedule_sync(peer, asyncio.get_running_loop().time())

    async def _sync(self, peer: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._again.discard(peer)
                async with self._sync_slots:
                    self._spread(peer, await self.antientropy.pull(peer))
                if peer not in self._again:
                    break
        except (PeerError, ProtocolError) as exc:
            log.info("anti-entropy with %s failed: %s", peer, exc)
            if not isinstance(exc, ProtocolNotSupported):  # not a node that syncs: wait
                interval = self.service.config.p2p.sync_interval
                self._synced_at[peer] = loop.time() - interval + SYNC_RETRY
        except Exception:  # a bug: logged with its cause; the next round tries again
            log.exception("anti-entropy with %s crashed", peer)
            interval = self.service.config.p2p.sync_interval
            self._synced_at[peer] = loop.time() - interval + SYNC_RETRY
        finally:
            self._syncing.discard(peer)

    def _spread(self, peer: str, result: RoundResult) -> None:
        """News to us may be news to our other peers: a round with each of them."""
        if result.accepted:
            now = asyncio.get_running_loop().time()
            for other in self._connected - {peer}:
                if self.policy.talks_to(other):
                    self._schedule_sync(other, now)

    async def sync_now(self, peer: str) -> RoundResult:
        """Run one anti-entropy round with `peer` now (tests, operators)."""
        result = await self.antientropy.pull(peer)
        self._spread(peer, result)
        return result

    async def _remember(self, peers: Sequence[PeerStatus]) -> None:
        """Keep connected peers and their addresses in the store (re-dialled at start)."""
        now = now_ms()
        rows = [PeerRow(p.node_id, multiaddrs=p.addrs, first_seen=now, last_seen=now)
                for p in peers]
        await self.service.in_store(_keep_peers, self.service.store, rows)

    async def peers(self) -> list[PeerInfo]:
        try:
            statuses = await self.network.peers()
        except PeerError:  # the libp2p layer is down: the peers we know, disconnected
            rows = await self.service.in_store(self.service.store.list_peers)
            statuses = [PeerStatus(r.node_id, False, r.last_seen / 1000 or None, r.multiaddrs)
                        for r in rows]
        about = await self.service.in_store(_peer_details, self.service.store,
                                            [s.node_id for s in statuses])
        out = []
        for s in statuses:
            organization, url = about.get(s.node_id, ("", ""))
            counts = self.intake.by_peer.get(s.node_id, Counter())
            out.append(PeerInfo(s.node_id, s.connected, organization, url, s.addrs,
                                s.last_seen, records_accepted=counts["accepted"],
                                records_rejected=counts["rejected"]))
        return out

    def multiaddrs(self) -> tuple[str, ...]:
        return self.network.listen_addrs if self._started else ()

    def own_addrs(self) -> tuple[str, ...]:
        """``[p2p] announce_addrs``, else the listen addresses that can be dialled, with
        this node's peer id (at most 4): what its signed summaries carry (1.5)."""
        if not self._started:
            return ()
        service = self.service
        return own_addrs(service.config.p2p.announce_addrs or self.network.listen_addrs,
                         peer_id_of_key(service.identity.public_key), strict=False)

    def counters(self) -> dict[str, int]:
        out = dict(self.network.counters)
        out.update(self.intake.counters() if self._started else {})
        out.update(self.antientropy.counters() if self._started else {})
        for name in ("announced", "searches_routed", "searches_partial", "searches_served",
                     "searches_repeated", "requests_refused", "searches_not_routed_privacy",
                     "specs_fetched", "spec_requests_served", "spec_requests_failed",
                     "specs_refused", "spec_owners_dialled", "spec_owner_fallbacks",
                     "spec_owners_unreachable",
                     "spec_owners_at_summary_addrs"):
            out[name] = self.counts[name]
        out["peers_connected"] = len(self._connected)
        return out

    # -- who this node exchanges requests with ---------------------------------------------
    def _members_only(self, handler: Callable[[str, bytes], Awaitable[bytes]]
                      ) -> Callable[[str, bytes], Awaitable[bytes]]:
        """`handler` for the peers the trust policy talks to; others get `forbidden`."""
        async def gated(peer: str, data: bytes) -> bytes:
            if not self.policy.talks_to(peer):
                self.counts["requests_refused"] += 1
                return encode_message(ErrorReply(
                    ErrorCode.FORBIDDEN, "this node answers only the peers in its [trust] "
                    "allow list"))
            return await handler(peer, data)

        return gated

    def _keepers_first(self, candidates: list[str], request: SearchRequest) -> list[str]:
        """Peers that keep learnwares like the requirement are asked first (`routing.
        prefer_keepers`): a node keeping part of the catalog finds the rest through them."""
        return prefer_keepers(candidates, self.antientropy.keeps_of, request.requirement)

    async def _members_connected(self) -> list[str]:
        """Connected peers this node may send a search to (see `TrustPolicy.talks_to`)."""
        try:
            statuses = await self.network.peers()
        except PeerError:  # the libp2p layer is down: answer from this node alone
            return []
        return [p.node_id for p in statuses
                if p.connected and self.policy.talks_to(p.node_id)]

    async def _read_request(self, data: bytes, cls: type[R]) -> R | bytes:
        """A peer's request decoded, or the encoded error reply that answers it."""
        try:
            request: R = await self.service.compute(decode_message, data, cls)
        except UnsupportedVersionError as exc:
            return encode_message(ErrorReply(ErrorCode.UNSUPPORTED_VERSION, str(exc)[:1000]))
        except ProtocolError as exc:
            return encode_message(ErrorReply(ErrorCode.BAD_REQUEST, str(exc)[:1000]))
        return request

    # -- full specs by content id (schema 1.3) ---------------------------------------------
    async def fetch_specs(self, wanted: dict[str, tuple[str, ...]], timeout: float, *,
                          ttl: int = limits.MAX_SPEC_TTL, exclude: frozenset[str] = frozenset(),
                          dial_owners: bool = True, dials: int | None = None,
                          sources: Mapping[str, str] | None = None) -> dict[str, bytes]:
        """Ask peers for full specs by content id (`lwnode.federation.ownerfetch`): each id
        from a connected owner of it (ttl 0); else from an owner dialled for it over a
        short-lived connection (with `dial_owners`, up to `dials` owners, ``[p2p]
        spec_owner_dials`` by default, those of the first ids first); the
        rest, and the ids of dialled owners that do not answer, from up to `SPEC_RELAYS`
        connected peers, which answer from their cache or ask the owner, or their own
        peers, in turn (`ttl` more hops). An owner dialled is reached where the peer
        layer knows it listens, else at the addresses of its signed summary (schema 1.5)
        of a learnware `sources` names for the ids (spec id -> learnware id) that this
        node may dial (`NodeService.owner_addrs`). Returns the bytes whose content id was
        asked for (the service decodes and checks them again before use)."""
        try:
            statuses = await self.network.peers()
        except PeerError:  # the libp2p layer is down
            return {}
        talks_to = self.policy.talks_to
        connected = sorted({p.node_id for p in statuses if p.connected and talks_to(p.node_id)}
                           - exclude)
        addrs = {p.node_id: p.addrs for p in statuses}
        if dials is None:
            dials = self.service.config.p2p.spec_owner_dials if dial_owners else 0
        loop = asyncio.get_running_loop()
        plan = plan_fetch(wanted, connected, dials,
                          dialable=lambda o: o not in exclude and talks_to(o)
                          and o != self.service.node_id
                          and self._unreachable.dialable(o, loop.time()))
        # peers that are not owners first; an owner asked for its own specs can relay
        # the others too (in a chain, the next node may be both)
        relays = sorted(connected, key=lambda p: p in plan.linked)[:SPEC_RELAYS] \
            if ttl > 0 else []
        end = loop.time() + timeout
        asked = set(wanted)
        got: dict[str, bytes] = {}

        async def ask(peer: str, ids: list[str], hops: int, dial: bool = False) -> bool:
            # A request holds up to MAX_SPEC_IDS ids and a response what fits in one
            # message: the next ids go in the next request, and a response cut for size
            # is followed by a request for the rest of its ids; a peer that sent none of
            # them is not asked again. False: the peer did not answer.
            pending = [i for i in ids if i not in got]
            while pending:
                chunk = pending[:limits.MAX_SPEC_IDS]
                left = end - loop.time()
                if left <= 0:
                    return False
                try:
                    data = await self.service.compute(encode_message,
                                                      SpecRequest(tuple(chunk), hops))
                    if dial:
                        raw = await self.network.request_direct(
                            peer, SPECS_PROTOCOL, data, addrs=addrs.get(peer, ()),
                            timeout=left)
                    else:
                        raw = await self.network.request(peer, SPECS_PROTOCOL, data,
                                                         timeout=left)
                    items, stray = await self.service.compute(_spec_items, raw, asked)
                except (PeerError, ProtocolError) as exc:
                    log.info("specs from %s: %s", peer, exc)
                    self.counts["spec_requests_failed"] += 1
                    if dial and isinstance(exc, PeerError):  # not there, or it hung
                        self._unreachable.mark(peer, loop.time())
                        self.counts["spec_owners_unreachable"] += 1
                    return False
                if stray:
                    self.counts["specs_refused"] += stray
                    log.info("specs from %s: %d item(s) not asked for or not specs", peer,
                             stray)
                got.update(items)
                if not any(i in items for i in chunk):
                    if hops == 0:  # the owner itself answered without them: it withholds
                        self.service.note_withheld(chunk)
                    return True
                # Not cut, the ids it left out are not there (a relay that has not got
                # them: asking again would wait for its fetch a second time).
                cut = len(raw) > limits.MAX_MESSAGE_BYTES - limits.MAX_SPEC_BYTES
                rest = pending[len(chunk):]
                pending = [i for i in (chunk + rest if cut else rest) if i not in got]
            return True

        async def from_owner(owner: str, ids: list[str]) -> None:
            self.counts["spec_owners_dialled"] += 1
            if not addrs.get(owner) and sources:  # never met: the summary says where
                found = await self.service.owner_addrs(
                    owner, [sources[i] for i in ids if i in sources])
                if found:
                    self.counts["spec_owners_at_summary_addrs"] += 1
                    addrs[owner] = found
            if await ask(owner, ids, 0, dial=True):
                return
            left = [i for i in ids if i not in got]
            if left and relays:  # the owner did not answer: the relays, in the time left
                self.counts["spec_owner_fallbacks"] += 1
                await asyncio.gather(*(ask(peer, left, ttl) for peer in relays))

        calls: list[Coroutine[Any, Any, Any]] = [ask(peer, ids, 0)
                                                 for peer, ids in plan.linked.items()]
        calls += [from_owner(owner, ids) for owner, ids in plan.dialled.items()]
        if plan.relayed:
            calls += [ask(peer, plan.relayed, ttl) for peer in relays]
        if not calls:
            return {}
        tasks = [asyncio.ensure_future(call) for call in calls]
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.counts["specs_fetched"] += len(got)
        return got

    async def _serve_specs(self, peer: str, data: bytes) -> bytes:
        """Answer a `SpecRequest` with the full specs held here (own or cached); with ttl
        left, ask the owners of the others first (what comes back is cached here too) —
        a node keeping part of the catalog asks its peers for the ids it does not know."""
        service = self.service
        request = await self._read_request(data, SpecRequest)
        if isinstance(request, bytes):
            return request
        self.counts["spec_requests_served"] += 1
        held = await service.specs_held(list(request.ids))
        missing = [i for i in request.ids if i not in held]
        if missing and request.ttl > 0:
            owners = {i: service.catalog.owners_of_spec(i) for i in missing}
            # A node that keeps part of the catalog ([replication]) does not know the
            # owners of the rest: it passes those ids on to its peers, one hop fewer
            # (a node that keeps everything knows there is no one to ask).
            relays_unknown = not service.keeps.keeps_all
            wanted = {i: o for i, o in owners.items() if o or relays_unknown}
            if wanted:
                # each hop leaves the next less time, and none more than the ttl allows
                # (`spec_relay_wait`): the answer comes back before the asker stops
                # (a relay dials no owner: the asker dialled those it chose to)
                fetched = await self.fetch_specs(wanted, spec_relay_wait(request.ttl),
                                                 ttl=request.ttl - 1, exclude=frozenset({peer}),
                                                 dials=0)
                await service.compute(service.keep_fetched, wanted, fetched)
                held = await service.specs_held(list(request.ids))
        response = await service.compute(pack_spec_response, list(held.values()))
        return await service.compute(encode_message, response)

    # -- routed search: asking ------------------------------------------------------------------
    async def search(self, query: SearchQuery, local: Awaitable[SearchAnswer]
                     ) -> SearchAnswer:
        service = self.service
        config = service.config.p2p
        candidates = await self._members_connected()
        if not candidates or config.search_ttl == 0 or config.search_fanout == 0:
            return await local
        held_back = routing_refusal(query.requirement.spec, service.config.privacy)
        if held_back is not None:
            self.counts["searches_not_routed_privacy"] += 1
            answer = await local
            return replace(answer, notes=(*answer.notes, f"not routed to peers: {held_back}"))
        deadline_ms = query.deadline_ms or config.search_deadline_ms
        try:
            request = await service.compute(_checked_request, query, config.search_ttl,
                                            deadline_ms)
        except ProtocolError as exc:  # e.g. a requirement bigger than a wire message
            answer = await local
            return replace(answer, notes=(*answer.notes, f"not routed to peers: {exc}"[:300]))
        self._recent.first_time(request.query_id)
        self.counts["searches_routed"] += 1
        asked: list[str] = []
        answered: list[str] = []
        mine: list[SearchAnswer] = []
        local_mixture: list[MixtureHit | None] = []
        news: list[str] = []

        async def local_wire() -> SearchResponse:
            answer = await local
            mine.append(answer)
            response: SearchResponse = await service.in_store(
                functools.partial(local_response, estimates=True), service.store, answer,
                request.query_id, service.node_id,
                service.summary_envelope if service.offers_summaries else None)
            local_mixture.append(response.mixture)
            return response

        async def ask(peer: str, onward: SearchRequest, data: bytes) -> SearchResponse:
            asked.append(peer)
            response = await self._ask_peer(peer, onward, data, news)
            answered.append(peer)
            return response

        mixer = self._mixer(query.requirement, query.max_mixture)

        async def mix(hits: tuple[SearchHit, ...]) -> MixtureHit | None:
            # Our catalog searched every learnware the peers know of (gossip keeps the
            # catalogs alike): its mixture stands. Peers' answers that taught us new
            # learnwares call for a mixture over all the merged hits.
            if not news and local_mixture and mine and mine[0].exact:
                return local_mixture[0]
            # Only the learnwares new to us need their specs fetched: our own search
            # (done by now) fetched what it could of the others.
            return await mixer(hits, set(news))

        response = await route_search(
            request, node_id=service.node_id, local=local_wire(),
            candidates=self._keepers_first(candidates, request),
            ask_peer=self._encoding_once(ask), policy=self.routing, mix=mix)
        if response.partial:
            self.counts["searches_partial"] += 1
        estimated = {h.learnware_id: h.mmd2 for h in (mine[0].hits if mine else ())
                     if h.approximate}
        hits = await service.compute(_place, service, response.hits, query.requirement,
                                     estimated)
        return answer_of(response, mine[0], hits, k=query.k, asked=asked, answered=answered)

    def _mixer(self, requirement: EngineRequirement, max_mixture: int
               ) -> Callable[[tuple[SearchHit, ...], set[str]], Awaitable[MixtureHit | None]]:
        async def mix(hits: tuple[SearchHit, ...], fetch: set[str]) -> MixtureHit | None:
            ids = [h.learnware_id for h in hits]
            mixture = await self.service.mixture_over(ids, requirement, max_mixture,
                                                      fetch=fetch)
            return mixture_hit(mixture)

        return mix

    def _encoding_once(self, ask: AskWithBytes) -> Callable[[str, SearchRequest],
                                                            Awaitable[SearchResponse]]:
        """An `ask_peer` for `route_search` that encodes each forwarded request once (the
        same request goes to every peer of a hop), off the event loop."""
        encoded: dict[int, asyncio.Future[bytes]] = {}

        async def ask_peer(peer: str, request: SearchRequest) -> SearchResponse:
            future = encoded.get(id(request))
            if future is None:
                future = asyncio.ensure_future(self.service.compute(encode_message, request))
                encoded[id(request)] = future
            return await ask(peer, request, await asyncio.shield(future))

        return ask_peer

    async def _ask_peer(self, peer: str, request: SearchRequest, data: bytes,
                        news: list[str]) -> SearchResponse:
        """One peer's answer, its hits verified and admitted; those we cannot hold dropped.

        The ids of learnwares new to our catalog are appended to `news`.
        """
        service = self.service
        raw = await self.network.request(peer, SEARCH_PROTOCOL, data,
                                         timeout=request.deadline_ms / 1000.0)
        response, checked = await service.compute(_decode_answer, raw)
        verdicts = await self.intake.admit(checked, via=SEARCH, peer=peer)
        news += [h.learnware_id for h, v in zip(response.hits, verdicts, strict=True)
                 if v.outcome == ACCEPTED]
        kept = await service.compute(_held, service, response.hits)
        ids = {h.learnware_id for h in kept}
        mixture = response.mixture if response.mixture is not None and \
            set(response.mixture.ids) <= ids else None
        return replace(response, hits=kept, mixture=mixture)

    # -- routed search: answering -------------------------------------------------------------
    async def _serve_search(self, peer: str, data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        received = loop.time()
        service = self.service
        request = await self._read_request(data, SearchRequest)
        if isinstance(request, bytes):
            return request
        self.counts["searches_served"] += 1
        if not self._recent.first_time(request.query_id):
            self.counts["searches_repeated"] += 1
            return encode_message(empty_response(request, service.node_id))
        try:
            query = query_of(request, max_k=service.config.search.max_k,
                             max_mixture=service.config.search.max_mixture,
                             max_points=service.config.budget.requirement_points)
        except SearchError as exc:
            return encode_message(ErrorReply(ErrorCode.BAD_REQUEST, str(exc)[:1000]))
        end = received + request.deadline_ms / 1000.0
        summaries = reads_summaries(request.version)

        async def local_wire() -> SearchResponse:
            try:
                answer = await asyncio.wait_for(service.search_local(query),
                                                max(0.001, end - loop.time()))
            except TimeoutError:
                return empty_response(request, service.node_id)
            except SearchError as exc:
                # e.g. only learnwares over other columns here, and a requirement without
                # column descriptions: nothing to offer, which is not the asker's fault.
                log.info("search %s: answered empty (%s)", request.query_id,
                         in_operator_words(str(exc)))
                return empty_response(request, service.node_id)
            return await service.in_store(local_response, service.store, answer,
                                          request.query_id, service.node_id,
                                          service.summary_envelope
                                          if summaries and service.offers_summaries else None)

        candidates = await self._members_connected()
        # A relay merges and passes on; the asker verifies every hit, admits them and
        # computes the mixture over all of them, so the relay does neither.
        response = await route_search(
            request, node_id=service.node_id, local=local_wire(),
            candidates=self._keepers_first(candidates, request),
            ask_peer=self._encoding_once(self._relay_ask), policy=self.routing,
            received_at=received)
        if not summaries:
            response = await service.compute(for_older_asker, response)
        return await service.compute(encode_message, response)

    async def _relay_ask(self, peer: str, request: SearchRequest, data: bytes
                         ) -> SearchResponse:
        """A forwarded request's answer, hits kept if signed by the owner they name."""
        raw = await self.network.request(peer, SEARCH_PROTOCOL, data,
                                         timeout=request.deadline_ms / 1000.0)
        response: SearchResponse = await self.service.compute(_decode_relayed, raw)
        return response


def quota_settings(config: NodeConfig) -> QuotaSettings:
    """`QuotaSettings` from ``[peer_limits]``."""
    limits = config.peer_limits
    return QuotaSettings(gossip_rate=limits.gossip_rate, gossip_burst=limits.gossip_burst,
                         owner_rate=limits.owner_rate, owner_burst=limits.owner_burst,
                         new_owners_per_minute=limits.new_owners_per_minute,
                         new_owners_burst=limits.new_owners_burst,
                         max_records_per_owner=limits.max_records_per_owner)


def _checked_request(query: SearchQuery, ttl: int, deadline_ms: int) -> SearchRequest:
    """The wire request of a user's query; raises `ProtocolError` if it cannot travel."""
    request = request_of(query, ttl=ttl, deadline_ms=deadline_ms)
    encode_message(request)  # size and schema limits
    return request


def _spec_items(raw: bytes, asked: set[str]) -> tuple[dict[str, bytes], int]:
    """A peer's `SpecResponse`: the items asked for, and how many others it carried
    (counted as ``specs_refused``)."""
    return asked_items(decode_message(raw, SpecResponse), asked)


def _decode_relayed(raw: bytes) -> SearchResponse:
    response: SearchResponse = decode_message(raw, SearchResponse)
    kept = tuple(h for h in response.hits if signed_by_owner(h))
    if len(kept) == len(response.hits):
        return response
    ids = {h.learnware_id for h in kept}
    mixture = response.mixture if response.mixture is not None and \
        set(response.mixture.ids) <= ids else None
    return replace(response, hits=kept, mixture=mixture)


def _decode_answer(raw: bytes) -> tuple[SearchResponse, list[Checked | Verdict]]:
    response: SearchResponse = decode_message(raw, SearchResponse)
    return response, check_hits(response.hits)


def _held(service: NodeService, hits: Sequence[SearchHit]) -> tuple[SearchHit, ...]:
    """The hits whose owner's offer is in our catalog now (admitted, or held already):
    refused, withdrawn and stale copies are dropped."""
    catalog = service.catalog
    return tuple(h for h in hits
                 if any(loc.owner == h.owner for loc in catalog.locations(h.learnware_id)))


ENGINE_HINT = "Build them with InputSpec.from_columns(names, descriptions)"
TOML_HINT = ("the asker's user describes them in the semantic TOML given to the search "
             "(an [input.columns] table: column name = \"description\")")


def in_operator_words(message: str) -> str:
    """A search refusal as a node's operator reads it in the log: how the user gives
    what is missing (the engine's hint names its Python API, for library users)."""
    return message.replace(ENGINE_HINT, TOML_HINT[0].upper() + TOML_HINT[1:])


def _place(service: NodeService, hits: Sequence[SearchHit],
           requirement: EngineRequirement, estimated: Mapping[str, float | None]
           ) -> list[Hit]:
    """Where each merged hit lives, from the catalog (peers' hits were admitted to it).

    A hit whose column mapping does not start from the requirement's columns is
    dropped, and so is a hit over other columns that comes without a mapping (from
    a 1.0 peer): neither can be reused as it stands. A hit over the requirement's
    column names in another order needs no mapping (reuse reorders by name).
    """
    semantic = requirement.semantic
    user = semantic.input if semantic is not None else None
    user_columns = tuple(f.name for f in user.features) if user is not None else ()
    out = []
    for h in hits:
        if h.mapping is not None:
            if h.mapping.user_columns != user_columns:
                continue
        elif user is not None and user.features:
            theirs = service.catalog.input_of(h.learnware_id)
            if theirs is not None and theirs.features and not same_columns(user, theirs) \
                    and order_by_name(user, [theirs]) is None:  # not by name either
                continue
        # our own sketch estimate, unless a peer's exact figure won the merge
        approximate = h.learnware_id in estimated and h.mmd2 == estimated[h.learnware_id]
        hit = service.hit_for(h.learnware_id, h.score, h.mmd2, h.mapping,
                              approximate=approximate)
        if hit is not None:
            out.append(hit)
    return out


def _keep_peers(store: Store, rows: Sequence[PeerRow]) -> None:
    """Upsert peers; a row without addresses keeps the addresses stored before."""
    known = {r.node_id: r for r in store.list_peers()} if any(
        not r.multiaddrs for r in rows) else {}
    for row in rows:
        old = known.get(row.node_id)
        if old is not None and not row.multiaddrs:
            row = replace(row, multiaddrs=old.multiaddrs, first_seen=old.first_seen)
        store.upsert_peer(row)


def _peer_details(store: Store, node_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(organization, HTTP URL) of peers, from their latest announcement we hold."""
    out = {}
    for node_id in node_ids:
        page = store.list_announcements(RecordFilter(owner=node_id), 1)
        if not page.rows:
            continue
        row = page.rows[0]
        try:
            url = offer_of(row).package_urls[0].split("/v1/", 1)[0]
        except ProtocolError:
            url = ""
        out[node_id] = (row.organization, url)
    return out
