"""Search latency, recall and memory against catalog size; the reference side by side.

    python -m benchmarks.search_bench [--sizes 10,100,1000,5000,100000] [--no-reference]

Catalog entries are perturbed specs (d=10, K=100, gamma=0.1 — the reference's
kernel, so both systems rank under the same one) around 100 base tasks; queries are
perturbations of random base tasks, with a semantic part (table, regression) that
every entry passes, as the reference's runner gives its own. Both systems run on one
thread (BLAS pinned here, OMP/torch threads in the reference's runner).

For each N: exact and indexed latency for singles only, and the default search —
singles *and* the greedy mixture (mixtures of up to 3) — in wall and CPU time (median
of the queries); recall@5 of the index against the exact scan; catalog memory (RSS
growth while building, each catalog in a fresh process); and for N <= 5,000 the
reference's ``search_learnware``, which always includes its greedy mixture, in wall
and CPU time, the speed-up of ours *with* the mixture over it, and its top-5
agreement.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

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


QUERY_SEMANTIC = SemanticSpec(data_type="table", task_type="regression")


def latency_ms(catalog: Catalog, queries, exact: bool, max_mixture: int = 1
               ) -> tuple[float, float, list[list[str]], list[int]]:
    """Median wall and CPU ms, each query's top-5 ids and its mixture's size (0: none)."""
    times, cpu, tops, mixes = [], [], [], []
    for q in queries:
        start, cpu_start = time.perf_counter(), time.process_time()
        result = catalog.search(Requirement(semantic=QUERY_SEMANTIC, spec=q), k=5,
                                max_mixture=max_mixture, exact=exact)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - cpu_start) * 1000)
        tops.append([m.id for m in result.single])
        mixes.append(len(result.mixture.ids) if result.mixture is not None else 0)
    return statistics.median(times), statistics.median(cpu), tops, mixes


def reference_search(market: Market, n: int, queries, ours: list[list[str]]
                     ) -> tuple[float, float, float, list[int]] | str:
    """(median wall ms, median CPU ms, share of the reference's nearest five that are in
    our exact top-5, its mixtures' sizes) from the reference market's own search —
    singles and its greedy mixture — on the same specs and kernel; or why not."""
    from benchmarks.reference import bridge

    if not bridge.available():
        return "n/a"
    specs = [market.entry(i) for i in range(n)]
    times, cpu, shared, mixes = [], [], [], []
    for q, our_top in zip(queries, ours, strict=False):
        result = bridge.search(specs, q, gamma=GAMMA, repeats=3, timeout=1800, threads=1)
        if not result.ok:
            return "failed: " + result.reason[:40]
        times.append(result.data["search"]["median_ms"])
        cpu.append(result.data["search"]["cpu_median_ms"])
        ref_top = {f"lw{i}" for i in result.data["top5_by_distance"]["ids"]}
        shared.append(len(ref_top & set(our_top)) / 5)
        mix = result.data["mixture"]
        mixes.append(len(mix["ids"]) if mix["returned_by_market"] else 0)
    return statistics.median(times), statistics.median(cpu), float(np.mean(shared)), mixes


def _sizes(mixes: list[int]) -> str:
    """How many searches gave a mixture of each size, e.g. "2:11 3:9" (0: none)."""
    counts = {k: mixes.count(k) for k in sorted(set(mixes))}
    return " ".join(f"{k}:{v}" for k, v in counts.items())


def measure(n: int, mode: str | None, n_queries: int) -> tuple[Any, ...]:
    """One catalog's row (run in a child process by `main`)."""
    threadpool_limits(limits=1)  # one thread, as the reference's runner
    market = Market()
    queries = [market.query(j) for j in range(n_queries)]
    with tempfile.TemporaryDirectory() as scratch:
        catalog, build_s, mem = build(market, n, scratch if mode else None)
        latency_ms(catalog, queries[:2], exact=False, max_mixture=3)  # warm-up
        exact_ms, _, exact_top, _ = latency_ms(
            catalog, queries[: 5 if n > 10_000 else None], exact=True)
        index_ms, _, index_top, _ = latency_ms(catalog, queries, exact=False)
        mix_ms, mix_cpu, _, mixes = latency_ms(catalog, queries, exact=False, max_mixture=3)
        recall = float(np.mean([len(set(a) & set(b)) / 5 for a, b in
                                zip(exact_top, index_top, strict=False)]))
        del catalog
    return build_s, mem, exact_ms, index_ms, mix_ms, mix_cpu, recall, mixes, exact_top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000,100000")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--reference-queries", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--file-points-from", type=int, default=100_000,
                        help="from this N on, also measure with points in a scratch file")
    args = parser.parse_args()
    market = Market()
    queries = [market.query(j) for j in range(args.queries)]
    rows, compared = [], []
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [(n, None) for n in sizes] + [(n, "file") for n in sizes
                                        if n >= args.file_points_from]
    spawn = multiprocessing.get_context("spawn")
    for n, mode in runs:
        # A fresh process per catalog: RSS growth in a process that already built (and
        # freed) a catalog understates the next one's (its heap is reused).
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            (build_s, mem, exact_ms, index_ms, mix_ms, mix_cpu, recall, mixes,
             exact_top) = pool.submit(measure, n, mode, args.queries).result()
        rows.append([f"{n:,}", mode or "memory", f"{build_s:.1f}", f"{exact_ms:.1f}",
                     f"{index_ms:.1f}", f"{mix_ms:.1f}", f"{mix_cpu:.1f}", f"{recall:.3f}",
                     f"{mem:.0f}", _sizes(mixes)])
        print(*rows[-1], sep=" | ", file=sys.stderr, flush=True)  # progress
        if not args.no_reference and n <= 5000 and mode is None:
            ref = reference_search(market, n, queries[: args.reference_queries],
                                   exact_top[: args.reference_queries])
            if isinstance(ref, str):
                compared.append([f"{n:,}", ref, "", "", "", "", "", "", ""])
                continue
            ref_ms, ref_cpu, agree, ref_mixes = ref
            compared.append([f"{n:,}", f"{mix_ms:.1f}", f"{mix_cpu:.1f}", f"{ref_ms:.0f}",
                             f"{ref_cpu:.0f}", f"{ref_ms / mix_ms:.0f}x",
                             f"{ref_cpu / mix_cpu:.0f}x", f"{agree:.2f}", _sizes(ref_mixes)])
            print(*compared[-1], sep=" | ", file=sys.stderr, flush=True)
    print_table(f"Search latency (d={D}, K={K}, one thread; {machine()})",
                ["N", "points", "build s", "exact ms", "singles ms", "with mixture ms",
                 "with mixture CPU ms", "recall@5", "catalog MB", "mixture sizes"], rows)
    if compared:
        print_table(f"Like for like with the reference: singles and mixture on both sides "
                    f"(one thread each; {machine()})",
                    ["N", "ours ms", "ours CPU ms", "reference ms", "reference CPU ms",
                     "speed-up", "speed-up (CPU)", "ref top-5 = ours", "ref mixture sizes"],
                    compared)


if __name__ == "__main__":
    main()
