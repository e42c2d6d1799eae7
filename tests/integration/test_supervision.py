"""Supervision on real nodes (issue 14, finding 15): a crashed part is restarted, and
``/v1/health`` answers 503 "degraded" naming it until it is back.

No input from a peer ends the peer layer any more (test_hostile_peer), so the faults
here are injected: an unexpected exception in the libp2p thread's own nursery, and a
peer watcher whose look at the network raises.
"""

from __future__ import annotations

import aiohttp
import pytest
from lwtesting import region_centres, region_package, until
from real_nodes import cluster, publish

pytestmark = pytest.mark.timeout(120)


async def health(http, node) -> tuple[int, dict]:
    async with http.get(f"{node.url}/v1/health") as r:
        return r.status, await r.json()


async def connected(node, other_id: str) -> bool:
    return any(p.node_id == other_id and p.connected for p in await node.federation.peers())


def crash_libp2p_thread(node) -> None:
    """Start a task that raises in the libp2p thread's nursery (ends the thread)."""
    network = node.federation.network

    async def boom() -> None:
        raise RuntimeError("injected fault in the libp2p thread")

    network._bridge.soon(lambda: network._tasks.start_soon(boom))


async def test_a_dead_libp2p_thread_is_reported_and_restarted(tmp_path):
    centres = region_centres(2, 4, seed=1)
    async with cluster(2, tmp_path) as (a, b), aiohttp.ClientSession() as http:
        port = a.multiaddr
        crash_libp2p_thread(a)
        seen: list[dict] = []

        async def degraded() -> bool:
            status, body = await health(http, a)
            if status == 503:
                seen.append(body)
            return status == 503

        await until(degraded, "health 503 while the peer layer is down", timeout=5)
        body = seen[-1]
        assert body["status"] == "degraded"
        assert "injected fault" in body["down"]["libp2p peer layer"]
        # while it is down, reads and searches answer from this node
        async with http.get(f"{a.url}/v1/peers") as r:
            assert r.status == 200

        async def healthy() -> bool:
            return (await health(http, a))[0] == 200

        await until(healthy, "health 200 once the peer layer is back", timeout=15)
        assert a.multiaddr == port  # same port: peers find it again
        assert a.counters()["restarts"] == 1
        await until(lambda: connected(a, b.id), "B reconnected to the restarted A")
        lid = await publish(http, a, region_package(centres, 0))
        await until(lambda: _known(b, lid), "A's publication after the restart on B")
        lid = await publish(http, b, region_package(centres, 1))
        await until(lambda: _known(a, lid), "B's publication on the restarted A")


async def _known(node, lid: str) -> bool:
    return lid in node.service.catalog.ids()


async def test_a_crashing_peer_watcher_is_restarted_and_named_meanwhile(tmp_path):
    async with cluster(1, tmp_path) as (a,), aiohttp.ClientSession() as http:
        network = a.federation.network
        real = network.peers
        broken = True

        async def peers():
            if broken:
                raise RuntimeError("injected fault in the peer watcher")
            return await real()

        network.peers = peers
        try:
            status, body = 0, {}

            async def degraded() -> bool:
                nonlocal status, body
                status, body = await health(http, a)
                return status == 503

            await until(degraded, "health 503 with the watcher crashing", timeout=5)
            assert "injected fault" in body["down"]["peer watcher"]
            broken = False

            async def healthy() -> bool:
                return (await health(http, a))[0] == 200

            await until(healthy, "health 200 with the watcher back", timeout=40)
            assert a.federation.supervisor.restarts()["peer watcher"] >= 1
        finally:
            network.peers = real
