"""The `PeerNetwork` interface: what federation needs from the peer layer.

Federation (spec gossip, anti-entropy, routed search) talks only to this interface,
so it runs unchanged on real libp2p hosts (`Libp2pNetwork`) and on the in-memory
hub of the unit tests (`InProcessNetwork`). One conformance suite
(`lwnode.federation.p2p.conformance`) checks both against the same contract.

Peers are named by their **node id** (``lwn1...``, `protocol.node_id`): the
libp2p key of a node is its Ed25519 node key, so the node id of a peer follows from
its authenticated libp2p peer id and every id that crosses the interface (gossip
origin, request peer, `visited`/`missed` of a search) is in one namespace.

All methods are coroutines of the caller's asyncio loop. Every remote call has a
deadline; every failure of one is a `PeerError`.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from protocol import limits
from protocol.errors import ProtocolError
from protocol.versions import check_protocol_id

from .errors import FrameTooLarge, NetworkClosed, PeerError

_N = TypeVar("_N", bound="PeerNetwork")

RequestHandler = Callable[[str, bytes], Awaitable[bytes]]
"""``await handler(peer_node_id, request_bytes) -> response_bytes``.

The peer's node id is authenticated by the transport (Noise) and passed so that a
handler can log, rate-limit or check who asks. A handler that raises makes the
layer reset the stream (the asker gets a `PeerError`); to send an error the
protocol defines (`ErrorReply`), return its bytes.
"""

COUNTER_NAMES = ("gossip_published", "gossip_received", "gossip_dropped", "requests_sent",
                 "requests_failed", "requests_served", "requests_refused", "dials",
                 "dials_failed", "peer_faults", "peers_banned", "streams_silent",
                 "requests_abandoned", "restarts", "requests_direct")


@dataclass(frozen=True)
class P2PSettings:
    """Every knob of the peer layer, with the values measured to work (docs/p2p.md).

    Parameters
    ----------
    request_timeout
        Seconds a remote call waits when the caller gives no timeout.
    handler_timeout
        Seconds a served request may take (reading it, the handler, writing the
        answer) before the stream is reset: a slow or silent asker cannot hold a
        handler forever.
    dial_timeout
        Seconds one dial may take (TCP + Noise + muxer).
    max_frame_bytes
        Cap on one request or response frame, both ways (`protocol.framing`).
    max_gossip_bytes
        Cap on one gossip message; libp2p drops messages over 1 MiB silently, the
        announce topic carries one signed envelope (`MAX_ENVELOPE_BYTES`).
    gossip_queue_size
        Messages buffered per subscription on the asyncio side; beyond it new ones
        are dropped and counted (gossip is lossy anyway: anti-entropy catches up).
    publish_rate, publish_burst
        Own pacing of publications (messages per second, burst): libp2p's outbound
        queues hold 32 entries and overflow silently.
    redial_min, redial_max
        Keep-connected back-off between re-dials of a lost peer (seconds).
    redial_slow, redial_slow_after
        A peer unreachable for `redial_slow_after` seconds is re-dialled every
        `redial_slow` seconds (a dead bootstrap peer costs little, logs little).
    keepalive_interval
        Seconds between passes of the keep-connected loop.
    max_inbound_requests
        Served requests in flight at once, all peers together; more are reset at
        once (busy).
    max_inbound_per_peer
        Served requests in flight at once from one peer: one peer holding streams
        open cannot take the slots of the others (issue 14, finding 3).
    max_outbound_per_peer
        Own requests in flight at once to one peer; more wait (within their
        deadline) for a slot. Kept below peers' `max_inbound_per_peer`, so that a
        node with many users of its own queues its routed searches instead of
        having the excess reset by the peer (measured: 50 concurrent searches
        routed to a peer serving 24 per peer got 24 answers).
    first_frame_timeout
        Seconds an inbound stream has to deliver its whole request frame; a stream
        still silent then is reset and counted as a fault of its peer.
    max_peer_faults, fault_window, peer_ban_seconds
        A peer with `max_peer_faults` faults (malformed frames, silent streams)
        within `fault_window` seconds is disconnected and banned (not accepted,
        not re-dialled) for `peer_ban_seconds`.
    """

    request_timeout: float = 10.0
    handler_timeout: float = 30.0
    dial_timeout: float = 3.0
    max_frame_bytes: int = limits.MAX_MESSAGE_BYTES
    max_gossip_bytes: int = limits.MAX_ENVELOPE_BYTES
    gossip_queue_size: int = 10_000
    publish_rate: float = 100.0
    publish_burst: int = 16
    redial_min: float = 0.25
    redial_max: float = 2.0
    redial_slow: float = 30.0
    redial_slow_after: float = 120.0
    keepalive_interval: float = 0.25
    max_inbound_requests: int = 64
    max_inbound_per_peer: int = 24
    max_outbound_per_peer: int = 16
    first_frame_timeout: float = 5.0
    max_peer_faults: int = 3
    fault_window: float = 60.0
    peer_ban_seconds: float = 300.0

    def __post_init__(self) -> None:
        for name in ("request_timeout", "handler_timeout", "dial_timeout", "publish_rate",
                     "redial_min", "redial_max", "keepalive_interval", "first_frame_timeout",
                     "redial_slow", "redial_slow_after",
                     "fault_window", "peer_ban_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"P2PSettings.{name}: expected a positive finite number, "
                                 f"got {value!r}")
        if self.redial_max < self.redial_min:
            raise ValueError(f"P2PSettings.redial_max: {self.redial_max} is below redial_min "
                             f"{self.redial_min}")
        for name, hi in (("max_frame_bytes", 1 << 30),
                         ("max_gossip_bytes", limits.GOSSIP_CAP_BYTES - 4096),
                         ("gossip_queue_size", 1 << 24), ("publish_burst", 1 << 16),
                         ("max_inbound_requests", 1 << 16),
                         ("max_inbound_per_peer", 1 << 16), ("max_outbound_per_peer", 1 << 16),
                         ("max_peer_faults", 1 << 16)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
                raise ValueError(f"P2PSettings.{name}: expected an integer in 1..{hi}, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class PeerStatus:
    """What this node knows of one peer.

    `last_seen` is the wall-clock time (seconds since the epoch) of the last
    evidence the peer was alive: connection, message or answer from it. `wanted`
    says the keep-connected loop re-dials it when the connection drops.
    """

    node_id: str
    connected: bool
    last_seen: float | None
    addrs: tuple[str, ...] = ()
    wanted: bool = False


@dataclass(frozen=True)
class GossipMessage:
    """One message received on a topic; `origin` is the publisher's node id."""

    topic: str
    data: bytes
    origin: str
    received_at: float = field(default_factory=time.time)


def check_timeout(timeout: float | None, default: float) -> float:
    """The deadline of a remote call: `timeout`, or the default; always finite and > 0."""
    value = default if timeout is None else timeout
    if not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"timeout: expected a positive finite number of seconds, got {value!r}")
    return float(value)


def check_id(value: str, what: str) -> str:
    """A protocol id or topic this node speaks (``/lwdock/<name>/<major>.<minor>.<patch>``)."""
    try:
        check_protocol_id(value)
    except ProtocolError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return value


class GossipInbox:
    """The asyncio end of one subscription: a bounded queue that drops and counts.

    Messages are put with `put_nowait` from the network's own side as soon as they
    arrive (libp2p's subscription channel holds 32 and must never back up). A full
    queue drops the newest message: gossip is best-effort and anti-entropy repairs.
    """

    def __init__(self, topic: str, maxsize: int, counters: dict[str, int]) -> None:
        self.topic = topic
        self.queue: asyncio.Queue[GossipMessage] = asyncio.Queue(maxsize)
        self._counters = counters

    def deliver(self, message: GossipMessage) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self._counters["gossip_dropped"] += 1
        else:
            self._counters["gossip_received"] += 1


class PeerNetwork(abc.ABC):
    """A node's view of the peer-to-peer network (an async context manager).

    ``async with network:`` starts it (listening, dialing its bootstrap peers) and
    stops it (every background task cancelled, every connection closed).
    """

    def __init__(self, settings: P2PSettings | None = None) -> None:
        self.settings = settings or P2PSettings()
        self._handlers: dict[str, RequestHandler] = {}
        self._inboxes: dict[str, GossipInbox] = {}
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

    # -- lifecycle ----------------------------------------------------------------------
    @abc.abstractmethod
    async def start(self) -> None:
        """Listen, subscribe, dial the bootstrap peers; return when ready."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Cancel every background task and close every connection (idempotent)."""

    @property
    def down(self) -> str | None:
        """Why the started layer stopped working on its own (e.g. its thread ended with
        an error), or None while it works or after a clean `stop`."""
        return None

    async def restart(self) -> None:
        """Bring a layer that is `down` back: same identity, handlers, subscriptions and
        wanted peers, listening where it listened. Raises `NetworkClosed` after `stop`."""
        raise NetworkClosed(f"{type(self).__name__} cannot restart")

    def penalize(self, peer: str, amount: float) -> None:
        """Lower `peer`'s gossip score by `amount` (records of it were refused); a peer
        whose score falls below the layer's gate is no longer heard on gossip until
        the penalty decays. A no-op where the transport keeps no score."""
        return None

    async def __aenter__(self: _N) -> _N:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- identity -----------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def node_id(self) -> str:
        """This node's id (``lwn1...``)."""

    @property
    @abc.abstractmethod
    def listen_addrs(self) -> tuple[str, ...]:
        """Addresses peers dial to reach this node (real ports, with the peer id)."""

    # -- peers --------------------------------------------------------------------------
    @abc.abstractmethod
    async def connect(self, addr: str, *, keep: bool = True,
                      timeout: float | None = None) -> str:
        """Dial `addr` now and return the peer's node id.

        With `keep`, the keep-connected loop re-dials the peer whenever the
        connection drops (also when this first dial fails). Raises `PeerError`.
        """

    @abc.abstractmethod
    async def peers(self) -> list[PeerStatus]:
        """Every peer known to this node, connected or not, sorted by node id."""

    # -- gossip -------------------------------------------------------------------------
    async def subscribe(self, topic: str) -> asyncio.Queue[GossipMessage]:
        """Receive the messages of `topic` (others' publications, not our own)."""
        check_id(topic, "topic")
        inbox = self._inboxes.get(topic)
        if inbox is None:
            inbox = GossipInbox(topic, self.settings.gossip_queue_size, self._counters)
            self._inboxes[topic] = inbox
            await self._subscribe(inbox)
        return inbox.queue

    async def publish(self, topic: str, data: bytes) -> None:
        """Send `data` to every subscriber of `topic` (best-effort, paced)."""
        check_id(topic, "topic")
        if not isinstance(data, bytes) or not data:
            raise ValueError("publish: expected non-empty bytes")
        if len(data) > self.settings.max_gossip_bytes:
            raise FrameTooLarge(f"publish: {len(data)} bytes is above the gossip cap of "
                                f"{self.settings.max_gossip_bytes}")
        await self._publish(topic, data)
        self._counters["gossip_published"] += 1

    @abc.abstractmethod
    async def _subscribe(self, inbox: GossipInbox) -> None:
        """Start feeding `inbox` from the network."""

    @abc.abstractmethod
    async def _publish(self, topic: str, data: bytes) -> None:
        """Publish validated bytes."""

    # -- request / response ---------------------------------------------------------------
    def set_handler(self, protocol_id: str, handler: RequestHandler) -> None:
        """Serve `protocol_id` with `handler` (before or after start)."""
        check_id(protocol_id, "protocol_id")
        self._handlers[protocol_id] = handler
        self._handler_added(protocol_id)

    def _handler_added(self, protocol_id: str) -> None:  # noqa: B027 - optional hook
        """Hook for implementations that must register a protocol with the transport."""

    async def request(self, peer: str, protocol_id: str, data: bytes, *,
                      timeout: float | None = None) -> bytes:
        """Send one request frame to `peer` on `protocol_id` and return the response.

        Raises `FrameTooLarge` (request over our cap: nothing is sent), `PeerTimeout`
        (no full answer within `timeout`), `ProtocolNotSupported`, `PeerUnreachable`
        or another `PeerError`.
        """
        deadline = self._outgoing(protocol_id, data, timeout)
        try:
            return await self._request(peer, protocol_id, data, deadline)
        except PeerError:
            self._counters["requests_failed"] += 1
            raise

    async def request_direct(self, peer: str, protocol_id: str, data: bytes, *,
                             addrs: tuple[str, ...] = (), timeout: float | None = None
                             ) -> bytes:
        """`request` to a peer that need not be connected: over the connection if there
        is one, else over a short-lived one dialled for this request alone (at `addrs`,
        or where the layer already knows the peer listens) and closed after the answer.

        A short-lived connection is not kept, not re-dialled, not a gossip link and not
        listed by `peers` (nothing routes a search over it or syncs with it). The dial
        counts against `timeout`. Same errors as `request`; `PeerUnreachable` also when
        no address of the peer is known.
        """
        deadline = self._outgoing(protocol_id, data, timeout)
        self._counters["requests_direct"] += 1
        try:
            return await self._request_direct(peer, protocol_id, data, deadline, tuple(addrs))
        except PeerError:
            self._counters["requests_failed"] += 1
            raise

    def _outgoing(self, protocol_id: str, data: bytes, timeout: float | None) -> float:
        """Check a request before it is sent and count it; its deadline in seconds."""
        check_id(protocol_id, "protocol_id")
        deadline = check_timeout(timeout, self.settings.request_timeout)
        if not isinstance(data, bytes) or not 1 <= len(data) <= self.settings.max_frame_bytes:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise FrameTooLarge(f"request: {size} bytes, expected 1.."
                                f"{self.settings.max_frame_bytes}")
        self._counters["requests_sent"] += 1
        return deadline

    @abc.abstractmethod
    async def _request(self, peer: str, protocol_id: str, data: bytes,
                       timeout: float) -> bytes:
        """Do one validated request within `timeout` seconds."""

    async def _request_direct(self, peer: str, protocol_id: str, data: bytes,
                              timeout: float, addrs: tuple[str, ...]) -> bytes:
        """Do one validated `request_direct` (default: an ordinary request, for a layer
        without short-lived connections)."""
        return await self._request(peer, protocol_id, data, timeout)

    # -- observability ------------------------------------------------------------------
    @property
    def counters(self) -> dict[str, int]:
        """A snapshot of the layer's counters (for ``/v1/health``)."""
        return dict(self._counters)

    async def wait_connected(self, peer: str, timeout: float) -> None:
        """Wait until `peer` is connected (polling `peers`), or raise `PeerTimeout`."""
        await wait_until(lambda: _is_connected(self, peer),
                         f"{peer} to connect to {self.node_id}", timeout)


async def _is_connected(network: PeerNetwork, peer: str) -> bool:
    return any(p.node_id == peer and p.connected for p in await network.peers())


async def wait_until(predicate: Callable[[], Awaitable[bool] | bool], what: str,
                     timeout: float, *, interval: float = 0.02) -> float:
    """Poll `predicate` (sync or async) until it holds; the seconds it took.

    The one polling helper of the node, its demo, tests and benchmarks: wait on the
    condition, never on the clock. After `timeout` it raises `PeerTimeout` (a
    `TimeoutError`) naming `what` was awaited.
    """
    from .errors import PeerTimeout

    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return loop.time() - began
        if loop.time() - began >= timeout:
            raise PeerTimeout(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))
