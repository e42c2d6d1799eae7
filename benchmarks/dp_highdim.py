"""Why the DP mode fails on MNIST: does its fit reach the digits when the noise is gone?

    python -m benchmarks.dp_highdim [--epsilons 1,1000] [--rows 600]

600 MNIST images of the digits 0-3 (150 each, from the market's part of the data,
`benchmarks.reuse_mnist.split`), the market's gamma 2^-6 and the public bounds [0, 1]
(`benchmarks.privacy_sweep.PUBLIC`). For the private default and the DP mode at each
epsilon (epsilon 1000: practically no noise, a diagnostic, not a setting), with K = 100:

- ``rff dist``: the distance between the spec's and the rows' mean of the DP mode's
  2,048 random features: what the DP fit minimises (against the noisy mean);
- ``MMD2``: the exact Gaussian-kernel MMD² between the spec and the rows: what search
  and the reusers see;
- ``pixel mean``: the mean pixel of the points, the rows' beside it.

The figures in docs/privacy.md ("The sweep on the three experiments") come from here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import print_table
from benchmarks.privacy_sweep import DELTA, PUBLIC
from benchmarks.reuse_mnist import load, split
from engine.privacy import dp
from engine.specification import RKMETableSpec
from engine.specification.rkme import mmd2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", default="1,1000")
    parser.add_argument("--rows", type=int, default=600)
    args = parser.parse_args(argv)
    gamma, bounds = PUBLIC["image"]
    x, y = load()
    market, _ = split(x, y)
    rng = np.random.default_rng(0)
    per_digit = args.rows // 4
    rows = x[np.concatenate([rng.choice(market[d], per_digit, replace=False)
                             for d in range(4)])]
    features = dp.Features.draw(rows.shape[1], gamma, 0)
    target = features(rows).mean(axis=0)
    table = []
    with threadpool_limits(1):
        modes = [("default", {})] + [(f"dp {float(e):g}", {"epsilon": float(e), "delta": DELTA,
                                                           "bounds": bounds})
                                     for e in args.epsilons.split(",") if e]
        for name, extra in modes:
            started = time.perf_counter()
            spec = RKMETableSpec(n_points=100, gamma=gamma, random_state=0, **extra).fit(rows)
            mean = spec.weights_ @ features(spec.points_)
            table.append([name, len(spec.points_), f"{np.linalg.norm(mean - target):.3f}",
                          f"{mmd2(spec, rows):.4f}", f"{spec.points_.mean():.3f}",
                          f"{rows.mean():.3f}", f"{time.perf_counter() - started:.0f}"])
    print(f"python -m benchmarks.dp_highdim --epsilons {args.epsilons} --rows {args.rows}; "
          f"norm of the rows' random-feature mean {np.linalg.norm(target):.3f}")
    print_table(f"MNIST, {len(rows)} images of 0-3, gamma 2^-6: how close each spec is to "
                "its rows", ["mode", "K", "rff dist", "MMD2", "pixel mean", "rows' pixel mean",
                             "s"], table)


if __name__ == "__main__":
    main()
