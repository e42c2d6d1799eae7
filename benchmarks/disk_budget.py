"""What a node keeps under the default disk budget, and its bytes on disk.

    python -m benchmarks.disk_budget [--summaries 1000000] [--budget-mb 1000]
                                     [--domains 8] [--own 0 1 7 0,1,2] [--base DIR]

One node's store is filled with N signed summaries of `node_bench`'s summaries-at-scale
market (1,000 organizations with Zipf shares, 20 table spaces, real sketches), each
learnware tagged with one of `--domains` domains (Zipf shares, the r-th ~ 1/r: the
largest 37 % of the learnwares at 8, the smallest 4.6 %). A real node (``lwnode
run``) starts on it once with no budget (``max_disk_mb = 0``: it keeps everything and
writes its persisted index, as a node did before the budget): "keep all".

Then, for each `--own` case (the domains, by rank from 0 = the largest, of the node's
own learnwares: three of its own in each), a copy of that store and index gets the
node's own learnwares and the node starts under ``[replication] max_disk_mb =
--budget-mb`` (the default, 1000): over the budget, it narrows what it keeps to its
own learnwares' tags (`lwnode.node.diskbudget`) on the start path (the others
deleted, the database vacuumed, the index written anew). Printed per case: what it
keeps (from /v1/health), the learnwares in its catalog, its start-up time, the
database and index files on disk after it stopped, and a second start's time (the
index mapped). The store fill is the same for every case; its bytes per learnware do
not depend on N (docs/benchmarks.md, "Bytes on disk per known learnware").

`--running R` (a domain rank) measures a narrowing WHILE RUNNING: a copy with no own
learnwares starts under the budget (it keeps the most common tags), answers searches
one after another (no tags: not an interest) and lists learnwares (a request the
store's thread serves) in the background; then one search of its user names domain
R, its first interest, and the node chooses again (the other tags' learnwares deleted,
the database vacuumed, the index written anew and moved to). Printed: how long that
took, the searches and store requests answered during it (p50 / max latency, errors),
and before it.

`--base DIR` keeps the filled, keep-all node home in DIR (a fill at a million takes
minutes) and reuses it when DIR holds one of the same `--summaries`, `--domains` and
`--spaces`: every case runs on a copy, so the base is never changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import machine, print_table
from benchmarks.node_bench import (
    SketchMarket,
    fill_summaries,
    pct,
    post,
    start_node,
    stop_node,
    zipf_shares,
)
from engine.specification import SemanticSpec
from lwnode.home import NodeHome
from lwnode.node.records import sign_announcement
from lwnode.node.store import FileStore

DOMAINS = ("business", "financial", "health", "politics", "computer", "internet", "traffic",
           "nature", "education", "retail", "energy", "sports")
"""Named after Beimingwu's scenario list (as `network_sim`'s market)."""
OWN_EACH = 3


def store_bytes(home: NodeHome) -> tuple[int, int]:
    """(database file, index files) on disk of a stopped node."""
    store_dir = home.store_dir(home.config(env={}))
    index = store_dir / "scratch" / "catalog-index"
    files = [f for f in index.iterdir() if f.is_file()] if index.exists() else []
    database = store_dir / "lwnode.sqlite3"
    wal = Path(f"{database}-wal")
    return (database.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
            sum(f.stat().st_size for f in files))


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/v1/health", timeout=60) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def add_own(home: NodeHome, market: SketchMarket, domains: list[str]) -> None:
    """`OWN_EACH` learnwares of the node's own in each of `domains` (stored as a publish
    stores them: blob, signed announcement, own row)."""
    identity = home.identity()
    rng = np.random.default_rng(5)
    with FileStore(home.store_dir(home.config(env={}))) as store:
        for j, domain in enumerate(d for d in domains for _ in range(OWN_EACH)):
            spec = market._spec(0, j, rng)
            semantic = SemanticSpec.from_dict({
                "data_type": "table", "task_type": "regression", "name": f"own {j}",
                "scenarios": [domain], "input": {"dimension": market.dims[0]},
                "output": {"dimension": 1}})
            writer = store.blob_writer()
            writer.write(b"own package %d" % j)
            learnware_id = writer.content_id()

            def record(sequence: int, lid: str = learnware_id, sem: Any = semantic,
                       rkme: Any = spec, size: int = writer.size) -> Any:
                return sign_announcement(identity, learnware_id=lid, organization="Holder",
                                         semantic=sem, spec=rkme, size=size,
                                         urls=(f"http://127.0.0.1/v1/learnwares/{lid}/package",),
                                         sequence=sequence, now=0)

            store.add_own(writer, identity.node_id, "{}", record, 0)


def run_case(base: Path, work: Path, market: SketchMarket, own: list[str], budget_mb: int
             ) -> list[Any]:
    case = work / "case"
    shutil.rmtree(case, ignore_errors=True)
    began = time.perf_counter()
    shutil.copytree(base, case)
    copy_s = time.perf_counter() - began
    home = NodeHome(case)
    add_own(home, market, own)
    env = {"LWDOCK_REPLICATION_MAX_DISK_MB": str(budget_mb)}
    proc, url, start_s = start_node(home, env=env)
    try:
        state = health(url)
    finally:
        stop_node(proc)
    db, index = store_bytes(home)
    proc, url, again_s = start_node(home, env=env)
    try:
        again = health(url)
    finally:
        stop_node(proc)
    shutil.rmtree(case, ignore_errors=True)
    replication = state["replication"]
    return [", ".join(own) or "none", replication["keeps"], f"{state['counts']['catalog']:,}",
            "yes" if replication["taking_new"] else "NO", f"{start_s:.1f}",
            f"{db / 1e6:,.0f} + {index / 1e6:,.0f} = {(db + index) / 1e6:,.0f}",
            f"{replication['disk_bytes'] / 1e6:,.0f}", f"{again_s:.1f}",
            "the same" if again["replication"]["keeps"] == replication["keeps"]
            else again["replication"]["keeps"], f"{copy_s:.0f}"]


class Prober(threading.Thread):
    """Sends one request after another until stopped: (start, seconds, status) each."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self.call, self.done = call, threading.Event()
        self.times: list[tuple[float, float, int]] = []

    def run(self) -> None:
        while not self.done.is_set():
            began = time.perf_counter()
            try:
                status = self.call()
            except Exception:
                status = -1
            self.times.append((began, time.perf_counter() - began, status))
            time.sleep(0.02)


def get_status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=300) as answer:
        answer.read()
        return int(answer.status)


def run_running(base: Path, work: Path, market: SketchMarket, tag: str, budget_mb: int,
                log: Path | None) -> list[list[Any]]:
    """A narrowing while running (module doc): rows of the table; the node's log to
    `log` (its "disk budget" lines time the deletion and the vacuum)."""
    case = work / "running"
    shutil.rmtree(case, ignore_errors=True)
    shutil.copytree(base, case)
    home = NodeHome(case)
    env = {"LWDOCK_REPLICATION_MAX_DISK_MB": str(budget_mb)}
    proc, url, start_s = start_node(home, env=env, log=log)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {home.token()}"}
    bodies = [market.query(j) for j in range(50)]
    count = iter(range(10**9))
    searches = Prober(lambda: post(f"{url}/v1/search", bodies[next(count) % 50], headers)[1])
    listing = Prober(lambda: get_status(f"{url}/v1/learnwares?limit=5", headers))
    try:
        before = health(url)
        while before["catalog_index"]["rewriting"]:
            time.sleep(1)
            before = health(url)
        searches.start()
        listing.start()
        time.sleep(10)
        asked = time.perf_counter()
        trigger = json.loads(bodies[0])
        trigger["semantic"] = {"scenarios": [tag]}
        post(f"{url}/v1/search", json.dumps(trigger).encode(), headers)
        keeps, held = before["replication"]["keeps"], before["counts"]["catalog"]
        while True:  # until it chose, and its catalog moved to the index written anew
            time.sleep(0.5)
            now = health(url)
            if now["replication"]["keeps"] != keeps and now["counts"]["catalog"] != held \
                    and not now["catalog_index"]["rewriting"]:
                break
        done = time.perf_counter()
        time.sleep(5)
    finally:
        searches.done.set()
        listing.done.set()
        searches.join()
        listing.join()
        stop_node(proc)
    shutil.rmtree(case, ignore_errors=True)

    def row(what: str, probe: Prober, lo: float, hi: float) -> list[Any]:
        times = [t for b, t, _ in probe.times if lo <= b < hi]
        errors = sum(s != 200 for b, _, s in probe.times if lo <= b < hi)
        return [what, f"{lo - asked:+.0f}..{hi - asked:+.0f}", len(times),
                f"{pct(times, 50):.0f}" if times else "-",
                f"{max(times) * 1000:.0f}" if times else "-", errors]

    print(f"running: start {start_s:.1f} s keeping {before['replication']['keeps']}; asked "
          f"for {tag}: now {now['replication']['keeps']} ({now['counts']['catalog']:,} in "
          f"the catalog, {now['replication']['disk_bytes'] / 1e6:,.0f} MB) after "
          f"{done - asked:.1f} s", flush=True)
    return [row("searches before", searches, asked - 10, asked),
            row("searches during", searches, asked, done),
            row("store requests before", listing, asked - 10, asked),
            row("store requests during", listing, asked, done),
            ["(the change)", f"{before['replication']['keeps']} -> "
             f"{now['replication']['keeps']}", f"{now['counts']['catalog']:,} kept",
             f"{done - asked:.1f} s", f"{now['replication']['disk_bytes'] / 1e6:,.0f} MB", ""]]


def base_home(path: Path, n: int, market: SketchMarket, names: tuple[str, ...],
              domain_of: Any, extra: dict[str, Any]) -> tuple[NodeHome, float, float, Any]:
    """The keep-all node home of the market at `path`: filled and started once with no
    budget (which writes its index), or reused if `path` holds one of the same market
    (then the fill and first start times are those of the run that made it)."""
    key = {"summaries": n, "domains": list(names), **extra}
    made = path / "disk_budget_base.json"
    if made.exists():
        saved = json.loads(made.read_text())
        if saved["key"] == key:
            print(f"reusing the filled store in {path}", flush=True)
            return NodeHome(path / "home"), saved["fill_s"], saved["first_s"], saved["full"]
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    home = NodeHome(path / "home")
    home.init("Holder")
    fill_s = fill_summaries(home, n, market, lambda i: [names[int(domain_of[i])]])
    proc, url, first_s = start_node(home, env={"LWDOCK_REPLICATION_MAX_DISK_MB": "0"})
    try:
        full = health(url)
    finally:
        stop_node(proc)
    made.write_text(json.dumps({"key": key, "fill_s": fill_s, "first_s": first_s,
                                "full": full}))
    return home, fill_s, first_s, full


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summaries", type=int, default=1_000_000)
    parser.add_argument("--budget-mb", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=8)
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--own", nargs="*", default=["0", "1", "7", "0,1,2"],
                        help="one case per item: the ranks of the own learnwares' domains "
                             "('-': no own learnwares)")
    parser.add_argument("--base", type=Path, default=None,
                        help="keep the filled keep-all home here, and reuse it if it is "
                             "of the same market")
    parser.add_argument("--running", type=int, default=None,
                        help="measure a narrowing while running to this domain rank")
    parser.add_argument("--log", type=Path, default=None,
                        help="the --running node's log (appended)")
    args = parser.parse_args(argv)
    n, names = args.summaries, DOMAINS[:args.domains]
    shares = zipf_shares(len(names))
    domain_of = np.random.default_rng(11).choice(len(names), size=n, p=shares)
    market = SketchMarket(args.spaces)
    with tempfile.TemporaryDirectory(dir=args.base.parent if args.base else None) as tmp:
        work = Path(tmp)
        home, fill_s, first_s, full = base_home(args.base or work / "base", n, market,
                                                 names, domain_of,
                                                 {"spaces": args.spaces})
        db, index = store_bytes(home)
        counts = np.bincount(domain_of, minlength=len(names))
        print_table(f"The market: {n:,} summaries, {len(names)} domains ({machine()})",
                    ["rank", "domain", "learnwares", "share"],
                    [[r, names[r], f"{c:,}", f"{c / n:.1%}"] for r, c in enumerate(counts)])
        print_table("Keep all (max_disk_mb = 0)",
                    ["fill s", "first start s (writes index)", "catalog",
                     "db + index MB on disk", "B / learnware"],
                    [[f"{fill_s:.0f}", f"{first_s:.1f}", f"{full['counts']['catalog']:,}",
                      f"{db / 1e6:,.0f} + {index / 1e6:,.0f} = {(db + index) / 1e6:,.0f}",
                      f"{(db + index) / n:,.0f}"]])
        rows = []
        for case in args.own:
            own = [names[int(r)] for r in case.split(",") if r != "-"]
            rows.append(run_case(home.path, work, market, own, args.budget_mb))
            print(f"own {case}: {rows[-1]}", flush=True)
        print_table(f"Under max_disk_mb = {args.budget_mb} ({OWN_EACH} own learnwares in "
                    "each own domain)",
                    ["own domains", "keeps", "catalog", "taking new", "start s (narrows)",
                     "db + index MB on disk after", "disk_bytes MB (health)",
                     "next start s", "next start keeps", "copy s"], rows)
        if args.running is not None:
            print_table(f"Narrowing while running (max_disk_mb = {args.budget_mb}, no own "
                        f"learnwares; its user searches {names[args.running]})",
                        ["requests", "window s (from the search)", "answered",
                         "p50 ms", "max ms", "errors"],
                        run_running(home.path, work, market, names[args.running],
                                    args.budget_mb, args.log))


if __name__ == "__main__":
    main()
