"""Sixteen real nodes on loopback sharing 100,000 learnwares (issue 18, part 5).

    python -m benchmarks.federation_scale [--nodes 16] [--learnwares 100000]
                                          [--publish 10] [--queries 30]

Every node is a real ``lwnode run`` process on 127.0.0.1 (HTTP API + libp2p), wired as
in `federation_bench` (node i dials nodes i-1 and i-3). Before the nodes start, each
node's store is given its share of the learnwares as its *own* signed announcements
(the market of `node_bench`: d = 10, K = 100; no package files: nothing here
downloads them). Schema 1.3: an owner keeps its full announcements and sends peers
their signed summaries, so each node ends up holding its own in full and everyone
else's as summaries, through anti-entropy alone (nothing is gossiped: the records
predate the network).

- Replication: from the moment every node's API is up until every node's catalog
  holds all learnwares (polled once a second through ``/v1/health``): time to 50 %,
  90 % and 100 %, and each node's store size and memory at the end.
- Then the network settles: no node rewrites its index any more, and the load falls
  (below 2, or a minute passes).
- Gossip convergence on a network that holds them: `--publish` real packages
  published over HTTP on the nodes in turn; the time until each other node lists it.
- Routed search from node 0 (the `node_bench` market's requirements, k = 5, mixtures
  of up to 3, deadline 1 s): with every peer up, then with one of node 0's direct
  peers hung (SIGSTOP: connected but silent, so it costs the deadline).

With ``--preseed`` every store is given, before the nodes start, the other nodes'
learnwares too, as the signed summaries their owners would send (what anti-entropy
leaves there): the replication phase is skipped, so the gossip and search phases can be
measured on a network at rest without first spending the ~15 minutes of CPU that 1.5
million intakes take on two cores.

``[peer_limits] max_records_per_owner`` is raised to the share of one node (the
default, 1,000, would refuse an organization with more learnwares: the quota defaults
for hub-like markets are an open item of issue 18).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from lwtesting import region_centres, region_package, with_manifest

from benchmarks.common import machine, print_table
from benchmarks.federation_bench import ENV, Node, gossip_rows, health, links, searches
from benchmarks.node_bench import Market, forecaster, memory_mb, pct, put_batched
from lwnode.node.records import announcement_of, own_summary, row_of, sign_announcement
from lwnode.node.store.base import RecordRow
from protocol.codec import decode_envelope
from protocol.signing import verify

POLL_S = 1.0
SETTLE_POLL_S = 10.0
"""A health answer counts the store's records (35-70 ms at 100,000-200,000): polled
every second on 16 nodes it is load of its own."""


def own_rows(node: Node, first: int, count: int, market: Market) -> list[RecordRow]:
    """`count` signed announcements of `node`'s own (market entries first..first+count-1)."""
    identity, semantic = node.home.identity(), forecaster()
    return [sign_announcement(
        identity, learnware_id=f"sha256:{i:064x}", organization=f"Org {node.i}",
        semantic=semantic, spec=market.spec(i), size=10_000,
        urls=(f"http://127.0.0.1:9/v1/learnwares/sha256:{i:064x}/package",),
        sequence=k + 1, now=0) for k, i in enumerate(range(first, first + count))]


def summaries_of(node: Node, rows: list[RecordRow]) -> list[RecordRow]:
    """The signed summaries `node` sends peers of its own `rows`, as a peer stores them."""
    identity = node.home.identity()
    out = []
    for row in rows:
        envelope = own_summary(identity, announcement_of(row))
        out.append(row_of(decode_envelope(envelope), verify(envelope), 0))
    return out


def fill(nodes: list[Node], share: int, market: Market, preseed: bool) -> None:
    """Each node's own learnwares into its store, and with `preseed` every other node's
    summaries too."""
    for node in nodes:
        rows = own_rows(node, node.i * share, share, market)
        put_batched(node.home, rows)
        if preseed:
            summaries = summaries_of(node, rows)
            for other in nodes:
                if other is not node:
                    put_batched(other.home, summaries)


def store_mb(node: Node) -> float:
    root = node.home.store_dir(node.home.config(env={}))
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20


async def replication(http: aiohttp.ClientSession, nodes: list[Node], total: int,
                      limit_s: float) -> list[list[Any]]:
    """Poll every node's catalog size until each holds `total`; time to 50/90/100 %."""
    began, reached = time.perf_counter(), {}
    while True:
        counts = [(await health(http, n))["counts"]["catalog"] for n in nodes]
        share = min(counts) / total
        for mark in (0.5, 0.9, 1.0):
            if share >= mark and mark not in reached:
                reached[mark] = time.perf_counter() - began
        print(f"  replicated: min {min(counts):,} / {total:,} "
              f"({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)
        if share >= 1.0 or time.perf_counter() - began > limit_s:
            break
        await asyncio.sleep(POLL_S)
    return [[f"{mark:.0%}", f"{reached[mark]:.0f}" if mark in reached else
             f"not within {limit_s:.0f}"] for mark in (0.5, 0.9, 1.0)]


async def settle(http: aiohttp.ClientSession, nodes: list[Node]) -> float:
    """Wait until no node rewrites its catalog index (each does so in the background
    after taking in many records), then until the load average has fallen below 2 or a
    minute has passed: the gossip and search phases measure a network at rest, not one
    still digesting the replication."""
    began = time.perf_counter()
    while True:
        states = [(await health(http, n))["catalog_index"]["rewriting"] for n in nodes]
        if not any(states):
            break
        await asyncio.sleep(SETTLE_POLL_S)
    calm = time.perf_counter()
    while os.getloadavg()[0] > 2.0 and time.perf_counter() - calm < 60:
        await asyncio.sleep(POLL_S)
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> None:
    market = Market()
    centres = region_centres(4, 6, seed=11)
    bases = [region_package(centres, r, n_points=20) for r in range(4)]

    def variant(j: int) -> bytes:
        def edit(manifest: dict[str, Any]) -> None:
            manifest["semantic"]["name"] += f" v{j}"
        return with_manifest(bases[j % 4], edit)

    share = args.learnwares // args.nodes
    ENV["LWDOCK_PEER_LIMITS_MAX_RECORDS_PER_OWNER"] = str(max(1000, share + args.publish))
    with tempfile.TemporaryDirectory(prefix="lwdock-fed-scale-") as tmp:
        nodes = [Node(Path(tmp), i) for i in range(args.nodes)]
        began = time.perf_counter()
        fill(nodes, share, market, args.preseed)
        also = " and the others' summaries" if args.preseed else ""
        print(f"filled {args.nodes} stores with {share:,} own learnwares each{also} in "
              f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        try:
            async with aiohttp.ClientSession() as http:
                for node in nodes:
                    node.launch([nodes[j].addr for j in links(node.i)])
                starts = [await n.ready() for n in nodes]
                print(f"{args.nodes} nodes up (slowest start {max(starts):.1f} s)",
                      file=sys.stderr, flush=True)
                rep = ([["preseeded (--preseed)", "-"]] if args.preseed else
                       await replication(http, nodes, share * args.nodes, args.limit))
                sizes = [store_mb(n) for n in nodes]
                mems = [memory_mb(n.proc.pid) for n in nodes if n.proc is not None]
                settled = await settle(http, nodes)
                print(f"settled {settled:.0f} s after replication (load "
                      f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
                gossip, _ = await gossip_rows(http, nodes, [variant(j)
                                                            for j in range(args.publish)])
                bodies = [market.query(j) for j in range(args.queries + 1)]
                origin, victim = nodes[0], nodes[1]  # 1 dials 0: a direct peer
                await searches(http, origin, bodies[:1])  # warm-up
                up = await searches(http, origin, bodies[1:])
                assert victim.proc is not None
                victim.proc.send_signal(signal.SIGSTOP)
                try:
                    hung = await searches(http, origin, [market.query(1000 + j)
                                                         for j in range(args.queries)])
                finally:
                    victim.proc.send_signal(signal.SIGCONT)
        finally:
            for node in nodes:
                node.stop()
    title = f"{args.nodes} nodes, {share * args.nodes:,} learnwares ({machine()})"
    print_table(f"Replication by anti-entropy, {title}", ["every node holds", "s"], rep)
    print_table(f"Per node at the end, {title}",
                ["", "min", "median", "max"],
                [["store MB", *(f"{f(sizes):.0f}" for f in (min, np.median, max))],
                 *[[f"{key} MB", *(f"{f([m[key] for m in mems]):.0f}"
                                   for f in (min, np.median, max))]
                   for key in ("RssAnon", "RssFile", "VmHWM")]])
    print_table(f"Gossip convergence, {title}",
                ["new learnware listed on", "n", "p50 ms", "p95 ms", "max ms"], gossip)
    rows = [[label, len(times), f"{pct(times, 50):.0f}", f"{pct(times, 95):.0f}",
             f"{max(times) * 1000:.0f}", f"{asked / len(times):.1f}", partial]
            for label, (times, partial, asked, _) in
            (("all peers up", up), (f"node {victim.i} hung (SIGSTOP)", hung))]
    print_table(f"Routed search from node 0, {title}",
                ["peers", "n", "p50 ms", "p95 ms", "max ms", "peers asked", "partial"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--learnwares", type=int, default=100_000)
    parser.add_argument("--publish", type=int, default=10)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--limit", type=float, default=3600.0,
                        help="seconds to wait for full replication")
    parser.add_argument("--preseed", action="store_true",
                        help="give every store the others' summaries before the start "
                             "(skips the replication phase)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
