"""The network simulation's small configuration: its invariants, never its timings.

8 real nodes (in-memory stores, real signatures, catalogs, gossip, anti-entropy and
routed search) on one `InProcessHub` with short delays, 200 learnwares, two nodes
offline during the probes and one of them back before the searches
(benchmarks/network_sim.py runs the large configurations).
"""

from __future__ import annotations

import pytest

from benchmarks.network_sim import SimConfig, run_sim

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
