"""Heterogeneous search and reuse: learnwares over other columns than the user's.

    python -m benchmarks.hetero_bench [--part synthetic|birthdays|all] [--seed 0]

Two markets, each run through the real flow: the user describes its columns
(`InputSpec.from_columns`), builds the RKME of its unlabelled rows, searches the
catalog (`Catalog.search`, which adds heterogeneous matches with their column maps),
and reuses what came back with `HeteroReuser` (data-free, or on a few labels).

- **synthetic** (`engine.hetero.synthetic`): two cities whose ten house columns have
  the same marginals but different dependence and price functions; every
  organization records the three core columns and some of the seven others, in its
  own order and wording. Users draw yet another subset and wording.
- **birthdays** (`lwnode.demo.birthdays`: daily births per US state; the
  reference's retail stand-in): every developer state engineers its own features —
  one of three recipes (which lags, which calendar columns), in its own words and
  order — and every user state a fourth recipe, worded as a mix of the three.

Reported in the reference's table shape (RMSE; mean in market = every learnware alone
through its column map, averaged; best in market = the best of them, an oracle;
top-1 = the search's first match alone; averaging = the top 3 matches averaged),
the share of the mean-to-best gap each closes, then the labelled-data curve:
`HeteroReuser` stacked on the top 3 against models on the user's labels only. Search
quality: whether a user's own-task learnwares rank first (synthetic, where the task
is known) and how many column pairs are right (both, against the recipes).

The reference reports, on its retail data, RMSE mean in market 1.149, best in market
1.038, top-1 reuse 1.075, averaging 1.064 (gap closed: 67 % and 77 %).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from engine.hetero import HeteroReuser
from engine.hetero.search import search_learnwares
from engine.hetero.synthetic import Market, house_model, make_market
from engine.learnware import Learnware
from engine.search import Catalog, Match, Requirement
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec
from engine.vocabulary import DataType, TaskType

Array = NDArray[np.float64]
REFERENCE = {"mean in market": 1.149, "best in market": 1.038, "top-1 by search": 1.075,
             "averaging top-3": 1.064}
ZERO = tuple(REFERENCE)
TOP_K = 3


@dataclass
class Results:
    """method -> budget -> per-user RMSE; plus search diagnostics."""

    values: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    own_first: list[bool] = field(default_factory=list)       # top-1 is of the user's task
    separated: list[bool] = field(default_factory=list)       # every own above every other
    pairs_right: list[float] = field(default_factory=list)    # share of right column pairs
    search_s: list[float] = field(default_factory=list)

    def add(self, method: str, budget: int, value: float) -> None:
        self.values.setdefault(method, {}).setdefault(budget, []).append(value)

    def mean(self, method: str, budget: int) -> float:
        vals = self.values.get(method, {}).get(budget, [])
        return float(np.mean(vals)) if vals else math.nan


def rmse(pred: Array, y: Array) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=float) - y) ** 2)))


def gap_closed(mean: float, best: float, value: float) -> float:
    return (mean - value) / (mean - best) if mean != best else math.nan


@dataclass(frozen=True)
class UserCase:
    """One user: its columns, unlabelled test rows, a label pool, and the truth of which
    concept each column is (to score column maps) and of its task (if known)."""

    name: str
    input: InputSpec
    x_test: Array
    y_test: Array
    x_pool: Array
    y_pool: Array
    concepts: tuple[int, ...]
    task: str | None = None


def evaluate(res: Results, case: UserCase, catalog: Catalog, by_id: dict[str, Learnware],
             concepts_of: dict[str, tuple[int, ...]], task_of: dict[str, str] | None,
             budgets: Sequence[int], user_only: dict[str, Callable[[], Any]],
             seed: int, n_points: int) -> None:
    """Search, then every zero-label figure and the labelled curve, for one user."""
    spec = RKMETableSpec(n_points=n_points, random_state=seed).fit(case.x_test)
    semantic = SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.REGRESSION,
                            input=case.input)
    start = time.perf_counter()
    found = catalog.search(Requirement(semantic, spec), k=len(by_id)).single
    res.search_s.append(time.perf_counter() - start)
    right = total = 0
    for m in found:
        assert m.mapping is not None
        for p in m.mapping.pairs:
            total += 1
            right += case.concepts[p.user] == concepts_of[m.id][p.learnware]
    res.pairs_right.append(right / max(total, 1))
    if task_of is not None:
        tasks = [task_of[m.id] for m in found]
        own = case.task or ""
        res.own_first.append(tasks[0] == own)
        res.separated.append(all(t == own for t in tasks[:tasks.count(own)]))

    def free(matches: Sequence[Match]) -> float:
        reuser = HeteroReuser([by_id[m.id] for m in matches],
                              mappings=[m.mapping for m in matches]).fit(case.x_test)
        return rmse(reuser.predict(case.x_test), case.y_test)

    singles = [free([m]) for m in found]
    for budget in budgets:
        res.add("mean in market", budget, float(np.mean(singles)))
        res.add("best in market", budget, float(np.min(singles)))
        res.add("top-1 by search", budget, singles[0])
    avg = free(found[:TOP_K])
    rng = np.random.default_rng(seed)
    for budget in budgets:
        res.add("averaging top-3", budget, avg)
        if budget == 0:
            res.add("HeteroReuser top-3", 0, avg)
            continue
        pick = rng.choice(len(case.x_pool), budget, replace=False)
        xl, yl = case.x_pool[pick], case.y_pool[pick]
        top = found[:TOP_K]
        stacked = HeteroReuser([by_id[m.id] for m in top], mappings=[m.mapping for m in top])
        res.add("HeteroReuser top-3", budget,
                rmse(stacked.fit(xl, yl).predict(case.x_test), case.y_test))
        for name, make in user_only.items():
            model = make()
            res.add(name, budget, rmse(model.fit(xl, yl).predict(case.x_test), case.y_test))


def report(title: str, res: Results, budgets: Sequence[int], user_only: Sequence[str]) -> None:
    ours = [res.mean(c, 0) for c in ZERO]
    ref = [REFERENCE[c] for c in ZERO]
    print_table(f"{title}: zero labels (RMSE, mean over {len(res.search_s)} users)",
                ["", *ZERO], [
                    ["ours", *(f"{v:.4f}" for v in ours)],
                    ["ours: gap closed", "0 %", "100 %",
                     *(f"{100 * gap_closed(ours[0], ours[1], v):.0f} %" for v in ours[2:])],
                    ["reference (its retail data)", *(f"{v:.3f}" for v in ref)],
                    ["reference: gap closed", "0 %", "100 %",
                     *(f"{100 * gap_closed(ref[0], ref[1], v):.0f} %" for v in ref[2:])]])
    rows = []
    for method in ("HeteroReuser top-3", *user_only):
        cells = [res.mean(method, b) for b in budgets]
        rows.append([method, *("·" if math.isnan(c) else f"{c:.4f}" for c in cells)])
    print_table(f"{title}: labelled-data curve (RMSE)", ["labels", *map(str, budgets)], rows)
    lines = [f"column pairs right: {100 * np.mean(res.pairs_right):.1f} %",
             f"search: {1000 * np.median(res.search_s):.0f} ms median, "
             f"{1000 * max(res.search_s):.0f} ms max (first includes loading the encoder)"]
    if res.own_first:
        lines.append(f"own task first: {sum(res.own_first)} of {len(res.own_first)} users; "
                     f"every own-task learnware above every other: {sum(res.separated)} of "
                     f"{len(res.separated)}")
    for b in (b for b in budgets if b > 0):
        reuse = res.mean("HeteroReuser top-3", b)
        best = min(user_only, key=lambda m: res.mean(m, b))
        verdict = "reuse wins" if reuse < res.mean(best, b) else "USER-ONLY WINS"
        lines.append(f"{b} labels: reuse {reuse:.4f} vs {best} {res.mean(best, b):.4f} -> "
                     f"{verdict}")
    print()
    for line in lines:
        print(f"- {line}")


# -- synthetic ------------------------------------------------------------------------------
SYN_BUDGETS = (0, 10, 25, 50, 100, 200, 500)
SYN_USER_ONLY = {"Ridge (user only)": lambda: make_pipeline(StandardScaler(), RidgeCV()),
                 "degree-2 ridge (user only)": house_model,
                 "RF (user only)": lambda: RandomForestRegressor(200, random_state=0)}


def run_synthetic(seed: int, n_users: int) -> None:
    market: Market = make_market(n_per_task=5, n_columns=(7, 8, 6), n_train=3000, n_points=50,
                                 seed=seed)
    catalog = Catalog()
    for lw in market.learnwares:
        catalog.add(lw.id, lw.semantic, lw.spec)
    by_id = {lw.id: lw for lw in market.learnwares}
    concepts = {name: org.columns for name, org in market.orgs.items()}
    res, ranking = Results(), {"user": 0, "learnware": 0}
    for i in range(n_users):
        task = ("city-a", "city-b")[i % 2]
        u = market.user(task, 6, seed=1000 + i, n_pool=600, n_test=1000)
        case = UserCase(u.org.name, u.org.input_spec(), u.x_test, u.y_test, u.x_pool,
                        u.y_pool, u.org.columns, task)
        evaluate(res, case, catalog, by_id, concepts, market.task_of, SYN_BUDGETS,
                 SYN_USER_ONLY, seed=i, n_points=50)
        spec = RKMETableSpec(n_points=50, random_state=i).fit(u.x_test)
        for space in ranking:
            found = search_learnwares(Requirement(u.semantic(), spec),
                                      [(lw.id, lw.semantic, lw.spec) for lw in market.learnwares],
                                      k=len(by_id), space=space)
            tasks = [market.task_of[h.id] for h in found]
            ranking[space] += all(t == task for t in tasks[:tasks.count(task)])
    report("Synthetic two-city market (10 learnwares, 6 of 10 columns per user)", res,
           SYN_BUDGETS, list(SYN_USER_ONLY))
    print(f"- users whose own-task learnwares all rank above the other task's, by where "
          f"candidates are compared: user's space {ranking['user']} of {n_users}, each "
          f"learnware's own space {ranking['learnware']} of {n_users}")


# -- birthdays ------------------------------------------------------------------------------
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Three organisations' wordings of every `lwnode.demo.birthdays.FEATURE_NAMES` column.
WORDINGS: tuple[tuple[tuple[str, str, str], ...], ...] = (
    (("log_lag7", "log ratio of births on the same weekday one week earlier to the "
      "trailing-year mean", "x5"),
     ("births_w1", "births 7 days before, relative to the 52-week average (log scale)",
      "5 log units"),
     ("sameDayLastWeek", "relative births on the same day last week", "scaled log ratio")),
    (("log_lag14", "log ratio of births on the same weekday two weeks earlier to the "
      "trailing-year mean", "x5"),
     ("births_w2", "births 14 days before, relative to the 52-week average (log scale)",
      "5 log units"),
     ("sameDay2WeeksAgo", "relative births on the same day two weeks ago", "scaled log ratio")),
    (("log_lag21", "log ratio of births on the same weekday three weeks earlier to the "
      "trailing-year mean", "x5"),
     ("births_w3", "births 21 days before, relative to the 52-week average (log scale)",
      "5 log units"),
     ("sameDay3WeeksAgo", "relative births on the same day three weeks ago",
      "scaled log ratio")),
    (("log_lag28", "log ratio of births on the same weekday four weeks earlier to the "
      "trailing-year mean", "x5"),
     ("births_w4", "births 28 days before, relative to the 52-week average (log scale)",
      "5 log units"),
     ("sameDay4WeeksAgo", "relative births on the same day four weeks ago",
      "scaled log ratio")),
    (("log_last_week", "log ratio of the mean daily births in the last known week to the "
      "trailing-year mean", "x5"),
     ("births_recent_week", "average births per day over the latest 7 days, relative to the "
      "52-week average (log scale)", "5 log units"),
     ("lastWeekLevel", "relative daily births over the most recent week", "scaled log ratio")),
    (("log_last_year", "log ratio of mean births in the two weeks around the same date one "
      "year earlier to the trailing-year mean", "x5"),
     ("births_year_ago", "births around this date last year, relative to the 52-week "
      "average (log scale)", "5 log units"),
     ("sameSeasonLastYear", "relative births in the same season a year ago",
      "scaled log ratio")),
    *(((d[:3].lower(), f"1 if the day is a {d}, else 0", ""),
       (f"is_{d.lower()}", f"indicator that the date falls on a {d}", "0/1"),
       (f"weekday{d}", f"{d} flag", "boolean")) for d in DAYS),
    (("doy_sin", "sine of the day of the year (annual cycle)", ""),
     ("season_sin", "seasonal position: sin(2 pi day-of-year / 365.25)", ""),
     ("yearCycleSine", "annual seasonality, sine component", "")),
    (("doy_cos", "cosine of the day of the year (annual cycle)", ""),
     ("season_cos", "seasonal position: cos(2 pi day-of-year / 365.25)", ""),
     ("yearCycleCosine", "annual seasonality, cosine component", "")),
    (("fixed_holiday", "1 on New Year's Day, Independence Day and Christmas Day", ""),
     ("public_holiday_fixed", "fixed-date federal holiday (1 Jan, 4 Jul, 25 Dec)", "0/1"),
     ("isFixedHoliday", "national holiday on a fixed calendar date", "boolean")),
    (("year_end", "1 on the days around Christmas and New Year (24 and 26 Dec, 31 Dec, "
      "2 Jan)", ""),
     ("holiday_season_day", "day next to Christmas or New Year", "0/1"),
     ("isYearEndBridge", "bridge day of the year-end holidays", "boolean")),
    (("moving_holiday", "1 on Memorial Day, Labor Day, Thanksgiving and the day after", ""),
     ("public_holiday_moving", "federal holiday whose date moves (Memorial Day, Labor Day, "
      "Thanksgiving)", "0/1"),
     ("isFloatingHoliday", "holiday on a variable date, e.g. Thanksgiving", "boolean")),
)
_DOW = tuple(range(6, 13))
# Which FEATURE_NAMES columns each recipe computes: developers use 0-2, users 3.
RECIPES = (
    (0, 1, 2, 3, *_DOW, 13, 14, 15, 16),       # four lags, weekday, season, two holiday sets
    (0, 1, 4, 5, *_DOW, 15, 17),               # two lags, last week and year, holidays
    (0, 3, 4, *_DOW, 13, 14, 16, 17),          # lags 7 and 28, last week, season, holidays
    (0, 2, 5, *_DOW, 13, 14, 15, 17),          # the users': lags 7 and 21, last year, ...
)
BD_BUDGETS = (0, 10, 50, 100, 500, 1000)
BD_USER_ONLY = {"Ridge (user only)": lambda: make_pipeline(StandardScaler(), RidgeCV()),
                "RF (user only)": lambda: RandomForestRegressor(200, random_state=0,
                                                                min_samples_leaf=3),
                "HGB (user only)": lambda: HistGradientBoostingRegressor(random_state=0)}


def recipe_columns(recipe: int, rng: np.random.Generator, mixed: bool
                   ) -> tuple[tuple[int, ...], InputSpec]:
    """A recipe's columns in an organisation's own order, and their description."""
    cols = tuple(int(c) for c in rng.permutation(RECIPES[recipe]))
    styles = rng.integers(0, 3, len(cols)) if mixed else np.full(len(cols), recipe)
    words = [WORDINGS[c][int(s)] for c, s in zip(cols, styles, strict=True)]
    return cols, InputSpec.from_columns([w[0] for w in words], [w[1] for w in words],
                                        units=[w[2] for w in words])


def run_birthdays(seed: int, n_users: int | None) -> None:
    from lwnode.demo import birthdays as bd

    days, series = bd.load_series()
    rows = bd.state_rows(days, series)
    developers, users = bd.split_states(rows)
    rng = np.random.default_rng(seed)
    catalog, by_id, concepts = Catalog(), {}, {}
    start = time.perf_counter()
    for i, state in enumerate(developers):
        r = rows[state]
        cols, input_spec = recipe_columns(i % 3, rng, mixed=False)
        x = r.x_train[:, list(cols)]
        model = HistGradientBoostingRegressor(random_state=0).fit(x, r.y_train)
        spec = RKMETableSpec(n_points=100, random_state=i).fit(x)
        semantic = SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.REGRESSION,
                                scenarios=("forecasting",), input=input_spec,
                                name=f"daily births one week ahead, {state}",
                                output=OutputSpec(1, ("births / trailing 364-day mean",)))
        lw = Learnware(f"births-{state}", semantic, spec, model)
        catalog.add(lw.id, lw.semantic, lw.spec)
        by_id[lw.id], concepts[lw.id] = lw, cols
    print(f"\n{len(developers)} developer states published in {time.perf_counter() - start:.0f} s "
          f"(recipes of {', '.join(str(len(r)) for r in RECIPES[:3])} columns; users: "
          f"{len(RECIPES[3])})")
    res = Results()
    for i, state in enumerate(users[:n_users]):
        r = rows[state]
        cols, input_spec = recipe_columns(3, rng, mixed=True)
        case = UserCase(state, input_spec, r.x_test[:, list(cols)], r.y_test,
                        r.x_train[:, list(cols)], r.y_train, cols)
        evaluate(res, case, catalog, by_id, concepts, None, BD_BUDGETS, BD_USER_ONLY,
                 seed=seed + i, n_points=100)
    report(f"Birthdays, a feature recipe per organisation ({len(developers)} learnwares)", res,
           BD_BUDGETS, list(BD_USER_ONLY))
    control = same_recipe_control(rows, developers, users[:n_users])
    print(f"- control, every organisation on the users' recipe (homogeneous search, "
          f"{len(users[:n_users])} users): mean in market {control[0]:.4f}, best "
          f"{control[1]:.4f}, top-1 {control[2]:.4f}, averaging top-3 {control[3]:.4f}")


def same_recipe_control(rows: dict, developers: Sequence[str], users: Sequence[str]
                        ) -> tuple[float, ...]:
    """The zero-label figures if every developer had used the users' recipe: what
    heterogeneity costs, next to what the recipes themselves are worth."""
    from engine.reuse import Averaging

    cols = list(RECIPES[3])
    catalog, by_id = Catalog(), {}
    for i, state in enumerate(developers):
        x = rows[state].x_train[:, cols]
        model = HistGradientBoostingRegressor(random_state=0).fit(x, rows[state].y_train)
        spec = RKMETableSpec(n_points=100, random_state=i).fit(x)
        lw = Learnware(state, SemanticSpec(data_type=DataType.TABLE,
                                           task_type=TaskType.REGRESSION), spec, model)
        catalog.add(state, lw.semantic, spec)
        by_id[state] = lw
    out = []
    for i, state in enumerate(users):
        x, y = rows[state].x_test[:, cols], rows[state].y_test
        singles = {s: rmse(lw.model.predict(x), y) for s, lw in by_id.items()}
        spec = RKMETableSpec(n_points=100, random_state=i).fit(x)
        top = [m.id for m in catalog.search(Requirement(None, spec), k=TOP_K).single]
        avg = Averaging([by_id[t] for t in top]).fit().predict(x)
        out.append((np.mean(list(singles.values())), min(singles.values()), singles[top[0]],
                    rmse(avg, y)))
    return tuple(float(v) for v in np.mean(np.array(out, dtype=np.float64), axis=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("synthetic", "birthdays", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=None,
                        help="users per market (default: 12 synthetic, all 17 states)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with threadpool_limits(args.threads):
        if args.part in ("synthetic", "all"):
            run_synthetic(args.seed, args.users or 12)
        if args.part in ("birthdays", "all"):
            run_birthdays(args.seed, args.users)


if __name__ == "__main__":
    main()
