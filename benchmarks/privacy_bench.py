"""What a spec reveals about its rows, and what privacy costs: the table behind m.

    python -m benchmarks.privacy_bench [--split tune|report|all] [--m 1,5,10,20]
                                       [--epsilons 0.5,1,2,4,8] [--noise-share 0.5]
                                       [--draws N]

For each data set (standardised) and size n, the owner's rows are n members; n more
rows of the same set are non-members. A spec is fitted on the members with the given
`min_rows_per_point` m (1 = the old, non-private fit) and attacked with only the spec:

- ``AUC nn``: membership inference by the distance to the nearest released point;
- ``AUC kde``: by the spec's kernel density at the row (sum_j beta_j k(x, z_j)), at
  the spec's own gamma;
- ``AUC kde*``: the same attack with the kernel an attacker holding the spec would
  pick, the strongest of `engine.privacy.report.KDE_GAMMA_FACTORS` (1x..64x the spec's
  gamma; `strongest_kde_auc`, what the owner's privacy report gives). The largest of
  seven estimates reads a little above chance even when nothing leaks;
- ``near``: share of points within 5 % of the data's median nearest-neighbour spacing
  of some row (a near-copy);
- ``MMD2 held-out``: MMD^2 between the spec and the non-members (how well the spec
  describes the *distribution*, which is what search compares; lower is better).

Rows "dp eps" are the differentially private mode at that epsilon (delta 1e-5, K =
50) with a declared gamma (2^round(log2(1/d)): from the dimension only, not the data)
and declared bounds per data set. Their noise is fresh on every fit: `--draws N` fits
each DP row N times (rows "dp eps #i"), on the same members and non-members.

`--noise-share` sets `engine.privacy.grouping.NOISE_SHARE` (the share of the
spread group means lack that the private default adds as noise) for the run: the
variants it was chosen among.

Tuning sets (used to choose m and the noise share, `--split tune`): scikit-learn's
breast cancer and digits, and an isotropic 17-D Gaussian drawn with seed 1. Report
sets (`--split report`, not looked at while choosing): 8 Gaussian
clusters in 10-D and an isotropic 17-D Gaussian, drawn with a seed the tuning never
used (the bundled wine and diabetes sets are too small for 2n rows). The figures in
docs/privacy.md come from this script.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from engine import kernel
from engine.privacy import grouping
from engine.privacy.report import strongest_kde_auc
from engine.specification import RKMESpec, RKMETableSpec, mmd2

BOUNDS = {"8 clusters (10)": (-12.0, 12.0)}
"""Declared (public) bounds of the DP mode's synthetic points; (-4, 4) otherwise (the
standardised sets and the unit Gaussian)."""


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def data_sets(split: str) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_breast_cancer, load_digits

    rng = np.random.default_rng(20251)
    out: dict[str, np.ndarray] = {}
    if split in ("tune", "all"):
        out["breast cancer (30)"] = _standardise(load_breast_cancer().data)
        out["digits (64)"] = _standardise(load_digits().data)
        out["gaussian (17), seed 1"] = np.random.default_rng(1).normal(size=(6000, 17))
    if split in ("report", "all"):
        centres = rng.normal(scale=3.0, size=(8, 10))
        labels = rng.integers(8, size=4000)
        out["8 clusters (10)"] = centres[labels] + rng.normal(size=(4000, 10))
        out["gaussian (17)"] = rng.normal(size=(6000, 17))
    return out


def attack(spec: RKMESpec, members: np.ndarray, others: np.ndarray
           ) -> tuple[float, float, float]:
    """AUC nn, AUC kde (the spec's gamma) and AUC kde* (the strongest kernel)."""
    rows = np.vstack([members, others])
    truth = np.r_[np.ones(len(members)), np.zeros(len(others))]
    d = kernel.sq_dists(rows, spec.points_).min(axis=1)
    dens = kernel.gaussian(rows, spec.points_, spec.gamma_) @ spec.weights_
    return (float(roc_auc_score(truth, -d)), float(roc_auc_score(truth, dens)),
            strongest_kde_auc(spec, members, others))


def near_copies(spec: RKMESpec, rows: np.ndarray, frac: float = 0.05) -> float:
    nn = kernel.sq_dists(rows, rows)
    np.fill_diagonal(nn, np.inf)
    spacing = float(np.median(np.sqrt(nn.min(axis=1))))
    d = np.sqrt(kernel.sq_dists(spec.points_, rows).min(axis=1))
    return float((d < frac * spacing).mean())


def cells(split: str, sizes: Sequence[int]
          ) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    """(data set, n, n members, n non-members) for every data set of `split` and size
    with 2n rows to draw from; the draw is fixed (seed 7)."""
    for name, x in data_sets(split).items():
        for n in sizes:
            if 2 * n > len(x):
                continue
            perm = np.random.default_rng(7).permutation(len(x))
            yield name, n, x[perm[:n]], x[perm[n:2 * n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="all", choices=["tune", "report", "all"])
    parser.add_argument("--m", default="1,5,10,20")
    parser.add_argument("--sizes", default="100,250,1000")
    parser.add_argument("--epsilons", default="",
                        help="also the DP mode at these epsilons, e.g. 0.5,1,2,4,8")
    parser.add_argument("--noise-share", type=float, default=grouping.NOISE_SHARE)
    parser.add_argument("--draws", type=int, default=1,
                        help="fit each DP row N times (fresh noise each time)")
    args = parser.parse_args()
    grouping.NOISE_SHARE = args.noise_share
    ms = [int(v) for v in args.m.split(",")]
    print("| data (d) | n | m | K | AUC nn | AUC kde | AUC kde* | near | MMD2 held-out |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, n, members, others in cells(args.split, [int(v) for v in args.sizes.split(",")]):
        settings: list[tuple[str, dict]] = [(str(m), {"min_rows_per_point": m}) for m in ms]
        gamma = float(2.0 ** round(np.log2(1.0 / members.shape[1])))
        for eps in (float(v) for v in args.epsilons.split(",") if v):
            for i in range(args.draws):
                settings.append((f"dp {eps:g}" + (f" #{i + 1}" if args.draws > 1 else ""), {
                    "epsilon": eps, "delta": 1e-5, "gamma": gamma, "n_points": 50,
                    "bounds": BOUNDS.get(name, (-4.0, 4.0))}))
        for label, kwargs in settings:
            spec = RKMETableSpec(random_state=0, **kwargs).fit(members)
            nn, kde, strongest = attack(spec, members, others)
            print(f"| {name} | {n} | {label} | {len(spec.points_)} | {nn:.3f} | {kde:.3f} | "
                  f"{strongest:.3f} | "
                  f"{near_copies(spec, members):.2f} | {mmd2(spec, others):.4f} |", flush=True)


if __name__ == "__main__":
    main()
