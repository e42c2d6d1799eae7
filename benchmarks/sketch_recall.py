"""Sketch-then-exact search against exact search on full specs: recall, bytes, time.

    python -m benchmarks.sketch_recall [--seeds test|tune] [--n 10000] [--timing 10000,100000]

Recall. Two markets: the search benchmark's (`benchmarks.search_bench.Market`: d = 10,
K = 100, 100 crowded base tasks) and `engine.search.synthetic.SyntheticMarket` (20
table spaces of width 2..40, 50 tasks each with skewed popularity, K = 10..60, two
kernels per space). For each seed, the exact MMD^2 of every query against every
candidate of its space (a full-spec `Catalog`, exact scan) gives the true top-5; for
each sketch setting (D, quantisation) and shortlist S, sketch-then-exact returns the
exact top-5 *among the S candidates nearest by sketch*, so its recall@5 is read off
the same exact values (the default setting is also run end to end through
`SketchIndex.search` and must agree). Seeds 0, 1 tune D and S; seeds 2, 3 report.

Timing (search benchmark market, default sketch settings): median per query of the
sketch scan alone, sketch-then-exact end to end (full specs from an in-memory dict,
mixture included), and the full-spec catalog's exact scan and RFF-indexed search
(both with the mixture).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from benchmarks.common import machine, print_table
from benchmarks.search_bench import Market
from engine.search import Catalog, Requirement, SearchResult
from engine.search.sketch import (
    DEFAULT_SKETCH_FEATURES,
    SKETCH_VERSION,
    Sketch,
    embedding,
    make_sketch,
    quantise,
)
from engine.search.sketch_search import DEFAULT_SKETCH_SHORTLIST, SketchIndex
from engine.search.synthetic import SyntheticMarket
from engine.specification import SemanticSpec
from engine.specification.rkme import RKMESpec
from protocol.sketch import encode_sketch

SEM = SemanticSpec(data_type="table", task_type="regression", name="entry")
T = TypeVar("T")
TUNE_SEEDS, TEST_SEEDS = (0, 1), (2, 3)
FEATURES = (64, 128, 256, 512)
DTYPES = ("int8", "float16")
SHORTLISTS = (25, 50, 100, 200)


def bench_market(seed: int, n: int, n_queries: int) -> tuple[list[RKMESpec], list[RKMESpec]]:
    from benchmarks.search_bench import make_spec

    market = Market(seed)
    specs = [make_spec(*market.entry(i)) for i in range(n)]
    return specs, [market.query(j) for j in range(n_queries)]


def synthetic_market(seed: int, n: int, n_queries: int
                     ) -> tuple[list[RKMESpec], list[RKMESpec]]:
    market = SyntheticMarket(seed)
    return ([market.entry(i)[2] for i in range(n)],
            [market.query(j)[1] for j in range(n_queries)])


MARKETS: dict[str, Callable[[int, int, int], tuple[list[RKMESpec], list[RKMESpec]]]] = {
    "search_bench": bench_market, "synthetic": synthetic_market}


def exact_values(specs: Sequence[RKMESpec], queries: Sequence[RKMESpec]
                 ) -> list[dict[str, float]]:
    """Exact MMD^2 of each query against every candidate of its space (full specs)."""
    catalog = Catalog(index=False)
    for i, s in enumerate(specs):
        catalog.add(f"lw{i}", SEM, s)
    out = []
    for q in queries:
        result = catalog.search(Requirement(spec=q), k=len(specs), max_mixture=1, exact=True)
        out.append({m.id: float(m.mmd2 or 0.0) for m in result.single})
    return out


def top5(values: dict[str, float], ids: Sequence[str] | None = None) -> set[str]:
    pool = values if ids is None else {i: values[i] for i in ids}
    return set(sorted(pool, key=lambda i: (pool[i], i))[:5])


def recall_rows(seeds: Sequence[int], n: int, n_queries: int) -> list[list[str]]:
    hits: dict[tuple[str, int, str, int], int] = {}
    total: dict[str, int] = {}
    end_to_end: dict[str, list[float]] = {}
    for name, build in MARKETS.items():
        for seed in seeds:
            specs, queries = build(seed, n, n_queries)
            truth = exact_values(specs, queries)
            total[name] = total.get(name, 0) + 5 * len(queries)
            for d in FEATURES:
                embeds = [embedding(s, float(s.gamma_), n_features=d) for s in specs]
                for dtype in DTYPES:
                    index = SketchIndex(n_features=d, dtype=dtype, shortlist=max(SHORTLISTS))
                    for i, (s, e) in enumerate(zip(specs, embeds, strict=True)):
                        codes, scale = quantise(e, dtype)
                        index.add(f"lw{i}", SEM, Sketch(SKETCH_VERSION, s.space,
                                                        float(s.gamma_), dtype, scale, codes))
                    for q, values in zip(queries, truth, strict=True):
                        ranked, _ = index.shortlist_for(Requirement(spec=q))
                        for size in SHORTLISTS:
                            got = len(top5(values, ranked[:size]) & top5(values))
                            key = (name, d, dtype, size)
                            hits[key] = hits.get(key, 0) + got
                    if d == DEFAULT_SKETCH_FEATURES and dtype == "int8":
                        end_to_end.setdefault(name, []).append(
                            _end_to_end(index, specs, queries, truth))
    rows = []
    for name in MARKETS:
        for d in FEATURES:
            for dtype in DTYPES:
                size = len(encode_sketch(make_sketch(_any_spec(), n_features=d, dtype=dtype)))
                recalls = [hits[(name, d, dtype, s)] / total[name] for s in SHORTLISTS]
                rows.append([name, str(d), dtype, str(size), *(f"{r:.4f}" for r in recalls)])
    for name, values in end_to_end.items():
        rows.append([f"{name}: SketchIndex.search", str(DEFAULT_SKETCH_FEATURES), "int8", "",
                     *(f"{np.mean(values):.4f}" if s == DEFAULT_SKETCH_SHORTLIST else ""
                       for s in SHORTLISTS)])
    return rows


def _end_to_end(index: SketchIndex, specs: Sequence[RKMESpec], queries: Sequence[RKMESpec],
                truth: Sequence[dict[str, float]]) -> float:
    """Recall@5 of `SketchIndex.search` itself at the default shortlist."""
    index.shortlist = DEFAULT_SKETCH_SHORTLIST
    by_id = {f"lw{i}": s for i, s in enumerate(specs)}
    got = 0
    for q, values in zip(queries, truth, strict=True):
        result = index.search(Requirement(spec=q), lambda ids: {i: by_id[i] for i in ids},
                              k=5, max_mixture=1)
        got += len({m.id for m in result.single} & top5(values))
    return got / (5 * len(queries))


def _any_spec() -> RKMESpec:
    return bench_market(0, 1, 0)[0][0]


def _median_ms(run: Callable[[RKMESpec], T], queries: Sequence[RKMESpec]
               ) -> tuple[float, list[T]]:
    """Median milliseconds of `run` over `queries`, and its results."""
    times, results = [], []
    for q in queries:
        start = time.perf_counter()
        results.append(run(q))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), results


def timing_rows(sizes: Sequence[int], n_queries: int, exact_queries: int) -> list[list[str]]:
    market = Market(TEST_SEEDS[0])
    queries = [market.query(j) for j in range(n_queries)]
    return [_timing_row(market, n, queries, exact_queries) for n in sizes]


def _timing_row(market: Market, n: int, queries: Sequence[RKMESpec], exact_queries: int
                ) -> list[str]:
    from benchmarks.search_bench import make_spec

    specs = {f"lw{i}": make_spec(*market.entry(i)) for i in range(n)}
    index, catalog = SketchIndex(), Catalog()
    for entry_id, s in specs.items():
        index.add(entry_id, SEM, make_sketch(s))
        catalog.add(entry_id, SEM, s)

    def fetch(ids: Sequence[str]) -> dict[str, RKMESpec]:
        return {i: specs[i] for i in ids}

    def sketch(q: RKMESpec) -> SearchResult:
        return index.search(Requirement(spec=q), fetch, k=5, max_mixture=3)

    sketch(queries[0])  # warm-up: feature maps, imports
    scan, _ = _median_ms(lambda q: index.shortlist_for(Requirement(spec=q)), queries)
    ours, found = _median_ms(sketch, queries)
    indexed, _ = _median_ms(lambda q: catalog.search(Requirement(spec=q), k=5), queries)
    exact, truth = _median_ms(lambda q: catalog.search(Requirement(spec=q), k=5, exact=True),
                              queries[:exact_queries])
    hits = sum(len({m.id for m in got.single} & {m.id for m in t.single})
               for got, t in zip(found, truth, strict=False))  # on the exact-timed queries
    return [f"{n:,}", f"{scan:.1f}", f"{ours:.1f}", f"{indexed:.1f}", f"{exact:.0f}",
            f"{hits / (5 * exact_queries):.3f} ({exact_queries})",
            f"{index.nbytes() / 2**20:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", choices=("test", "tune"), default="test")
    parser.add_argument("--n", type=int, default=10_000, help="entries per market for recall")
    parser.add_argument("--queries", type=int, default=20, help="queries per seed")
    parser.add_argument("--no-recall", action="store_true", help="only the timing table")
    parser.add_argument("--timing", default="10000,100000",
                        help="catalog sizes for timing ('' to skip)")
    parser.add_argument("--exact-queries", type=int, default=10,
                        help="queries timed for the exact scan (it is slow), and whose recall "
                             "the timing table shows")
    args = parser.parse_args()
    seeds = TEST_SEEDS if args.seeds == "test" else TUNE_SEEDS
    if not args.no_recall:
        print_table(f"Sketch-then-exact recall@5 vs exact search on full specs ({args.seeds} seeds "
                    f"{seeds}, N = {args.n}, {args.queries} queries a seed; {machine()})",
                    ["market", "D", "quantisation", "bytes/sketch",
                     *(f"recall@5 S={s}" for s in SHORTLISTS)],
                    recall_rows(seeds, args.n, args.queries))
    if args.timing:
        for size in (int(s) for s in args.timing.split(",")):  # a table each: big N is slow
            print_table(f"Search time per query, ms (median; search_bench market, D = "
                        f"{DEFAULT_SKETCH_FEATURES} int8, S = {DEFAULT_SKETCH_SHORTLIST}; "
                        f"{machine()})",
                        ["N", "sketch scan", "sketch-then-exact", "catalog indexed",
                         "catalog exact", "recall@5 (queries)", "sketch index MB"],
                        timing_rows([size], args.queries, args.exact_queries))


if __name__ == "__main__":
    main()
