"""`InProcessNetwork`: the peer layer on an in-memory hub, for fast unit tests.

It keeps the contract of `Libp2pNetwork` (same conformance suite) without sockets:
links are symmetric and explicit (``connect``), gossip is flooded along links to
nodes subscribed to the topic with duplicate suppression (so a message reaches C
through B, as in a GossipSub mesh), requests are framed and capped on both ends as
on the wire, and the hub injects faults: latency per node, gossip loss, and
killed peers (links cut, in-flight requests failed at once). It also counts the
traffic it carries (`HubTraffic`), for the network simulation (benchmarks/network_sim.py).

An address is ``/memory/<node id>``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from protocol import framing
from protocol.errors import ProtocolError
from protocol.node_id import check_node_id

from .base import GossipInbox, GossipMessage, P2PSettings, PeerNetwork, PeerStatus, check_timeout
from .errors import (
    FrameTooLarge,
    NetworkClosed,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProtocolNotSupported,
)
from .schedule import Backoff

T = TypeVar("T")

ADDR_PREFIX = "/memory/"
SEEN_CAPACITY = 100_000


def memory_addr(node_id: str) -> str:
    """The in-process address of a node."""
    return ADDR_PREFIX + node_id


def parse_memory_addr(addr: str) -> str:
    """The node id of an in-process address; `ValueError` for anything else."""
    if not isinstance(addr, str) or not addr.startswith(ADDR_PREFIX):
        raise ValueError(f"address: expected {ADDR_PREFIX}<node id>, got {addr!r:.80}")
    try:
        return check_node_id(addr[len(ADDR_PREFIX):], "address")
    except ProtocolError as exc:
        raise ValueError(str(exc)) from None


@dataclass(eq=False)
class _Link:
    """A live connection between two nodes; `closed` is set when either side dies."""

    ends: frozenset[str]
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class HubTraffic:
    """Messages and payload bytes the hub carried, per channel.

    A channel is ``gossip <topic>`` (one count per copy sent over one link, lost
    copies included: they were sent), ``request <protocol id>`` and ``response
    <protocol id>`` (one count per request or response that crossed a link).
    """

    messages: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    def count(self, channel: str, size: int) -> None:
        self.messages[channel] += 1
        self.bytes[channel] += size

    def copy(self) -> HubTraffic:
        return HubTraffic(Counter(self.messages), Counter(self.bytes))

    def since(self, earlier: HubTraffic) -> HubTraffic:
        """The traffic carried after the snapshot `earlier` (a `copy` of this one)."""
        return HubTraffic(self.messages - earlier.messages, self.bytes - earlier.bytes)


class InProcessHub:
    """The shared medium of a set of `InProcessNetwork`s, with injectable faults.

    Parameters
    ----------
    delay
        One-way latency (seconds) of every message.
    drop
        Probability that one gossip delivery over one link is lost (requests ride a
        reliable stream, as over TCP, and are never dropped).
    seed
        Seed of the loss draws, for reproducible tests.
    process, process_per_byte
        A modelled cost of taking in one message at its receiver: ``process`` seconds
        plus ``process_per_byte`` per payload byte. Each node takes its messages in one
        at a time (a queue per node, in the order they were sent), so a message waits
        for those before it. Off (0) by default: on the wall clock the nodes' real CPU
        work is the cost; on virtual time (benchmarks/virtual_time.py) CPU takes no
        time and this is what stands for it.
    dial_round_trips
        Round trips a short-lived connection (`InProcessNetwork.request_direct` to an
        unconnected peer) takes before its request leaves: TCP, then Noise (whose three
        handshake messages and the protocol negotiation take about one more).
    """

    def __init__(self, *, delay: float = 0.0, drop: float = 0.0, seed: int = 0,
                 process: float = 0.0, process_per_byte: float = 0.0,
                 dial_round_trips: int = 2) -> None:
        self.delay = delay
        self.dial_round_trips = dial_round_trips
        self.drop = drop
        self.process = process
        self.process_per_byte = process_per_byte
        self._rng = random.Random(seed)
        self._nodes: dict[str, InProcessNetwork] = {}
        self._links: dict[frozenset[str], _Link] = {}
        self._short_lived: set[_Link] = set()
        self._node_delay: dict[str, float] = {}
        self._node_drop: dict[str, float] = {}
        self._busy_until: dict[str, float] = {}
        self.traffic = HubTraffic()

    # -- faults -------------------------------------------------------------------------
    def set_delay(self, node_id: str, seconds: float) -> None:
        """Extra one-way latency on every message to or from `node_id`."""
        self._node_delay[node_id] = seconds

    def set_drop(self, node_id: str, probability: float) -> None:
        """Loss probability of gossip deliveries to `node_id` (on top of `drop`)."""
        self._node_drop[node_id] = probability

    def kill(self, node_id: str) -> None:
        """Kill a node abruptly: its links close, its calls and handlers fail at once."""
        network = self._nodes.pop(node_id, None)
        for key in [k for k in self._links if node_id in k]:
            self._links.pop(key).closed.set()
        for link in [k for k in self._short_lived if node_id in k.ends]:
            self._short_lived.discard(link)
            link.closed.set()
        if network is not None:
            network._die()

    # -- used by the networks -----------------------------------------------------------
    def latency(self, a: str, b: str) -> float:
        return self.delay + self._node_delay.get(a, 0.0) + self._node_delay.get(b, 0.0)

    def taken_in(self, node_id: str, arrives: float, size: int) -> float:
        """The loop time at which `node_id` has taken in a message of `size` bytes that
        arrives at `arrives` (its processing queue: see ``process``); `arrives` itself
        when processing is not modelled."""
        cost = self.process + self.process_per_byte * size
        if cost <= 0:
            return arrives
        done = max(arrives, self._busy_until.get(node_id, 0.0)) + cost
        self._busy_until[node_id] = done
        return done

    def lost(self, to: str) -> bool:
        p = self.drop + self._node_drop.get(to, 0.0)
        return p > 0 and self._rng.random() < p

    def join(self, network: InProcessNetwork) -> None:
        if network.node_id in self._nodes:
            raise ValueError(f"{network.node_id} is already running on this hub")
        self._nodes[network.node_id] = network

    def leave(self, network: InProcessNetwork) -> None:
        if self._nodes.get(network.node_id) is network:
            self.kill(network.node_id)

    def link(self, a: str, b: str) -> _Link:
        """Connect two live nodes (idempotent); `PeerUnreachable` if `b` is not up."""
        if b not in self._nodes or a not in self._nodes or a == b:
            raise PeerUnreachable(f"{b}: no node listening at {memory_addr(b)}")
        key = frozenset((a, b))
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _Link(key)
            for end in key:
                self._nodes[end]._touch((set(key) - {end}).pop())
        return link

    def short_lived(self, a: str, b: str) -> _Link:
        """A connection for one request (`release` it after): not a link — no gossip
        flows over it and neither end lists the other as a peer — closed if an end dies."""
        if b not in self._nodes or a not in self._nodes or a == b:
            raise PeerUnreachable(f"{b}: no node listening at {memory_addr(b)}")
        link = _Link(frozenset((a, b)))
        self._short_lived.add(link)
        return link

    def release(self, link: _Link) -> None:
        self._short_lived.discard(link)

    def existing_link(self, a: str, b: str) -> _Link | None:
        return self._links.get(frozenset((a, b)))

    def neighbours(self, node_id: str) -> list[InProcessNetwork]:
        return [self._nodes[end] for key in self._links if node_id in key
                for end in key if end != node_id and end in self._nodes]

    def node(self, node_id: str) -> InProcessNetwork | None:
        return self._nodes.get(node_id)


class InProcessNetwork(PeerNetwork):
    """A `PeerNetwork` on an `InProcessHub` (same loop, no sockets)."""

    def __init__(self, hub: InProcessHub, node_id: str, *, bootstrap: tuple[str, ...] = (),
                 settings: P2PSettings | None = None) -> None:
        super().__init__(settings)
        self._hub = hub
        self._node_id = check_node_id(node_id, "node_id")
        self._bootstrap = tuple(bootstrap)
        self._state = "new"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._wanted: dict[str, Backoff] = {}
        self._last_seen: dict[str, float] = {}
        self._seen: set[tuple[str, int]] = set()
        self._seen_order: deque[tuple[str, int]] = deque()
        self._seqno = 0

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def listen_addrs(self) -> tuple[str, ...]:
        return (memory_addr(self._node_id),)

    async def start(self) -> None:
        if self._state != "new":
            raise NetworkClosed(f"{self._node_id}: a network starts once")
        self._hub.join(self)
        self._state = "running"
        for addr in self._bootstrap:
            self._want(parse_memory_addr(addr))
        self._spawn(self._keep_connected())

    async def stop(self) -> None:
        if self._state == "running":
            self._hub.leave(self)
        self._die()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _die(self) -> None:
        """Stop at once (used by `stop` and by the hub's `kill`)."""
        self._state = "stopped"
        for task in self._tasks:
            task.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _check_running(self) -> None:
        if self._state != "running":
            raise NetworkClosed(f"{self._node_id}: the network is {self._state}")

    def _touch(self, peer: str) -> None:
        self._last_seen[peer] = time.time()

    # -- peers --------------------------------------------------------------------------
    async def connect(self, addr: str, *, keep: bool = True,
                      timeout: float | None = None) -> str:
        self._check_running()
        peer = parse_memory_addr(addr)
        check_timeout(timeout, self.settings.dial_timeout)
        if keep:
            self._want(peer)
        self._counters["dials"] += 1
        try:
            self._hub.link(self._node_id, peer)
        except PeerError:
            self._counters["dials_failed"] += 1
            raise
        return peer

    def _want(self, peer: str) -> None:
        if peer != self._node_id:
            self._wanted.setdefault(peer, Backoff(self.settings.redial_min,
                                                  self.settings.redial_max))

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for peer, backoff in self._wanted.items():
                if self._hub.existing_link(self._node_id, peer) is not None:
                    backoff.succeeded()
                elif backoff.due(loop.time()):
                    try:
                        self._hub.link(self._node_id, peer)
                    except PeerError:
                        backoff.failed(loop.time())
                    else:
                        backoff.succeeded()
            await asyncio.sleep(self.settings.keepalive_interval)

    async def peers(self) -> list[PeerStatus]:
        self._check_running()
        known = set(self._last_seen) | set(self._wanted)
        return [PeerStatus(node_id=p,
                           connected=self._hub.existing_link(self._node_id, p) is not None,
                           last_seen=self._last_seen.get(p), addrs=(memory_addr(p),),
                           wanted=p in self._wanted)
                for p in sorted(known)]

    # -- gossip -------------------------------------------------------------------------
    async def _subscribe(self, inbox: GossipInbox) -> None:
        if self._state == "stopped":  # before start is fine: delivery starts with it
            self._check_running()

    async def _publish(self, topic: str, data: bytes) -> None:
        self._check_running()
        self._seqno += 1
        msg_id = (self._node_id, self._seqno)
        self._mark_seen(msg_id)
        self._forward(msg_id, topic, data, exclude=())

    def _forward(self, msg_id: tuple[str, int], topic: str, data: bytes,
                 exclude: tuple[str, ...]) -> None:
        loop = asyncio.get_running_loop()
        for neighbour in self._hub.neighbours(self._node_id):
            if neighbour.node_id in exclude:
                continue
            self._hub.traffic.count(f"gossip {topic}", len(data))
            if self._hub.lost(neighbour.node_id):
                continue
            arrives = loop.time() + self._hub.latency(self._node_id, neighbour.node_id)
            timer = loop.call_at(self._hub.taken_in(neighbour.node_id, arrives, len(data)),
                                 neighbour._receive_gossip, msg_id, topic, data,
                                 self._node_id)
            self._timers.add(timer)
            if len(self._timers) > 4096:  # forget fired timers now and then
                self._timers = {t for t in self._timers if not t.cancelled()
                                and t.when() > loop.time()}

    def _receive_gossip(self, msg_id: tuple[str, int], topic: str, data: bytes,
                        sender: str) -> None:
        if self._state != "running" or msg_id in self._seen:
            return
        if self._hub.existing_link(self._node_id, sender) is None:
            return  # the link went down while the message was in flight
        self._mark_seen(msg_id)
        self._touch(sender)
        inbox = self._inboxes.get(topic)
        if inbox is None:
            return  # like GossipSub: only subscribers of a topic relay it
        origin = msg_id[0]
        if origin != self._node_id and len(data) <= self.settings.max_gossip_bytes:
            inbox.deliver(GossipMessage(topic, data, origin))
        self._forward(msg_id, topic, data, exclude=(sender, origin))

    def _mark_seen(self, msg_id: tuple[str, int]) -> None:
        self._seen.add(msg_id)
        self._seen_order.append(msg_id)
        if len(self._seen_order) > SEEN_CAPACITY:
            self._seen.discard(self._seen_order.popleft())

    # -- request / response ---------------------------------------------------------------
    async def _request(self, peer: str, protocol_id: str, data: bytes,
                       timeout: float) -> bytes:
        self._check_running()
        link = self._hub.existing_link(self._node_id, peer)
        target = self._hub.node(peer)
        if link is None or target is None:
            try:  # like libp2p, a request to a known but unconnected peer dials it
                link = self._hub.link(self._node_id, peer)
            except PeerUnreachable:
                raise PeerUnreachable(f"{peer}: not connected and not reachable") from None
            target = self._hub.node(peer)
            assert target is not None
        loop = asyncio.get_running_loop()
        return await self._exchange(link, target, protocol_id, data, loop.time() + timeout)

    async def _request_direct(self, peer: str, protocol_id: str, data: bytes,
                              timeout: float, addrs: tuple[str, ...]) -> bytes:
        self._check_running()
        if self._hub.existing_link(self._node_id, peer) is not None:
            return await self._request(peer, protocol_id, data, timeout)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        self._counters["dials"] += 1
        target = self._hub.node(peer)
        if target is None or peer == self._node_id:
            # nothing listens there: the dial is refused after one round trip
            await asyncio.sleep(min(timeout, 2 * self._hub.latency(self._node_id, peer)))
            self._counters["dials_failed"] += 1
            raise PeerUnreachable(f"{peer}: no node listening at {memory_addr(peer)}")
        self._hub.traffic.count(f"dial {protocol_id}", 0)
        link = self._hub.short_lived(self._node_id, peer)
        try:
            return await self._exchange(link, target, protocol_id, data, end,
                                        dial=self._hub.dial_round_trips)
        finally:
            self._hub.release(link)

    async def _exchange(self, link: _Link, target: InProcessNetwork, protocol_id: str,
                        data: bytes, end: float, *, dial: int = 0) -> bytes:
        """One request and its response over `link`, all within loop time `end`; after
        `dial` round trips of a short-lived connection's handshake when `dial` > 0."""
        peer = target.node_id
        closed = asyncio.ensure_future(link.closed.wait())
        task: asyncio.Future[bytes] | None = None
        try:
            for _ in range(dial):
                await self._within(closed, self._travel(self._node_id, peer, 0), end, peer)
                await self._within(closed, self._travel(peer, self._node_id, 0), end, peer)
            self._hub.traffic.count(f"request {protocol_id}", len(data))
            await self._within(closed, self._travel(self._node_id, peer, len(data)), end,
                               peer)
            task = target._serve(self._node_id, protocol_id, data, known=not dial)
            response = await self._within(closed, asyncio.shield(task), end, peer)
            self._hub.traffic.count(f"response {protocol_id}", len(response))
            await self._within(closed, self._travel(peer, self._node_id, len(response)),
                               end, peer)
        finally:
            closed.cancel()
            if task is not None and not task.done():
                task.cancel()
        try:
            framing.encode_frame(response, self.settings.max_frame_bytes)
        except ProtocolError:
            raise FrameTooLarge(f"{peer}: response of {len(response)} bytes is above the "
                                f"cap of {self.settings.max_frame_bytes}") from None
        if not dial:
            self._touch(peer)
        return response

    async def _travel(self, sender: str, receiver: str, size: int) -> None:
        """A message's way over one link: the latency, then the receiver's queue."""
        loop = asyncio.get_running_loop()
        arrives = loop.time() + self._hub.latency(sender, receiver)
        await asyncio.sleep(self._hub.taken_in(receiver, arrives, size) - loop.time())

    async def _within(self, closed: asyncio.Future[Any], step: Awaitable[T], end: float,
                      peer: str) -> T:
        """Await `step` unless the link closes first or the deadline `end` passes."""
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(step)
        try:
            done, _ = await asyncio.wait({work, closed}, timeout=max(0.0, end - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():
                work.cancel()
        if closed in done or (work in done and work.cancelled()):
            raise PeerUnreachable(f"{peer}: connection closed during the request")
        if work in done:
            return work.result()
        raise PeerTimeout(f"{peer}: no answer within the deadline")

    def _serve(self, peer: str, protocol_id: str, data: bytes, *, known: bool = True
               ) -> asyncio.Future[bytes]:
        """Start serving one request; the future fails with `PeerError` like a reset stream.
        `known`: the asker is a peer (not one over a short-lived connection)."""
        handler = self._handlers.get(protocol_id)
        if self._state != "running":
            raise PeerUnreachable(f"{self._node_id}: not running")
        if handler is None:
            raise ProtocolNotSupported(f"{self._node_id} does not serve {protocol_id}")
        if len(data) > self.settings.max_frame_bytes:
            self._counters["requests_refused"] += 1
            raise PeerError(f"{self._node_id} reset the stream: request of {len(data)} bytes "
                            f"is above its cap")
        if known:
            self._touch(peer)

        async def serve() -> bytes:
            try:
                response = await asyncio.wait_for(handler(peer, data),
                                                  self.settings.handler_timeout)
                framing.encode_frame(response, self.settings.max_frame_bytes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._counters["requests_refused"] += 1
                raise PeerError(f"{self._node_id} reset the stream ({type(exc).__name__})"
                                ) from None
            self._counters["requests_served"] += 1
            return bytes(response)

        return self._spawn(serve())

