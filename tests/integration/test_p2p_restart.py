"""A restarted node is found again (issue 14, finding 9): real nodes on loopback.

With the default ``[p2p] listen`` (port 0) a node now keeps the port it got at its
first start (``p2p.port`` in its home), so the peers that keep it connected re-dial
it where it was; and it re-dials the peers it knew (kept in its store) itself.
"""

from __future__ import annotations

import pytest
from lwtesting import until
from real_nodes import start_node

from lwnode.federation.stableport import PORT_FILE

pytestmark = pytest.mark.timeout(120)


async def connected(node, other_id: str) -> bool:
    return any(p.node_id == other_id and p.connected for p in await node.federation.peers())


async def test_a_restarted_node_listens_on_its_port_again_and_its_peer_reconnects(tmp_path):
    first = start_node(tmp_path, "A")
    a = await first.__aenter__()
    try:
        addr, a_id = a.multiaddr, a.id
        async with start_node(tmp_path, "B", [addr]) as b:
            await until(lambda: connected(b, a_id), "B connected to A")
            await first.__aexit__(None, None, None)
            first = None
            await until(lambda: _gone(b, a_id), "B sees A gone")
            async with start_node(tmp_path, "A") as again:
                assert again.multiaddr == addr
                took = await until(lambda: connected(b, a_id), "B reconnected to A", 15)
                print(f"B reconnected to the restarted A in {took:.2f} s")
        assert f"/tcp/{(tmp_path / 'A' / PORT_FILE).read_text().strip()}/" in addr
    finally:
        if first is not None:
            await first.__aexit__(None, None, None)


async def _gone(node, other: str) -> bool:
    return not await connected(node, other)


async def test_a_restarted_node_redials_the_peers_it_knew(tmp_path):
    async with start_node(tmp_path, "B") as b:
        async with start_node(tmp_path, "A") as a:
            await a.federation.network.connect(b.multiaddr, keep=False)
            await until(lambda: _stored(a, b.id), "B kept in A's peer store")
        async with start_node(tmp_path, "A") as a:  # no bootstrap, and B does not dial
            await until(lambda: connected(a, b.id), "the restarted A re-dialled B")


async def _stored(node, peer: str) -> bool:
    rows = await node.service.in_store(node.service.store.list_peers)
    return any(r.node_id == peer and r.multiaddrs for r in rows)
