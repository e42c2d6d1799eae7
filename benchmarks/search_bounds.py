"""A search over large-but-legal candidates: time and peak memory within a budget.

    python -m benchmarks.search_bounds [--budgets 32,128] [--small 200]

Issue 14, finding 2: three announcements with specs of 10,000 points (the wire's
largest, d=5) made every mixture search build one kernel matrix over all their points
(6.7 GiB). Here a catalog holds those three plus `--small` ordinary entries (100
points); the requirement is a mix of the three big ones' tasks (so they lead the
ranking and the mixture is searched over them) with 100 points, then with 1,000 (the
node's default ``[budget] requirement_points``). For each memory budget: the search's
wall time and its peak traced allocation (tracemalloc sees numpy), and the insert's.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from benchmarks.common import machine, print_table
from engine.search import Catalog, Requirement
from engine.specification import SemanticSpec, spec_from_dict

D, BIG, SMALL_K, GAMMA = 5, 10_000, 100, 0.5
MiB = 1 << 20
SEM = SemanticSpec(data_type="table", task_type="regression", name="forecaster")


def spec_of(points: np.ndarray, rng: np.random.Generator):
    return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                           "gamma": GAMMA, "n_samples": 10 * len(points), "points": points,
                           "weights": rng.dirichlet(np.full(len(points), 5.0)), "params": {}})


def traced(fn):
    """(seconds, peak MiB allocated while `fn` ran, its result)."""
    tracemalloc.start()
    try:
        began = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()
    return seconds, peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="32,128", help="memory budgets, MiB")
    parser.add_argument("--small", type=int, default=200, help="ordinary entries (100 points)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3 + args.small, D))
    big = [spec_of(centres[i] + rng.normal(scale=0.7, size=(BIG, D)), rng) for i in range(3)]
    small = [spec_of(centres[3 + i] + rng.normal(scale=0.7, size=(SMALL_K, D)), rng)
             for i in range(args.small)]
    queries = {}
    for k in (100, 1000):
        rows = np.vstack([centres[i] + rng.normal(scale=0.7, size=(k // 3 + 1, D))
                          for i in range(3)])[:k]
        queries[k] = spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                                     "gamma": GAMMA, "n_samples": 10 * k, "points": rows,
                                     "weights": np.full(k, 1.0 / k), "params": {}})
    table = []
    for budget in (int(b) for b in args.budgets.split(",")):
        catalog = Catalog(memory_budget=budget * MiB)
        insert_s, insert_peak, _ = traced(
            lambda catalog=catalog: [catalog.add(f"big{i}", SEM, s) for i, s in enumerate(big)])
        for i, s in enumerate(small):
            catalog.add(f"small{i}", SEM, s)
        for k, query in queries.items():
            seconds, peak, result = traced(
                lambda catalog=catalog, query=query: catalog.search(Requirement(spec=query),
                                                                    k=5, max_mixture=3))
            mixed = "" if result.mixture is None else "+".join(result.mixture.ids)
            table.append([budget, k, f"{seconds:.2f}", f"{peak:.0f}", mixed or "none",
                          f"{insert_s / 3:.2f}", f"{insert_peak:.0f}"])
    print_table(f"Search over 3 x {BIG:,}-point candidates + {args.small} of {SMALL_K} points "
                f"(d={D}, max_mixture 3; {machine()})",
                ["budget MiB", "requirement points", "search s", "search peak MiB", "mixture",
                 "insert s (each big)", "insert peak MiB"], table)


if __name__ == "__main__":
    main()
