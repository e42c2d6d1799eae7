"""A node through its HTTP API: publish throughput, search latency, concurrency, RSS.

    python -m benchmarks.node_bench [--sizes 1000,10000,100000] [--publish 30]
                                    [--queries 40] [--no-publish] [--compact N,...]

Every node is a real ``lwnode run`` process on 127.0.0.1 (so its RSS is its own),
with the default configuration (checks in a worker process, catalog points on disk).

- Publish: real packages (logistic regressions on synthetic regions, d = 10, RKME of
  20 points) uploaded one after another, then four at a time; each is checked in
  the node's worker (the first publish also starts the worker).
- Search at N: the store is filled with N peers' signed announcements (d = 10,
  K = 100 points: the shape of search_bench), the node is started (catalog rebuilt
  from the store: "start s"), then searched over HTTP with requirements as a user
  sends them (K = 100, max_mixture 3, k = 5): one at a time for the latency
  percentiles, 50 at once for the concurrency columns. RSS is read from /proc after
  the searches (VmRSS; VmHWM in brackets is the peak, reached while rebuilding).
- Compact (``--compact``, schema 1.3): two nodes. The owner holds N learnwares of its
  own (full announcements, the same market); the other node holds only their signed
  summaries (as gossip and sync leave them) and is bootstrapped to the owner. It is
  started (catalog rebuilt from the summaries: "start s"; its store's size on disk),
  then searched over HTTP twice with the same requirements: first with an empty spec
  cache (each search fetches its sketch shortlist's full specs from the owner over
  libp2p), then again (the cache answers). Each search is also routed to the owner,
  which answers from its full catalog, as in a network.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lwtesting import region_centres, region_package

from benchmarks.common import machine, print_table
from engine.specification import SemanticSpec, spec_from_dict
from lwnode.home import NodeHome
from lwnode.http.jsonio import spec_json
from lwnode.node.records import announcement_of, own_summary, row_of, sign_announcement
from lwnode.node.store import FileStore
from protocol.codec import decode_envelope
from protocol.signing import Identity, verify

D, K, GAMMA, BASES, OWNERS = 10, 100, 0.1, 100, 20


def start_node(home: NodeHome, extra: tuple[str, ...] = ()
               ) -> tuple[subprocess.Popen[bytes], str, float]:
    home.url_path.unlink(missing_ok=True)
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lwnode.cli", "run", "--home",
                             str(home.path), "--http", "127.0.0.1:0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"LWDOCK_LOG_ACCESS_LOG": "false", "PATH": "/usr/bin:/bin"})
    while not home.url_path.exists():
        if proc.poll() is not None:
            raise RuntimeError("the node exited during start-up")
        time.sleep(0.05)
    return proc, home.read_url() or "", time.perf_counter() - began


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[float, int]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return time.perf_counter() - began, status


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


# -- publish ---------------------------------------------------------------------------------
def publish_rows(n: int) -> list[list[Any]]:
    centres = region_centres(10, D)
    packages = [region_package(centres, i % 10, seed=i) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        home = NodeHome(Path(tmp) / "home")
        home.init("Bench")
        proc, url, _ = start_node(home)
        headers = {"Authorization": f"Bearer {home.token()}", "Content-Type": "application/zip"}
        try:
            first, status = post(f"{url}/v1/learnwares", packages[0], headers)
            assert status == 201, status
            half = 1 + (n - 1) // 2
            began = time.perf_counter()
            sequential = [post(f"{url}/v1/learnwares", p, headers) for p in packages[1:half]]
            seq_wall = time.perf_counter() - began
            began = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                together = list(pool.map(lambda p: post(f"{url}/v1/learnwares", p, headers),
                                         packages[half:]))
            par_wall = time.perf_counter() - began
        finally:
            stop_node(proc)
    assert all(s == 201 for _, s in sequential + together)
    size = int(np.mean([len(p) for p in packages]))
    return [
        ["first (starts the check worker)", 1, f"{first * 1000:.0f}", "", "", size],
        ["one at a time", len(sequential), f"{pct([t for t, _ in sequential], 50):.0f}",
         f"{pct([t for t, _ in sequential], 95):.0f}", f"{len(sequential) / seq_wall:.1f}", size],
        ["4 clients at once", len(together), f"{pct([t for t, _ in together], 50):.0f}",
         f"{pct([t for t, _ in together], 95):.0f}", f"{len(together) / par_wall:.1f}", size],
    ]


# -- search ----------------------------------------------------------------------------------
class Market:
    """Perturbed specs around `BASES` tasks (as in search_bench); entry i depends on i only."""

    def __init__(self, seed: int = 0) -> None:
        self.bases = np.random.default_rng(seed).normal(scale=2.0, size=(BASES, K, D))
        self.seed = seed

    def spec(self, i: int) -> Any:
        rng = np.random.default_rng([self.seed, i])
        points = self.bases[i % BASES] + rng.normal(scale=rng.uniform(0.05, 1.0), size=(K, D))
        return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                               "gamma": GAMMA, "n_samples": 1000, "points": points,
                               "weights": rng.dirichlet(np.full(K, 5.0)), "params": {}})

    def query(self, j: int) -> bytes:
        rng = np.random.default_rng([self.seed, 10**9 + j])
        points = self.bases[rng.integers(BASES)] + rng.normal(scale=0.3, size=(K, D))
        spec = spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                               "gamma": GAMMA, "n_samples": 500, "points": points,
                               "weights": rng.dirichlet(np.full(K, 5.0)), "params": {}})
        return json.dumps({"statistical": spec_json(spec), "k": 5}).encode()


def fill(home: NodeHome, n: int, market: Market) -> float:
    """Put n peers' signed announcements into the node's store; returns seconds."""
    owners = [Identity.from_seed(bytes([7, i]) * 16) for i in range(OWNERS)]
    semantic = SemanticSpec.from_dict({"data_type": "table", "task_type": "regression",
                                       "name": "forecaster", "input": {"dimension": D},
                                       "output": {"dimension": 1}})
    began = time.perf_counter()
    with FileStore(home.store_dir(home.config(env={}))) as store:
        batch = []
        for i in range(n):
            owner = owners[i % OWNERS]
            lid = f"sha256:{i:064x}"
            batch.append(sign_announcement(
                owner, learnware_id=lid, organization=f"org {i % OWNERS}", semantic=semantic,
                spec=market.spec(i), size=10_000,
                urls=(f"http://10.0.0.{i % OWNERS}:8470/v1/learnwares/{lid}/package",),
                sequence=i // OWNERS + 1, now=0))
            if len(batch) == 2000:
                store.put_records(batch)
                batch = []
        store.put_records(batch)
    return time.perf_counter() - began


def search_row(n: int, queries: int) -> list[Any]:
    market = Market()
    bodies = [market.query(j) for j in range(queries)]
    concurrent_bodies = [market.query(10_000 + j) for j in range(50)]
    with tempfile.TemporaryDirectory() as tmp:
        home = NodeHome(Path(tmp) / "home")
        home.init("Bench")
        fill_s = fill(home, n, market)
        proc, url, start_s = start_node(home)
        # with the token: the node's own users are not paced by [budget] open_* limits
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {home.token()}"}
        try:
            post(f"{url}/v1/search", bodies[0], headers)  # warm-up
            lat = [post(f"{url}/v1/search", b, headers) for b in bodies]
            began = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                together = list(pool.map(lambda b: post(f"{url}/v1/search", b, headers),
                                         concurrent_bodies))
            wall = time.perf_counter() - began
            rss, peak = rss_mb(proc.pid)
        finally:
            stop_node(proc)
    errors = sum(s != 200 for _, s in lat + together)
    times = [t for t, _ in lat]
    many = [t for t, _ in together]
    return [f"{n:,}", f"{fill_s:.0f}", f"{start_s:.1f}", f"{pct(times, 50):.0f}",
            f"{pct(times, 95):.0f}", f"{wall:.2f}", f"{pct(many, 50):.0f}", f"{pct(many, 95):.0f}",
            errors, f"{rss:.0f} ({peak:.0f})"]


# -- compact announcements -------------------------------------------------------------------
def fill_owner_and_holder(owner: NodeHome, holder: NodeHome, n: int, market: Market
                          ) -> float:
    """The owner's store gets n own announcements, the holder's their summaries."""
    identity = owner.identity()
    semantic = SemanticSpec.from_dict({"data_type": "table", "task_type": "regression",
                                       "name": "forecaster", "input": {"dimension": D},
                                       "output": {"dimension": 1}})
    began = time.perf_counter()
    with FileStore(owner.store_dir(owner.config(env={}))) as mine, \
            FileStore(holder.store_dir(holder.config(env={}))) as theirs:
        full, compact = [], []
        for i in range(n):
            lid = f"sha256:{i:064x}"
            row = sign_announcement(
                identity, learnware_id=lid, organization="Bench", semantic=semantic,
                spec=market.spec(i), size=10_000,
                urls=(f"http://127.0.0.1:9/v1/learnwares/{lid}/package",),
                sequence=i + 1, now=0)
            envelope = own_summary(identity, announcement_of(row))
            full.append(row)
            compact.append(row_of(decode_envelope(envelope), verify(envelope), 0))
            if len(full) == 2000:
                mine.put_records(full)
                theirs.put_records(compact)
                full, compact = [], []
        mine.put_records(full)
        theirs.put_records(compact)
    return time.perf_counter() - began


def compact_row(n: int, queries: int) -> list[Any]:
    market = Market()
    bodies = [market.query(j) for j in range(queries)]
    with tempfile.TemporaryDirectory() as tmp:
        owner, holder = NodeHome(Path(tmp) / "owner"), NodeHome(Path(tmp) / "holder")
        owner.init("Bench")
        holder.init("Holder")
        fill_s = fill_owner_and_holder(owner, holder, n, market)
        store_mb = sum(f.stat().st_size for f in holder.store_dir(
            holder.config(env={})).rglob("*") if f.is_file()) / 2**20
        o_proc, o_url, _ = start_node(owner)
        try:
            with urllib.request.urlopen(f"{o_url}/v1/health", timeout=60) as r:
                addr = json.load(r)["peer_multiaddrs"][0]
            h_proc, h_url, start_s = start_node(holder, ("--bootstrap", addr))
            headers = {"Content-Type": "application/json",
                       "Authorization": f"Bearer {holder.token()}"}
            try:
                time.sleep(2.0)  # the two nodes connect and compare digests
                cold = [post(f"{h_url}/v1/search", b, headers) for b in bodies]
                warm = [post(f"{h_url}/v1/search", b, headers) for b in bodies]
                rss, peak = rss_mb(h_proc.pid)
            finally:
                stop_node(h_proc)
        finally:
            stop_node(o_proc)
    errors = sum(s != 200 for _, s in cold + warm)
    return [f"{n:,}", f"{fill_s:.0f}", f"{start_s:.1f}", f"{store_mb:.0f}",
            f"{pct([t for t, _ in cold], 50):.0f}", f"{pct([t for t, _ in cold], 95):.0f}",
            f"{pct([t for t, _ in warm], 50):.0f}", f"{pct([t for t, _ in warm], 95):.0f}",
            errors, f"{rss:.0f} ({peak:.0f})"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--publish", type=int, default=30)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--no-publish", action="store_true",
                        help="only the search table (e.g. for one large N)")
    parser.add_argument("--compact", default="",
                        help="sizes of the compact-announcement table (e.g. 10000,100000); "
                             "with --sizes '' only that table")
    args = parser.parse_args()
    if args.publish < 5:
        parser.error("--publish: at least 5 (the first, then two halves of two or more)")
    if not args.no_publish:
        print_table(f"Publish through HTTP ({machine()})",
                    ["publishes", "n", "p50 ms", "p95 ms", "packages/s", "bytes each"],
                    publish_rows(args.publish))
    sized_table(args.sizes, lambda n: search_row(n, args.queries), "N",
                f"Search through HTTP ({machine()})",
                ["N", "fill s", "start s", "p50 ms", "p95 ms", "50 at once: wall s",
                 "p50 ms", "p95 ms", "errors", "node RSS MB (peak)"])
    sized_table(args.compact, lambda n: compact_row(n, args.queries), "compact N",
                f"A node holding N summaries, searched through HTTP ({machine()})",
                ["N", "fill s", "start s", "store MB", "cold p50 ms", "cold p95 ms",
                 "warm p50 ms", "warm p95 ms", "errors", "node RSS MB (peak)"])


def sized_table(sizes: str, row_of: Callable[[int], list[Any]], label: str, title: str,
                columns: list[str]) -> None:
    """One row per size of the comma-separated `sizes` (each logged as it is done), then
    the table; nothing when `sizes` is empty."""
    rows = []
    for n in (int(s) for s in sizes.split(",") if s):
        rows.append(row_of(n))
        print(f"{label}={n}: {rows[-1]}", file=sys.stderr, flush=True)
    if rows:
        print_table(title, columns, rows)


if __name__ == "__main__":
    main()
