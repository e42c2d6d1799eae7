"""The network simulation's small configuration: its invariants, never its timings.

8 real nodes (in-memory stores, real signatures, catalogs, gossip, anti-entropy and
routed search) on one `InProcessHub` with short delays, 200 learnwares, two nodes
offline during the probes and one of them back before the searches
(benchmarks/network_sim.py runs the large configurations), on the wall clock and on
virtual time (benchmarks/virtual_time.py).
"""

from __future__ import annotations

import pytest

from benchmarks.network_sim import SimConfig, run_sim, simulate

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("design", ["full", "compact"])
async def test_each_design_converges_everywhere_and_finds_what_a_central_catalog_finds(
        design: str):
    config = SimConfig(nodes=8, learnwares=200, offline=0.25, returning=0.5, probes=4,
                       searches=8, latency_ms=(2.0, 10.0), points=20, seed=3, timeout=60.0,
                       design=design, deadline_ms=20_000)  # a loaded machine is no miss
    r = await run_sim(config)

    total = config.learnwares + config.probes
    assert r.online == 7  # 8 - 2 killed + 1 back
    assert r.converged and [held for held, _, _ in r.stored] == [total] * r.online
    assert len(r.returns) == 1 and r.returns_late == 0
    assert sum(r.owners) == config.learnwares and max(r.owners) > total / config.nodes
    # every probe reached the 5 other online nodes by gossip (one copy each at least)
    assert len(r.probes) == config.probes
    assert all(p.to_99 <= p.to_all for p in r.probes)
    assert all(p.gossip_messages >= 5 and p.gossip_bytes >= 5 * p.envelope_bytes
               for p in r.probes)
    # no loss: each node's answer is the central exact answer (compact: the shortlist's
    # full specs fetched from their owners, directly or through a peer)
    assert [s.recall for s in r.searches] == [1.0] * config.searches
    # each search was routed to peers (a request each; a late answer is not counted)
    assert all(s.asked >= 1 and s.requests >= s.asked and s.bytes > 0 for s in r.searches)
    # a node stores every learnware's signed spec and indexes it
    assert all(spec > 0 and catalog > 0 for _, spec, catalog in r.stored)


@pytest.mark.parametrize("design", ["full", "compact"])
async def test_nodes_that_keep_their_own_domains_converge_on_them_and_find_them_exactly(
        design: str):
    """``keep = "own"``: each node keeps the scenario domains of its own learnwares and its
    organization's. Anti-entropy rounds every 5 s: with every node filtering, a domain's
    backlog spreads one hop per round (a filtering node is not nudged by its peers'
    digests), and the default 30 s would make this test slow, not different."""
    config = SimConfig(nodes=8, learnwares=200, offline=0.25, returning=0.5, probes=4,
                       searches=8, latency_ms=(2.0, 10.0), points=20, seed=3, timeout=60.0,
                       design=design, deadline_ms=20_000, keep="own", sync_interval=5.0)
    r = await run_sim(config)

    total = config.learnwares + config.probes
    assert config.domains == 8 and r.total == total
    assert r.online == 7 and len(r.returns) == 1 and r.returns_late == 0
    # every online node holds exactly its domains' learnwares and its own, no more
    assert r.converged
    held = [h for h, _, _ in r.stored]
    assert max(held) < total and sum(n for n, _ in r.domains.values()) == total
    # every probe reached every online node keeping its domain, and no other kept it
    # (gossip still crossed every link: the nodes that do not keep it relay it)
    assert all(p.keepers >= 1 and p.held_by_others == 0 and p.to_99 <= p.to_all
               for p in r.probes)
    assert all(p.gossip_messages >= r.online_probing - 1 for p in r.probes)
    # each search was asked from a node keeping its domain and (when there was one) from
    # a node that does not; the first finds the central exact top 5, with no loss
    keepers = [s for s in r.searches if s.keeps]
    assert len(keepers) == config.searches
    assert [s.recall for s in keepers] == [1.0] * config.searches
    others = [s for s in r.searches if not s.keeps]
    assert others and all(s.asked >= 1 and 0.0 <= s.recall <= 1.0 for s in others)


@pytest.mark.parametrize("design", ["full", "compact"])
def test_on_virtual_time_the_network_behaves_the_same_and_only_modelled_delays_count(
        design: str):
    """``clock = "virtual"``: the same run on a loop whose clock moves only by the
    simulated delays, with a modelled intake cost per message. The invariants of the
    wall-clock run hold; and the simulated times obey the model whatever the machine's
    load: nothing spreads faster than one link and one intake, and no search outlasts
    its deadline (2 s here, not the wall-clock test's 20 s: CPU takes no time)."""
    config = SimConfig(nodes=8, learnwares=200, offline=0.25, returning=0.5, probes=4,
                       searches=8, latency_ms=(2.0, 10.0), points=20, seed=3, timeout=60.0,
                       design=design, deadline_ms=2000, clock="virtual", process_ms=0.5,
                       process_us_per_kb=1.0)
    r = simulate(config)

    total = config.learnwares + config.probes
    assert r.online == 7 and len(r.returns) == 1 and r.returns_late == 0
    assert r.converged and [held for held, _, _ in r.stored] == [total] * r.online
    assert all(p.gossip_messages >= 5 and p.gossip_bytes >= 5 * p.envelope_bytes
               for p in r.probes)
    assert [s.recall for s in r.searches] == [1.0] * config.searches
    assert all(s.asked >= 1 and s.requests >= s.asked and s.bytes > 0 for s in r.searches)
    # simulated time: one link (2 ms at the least) and one intake (0.5 ms) at the least
    # before another node holds a probe; a search ends by its deadline
    one_hop = (config.latency_ms[0] + config.process_ms) / 1000.0
    assert all(one_hop <= p.to_99 <= p.to_all for p in r.probes)
    assert all(0.0 < s.seconds <= config.deadline_ms / 1000.0 + 1e-6 for s in r.searches)
    # the clock moved by the delays: the probes' phase spans their spreading and waits
    assert r.phases_loop["probes"] >= sum(p.to_all for p in r.probes)
