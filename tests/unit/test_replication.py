"""Selective replication: a node keeps part of the catalog and still finds the rest.

`[replication]` names the data types and scenario tags a node keeps
(`protocol.replication`). Real `NodeService`s on the in-process network (the helpers
of test_federation_memory): gossip and anti-entropy bring a filtering node only its
part, digests compared over what both sides keep converge (a second round pulls
nothing, in either direction), and routed search still reaches the learnwares it
does not keep.
"""

from __future__ import annotations

import pytest
from lwtesting import announcement_row, tiny_semantic, tiny_spec, until, withdrawal_row
from test_federation_memory import D, ident, node, publish, requirement

from lwnode.config import load_config
from lwnode.errors import ConfigError
from lwnode.federation.antientropy import digest_entries
from lwnode.federation.p2p import InProcessHub
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.store.sqlite import MemoryStore
from protocol.codec import decode_message, encode_message
from protocol.errors import ProtocolError
from protocol.messages import Digest, DigestEntry, SyncRequest, SyncWant
from protocol.replication import KEEP_ALL, ReplicationFilter, narrowing

pytestmark = pytest.mark.timeout(60)

FINANCE = {"scenarios": ["finance"]}


# -- the filter and its wire form -----------------------------------------------------------------
def test_a_filter_matches_by_data_type_and_any_of_its_tags():
    f = ReplicationFilter(data_types=("table",), scenarios=("Finance ", "health"))
    assert f.scenarios == ("finance", "health")  # as the semantic spec normalises tags
    assert f.matches("table", ("finance", "retail"))
    assert not f.matches("table", ("retail",))
    assert not f.matches("text", ("finance",))
    assert KEEP_ALL.matches("image", ()) and KEEP_ALL.keeps_all
    assert narrowing((KEEP_ALL, f, f)) == (f,)


@pytest.mark.parametrize("bad", [{"data_types": ("tabel",)}, {"data_types": "table"},
                                 {"scenarios": ("",)}, {"scenarios": ("x" * 65,)},
                                 {"scenarios": tuple(f"t{i}" for i in range(33))}])
def test_a_malformed_filter_is_refused(bad):
    with pytest.raises(ProtocolError):
        ReplicationFilter(**bad)


def test_filters_travel_in_digests_and_sync_requests_and_are_absent_when_unset():
    f = ReplicationFilter(scenarios=("finance",))
    digest = Digest(ident("A").node_id, "", "", (), holds=f)
    assert decode_message(encode_message(digest), Digest).holds == f
    plain = Digest(ident("A").node_id, "", "", ())
    assert b"holds" not in encode_message(plain)  # a 1.3 node's bytes but for the version
    request = SyncRequest((SyncWant(ident("B").node_id, 0),), filters=(f,))
    assert decode_message(encode_message(request), SyncRequest).filters == (f,)
    assert b"filters" not in encode_message(SyncRequest((SyncWant(ident("B").node_id, 0),)))


def test_the_config_section_is_checked():
    config = load_config(None, env={"LWDOCK_REPLICATION_SCENARIOS": "finance,health"})
    assert config.replication.filter == ReplicationFilter(scenarios=("finance", "health"))
    with pytest.raises(ConfigError, match="'tabel' is not one of"):
        load_config(None, env={}, overrides={"replication": {"data_types": ["tabel"]}})
    with pytest.raises(ConfigError, match="replication"):
        load_config(None, env={}, overrides={"replication": {"scenarios": ["x" * 80]}})


def test_digests_and_pages_cover_only_the_records_that_pass_the_filters():
    store = MemoryStore()
    owner = ident("X")
    for i, tags in enumerate([("finance",), ("health",), ("finance", "health"), ()]):
        store.put_record(announcement_row(owner, f"sha256:{i:064x}", i + 1, organization="X",
                                          semantic=tiny_semantic(f"x{i}", D, scenarios=tags),
                                          spec=tiny_spec(i, d=D, k=5)))
    finance = ReplicationFilter(scenarios=("finance",))
    assert [e.count for e in digest_entries(store)] == [4]
    assert [e.count for e in digest_entries(store, filters=(finance,))] == [2]
    both = (finance, ReplicationFilter(scenarios=("health",)))
    assert [e.count for e in digest_entries(store, filters=both)] == [1]
    assert [r.sequence for r in store.records_after(owner.node_id, 0, 10, (finance,))] == [1, 3]
    assert digest_entries(store, filters=(ReplicationFilter(data_types=("text",)),)) == []
    # withdrawals pass every filter (the store's query is the rule)
    store.put_record(withdrawal_row(owner, f"sha256:{1:064x}", 9))
    text_only = (ReplicationFilter(data_types=("text",)),)
    assert [r.kind for r in store.records_after(owner.node_id, 0, 10, text_only)] == \
        ["withdrawal"]
    store.close()


# -- nodes ---------------------------------------------------------------------------------------
async def test_a_filtering_node_keeps_its_part_by_gossip():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,), replication=FINANCE) as b:
        kept = await publish(a, 1, scenarios=("finance",))
        other = await publish(a, 2, loc=6.0, scenarios=("health",))
        await until(lambda: kept in b.service.catalog.ids(), "the finance learnware on B")
        await until(lambda: b.counters()["records_not_kept"] == 1, "the other one left out")
        assert other not in b.service.catalog.ids()
        assert b.service.store.get_record(a.id, other) is None
        assert b.counters()["records_rejected"] == 0  # a choice, not a refusal


def third_party_rows(tags: list[tuple[str, ...]]) -> list:
    """Records of an owner no node here is: only anti-entropy spreads them."""
    owner = ident("X")
    return [announcement_row(owner, f"sha256:{i:064x}", i + 1, organization="X",
                             semantic=tiny_semantic(f"x{i}", D, scenarios=t),
                             spec=tiny_spec(i, d=D, k=5)) for i, t in enumerate(tags)]


async def test_sync_brings_a_filtering_node_its_part_and_digests_converge_both_ways():
    hub = InProcessHub()
    rows = third_party_rows([("finance",), ("health",), ("finance", "retail")])
    async with node(hub, "A") as a:
        a.service.store.put_records(rows)
        for row in rows:
            a.service.catalog.apply(row)
        async with node(hub, "B", bootstrap=(a,), replication=FINANCE) as b:
            await until(lambda: len(b.service.catalog) == 2, "B's part by sync")
            assert b.service.catalog.ids() == {rows[0].learnware_id, rows[2].learnware_id}
            assert b.counters()["records_not_kept"] == 0  # the pages held only its part
            async with node(hub, "D", bootstrap=(a, b)) as d:  # keeps everything
                await until(lambda: len(d.service.catalog) == 3, "D in sync")
                # Compared over what both keep, the digests agree: a second round pulls
                # nothing, whoever pulls, the full node from the filtering one included.
                for puller, source in ((b, a), (d, b), (b, d), (d, a)):
                    result = await puller.federation.sync_now(source.id)
                    assert (result.wants, result.records) == (0, 0), (puller.name, source.name)


async def test_a_withdrawal_reaches_a_filtering_node_that_held_the_learnware():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,), replication=FINANCE) as b:
        from test_federation_memory import withdraw

        kept = await publish(a, 1, scenarios=("finance",))
        await until(lambda: kept in b.service.catalog.ids(), "the learnware on B")
        await withdraw(a, kept)
        await until(lambda: kept not in b.service.catalog.ids(), "the withdrawal on B")


async def test_routed_search_reaches_a_learnware_the_node_does_not_keep():
    hub = InProcessHub()
    async with node(hub, "A") as a, node(hub, "B", bootstrap=(a,), replication=FINANCE) as b:
        await publish(a, 1, scenarios=("finance",))
        health = await publish(a, 2, loc=6.0, scenarios=("health",))
        await until(lambda: b.counters()["records_not_kept"] == 1, "the health one left out")
        answer = await b.service.search(SearchQuery(requirement(6.0), 5, 1))
        assert answer.hits[0].learnware_id == health
        assert answer.hits[0].owner == a.id and a.id in answer.answered
        health_json = await b.service.health()
        assert health_json["replication"]["keeps"] == "learnwares tagged finance"


async def test_a_filtering_node_does_not_pull_from_a_peer_older_than_1_4():
    """A 1.3 peer ignores `holds` and answers for everything it keeps: pulling from it
    would bring, every round, what this node does not keep."""
    from test_protocol_samples import raw

    from lwnode.federation.p2p import InProcessNetwork
    from lwnode.federation.p2p.memory import memory_addr
    from protocol.sync import owner_fingerprint
    from protocol.versions import SYNC_PROTOCOL

    hub = InProcessHub()
    old = InProcessNetwork(hub, ident("old").node_id)
    asked: list[str] = []

    async def answer_as_1_3(peer: str, data: bytes) -> bytes:
        asked.append(decode_message(data).TYPE)
        entry = DigestEntry(ident("X").node_id, 5, 5, owner_fingerprint([("a", 5)]))
        return raw(Digest(old.node_id, "", "", (entry,)), version=[1, 3])

    old.set_handler(SYNC_PROTOCOL, answer_as_1_3)
    await old.start()
    try:
        async with node(hub, "B", replication=FINANCE) as b:
            await b.network.connect(memory_addr(old.node_id))
            result = await b.federation.sync_now(old.node_id)
            assert (result.wants, result.records) == (0, 0)
            assert b.counters()["sync_rounds_skipped_old_peer"] >= 1
            assert "sync_request" not in asked
    finally:
        await old.stop()


def test_routed_search_asks_the_peers_that_keep_the_requirements_kind_first():
    from engine.specification import SemanticSpec
    from lwnode.federation.routing import prefer_keepers
    from protocol.messages import Requirement as WireRequirement

    table = requirement(0.0).spec
    keeps = {"text-only": ReplicationFilter(data_types=("text",)),
             "finance": ReplicationFilter(scenarios=("finance",)),
             "all": KEEP_ALL}
    peers = ["text-only", "unknown", "finance", "all"]
    plain = WireRequirement(None, table)
    assert prefer_keepers(peers, keeps, plain) == ["all", "unknown", "finance", "text-only"]
    tagged = WireRequirement(SemanticSpec(scenarios=("finance",)), table)
    assert prefer_keepers(peers, keeps, tagged) == ["finance", "all", "unknown", "text-only"]
    health = WireRequirement(SemanticSpec(scenarios=("health",)), table)
    assert prefer_keepers(peers, keeps, health)[-2:] == ["text-only", "finance"]


async def test_a_node_learns_what_its_peers_keep_from_their_digests():
    hub = InProcessHub()
    async with node(hub, "A", replication={"data_types": ["text"]}) as a, \
            node(hub, "B", bootstrap=(a,), replication=FINANCE) as b:
        await b.federation.sync_now(a.id)
        assert b.federation.antientropy.keeps_of[a.id] == ReplicationFilter(data_types=("text",))
        assert a.federation.antientropy.keeps_of[b.id] == ReplicationFilter(scenarios=("finance",))


async def test_a_filtering_node_serves_all_of_its_own_learnwares_by_sync():
    """What a node keeps of others' learnwares says nothing about its own: a peer that
    missed the gossip gets all that it keeps of them by sync, and the digests still
    converge."""
    hub = InProcessHub()
    async with node(hub, "B", replication=FINANCE) as b:
        own = {await publish(b, 1, scenarios=("health",)),
               await publish(b, 2, loc=6.0, scenarios=("finance",))}
        async with node(hub, "D", bootstrap=(b,)) as d, \
                node(hub, "E", bootstrap=(b,), replication={"scenarios": ["retail"]}) as e:
            await until(lambda: own <= d.service.catalog.ids(), "B's learnwares on D")
            await until(lambda: not e.federation._syncing, "E's first rounds")
            assert not own & e.service.catalog.ids()  # E keeps retail only
            for puller, source in ((d, b), (b, d), (e, b), (b, e), (d, e), (e, d)):
                result = await puller.federation.sync_now(source.id)
                assert (result.wants, result.records) == (0, 0), (puller.name, source.name)


async def test_a_peer_cannot_change_its_filter_at_will():
    """A digest under a filter not seen before is a pass over the store: a peer may
    change what it says it keeps once a minute, not with every digest."""
    from protocol.messages import ErrorReply
    from protocol.versions import SYNC_PROTOCOL

    hub = InProcessHub()
    async with node(hub, "A", sync=False) as a, \
            node(hub, "B", bootstrap=(a,), sync=False) as b:
        async def ask(tag: str) -> object:
            digest = Digest(b.id, "", "", (), holds=ReplicationFilter(scenarios=(tag,)))
            raw = await b.network.request(a.id, SYNC_PROTOCOL, encode_message(digest))
            return decode_message(raw, (Digest, ErrorReply))

        assert isinstance(await ask("finance"), Digest)
        assert isinstance(await ask("finance"), Digest)  # the same filter: answered
        assert isinstance(await ask("health"), Digest)  # a change: answered
        refused = await ask("retail")  # another within the minute
        assert isinstance(refused, ErrorReply) and "changed its replication filter" in \
            refused.message
        assert a.federation.antientropy.keeps_of[b.id] == ReplicationFilter(
            scenarios=("health",))


def test_cached_digests_under_filters_follow_every_change():
    """The fingerprints kept per filter combination (and for an exempt owner) are the
    ones a fresh computation gives, after each write."""
    from lwnode.federation.antientropy import Digests

    store = MemoryStore()
    x, y = ident("X"), ident("Y")
    finance = (ReplicationFilter(scenarios=("finance",)),)
    digests = Digests()
    views = [((), "", ()), (finance, "", ()), (finance, y.node_id, ()),
             (finance, y.node_id, (ReplicationFilter(data_types=("text",)),))]
    rows = [announcement_row(owner, f"sha256:{i:064x}", i + 1, organization=name,
                             semantic=tiny_semantic(f"m{i}", D, scenarios=tags),
                             spec=tiny_spec(i, d=D, k=5))
            for i, (owner, name, tags) in enumerate([
                (x, "X", ("finance",)), (y, "Y", ("health",)), (x, "X", ()),
                (y, "Y", ("finance",)), (x, "X", ("finance", "health"))])]
    for row in rows:
        store.put_record(row)
        for filters, exempt, exempt_filters in views:
            assert digests.entries(store, "", "", filters, exempt, exempt_filters) == \
                digest_entries(store, "", "", filters, exempt, exempt_filters)
    by_view = [sum(e.count for e in digest_entries(store, "", "", f, ex, ef))
               for f, ex, ef in views]
    assert by_view == [5, 3, 4, 2]  # Y's own records count whatever the filter but its own
    store.close()


async def test_a_node_that_does_not_keep_a_learnware_still_relays_its_spec():
    """C keeps finance and knows A's finance learnware by its summary (gossip crossed B);
    B keeps health, so it does not know the spec's owner: it passes C's request on to its
    peers (A) instead of answering with nothing, and C ranks by the full spec."""
    hub = InProcessHub()
    async with node(hub, "A") as a, \
            node(hub, "B", bootstrap=(a,), replication={"scenarios": ["health"]}) as b, \
            node(hub, "C", bootstrap=(b,), replication=FINANCE) as c:
        lid = await publish(a, 1, scenarios=("finance",))
        await until(lambda: lid in c.service.catalog.ids(), "A's summary on C")
        assert lid not in b.service.catalog.ids()
        assert a.id not in {p.node_id for p in await c.federation.peers() if p.connected}
        answer = await c.service.search_local(SearchQuery(requirement(0.0), 5, 3))
        assert [(h.learnware_id, h.approximate) for h in answer.hits] == [(lid, False)], \
            answer.notes
        assert a.counters()["spec_requests_served"] == 1  # through B


async def test_news_spreads_hop_by_hop_among_nodes_that_keep_the_same_part():
    """B and C keep finance; what B learns by sync reaches C at once (B's next digest to
    C shows it ahead), not one anti-entropy interval per hop."""
    hub = InProcessHub()
    async with node(hub, "A", sync_interval=3600) as a, \
            node(hub, "B", bootstrap=(a,), sync_interval=3600, replication=FINANCE) as b, \
            node(hub, "C", bootstrap=(b,), sync_interval=3600, replication=FINANCE) as c:
        await until(lambda: not b.federation._syncing and not c.federation._syncing,
                    "the rounds on connect")
        rows = third_party_rows([("finance",), ("health",), ("finance",)])
        a.service.store.put_records(rows)  # never gossiped: only sync can spread them
        assert (await b.federation.sync_now(a.id)).accepted == 2
        await until(lambda: len(c.service.catalog) == 2, "B's news on C")
        assert c.counters()["gossip_received"] == 0
