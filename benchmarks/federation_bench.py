"""Eight federated nodes on loopback: gossip convergence, routed search, catch-up, RSS.

    python -m benchmarks.federation_bench [--publish 40] [--queries 40] [--specs 1000]

Every node is a real ``lwnode run`` process on 127.0.0.1 (HTTP API + libp2p peer
layer, default configuration: checks in a worker process started by the first
publish), wired as a sparse mesh: node i dials nodes i-1 and i-3, so most pairs are
two or three hops apart. ``LWDOCK_P2P_*`` variables of the caller are passed on
(e.g. ``LWDOCK_P2P_SEARCH_TTL=2``).

- Gossip convergence: real packages (logistic regressions on synthetic regions,
  d = 6, RKME of 20 points) are published over HTTP on the nodes in turn, one at a
  time; the clock starts when the publish answers (the announcement has been handed
  to libp2p) and stops when the learnware is listed by the API of each of the other
  seven nodes (polled every 5 ms).
- Routed search: ``POST /v1/search`` on node 0 with a user's requirement (K = 30,
  k = 5, mixtures of up to 3) over the published learnwares; the query goes to node
  0's peers (fan-out 4, ttl 1 by default) and back. Measured with all peers up, with one of node
  0's direct peers killed (SIGKILL: the connection drops, it is not asked), and
  with one hung (SIGSTOP: connected but silent, so it costs the search deadline);
  with mixtures (the default) and singles only (no QP: the cost of routing itself),
  beside a ninth node holding the same learnwares alone (``--no-p2p``: the engine
  and HTTP without any peer).
- Catch-up: node 0's store is filled with `--specs` signed announcements of other
  owners before the cluster starts (K = 100, d = 10, as in node_bench; never
  gossiped), the seven first nodes replicate them by anti-entropy, then node 7
  starts and the clock runs until its catalog holds all of them.
- RSS of every node process at the end (VmRSS, peak VmHWM in brackets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from lwtesting import region_centres, region_package, region_rows, with_manifest

from benchmarks.common import machine, print_table
from benchmarks.node_bench import Market, fill, memory_mb, pct
from engine.specification import RKMETableSpec
from lwnode.federation.p2p.base import wait_until
from lwnode.home import NodeHome
from lwnode.http.jsonio import spec_json

N = 8
D = 6
REGIONS = 4
POLL = 0.005
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LWDOCK_LOG_ACCESS_LOG": "false",
       "LWDOCK_LOG_LEVEL": "warning",
       **{k: v for k, v in os.environ.items() if k.startswith("LWDOCK_P2P_")}}


def links(i: int) -> list[int]:
    return [j for j in (i - 1, i - 3) if j >= 0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, root: Path, i: int) -> None:
        from lwnode.federation.p2p.libp2p_network import Libp2pNetwork

        self.i = i
        self.home = NodeHome(root / f"n{i}")
        self.home.init(f"Org {i}")
        self.port = free_port()
        peer_id = Libp2pNetwork.from_key_file(self.home.key_path).peer_id
        self.addr = f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{peer_id}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = self.home.token()
        self.launched = 0.0

    def launch(self, bootstrap: list[str], *, alone: bool = False) -> None:
        self.launched = time.perf_counter()
        argv = [sys.executable, "-m", "lwnode.cli", "run", "--home", str(self.home.path),
                "--http", "127.0.0.1:0", "--p2p", f"/ip4/127.0.0.1/tcp/{self.port}"]
        if alone:
            argv.append("--no-p2p")
        if bootstrap:
            argv += ["--bootstrap", *bootstrap]
        self.proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    async def ready(self) -> float:
        """Wait for the API; seconds since launch."""
        while not self.home.url_path.exists():
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.i} exited during start-up")
            await asyncio.sleep(0.02)
        self.url = self.home.read_url() or ""
        return time.perf_counter() - self.launched

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as r:
        return await r.json()


async def health(http: aiohttp.ClientSession, node: Node) -> dict[str, Any]:
    data: dict[str, Any] = await get_json(http, f"{node.url}/v1/health")
    return data


# -- gossip ----------------------------------------------------------------------------------
async def arrival(http: aiohttp.ClientSession, node: Node, lid: str, t0: float) -> float:
    url = f"{node.url}/v1/learnwares/{lid}"
    while True:
        async with http.get(url) as r:
            await r.read()
            if r.status == 200:
                return time.perf_counter() - t0
        await asyncio.sleep(POLL)


async def gossip_rows(http: aiohttp.ClientSession, nodes: list[Node], packages: list[bytes]
                      ) -> tuple[list[list[Any]], list[str]]:
    everyone, each = [], []
    ids = []
    for j, package in enumerate(packages):
        source = nodes[j % len(nodes)]
        async with http.post(f"{source.url}/v1/learnwares", data=package,
                             headers={"Authorization": f"Bearer {source.token}"}) as r:
            body = await r.json()
            assert r.status == 201, body
        t0 = time.perf_counter()
        ids.append(body["id"])
        times = await asyncio.wait_for(asyncio.gather(
            *(arrival(http, n, body["id"], t0) for n in nodes if n is not source)), 30)
        everyone.append(max(times))
        each += times
        await asyncio.sleep(0.2)
    rows = [[f"one node (each of {len(nodes) - 1} per publish)", len(each),
             f"{pct(each, 50):.0f}", f"{pct(each, 95):.0f}", f"{max(each) * 1000:.0f}"],
            [f"all {len(nodes)} nodes", len(everyone), f"{pct(everyone, 50):.0f}",
             f"{pct(everyone, 95):.0f}", f"{max(everyone) * 1000:.0f}"]]
    return rows, ids


# -- routed search ---------------------------------------------------------------------------
async def searches(http: aiohttp.ClientSession, node: Node, bodies: list[bytes]
                   ) -> tuple[list[float], int, int, set[str]]:
    times, partial, asked_total = [], 0, 0
    missed: set[str] = set()
    for body in bodies:
        began = time.perf_counter()
        # with the token: the node's own user, not paced by [budget] open_* limits
        async with http.post(f"{node.url}/v1/search", data=body,
                             headers={"Content-Type": "application/json",
                                      "Authorization": f"Bearer {node.token}"}) as r:
            answer = await r.json()
            assert r.status == 200, answer
        times.append(time.perf_counter() - began)
        partial += bool(answer["partial"])
        asked_total += len(answer["peers"]["asked"])
        missed |= set(answer["missed"])
    return times, partial, asked_total, missed


def search_bodies(centres: np.ndarray, n: int, deadline_ms: int, max_mixture: int
                  ) -> list[bytes]:
    out = []
    for j in range(n):
        x = np.vstack([region_rows(centres, j % REGIONS, 100, seed=500 + j),
                       region_rows(centres, (j + 1) % REGIONS, 100, seed=900 + j)])
        spec = RKMETableSpec(n_points=30, random_state=j).fit(x)
        out.append(json.dumps({"statistical": spec_json(spec), "k": 5,
                               "max_mixture": max_mixture,
                               "deadline_ms": deadline_ms}).encode())
    return out


def search_row(label: str, deadline_ms: int, result: tuple[list[float], int, int, set[str]]
               ) -> list[Any]:
    times, partial, asked, _ = result
    return [label, deadline_ms or "", len(times), f"{pct(times, 50):.0f}", f"{pct(times, 95):.0f}",
            f"{max(times) * 1000:.0f}", f"{asked / len(times):.1f}", partial]


# -- the run ---------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> None:
    centres = region_centres(REGIONS, D, seed=11)
    bases = [region_package(centres, r, n_points=20) for r in range(REGIONS)]

    def variant(j: int) -> bytes:
        def edit(manifest: dict[str, Any]) -> None:
            manifest["semantic"]["description"] = f"variant {j}"
            manifest["semantic"]["name"] += f" v{j}"  # a handle names one
        return with_manifest(bases[j % REGIONS], edit)

    packages = [variant(j) for j in range(args.publish)]
    with tempfile.TemporaryDirectory(prefix="lwdock-fed-bench-") as tmp:
        root = Path(tmp)
        nodes = [Node(root, i) for i in range(N)]
        fill_s = fill(nodes[0].home, args.specs, Market())
        print(f"filled node 0 with {args.specs} signed announcements in {fill_s:.1f} s",
              file=sys.stderr, flush=True)
        try:
            async with aiohttp.ClientSession() as http:
                await main_phases(http, nodes, packages, centres, args)
        finally:
            for node in nodes:
                node.stop()


async def main_phases(http: aiohttp.ClientSession, nodes: list[Node], packages: list[bytes],
                      centres: np.ndarray, args: argparse.Namespace) -> None:
    first, late = nodes[:-1], nodes[-1]
    for node in first:
        node.launch([nodes[j].addr for j in links(node.i)])
    starts = [await n.ready() for n in first]

    async def replicated() -> bool:
        counts = [(await health(http, n))["counts"]["catalog"] for n in first]
        return min(counts) >= args.specs

    warm = await wait_until(replicated, "the first seven nodes to replicate the specs", 300)
    print(f"7 nodes up (start {max(starts):.1f} s); specs replicated {warm:.1f} s later",
          file=sys.stderr, flush=True)

    # catch-up of a late joiner
    late.launch([nodes[j].addr for j in links(late.i)])
    api_up = await late.ready()

    async def caught_up() -> bool:
        return int((await health(http, late))["counts"]["catalog"]) >= args.specs

    synced = await wait_until(caught_up, "the late joiner", 120)
    catch_rows = [[f"{args.specs:,}", f"{api_up:.2f}", f"{synced:.2f}",
                   f"{api_up + synced:.2f}"]]
    print(f"late joiner: API up {api_up:.2f} s, synced {synced:.2f} s later", file=sys.stderr,
          flush=True)

    gossip, _ = await gossip_rows(http, nodes, packages)
    print(f"gossip: {gossip}", file=sys.stderr, flush=True)

    origin = nodes[0]
    lone = Node(nodes[0].home.path.parent, N)  # a 9th node, alone: the baseline
    lone.launch([], alone=True)
    await lone.ready()
    for package in packages:
        async with http.post(f"{lone.url}/v1/learnwares", data=package,
                             headers={"Authorization": f"Bearer {lone.token}"}) as r:
            assert r.status == 201, await r.text()
    rows = []
    victim = nodes[3]  # a direct peer of node 0 (0 - 1 and 0 - 3 are links)
    victim_id = (await health(http, victim))["node_id"]
    assert victim.proc is not None
    for mixture in (3, 1):
        what = "mixtures of up to 3" if mixture > 1 else "singles only"
        bodies = search_bodies(centres, args.queries + 1, 1000, mixture)
        hung = search_bodies(centres, args.queries, args.hung_deadline, mixture)
        await searches(http, lone, bodies[:1])  # warm-up
        rows.append(search_row(f"{what}: one node alone (no peers)", 0,
                               await searches(http, lone, bodies[1:])))
        await searches(http, origin, bodies[:1])
        rows.append(search_row(f"{what}: all peers up", 1000,
                               await searches(http, origin, bodies[1:])))
        victim.proc.send_signal(signal.SIGSTOP)
        rows.append(search_row(f"{what}: node {victim.i} hung (SIGSTOP)", args.hung_deadline,
                               await searches(http, origin, hung)))
        victim.proc.send_signal(signal.SIGCONT)
    lone.stop()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()

    async def noticed() -> bool:
        peers = (await get_json(http, f"{origin.url}/v1/peers"))["peers"]
        return not any(p["connected"] for p in peers if p["node_id"] == victim_id)

    await wait_until(noticed, "node 0 to notice the killed peer", 30)
    for mixture in (3, 1):
        what = "mixtures of up to 3" if mixture > 1 else "singles only"
        bodies = search_bodies(centres, args.queries, 1000, mixture)
        rows.append(search_row(f"{what}: node {victim.i} killed (SIGKILL)", 1000,
                               await searches(http, origin, bodies)))
    rss = []
    for node in nodes:
        if node.proc is not None and node.proc.poll() is None:
            mem = memory_mb(node.proc.pid)
            now, peak = mem["VmRSS"], mem["VmHWM"]
            workers = [memory_mb(int(c))["VmRSS"] for c in children(node.proc.pid)]
            rss.append([node.i, f"{now:.0f}", f"{peak:.0f}", f"{sum(workers):.0f}"])

    print_table(f"Gossip convergence, {N} nodes ({machine()})",
                ["new spec listed on", "n", "p50 ms", "p95 ms", "max ms"], gossip)
    print_table(f"Routed search from node 0, {N} nodes ({machine()})",
                ["queries: peers", "deadline ms", "n", "p50 ms", "p95 ms", "max ms", "peers asked",
                 "partial answers"], rows)
    print_table(f"Catch-up of a late joiner ({machine()})",
                ["specs", "API up s (process start)", "synced s after API up",
                 "total s"], catch_rows)
    print_table("RSS per node (MB)", ["node", "node process VmRSS", "VmHWM",
                                      "its check worker VmRSS"], rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publish", type=int, default=40)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--hung-deadline", type=int, default=100)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
