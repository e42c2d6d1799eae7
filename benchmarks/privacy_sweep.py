"""What privacy costs on the three experiments: zero-label reuse and membership AUC per mode.

    python -m benchmarks.privacy_sweep [--experiments tabular,image,text]
                                       [--epsilons 0.5,1,2,4,8]
                                       [--max-learnwares N] [--max-users N]
                                       [--auc-learnwares 2] [--noise-share 0.5]
                                       [--draws N] [--auc-only]

For each experiment of docs/results (`benchmarks.experiments`: Birthdays, MNIST-5k,
fine-food reviews) the market's models and the users are built once; then, for every
spec mode, every learnware's spec *and* every user's requirement are fitted in that
mode, and the users are scored at zero labels exactly as the experiments do
(`reuse_common.evaluate_user`: top-1 by search, JobSelector and Averaging on the
search's mixture), and search itself: how many users' best learnware in the market (by
its own score on their test rows) search ranks first ("search top-1") and among its
first five ("search top-5"). Modes:

- ``none``: the non-private fit (``min_rows_per_point=1``; points may be rows);
- ``default``: the private default (group means, `engine.privacy.grouping`);
- ``dp <eps>``: the differentially private mode at (eps, delta = 1e-5) with the
  experiment's declared public gamma and bounds (`PUBLIC`).

Membership AUC: for the first `--auc-learnwares` learnwares, `engine.privacy.
privacy_report` (the owner's report: re-fit in the same mode on a random half of the
learnware's training rows, at most 1,000, attacked with the other half), nearest-point
and kernel-density attacks, averaged over those learnwares. "AUC kde*" is the report's
density attack: the strongest of `engine.privacy.report.KDE_GAMMA_FACTORS` (1x..64x
the spec's gamma), as an attacker holding the spec picks the kernel (runs before
commit fc2dbc9, in docs/results, measured it at the spec's own gamma, "AUC kde").
`--auc-only` fits only those learnwares' specs and their reports, no user and no
search (a DP draw in seconds, where scoring the users takes minutes), and prints the
AUC columns alone.

The DP noise is fresh from the OS's entropy on every fit (never seeded), so a DP row
is one draw of it. `--draws N` fits and evaluates every DP mode N times (each time
every spec, requirement and report re-fitted) and prints, per DP row, the mean over
the draws and its range (min-max) of the best zero-label figure, the attack AUCs and
search top-1 / top-5 (the per-method columns and "vs none": means), then every draw's
row. "none" and "default" run once: they are deterministic (the default's spread
noise is seeded by `random_state` and the rows, the report by `random_state=0`).

A DP fit costs ~10 s of one core at 784-d (2,048 features, 300 steps), ~5 s at
384-d: `--max-learnwares` and `--max-users` keep the first N of each experiment's
learnwares and users (the same ones for every mode; 0 = all). `--noise-share` sets
`engine.privacy.grouping.NOISE_SHARE` for the default mode (to compare the variants
it was chosen among; with ``--epsilons ""`` only "none" and "default" run). The
held-out markets (``diamonds``, ``ridership``, ``survey``) run too, with ``--epsilons
""`` only: no public gamma and bounds are declared for them (`PUBLIC`). The
figures in docs/privacy.md come from this script, with the sizes it prints; its plot
from the printed tables (kept in docs/results/privacy_sweep_*.md) by
`benchmarks.privacy_sweep_plot`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import print_table
from benchmarks.experiments.common import HEADLINE, Setting
from benchmarks.reuse_birthdays import mean_of
from benchmarks.reuse_common import (
    TOP_K,
    Ranking,
    Scores,
    SpecFit,
    User,
    build_catalog,
    evaluate_user,
    private_default,
)
from engine.learnware import Learnware
from engine.privacy import grouping, privacy_report
from engine.specification import RKMESpec, RKMETableSpec
from lwnode.demo import birthdays as bd

DELTA = 1e-5
TARGET_EPSILON = 1.0
TARGET_GAP = 0.02
TARGET_AUC = 0.55

_LAG_BOUND = 2.5  # log(births / level) * LAG_SCALE: a day 0.6x .. 1.65x an average day
_CALENDAR_LOW = {"doy_sin": -1.0, "doy_cos": -1.0}
PUBLIC: dict[str, tuple[float, tuple[object, object]]] = {
    "tabular": (0.25, (
        [-_LAG_BOUND] * len(bd.LAG_NAMES) + [_CALENDAR_LOW.get(c, 0.0)
                                             for c in bd.CALENDAR_NAMES],
        [_LAG_BOUND] * len(bd.LAG_NAMES) + [1.0] * len(bd.CALENDAR_NAMES))),
    "image": (2.0**-6, (0.0, 1.0)),
    "text": (1.0, (-0.3, 0.3)),
}
"""The DP mode's declared (gamma, bounds) per experiment, never read from the owner's
rows: gamma is the market's convention (the power of two the non-private specs of that
market mostly choose: 2^-2 on Birthdays, 2^-6 on MNIST, 2^0 on the reviews); bounds
come from what the features are (Birthdays: log-ratios x `LAG_SCALE` within +-2.5,
calendar one-hots and flags in [0, 1], sine and cosine in [-1, 1]; pixels in [0, 1];
unit-norm 384-d sentence vectors, whose coordinates lie within +-0.3)."""


def mode_fit(mode: str, experiment: str) -> SpecFit:
    """The `SpecFit` of a mode ("none", "default", "dp <eps>")."""
    if mode == "default":
        return private_default
    if mode == "none":
        return lambda x, k, seed: RKMETableSpec(n_points=k, random_state=seed,
                                                min_rows_per_point=1).fit(x)
    gamma, bounds = PUBLIC[experiment]
    eps = float(mode.removeprefix("dp "))
    return lambda x, k, seed: RKMETableSpec(n_points=k, random_state=seed, epsilon=eps,
                                            delta=DELTA, gamma=gamma, bounds=bounds).fit(x)


class Recorder:
    """A `SpecFit` that fits the default and remembers each learnware's rows and seed."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, int, int]] = []

    def __call__(self, x: np.ndarray, n_points: int, seed: int) -> RKMESpec:
        self.calls.append((x, n_points, seed))
        return private_default(x, n_points, seed)


@dataclass(frozen=True)
class Draw:
    """One fit-and-evaluate of a mode: every learnware's spec and user's requirement
    fitted once, the users scored, the owner's report re-fitted. A DP mode's draws
    differ by their noise only (fresh from the OS's entropy on every fit)."""

    figures: tuple[float, ...]
    """top-1 by search, JobSelector, Averaging (the experiment's metric; error for
    MNIST)."""
    best: float
    auc_nn: float | None
    auc_kde: float | None
    hits: tuple[int, int]
    """Users whose best learnware search ranks first, among its first `TOP_K`."""
    users: int
    k: float
    """The median number of points of the learnwares' specs."""
    seconds: float


@dataclass(frozen=True)
class Spread:
    """The mean of a figure over a mode's draws and its range (min-max)."""

    mean: float
    low: float
    high: float
    n: int

    def cell(self, fmt: str = ".4f", suffix: str = "") -> str:
        """"mean" for one draw (the table as before); "mean (min-max)" for several."""
        head = f"{self.mean:{fmt}}{suffix}"
        return head if self.n == 1 else f"{head} ({self.low:{fmt}}–{self.high:{fmt}})"


def spread(values: Sequence[float | None]) -> Spread | None:
    """The mean and min-max of the values given (None: not measured in that draw, left
    out); None when none was measured. A nan (a method that could not run) makes the
    mean nan, as `np.mean` would."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return Spread(float(np.mean(vals)), min(vals), max(vals), len(vals))


@dataclass(frozen=True)
class ModeResult:
    """A mode's draws (one for the deterministic modes) and the non-private reference
    they are compared with."""

    experiment: str
    mode: str
    draws: tuple[Draw, ...]
    reference: float | None

    def best(self) -> Spread:
        out = spread([d.best for d in self.draws])
        assert out is not None
        return out

    def auc(self, which: str) -> Spread | None:
        return spread([getattr(d, f"auc_{which}") for d in self.draws])

    def hits(self, i: int) -> Spread:
        out = spread([d.hits[i] for d in self.draws])
        assert out is not None
        return out

    def row(self) -> list[str]:
        """The summary row: per-method figures and "vs none" as means over the draws;
        best zero-label, the attack AUCs and search top-1 / top-k as mean (min-max)."""
        d0, best = self.draws[0], self.best()
        n_users = d0.users
        means = [float(np.mean([d.figures[i] for d in self.draws]))
                 for i in range(len(d0.figures))]
        nn, kde = self.auc("nn"), self.auc("kde")
        return [self.experiment, self.mode, f"{np.median([d.k for d in self.draws]):.0f}",
                *(f"{f:.4f}" for f in means), best.cell(),
                "·" if self.reference is None else f"{best.mean - self.reference:+.4f}",
                nn.cell(".3f") if nn else "·", kde.cell(".3f") if kde else "·",
                *(hit_cell(self.hits(i), n_users) for i in (0, 1)),
                f"{sum(d.seconds for d in self.draws):.0f}"]

    def draw_rows(self) -> list[list[str]]:
        """One row per draw, in the table's columns (mode "dp 1 #2": the second draw)."""
        return [ModeResult(self.experiment, f"{self.mode} #{i + 1}", (d,), self.reference).row()
                for i, d in enumerate(self.draws)]


def hit_cell(hits: Spread, n_users: int) -> str:
    """"h/n" for one draw; "mean/n (min-max)" over several."""
    if hits.n == 1:
        return f"{hits.mean:.0f}/{n_users}"
    return f"{hits.mean:.1f}/{n_users} ({hits.low:.0f}–{hits.high:.0f})"


def sweep_one(name: str, modes: Sequence[str], auc_learnwares: int, max_learnwares: int,
              max_users: int, draws: int = 1, auc_only: bool = False) -> list[ModeResult]:
    """Every mode's result for one experiment: `draws` fit-and-evaluates of each DP
    mode, one of "none" and "default" (deterministic: the default's noise is seeded by
    `random_state` and the rows, the report by `random_state=0`)."""
    module = importlib.import_module(f"benchmarks.experiments.{name}")
    setting: Setting = module.SETTING
    started = time.perf_counter()
    recorder = Recorder()
    (market, users), user_seed = market_and_users(module, recorder)
    market = market[:max_learnwares or len(market)]
    users = users[:max_users or len(users)]
    print(f"{name}: {len(market)} learnwares and {len(users)} users built in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    label = f"{name} ({len(market)}/{len(users)})"
    results: list[ModeResult] = []
    reference = None
    for mode in modes:
        done = []
        for i in range(draws if mode.startswith("dp ") else 1):
            done.append(one_draw(name, setting, mode, market, users, recorder, user_seed,
                                 auc_learnwares, auc_only))
            d = done[-1]
            print(f"{name} {mode} #{i + 1}: best {d.best:.4f} | AUC {d.auc_nn} {d.auc_kde} | "
                  f"hits {d.hits} | {d.seconds:.0f} s", file=sys.stderr, flush=True)
        result = ModeResult(label, mode, tuple(done), reference)
        if mode == "none":
            reference = result.best().mean
            result = ModeResult(label, mode, tuple(done), reference)
        results.append(result)
        print(f"{name} {mode}: {' | '.join(result.row()[2:])}", file=sys.stderr, flush=True)
    return results


def one_draw(name: str, setting: Setting, mode: str, market: Sequence[Learnware],
             users: Sequence[User], recorder: Recorder, user_seed: int,
             auc_learnwares: int, auc_only: bool = False) -> Draw:
    """Fit every spec and requirement in `mode` once and score the users (`auc_only`:
    only the first `auc_learnwares` specs and their reports; figures nan, no hits)."""
    t0 = time.perf_counter()
    fit = mode_fit(mode, name)
    if auc_only:
        specs = [fit(*call) for call in recorder.calls[:min(auc_learnwares, len(market))]]
        nn, kde = owner_aucs(specs, recorder)
        return Draw((math.nan,) * 3, math.nan, nn, kde, (0, 0), len(users),
                    float(np.median([len(s.points_) for s in specs])),
                    time.perf_counter() - t0)
    specs = [fit(*call) for call in recorder.calls[:len(market)]]
    lws = [Learnware(lw.id, lw.semantic, s, lw.model) for lw, s in zip(market, specs,
                                                                         strict=True)]
    scores, rankings = zero_label(lws, users, fit, range(user_seed, user_seed + len(users)))
    figures = [mean_of(scores, m, 0) for m in HEADLINE]
    if setting.metric == "error":
        figures = [1.0 - f for f in figures]
    best = (min if setting.lower_is_better else max)(figures[2:])
    nn, kde = owner_aucs(specs[:auc_learnwares], recorder)
    return Draw(tuple(figures[2:]), best, nn, kde,
                (sum(r.hit(1) for r in rankings), sum(r.hit(TOP_K) for r in rankings)),
                len(users), float(np.median([len(s.points_) for s in specs])),
                time.perf_counter() - t0)


def owner_aucs(specs: Sequence[RKMESpec], recorder: Recorder
               ) -> tuple[float | None, float | None]:
    """The mean nearest-point and (strongest-kernel) density AUC of the owner's reports
    on `specs`, the first learnwares' (None where no report had enough rows)."""
    reports = [privacy_report(s, recorder.calls[i][0], random_state=0)
               for i, s in enumerate(specs)]
    nn = [r.auc_nearest_point for r in reports if r.auc_nearest_point is not None]
    kde = [r.auc_kernel_density for r in reports if r.auc_kernel_density is not None]
    return (float(np.mean(nn)) if nn else None, float(np.mean(kde)) if kde else None)


def market_and_users(module: ModuleType, fit_spec: SpecFit
                     ) -> tuple[tuple[list[Learnware], list[User]], int]:
    """An experiment's learnwares (specs by `fit_spec`) and users, and the seed of user
    0's requirement (user u's is that + u, as the experiment fits it). The held-out
    markets (`experiments.heldout`) build theirs with `build` and seed by `SEED`."""
    if hasattr(module, "market_and_users"):
        return module.market_and_users(fit_spec), module.USER_SEED
    return module.build(fit_spec=fit_spec), module.SEED


def zero_label(market: list[Learnware], users: Sequence[User], fit: SpecFit,
               seeds: Iterable[int]) -> tuple[Scores, list[Ranking]]:
    """Zero-label scores of every user, requirement fitted by `fit` with the user's seed
    (as the experiments), and each user's search ranking beside the truth."""
    task = "classification" if market[0].classes() is not None else "regression"
    scores = Scores(task)
    catalog = build_catalog(market)
    rankings = [evaluate_user(scores, market, catalog, user, budgets=(0,), n_points=100,
                              seed=seed, fit_spec=fit)
                for user, seed in zip(users, seeds, strict=True)]
    return scores, rankings


def hits(rankings: Sequence[Ranking], k: int) -> str:
    """How many users' best learnware search ranks among its first `k`, as "h/n"."""
    return f"{sum(r.hit(k) for r in rankings)}/{len(rankings)}"


def verdicts(results: Sequence[ModeResult]) -> list[str]:
    """The issue's targets at eps = 1, per experiment, stated plainly: on the mean over
    the draws, and (several draws) in how many of them."""
    out = []
    for res in results:
        if res.mode != f"dp {TARGET_EPSILON:g}" or res.reference is None:
            continue
        ref, best, n = res.reference, res.best(), len(res.draws)
        gap_ok = abs(best.mean - ref) <= TARGET_GAP
        nn, kde = res.auc("nn"), res.auc("kde")
        aucs = [a.mean for a in (nn, kde) if a is not None]
        auc_ok = bool(aucs) and max(aucs) <= TARGET_AUC
        line = (f"- {res.experiment}, dp eps={TARGET_EPSILON:g}: best zero-label figure within "
                f"{TARGET_GAP} of the non-private one: {'MET' if gap_ok else 'MISSED'} "
                f"({best.mean - ref:+.4f}")
        if n > 1:
            met = sum(abs(d.best - ref) <= TARGET_GAP for d in res.draws)
            line += (f" on the mean of {n} draws; {best.low - ref:+.4f} to "
                     f"{best.high - ref:+.4f}; met in {met} of {n}")
        line += (f"); attack AUC <= {TARGET_AUC}: {'MET' if auc_ok else 'MISSED'} "
                 f"({nn.cell('.3f') if nn else '·'}, {kde.cell('.3f') if kde else '·'}")
        if n > 1:
            met = sum(all(a is not None and a <= TARGET_AUC for a in (d.auc_nn, d.auc_kde))
                      for d in res.draws)
            line += f"; both met in {met} of {n} draws"
        out.append(line + ")")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="tabular,image,text")
    parser.add_argument("--epsilons", default="0.5,1,2,4,8")
    parser.add_argument("--max-learnwares", type=int, default=0,
                        help="keep the first N learnwares of each experiment (0: all)")
    parser.add_argument("--max-users", type=int, default=0,
                        help="keep the first N users of each experiment (0: all)")
    parser.add_argument("--auc-learnwares", type=int, default=2)
    parser.add_argument("--noise-share", type=float, default=grouping.NOISE_SHARE)
    parser.add_argument("--draws", type=int, default=1,
                        help="fit-and-evaluate each DP mode N times, fresh noise each time; "
                             "report the mean and min-max (none and default: once)")
    parser.add_argument("--auc-only", action="store_true",
                        help="only the attack AUCs: fit the --auc-learnwares specs and "
                             "their owner's reports, score no user")
    args = parser.parse_args(argv)
    grouping.NOISE_SHARE = args.noise_share
    modes = ["none", "default", *(f"dp {float(e):g}" for e in args.epsilons.split(",") if e)]
    undeclared = [n for n in args.experiments.split(",") if n not in PUBLIC]
    if len(modes) > 2 and undeclared:
        parser.error(f"no public gamma and bounds for the DP mode on {', '.join(undeclared)}: "
                     f'run them with --epsilons ""')
    if args.draws < 1:
        parser.error("--draws: at least 1")
    started = time.perf_counter()
    results: list[ModeResult] = []
    with threadpool_limits(1):
        for name in args.experiments.split(","):
            results.extend(sweep_one(name, modes, args.auc_learnwares, args.max_learnwares,
                                     args.max_users, args.draws, args.auc_only))
    draws = f" --draws {args.draws}" if args.draws > 1 else ""
    draws += " --auc-only" if args.auc_only else ""
    print(f"python -m benchmarks.privacy_sweep --experiments {args.experiments} "
          f"--epsilons {args.epsilons} --max-learnwares {args.max_learnwares} "
          f"--max-users {args.max_users} --noise-share {args.noise_share:g} "
          f"--auc-learnwares {args.auc_learnwares}{draws}  "
          f"({time.perf_counter() - started:.0f} s, BLAS 1 thread)")
    header = ["experiment (learnwares/users)", "mode", "K", "top-1", "job selector", "averaging",
              "best zero-label", "vs none", "AUC nn", "AUC kde*", "search top-1",
              f"search top-{TOP_K}", "s"]
    if args.auc_only:
        print_auc_only(results, args.draws)
        return
    title = ("Zero-label reuse and membership AUC per spec mode (RMSE on Birthdays, error "
             "on MNIST: lower is better; accuracy on reviews: higher is better)")
    print_table(title, header, [r.row() for r in results])
    print(f"\n(search top-1 / top-{TOP_K}: users whose best learnware in the market, by its "
          f"own score on their test rows, search ranks first / among its first {TOP_K}.)")
    if args.draws > 1:
        print(f"(DP rows: {args.draws} draws of fresh noise each. top-1, job selector, averaging "
              f"and vs none: the mean over the draws; best zero-label, AUC nn, AUC kde*, search "
              f"top-1 / top-{TOP_K}: the mean (min-max over the draws); s: all draws. none and "
              f"default are deterministic: one draw.)")
        print_table(f"Every DP draw ({args.draws} per epsilon; mode \"dp e #i\": draw i)",
                    header, [row for r in results if r.mode.startswith("dp ")
                             for row in r.draw_rows()])
    print("\n### Targets (issue 15)\n")
    for line in verdicts(results) or [f"- (no DP mode at eps={TARGET_EPSILON:g} in this run)"]:
        print(line)
    if any(math.isnan(d.best) for r in results for d in r.draws):
        print("(nan: a method could not run)")


def print_auc_only(results: Sequence[ModeResult], draws: int) -> None:
    """The `--auc-only` table: the attack AUCs per mode (mean (min-max) over the draws),
    and whether both are <= `TARGET_AUC` at eps = `TARGET_EPSILON`."""
    rows = []
    for r in results:
        nn, kde = r.auc("nn"), r.auc("kde")
        rows.append([r.experiment, r.mode, f"{np.median([d.k for d in r.draws]):.0f}",
                     nn.cell(".3f") if nn else "·", kde.cell(".3f") if kde else "·",
                     f"{sum(d.seconds for d in r.draws):.0f}"])
    print_table(f"Membership AUC of the owner's report per spec mode (DP rows: {draws} "
                "draw(s), mean (min-max)); no user scored", ["experiment (learnwares/users)",
                                                             "mode", "K", "AUC nn", "AUC kde*",
                                                             "s"], rows)
    print(f"\n### Attack AUC <= {TARGET_AUC} at eps = {TARGET_EPSILON:g}\n")
    for r in results:
        if r.mode != f"dp {TARGET_EPSILON:g}":
            continue
        met = sum(all(a is not None and a <= TARGET_AUC for a in (d.auc_nn, d.auc_kde))
                  for d in r.draws)
        means = [a.mean for a in (r.auc("nn"), r.auc("kde")) if a is not None]
        verdict = "MET" if means and max(means) <= TARGET_AUC else "MISSED"
        print(f"- {r.experiment}: {verdict} on the mean; both met in {met} of "
              f"{len(r.draws)} draws")


if __name__ == "__main__":
    main()
