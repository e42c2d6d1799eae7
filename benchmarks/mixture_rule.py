"""Issue 16, finding 2: does a looser mixture rule help zero-label averaging?

    python -m benchmarks.mixture_rule          # the image experiment's market and users

Search returns a mixture only when it fits the user's RKME clearly better than the
best single learnware (MMD^2 <= (1 - MIXTURE_MIN_GAIN) x the best single's,
`engine.search.mixture`); otherwise the data-free reusers get the top match alone.
This measures zero-label `Averaging` over what search returns (the mixture with its
weights, else the top match) for several values of the margin, per user.

Protocol, fixed before anything was measured: the market and the 20 users of
`benchmarks.experiments.image` (same seeds); users with an even index tune, users
with an odd index test. A margin other than the current one would be adopted only
if it wins on the tuning users; its test figures are the ones to report. (The
tabular and text experiments are not run here: training 34 forecasters or embedding
5,000 reviews does not fit this machine's one-minute budget for a measuring script.)

Measured (x86_64, 2 shared cores, one BLAS thread; 73 s, most of it loading MNIST and
training the market): every one of the 20 users already gets a 3-member mixture at
the current margin, so margins 0.1 and 0.0 change nothing — 0 wins, 0 losses, 10
ties on the tuning users and on the test users (mean accuracy 0.677 tune / 0.660
test for all three). On this market the rule does not bind; the rule is left
unchanged. Where the issue saw it bind (a regression market where 6 of 10 users got
no mixture) is the Birthdays shape, which this script does not cover.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.image import N_LEARNWARES, N_USERS, SEED
from benchmarks.reuse_common import build_catalog, score, search
from benchmarks.reuse_mnist import load, make_market, make_user, split
from engine.reuse import Averaging
from engine.search import mixture as mixture_rule

GAINS = (0.2, 0.1, 0.0)
"""Margins tried; 0.2 is the current rule (MIXTURE_MIN_GAIN)."""


def main() -> int:
    started = time.perf_counter()
    x, y = load()
    market_rows, user_rows = split(x, y)
    rng = np.random.default_rng(SEED)
    current = mixture_rule.MIXTURE_MIN_GAIN
    with threadpool_limits(1):
        market = make_market(x, y, market_rows, N_LEARNWARES, rng)
        users = [make_user(x, y, user_rows, rng) for _ in range(N_USERS)]
        catalog = build_catalog(market)
        by_id = {lw.id: lw for lw in market}
        acc = np.zeros((len(users), len(GAINS)))
        size = np.zeros((len(users), len(GAINS)), dtype=int)
        singles = np.zeros((len(users), 2))
        try:
            for u, user in enumerate(users):
                each = [score("classification", user.y_test, lw.model.predict(user.x_test))
                        for lw in market]
                singles[u] = np.mean(each), np.max(each)
                for g, gain in enumerate(GAINS):
                    mixture_rule.MIXTURE_MIN_GAIN = gain
                    mix, weights, _, _ = search(catalog, by_id, user.x_test, N_POINTS,
                                                SEED + u)
                    pred = Averaging(mix, weights=weights).fit().predict(user.x_test)
                    acc[u, g] = score("classification", user.y_test, pred)
                    size[u, g] = len(mix)
        finally:
            mixture_rule.MIXTURE_MIN_GAIN = current
    gap = (acc - singles[:, :1]) / (singles[:, 1:] - singles[:, :1])
    print(f"zero-label Averaging over what search returns, MNIST class subsets "
          f"({len(users)} users; {time.perf_counter() - started:.0f} s)")
    print("user  split   " + "".join(f"  gain {g:<4} (n)" for g in GAINS))
    for u in range(len(users)):
        cells = "".join(f"  {acc[u, g]:.3f} ({size[u, g]})  " for g in range(len(GAINS)))
        print(f"{u:>4}  {'tune' if u % 2 == 0 else 'test':<6}{cells}")
    for name, rows in (("tune", slice(0, None, 2)), ("test", slice(1, None, 2))):
        means = " ".join(f"{gain}: acc {acc[rows, g].mean():.3f}, gap "
                         f"{np.mean(gap[rows, g]):.0%}" for g, gain in enumerate(GAINS))
        print(f"{name}: {means}")
        for g, gain in enumerate(GAINS[1:], start=1):
            diff = acc[rows, g] - acc[rows, 0]
            print(f"  {gain} vs {current}: wins {int((diff > 1e-9).sum())}, losses "
                  f"{int((diff < -1e-9).sum())}, ties {int((np.abs(diff) <= 1e-9).sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
