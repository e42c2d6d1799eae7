"""Federation on the in-process network: gossip, the intake checks, anti-entropy, routing.

Real `NodeService`s (SQLite in memory, real signatures, real catalogs) joined by
`InProcessNetwork`, so every rule runs in milliseconds with faults the hub injects
(gossip loss, delay). The same code runs on libp2p in
``tests/integration/test_federation.py``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from lwtesting import (
    WAIT,
    announcement_row,
    content_of,
    publish_bytes,
    tiny_semantic,
    tiny_spec,
    until,
)

from engine.search import Requirement
from engine.specification import RKMETableSpec
from lwnode.config import TrustSection, load_config
from lwnode.errors import ConfigError
from lwnode.federation.layer import Federation
from lwnode.federation.p2p import InProcessHub, InProcessNetwork
from lwnode.federation.p2p.memory import memory_addr
from lwnode.federation.trust import TrustPolicy, owner_of_entry
from lwnode.node.records import sign_announcement, sign_withdrawal
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.service import NodeService
from lwnode.node.store.sqlite import MemoryStore
from protocol.codec import decode_message, encode_envelope, encode_message
from protocol.messages import ErrorReply, SyncRequest, SyncWant, now_ms
from protocol.signing import Identity
from protocol.sync import make_cursor
from protocol.versions import ANNOUNCE_TOPIC, SYNC_PROTOCOL

pytestmark = pytest.mark.timeout(60)

D = 4


def ident(name: str) -> Identity:
    return Identity.from_seed(hashlib.sha256(name.encode()).digest())


@dataclass
class Node:
    name: str
    service: NodeService
    network: InProcessNetwork

    @property
    def id(self) -> str:
        return self.service.node_id

    @property
    def federation(self) -> Federation:
        peers = self.service.peers
        assert isinstance(peers, Federation)
        return peers

    def counters(self) -> dict[str, int]:
        return self.federation.counters()


@asynccontextmanager
async def node(hub: InProcessHub, name: str, *, bootstrap: tuple[Node, ...] = (),
               trust: dict | None = None, sync: bool = True, sync_interval: float = 30.0,
               privacy: dict | None = None, replication: dict | None = None,
               p2p: dict | None = None):
    identity = ident(name)
    config = load_config(None, env={}, overrides={
        "node": {"organization": f"Org {name}"}, "checks": {"isolation": "thread"},
        "p2p": {"sync_interval": sync_interval, **(p2p or {})}, "trust": trust or {},
        "privacy": privacy or {}, "replication": replication or {}})
    network = InProcessNetwork(hub, identity.node_id,
                               bootstrap=tuple(memory_addr(b.id) for b in bootstrap))
    store = MemoryStore()
    service = NodeService(config, identity, store, Federation(network, sync=sync))
    await service.start()
    try:
        for b in bootstrap:
            await network.wait_connected(b.id, WAIT)
        yield Node(name, service, network)
    finally:
        await service.stop()
        store.close()


async def publish(n: Node, i: int, *, loc: float = 0.0, name: str = "",
                  scenarios: tuple[str, ...] = ()) -> str:
    """Host a learnware on `n` the way the node does (signed, stored, indexed, its
    summary gossiped)."""
    spec = tiny_spec(i, d=D, n=60, k=8, loc=loc)
    lid, _ = publish_bytes(n.service.store, n.service.identity, content_of(i), spec=spec,
                           semantic=tiny_semantic(name or f"model {i}", D,
                                                  scenarios=scenarios),
                           organization=n.service.organization)
    await n.service.offer(n.service.store.get_record(n.id, lid))
    return lid


async def withdraw(n: Node, lid: str) -> None:
    own = n.service.store.withdraw_own(
        lid, lambda seq: sign_withdrawal(n.service.identity, learnware_id=lid, sequence=seq,
                                         now=now_ms()), now_ms())
    row = n.service.store.get_record(own.owner, lid)
    n.service.catalog.apply(row)
    await n.federation.announce(row.envelope)


def requirement(*locs: float, n: int = 80, seed: int = 0) -> Requirement:
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(loc=loc, size=(n, D)) for loc in locs])
    return Requirement(None, RKMETableSpec(n_points=10, random_state=0).fit(x))


# -- gossip --------------------------------------------------------------------------------------
async def test_gossip_reaches_a_node_two_hops_away_and_so_do_withdrawals():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b, \
            node(hub, "C", bootstrap=(b,)) as c:
        lid = await publish(a, 1)
        await until(lambda: lid in c.service.catalog.ids(), "the announcement on C")
        assert [loc.owner for loc in c.service.catalog.locations(lid)] == [a.id]
        await withdraw(a, lid)
        await until(lambda: lid not in c.service.catalog.ids(), "the withdrawal on C")
        assert c.service.store.get_record(a.id, lid).kind == "withdrawal"
        assert c.counters()["records_rejected"] == 0
        assert c.counters()["records_accepted"] == 2


async def test_each_bad_record_is_refused_counted_and_leaves_the_catalog_unchanged():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        lid = await publish(a, 1)
        await until(lambda: lid in b.service.catalog.ids(), "A's announcement on B")
        old = a.service.store.get_record(a.id, lid).envelope
        await withdraw(a, lid)
        gone = await publish(a, 2)
        await until(lambda: lid not in b.service.catalog.ids()
                    and gone in b.service.catalog.ids(), "A's later records on B")
        before_ids = b.service.catalog.ids()
        before_rows = [b.service.store.get_record(a.id, i) for i in (lid, gone)]

        mallory = ident("Mallory")
        payload_at = old.index(b"statistical")
        forged = old[:payload_at + 40] + bytes([old[payload_at + 40] ^ 1]) + \
            old[payload_at + 41:]
        other_spec = announcement_row(mallory, gone, 1, spec=tiny_spec(9, d=D, loc=5.0),
                                      semantic=tiny_semantic("model 2", D), organization="M")
        impostor = announcement_row(mallory, "sha256:" + "ab" * 32, 1,
                                    semantic=tiny_semantic("fake", D),
                                    organization=a.service.organization)
        m = InProcessNetwork(hub, mallory.node_id, bootstrap=(memory_addr(b.id),))
        async with m:
            await m.wait_connected(b.id, WAIT)
            for data in (forged, other_spec.envelope, impostor.envelope, old):
                await m.publish(ANNOUNCE_TOPIC, data)
            await until(lambda: b.counters()["records_rejected"] == 4, "four rejections")
            counts = b.counters()
            assert {r: counts[f"rejected_{r}"] for r in ("bad_signature", "spec_mismatch",
                                                          "untrusted", "stale")} == \
                dict.fromkeys(("bad_signature", "spec_mismatch", "untrusted", "stale"), 1)
            assert b.service.catalog.ids() == before_ids
            assert [b.service.store.get_record(a.id, i) for i in (lid, gone)] == before_rows
            assert b.service.store.get_record(mallory.node_id, gone) is None
            peers = {p.node_id: p for p in await b.federation.peers()}
            assert peers[mallory.node_id].records_rejected == 4
            assert peers[a.id].records_rejected == 0 and peers[a.id].records_accepted == 3
            health = await b.service.health()
            assert health["peer_layer"]["counters"]["rejected_untrusted"] == 1


async def test_allowlist_mode_believes_only_the_listed_owners():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "C") as c:
        trust = {"mode": "allowlist", "allow": [a.id]}
        async with node(hub, "B", bootstrap=(a, c), trust=trust, sync=False) as b:
            mine, theirs = await publish(a, 1), await publish(c, 2)
            await until(lambda: mine in b.service.catalog.ids(), "A's record on B")
            await until(lambda: b.counters()["rejected_untrusted"] == 1, "C refused")
            assert theirs not in b.service.catalog.ids()


async def test_an_allowlist_node_asks_and_answers_only_listed_peers():
    """The user's requirement goes to listed peers only; a stranger's search and sync
    requests are refused with `forbidden`, a member's are served."""
    from protocol.codec import encode_message as encode
    from protocol.messages import Requirement as WireRequirement
    from protocol.messages import SearchRequest, SearchResponse
    from protocol.versions import SEARCH_PROTOCOL

    hub = InProcessHub()
    # the stranger runs no anti-entropy of its own: its rounds would be refused too, and
    # counted, whenever one falls inside the test (seen under load)
    async with node(hub, "A") as a, node(hub, "S", sync=False) as stranger:
        trust = {"mode": "allowlist", "allow": [a.id]}
        async with node(hub, "B", bootstrap=(a, stranger), trust=trust) as b:
            await publish(a, 1)
            answer = await b.service.search(SearchQuery(requirement(0.0), 5, 3))
            assert answer.asked == (a.id,), answer.asked  # not the stranger
            req = requirement(0.0)
            request = encode(SearchRequest("a" * 32, WireRequirement(req.semantic, req.spec), 5,
                                           0, 1, (), 2000))
            refused = decode_message(await stranger.network.request(
                b.id, SEARCH_PROTOCOL, request, timeout=WAIT))
            assert isinstance(refused, ErrorReply) and refused.code == "forbidden"
            sync = encode(SyncRequest((SyncWant(a.id, 0),), b""))
            refused = decode_message(await stranger.network.request(
                b.id, SYNC_PROTOCOL, sync, timeout=WAIT))
            assert isinstance(refused, ErrorReply) and refused.code == "forbidden"
            assert b.counters()["requests_refused"] == 2
            served = decode_message(await a.network.request(b.id, SEARCH_PROTOCOL, request,
                                                            timeout=WAIT))
            assert isinstance(served, SearchResponse)


def test_allowlist_entries_are_node_ids_or_public_keys():
    owner = ident("K")
    assert owner_of_entry(owner.public_key.hex(), "x") == owner.node_id
    assert owner_of_entry(f" {owner.node_id} ", "x") == owner.node_id
    with pytest.raises(ConfigError, match=r"\[trust\] allow\[0\]"):
        TrustPolicy.from_config(TrustSection("allowlist", ("lwn1-not-an-id",)), owner.node_id)


# -- anti-entropy --------------------------------------------------------------------------------
async def test_lost_gossip_and_late_joiners_are_repaired_by_paginated_sync():
    hub = InProcessHub()
    owner = ident("X")
    spec = tiny_spec(0, d=D, k=5)
    rows = [announcement_row(owner, f"sha256:{i:064x}", i + 1, spec=spec,
                             semantic=tiny_semantic(f"x{i}", D), organization="X")
            for i in range(600)]  # more than one page (MAX_SYNC_RECORDS = 512)
    async with node(hub, "A") as a:
        a.service.store.put_records(rows)
        for row in rows:
            a.service.catalog.apply(row)
        async with node(hub, "B", bootstrap=(a,)) as b:
            hub.set_drop(b.id, 1.0)  # B hears no gossip at all
            lid = await publish(a, 1)
            await until(lambda: len(b.service.catalog) == 601, "B in sync")
            assert b.counters()["gossip_received"] == 0
            assert b.counters()["sync_records_pulled"] >= 601
            async with node(hub, "C", bootstrap=(b,)) as c:
                await until(lambda: len(c.service.catalog) == 601, "C in sync")
                assert lid in c.service.catalog.ids()
                assert c.service.store.owner_sequences(owner.node_id) == \
                    a.service.store.owner_sequences(owner.node_id)
            # Nothing new: a second round pulls nothing.
            pulled = b.counters()["sync_records_pulled"]
            await b.federation.sync_now(a.id)
            assert b.counters()["sync_records_pulled"] == pulled


async def test_records_learnt_by_sync_spread_hop_by_hop_without_waiting_a_round():
    hub = InProcessHub()
    async with node(hub, "A", sync_interval=3600) as a, \
            node(hub, "B", bootstrap=(a,), sync_interval=3600) as b, \
            node(hub, "C", bootstrap=(b,), sync_interval=3600) as c:
        await until(lambda: not b.federation._syncing and not c.federation._syncing,
                    "the rounds on connect")
        owner = ident("Y")
        rows = [announcement_row(owner, f"sha256:{i:064x}", i + 1, organization="Y",
                                 semantic=tiny_semantic(f"y{i}", D)) for i in range(3)]
        a.service.store.put_records(rows)  # never gossiped: only sync can spread them
        assert (await b.federation.sync_now(a.id)).accepted == 3
        # B's news starts a round with C; C sees B ahead and pulls at once.
        await until(lambda: len(c.service.catalog) == 3, "the records on C")
        assert c.counters()["gossip_received"] == 0


async def test_a_sync_request_with_a_cursor_we_never_issued_gets_an_error_reply():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,), sync=False) as b:
        bad = SyncRequest((SyncWant(a.id, 0),), cursor=make_cursor(ident("Z").node_id, 3))
        raw = await b.network.request(a.id, SYNC_PROTOCOL, encode_message(bad))
        reply = decode_message(raw, ErrorReply)
        assert reply.code == "bad_request" and "cursor" in reply.message


# -- routed search -----------------------------------------------------------------------------
async def test_routed_search_admits_peers_hits_and_mixes_across_owners():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        on_a = await publish(a, 1, loc=0.0, name="low")
        on_b = await publish(b, 2, loc=6.0, name="high")
        async with node(hub, "D", bootstrap=(a, b), sync=False) as d:
            hub.set_drop(d.id, 1.0)
            assert len(d.service.catalog) == 0  # D knows nothing by itself
            answer = await d.service.search(SearchQuery(requirement(0.0, 6.0), 5, 3))
            assert {h.learnware_id: h.owner for h in answer.hits} == {on_a: a.id, on_b: b.id}
            assert answer.mixture is not None and set(answer.mixture.ids) == {on_a, on_b}
            assert {h.owner for h in answer.mixture_hits} == {a.id, b.id}
            assert set(answer.asked) == set(answer.answered) == {a.id, b.id}
            assert not answer.partial and not any(h.local for h in answer.hits)
            # The verified hits were admitted: D can now say where they live.
            assert d.service.catalog.ids() == {on_a, on_b}
            assert d.counters()["records_accepted"] == 2


async def test_a_slow_peer_costs_the_deadline_and_is_named():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B") as b, \
            node(hub, "D", bootstrap=(a, b), sync=False) as d:
        await publish(a, 1)
        hub.set_delay(b.id, 2.0)
        began = time.perf_counter()
        answer = await d.service.search(SearchQuery(requirement(0.0), 5, 3, deadline_ms=300))
        took = time.perf_counter() - began
        assert 0.25 < took < 0.8, took
        assert answer.partial and answer.missed == (b.id,)
        assert answer.answered == (a.id,) and len(answer.hits) == 1


async def test_hits_of_owners_the_asker_does_not_trust_are_dropped():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,)) as b:
        await publish(a, 1)
        theirs = await publish(b, 2)
        await until(lambda: theirs in a.service.catalog.ids(), "B's record on A")
        trust = {"mode": "allowlist", "allow": [a.id]}
        async with node(hub, "D", bootstrap=(a,), trust=trust, sync=False) as d:
            hub.set_drop(d.id, 1.0)
            answer = await d.service.search(SearchQuery(requirement(0.0), 5, 3))
            assert {h.owner for h in answer.hits} == {a.id}
            assert d.counters()["rejected_untrusted"] == 1


async def test_a_signed_record_served_under_another_owners_id_is_a_bad_signature():
    """An envelope whose payload names an owner that did not sign it."""
    a, m = ident("A2"), ident("M2")
    ann = sign_announcement(a, learnware_id="sha256:" + "cd" * 32, organization="A2",
                            semantic=tiny_semantic(), spec=tiny_spec(), size=10,
                            urls=("http://a.example/p",), sequence=1, now=0)
    from protocol.codec import decode_envelope

    env = decode_envelope(ann.envelope)
    relabelled = encode_envelope(type(env)(env.payload, m.public_key, env.signature))
    from lwnode.federation.intake import check_envelope

    verdict = check_envelope(relabelled, 0)
    assert getattr(verdict, "outcome", None) == "bad_signature"


async def test_an_identical_copy_is_a_duplicate_but_a_tampered_one_is_still_checked():
    hub = InProcessHub()
    async with node(hub, "A", sync=False) as a:
        owner = ident("Q")
        row = announcement_row(owner, "sha256:" + "12" * 32, 1, organization="Q",
                               semantic=tiny_semantic("q", D))
        intake = a.federation.intake
        assert [v.outcome for v in await intake.take([row.envelope], via="sync",
                                                     peer=owner.node_id)] == ["accepted"]
        copy = bytes(row.envelope)
        tampered = copy[:-1] + bytes([copy[-1] ^ 1])  # the signature's last byte
        verdicts = await intake.take([copy, tampered], via="gossip", peer=owner.node_id)
        assert [v.outcome for v in verdicts] == ["duplicate", "bad_signature"]


# -- stopping ------------------------------------------------------------------------------------
async def test_a_node_stopped_just_after_it_starts_logs_no_failure(caplog):
    """The tasks the peer layer spawns at start (re-dialling known peers) meet a node
    that is already stopping: that is the stop, not a failure to report."""
    hub = InProcessHub()
    caplog.set_level(logging.ERROR)
    for i in range(5):  # the race is the first await of the spawned task: try a few times
        async with node(hub, f"quick {i}"):
            pass
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]
