"""What an anti-entropy digest costs the node that answers it, per replication filter.

    python -m benchmarks.digest_cost [--summaries 200000] [--keep DIR]

A real `FileStore` of signed summaries (`benchmarks.node_bench.fill_summaries`: 1,000
owners with Zipf shares, 20 spaces, each learnware tagged with one of 50 sectors). For
no filter, one sector's learnwares and one data type, `Digests.entries` is timed the
first time (every owner's fingerprint computed) and then as a node answers peers round
after round with nothing new ("steady", mean of 5). `--keep DIR` keeps the filled store
there for the next run (filling 200,000 takes minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, print_table
from benchmarks.node_bench import SketchMarket, fill_summaries
from lwnode.federation.antientropy import Digests
from lwnode.home import NodeHome
from lwnode.node.store import FileStore
from protocol.replication import ReplicationFilter


def timed(digests: Digests, store: FileStore, filters: tuple[ReplicationFilter, ...],
          repeat: int = 1) -> float:
    """Mean seconds of `repeat` digests of the whole owner space."""
    began = time.perf_counter()
    for _ in range(repeat):
        digests.entries(store, "", "", filters)
    return (time.perf_counter() - began) / repeat


def run(root: Path, n: int) -> list[list[str]]:
    home = NodeHome(root / "home")
    if not (root / "home").exists():
        home.init("Holder")
        fill_summaries(home, n, SketchMarket(20))
    rows = []
    with FileStore(home.store_dir(home.config(env={}))) as store:
        filters: dict[str, tuple[ReplicationFilter, ...]] = {
            "every learnware": (),
            "one sector of 50": (ReplicationFilter(scenarios=("sector1",)),),
            "data type table": (ReplicationFilter(data_types=("table",)),)}
        for name, f in filters.items():
            digests = Digests()
            first = timed(digests, store, f)
            steady = timed(digests, store, f, 5)
            owners = len(digests.entries(store, "", "", f))
            rows.append([name, str(owners), f"{first:.2f}", f"{steady * 1000:.1f}"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summaries", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="keep the filled store in this folder")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        rows = run(args.keep, args.summaries)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(Path(tmp), args.summaries)
    print(f"python -m benchmarks.digest_cost --summaries {args.summaries}  ({machine()})")
    print_table(f"Digest of a store of {args.summaries:,} summaries, by replication filter",
                ["filter", "owners", "first s", "steady ms"], rows)


if __name__ == "__main__":
    main()
