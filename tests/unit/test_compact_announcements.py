"""Compact announcements (schema 1.3): summaries gossiped and kept, full specs on demand.

Real `NodeService`s on the in-process network (as in ``test_federation_memory``): an
owner gossips its signed summary, peers keep that (not the full spec), rank by the
sketch and fetch the shortlist's full specs by content id from the owner, or from a
peer that asks the owner for them; what a peer sends must hash to the signed id.
"""

from __future__ import annotations

import asyncio
import hashlib

import msgpack
import numpy as np
import pytest
from lwtesting import WAIT, content_of, publish_bytes, tiny_semantic, tiny_spec, until
from test_federation_memory import D, ident, node, publish, requirement, withdraw

from engine.search import Catalog
from engine.search import Requirement as EngineRequirement
from engine.specification.semantic import SemanticSpec
from lwnode.federation.p2p import InProcessHub, InProcessNetwork
from lwnode.federation.p2p.memory import memory_addr
from lwnode.http import jsonio
from lwnode.node.catalog import NodeCatalog
from lwnode.node.records import offer_of, row_of
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.speccache import SpecCache
from lwnode.node.store.sqlite import MemoryStore
from protocol.codec import decode_message, encode_envelope, encode_message, encode_spec, spec_id
from protocol.messages import (
    Requirement,
    SearchRequest,
    SearchResponse,
    SpecAnnouncement,
    SpecRequest,
    SpecResponse,
    SpecSummary,
    now_ms,
)
from protocol.summary import summary_of
from protocol.versions import SEARCH_PROTOCOL, SPECS_PROTOCOL, SUMMARY_TOPIC

pytestmark = pytest.mark.timeout(60)

RELAYS_ONLY = {"spec_owner_dials": 0}
"""A node that dials no owner: its fetches go through its peers (the relays' tests)."""


def held(n, owner_id: str, lid: str):
    row = n.service.store.get_record(owner_id, lid)
    return None if row is None else offer_of(row)


def exact_mmd2(spec, req: EngineRequirement) -> float:
    """MMD² of one full spec to the requirement, from a catalog of that spec alone."""
    one = Catalog(index=False)
    one.add("x", SemanticSpec(), spec)
    match = one.search(EngineRequirement(spec=req.spec), k=1, max_mixture=1,
                       exact=True).single[0]
    return float(match.mmd2)


# -- what peers keep ---------------------------------------------------------------------
async def test_peers_keep_the_summary_and_rank_by_the_owners_full_spec_fetched_once():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        lid = await publish(a, 1)
        await until(lambda: lid in b.service.catalog.ids(), "A's summary on B")
        kept = held(b, a.id, lid)
        assert isinstance(kept, SpecSummary) and b.service.catalog.summarised(lid)
        full = held(a, a.id, lid)
        assert isinstance(full, SpecAnnouncement)  # the owner keeps its full announcement
        assert kept.specs[0].id == spec_id(full.statistical[0])

        req = requirement(0.0)
        answer = await b.service.search_local(SearchQuery(req, 5, 3))
        assert [h.learnware_id for h in answer.hits] == [lid] and not answer.notes
        assert answer.hits[0].mmd2 == pytest.approx(exact_mmd2(full.statistical[0], req),
                                                    rel=1e-6, abs=1e-9)
        assert a.counters()["spec_requests_served"] == 1
        assert b.service.spec_cache.counters()["spec_cache_specs"] == 1
        await b.service.search_local(SearchQuery(requirement(0.0, seed=1), 5, 3))
        assert a.counters()["spec_requests_served"] == 1  # the cache answered


async def test_a_node_not_connected_to_the_owner_fetches_through_a_peer():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b, \
            node(hub, "C", bootstrap=(b,), p2p=RELAYS_ONLY) as c:
        lid = await publish(a, 1)
        await until(lambda: lid in c.service.catalog.ids(), "A's summary on C")
        assert a.id not in {p.node_id for p in await c.federation.peers() if p.connected}
        answer = await c.service.search_local(SearchQuery(requirement(0.0), 5, 3))
        assert [h.learnware_id for h in answer.hits] == [lid], answer.notes
        assert b.counters()["spec_requests_served"] == 1  # B asked A, and kept it
        assert b.service.spec_cache.counters()["spec_cache_specs"] == 1
        semantic, specs = await c.service.specs(lid)  # the detail view: the full spec
        assert spec_id(specs[0]) == held(c, a.id, lid).specs[0].id
        assert semantic.name == "model 1"


async def test_specs_reach_three_links_along_a_chain_even_through_an_owner():
    """D-C-B-A: D asks C (ttl 2), C asks B (ttl 1), B asks A; B owns a learnware too,
    so it is both asked for its own spec and the relay for A's."""
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b, \
            node(hub, "C", bootstrap=(b,)) as c, \
            node(hub, "D", bootstrap=(c,), p2p=RELAYS_ONLY) as d:
        far, near = await publish(a, 1, loc=0.0), await publish(b, 2, loc=0.5)
        await until(lambda: {far, near} <= d.service.catalog.ids(), "both summaries on D")
        # a long deadline: three hops each way must fit it on a loaded machine too
        answer = await d.service.search_local(SearchQuery(requirement(0.0, 0.5), 5, 3,
                                                          deadline_ms=10_000),
                                              fetch_share=1.0)
        assert {h.learnware_id for h in answer.hits} == {far, near}, answer.notes
        assert a.counters()["spec_requests_served"] == 1
        assert c.service.spec_cache.counters()["spec_cache_specs"] == 2  # kept on the way


async def test_a_spec_that_does_not_arrive_in_time_is_ranked_by_its_sketch_and_marked():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b, \
            node(hub, "C", bootstrap=(b,)) as c:
        lid = await publish(a, 1)
        await until(lambda: lid in b.service.catalog.ids(), "A's summary on B")
        hub.set_delay(a.id, 3.0)  # A answers, but after B's search has given up
        answer = await b.service.search_local(SearchQuery(requirement(0.0), 5, 3,
                                                          deadline_ms=400))
        assert [(h.learnware_id, h.approximate) for h in answer.hits] == [(lid, True)]
        assert "ranked by their sketches" in " ".join(answer.notes) and not answer.exact
        assert jsonio.hit_json(answer.hits[0])["approximate"] is True
        # a peer is not sent an estimate: the wire has no mark for it
        req = requirement(0.0)
        request = encode_message(SearchRequest("e" * 32, Requirement(req.semantic, req.spec),
                                               5, 0, 1, (), 400))
        wire = decode_message(await c.network.request(b.id, SEARCH_PROTOCOL, request,
                                                      timeout=WAIT))
        assert isinstance(wire, SearchResponse) and wire.hits == ()


async def test_a_relay_whose_upstream_hangs_answers_within_the_askers_deadline():
    """D-C-B-A: C holds A's spec (fetched before) but not B's, and B hangs. D's 1 s
    fetch sends C ttl 2; C waits for B no longer than that ttl allows, so its answer
    (A's spec) reaches D before D's deadline: A's learnware is ranked exactly, B's by its
    sketch. (A relay waiting its own longer timeout answered after D had stopped.)"""
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b, \
            node(hub, "C", bootstrap=(b,), p2p=RELAYS_ONLY) as c, \
            node(hub, "D", bootstrap=(c,), p2p=RELAYS_ONLY) as d:
        far = await publish(a, 1, loc=0.0)
        await until(lambda: far in d.service.catalog.ids(), "A's summary on D")
        await c.service.search_local(SearchQuery(requirement(0.0), 5, 3, deadline_ms=10_000),
                                     fetch_share=1.0)
        assert c.service.spec_cache.counters()["spec_cache_specs"] == 1  # A's, via B
        near = await publish(b, 2, loc=0.5)
        await until(lambda: near in d.service.catalog.ids(), "B's summary on D")
        hub.set_delay(b.id, 5.0)  # B (owner of `near`, C's only way on) hangs
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await d.service.search_local(SearchQuery(requirement(0.0, 0.5), 5, 3,
                                                          deadline_ms=1000),
                                              fetch_share=1.0)
        took = loop.time() - began
        assert {h.learnware_id: h.approximate for h in answer.hits} == \
            {far: False, near: True}, answer.notes
        assert took < 1.0 + 0.5  # the fetch's 1 s and the ranking, not B's 5 s


async def test_specs_that_do_not_fit_one_response_come_in_the_next():
    """Three 200 kB specs: a response holds two (512 kB a message), the asker asks again
    for the third; none of them is taken for withheld."""
    from engine.specification import spec_from_dict

    hub = InProcessHub()
    rng = np.random.default_rng(5)
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        wanted = {}
        for i in range(3):
            spec = spec_from_dict({"type": "rkme_table", "format": 1, "space": "table/d=50",
                                   "gamma": 0.1, "n_samples": 2000,
                                   "points": rng.normal(size=(1000, 50)),
                                   "weights": rng.dirichlet(np.ones(1000)), "params": {}})
            lid, _ = publish_bytes(a.service.store, a.service.identity, content_of(10 + i),
                                   spec=spec, semantic=tiny_semantic(f"wide {i}", 50),
                                   organization=a.service.organization)
            await a.service.offer(a.service.store.get_record(a.id, lid))
            wanted[spec_id(spec)] = (a.id,)
        await until(lambda: len(b.service.catalog) == 3, "A's three summaries on B")
        got = await b.service.fetch_specs(wanted, timeout=WAIT)
        assert set(got) == set(wanted)
        assert a.counters()["spec_requests_served"] == 2 and not b.service._withheld


async def test_a_withdrawal_removes_a_summarised_learnware():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        lid = await publish(a, 1)
        await until(lambda: lid in b.service.catalog.ids(), "A's summary on B")
        await withdraw(a, lid)
        await until(lambda: lid not in b.service.catalog.ids(), "the withdrawal on B")
        answer = await b.service.search_local(SearchQuery(requirement(0.0), 5, 3))
        assert answer.hits == ()
        assert not b.service.catalog.summarised(lid)


async def test_a_late_joiner_gets_summaries_by_sync_and_the_owner_keeps_its_full_record():
    hub = InProcessHub()
    async with node(hub, "A") as a:
        lids = [await publish(a, i) for i in range(3)]
        async with node(hub, "B", bootstrap=(a,)) as b:
            await until(lambda: set(lids) <= b.service.catalog.ids(), "A's learnwares on B")
            assert all(isinstance(held(b, a.id, i), SpecSummary) for i in lids)
            assert all(isinstance(held(a, a.id, i), SpecAnnouncement) for i in lids)
            # digests agree (same sequences), so the next round pulls nothing
            result = await b.federation.sync_now(a.id)
            assert result.records == 0


# -- what a peer may not do ---------------------------------------------------------------
async def test_spec_bytes_that_are_not_the_signed_id_are_refused_and_not_cached():
    """Mallory signs a summary of one spec and serves another's bytes for its id."""
    hub = InProcessHub()
    mallory = ident("Mallory")
    honest, other = tiny_spec(1, d=D, n=60, k=8), tiny_spec(2, d=D, n=60, k=8, loc=0.2)
    ann = SpecAnnouncement("sha256:" + "cd" * 32, mallory.node_id, "Org M",
                           tiny_semantic("bait", D), (honest,), 100,
                           ("http://127.0.0.1:9/v1/learnwares/x/package",), 1, now_ms())
    summary = summary_of(ann)
    m = InProcessNetwork(hub, mallory.node_id)

    async def serve(peer: str, data: bytes) -> bytes:
        return encode_message(SpecResponse((encode_spec(other),)))

    m.set_handler(SPECS_PROTOCOL, serve)
    async with m, node(hub, "B", bootstrap=()) as b:
        await m.connect(memory_addr(b.id))
        await m.wait_connected(b.id, WAIT)
        await m.publish(SUMMARY_TOPIC, encode_envelope(mallory.sign(summary)))
        await until(lambda: ann.learnware_id in b.service.catalog.ids(), "the bait on B")
        answer = await b.service.search_local(SearchQuery(requirement(0.0), 5, 3))
        assert answer.hits == ()  # not even ranked by its sketch: its owner withheld it
        assert "withheld" in " ".join(answer.notes), answer.notes
        assert b.counters()["specs_refused"] == 1
        assert b.service.spec_cache.counters()["spec_cache_specs"] == 0


async def test_a_malformed_spec_request_gets_an_error_reply_and_ids_not_held_none():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        reply = decode_message(await b.network.request(a.id, SPECS_PROTOCOL, b"\x92\xff",
                                                       timeout=WAIT))
        assert reply.code == "bad_request"
        unknown = encode_message(SpecRequest(("sha256:" + "ee" * 32,), 0))
        reply = decode_message(await b.network.request(a.id, SPECS_PROTOCOL, unknown,
                                                       timeout=WAIT))
        assert isinstance(reply, SpecResponse) and reply.specs == ()


# -- older peers -------------------------------------------------------------------------
def as_version(data: bytes, version: tuple[int, int]) -> bytes:
    """An encoded message re-written as an older node would have written it."""
    message = msgpack.unpackb(data, raw=False)
    message["version"] = list(version)
    return msgpack.packb(message, use_bin_type=True)


async def test_a_1_2_asker_gets_full_announcements_only():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        mine = await publish(a, 1)
        theirs = await publish(b, 2)
        await until(lambda: theirs in a.service.catalog.ids(), "B's summary on A")
        req = requirement(0.0)

        def request(query_id: str) -> bytes:
            return encode_message(SearchRequest(query_id * 32, Requirement(req.semantic,
                                                                           req.spec),
                                                5, 0, 1, (), 2000))

        new = decode_message(await b.network.request(a.id, SEARCH_PROTOCOL, request("c"),
                                                     timeout=WAIT))
        assert isinstance(new, SearchResponse)
        assert {h.learnware_id for h in new.hits} == {mine, theirs}
        assert {type(decode_message(h.announcement.payload, (SpecAnnouncement, SpecSummary)))
                for h in new.hits} == {SpecSummary}  # a 1.3 asker is sent summaries
        old = decode_message(await b.network.request(
            a.id, SEARCH_PROTOCOL, as_version(request("d"), (1, 2)), timeout=WAIT))
        assert [h.learnware_id for h in old.hits] == [mine]  # B's: only a summary on A
        assert isinstance(decode_message(old.hits[0].announcement.payload, SpecAnnouncement),
                          SpecAnnouncement)


# -- the catalog and the cache on their own ---------------------------------------------
def test_a_rebuilt_catalog_ranks_summaries_and_full_announcements_alike():
    owner = ident("R")
    store = MemoryStore()
    lids = []
    for i in range(3):
        lid, _ = publish_bytes(store, owner, content_of(i), spec=tiny_spec(i, d=D, n=60, k=8,
                                                                          loc=float(i)),
                               semantic=tiny_semantic(f"m{i}", D), organization="R")
        lids.append(lid)
    peer = ident("P")
    ann = SpecAnnouncement("sha256:" + "ab" * 32, peer.node_id, "Org P",
                           tiny_semantic("peer", D), (tiny_spec(7, d=D, n=60, k=8),), 100,
                           ("http://127.0.0.1:9/v1/learnwares/x/package",), 1, now_ms())
    summary = summary_of(ann)
    store.put_record(row_of(peer.sign(summary), summary, now_ms()))
    catalog = NodeCatalog()
    assert catalog.rebuild(store) == 4
    assert catalog.summarised(ann.learnware_id) and not catalog.summarised(lids[0])
    req = requirement(0.0)
    wanted = catalog.shortlist(req).to_fetch
    assert [w.learnware_id for w in wanted] == [ann.learnware_id]
    without = catalog.search(req, 4, 3)  # its spec did not arrive: ranked by the sketch
    estimated = [m for m in without.single if m.approximate]
    assert [m.id for m in estimated] == [ann.learnware_id] and not without.exact
    assert "ranked by their sketches" in " ".join(without.notes)
    assert without.mixture is None or ann.learnware_id not in without.mixture.ids
    withheld = catalog.search(req, 4, 3, withheld={ann.learnware_id})
    assert ann.learnware_id not in {m.id for m in withheld.single}
    result = catalog.search(req, 4, 3, {ann.learnware_id: ann.statistical[0]})
    assert {m.id for m in result.single} == {*lids, ann.learnware_id} and result.exact
    # the same ranking as one catalog of all four full specs
    full = Catalog(index=False)
    for row in store.iter_announcements():
        offer = offer_of(row)
        specs = offer.statistical if isinstance(offer, SpecAnnouncement) else ann.statistical
        full.add(offer.learnware_id, SemanticSpec(), specs[0])
    exact = full.search(EngineRequirement(spec=req.spec), k=4, max_mixture=3, exact=True)
    assert [m.id for m in result.single] == [m.id for m in exact.single]
    assert np.allclose([m.mmd2 for m in result.single], [m.mmd2 for m in exact.single],
                       rtol=1e-6, atol=1e-9)
    assert (result.mixture is None) == (exact.mixture is None)
    if exact.mixture is not None:
        assert set(result.mixture.ids) == set(exact.mixture.ids)


async def test_a_restarted_owner_still_serves_its_own_specs_from_the_store(tmp_path):
    """What an owner serves is found from its stored announcements at start-up (no spec
    is kept in memory for it)."""
    from lwnode.config import load_config
    from lwnode.node.service import NodeService
    from lwnode.node.store import FileStore

    owner = ident("Restarted")
    spec = tiny_spec(3, d=D, n=60, k=8)
    with FileStore(tmp_path / "store") as store:
        publish_bytes(store, owner, content_of(3), spec=spec,
                      semantic=tiny_semantic("kept", D), organization="Org R")
    config = load_config(None, env={}, overrides={"node": {"organization": "Org R"},
                                                  "checks": {"isolation": "thread"}})
    store = FileStore(tmp_path / "store")
    service = NodeService(config, owner, store)
    await service.start()
    try:
        held = await service.specs_held([spec_id(spec), "sha256:" + "0f" * 32])
        assert list(held) == [spec_id(spec)] and held[spec_id(spec)] == encode_spec(spec)
    finally:
        await service.stop()
        store.close()


def test_the_spec_cache_keeps_checked_bytes_within_its_budget_least_recently_used_out():
    specs = [encode_spec(tiny_spec(i, d=D, n=60, k=8)) for i in range(3)]
    ids = ["sha256:" + hashlib.sha256(s).hexdigest() for s in specs]
    cache = SpecCache(max_bytes=len(specs[0]) * 2 + 10)
    assert not cache.put(ids[0], specs[1])  # bytes of another id
    assert cache.put(ids[0], specs[0]) and cache.put(ids[1], specs[1])
    cache.get(ids[0])  # ids[0] is now the most recently used
    assert cache.put(ids[2], specs[2])
    assert ids[1] not in cache and ids[0] in cache and ids[2] in cache
    assert cache.nbytes <= cache.max_bytes and cache.counters()["spec_cache_evicted"] == 1
    assert spec_id(cache.get(ids[2])) == ids[2]
    assert not SpecCache(max_bytes=10).put(ids[0], specs[0])  # larger than the cache
