"""A never-met owner dialled at the address in its signed summary, on real libp2p.

Three real nodes on loopback in a line A - B - C (C dials B, B dials A): C has never met
A, so its peer store has no address of A; A's summary (schema 1.5) carries A's listen
address with its peer id. C's fetch of A's full spec goes to A directly over a
short-lived connection at that address — B is not asked — and leaves no link.

What the design relies on against a hostile owner, checked on the transport: an address
always carries the owner's own peer id, and a dial to another node's host and port
under that peer id fails the Noise handshake, so it reaches no one in the owner's name.
"""

from __future__ import annotations

import aiohttp
import numpy as np
import pytest
from lwtesting import region_centres, region_package, until
from real_nodes import cluster, publish, start_node

from lwnode.federation.p2p.errors import PeerError
from lwnode.federation.stableport import PORT_FILE
from lwnode.node.records import offer_of
from protocol.codec import encode_message
from protocol.content import content_id
from protocol.messages import SpecRequest, SpecSummary
from protocol.owneraddrs import owner_addr_parts
from protocol.versions import SPECS_PROTOCOL

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="function")]


async def known_peers(node) -> dict[str, bool]:
    return {p.node_id: p.connected for p in await node.federation.network.peers()}


async def addrs_known(node, peer: str) -> tuple[str, ...]:
    """Where `node`'s peer layer knows `peer` listens (C hears A's gossip through B, so
    it lists A as a peer it has seen, but with no address)."""
    return next((p.addrs for p in await node.federation.network.peers()
                 if p.node_id == peer), ())


async def test_c_fetches_a_spec_from_a_never_met_owner_at_its_summary_address(tmp_path):
    package = region_package(region_centres(2, 6, seed=5), 0, n_points=20)
    async with cluster(3, tmp_path) as (a, b, c), aiohttp.ClientSession() as http:
        lid = await publish(http, a, package)
        await until(lambda: lid in c.service.catalog.ids(), "A's summary on C")
        assert not (await known_peers(c)).get(a.id)  # never met: not connected,
        assert await addrs_known(c, a.id) == ()  # and no address of A on C

        row = c.service.store.get_record(a.id, lid)
        summary = offer_of(row)
        assert isinstance(summary, SpecSummary)
        assert summary.addrs == a.federation.own_addrs() != ()
        assert summary.addrs[0] == a.multiaddr  # its listen address, with its peer id
        assert owner_addr_parts(summary.addrs[0], "addr")[2] == a.id

        served_a = a.counters()["spec_requests_served"]
        served_b = b.counters()["spec_requests_served"]
        semantic, specs = await c.service.specs(lid)
        assert len(specs) == len(summary.specs) and semantic == summary.semantic
        assert np.isfinite(specs[0].points_).all()
        counts = c.counters()
        assert counts["spec_owners_dialled"] == 1
        assert counts["spec_owners_at_summary_addrs"] == 1
        assert counts.get("spec_owner_fallbacks", 0) == 0
        assert a.counters()["spec_requests_served"] == served_a + 1  # A itself answered
        assert b.counters()["spec_requests_served"] == served_b  # not through B

        # no link is left: neither side lists the other as connected, C does not keep A
        # as a peer to re-dial
        async def unlinked() -> bool:
            return not (await known_peers(c)).get(a.id) and \
                not (await known_peers(a)).get(c.id)
        await until(unlinked, "the short-lived connection closed on both sides")
        status = next(p for p in await c.federation.network.peers() if p.node_id == a.id)
        assert not status.connected and not status.wanted


async def test_another_nodes_address_under_the_owners_peer_id_reaches_no_one(tmp_path):
    async with cluster(3, tmp_path, links=lambda i: []) as (a, b, c):
        host_port = b.multiaddr.rsplit("/p2p/", 1)[0]
        lying = f"{host_port}/p2p/{a.federation.network.peer_id}"  # B's port, A's id
        owner_addr_parts(lying, "addr")  # a valid address of A's, as a summary may hold
        data = encode_message(SpecRequest((content_id(b"any spec"),), 0))
        with pytest.raises(PeerError):
            await c.federation.network.request_direct(a.id, SPECS_PROTOCOL, data,
                                                      addrs=(lying,), timeout=10.0)
        assert b.counters()["spec_requests_served"] == 0
        assert not any(p.connected for p in await c.federation.network.peers())
        assert not any(p.connected for p in await b.federation.network.peers())


async def test_an_owner_restarted_on_another_port_reaches_a_peer_with_its_new_address(
        tmp_path):
    """B holds A's summary with A's first port. A restarts on another port: it signs
    its summary again at the next sequence (the same sequence would be a duplicate to
    B, which would keep the old address), and B ends up with the new address. A start
    on the same addresses signs nothing again."""
    package = region_package(region_centres(2, 6, seed=5), 0, n_points=20)
    first = start_node(tmp_path, "A")
    a = await first.__aenter__()
    try:
        async with start_node(tmp_path, "B", [a.multiaddr]) as b, \
                aiohttp.ClientSession() as http:
            a_id, old = a.id, a.multiaddr
            lid = await publish(http, a, package)
            await until(lambda: lid in b.service.catalog.ids(), "A's summary on B")
            held = offer_of(b.service.store.get_record(a_id, lid))
            assert isinstance(held, SpecSummary) and held.addrs == (old,)

            async def b_kept_by_a() -> bool:  # A re-dials the peers it keeps at start
                rows = await a.service.in_store(a.service.store.list_peers)
                return any(r.node_id == b.id and r.multiaddrs for r in rows)

            await until(b_kept_by_a, "B kept in A's peer store")
            await first.__aexit__(None, None, None)
            first = None
            (tmp_path / "A" / PORT_FILE).unlink()  # a new port at the next start
            async with start_node(tmp_path, "A") as again:  # re-dials B (kept in its store)
                new = again.multiaddr
                assert new != old and again.id == a_id
                own = again.service.store.get_record(a_id, lid)
                assert own.sequence == held.sequence + 1

                def b_has_the_new_address() -> bool:
                    offer = offer_of(b.service.store.get_record(a_id, lid))
                    return isinstance(offer, SpecSummary) and offer.addrs == (new,)

                took = await until(b_has_the_new_address, "A's new address on B", 60)
                print(f"B held A's new address {took:.2f} s after A's restart")
                offer = offer_of(b.service.store.get_record(a_id, lid))
                assert offer.sequence == own.sequence and offer.semantic == held.semantic
            async with start_node(tmp_path, "A") as same:  # the same port: nothing new
                assert same.multiaddr == new
                assert same.service.store.get_record(a_id, lid).sequence == own.sequence
    finally:
        if first is not None:
            await first.__aexit__(None, None, None)
