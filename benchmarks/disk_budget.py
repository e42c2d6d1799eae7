"""What a node keeps under the default disk budget, and its bytes on disk.

    python -m benchmarks.disk_budget [--summaries 1000000] [--budget-mb 1000]
                                     [--domains 8] [--own 0 1 7 0,1,2]

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
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import machine, print_table
from benchmarks.node_bench import SketchMarket, fill_summaries, start_node, stop_node, zipf_shares
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summaries", type=int, default=1_000_000)
    parser.add_argument("--budget-mb", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=8)
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--own", nargs="*", default=["0", "1", "7", "0,1,2"],
                        help="one case per item: the ranks of the own learnwares' domains "
                             "('-': no own learnwares)")
    args = parser.parse_args(argv)
    n, names = args.summaries, DOMAINS[:args.domains]
    shares = zipf_shares(len(names))
    domain_of = np.random.default_rng(11).choice(len(names), size=n, p=shares)
    market = SketchMarket(args.spaces)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = NodeHome(work / "base")
        home.init("Holder")
        fill_s = fill_summaries(home, n, market, lambda i: [names[int(domain_of[i])]])
        proc, url, first_s = start_node(home, env={"LWDOCK_REPLICATION_MAX_DISK_MB": "0"})
        try:
            full = health(url)
        finally:
            stop_node(proc)
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


if __name__ == "__main__":
    main()
