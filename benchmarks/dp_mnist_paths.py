"""Two ways around the DP mode's miss on MNIST, measured (docs/privacy.md).

    python -m benchmarks.dp_mnist_paths [--epsilons 1,10] [--users 6]

The image experiment (`benchmarks.reuse_mnist`: 20 learnwares of 600 images of 4
digits, users of 6 digits) misses the issue's target at epsilon 1: its specs are table
RKMEs of the 784 raw pixels, and the DP mode's synthetic points never become digits.
Two candidates, each on the same market and users (seed 0, first `--users` users):

1. **Image specs.** `RKMEImageSpec` works in the fixed 128-d `conv-rf-v1` feature
   space, where the DP fit has 128 coordinates a point to place, not 784. No
   privacy, the private default and the DP mode at each epsilon (gamma 2^-7 by the
   data-free rule 2^round(log2(1/d)); bounds: the per-feature range of scikit-learn's
   public 8x8 digits through the same map, widened by 20 % each side). Every spec,
   the learnwares' and the users', is made the same way. Columns: the error of
   search's first hit, of the job selector and of averaging over search's mixture.
2. **Routing by the noisy kernel mean itself.** The job selector needs points; the DP
   release is a noisy random-feature mean, and ``<phi(x), mean_j>`` is already a
   kernel density of learnware j's rows at x. Here each learnware releases that mean
   (unit-norm cos/sin features, so replacing a row moves it by 2/n: half the current
   mode's 2 sqrt(2)/n bound), at the raw-pixel market's gamma 2^-6 and at 2^-4, and
   every user row goes to the learnware of the mixture (the same non-private search
   for every mode) whose weighted density is highest. "exact" is the mean without
   noise: what the route can do at best.

Nothing is tuned here: the figures say whether either path is worth building.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import print_table
from benchmarks.privacy_sweep import DELTA
from benchmarks.reuse_common import SpecFit, build_catalog, search
from benchmarks.reuse_mnist import load, make_market, make_user, split
from engine.privacy.dp import add_gaussian_noise, noise_multiplier
from engine.reuse import Averaging, JobSelector
from engine.specification import RKMETableSpec
from engine.specification.image import RKMEImageSpec, check_images, image_features

N_LEARNWARES = 20
N_FEATURES = 2048


def images(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, 28, 28)


def public_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Per-feature range of a public image set (scikit-learn's digits) in the image
    specs' feature space, widened by 20 % each side: no MNIST image is looked at."""
    from sklearn.datasets import load_digits

    features = image_features(check_images(load_digits().images.astype(float), None))
    lo, hi = features.min(axis=0), features.max(axis=0)
    return lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo)


def image_modes(epsilons: list[float]) -> dict[str, SpecFit]:
    bounds = public_bounds()
    modes: dict[str, SpecFit] = {
        "none": lambda x, k, s: RKMEImageSpec(n_points=k, random_state=s,
                                              min_rows_per_point=1).fit(images(x)),
        "default": lambda x, k, s: RKMEImageSpec(n_points=k, random_state=s).fit(images(x))}
    for eps in epsilons:
        modes[f"dp {eps:g}"] = (
            lambda x, k, s, eps=eps: RKMEImageSpec(
                n_points=k, random_state=s, epsilon=eps, delta=DELTA, gamma=2.0**-7,
                bounds=bounds).fit(images(x)))
    return modes


def image_specs(epsilons: list[float], n_users: int) -> list[list[str]]:
    x, y = load()
    market_rows, user_rows = split(x, y)
    table = []
    for name, fit in image_modes(epsilons).items():
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        market = make_market(x, y, market_rows, N_LEARNWARES, rng, fit_spec=fit)
        catalog, by_id = build_catalog(market), {lw.id: lw for lw in market}
        errors: dict[str, list[float]] = {"top-1": [], "job selector": [], "averaging": []}
        for u in range(n_users):
            user = make_user(x, y, user_rows, rng)
            mix, weights, _, top = search(catalog, by_id, user.x_test, 100, u, fit_spec=fit)
            rows = images(user.x_test)
            errors["top-1"].append(np.mean(top.model.predict(user.x_test) != user.y_test))
            for method, reuser in (("job selector", JobSelector), ("averaging", Averaging)):
                pred = reuser(mix, weights=weights).fit().predict(rows)
                errors[method].append(np.mean(pred != user.y_test))
        means = {m: float(np.mean(v)) for m, v in errors.items()}
        table.append([name, *(f"{v:.4f}" for v in means.values()),
                      f"{min(means.values()):.4f}", f"{time.perf_counter() - started:.0f}"])
    return table


class PairFeatures:
    """Unit-norm random Fourier features [cos(Wx), sin(Wx)] / sqrt(D/2) of
    exp(-gamma ||x - y||^2)."""

    def __init__(self, d: int, gamma: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.normal(scale=math.sqrt(2.0 * gamma), size=(N_FEATURES // 2, d))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = x @ self.w.T
        return np.hstack([np.cos(t), np.sin(t)]) / math.sqrt(N_FEATURES // 2)


def kernel_routing(epsilons: list[float], n_users: int) -> list[list[str]]:
    x, y = load()
    market_rows, user_rows = split(x, y)
    nonprivate: SpecFit = lambda a, k, s: RKMETableSpec(  # noqa: E731
        n_points=k, random_state=s, min_rows_per_point=1).fit(a)
    table = []
    for gamma_log2 in (-6, -4):
        features = PairFeatures(784, 2.0**gamma_log2, 1)
        rng = np.random.default_rng(0)
        picks: list[np.ndarray] = []
        market = make_market(x, y, market_rows, N_LEARNWARES, rng, fit_spec=nonprivate,
                             picked=picks)
        catalog, by_id = build_catalog(market), {lw.id: lw for lw in market}
        exact = {lw.id: features(x[p]).mean(axis=0) for lw, p in zip(market, picks,
                                                                        strict=True)}
        means = {"exact": exact}
        for eps in epsilons:
            sigma = noise_multiplier(eps, DELTA) * 2.0 / 600
            means[f"dp {eps:g}"] = {i: add_gaussian_noise(m, sigma) for i, m in exact.items()}
        errors: dict[str, list[float]] = {"job selector (points, no privacy)": [],
                                          **{name: [] for name in means}}
        for u in range(n_users):
            user = make_user(x, y, user_rows, rng)
            mix, weights, _, _ = search(catalog, by_id, user.x_test, 100, u,
                                        fit_spec=nonprivate)
            pred = JobSelector(mix, weights=weights).fit().predict(user.x_test)
            errors["job selector (points, no privacy)"].append(np.mean(pred != user.y_test))
            phi = features(user.x_test)
            answers = np.stack([lw.model.predict(user.x_test) for lw in mix], axis=1)
            for name, mean_of in means.items():
                density = np.stack([phi @ mean_of[lw.id] for lw in mix], axis=1) * weights
                routed = answers[np.arange(len(phi)), density.argmax(axis=1)]
                errors[name].append(np.mean(routed != user.y_test))
        for name, values in errors.items():
            table.append([f"2^{gamma_log2}", name, f"{np.mean(values):.4f}"])
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", default="1,10")
    parser.add_argument("--users", type=int, default=6)
    args = parser.parse_args(argv)
    epsilons = [float(e) for e in args.epsilons.split(",") if e]
    with threadpool_limits(1):
        first = image_specs(epsilons, args.users)
        second = kernel_routing(epsilons, args.users)
    print(f"python -m benchmarks.dp_mnist_paths --epsilons {args.epsilons} "
          f"--users {args.users}")
    print_table(f"1. Image specs (128-d features), {N_LEARNWARES} learnwares, {args.users} "
                "users: zero-label error", ["mode", "top-1", "job selector", "averaging",
                                             "best", "s"], first)
    print_table("2. Routing each row by the learnwares' (noisy) kernel means over search's "
                "mixture: error", ["gamma", "route", "error"], second)


if __name__ == "__main__":
    main()
