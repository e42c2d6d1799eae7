"""Issue 16, labels that never make it worse: a guarded labelled choice over the shortlist.

    python -m benchmarks.labels_guard --half tuning --budgets 10 50   # the z grid, tuning
    python -m benchmarks.labels_guard --half test --budgets 10 50 --z Z --variant V  # once

What a user with labels gets today (`benchmarks.labels_target`'s *flow*: search ->
`rerank` -> `select_method` on the labels' first) starts from the MMD² first and its
re-rank, and on the test half closed *less* of the gap with 10 labels than the data-free
default with none on survey and ridership. The step measured here starts from what the
user gets with no label — the data-free default — and moves off it only when the labels
say so.

**Protocol, written before any run of this script.**

- Markets, users, split, draws: as `benchmarks.labels_target` (the held-out markets
  diamonds, ridership, survey; Birthdays, ``tabular``; MNIST, ``image``; tuning half =
  even positions, test half = odd; 5 label draws per user and budget, draw ``d`` seeded
  with the user's seed + ``DRAW_STRIDE * d``, so the flow's draws are the same draws).
- Candidates, per user (the search: k = 5, mixtures of up to 3, the user's seed), in
  this order:

  1. ``default``: the data-free default (`lwnode.userside.local.data_free_method` on
     all the user's unlabelled rows: route or average) on the search's mixture, or its
     top match, with its weights. The *baseline*: what the user gets with 0 labels;
  2. the other data-free method on the same learnwares (``job selector`` or
     ``averaging``);
  3. ``shortlist average``: the equal average of the shortlist (the mixture's members
     and the top 5 singles; `lwnode.userside.rerank.shortlist_ids`, `benchmarks.
     agreement`'s "shortlist avg");
  4. the top 5 singles, each alone (``single #k``, by their search rank);
  5. the labelled methods `select_method` offers on the mixture (``ensemble pruning``,
     ``feature augment``), fitted on the other folds.

- Criterion: each candidate's per-row loss (0/1 error, or squared error) out of fold
  on the labels, on the shared folds of `engine.reuse.select.label_folds` (data-free
  candidates never see the labels). A candidate replaces the baseline only if its mean
  paired per-row gain over the *baseline* exceeds ``z`` standard errors of that gain
  (`engine.reuse.select`'s rule); among those that pass, the largest mean gain.
  Variant ``vs-average``: a single must in addition beat the shortlist average by the
  same rule (one learnware chosen over the average of all only on evidence against
  both). Degenerate draws (under 6 labels, one class) keep the baseline.
- Grid: z in {0.5, 1, 1.645, 2.326} x variant in {plain, vs-average}.
- Rule for choosing (tuning half only, 10 and 50 labels): a configuration is
  *admissible* when on every one of the five markets, at each budget, its share of the
  gap closed (mean over draws, `labels_target`'s definition) is no more than 2 points
  below the baseline's (the data-free default with no labels). Among the admissible:
  the highest mean over the five markets of the share at 10 labels; within 1 point of
  it, the larger z, then plain before vs-average (the simpler).
- Adoption in the product (the default with labels: `lwnode search --labels`,
  `rerank`, `select_method`, the web page's path): only if the chosen configuration's
  mean share at 10 labels on the tuning half is above both the current flow's and the
  baseline's. The test half is then run once for the chosen configuration and
  reported per user (wins / losses against the baseline and against the flow, user x
  draw pairs and per user over draws), whatever it says.

**Tuning half** (`--half tuning --budgets 10 50`, the whole grid; 349 s of CPU, 629 s of
wall clock beside other jobs; raw output in docs/results/labels_guard.md). Share of the
gap closed, mean over 5 draws (the baseline's figure is the same at every budget):

| tuning, 10 / 50 labels | diamonds | ridership | survey | Birthdays | MNIST | mean |
|---|---|---|---|---|---|---|
| baseline (0 labels) | 44.9 | 47.1 | 109.7 | 98.1 | 253.0 | 110.6 |
| flow | 95.1 / 97.5 | 76.7 / 91.0 | 109.7 / 105.3 | 93.8 / 97.7 | 252 / 256 | 125.4 / 129.4 |
| z = 0.5 | 77.7 / 98.5 | 70.8 / 89.7 | 104.3 / 61.6 | 37.6 / 89.3 | 251 / 257 | 108.2 / 119.2 |
| z = 1 | 80.8 / 98.6 | 73.1 / 89.7 | 104.3 / 68.4 | 78.8 / 93.2 | 254 / 257 | 118.1 / 121.4 |
| z = 1.645 | 81.2 / 98.6 | 64.9 / 85.5 | 109.7 / 105.3 | 93.8 / 97.9 | 254 / 257 | 120.6 / 128.8 |
| z = 2.326 | 72.8 / 99.4 | 54.1 / 79.5 | 109.7 / 109.7 | 96.0 / 99.1 | 254 / 255 | 117.2 / 128.5 |

(in %; the step's rows are the plain variant. vs-average: at 10 labels equal to plain or
up to 1 point lower at every z; at 50 higher at z = 0.5 and 1, lower at 1.645.) **No
configuration is admissible**: every one is more than 2 points below the baseline on
Birthdays at 10 labels (the closest, z = 2.326: 96.0 % against 98.1 %, all of it one
user, OK, whose labels of 1970-1986 pick, in 2 draws of 5, a learnware that is worse on
1987-1988), most also on survey at 50. The current flow is not admissible either
(Birthdays 93.8 %, survey at 50 105.3 %). And no configuration reaches the flow's mean
at 10 labels (best: z = 1.645, plain, 120.6 % against 125.4 %): a likely reason: in one
contest against the data-free default, feature augment on the mixture (often the largest
out-of-fold gain on 10 labels) is chosen where the flow's two stages (the entry by the
re-rank, then the method on it) pick a single learnware: 10 of 20 ridership draws, 3 of
20 on diamonds (diamonds 81 vs 95 %, ridership 65 vs 77 %). So, by the rule, **not
adopted**.

*Amendment, written after the tuning run and before the test run:* the rule above says
nothing when no configuration is admissible. The test half is run once, for reporting
only, with the configuration the rule's second part picks without the admissibility
filter (the best mean at 10 labels): z = 1.645, plain (the engine's own `Z_GAIN`).

**Test half, run once** (`--half test --budgets 10 50 --z 1.645 --variant plain`; 357 s
of CPU). Share of the gap at 10 / 50 labels; W/L/= of the step against the baseline
over user x draw at 10 labels (the step's row: z = 1.645, plain):

| test, 10 / 50 labels | diamonds | ridership | survey | Birthdays | MNIST | mean |
|---|---|---|---|---|---|---|
| baseline (0 labels) | 90.7 | 53.2 | 59.9 | 95.5 | 294.4 | 118.8 |
| flow | 88.0 / 98.4 | 69.5 / 99.6 | 59.9 / 59.9 | 77.4 / 87.1 | 294 / 295 | 117.7 / 128.1 |
| z = 1.645 | 91.3 / 101.3 | 72.9 / 91.0 | 59.9 / 57.8 | 77.6 / 89.6 | 294 / 295 | 119.1 / 127.0 |
| vs baseline, 10 | 1/1/13 | 13/1/6 | 0/0/20 | 2/11/27 | 0/1/49 | 16/14/115 |

A wash against the flow (3 wins / 5 losses over 145 user x draw pairs at 10 labels; 1.4
points of mean up at 10 labels, 1.1 down at 50), and like the flow it loses to the
data-free default on Birthdays (11 of 40 draws: labels of 1970-1986, test rows of
1987-1988). Not adopted.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.heldout import half_of
from benchmarks.labels_target import (
    DRAW_STRIDE,
    DRAWS,
    FLOW,
    MARKETS,
    Market,
    built,
    run_user,
)
from benchmarks.reuse_birthdays import gap_closed
from benchmarks.reuse_common import (
    labels_only,
    picked,
    ranked_search,
    score,
)
from engine.learnware import Learnware
from engine.reuse.select import _degenerate, _losses, _targets, label_folds
from lwnode.userside.local import data_free_method, new_reuser

Z_GRID = (0.5, 1.0, 1.645, 2.326)
VARIANTS = ("plain", "vs-average")
BASE = "default"
SHORT_AVG = "shortlist average"
LABELLED = {"ensemble pruning": "ensemble-pruning", "feature augment": "feature-augment"}
GUARD_PTS = 0.02
TIE_PTS = 0.01


@dataclass
class Fixed:
    """One user's candidates: data-free ones' predictions of the pool rows and their
    scores on the test rows, and the labelled ones' factories."""

    order: list[str]
    pool_pred: dict[str, np.ndarray]
    test_score: dict[str, float]
    labelled: dict[str, Callable[[], Any]]
    base_method: str


@dataclass
class UserOut:
    name: str
    mean: float
    best: float
    base: float  # the data-free default's score (0 labels)
    flow: dict[int, list[float]] = field(default_factory=dict)
    alone: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    # (z, variant) -> budget -> per draw: (score, chosen)
    step: dict[tuple[float, str], dict[int, list[tuple[float, str]]]] = field(
        default_factory=dict)


def fixed_candidates(m: Market, market_lws: Sequence[Learnware], catalog: Any, user: Any,
                     seed: int) -> Fixed:
    by_id = {lw.id: lw for lw in market_lws}
    result = ranked_search(catalog, user.x_test, N_POINTS, seed)
    mix, weights, shortlist, _ = picked(result, by_id)
    w = list(weights)
    base_method = data_free_method(mix, user.x_test, w).method
    other = "average" if base_method == "job-selector" else "job-selector"
    models: dict[str, Any] = {
        BASE: new_reuser(base_method, mix, w).fit(),
        "other data-free": new_reuser(other, mix, w).fit(),
        SHORT_AVG: new_reuser("average", shortlist, None).fit()}
    for k, hit in enumerate(result.single[:5], 1):
        models[f"single #{k}"] = by_id[hit.id].model
    pool_pred = {n: np.asarray(mdl.predict(user.x_pool)) for n, mdl in models.items()}
    test_score = {n: score(m.task, user.y_test, mdl.predict(user.x_test))
                  for n, mdl in models.items()}
    labelled = {n: (lambda meth=meth: new_reuser(meth, mix, w)) for n, meth in LABELLED.items()}
    return Fixed([*models, *labelled], pool_pred, test_score, labelled, base_method)


def passes(gain: np.ndarray, z: float) -> bool:
    mean = float(gain.mean())
    return mean > z * float(gain.std()) / math.sqrt(len(gain))


def choose(losses: dict[str, np.ndarray], order: Sequence[str], z: float, variant: str) -> str:
    best, best_gain = BASE, 0.0
    for c in order[1:]:
        gain = losses[BASE] - losses[c]
        if not passes(gain, z):
            continue
        if variant == "vs-average" and c.startswith("single") and \
                not passes(losses[SHORT_AVG] - losses[c], z):
            continue
        if float(gain.mean()) > best_gain:
            best, best_gain = c, float(gain.mean())
    return best


def run(m: Market, market_lws: Sequence[Learnware], catalog: Any, user: Any, seed: int,
        budgets: Sequence[int], n_draws: int, grid: Sequence[tuple[float, str]]) -> UserOut:
    classify = m.task == "classification"
    ref = run_user(m, market_lws, catalog, user, seed, budgets, n_draws)  # the flow, same draws
    fx = fixed_candidates(m, market_lws, catalog, user, seed)
    out = UserOut(user.name, ref.mean, ref.best, fx.test_score[BASE])
    for b, draws in ref.draws.items():
        out.flow[b] = [d.values[FLOW] for d in draws]
        out.alone[b] = {a: [d.values[a] for d in draws] for a in labels_only(m.task)}
    for d in range(n_draws):
        for budget, pick in draw_indices(user, m.budgets, seed + DRAW_STRIDE * d):
            if budget not in budgets:
                continue
            xl, yl = user.x_pool[pick], user.y_pool[pick]
            target = _targets(yl, classify)
            if _degenerate(target, classify) is not None:
                for key in grid:
                    out.step.setdefault(key, {}).setdefault(budget, []).append(
                        (fx.test_score[BASE], BASE))
                continue
            losses = {n: _losses(p[pick], target, classify) for n, p in fx.pool_pred.items()}
            splits = label_folds(target, classify)
            for n, make in fx.labelled.items():
                loss = np.zeros(len(target))
                for train, test in splits:
                    mdl = make().fit(xl[train], target[train])
                    loss[test] = _losses(np.asarray(mdl.predict(xl[test])), target[test],
                                         classify)
                losses[n] = loss
            fitted: dict[str, float] = {}
            for key in grid:
                c = choose(losses, fx.order, *key)
                if c in fx.test_score:
                    s = fx.test_score[c]
                else:
                    if c not in fitted:
                        mdl = fx.labelled[c]().fit(xl, target)
                        fitted[c] = score(m.task, user.y_test, mdl.predict(user.x_test))
                    s = fitted[c]
                out.step.setdefault(key, {}).setdefault(budget, []).append((s, c))
    return out


def draw_indices(user: Any, budgets: Sequence[int], seed: int
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """The pool rows `reuse_common.label_draws` draws, as indices (the same generator,
    the same calls), so the data-free candidates' pool predictions can be indexed."""
    rng = np.random.default_rng(seed)
    for budget in budgets:
        if budget == 0:
            continue
        yield budget, rng.choice(len(user.x_pool), budget, replace=False)


def share(outs: Sequence[UserOut], values: Sequence[float]) -> float:
    return gap_closed(float(np.mean([o.mean for o in outs])),
                      float(np.mean([o.best for o in outs])), float(np.mean(values)))


def mean_share(outs: Sequence[UserOut], per_draw: Sequence[Sequence[float]]) -> float:
    """Mean over draws of the market's share; `per_draw[u][d]`."""
    n = len(per_draw[0])
    return float(np.mean([share(outs, [v[d] for v in per_draw]) for d in range(n)]))


def wl(a: Sequence[float], b: Sequence[float], higher: bool) -> tuple[int, int, int]:
    sign = 1 if higher else -1
    won = sum(sign * (x - y) > 1e-12 for x, y in zip(a, b, strict=True))
    lost = sum(sign * (x - y) < -1e-12 for x, y in zip(a, b, strict=True))
    return won, lost, len(a) - won - lost


def wls(counts: tuple[int, int, int]) -> str:
    return "/".join(map(str, counts))


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(m: Market, outs: Sequence[UserOut], budgets: Sequence[int],
           grid: Sequence[tuple[float, str]], half: str) -> dict[Any, dict[int, float]]:
    higher = m.task == "classification"
    shares: dict[Any, dict[int, float]] = {"baseline": {}, "flow": {}}
    rows = []
    for b in budgets:
        base = share(outs, [o.base for o in outs])
        flow = mean_share(outs, [o.flow[b] for o in outs])
        shares["baseline"][b], shares["flow"][b] = base, flow
        rows.append([str(b), "baseline (data-free default, 0 labels)", pct(base), "", "", ""])
        fw = wl([x for o in outs for x in o.flow[b]], [o.base for o in outs for _ in o.flow[b]],
                higher)
        rows.append([str(b), "flow (search -> re-rank -> select_method)", pct(flow),
                     wls(fw), "", ""])
        for key in grid:
            vals = [[s for s, _ in o.step[key][b]] for o in outs]
            sh = mean_share(outs, vals)
            shares.setdefault(key, {})[b] = sh
            vs_base = wl([x for v in vals for x in v],
                         [o.base for o, v in zip(outs, vals, strict=True) for _ in v], higher)
            vs_flow = wl([x for v in vals for x in v], [x for o in outs for x in o.flow[b]],
                         higher)
            chosen: dict[str, int] = {}
            for o in outs:
                for _, c in o.step[key][b]:
                    chosen[c] = chosen.get(c, 0) + 1
            rows.append([str(b), f"step z = {key[0]:g}, {key[1]}", pct(sh), wls(vs_base),
                         wls(vs_flow),
                         ", ".join(f"{k} {v}" for k, v in sorted(chosen.items()))])
    print_table(f"{m.name}, {half} half ({len(outs)} users): share of the gap closed, mean "
                "over draws; W/L/= over user x draw", ["labels", "method", "gap closed",
                                                        "vs baseline", "vs flow", "chosen"],
                rows)
    return shares


def per_user(m: Market, outs: Sequence[UserOut], budgets: Sequence[int],
             key: tuple[float, str], half: str) -> None:
    higher = m.task == "classification"
    rows = []
    for o in outs:
        row = [o.name, f"{o.base:.4f}"]
        for b in budgets:
            step = [s for s, _ in o.step[key][b]]
            row += [f"{np.mean(o.flow[b]):.4f}", f"{np.mean(step):.4f}",
                    wls(wl(step, [o.base] * len(step), higher)),
                    wls(wl(step, o.flow[b], higher))]
        rows.append(row)
    header = ["user", "0 labels: default"]
    for b in budgets:
        header += [f"{b}: flow", f"{b}: step", f"{b}: step vs default W/L/=",
                   f"{b}: step vs flow W/L/="]
    print_table(f"{m.name}, {half} half, per user (step z = {key[0]:g}, {key[1]}; mean over "
                "draws; W/L/= over draws)", header, rows)
    rows = []
    sign = 1 if higher else -1
    for b in budgets:
        names = list(labels_only(m.task))
        means = {a: float(np.nanmean([x for o in outs for x in o.alone[b][a]])) for a in names}
        alone = max(names, key=lambda a: sign * means[a])
        n = len(outs[0].flow[b])
        for label, got in (("flow", [o.flow[b] for o in outs]),
                           ("step", [[s for s, _ in o.step[key][b]] for o in outs])):
            margins = [sign * float(np.nanmean([g[d] - o.alone[b][alone][d]
                                                for o, g in zip(outs, got, strict=True)]))
                       for d in range(n)]
            mu, sd = float(np.mean(margins)), float(np.std(margins))
            rows.append([str(b), label, f"{alone} {means[alone]:.4f}", f"{mu:+.4f} ± {sd:.4f}",
                         "met" if mu > sd and mu > 0 else "MISSED"])
    print_table(f"{m.name}, {half} half: against the better user-only model (margin signed so "
                "+ is better, mean ± sd across draws)",
                ["labels", "method", "better user-only", "margin", "margin > spread"], rows)


def choose_config(all_shares: dict[str, dict[Any, dict[int, float]]],
                  grid: Sequence[tuple[float, str]], budgets: Sequence[int]
                  ) -> tuple[float, str] | None:
    """The protocol's rule: admissible (no market more than 2 points below the baseline
    at any budget), then the best mean at the smallest budget; within 1 point, the
    larger z, then plain."""
    admissible = [k for k in grid if all(s[k][b] >= s["baseline"][b] - GUARD_PTS
                                         for s in all_shares.values() for b in budgets)]
    if not admissible:
        return None
    first = min(budgets)
    mean = {k: float(np.mean([s[k][first] for s in all_shares.values()])) for k in admissible}
    top = max(mean.values())
    near = [k for k in admissible if mean[k] >= top - TIE_PTS]
    return max(near, key=lambda k: (k[0], k[1] == "plain"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", nargs="+", default=list(MARKETS), choices=MARKETS)
    parser.add_argument("--half", choices=("test", "tuning"), default="tuning")
    parser.add_argument("--budgets", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--draws", type=int, default=DRAWS)
    parser.add_argument("--z", nargs="+", type=float, default=list(Z_GRID))
    parser.add_argument("--variant", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args(argv)
    grid = [(z, v) for z in args.z for v in args.variant]
    started, cpu = time.perf_counter(), time.process_time()
    print(f"# Guarded labelled choice, {args.half} half\n\n`python -m benchmarks.labels_guard "
          f"--half {args.half} --budgets {' '.join(map(str, args.budgets))} --draws "
          f"{args.draws} --z {' '.join(map(str, args.z))} --variant {' '.join(args.variant)} "
          f"--markets {' '.join(args.markets)}`; {machine()}; one BLAS thread.", flush=True)
    all_shares: dict[str, dict[Any, dict[int, float]]] = {}
    with threadpool_limits(1):
        for name in args.markets:
            t0 = time.perf_counter()
            m, market_lws, users, catalog, budgets = built(name, args.budgets)
            outs = [run(m, market_lws, catalog, user, m.user_seed + u, budgets, args.draws, grid)
                    for u, user in enumerate(users) if half_of(u) == args.half]
            all_shares[name] = report(m, outs, budgets, grid, args.half)
            for key in grid:
                per_user(m, outs, budgets, key, args.half)
            print(f"\n{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    common = [b for b in args.budgets if all(b in s["baseline"] for s in all_shares.values())]
    rows = []
    for key in ["baseline", "flow", *grid]:
        label = key if isinstance(key, str) else f"step z = {key[0]:g}, {key[1]}"
        for b in common:
            vals = [s[key][b] for s in all_shares.values()]
            rows.append([label, str(b), *(pct(v) for v in vals), pct(float(np.mean(vals)))])
    print_table(f"Summary, {args.half} half: share of the gap closed (mean over draws)",
                ["method", "labels", *all_shares, "mean"], rows)
    if len(grid) > 1 and common:
        pick = choose_config(all_shares, grid, common)
        print(f"\nchosen by the protocol's rule: {pick}")
        if pick is not None:
            first = min(common)
            means = {k: float(np.mean([s[k][first] for s in all_shares.values()]))
                     for k in ("baseline", "flow", pick)}
            adopt = means[pick] > means["flow"] and means[pick] > means["baseline"]
            print(f"at {first} labels: step {pct(means[pick])}, flow {pct(means['flow'])}, "
                  f"baseline {pct(means['baseline'])}: {'ADOPT' if adopt else 'do not adopt'}")
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
