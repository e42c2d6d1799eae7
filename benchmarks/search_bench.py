"""Search latency, recall and memory against catalog size; the reference side by side.

    python -m benchmarks.search_bench [--sizes 10,100,1000,5000,100000] [--no-reference]

Catalog entries are perturbed specs (d=10, K=100, gamma=0.1 — the reference's
kernel, so both systems rank under the same one) around 100 base tasks; queries are
perturbations of random base tasks. For each N: exact and indexed latency (median of
the queries), recall@5 of the index against the exact scan, catalog memory (RSS
growth while building), and the reference's latency and top-5 agreement for N <= 5,000.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time

import numpy as np

from benchmarks.common import machine, print_table, rss_mb
from engine.search import Catalog, Requirement
from engine.specification import SemanticSpec, spec_from_dict

D, K, GAMMA, BASES = 10, 100, 0.1, 100


def make_spec(points: np.ndarray, weights: np.ndarray):
    return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                           "gamma": GAMMA, "n_samples": 1000, "points": points,
                           "weights": weights, "params": {}})


class Market:
    """Reproducible perturbed specs: entry i depends only on (seed, i)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.bases = rng.normal(scale=2.0, size=(BASES, K, D))
        self.seed = seed

    def entry(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, i])
        scale = rng.uniform(0.05, 1.0)
        points = self.bases[i % BASES] + rng.normal(scale=scale, size=(K, D))
        return points, rng.dirichlet(np.full(K, 5.0))

    def query(self, j: int):
        rng = np.random.default_rng([self.seed, 10**9 + j])
        points = self.bases[rng.integers(BASES)] + rng.normal(scale=0.3, size=(K, D))
        return make_spec(points, rng.dirichlet(np.full(K, 5.0)))


def build(market: Market, n: int, points_dir: str | None = None
          ) -> tuple[Catalog, float, float]:
    gc.collect()
    before = rss_mb()
    catalog = Catalog(points_dir=points_dir)
    start = time.perf_counter()
    for i in range(n):
        points, weights = market.entry(i)
        catalog.add(f"lw{i}", SemanticSpec(data_type="table", task_type="regression",
                                           name=f"forecaster {i}"), make_spec(points, weights))
    seconds = time.perf_counter() - start
    gc.collect()
    return catalog, seconds, rss_mb() - before


def latency_ms(catalog: Catalog, queries, exact: bool) -> tuple[float, list[list[str]]]:
    times, tops = [], []
    for q in queries:
        start = time.perf_counter()
        result = catalog.search(Requirement(spec=q), k=5, max_mixture=1, exact=exact)
        times.append((time.perf_counter() - start) * 1000)
        tops.append([m.id for m in result.single])
    return statistics.median(times), tops


def reference_search(market: Market, n: int, queries, ours: list[list[str]]
                     ) -> tuple[str, str]:
    """(median ms, how many of our exact top-5 the reference's nearest five share),
    from the reference market's own search on the same specs and kernel."""
    from benchmarks.reference import bridge

    if not bridge.available():
        return "n/a", "n/a"
    specs = [market.entry(i) for i in range(n)]
    times, shared = [], []
    for q, our_top in zip(queries, ours, strict=False):
        result = bridge.search(specs, q, gamma=GAMMA, repeats=3, timeout=1800, threads=1)
        if not result.ok:
            return "failed", result.reason[:40]
        times.append(result.data["search"]["median_ms"])
        ref_top = {f"lw{i}" for i in result.data["top5_by_distance"]["ids"]}
        shared.append(len(ref_top & set(our_top)) / 5)
    return f"{statistics.median(times):.0f}", f"{np.mean(shared):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000,100000")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--file-points-from", type=int, default=100_000,
                        help="from this N on, also measure with points in a scratch file")
    args = parser.parse_args()
    market = Market()
    queries = [market.query(j) for j in range(args.queries)]
    rows = []
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [(n, None) for n in sizes] + [(n, "file") for n in sizes
                                        if n >= args.file_points_from]
    for n, mode in runs:
        with tempfile.TemporaryDirectory() as scratch:
            catalog, build_s, mem = build(market, n, scratch if mode else None)
            latency_ms(catalog, queries[:2], exact=False)  # warm-up
            exact_ms, exact_top = latency_ms(catalog, queries[: 5 if n > 10_000 else None],
                                             exact=True)
            index_ms, index_top = latency_ms(catalog, queries, exact=False)
            recall = np.mean([len(set(a) & set(b)) / 5 for a, b in
                              zip(exact_top, index_top, strict=False)])
            del catalog
        ref_ms, ref_agree = ("n/a", "n/a")
        if not args.no_reference and n <= 5000 and mode is None:
            ref_ms, ref_agree = reference_search(market, n, queries[:3], exact_top[:3])
        rows.append([f"{n:,}", mode or "memory", f"{build_s:.1f}", f"{exact_ms:.1f}",
                     f"{index_ms:.1f}", f"{recall:.3f}", f"{mem:.0f}", ref_ms, ref_agree])
    print_table(f"Search latency (d={D}, K={K}; {machine()})",
                ["N", "points", "build s", "exact ms", "indexed ms", "recall@5", "catalog MB",
                 "reference ms", "ref top-5 = ours"], rows)


if __name__ == "__main__":
    main()
