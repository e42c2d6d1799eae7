"""The peer-layer contract on `InProcessNetwork`, plus the hub's injected faults."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from lwnode.federation.p2p import conformance
from lwnode.federation.p2p.base import P2PSettings, PeerNetwork
from lwnode.federation.p2p.errors import PeerTimeout, PeerUnreachable
from lwnode.federation.p2p.memory import (
    InProcessHub,
    InProcessNetwork,
    memory_addr,
    parse_memory_addr,
)
from protocol.signing import Identity

pytestmark = pytest.mark.timeout(30)


def node_id(name: str) -> str:
    return Identity.from_seed(hashlib.sha256(name.encode()).digest()).node_id


class InProcessHarness(conformance.Harness):
    def __init__(self, hub: InProcessHub | None = None) -> None:
        super().__init__()
        self.hub = hub or InProcessHub()

    async def start(self, name: str, settings: P2PSettings | None = None) -> PeerNetwork:
        network = InProcessNetwork(self.hub, node_id(name), settings=settings)
        await conformance.prepare(network)
        await network.start()
        self.nodes[name] = network
        return network

    async def kill(self, name: str) -> None:
        self.hub.kill(self.nodes[name].node_id)  # links cut at once, calls fail
        await super().kill(name)


@pytest.fixture
async def harness():
    h = InProcessHarness()
    yield h
    await h.aclose()


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda c: c.__name__)
async def test_contract(check, harness):
    await check(harness)


# -- in-process specifics: addresses and injected faults --------------------------------------
def test_memory_addresses_round_trip_and_reject_garbage():
    nid = node_id("a")
    assert parse_memory_addr(memory_addr(nid)) == nid
    for bad in ("/ip4/127.0.0.1/tcp/1", "/memory/not-a-node-id", 42):
        with pytest.raises(ValueError):
            parse_memory_addr(bad)  # type: ignore[arg-type]


async def test_injected_delay_applies_to_requests(harness):
    a, b = await harness.start("a"), await harness.start("b")
    await a.connect(b.listen_addrs[0])
    harness.hub.set_delay(b.node_id, 0.1)  # one way: 0.1 out + 0.1 back
    loop = asyncio.get_running_loop()
    start = loop.time()
    await a.request(b.node_id, conformance.ECHO, b"x", timeout=2)
    assert 0.2 <= loop.time() - start < 1.0
    with pytest.raises(PeerTimeout):
        await a.request(b.node_id, conformance.ECHO, b"x", timeout=0.15)


async def test_injected_loss_drops_gossip_and_counts_nothing_received(harness):
    a, b = await harness.start("a"), await harness.start("b")
    await a.connect(b.listen_addrs[0])
    queue = await b.subscribe(conformance.TOPIC)
    harness.hub.set_drop(b.node_id, 1.0)
    for i in range(10):
        await a.publish(conformance.TOPIC, b"lost %d" % i)
    harness.hub.set_drop(b.node_id, 0.0)
    await a.publish(conformance.TOPIC, b"kept")
    message = await asyncio.wait_for(queue.get(), 1)
    assert message.data == b"kept" and queue.empty()
    assert b.counters["gossip_received"] == 1


async def test_the_hub_counts_gossip_copies_per_link_and_requests_both_ways(harness):
    a, b, c = await harness.start("a"), await harness.start("b"), await harness.start("c")
    await a.connect(b.listen_addrs[0])
    await b.connect(c.listen_addrs[0])
    queue = await c.subscribe(conformance.TOPIC)  # subscribed at start: its queue
    before = harness.hub.traffic.copy()
    await a.publish(conformance.TOPIC, b"12345")
    await asyncio.wait_for(queue.get(), 1)  # a -> b -> c: two copies of 5 bytes
    gossip = f"gossip {conformance.TOPIC}"
    after = harness.hub.traffic.since(before)
    assert (after.messages[gossip], after.bytes[gossip]) == (2, 10)
    answer = await a.request(b.node_id, conformance.ECHO, b"abc", timeout=2)
    traffic = harness.hub.traffic.since(before)
    request, response = f"request {conformance.ECHO}", f"response {conformance.ECHO}"
    assert (traffic.messages[request], traffic.bytes[request]) == (1, 3)
    assert (traffic.messages[response], traffic.bytes[response]) == (1, len(answer))
    assert traffic.messages[gossip] == 2  # the request added no gossip


async def test_partial_loss_is_reproducible_by_seed():
    async def delivered(seed: int) -> int:
        h = InProcessHarness(InProcessHub(drop=0.5, seed=seed))
        a, b = await h.start("a"), await h.start("b")
        await a.connect(b.listen_addrs[0])
        for i in range(40):
            await a.publish(conformance.TOPIC, b"m %d" % i)
        await asyncio.sleep(0)  # deliveries are scheduled with call_later(0)
        await asyncio.sleep(0)
        await h.aclose()
        return b.counters["gossip_received"]

    first, second = await delivered(7), await delivered(7)
    assert first == second and 5 < first < 35


async def test_full_queue_drops_and_counts(harness):
    a = await harness.start("a")
    b = await harness.start("b", P2PSettings(gossip_queue_size=3))
    await a.connect(b.listen_addrs[0])
    for i in range(5):
        await a.publish(conformance.TOPIC, b"m %d" % i)
    await asyncio.sleep(0.01)
    assert b.counters["gossip_received"] == 3 and b.counters["gossip_dropped"] == 2


async def test_unknown_and_never_started_peers_are_unreachable(harness):
    a = await harness.start("a")
    with pytest.raises(PeerUnreachable):
        await a.connect(memory_addr(node_id("nobody")))
    with pytest.raises(PeerUnreachable):
        await a.request(node_id("nobody"), conformance.ECHO, b"x")
    status = {p.node_id: p for p in await a.peers()}[node_id("nobody")]
    assert status.wanted and not status.connected  # kept for re-dialing


async def test_bootstrap_peers_are_dialled_by_the_keep_connected_loop(harness):
    b = await harness.start("b")
    a = InProcessNetwork(harness.hub, node_id("a"), bootstrap=(b.listen_addrs[0],))
    async with a:
        await a.wait_connected(b.node_id, 2)


async def test_a_network_starts_once_and_node_ids_are_unique_per_hub(harness):
    a = await harness.start("a")
    with pytest.raises(Exception, match="starts once"):
        await a.start()
    twin = InProcessNetwork(harness.hub, a.node_id)
    with pytest.raises(ValueError, match="already running"):
        await twin.start()


def test_settings_refuse_nonsense():
    for bad in ({"request_timeout": 0}, {"dial_timeout": float("inf")},
                {"max_frame_bytes": 0}, {"max_gossip_bytes": 2 << 20},
                {"redial_min": 3.0, "redial_max": 1.0}, {"publish_burst": True}):
        with pytest.raises(ValueError):
            P2PSettings(**bad)
