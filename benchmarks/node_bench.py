"""A node through its HTTP API: publish throughput, search latency, concurrency, RSS.

    python -m benchmarks.node_bench [--sizes 1000,10000,100000] [--publish 30]
                                    [--queries 40] [--no-publish] [--compact N,...]
                                    [--summaries N,...]

Every node is a real ``lwnode run`` process on 127.0.0.1 (so its RSS is its own),
with the default configuration (checks in a worker process, catalog points on disk),
but for the summaries at scale: there no disk budget (``[replication] max_disk_mb =
0``), so the node keeps all N.

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
- Summaries at scale (``--summaries``, e.g. 1000000): one node whose store holds N
  signed summaries of 1,000 organizations (Zipf shares, as in real hubs) across
  `--summary-spaces` table spaces (default 20, Zipf shares too: the largest holds 28 %;
  1 puts every learnware in one space, the scan's worst case). Sketches are real
  sketches of `BASES` specs per space, each learnware's codes perturbed. The node is
  started twice: the first start writes the persisted index (a full scan of the
  store), the second maps it ("start s": from the process's spawn to its URL file).
  Then searched over HTTP with requirements in spaces drawn by the same shares: the
  owners are not on the network, so each search is the sketch phase (and its
  estimates, marked approximate), not the fetch of full specs (measured above).
  Memory: the resident set split into anonymous and file-backed pages (the index's
  mapped files are file-backed), after the searches.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
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
from lwnode.node.store.base import RecordRow
from protocol.codec import decode_envelope
from protocol.content import content_id
from protocol.signing import Identity, verify

D, K, GAMMA, BASES, OWNERS = 10, 100, 0.1, 100, 20


def start_node(home: NodeHome, extra: tuple[str, ...] = (), env: dict[str, str] | None = None,
               log: Path | None = None) -> tuple[subprocess.Popen[bytes], str, float]:
    """`lwnode run` on `home`, once it serves: (process, URL, seconds); its log to `log`."""
    home.url_path.unlink(missing_ok=True)
    began = time.perf_counter()
    err = subprocess.DEVNULL if log is None else log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "lwnode.cli", "run", "--home",
                             str(home.path), "--http", "127.0.0.1:0", *extra],
                            stdout=subprocess.DEVNULL, stderr=err,
                            env={"LWDOCK_LOG_ACCESS_LOG": "false", "PATH": "/usr/bin:/bin",
                                 # the code this benchmark runs (e.g. a worktree's), not
                                 # the installed package's
                                 "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})})
    while not home.url_path.exists():
        if proc.poll() is not None:
            raise RuntimeError("the node exited during start-up")
        time.sleep(0.05)
    return proc, home.read_url() or "", time.perf_counter() - began


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident set (VmRSS; VmHWM is its peak), split into anonymous and
    file-backed pages (RssAnon, RssFile), in MB."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024
            for key in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}


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


def forecaster(dimension: int = D) -> SemanticSpec:
    """The semantic spec every learnware of these markets states."""
    return SemanticSpec.from_dict({"data_type": "table", "task_type": "regression",
                                   "name": "forecaster", "input": {"dimension": dimension},
                                   "output": {"dimension": 1}})


def put_batched(home: NodeHome, rows: Iterable[RecordRow], size: int = 2000,
                progress: bool = False) -> None:
    """Write `rows` into the home's store, `size` to a transaction."""
    with FileStore(home.store_dir(home.config(env={}))) as store:
        batch: list[RecordRow] = []
        done = 0
        for row in rows:
            batch.append(row)
            if len(batch) == size:
                store.put_records(batch)
                done, batch = done + size, []
                if progress:
                    print(f"  filled {done:,}", file=sys.stderr, end="\r", flush=True)
        store.put_records(batch)


def fill(home: NodeHome, n: int, market: Market) -> float:
    """Put n peers' signed announcements into the node's store; returns seconds."""
    owners = [Identity.from_seed(bytes([7, i]) * 16) for i in range(OWNERS)]
    semantic = forecaster()
    began = time.perf_counter()
    put_batched(home, (sign_announcement(
        owners[i % OWNERS], learnware_id=f"sha256:{i:064x}", organization=f"org {i % OWNERS}",
        semantic=semantic, spec=market.spec(i), size=10_000,
        urls=(f"http://10.0.0.{i % OWNERS}:8470/v1/learnwares/sha256:{i:064x}/package",),
        sequence=i // OWNERS + 1, now=0) for i in range(n)))
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
        try:
            times, many, wall, errors = searched(home, url, bodies, concurrent_bodies)
            mem = memory_mb(proc.pid)
        finally:
            stop_node(proc)
    return [f"{n:,}", f"{fill_s:.0f}", f"{start_s:.1f}", f"{pct(times, 50):.0f}",
            f"{pct(times, 95):.0f}", f"{wall:.2f}", f"{pct(many, 50):.0f}", f"{pct(many, 95):.0f}",
            errors, f"{mem['VmRSS']:.0f} ({mem['VmHWM']:.0f})"]


def searched(home: NodeHome, url: str, bodies: list[bytes], concurrent_bodies: list[bytes]
             ) -> tuple[list[float], list[float], float, int]:
    """Search one at a time (after a warm-up), then all of `concurrent_bodies` at once:
    (latencies, latencies at once, wall seconds at once, errors)."""
    # with the token: the node's own users are not paced by [budget] open_* limits
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {home.token()}"}
    post(f"{url}/v1/search", bodies[0], headers)  # warm-up
    lat = [post(f"{url}/v1/search", b, headers) for b in bodies]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        together = list(pool.map(lambda b: post(f"{url}/v1/search", b, headers),
                                 concurrent_bodies))
    wall = time.perf_counter() - began
    errors = sum(s != 200 for _, s in lat + together)
    return [t for t, _ in lat], [t for t, _ in together], wall, errors


# -- compact announcements -------------------------------------------------------------------
def fill_owner_and_holder(owner: NodeHome, holder: NodeHome, n: int, market: Market
                          ) -> float:
    """The owner's store gets n own announcements, the holder's their summaries."""
    identity = owner.identity()
    semantic = forecaster()
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
                mem = memory_mb(h_proc.pid)
            finally:
                stop_node(h_proc)
        finally:
            stop_node(o_proc)
    errors = sum(s != 200 for _, s in cold + warm)
    return [f"{n:,}", f"{fill_s:.0f}", f"{start_s:.1f}", f"{store_mb:.0f}",
            f"{pct([t for t, _ in cold], 50):.0f}", f"{pct([t for t, _ in cold], 95):.0f}",
            f"{pct([t for t, _ in warm], 50):.0f}", f"{pct([t for t, _ in warm], 95):.0f}",
            errors, f"{mem['VmRSS']:.0f} ({mem['VmHWM']:.0f})"]


# -- summaries at scale ------------------------------------------------------------------------
ORGS, SUMMARY_BASES = 1000, 100


def zipf_shares(n: int, s: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


class SketchMarket:
    """Real sketches of `SUMMARY_BASES` specs per space (d = 4 + space number);
    learnware i's codes are its base's plus noise (entry i depends on i only)."""

    def __init__(self, spaces: int = 20, seed: int = 0) -> None:
        from engine.search.sketch import make_sketch

        rng = np.random.default_rng(seed)
        self.dims = [4 + s for s in range(spaces)]
        self.centres = [rng.normal(scale=2.0, size=(SUMMARY_BASES, d)) for d in self.dims]
        self.bases = [[make_sketch(self._spec(s, b, rng)) for b in range(SUMMARY_BASES)]
                      for s in range(spaces)]
        self.space_of = rng.choice(spaces, size=10**7, p=zipf_shares(spaces))
        self.org_p = zipf_shares(ORGS)

    def _spec(self, space: int, base: int, rng: np.random.Generator, n_samples: int = 1000
              ) -> Any:
        d = self.dims[space]
        points = self.centres[space][base] + rng.normal(scale=0.5, size=(20, d))
        return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={d}",
                               "gamma": 0.25, "n_samples": n_samples, "points": points,
                               "weights": np.full(20, 1 / 20), "params": {}})

    def sketch(self, i: int) -> Any:
        from engine.search.sketch import Sketch, quantise

        rng = np.random.default_rng([1, i])
        base = self.bases[int(self.space_of[i])][i % SUMMARY_BASES]
        e = base.vector()
        bound = np.sqrt(2.0 / len(e)) * 0.999  # what weights summing to 1 can give
        e = np.clip(e + rng.normal(scale=0.1 * np.abs(e).mean(), size=len(e)), -bound, bound)
        codes, scale = quantise(e, "int8")
        return Sketch(base.version, base.space, base.gamma, "int8", scale, codes)

    def query(self, j: int) -> bytes:
        rng = np.random.default_rng([2, j])
        space = int(self.space_of[10**6 + j])
        spec = self._spec(space, int(rng.integers(SUMMARY_BASES)), rng, 500)
        return json.dumps({"statistical": spec_json(spec), "k": 5}).encode()


def fill_summaries(home: NodeHome, n: int, market: SketchMarket,
                   tags: Callable[[int], list[str]] | None = None) -> float:
    """n signed summaries of ORGS owners into the node's store; returns seconds.
    `tags`: learnware i's scenario tags (default: one of 50 sectors, in turn)."""
    from protocol.messages import SpecRef, SpecSummary

    owners = [Identity.from_seed(i.to_bytes(2, "big") * 16) for i in range(ORGS)]
    owner_of = np.random.default_rng(3).choice(ORGS, size=n, p=market.org_p)
    words = ["forecaster", "classifier", "sales", "river", "sensor", "churn", "price",
             "demand", "fraud", "energy", "traffic", "yield"]

    def summary(i: int) -> RecordRow:
        k = int(owner_of[i])
        sketch = market.sketch(i)
        d = int(sketch.space.split("=")[1])
        semantic = SemanticSpec.from_dict({
            "data_type": "table", "task_type": "regression",
            "name": f"{words[i % 12]} {words[(i // 12) % 12]} {i}",
            "scenarios": tags(i) if tags else [f"sector{i % 50}"], "input": {"dimension": d},
            "output": {"dimension": 1}})
        # content ids as real ones look (hashes), not counters: what the store and
        # the index keep of them (e.g. deflated) depends on it
        lid = content_id(b"package %d" % i)
        ref = SpecRef(content_id(b"spec %d" % i), "rkme_table", 20, None, sketch)
        record = SpecSummary(lid, owners[k].node_id, f"org {k}", semantic, (ref,), 10_000,
                             (f"http://10.0.{k // 256}.{k % 256}:8470/v1/learnwares/"
                              f"{lid}/package",), 1 + i, 0)
        return row_of(owners[k].sign(record), record, 0)

    began = time.perf_counter()
    put_batched(home, (summary(i) for i in range(n)), 5000, progress=True)
    return time.perf_counter() - began


def summaries_row(n: int, queries: int, spaces: int) -> list[Any]:
    market = SketchMarket(spaces)
    bodies = [market.query(j) for j in range(queries)]
    concurrent_bodies = [market.query(10_000 + j) for j in range(50)]
    with tempfile.TemporaryDirectory() as tmp:
        home = NodeHome(Path(tmp) / "home")
        home.init("Holder")
        fill_s = fill_summaries(home, n, market)
        store_dir = home.store_dir(home.config(env={}))
        # a node that keeps every learnware: over the default disk budget at a million,
        # it would narrow (benchmarks.disk_budget measures that)
        keep_all = {"LWDOCK_REPLICATION_MAX_DISK_MB": "0"}
        proc, _, first_s = start_node(home, env=keep_all)  # writes the index
        stop_node(proc)
        db_mb = (store_dir / "lwnode.sqlite3").stat().st_size / 2**20
        index_mb = sum(f.stat().st_size for f in (store_dir / "scratch" / "catalog-index")
                       .iterdir()) / 2**20
        proc, url, start_s = start_node(home, env=keep_all)  # maps it
        try:
            after_start = memory_mb(proc.pid)
            times, many, wall, errors = searched(home, url, bodies, concurrent_bodies)
            mem = memory_mb(proc.pid)
        finally:
            stop_node(proc)
    return [f"{n:,}", spaces, f"{fill_s:.0f}", f"{db_mb:.0f} + {index_mb:.0f}", f"{first_s:.1f}",
            f"{start_s:.1f}", f"{after_start['RssAnon']:.0f}", f"{pct(times, 50):.0f}",
            f"{pct(times, 95):.0f}", f"{wall:.2f}", f"{pct(many, 50):.0f}",
            f"{pct(many, 95):.0f}", errors,
            f"{mem['RssAnon']:.0f} + {mem['RssFile']:.0f} ({mem['VmHWM']:.0f})"]


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
    parser.add_argument("--summaries", default="",
                        help="sizes of the summaries-at-scale table (e.g. 1000000)")
    parser.add_argument("--summary-spaces", type=int, default=20,
                        help="spaces of the summaries-at-scale market (1: all in one)")
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
    sized_table(args.summaries, lambda n: summaries_row(n, args.queries, args.summary_spaces),
                "summaries N",
                f"A node holding N summaries, index mapped, searched through HTTP "
                f"({machine()})",
                ["N", "spaces", "fill s", "store MB (db + index)",
                 "first start s (writes index)",
                 "start s", "anon MB at start", "p50 ms", "p95 ms", "50 at once: wall s",
                 "p50 ms", "p95 ms", "errors", "RSS MB anon + file (peak)"])


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
