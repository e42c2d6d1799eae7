"""Reuse on synthetic regions: every reuser against labels alone, and JobSelector's routing.

    python -m benchmarks.reuse_synthetic [--users 6] [--task classification,regression]
                                         [--sweep-users 3] [--reference] [--ref-herding-num 200]

A market of 10 learnwares (`engine.reuse.synthetic`: Gaussian regions in d=10, each
with its own quadratic labelling function and, for classification, its own 3 of 10
class names; learnware r is a degree-2 model trained on 1,000 rows of region r).
Users are single-region tasks and 2-region mixtures (proportions 0.3-0.7); each has
2,000 test rows (which also give its RKME for the search) and a pool of 500 rows to
draw 10/50/100/500 labels from. See `reuse_common` for the protocol.

The second table sweeps how far apart regions are and compares JobSelector with
oracle routing (each row to the learnware of its true region) and with Bayes routing
(each row to the region of highest true density times proportion: the best any
router can do). With `--reference` the reference's JobSelectorReuser runs on the same
specs, models' predictions and users (`benchmarks/reference/bridge.py`), with kernel
herding (`--ref-herding-num` samples; the reference default is 1,000, which took 14
minutes for one 2,000-row user on 2 busy cores) and without (LightGBM on the
reduced sets).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.reference import bridge
from benchmarks.reuse_common import Scores, User, build_catalog, evaluate_user, print_table
from engine.learnware import Learnware
from engine.reuse import JobSelector
from engine.reuse.synthetic import Regions, make_learnwares, make_regions

N_REGIONS, DIM = 10, 10


def mixture_user(regions: Regions, lws: list[Learnware], pair: tuple[int, int], share: float,
                 rng: np.random.Generator, n_test: int = 2000, n_pool: int = 500) -> User:
    p = np.zeros(regions.n_regions)
    p[list(pair)] = [share, 1.0 - share]
    x, y, region = regions.sample_mixture(p, n_test, rng)
    xp, yp, _ = regions.sample_mixture(p, n_pool, rng)
    oracle = np.where(region == pair[0], lws[pair[0]].model.predict(x),
                      lws[pair[1]].model.predict(x))
    return User(f"regions {pair}", xp, yp, x, y, oracle, region)


def single_user(regions: Regions, region: int, rng: np.random.Generator) -> User:
    x, y = regions.sample(region, 2000, rng)
    xp, yp = regions.sample(region, 500, rng)
    return User(f"region {region}", xp, yp, x, y)


def reuse_tables(task: str, n_users: int, seed: int) -> None:
    regions = make_regions(N_REGIONS, DIM, task=task, spread=1.5, random_state=seed)
    lws = make_learnwares(regions, 1000, n_points=50, random_state=seed + 1)
    catalog = build_catalog(lws)
    rng = np.random.default_rng(seed + 2)
    for kind in ("single-region", "2-region mixture"):
        scores = Scores(task)
        for u in range(n_users):
            if kind == "single-region":
                user = single_user(regions, int(rng.integers(N_REGIONS)), rng)
            else:
                pair = tuple(int(i) for i in rng.choice(N_REGIONS, 2, replace=False))
                user = mixture_user(regions, lws, pair, float(rng.uniform(0.3, 0.7)), rng)
            evaluate_user(scores, lws, catalog, user, seed=seed + u)
        print_table(f"{task}, {kind} users (n={n_users}), labels →", scores)


def reference_run(lws: list[Learnware], user: User, herding_num: int
                  ) -> list[float]:
    """The reference JobSelectorReuser on the same specs and predictions: accuracy and
    seconds with herding (if herding_num > 0) and without."""
    modes: tuple[Literal["herding", "no-herding"], ...] = (
        ("herding", "no-herding") if herding_num > 0 else ("no-herding",))
    preds = np.stack([lw.model.predict(user.x_test) for lw in lws])
    gamma = float(np.median([lw.spec.gamma_ for lw in lws]))
    result = bridge.job_selector([lw.spec for lw in lws], gamma, user.x_test, user.y_test,
                                 preds, modes=modes, herding_num=herding_num, threads=1,
                                 timeout=3600)
    if result.status != "ok":
        raise SystemExit(f"reference: {result.reason}")
    runs = result.data["modes"]
    out = [math.nan, math.nan] if herding_num <= 0 else \
        [runs["herding"]["accuracy"], runs["herding"]["seconds"]]
    return [*out, runs["no-herding"]["accuracy"], runs["no-herding"]["seconds"]]


def routing_sweep(n_users: int, seed: int, reference: bool, herding_num: int) -> None:
    print("\nJobSelector on 2-region mixtures of 2,000 rows, by region spread "
          "(accuracy; routing = rows sent to their true region; seconds = fit + predict;\n"
          "ours = default kernel density router, gaussian = density='gaussian')")
    cols = ["spread", "oracle", "Bayes", "ours", "routing", "seconds", "gaussian", "routing"]
    if reference:
        cols += ["ref herd", "seconds", "ref no-herd", "seconds"]
    print("".join(f"{c:>12}" for c in cols))
    for spread in (1.0, 1.25, 1.5, 2.0):
        regions = make_regions(N_REGIONS, DIM, spread=spread, random_state=seed)
        lws = make_learnwares(regions, 1000, n_points=50, random_state=seed + 1)
        rng = np.random.default_rng(seed + 3)
        rows: list[list[float]] = []
        for _ in range(n_users):
            pair = tuple(int(i) for i in rng.choice(N_REGIONS, 2, replace=False))
            share = float(rng.uniform(0.3, 0.7))
            user = mixture_user(regions, lws, pair, share, rng)
            chosen = [lws[pair[0]], lws[pair[1]]]
            truth = regions.log_density(user.x_test)[:, list(pair)]
            truth += np.log([share, 1.0 - share])
            bayes = np.where(truth.argmax(axis=1) == 0, chosen[0].model.predict(user.x_test),
                             chosen[1].model.predict(user.x_test))
            start = time.perf_counter()
            selector = JobSelector(chosen, weights=[share, 1.0 - share]).fit()
            pred = selector.predict(user.x_test)
            seconds = time.perf_counter() - start
            true_route = (user.region == pair[1]).astype(int)
            row = [spread, float(np.mean(user.oracle == user.y_test)),
                   float(np.mean(bayes == user.y_test)), float(np.mean(pred == user.y_test)),
                   float(np.mean(selector.route(user.x_test) == true_route)), seconds]
            gauss = JobSelector(chosen, weights=[share, 1.0 - share], density="gaussian").fit()
            row += [float(np.mean(gauss.predict(user.x_test) == user.y_test)),
                    float(np.mean(gauss.route(user.x_test) == true_route))]
            if reference:
                row += reference_run(chosen, user, herding_num)
            rows.append(row)
        mean = np.mean(rows, axis=0)
        print("".join(f"{v:>12.3f}" for v in mean), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6, help="users of each kind and task")
    parser.add_argument("--task", default="classification,regression")
    parser.add_argument("--sweep-users", type=int, default=3)
    parser.add_argument("--reference", action="store_true",
                        help="also run the reference JobSelectorReuser (benchmarks/reference; "
                             "its venv from $LWDOCK_REFERENCE_PYTHON)")
    parser.add_argument("--ref-herding-num", type=int, default=200,
                        help="the reference's herding sample count (0: no-herding only); "
                             "its cost is cubic in it: 1000 took 14 min on 2 busy cores")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    # Small matrices everywhere: BLAS threads only contend on a shared machine.
    with threadpool_limits(1):
        for task in args.task.split(","):
            reuse_tables(task.strip(), args.users, args.seed)
        if args.sweep_users > 0:
            if args.reference and not bridge.available():
                print(f"reference unavailable: no {bridge.reference_python()}", file=sys.stderr)
            routing_sweep(args.sweep_users, args.seed, args.reference and bridge.available(),
                          args.ref_herding_num)
    print(f"\n(total {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
