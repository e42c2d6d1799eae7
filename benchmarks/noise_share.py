"""Issue 15: the share of spread noise (`grouping.NOISE_SHARE`), chosen on users.

    python -m benchmarks.noise_share [tabular image text diamonds ridership survey]
                                     [--shares 0,0.15,0.3,0.5,1] [--test]

The protocol, fixed before any run (docs/privacy.md, "Choosing the noise share on
users"): every market that publishes the private default table spec, at full size,
with the experiment's own models, users and seeds. Per share, every learnware's spec
and every user's requirement is re-fitted with the private default at that share (the
privacy sweep's "default" mode; the models stay), and the users are scored at zero
labels as the experiments score them (`privacy_sweep.zero_label`).

Users at even positions of a market's list tune (`heldout.half_of`); without
``--test`` only they are scored, and the script applies the decision rule; with
``--test`` only the odd users are scored (once, for the chosen share and 0.15) and
no rule is applied. Per market, B = the largest share of the mean-to-best gap that
top-1 by search, JobSelector or Averaging closes (from the half's means, as
`experiments.common.gap_verdict`); the criterion C is the mean of B over the markets.
A share is admissible if the mean nearest-point membership AUC over the tuning cells
of `privacy_bench` (m = 10, sizes 250 and 1,000) is at most the current share's +
`AUC_TOLERANCE`. The best admissible share replaces the current one only if a paired
bootstrap over the tuning users (resampled within each market) puts the 5th
percentile of its C minus the current share's C above 0. The same bootstrap is printed
for every other share, for information (how far the tuning side separates them).

Beside it, not used to choose: per market and share, how many users' best learnware
search ranks first and among its first five (`reuse_common.Ranking`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import print_table
from benchmarks.experiments.heldout import half_of
from benchmarks.privacy_bench import attack, cells
from benchmarks.privacy_sweep import Recorder, hits, market_and_users, zero_label
from benchmarks.reuse_birthdays import ZERO_LABEL
from benchmarks.reuse_common import TOP_K, Ranking, private_default
from engine.learnware import Learnware
from engine.privacy import grouping
from engine.specification import RKMETableSpec

MARKETS = ("tabular", "image", "text", "diamonds", "ridership", "survey")
SHARES = (0.0, 0.15, 0.3, 0.5, 1.0)
CURRENT = 0.15
"""The share in use before this choice (`grouping.NOISE_SHARE` when it was made)."""
AUC_TOLERANCE = 0.01
AUC_SIZES = (250, 1000)
AUC_M = 10
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class MarketScores:
    """One market and share on one half: per user, the mean and best in market and the
    zero-label methods (`ZERO_LABEL`; NaN where one could not run), and the rankings."""

    market: str
    share: float
    values: dict[str, np.ndarray]
    rankings: list[Ranking]
    seconds: float


def gap_shares(values: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, float]:
    """Share of the mean-to-best gap each zero-label method closes over users `idx`
    (from the means, as `experiments.common.gap_verdict`; NaN values are skipped)."""
    mean = float(np.mean(values["mean in market"][idx]))
    best = float(np.mean(values["best in market"][idx]))
    if mean == best:
        return {m: float("nan") for m in ZERO_LABEL}
    out = {}
    for m in ZERO_LABEL:
        ran = values[m][idx][~np.isnan(values[m][idx])]
        out[m] = (mean - float(np.mean(ran))) / (mean - best) if len(ran) else float("nan")
    return out


def best_share(values: dict[str, np.ndarray], idx: np.ndarray) -> float:
    """B: the largest gap share among the zero-label methods."""
    return float(np.nanmax(list(gap_shares(values, idx).values())))


def score_market(name: str, shares: Sequence[float], half: str) -> list[MarketScores]:
    """Build the market once, then per share re-fit every spec and score the half."""
    module = importlib.import_module(f"benchmarks.experiments.{name}")
    started = time.perf_counter()
    recorder = Recorder()
    (market, users), user_seed = market_and_users(module, recorder)
    chosen = [u for u in range(len(users)) if half_of(u) == half]
    print(f"{name}: {len(market)} learnwares, {len(users)} users ({len(chosen)} {half}) "
          f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    out = []
    for share in shares:
        t0 = time.perf_counter()
        grouping.NOISE_SHARE = share
        lws = [Learnware(lw.id, lw.semantic, private_default(*call), lw.model)
               for lw, call in zip(market, recorder.calls, strict=True)]
        scores, rankings = zero_label(lws, [users[u] for u in chosen], private_default,
                                      [user_seed + u for u in chosen])
        values = {m: np.asarray(scores.values[m][0], dtype=float)
                  for m in ("mean in market", "best in market", *ZERO_LABEL)}
        out.append(MarketScores(name, share, values, rankings, time.perf_counter() - t0))
        print(f"  {name} share {share:g}: {out[-1].seconds:.0f} s", file=sys.stderr,
              flush=True)
    return out


def membership_auc(share: float) -> tuple[float, float]:
    """Mean (nearest-point, kernel-density) membership AUC of the private default at
    `share` over `privacy_bench`'s tuning cells (its fixed data and draws)."""
    grouping.NOISE_SHARE = share
    nn, kde = [], []
    for _, _, members, others in cells("tune", AUC_SIZES):
        spec = RKMETableSpec(random_state=0, min_rows_per_point=AUC_M).fit(members)
        a, b, _ = attack(spec, members, others)
        nn.append(a)
        kde.append(b)
    return float(np.mean(nn)), float(np.mean(kde))


def criterion(by_market: Sequence[MarketScores], draws: Sequence[np.ndarray] | None = None
              ) -> float:
    """C: the mean over markets of B (users `draws[i]` of market i; all by default)."""
    return float(np.mean([
        best_share(s.values, np.arange(len(s.rankings)) if draws is None else draws[i])
        for i, s in enumerate(by_market)]))


def bootstrap_difference(a: Sequence[MarketScores], b: Sequence[MarketScores]
                         ) -> np.ndarray:
    """C(a) - C(b) over `BOOTSTRAP` resamples of each market's users (the same resample
    for both shares: paired)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    out = np.empty(BOOTSTRAP)
    for r in range(BOOTSTRAP):
        draws = [rng.integers(len(s.rankings), size=len(s.rankings)) for s in a]
        out[r] = criterion(a, draws) - criterion(b, draws)
    return out


def pct(v: float) -> str:
    return "·" if np.isnan(v) else f"{100 * v:.0f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("markets", nargs="*", metavar="market",
                        help=f"any of {', '.join(MARKETS)} (default: all)")
    parser.add_argument("--shares", default=",".join(f"{s:g}" for s in SHARES))
    parser.add_argument("--test", action="store_true",
                        help="score the test users (odd positions) instead of the tuning ones")
    args = parser.parse_args(argv)
    args.markets = args.markets or list(MARKETS)
    if unknown := sorted(set(args.markets) - set(MARKETS)):
        parser.error(f"unknown market(s) {', '.join(unknown)}: choose from {', '.join(MARKETS)}")
    shares = [float(v) for v in args.shares.split(",")]
    half = "test" if args.test else "tuning"
    started = time.perf_counter()
    with threadpool_limits(1):
        runs = {name: score_market(name, shares, half) for name in args.markets}
        aucs = {share: membership_auc(share) for share in shares}
    print(f"python -m benchmarks.noise_share {' '.join(args.markets)} --shares {args.shares}"
          f"{' --test' if args.test else ''}  ({time.perf_counter() - started:.0f} s, "
          f"BLAS 1 thread; {half} users only)")
    rows = []
    for name, per_share in runs.items():
        for s in per_share:
            idx = np.arange(len(s.rankings))
            gaps = gap_shares(s.values, idx)
            rows.append([f"{name} ({len(idx)})", f"{s.share:g}",
                         *(pct(gaps[m]) for m in ZERO_LABEL),
                         pct(best_share(s.values, idx)), hits(s.rankings, 1),
                         hits(s.rankings, TOP_K), f"{s.seconds:.0f}"])
    print_table(f"Gap closed at zero labels per market and share, {half} users (B: the best "
                f"of the three; search top-1 / top-{TOP_K}: users whose best learnware search "
                f"ranks first / among its first {TOP_K})",
                ["market (users)", "share", "top-1", "job selector", "averaging", "B",
                 "search top-1", f"search top-{TOP_K}", "s"], rows)
    by_share = {share: [runs[n][i] for n in runs] for i, share in enumerate(shares)}
    limit = aucs[CURRENT][0] + AUC_TOLERANCE if CURRENT in aucs else float("inf")
    summary = []
    for share in shares:
        ok = aucs[share][0] <= limit
        summary.append([f"{share:g}", pct(criterion(by_share[share])),
                        f"{aucs[share][0]:.3f}", f"{aucs[share][1]:.3f}",
                        "yes" if ok else "no"])
    print_table(f"Per share, {half} users: C = mean over the {len(runs)} markets of B; "
                f"membership AUC (privacy_bench tuning cells, m = {AUC_M}; admissible: AUC nn "
                f"<= that of {CURRENT:g} + {AUC_TOLERANCE})",
                ["share", "C", "AUC nn", "AUC kde", "admissible"], summary)
    if args.test or CURRENT not in by_share:
        return 0
    admissible = [s for s in shares if aucs[s][0] <= limit]
    chosen = max(admissible, key=lambda s: criterion(by_share[s]))
    lows, boot = {}, []
    for share in (s for s in shares if s != CURRENT):
        diff = bootstrap_difference(by_share[share], by_share[CURRENT])
        lows[share] = float(np.quantile(diff, 0.05))
        observed = criterion(by_share[share]) - criterion(by_share[CURRENT])
        boot.append([f"{share:g}", f"{100 * observed:+.1f}", f"{100 * lows[share]:+.1f}",
                     f"{100 * float(np.quantile(diff, 0.95)):+.1f}",
                     f"{float(np.mean(diff <= 0)):.3f}", "yes" if share in admissible else "no"])
    print_table(f"Paired bootstrap of C(share) - C({CURRENT:g}), tuning users ({BOOTSTRAP} "
                f"resamples within each market, seed {BOOTSTRAP_SEED}; points of gap closed)",
                ["share", "observed", "5th percentile", "95th percentile",
                 "resamples <= 0", "admissible"], boot)
    if chosen == CURRENT:
        verdict = f"{CURRENT:g} has the largest C among the admissible shares: it stays"
    elif lows[chosen] > 0:
        verdict = f"adopt {chosen:g} (largest admissible C; its 5th percentile is above 0)"
    else:
        verdict = (f"keep {CURRENT:g} ({chosen:g} has the largest admissible C, but its 5th "
                   f"percentile is not above 0: not singled out clearly)")
    print(f"\nDecision: {verdict}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
