"""The contract every `PeerNetwork` implementation passes (one suite, two transports).

Like scikit-learn's estimator checks: each ``check_*`` is an async function that
takes a `Harness` (which starts, kills and restarts named nodes of one
implementation), drives real nodes and raises `AssertionError` on a breach. The
unit tests run `CHECKS` on `InProcessNetwork`, the integration tests on
`Libp2pNetwork` hosts on 127.0.0.1. Checks wait on events and polls with
timeouts, never on bare sleeps, and take well under a second each when the
implementation is right.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable

from .base import GossipMessage, P2PSettings, PeerNetwork, wait_until
from .errors import FrameTooLarge, NetworkClosed, PeerError, PeerTimeout, ProtocolNotSupported

TOPIC = "/lwdock/contract-topic/1.0.0"
ECHO = "/lwdock/contract-echo/1.0.0"
SILENT = "/lwdock/contract-silent/1.0.0"
BIG = "/lwdock/contract-big/1.0.0"
MISSING = "/lwdock/contract-missing/1.0.0"
SMALL_CAP = 64 * 1024
WAIT = 5.0
"""Seconds any check waits for something that should take milliseconds."""
FAST = 2.0
"""Seconds within which a failure counts as 'fast' (deadlines in the checks are 5+ s)."""


class Harness(abc.ABC):
    """Starts nodes of one implementation by name; a restart keeps identity and address."""

    def __init__(self) -> None:
        self.nodes: dict[str, PeerNetwork] = {}

    @abc.abstractmethod
    async def start(self, name: str, settings: P2PSettings | None = None) -> PeerNetwork:
        """Start node `name` with `prepare` applied, and record it in `nodes`."""

    async def kill(self, name: str) -> None:
        """Kill node `name` abruptly (no goodbye to its peers); default: stop it."""
        await self.nodes.pop(name).stop()

    async def aclose(self) -> None:
        """Stop every node still running."""
        for network in self.nodes.values():
            await network.stop()


def _expect(condition: bool, message: str) -> None:
    if not condition:  # not `assert`: the checks must hold under python -O too
        raise AssertionError(message)


async def echo(peer: str, data: bytes) -> bytes:
    """Contract handler: the asker's node id, a separator and the request."""
    return peer.encode() + b"|" + data


async def silent(peer: str, data: bytes) -> bytes:
    """Contract handler that never answers (a hung peer)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def big(peer: str, data: bytes) -> bytes:
    """Contract handler whose answer is as long as the number the request names."""
    return b"b" * int(data)


async def prepare(network: PeerNetwork) -> asyncio.Queue[GossipMessage]:
    """Set the contract's handlers and subscription on a fresh network (before start)."""
    network.set_handler(ECHO, echo)
    network.set_handler(SILENT, silent)
    network.set_handler(BIG, big)
    return await network.subscribe(TOPIC)


async def _next_data(queue: asyncio.Queue[GossipMessage], data: bytes,
                     timeout: float) -> GossipMessage:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        message = await asyncio.wait_for(queue.get(), max(0.001, end - loop.time()))
        if message.data == data:
            return message


async def _gossip_flows(sender: PeerNetwork, queue: asyncio.Queue[GossipMessage],
                        timeout: float = WAIT) -> None:
    """Publish probes until one arrives: meshes form asynchronously after connecting."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    n = 0
    while True:
        n += 1
        probe = f"probe {n} {time.time()}".encode()
        await sender.publish(TOPIC, probe)
        try:
            await _next_data(queue, probe, 0.1)
            return
        except TimeoutError:
            if loop.time() > end:
                raise AssertionError(f"no gossip from {sender.node_id} within {timeout} s"
                                     ) from None


async def _connected(network: PeerNetwork, peer: str) -> bool:
    return any(p.node_id == peer and p.connected for p in await network.peers())


async def _elapsed(call: Awaitable[object]) -> tuple[BaseException | None, float]:
    start = time.perf_counter()
    try:
        await call
    except Exception as exc:
        return exc, time.perf_counter() - start
    return None, time.perf_counter() - start


# -- the checks -----------------------------------------------------------------------------
async def check_connect_and_peers(h: Harness) -> None:
    """Connecting returns the peer's node id; both sides list each other as connected."""
    a, b = await h.start("a"), await h.start("b")
    _expect(a.node_id != b.node_id and a.node_id.startswith("lwn1"), "node ids")
    _expect(bool(a.listen_addrs), "a node reports where it listens")
    _expect(await a.connect(b.listen_addrs[0]) == b.node_id, "connect returns the node id")
    await b.wait_connected(a.node_id, WAIT)
    status = {p.node_id: p for p in await a.peers()}[b.node_id]
    _expect(status.connected and status.wanted and status.last_seen is not None,
            f"a's view of b: {status}")


async def check_gossip_through_relay(h: Harness) -> None:
    """A message published on A reaches C through B; A and C are not connected."""
    a, b, c = await h.start("a"), await h.start("b"), await h.start("c")
    await a.connect(b.listen_addrs[0])
    await c.connect(b.listen_addrs[0])
    _expect(not await _connected(a, c.node_id), "a and c must not be directly connected")
    queue_c = await c.subscribe(TOPIC)
    await _gossip_flows(a, queue_c)
    payloads = [f"announcement {i}".encode() * 10 for i in range(20)]
    for payload in payloads:
        await a.publish(TOPIC, payload)
    received = [await _next_data(queue_c, p, WAIT) for p in payloads]
    _expect(all(m.origin == a.node_id and m.topic == TOPIC for m in received),
            "the origin of a relayed message is its publisher")
    _expect(not await _connected(a, c.node_id), "gossip must not need a direct connection")
    queue_a = await a.subscribe(TOPIC)
    _expect(all(m.origin != a.node_id for m in _drain(queue_a)),
            "a node does not receive its own publications")


def _drain(queue: asyncio.Queue[GossipMessage]) -> list[GossipMessage]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def check_request_round_trip(h: Harness) -> None:
    """A request gets its response; the handler sees the asker's node id; 20 at once work."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    response = await a.request(b.node_id, ECHO, b"hello", timeout=WAIT)
    _expect(response == a.node_id.encode() + b"|hello", f"echo answered {response[:80]!r}")
    payloads = [bytes([i]) * (1000 * i + 1) for i in range(20)]
    answers = await asyncio.gather(*(a.request(b.node_id, ECHO, p, timeout=WAIT)
                                     for p in payloads))
    _expect(answers == [a.node_id.encode() + b"|" + p for p in payloads],
            "concurrent requests answered in kind")
    back = await b.request(a.node_id, ECHO, b"back", timeout=WAIT)
    _expect(back == b.node_id.encode() + b"|back", "the connection serves both directions")


async def check_direct_request_leaves_no_peer(h: Harness) -> None:
    """`request_direct` reaches a peer never connected, at its address, over a short-lived
    connection: answered, then neither side lists the other as a connected peer; a peer
    that is gone fails the call fast."""
    a, b = await h.start("a"), await h.start("b")
    response = await a.request_direct(b.node_id, ECHO, b"once", addrs=b.listen_addrs,
                                      timeout=WAIT)
    _expect(response == a.node_id.encode() + b"|once", f"echo answered {response[:80]!r}")
    _expect(not await _connected(a, b.node_id), "the asker lists the peer as connected")
    await wait_until(lambda: _not_connected(b, a.node_id), "b to see a's connection closed",
                     WAIT)
    both = await asyncio.gather(*(a.request_direct(b.node_id, ECHO, bytes([i]),
                                                   addrs=b.listen_addrs, timeout=WAIT)
                                  for i in range(4)))
    _expect(both == [a.node_id.encode() + b"|" + bytes([i]) for i in range(4)],
            "concurrent direct requests answered in kind")
    await h.kill("b")
    exc, took = await _elapsed(a.request_direct(b.node_id, ECHO, b"?", addrs=b.listen_addrs,
                                                timeout=10.0))
    _expect(isinstance(exc, PeerError) and took < FAST,
            f"direct request to a peer that is gone: {exc!r} after {took:.2f} s")


async def check_oversize_frames_refused(h: Harness) -> None:
    """Frames above the cap are refused: by the sender, by the receiver, by the reader."""
    a = await h.start("a", P2PSettings(max_frame_bytes=4 * SMALL_CAP))
    b = await h.start("b", P2PSettings(max_frame_bytes=SMALL_CAP))
    await a.connect(b.listen_addrs[0])
    exc, _ = await _elapsed(b.request(a.node_id, ECHO, b"x" * (SMALL_CAP + 1), timeout=WAIT))
    _expect(isinstance(exc, FrameTooLarge), f"sender must refuse over its own cap, got {exc!r}")
    exc, took = await _elapsed(a.request(b.node_id, ECHO, b"x" * (2 * SMALL_CAP), timeout=WAIT))
    _expect(isinstance(exc, PeerError) and not isinstance(exc, PeerTimeout) and took < FAST,
            f"receiver must refuse a frame over its cap at once, got {exc!r} after {took:.2f} s")
    exc, took = await _elapsed(b.request(a.node_id, BIG, str(2 * SMALL_CAP).encode(),
                                         timeout=WAIT))
    _expect(isinstance(exc, FrameTooLarge) and took < FAST,
            f"reader must refuse a response over its cap, got {exc!r} after {took:.2f} s")
    ok = await a.request(b.node_id, BIG, str(SMALL_CAP).encode(), timeout=WAIT)
    _expect(len(ok) == SMALL_CAP, "a frame exactly at the cap passes")
    exc, _ = await _elapsed(a.publish(TOPIC, b"x" * (a.settings.max_gossip_bytes + 1)))
    _expect(isinstance(exc, FrameTooLarge), f"gossip over the cap is refused, got {exc!r}")


async def check_deadline_on_silent_peer(h: Harness) -> None:
    """A peer that never answers costs the caller its deadline, no more."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    exc, took = await _elapsed(a.request(b.node_id, SILENT, b"?", timeout=0.3))
    _expect(isinstance(exc, PeerTimeout), f"expected PeerTimeout, got {exc!r}")
    _expect(0.25 <= took < 1.0, f"the deadline of 0.3 s took {took:.2f} s")
    again = await a.request(b.node_id, ECHO, b"still there", timeout=WAIT)
    _expect(again.endswith(b"still there"), "the connection survives a timed-out call")


async def check_unknown_protocol(h: Harness) -> None:
    """A protocol the peer does not serve fails fast with `ProtocolNotSupported`."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    exc, took = await _elapsed(a.request(b.node_id, MISSING, b"?", timeout=WAIT))
    _expect(isinstance(exc, ProtocolNotSupported) and took < FAST,
            f"expected a fast ProtocolNotSupported, got {exc!r} after {took:.2f} s")


async def check_killed_peer_fails_fast(h: Harness) -> None:
    """Killing a peer fails its in-flight and later requests long before their deadline."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    await a.request(b.node_id, ECHO, b"warm", timeout=WAIT)
    pending = asyncio.ensure_future(_elapsed(a.request(b.node_id, SILENT, b"?", timeout=10.0)))
    await asyncio.sleep(0.05)  # let the request reach b's handler
    await h.kill("b")
    exc, took = await pending
    _expect(isinstance(exc, PeerError) and not isinstance(exc, PeerTimeout) and took < FAST,
            f"in-flight request to a killed peer: {exc!r} after {took:.2f} s")
    await wait_until(lambda: _not_connected(a, b.node_id), "a to see b gone", WAIT)
    exc, took = await _elapsed(a.request(b.node_id, ECHO, b"?", timeout=10.0))
    _expect(isinstance(exc, PeerError) and took < FAST,
            f"request to a dead peer: {exc!r} after {took:.2f} s")


async def _not_connected(network: PeerNetwork, peer: str) -> bool:
    return not await _connected(network, peer)


async def check_restarted_peer_reconnects(h: Harness) -> None:
    """A restarted peer is re-dialled within 5 s; requests and gossip resume."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    await a.request(b.node_id, ECHO, b"before", timeout=WAIT)
    await h.kill("b")
    await wait_until(lambda: _not_connected(a, b.node_id), "a to see b gone", WAIT)
    start = time.perf_counter()
    b2 = await h.start("b")
    _expect(b2.node_id == b.node_id, "a restarted node keeps its id")
    await a.wait_connected(b2.node_id, 5.0)
    reconnect = time.perf_counter() - start
    _expect(reconnect < 5.0, f"reconnected after {reconnect:.2f} s")
    after = await a.request(b2.node_id, ECHO, b"after", timeout=WAIT)
    _expect(after.endswith(b"after"), "requests resume after a restart")
    queue_b = await b2.subscribe(TOPIC)
    await _gossip_flows(a, queue_b, timeout=5.0)


async def check_handler_set_after_start(h: Harness) -> None:
    """A protocol registered on a running node is served at once."""
    a, b = await h.start("a"), await h.start("b")
    await a.connect(b.listen_addrs[0])
    late = "/lwdock/contract-late/1.0.0"

    async def shout(peer: str, data: bytes) -> bytes:
        return data.upper()

    b.set_handler(late, shout)
    answer = None
    for _ in range(50):  # registration reaches the transport's thread asynchronously
        try:
            answer = await a.request(b.node_id, late, b"late", timeout=WAIT)
            break
        except ProtocolNotSupported:
            await asyncio.sleep(0.01)
    _expect(answer == b"LATE", f"late handler answered {answer!r}")


async def check_stop(h: Harness) -> None:
    """After stop every call raises `NetworkClosed`; stop is idempotent."""
    a = await h.start("a")
    await a.stop()
    await a.stop()
    for call in (a.request(a.node_id, ECHO, b"?"), a.publish(TOPIC, b"?"), a.peers()):
        exc, _ = await _elapsed(call)
        _expect(isinstance(exc, NetworkClosed), f"after stop: expected NetworkClosed, got "
                f"{exc!r}")


async def check_stopped_peer_seen_disconnected(h: Harness) -> None:
    """A peer that stops (cleanly) is listed as disconnected by the others at once,
    so they do not route requests to it."""
    a, b = await h.start("a"), await h.start("b")
    await b.connect(a.listen_addrs[0], keep=False)
    await a.wait_connected(b.node_id, WAIT)
    await h.nodes.pop("b").stop()
    began = time.monotonic()
    await wait_until(lambda: _disconnected(a, b.node_id), "a stopped peer to be listed as gone",
                     WAIT)
    _expect(time.monotonic() - began < FAST, "a stopped peer was seen as gone only after "
            f"{time.monotonic() - began:.1f} s")


async def _disconnected(network: PeerNetwork, peer: str) -> bool:
    return not any(p.node_id == peer and p.connected for p in await network.peers())


CHECKS: tuple[Callable[[Harness], Awaitable[None]], ...] = (
    check_connect_and_peers,
    check_gossip_through_relay,
    check_request_round_trip,
    check_direct_request_leaves_no_peer,
    check_oversize_frames_refused,
    check_deadline_on_silent_peer,
    check_unknown_protocol,
    check_killed_peer_fails_fast,
    check_restarted_peer_reconnects,
    check_handler_set_after_start,
    check_stop,
    check_stopped_peer_seen_disconnected,
)
