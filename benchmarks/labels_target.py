"""Issue 16's labelled targets, measured: what a user with labels gets, on every market.

    python -m benchmarks.labels_target                      # test half, 5 draws, all markets
    python -m benchmarks.labels_target --half tuning        # the tuning half (diagnosis only)
    python -m benchmarks.labels_target --markets survey --budgets 10 --draws 3

Markets: the held-out markets of `benchmarks.experiments.heldout` (diamonds, ridership,
survey), the tabular experiment (Birthdays) and the image experiment (MNIST-5k class
subsets), each built by its own module (`build` / `market_and_users`), with its users
and their requirement seeds as the experiments use them. Not here: the text
experiment (it embeds 5,000 reviews first; its learnwares take text, and `rerank`
re-ranks only tables).

**Split** (fixed before any result, `heldout.half_of`): the users at odd positions of
each market's list are the *test* half, reported; the even positions are the *tuning*
half, for diagnosis and for tuning a change only (``--half tuning``).

**Protocol, per user of the half.** The user searches with the RKME of its unlabelled
test rows (`reuse_common.ranked_search`: the experiments' search, k = 5, mixtures of
up to 3, the user's seed). Zero labels: mean and best in market (each learnware alone
on the test rows) and the three data-free figures of the experiments (top-1, the job
selector and averaging on the mixture or top match); the market's zero-label figure
is the best of the three, as in docs/results. With ``m`` labels, ``--draws`` draws per
user and budget (draw ``d`` is `reuse_common.label_draws` with the user's seed plus
``DRAW_STRIDE * d``: draw 0 is the experiments' own draw), the flow a user gets:

1. *search -> re-rank*: `lwnode.userside.rerank.rerank` (the code of `lwnode search
   --labels` and the web page) orders the shortlist — the top 5 singles and the
   mixture — by the labels (`engine.reuse.select.rank_by_labels`: the MMD² order
   stands unless the labels separate two entries);
2. *reuse*: the labels' first (`rerank.labels_first`: the mixture with its weights, or
   one learnware) reused by the default with labels, `select_method` (chosen out of
   fold among job selector, averaging, ensemble pruning, feature augment; without the
   nested estimate, which changes neither choice nor model);
3. scored on the user's test rows (RMSE, or accuracy).

Beside it: "default reuse" (step 2 on the search's mixture or top match, no re-rank:
what docs/reuse.md "Held-out markets" measured with one draw), the re-rank alone (the
labels' first reused without labels), the shortlist's best entry (oracle: which entry
is best on the test rows) and the two user-only models on the same labels (Ridge or
logistic regression, and a random forest).

**Targets (issue 16).** (a) 10 labels: the flow closes >= 85 % of the gap from mean
in market to best in market on every market. The market's share is
``gap_closed(mean of means, mean of bests, mean of the flow)`` over the half's users
(the definition of the zero-label figures in docs/results/*.md), per draw; reported:
its mean over draws and the spread (standard deviation, min-max) across draws; per
user, the user's own share, mean over draws. (b) at every budget up to 500: the flow
beats the better of the two user-only models (the one with the better mean over
users and draws at that budget) by a margin larger than the spread across draws:
the margin is computed per draw (mean over users), met when its mean over draws
exceeds its standard deviation across draws; per-user wins / losses count
user x draw pairs.

Cost: the test half with the default arguments took 2,002 s of CPU before "Route or
average" and 1,769 s after it (one BLAS thread; most of it MNIST and Birthdays at 500
labels); ``--budgets 10 50``, 229 s.
"""

from __future__ import annotations

import argparse
import importlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.heldout import half_of
from benchmarks.rerank_birthdays import answer_of, predictor
from benchmarks.reuse_birthdays import gap_closed
from benchmarks.reuse_common import (
    TOP_K,
    User,
    build_catalog,
    label_draws,
    labels_only,
    picked,
    ranked_search,
    score,
)
from engine.learnware import Learnware
from engine.reuse import Averaging, JobSelector
from lwnode.userside import rerank as rr
from lwnode.userside.local import select_method
from lwnode.userside.rerank import MIXTURE, labels_first, rerank

MARKETS = ("diamonds", "ridership", "survey", "tabular", "image")
BUDGETS = (10, 50, 100, 500)
DRAWS = 5
DRAW_STRIDE = 100_003
"""Draw d of user u uses `label_draws` seeded with the user's seed + d * DRAW_STRIDE."""
TEN_LABEL_TARGET = 0.85
FLOW = "search -> re-rank -> default reuse"
DEFAULT = "default reuse (no re-rank)"
RERANK_ONLY = "re-rank's first, no labels in reuse"


@dataclass(frozen=True)
class Market:
    """How to build one market and seed its users, as its experiment does."""

    name: str
    task: str
    budgets: tuple[int, ...]  # the experiment's budgets (label_draws' order)
    user_seed: int  # user u searches and draws with user_seed + u
    build: Callable[[], tuple[list[Learnware], list[User]]]


def market(name: str) -> Market:
    if name in ("diamonds", "ridership", "survey"):
        mod = importlib.import_module(f"benchmarks.experiments.{name}")
        task = "classification" if mod.SETTING.metric in ("accuracy", "error") else "regression"
        return Market(name, task, mod.BUDGETS, mod.SEED, mod.build)
    if name == "tabular":
        from benchmarks.experiments import tabular

        return Market(name, "regression", tabular.BUDGETS, tabular.USER_SEED,
                      tabular.market_and_users)
    if name == "image":
        from benchmarks.experiments import image
        from benchmarks.experiments.common import BUDGETS as IMAGE_BUDGETS

        return Market(name, "classification", IMAGE_BUDGETS, image.USER_SEED,
                      image.market_and_users)
    raise ValueError(f"unknown market {name!r}; choose from {', '.join(MARKETS)}")


def built(name: str, budgets: Sequence[int]
          ) -> tuple[Market, list[Learnware], list[User], Any, list[int]]:
    """Market `name` as its experiment builds it: the market, its learnwares, its users,
    their catalog, and those of `budgets` its users have."""
    m = market(name)
    market_lws, users = m.build()
    return m, market_lws, users, build_catalog(market_lws), [b for b in budgets
                                                             if b in m.budgets]


@dataclass
class Draw:
    """One label draw's scores on the user's test rows (NaN: the method could not run)."""

    values: dict[str, float]
    moved_first: bool  # the labels put another entry first
    first_is_oracle: bool  # the labels' first is the shortlist's best on the test rows
    chosen: str  # the method select_method chose on the labels' first


@dataclass
class UserRun:
    name: str
    mean: float
    best: float
    zero: dict[str, float]  # top-1, job selector, averaging, shortlist oracle
    draws: dict[int, list[Draw]] = field(default_factory=dict)


Reused = dict[tuple[str, ...], tuple[np.ndarray, str]]


def reused_pred(cache: Reused, by_id: dict[str, Learnware], ids: tuple[str, ...],
                weights: list[float] | None, xl: np.ndarray, yl: np.ndarray, user: User
                ) -> tuple[np.ndarray, str]:
    """The learnwares `ids` reused by the default with the labels (`select_method`):
    (its predictions of the user's test rows, the method chosen), once per set of ids
    (`cache`)."""
    if ids not in cache:
        sel = select_method([by_id[i] for i in ids], xl, yl, weights, nested=False,
                            rows=user.x_test)
        cache[ids] = (np.asarray(sel.model.predict(user.x_test)), sel.chosen)
    return cache[ids]


def reused(cache: Reused, by_id: dict[str, Learnware], ids: tuple[str, ...],
           weights: list[float] | None, xl: np.ndarray, yl: np.ndarray, user: User,
           task: str) -> tuple[float, str]:
    """`reused_pred`, scored: (score on the user's test rows, the method chosen)."""
    pred, chosen = reused_pred(cache, by_id, ids, weights, xl, yl, user)
    return score(task, user.y_test, pred), chosen


def first_of(reranked: dict[str, Any], answer: dict[str, Any], default_ids: tuple[str, ...],
             default_w: list[float] | None, top_id: str
             ) -> tuple[tuple[str, ...], list[float] | None, str]:
    """What the flow reuses after the re-rank `reranked`: (ids, weights, the shortlist
    entry it is: `MIXTURE` or a learnware id); when nothing was ranked, the search's own
    first (`default_ids`, `default_w`: its mixture, or `top_id` alone)."""
    first = labels_first(reranked, answer)
    if first is None:
        return default_ids, default_w, MIXTURE if answer["mixture"] else top_id
    ids = tuple(first[0])
    return ids, first[1], MIXTURE if first[1] is not None else ids[0]


def run_user(m: Market, market_lws: Sequence[Learnware], catalog: Any, user: User, seed: int,
             budgets: Sequence[int], n_draws: int) -> UserRun:
    task = m.task
    by_id = {lw.id: lw for lw in market_lws}
    result = ranked_search(catalog, user.x_test, N_POINTS, seed)
    mix, weights, _, top = picked(result, by_id)
    answer = answer_of(result, by_id)
    singles = [score(task, user.y_test, lw.model.predict(user.x_test)) for lw in market_lws]
    better = max if task == "classification" else min
    entries = [h["id"] for h in answer["single"]] + ([MIXTURE] if answer["mixture"] else [])
    on_test = {e: score(task, user.y_test, predictor(e, answer, by_id).predict(user.x_test))
               for e in entries}
    zero = {"top-1": score(task, user.y_test, top.model.predict(user.x_test)),
            "job selector": score(task, user.y_test,
                                  JobSelector(mix, weights=weights).fit().predict(user.x_test)),
            "averaging": score(task, user.y_test,
                               Averaging(mix, weights=weights).fit().predict(user.x_test)),
            "shortlist oracle": better(on_test.values())}
    run = UserRun(user.name, float(np.mean(singles)), better(singles), zero)
    default_ids = tuple(answer["mixture"]["ids"]) if answer["mixture"] else (top.id,)
    default_w = list(answer["mixture"]["weights"]) if answer["mixture"] else None
    for d in range(n_draws):
        for budget, xl, yl in label_draws(user, m.budgets, seed + DRAW_STRIDE * d):
            if budget not in budgets:
                continue
            cache: Reused = {}
            out = rerank(answer, by_id, xl, yl, n=TOP_K)
            ids, w, first_entry = first_of(out, answer, default_ids, default_w, top.id)
            flow, chosen = reused(cache, by_id, ids, w, xl, yl, user, task)
            values = {FLOW: flow, DEFAULT: reused(cache, by_id, default_ids, default_w, xl, yl,
                                                  user, task)[0],
                      RERANK_ONLY: on_test[first_entry]}
            for name, make in labels_only(task).items():
                try:
                    pred = make().fit(xl, yl).predict(user.x_test)
                    values[name] = score(task, user.y_test, pred)
                except ValueError:  # e.g. one class in a draw of 10
                    values[name] = math.nan
            run.draws.setdefault(budget, []).append(Draw(
                values, ids != default_ids, on_test[first_entry] == zero["shortlist oracle"],
                chosen))
    return run


def pct(x: float) -> str:
    return "·" if math.isnan(x) else f"{100 * x:.0f} %"


def fmt(x: float) -> str:
    return "·" if math.isnan(x) else f"{x:.4f}"


def nanmean(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def market_share(runs: Sequence[UserRun], values: Sequence[float]) -> float:
    """Share of the half's gap closed by `values` (one per user), as docs/results define it."""
    return gap_closed(float(np.mean([r.mean for r in runs])),
                      float(np.mean([r.best for r in runs])), float(np.mean(values)))


def per_draw(runs: Sequence[UserRun], budget: int, method: str) -> list[list[float]]:
    """draw -> the users' scores of `method`."""
    n = len(runs[0].draws[budget])
    return [[r.draws[budget][d].values[method] for r in runs] for d in range(n)]


def spread(xs: Sequence[float]) -> str:
    a = np.asarray(xs)
    return f"± {100 * a.std():.1f} pt ({100 * a.min():.0f}-{100 * a.max():.0f} %)"


def report_market(m: Market, runs: Sequence[UserRun], budgets: Sequence[int], half: str,
                  seconds: float) -> dict[str, Any]:
    """Print the market's tables; return its summary line's figures."""
    higher = m.task == "classification"
    metric = "accuracy, higher is better" if higher else "RMSE, lower is better"
    zero_methods = ("top-1", "job selector", "averaging")
    zero_shares = {z: market_share(runs, [r.zero[z] for r in runs]) for z in zero_methods}
    zero_best = max(zero_shares, key=lambda z: zero_shares[z])
    oracle = market_share(runs, [r.zero["shortlist oracle"] for r in runs])
    summary: dict[str, Any] = {"market": m.name, "users": len(runs), "zero": zero_shares[zero_best],
                               "zero_method": zero_best, "oracle": oracle}
    rows = []
    for r in runs:
        row = [r.name, fmt(r.mean), fmt(r.best), *(fmt(r.zero[z]) for z in zero_methods),
               pct(gap_closed(r.mean, r.best, r.zero[zero_best])),
               pct(gap_closed(r.mean, r.best, r.zero["shortlist oracle"]))]
        if 10 in r.draws:
            shares = [gap_closed(r.mean, r.best, d.values[FLOW]) for d in r.draws[10]]
            row += [fmt(nanmean([d.values[FLOW] for d in r.draws[10]])),
                    f"{pct(float(np.mean(shares)))} ({pct(min(shares))}-{pct(max(shares))})",
                    f"{sum(d.moved_first for d in r.draws[10])}/{len(r.draws[10])}",
                    ", ".join(sorted({d.chosen for d in r.draws[10]}))]
        rows.append(row)
    header = ["user", "mean in market", "best in market", *zero_methods,
              f"0 labels: gap closed ({zero_best})", "shortlist oracle: gap closed"]
    if 10 in budgets:
        header += ["10 labels: flow", "10 labels: gap closed (min-max over draws)",
                   "labels moved the first", "methods chosen"]
    print_table(f"{m.name}, {half} half, per user ({metric}; the user's own gap)", header, rows)
    if 10 in budgets:
        lines = []
        for method in (FLOW, DEFAULT, RERANK_ONLY):
            shares = [market_share(runs, vals) for vals in per_draw(runs, 10, method)]
            lines.append([method, pct(float(np.mean(shares))), spread(shares),
                          pct(float(np.mean([gap_closed(r.mean, r.best, nanmean(
                              [d.values[method] for d in r.draws[10]])) for r in runs])))])
            if method == FLOW:
                summary["ten"], summary["ten_spread"] = float(np.mean(shares)), spread(shares)
        lines.append([f"0 labels, best data-free ({zero_best})", pct(zero_shares[zero_best]),
                      "", ""])
        lines.append(["0 labels, shortlist oracle", pct(oracle), "", ""])
        print_table(f"{m.name}, {half} half, 10 labels: share of the gap closed (target >= "
                    f"{TEN_LABEL_TARGET:.0%}: "
                    f"{'MET' if summary['ten'] >= TEN_LABEL_TARGET else 'MISSED'})",
                    ["method", "gap closed (mean over draws)", "spread across draws (sd, min-max)",
                     "mean of per-user shares"], lines)
    rows, verdicts = [], []
    sign = 1 if higher else -1
    for b in budgets:
        if b not in runs[0].draws:
            continue
        alone_names = list(labels_only(m.task))
        means = {a: nanmean([v for vs in per_draw(runs, b, a) for v in vs]) for a in alone_names}
        alone = max(alone_names, key=lambda a: -math.inf if math.isnan(means[a])
                    else sign * means[a])
        cells = [str(b), f"{alone} {fmt(means[alone])}"]
        for method in (FLOW, DEFAULT):
            margins = [sign * (nanmean(r) - nanmean(a)) for r, a in
                       zip(per_draw(runs, b, method), per_draw(runs, b, alone), strict=True)]
            pairs = [(sign * x, sign * y) for rs, as_ in zip(per_draw(runs, b, method),
                                                           per_draw(runs, b, alone), strict=True)
                     for x, y in zip(rs, as_, strict=True)]
            won = sum(x > y or (math.isnan(y) and not math.isnan(x)) for x, y in pairs)
            lost = sum(x < y for x, y in pairs)
            mu, sd = float(np.mean(margins)), float(np.std(margins))
            met = mu > sd and mu > 0
            cells += [fmt(nanmean([v for vs in per_draw(runs, b, method) for v in vs])),
                      f"{mu:+.4f} ± {sd:.4f}", f"{sum(x > 0 for x in margins)}/{len(margins)}",
                      f"{won}/{lost}", "met" if met else "MISSED"]
            if method == FLOW:
                verdicts.append((b, met))
        rows.append(cells)
    print_table(f"{m.name}, {half} half: reuse against the better user-only model ({metric}; "
                "margin = mean over users of reuse minus user-only, signed so + is better, "
                "mean ± sd across draws)",
                ["labels", "better user-only (mean)", "flow", "margin", "draws won",
                 "user x draw W/L", "margin > spread", "default reuse", "margin", "draws won",
                 "user x draw W/L", "margin > spread"], rows)
    summary["budgets"] = verdicts
    moved = {b: sum(d.moved_first for r in runs for d in r.draws[b]) for b in runs[0].draws}
    at_oracle = {b: sum(d.first_is_oracle for r in runs for d in r.draws[b])
                 for b in runs[0].draws}
    chosen: dict[int, dict[str, int]] = {}
    for b in runs[0].draws:
        for r in runs:
            for d in r.draws[b]:
                chosen.setdefault(b, {})[d.chosen] = chosen.get(b, {}).get(d.chosen, 0) + 1
    total = {b: sum(len(r.draws[b]) for r in runs) for b in runs[0].draws}
    print_table(f"{m.name}, {half} half: what the labels did (counts over user x draw)",
                ["labels", "first moved by the labels", "labels' first = shortlist's best",
                 "methods chosen on the labels' first"],
                [[str(b), f"{moved[b]}/{total[b]}", f"{at_oracle[b]}/{total[b]}",
                  ", ".join(f"{k} {v}" for k, v in sorted(chosen[b].items()))]
                 for b in sorted(runs[0].draws)])
    print(f"\n{m.name}: {len(runs)} {half} users, {seconds:.0f} s", flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", nargs="+", default=list(MARKETS), choices=MARKETS)
    parser.add_argument("--half", choices=("test", "tuning"), default="test")
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--draws", type=int, default=DRAWS)
    parser.add_argument("--rerank-z", nargs="+", type=float, default=None,
                        help="for tuning: the re-rank's z (lwnode.userside.rerank.RERANK_Z, "
                        "by default as it is); several values: each is run on every market")
    args = parser.parse_args(argv)
    zs = args.rerank_z or [rr.RERANK_Z]
    started, cpu = time.perf_counter(), time.process_time()
    print(f"# Issue 16's labelled targets, {args.half} half\n\n`python -m "
          f"benchmarks.labels_target --half {args.half} --draws {args.draws} --budgets "
          f"{' '.join(map(str, args.budgets))} --markets {' '.join(args.markets)}"
          f"{'' if args.rerank_z is None else ' --rerank-z ' + ' '.join(map(str, zs))}`; "
          f"{machine()}; one BLAS thread; re-rank z: {', '.join(map(str, zs))}.", flush=True)
    summaries = []
    with threadpool_limits(1):
        for name in args.markets:
            t0 = time.perf_counter()
            m, market_lws, users, catalog, budgets = built(name, args.budgets)
            for z in zs:
                rr.RERANK_Z = z
                runs = [run_user(m, market_lws, catalog, user, m.user_seed + u, budgets,
                                 args.draws)
                        for u, user in enumerate(users) if half_of(u) == args.half]
                half = args.half if len(zs) == 1 else f"{args.half} (re-rank z = {z})"
                summaries.append((z, report_market(m, runs, budgets, half,
                                                   time.perf_counter() - t0)))
    rows = []
    for z, s in summaries:
        rows.append([s["market"], *([str(z)] if len(zs) > 1 else []), str(s["users"]),
                     f"{pct(s['zero'])} ({s['zero_method']})", pct(s["oracle"]),
                     f"{pct(s['ten'])} {s['ten_spread']}" if "ten" in s else "·",
                     ("MET" if s["ten"] >= TEN_LABEL_TARGET else "MISSED") if "ten" in s
                     else "·",
                     ", ".join(f"{b} {'met' if ok else 'MISSED'}" for b, ok in s["budgets"])])
    print_table(f"Summary, {args.half} half ({args.draws} draws per user and budget)",
                ["market", *(["re-rank z"] if len(zs) > 1 else []), "users",
                 "0 labels: gap closed (best data-free)", "0 labels: shortlist oracle",
                 "10 labels, flow: gap closed (sd, min-max over draws)",
                 f">= {TEN_LABEL_TARGET:.0%}",
                 "flow beats better user-only by more than the spread"], rows)
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s "
          "CPU (markets' builds included)")


if __name__ == "__main__":
    main()
