"""The disk budget (``[replication] max_disk_mb``): a node over it narrows what it keeps.

The decision is a pure function (`lwnode.node.diskbudget.decide`), checked rule by rule
first. Then real `NodeService`s on real SQLite store files and persisted indexes, over
the in-process network as the other replication tests: a node with a tiny budget
narrows to its interests, deletes peers' learnwares outside them, states the narrowed
filter in its digests, still finds what it dropped by routed search, keeps the choice
across a restart; a node with nothing to narrow to stops taking new peers' learnwares
and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from lwtesting import announcement_row, content_of, publish_bytes, tiny_semantic, tiny_spec, until
from test_federation_memory import Node, ident

from engine.search import Requirement
from engine.specification import RKMETableSpec, SemanticSpec
from lwnode.config import load_config, render_toml
from lwnode.errors import ConfigError
from lwnode.federation.layer import Federation
from lwnode.federation.p2p import InProcessHub, InProcessNetwork
from lwnode.federation.p2p.memory import memory_addr
from lwnode.node.diskbudget import LOW_WATER, Tally, decide, interests, within
from lwnode.node.searchtypes import SearchQuery
from lwnode.node.service import NodeService, _dir_bytes
from lwnode.node.store.sqlite import FileStore
from protocol.replication import KEEP_ALL, ReplicationFilter

pytestmark = pytest.mark.timeout(120)

F = ReplicationFilter
MB = 1_000_000
WIDE = 16
"""Columns of the third-party learnwares: big enough specs that a few hundred fill 1 MB."""


# -- the decision ----------------------------------------------------------------------------
def tally(**kw) -> Tally:
    base = dict(records=1000, peers=990,
                peers_by_type={"table": 900, "text": 90},
                peers_by_tag={("table", "finance"): 100, ("table", "health"): 700,
                              ("table", ""): 100, ("text", "finance"): 90},
                own_tags={"finance": 3}, own_types={"table": 10})
    base.update(kw)
    return Tally(**base)


def test_under_the_budget_or_without_one_nothing_changes():
    for used, budget in ((10, 100), (100, 100), (10**12, 0)):
        d = decide(used, budget, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True)
        assert (d.action, d.keeps) == ("keep", KEEP_ALL)


def test_over_the_budget_a_node_narrows_to_its_own_tags_and_searched_ones_first():
    # 1,000 records in 100 MB: 0.1 MB each; own + withdrawals = 10 records
    d = decide(100 * MB, 80 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(), searched={"traffic": 5})
    assert d.action == "narrow"
    assert d.keeps == F(scenarios=("finance", "traffic"))
    assert "over the budget" in d.why


def test_a_rung_must_fit_in_the_low_water_mark_else_the_next_is_tried():
    # own + searched: 10 + 190 + 700 records = 90 MB, over 0.9 x 80; own tags alone fit
    d = decide(100 * MB, 80 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(), searched={"health": 9})
    assert (d.action, d.keeps) == ("narrow", F(scenarios=("finance",)))
    # the same with a budget the own tags (20 MB) do not fit in at 90 %: stop
    d = decide(100 * MB, 21 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(), searched={"health": 9})
    assert d.action == "stop" and d.keeps == KEEP_ALL
    assert "do not fit" in d.why
    assert tally().estimate(100 * MB, F(scenarios=("finance",))) == 20 * MB
    assert 20 * MB <= LOW_WATER * 23 * MB  # (so 23 MB would narrow)


def test_an_organization_publishing_in_many_domains_keeps_those_it_serves_most():
    t = tally(own_tags={"health": 1, "finance": 5, "traffic": 2})
    assert interests(KEEP_ALL, t, {"nature": 4}) == [
        F(scenarios=("finance", "health", "nature", "traffic")),
        F(scenarios=("finance", "health", "traffic")), F(scenarios=("finance", "traffic")),
        F(scenarios=("finance",))]
    # finance + health + traffic: 10 + 890 records = 90 MB > 0.9 x 80 MB; finance + traffic
    # (no traffic learnwares stored) 20 MB fits
    d = decide(100 * MB, 80 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=t)
    assert (d.action, d.keeps) == ("narrow", F(scenarios=("finance", "traffic")))


def test_without_tags_the_own_data_types_are_the_interest():
    bare = tally(own_tags={}, own_types={"text": 2})
    assert interests(KEEP_ALL, bare, {}) == [F(data_types=("text",))]
    d = decide(100 * MB, 99 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=bare)
    assert (d.action, d.keeps) == ("narrow", F(data_types=("text",)))
    assert d.considered == ()


def test_without_interests_a_node_keeps_the_most_common_tags_that_fit():
    # 0.101 MB a record; own + withdrawals 10 records, health 700, finance 180, traffic 10
    consumer = tally(own_tags={}, own_types={},
                     peers_by_tag={("table", "finance"): 100, ("table", "health"): 700,
                                   ("table", ""): 100, ("text", "finance"): 80,
                                   ("table", "traffic"): 10})
    assert interests(KEEP_ALL, consumer, {}) == []
    # 90 % of 100 MB: health + finance (890 records, 89.9 MB) fit, and traffic not
    d = decide(101 * MB, 100 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=consumer)
    assert (d.action, d.keeps, d.considered) == ("narrow", F(scenarios=("finance", "health")),
                                                 ())
    assert "no interests yet" in d.why and "most common tags" in d.why
    # 90 % of 99 MB: health fits, finance is passed over, traffic (smaller) still fits
    d = decide(101 * MB, 99 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=consumer)
    assert (d.action, d.keeps) == ("narrow", F(scenarios=("health", "traffic")))
    # bounded by the configured data types
    d = decide(101 * MB, 99 * MB, current=F(data_types=("text",)),
               configured=F(data_types=("text",)), taking_new=True, tally=consumer)
    assert (d.action, d.keeps) == ("narrow", F(("text",), ("finance",)))
    # nothing tagged, or no tag that fits: keep what it has, take nothing new
    d = decide(101 * MB, 99 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(own_tags={}, own_types={}, peers_by_tag={("table", ""): 990}))
    assert d.action == "stop" and "nothing to narrow to" in d.why
    d = decide(101 * MB, 30 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(own_tags={}, own_types={},
                           peers_by_tag={("table", "health"): 700, ("table", "x"): 290}))
    assert d.action == "stop"
    # once narrowed to them, over the budget again: fewer of them (cut to the current)
    d = decide(101 * MB, 80 * MB, current=F(scenarios=("finance", "health")),
               configured=KEEP_ALL, taking_new=True, tally=consumer)
    assert (d.action, d.keeps) == ("narrow", F(scenarios=("health",)))


def test_a_later_interest_widens_an_automatic_filter_once():
    consumer = tally(own_tags={}, own_types={})
    common = F(scenarios=("health",))
    # chosen with no interests: a first search makes the node choose anew from the
    # configured filter (the interests' rungs, not cut to the current filter)
    d = decide(70 * MB, 99 * MB, current=common, configured=KEEP_ALL, taking_new=True,
               tally=consumer, searched={"traffic": 1}, considered=())
    assert (d.action, d.keeps, d.considered) == ("widen", F(scenarios=("traffic",)),
                                                 ("traffic",))
    assert "new interests (traffic)" in d.why
    # an own learnware with no tags: its data type, in place of the common tags
    d = decide(70 * MB, 99 * MB, current=common, configured=KEEP_ALL, taking_new=True,
               tally=tally(own_tags={}, own_types={"text": 1}), considered=())
    assert (d.action, d.keeps) == ("widen", F(data_types=("text",)))
    # chosen from interests: a new one is added to it
    d = decide(30 * MB, 99 * MB, current=F(scenarios=("finance",)), configured=KEEP_ALL,
               taking_new=True, tally=tally(), searched={"traffic": 1},
               considered=("finance",))
    assert (d.action, d.keeps, d.considered) == (
        "widen", F(scenarios=("finance", "traffic")), ("finance", "traffic"))
    # ... once: with it considered, nothing changes (a later narrowing may drop it)
    for current in (F(scenarios=("finance", "traffic")), F(scenarios=("finance",))):
        d = decide(30 * MB, 99 * MB, current=current, configured=KEEP_ALL, taking_new=True,
                   tally=tally(), searched={"traffic": 1}, considered=("finance", "traffic"))
        assert (d.action, d.keeps) == ("keep", current)
    # not when the estimate does not fit: finance + health, 10 + 190 + 850 records
    # (at most the 990 stored) of 0.1 MB, over 0.9 x 100 MB
    big = tally(peers_by_tag={("table", "finance"): 100, ("table", "health"): 850,
                              ("text", "finance"): 90})
    d = decide(100 * MB, 100 * MB, current=F(scenarios=("finance",)), configured=KEEP_ALL,
               taking_new=True, tally=big, searched={"health": 1}, considered=("finance",))
    assert (d.action, d.keeps) == ("keep", F(scenarios=("finance",)))
    # not the configured filter (considered None), not under configured scenarios
    d = decide(30 * MB, 99 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=tally(), searched={"traffic": 1})
    assert d.action == "keep"
    d = decide(30 * MB, 99 * MB, current=F(scenarios=("finance",)),
               configured=F(scenarios=("finance",)), taking_new=True, tally=tally(),
               searched={"traffic": 1}, considered=("finance",))
    assert d.action == "keep"


def test_a_consumer_whose_users_searched_narrows_to_what_they_search():
    consumer = tally(own_tags={}, own_types={})
    d = decide(100 * MB, 99 * MB, current=KEEP_ALL, configured=KEEP_ALL, taking_new=True,
               tally=consumer, searched={"traffic": 2, "finance": 1})
    assert (d.action, d.keeps) == ("narrow", F(scenarios=("finance", "traffic")))


def test_the_configured_filter_bounds_every_rung_and_named_scenarios_are_final():
    types = F(data_types=("table",))
    assert interests(types, tally(), {"traffic": 1}) == [
        F(("table",), ("finance", "traffic")), F(("table",), ("finance",))]
    assert interests(F(scenarios=("health",)), tally(), {"traffic": 1}) == []
    d = decide(100 * MB, 50 * MB, current=F(scenarios=("health",)),
               configured=F(scenarios=("health",)), taking_new=True, tally=tally())
    assert d.action == "stop"


def test_an_automatic_filter_only_narrows():
    current = F(scenarios=("finance", "traffic"))
    assert within(F(scenarios=("finance", "health")), current) == F(scenarios=("finance",))
    assert within(F(scenarios=("health",)), current) is None
    assert within(F(data_types=("table",)), current) == F(("table",), ("finance", "traffic"))
    # the same rung again is no narrowing: over the budget under it, the node stops
    d = decide(100 * MB, 99 * MB, current=F(scenarios=("finance",)), configured=KEEP_ALL,
               taking_new=True, tally=tally())
    assert d.action == "stop"


def test_a_stopped_node_takes_new_learnwares_again_only_well_under_the_budget():
    def after(used: int) -> str:
        return decide(used, 100 * MB, current=KEEP_ALL, configured=KEEP_ALL,
                      taking_new=False).action

    assert after(120 * MB) == "keep"
    assert after(95 * MB) == "keep"  # under the budget, above the low-water mark: no flap
    assert after(int(LOW_WATER * 100 * MB)) == "resume"
    assert decide(10**12, 0, current=KEEP_ALL, configured=KEEP_ALL,
                  taking_new=False).action == "resume"


def test_the_estimate_is_an_upper_bound_of_what_a_filter_keeps():
    t = tally()
    assert t.peers_kept(KEEP_ALL) == 990 and t.peers_kept(F(data_types=("text",))) == 90
    assert t.peers_kept(F(scenarios=("finance",))) == 190
    assert t.estimate(100 * MB, KEEP_ALL) == 100 * MB


# -- the setting -------------------------------------------------------------------------------
def test_the_setting_defaults_to_1000_mb_and_is_checked():
    assert load_config(None, env={}).replication.max_disk_mb == 1000
    assert load_config(None, env={}).replication.max_disk_bytes == 1000 * MB
    config = load_config(None, env={"LWDOCK_REPLICATION_MAX_DISK_MB": "0"})
    assert config.replication.max_disk_bytes == 0
    assert "max_disk_mb = 1000" in render_toml()
    with pytest.raises(ConfigError, match=r"LWDOCK_REPLICATION_MAX_DISK_MB.*-5 is outside 0"):
        load_config(None, env={"LWDOCK_REPLICATION_MAX_DISK_MB": "-5"})
    with pytest.raises(ConfigError, match="expected an integer, got '1GB'"):
        load_config(None, env={"LWDOCK_REPLICATION_MAX_DISK_MB": "1GB"})
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, env={}, overrides={"replication": {"max_disk_mb": 1.5}})


# -- real nodes on store files -----------------------------------------------------------------
@asynccontextmanager
async def file_node(hub: InProcessHub, name: str, root: Path, *, max_disk_mb: int = 1,
                    replication: dict | None = None, bootstrap: tuple[Node, ...] = ()):
    identity = ident(name)
    config = load_config(None, env={}, overrides={
        "node": {"organization": f"Org {name}"}, "checks": {"isolation": "thread"},
        "replication": {"max_disk_mb": max_disk_mb, **(replication or {})}})
    network = InProcessNetwork(hub, identity.node_id,
                               bootstrap=tuple(memory_addr(b.id) for b in bootstrap))
    store = FileStore(root / name / "store")
    service = NodeService(config, identity, store, Federation(network),
                          scratch=root / name / "scratch")
    await service.start()
    try:
        yield Node(name, service, network)
    finally:
        await service.stop()
        store.close()


def wide_rows(n_finance: int, n_health: int, n_traffic: int = 0) -> list:
    """Announcements of an owner no node here is (only sync spreads them): finance ones
    around 0, health ones around 6, traffic around -6; ~6.6 kB each in a store."""
    owner = ident("X")
    tags = [("finance",)] * n_finance + [("health",)] * n_health + [("traffic",)] * n_traffic
    loc = {"finance": 0.0, "health": 6.0, "traffic": -6.0}
    return [announcement_row(owner, f"sha256:{i:064x}", i + 1, organization="X",
                             semantic=tiny_semantic(f"x{i}", WIDE, scenarios=t),
                             spec=tiny_spec(i, d=WIDE, k=50, loc=loc[t[0]]))
            for i, t in enumerate(tags)]


def wide_requirement(loc: float, tags: tuple[str, ...] = ()) -> Requirement:
    x = np.random.default_rng(1).normal(loc=loc, size=(80, WIDE))
    semantic = SemanticSpec(scenarios=tags) if tags else None
    return Requirement(semantic, RKMETableSpec(n_points=10, random_state=0).fit(x))


async def publish_own(n: Node, i: int, tags: tuple[str, ...]) -> str:
    lid, _ = publish_bytes(n.service.store, n.service.identity, content_of(1000 + i),
                           spec=tiny_spec(i, d=WIDE, k=20),
                           semantic=tiny_semantic(f"own {i}", WIDE, scenarios=tags),
                           organization=n.service.organization)
    await n.service.offer(n.service.store.get_record(n.id, lid))
    return lid


@asynccontextmanager
async def source(hub: InProcessHub, root: Path, rows: list):
    """A node that keeps everything (no budget) and holds `rows`."""
    async with file_node(hub, "A", root, max_disk_mb=0) as a:
        a.service.store.put_records(rows)
        for row in rows:
            a.service.catalog.apply(row)
        yield a


async def test_a_node_over_its_budget_narrows_to_its_own_tags_and_finds_the_rest_by_routing(
        tmp_path):
    hub = InProcessHub()
    rows = wide_rows(30, 270)  # ~2 MB, of which finance ~0.2 MB
    health = {r.learnware_id for r in rows[30:]}
    finance = {r.learnware_id for r in rows[:30]}
    async with source(hub, tmp_path, rows) as a:
        async with file_node(hub, "B", tmp_path) as b:
            own = await publish_own(b, 1, ("finance",))
            assert b.service.keeps == KEEP_ALL
            await b.network.connect(memory_addr(a.id), keep=True)
            await until(lambda: b.service.keeps == F(scenarios=("finance",)),
                        "B narrowed to its own learnware's tag", timeout=30)
            # the peers' learnwares outside it are gone from the store, then the catalog
            store = b.service.store
            x = ident("X").node_id
            await until(lambda: not any(store.get_record(x, i) for i in health),
                        "the health ones deleted from the store")
            await until(lambda: not health & b.service.catalog.ids(),
                        "the catalog moved to an index without them", timeout=30)
            await until(lambda: finance <= b.service.catalog.ids(), "the finance part kept")
            assert own in b.service.catalog.ids()
            assert b.service.taking_new
            for _ in range(100):  # a vacuum's log an index rewrite's snapshot kept from
                used = await b.service.disk_used()  # being truncated goes when it ends
                if used <= MB:
                    break
                await asyncio.sleep(0.1)
            assert used <= MB, used
            # its digests state the narrowed filter: a peer learns it
            await b.federation.sync_now(a.id)
            assert a.federation.antientropy.keeps_of[b.id] == F(scenarios=("finance",))
            assert (await b.federation.sync_now(a.id)).records == 0  # converged on its part
            health_json = (await b.service.health())["replication"]
            assert health_json["keeps"] == "learnwares tagged finance"
            assert health_json["configured"] == KEEP_ALL.to_dict()
            assert health_json["taking_new"] and "over the budget" in health_json["note"]
            # new peers' learnwares outside it are left out (a choice, not a refusal)
            later = await publish_own(a, 3, ("health",))
            await until(lambda: b.counters()["records_not_kept"] >= 1, "the new one left out")
            assert store.get_record(a.id, later) is None
            assert b.counters()["records_rejected"] == 0
            # routed search still reaches a learnware it dropped
            answer = await b.service.search(SearchQuery(wide_requirement(6.0), 5, 1))
            assert answer.hits and answer.hits[0].learnware_id in health
            assert a.id in answer.answered


async def test_the_narrowed_filter_survives_a_restart_until_the_settings_change(tmp_path):
    hub = InProcessHub()
    rows = wide_rows(30, 270)
    finance = {r.learnware_id for r in rows[:30]}
    async with source(hub, tmp_path, rows) as a:
        async with file_node(hub, "B", tmp_path) as b:
            # B has no learnwares of its own; its users searched finance
            await b.service.search(SearchQuery(wide_requirement(0.0, ("finance",)), 5, 1))
            await b.network.connect(memory_addr(a.id), keep=True)
            await until(lambda: b.service.keeps == F(scenarios=("finance",)),
                        "B narrowed to what its users search", timeout=30)
            await until(lambda: b.service.catalog.ids() == finance, "the rest deleted",
                        timeout=30)
        # the pages the narrowing freed went back to the file system (a vacuum)
        database = tmp_path / "B" / "store" / "lwnode.sqlite3"
        assert database.stat().st_size < MB / 2  # (closed: the log is in the file)
        async with file_node(hub, "B", tmp_path) as b:  # the same store, the same settings
            assert b.service.keeps == F(scenarios=("finance",))
            assert b.service.catalog.ids() == finance
        async with file_node(hub, "B", tmp_path, max_disk_mb=0) as b:  # no limit now
            assert b.service.keeps == KEEP_ALL
            assert b.service.store.meta("replication.auto") is None
            assert b.service._searched["finance"] == 1  # remembered across restarts


async def test_a_node_with_nothing_to_narrow_to_stops_taking_new_learnwares(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr("lwnode.node.service.FILTER_CHANGE_SECONDS", 0.5)  # (its own pace)
    hub = InProcessHub()
    rows = wide_rows(0, 300)  # ~2 MB, all health: no common tag fits in 1 MB either
    async with source(hub, tmp_path, rows) as a:
        async with file_node(hub, "C", tmp_path) as c:  # no own learnwares, no searches
            await c.network.connect(memory_addr(a.id), keep=True)
            await until(lambda: not c.service.taking_new, "C full", timeout=30)
            held = len(c.service.catalog)
            assert held > 0 and c.service.keeps == KEEP_ALL  # keeps what it has
            assert c.service.store.counts().announcements == held
            status = (await c.service.health())["replication"]
            assert status["taking_new"] is False and "nothing to narrow to" in status["note"]
            # a new learnware by gossip is left out, counted, and costs the sender nothing
            new = await publish_own(a, 7, ("finance",))
            await until(lambda: c.counters()["records_over_disk_budget"] >= 1,
                        "the new one left out")
            assert new not in c.service.catalog.ids()
            assert c.counters()["records_rejected"] == 0
            # no pulls while full: every page would be left out
            before = c.counters()["sync_rounds_skipped_over_disk_budget"]
            assert (await c.federation.sync_now(a.id)).records == 0
            assert c.counters()["sync_rounds_skipped_over_disk_budget"] == before + 1
            # its own learnwares are always kept, and are interests: it narrows to them,
            # deleting the rest a part at a time (the store serves others in between)
            order = []
            drop_some = c.service.store.drop_some_not_kept

            def watched(*args):
                if not order:  # a request that arrives while the first part is deleted
                    c.service._store_pool.submit(order.append, "other")
                order.append("part")
                return drop_some(*args)

            monkeypatch.setattr(c.service.store, "drop_some_not_kept", watched)
            monkeypatch.setattr("lwnode.node.service.DROP_CHUNK", 100)
            own = await publish_own(c, 2, ("retail",))
            assert own in c.service.catalog.ids()
            await until(lambda: c.service.taking_new, "C taking again", timeout=30)
            assert c.service.keeps == F(scenarios=("retail",))
            health = {r.learnware_id for r in rows}
            await until(lambda: not c.service.catalog.ids() & health, "the rest deleted",
                        timeout=30)
            assert own in c.service.catalog.ids()
            held_before = len(health)  # (at most: C stopped partway)
            assert order.count("part") >= 2 and order.index("other") == 1, order
            assert order.count("part") <= held_before // 100 + 1
            # its users' searches too: it adds them
            await c.service.search(SearchQuery(wide_requirement(0.0, ("finance",)), 5, 1))
            await until(lambda: c.service.keeps == F(scenarios=("finance", "retail")),
                        "C added finance", timeout=30)
            # and takes the finance one it left out before, by sync
            await c.federation.sync_now(a.id)
            await until(lambda: new in c.service.catalog.ids(), "the finance one taken")




async def test_a_stop_is_kept_across_restarts_without_counting_the_store_again(tmp_path):
    hub = InProcessHub()
    root = tmp_path / "C" / "store"
    with FileStore(root) as store:
        store.put_records(wide_rows(0, 300))  # ~2 MB, all health: nothing fits in 1 MB
    async with file_node(hub, "C", tmp_path) as c:
        assert not c.service.taking_new
        assert "nothing to narrow to" in c.service.disk_note
        assert c.service.store.meta("replication.stopped") is not None
    # the next start: the same settings and interests, no count of the store
    tallies = {}
    real = FileStore.tally

    def counted(self, own, *, peers=True):
        tallies[peers] = tallies.get(peers, 0) + 1
        return real(self, own, peers=peers)

    FileStore.tally = counted
    try:
        async with file_node(hub, "C", tmp_path) as c:
            assert not c.service.taking_new and "nothing to narrow to" in c.service.disk_note
            assert tallies == {False: 1}  # the own records only
        # a crash before the stop was written (or a store of an older version): counted
        with FileStore(root) as store:
            store.set_meta("replication.stopped", None)
        tallies.clear()
        async with file_node(hub, "C", tmp_path) as c:
            assert not c.service.taking_new and tallies[True] == 1
        # stale: interests since (its users' searched tags, kept in the store): counted,
        # and it narrows to them
        with FileStore(root) as store:
            store.set_meta("replication.searched_tags", '{"finance": 1}')
        tallies.clear()
        async with file_node(hub, "C", tmp_path) as c:
            assert tallies[True] == 1
            assert c.service.taking_new and c.service.keeps == F(scenarios=("finance",))
            assert c.service.store.meta("replication.stopped") is None
            assert not c.service.catalog.ids()
        # under another budget: decided anew (here: no limit, it takes again)
        with FileStore(root) as store:
            store.put_records(wide_rows(0, 300))
        async with file_node(hub, "C", tmp_path, max_disk_mb=1) as c:
            assert c.service.keeps == F(scenarios=("finance",))  # (kept: same settings)
    finally:
        FileStore.tally = real


async def test_a_node_with_no_interests_keeps_the_most_common_tags_then_its_users_ones(
        tmp_path, monkeypatch):
    """The upgrade case: a node over the budget at start, with no own learnwares and
    no searches, keeps the most common tags that fit; its users' first search of
    another tag makes it choose again from its interests (it takes them back)."""
    # its own pacing of filter changes (a minute) shortened: the peer's is its own, and
    # takes a first change at once
    monkeypatch.setattr("lwnode.node.service.FILTER_CHANGE_SECONDS", 0.5)
    hub = InProcessHub()
    # ~8.4 kB each on disk (database, index, scratch points): 1.1 MB; the 80 health
    # ones fit in 90 % of 1 MB, not with the finance ones
    rows = wide_rows(50, 80)
    finance = {r.learnware_id for r in rows[:50]}
    health = {r.learnware_id for r in rows[50:]}
    with FileStore(tmp_path / "D" / "store") as store:
        store.put_records(rows)
    async with file_node(hub, "D", tmp_path, max_disk_mb=0):
        pass  # it ran before the budget: its index is written
    async with source(hub, tmp_path, rows) as a:
        async with file_node(hub, "D", tmp_path) as d:
            await until(lambda: d.service.keeps == F(scenarios=("health",)),
                        "D kept the most common tag", timeout=30)
            assert "most common tags" in d.service.disk_note
            await until(lambda: d.service.catalog.ids() == health, "the rest deleted",
                        timeout=30)
            assert d.service.taking_new
            # what it counts: the database's pages in use (and its log: the store's
            # test), the index, the scratch points
            store = d.service.store
            scratch = tmp_path / "D" / "scratch"
            parts = {"database": store._query("SELECT (SELECT page_count FROM "
                                              "pragma_page_count) - (SELECT freelist_count "
                                              "FROM pragma_freelist_count)")[0][0] * 8192,
                     "index": _dir_bytes(scratch / "catalog-index"),
                     "points": _dir_bytes(scratch / "catalog-points", True)}
            assert parts["points"] > 0 and parts["index"] > 0
            assert await d.service.disk_used() >= sum(parts.values()), parts
            assert await d.service.disk_used() <= MB
            await d.network.connect(memory_addr(a.id), keep=True)
            await d.federation.sync_now(a.id)
            assert a.federation.antientropy.keeps_of[d.id] == F(scenarios=("health",))
            assert d.service.catalog.ids() == health  # nothing else pulled
            # routed search still reaches what it dropped
            answer = await d.service.search(SearchQuery(wide_requirement(0.0), 5, 1))
            assert answer.hits and answer.hits[0].learnware_id in finance
            assert d.service.keeps == F(scenarios=("health",))  # (no tag: no interest)
            # its users search finance: it keeps finance now, health goes
            await d.service.search(SearchQuery(wide_requirement(0.0, ("finance",)), 5, 1))
            await until(lambda: d.service.keeps == F(scenarios=("finance",)),
                        "D chose its users' tag", timeout=30)
            assert "new interests (finance)" in d.service.disk_note
            await until(lambda: not d.service.catalog.ids() & health, "health deleted",
                        timeout=30)
            await d.federation.sync_now(a.id)
            await until(lambda: d.service.catalog.ids() == finance, "finance taken back",
                        timeout=30)
            assert d.service.taking_new
            # a second new interest is added to it (traffic: none stored anywhere)
            await d.service.search(SearchQuery(wide_requirement(-6.0, ("traffic",)), 5, 1))
            await until(lambda: d.service.keeps == F(scenarios=("finance", "traffic")),
                        "D added its users' second tag", timeout=30)
            assert d.service.catalog.ids() == finance  # (nothing deleted)
        async with file_node(hub, "D", tmp_path) as d:  # restarted: the choice is kept
            assert d.service.keeps == F(scenarios=("finance", "traffic"))
            assert d.service._considered == ("finance", "traffic")
            assert d.service.catalog.ids() == finance


def test_a_store_drops_what_it_no_longer_keeps_a_part_at_a_time(tmp_path):
    rows = wide_rows(7, 5, 6)
    health = {r.learnware_id for r in rows[7:12]}
    with FileStore(tmp_path / "a") as whole, FileStore(tmp_path / "b") as parts:
        for store in (whole, parts):
            store.put_records(rows)
        epoch = parts.change_mark()[0]
        keeps = F(scenarios=("health",))
        assert whole.drop_not_kept(keeps, ident("B").node_id) == 13
        calls, after, dropped = 0, 0, 0
        while after >= 0:
            n, after = parts.drop_some_not_kept(keeps, ident("B").node_id, after, 3)
            dropped, calls = dropped + n, calls + 1
            assert n <= 3
        assert (dropped, calls) == (13, 5)  # 3 + 3 + 3 + 3 + 1
        for store in (whole, parts):
            assert {r.learnware_id for r in store.iter_announcements()} == health
        assert parts.change_mark()[0] != epoch  # a new epoch: the index is of another store
        assert parts.drop_some_not_kept(keeps, ident("B").node_id, 0, 3) == (0, -1)
        assert parts.drop_some_not_kept(KEEP_ALL, ident("B").node_id, 0, 3) == (0, -1)


def test_a_store_counts_what_it_holds_and_remembers_small_values(tmp_path):
    store = FileStore(tmp_path / "s")
    try:
        empty = store.disk_bytes()
        rows = wide_rows(3, 5)
        store.put_records(rows)
        assert store.disk_bytes() > empty
        # the write-ahead log counts (on disk until a checkpoint copies it in)
        wal = Path(f"{store.database_path()}-wal").stat().st_size
        assert wal > 0 and store.disk_bytes() >= store.database_path().stat().st_size + wal
        t = store.tally(own=ident("B").node_id)
        assert (t.records, t.peers) == (8, 8)
        assert t.peers_by_tag == {("table", "finance"): 3, ("table", "health"): 5}
        assert t.peers_by_type == {"table": 8} and not t.own_tags
        store.set_meta("k", "v")
        assert store.meta("k") == "v"
        store.set_meta("k", None)
        assert store.meta("k") is None
        ids = hashlib.sha256(b"x").hexdigest()
        assert store.meta(ids) is None
    finally:
        store.close()
