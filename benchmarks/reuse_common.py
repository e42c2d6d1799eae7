"""Plumbing shared by the reuse benchmarks (`reuse_synthetic`, `reuse_mnist`).

One user is evaluated the way the system is used: the user's unlabelled rows give
an RKME, the catalog search returns ranked learnwares and (maybe) a mixture with
weights, and every reuser runs on what the search returned — the data-free ones on
the mixture (or the top match), the labelled ones on the mixture plus the top-k
matches, so that the labels have something to choose from. Beside them, as the
reference reports: "mean in market" and "best in market" (each learnware of the
whole market alone on the user's test rows), and models trained on the user's
labels alone.

Scores are accuracy (classification, higher is better) or RMSE (regression, lower
is better) on the user's test rows, averaged over users.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from engine.learnware import Learnware
from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector
from engine.search import Catalog, Requirement, SearchResult
from engine.specification import RKMESpec, RKMETableSpec

BUDGETS = (0, 10, 50, 100, 500)
TOP_K = 5

SpecFit = Callable[[np.ndarray, int, int], RKMESpec]
"""How a benchmark fits a statistical spec: ``fit_spec(rows, n_points, seed)``. The
privacy sweep (`benchmarks.privacy_sweep`) swaps it for the non-private fit or the
differentially private mode; everything else uses `private_default`."""


def private_default(x: np.ndarray, n_points: int, seed: int) -> RKMESpec:
    """The spec every learnware and requirement gets by default (group means)."""
    return RKMETableSpec(n_points=n_points, random_state=seed).fit(x)


@dataclass
class User:
    """One user's task: a pool to draw labels from and test rows to predict."""

    name: str
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    oracle: np.ndarray | None = None  # predictions with oracle routing, if known
    region: np.ndarray | None = None  # true region (task) of each test row, if known


@dataclass
class Scores:
    """method -> budget -> list of per-user scores (NaN where a method cannot run)."""

    task: str
    values: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, method: str, budget: int, value: float) -> None:
        self.values.setdefault(method, {}).setdefault(budget, []).append(value)

    def time(self, method: str, seconds: float) -> None:
        self.seconds.setdefault(method, []).append(seconds)


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if task == "classification":
        return float(np.mean(np.asarray(y_pred) == np.asarray(y_true)))
    return float(np.sqrt(np.mean((np.asarray(y_pred, dtype=float) - y_true) ** 2)))


def build_catalog(learnwares: Sequence[Learnware]) -> Catalog:
    catalog = Catalog()
    catalog.add_many((lw.id, lw.semantic, lw.spec) for lw in learnwares)
    return catalog


Picked = tuple[list[Learnware], np.ndarray, list[Learnware], Learnware]
"""What a search gives the reusers: (mixture learnwares, their weights, candidates for
labelled reuse, top match)."""


@dataclass(frozen=True)
class Ranking:
    """One user's search ranking beside the truth: the learnwares search ranked (its
    single matches, best first, at most `TOP_K`) and every market learnware's score
    on the user's test rows. Answers the issue's question "does search rank the
    learnware that is really best for the user first / among the first k?"."""

    ranked: tuple[str, ...]
    scores: dict[str, float]
    higher_is_better: bool

    def hit(self, k: int) -> bool:
        """Is a learnware with the user's best score among the first `k` ranked?"""
        best = (max if self.higher_is_better else min)(self.scores.values())
        return any(self.scores[i] == best for i in self.ranked[:k])


def search(catalog: Catalog, by_id: dict[str, Learnware], x: np.ndarray, n_points: int,
           seed: int, fit_spec: SpecFit = private_default) -> Picked:
    """(mixture learnwares, their weights, candidates for labelled reuse, top match)."""
    return picked(ranked_search(catalog, x, n_points, seed, fit_spec), by_id)


def ranked_search(catalog: Catalog, x: np.ndarray, n_points: int, seed: int,
                  fit_spec: SpecFit = private_default, *, k: int = TOP_K) -> SearchResult:
    """The catalog's answer to the requirement `fit_spec` fits on `x` (top `k`, `TOP_K`
    unless given, mixtures of up to 3)."""
    spec = fit_spec(x, n_points, seed)
    return catalog.search(Requirement(spec=spec), k=k, max_mixture=3)


def picked(result: SearchResult, by_id: dict[str, Learnware]) -> Picked:
    """The learnwares of a search result the reusers take (`Picked`)."""
    if result.mixture is not None:
        mix = [by_id[i] for i in result.mixture.ids]
        weights = np.asarray(result.mixture.weights)
    else:
        mix, weights = [by_id[result.single[0].id]], np.ones(1)
    candidates = list(mix)
    for match in result.single:
        if by_id[match.id] not in candidates:
            candidates.append(by_id[match.id])
    return mix, weights, candidates, by_id[result.single[0].id]


def labels_only(task: str) -> dict[str, Callable[[], Any]]:
    if task == "classification":
        return {"LR on labels only": lambda: LogisticRegression(max_iter=2000),
                "RF on labels only": lambda: RandomForestClassifier(random_state=0)}
    return {"Ridge on labels only": lambda: Ridge(alpha=1.0),
            "RF on labels only": lambda: RandomForestRegressor(random_state=0)}


def _timed(scores: Scores, method: str, fn: Callable[[], np.ndarray]) -> np.ndarray | None:
    start = time.perf_counter()
    try:
        out = fn()
    except ValueError:  # e.g. a labelled draw with one class: the method cannot run
        return None
    scores.time(method, time.perf_counter() - start)
    return out


def label_draws(user: User, budgets: Sequence[int], seed: int
                ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(budget, labelled rows, their labels) for every budget > 0: one generator seeded
    with `seed`, one draw per budget, in order — the draws `evaluate_user` scores, so
    a method added beside it sees the same labels."""
    rng = np.random.default_rng(seed)
    for budget in budgets:
        if budget == 0:
            continue
        pick = rng.choice(len(user.x_pool), budget, replace=False)
        yield budget, user.x_pool[pick], user.y_pool[pick]


def evaluate_user(scores: Scores, market: Sequence[Learnware], catalog: Catalog, user: User,
                  *, budgets: Sequence[int] = BUDGETS, n_points: int = 100,
                  seed: int = 0, fit_spec: SpecFit = private_default) -> Ranking:
    """Run every method on one user and add its scores (the user's requirement by
    `fit_spec`); returns the search's ranking beside each learnware's score."""
    task = scores.task
    by_id = {lw.id: lw for lw in market}
    result = ranked_search(catalog, user.x_test, n_points, seed, fit_spec)
    mix, weights, candidates, top = picked(result, by_id)
    singles = [score(task, user.y_test, lw.model.predict(user.x_test)) for lw in market]
    better = max if task == "classification" else min
    fixed: dict[str, float] = {"mean in market": float(np.mean(singles)),
                               "best in market": better(singles),
                               "top-1 by search": score(task, user.y_test,
                                                        top.model.predict(user.x_test))}
    if user.oracle is not None:
        fixed["oracle routing"] = score(task, user.y_test, user.oracle)
    for method, factory in (("JobSelector", lambda: JobSelector(mix, weights=weights)),
                            ("Averaging", lambda: Averaging(mix, weights=weights))):
        pred = _timed(scores, method, lambda f=factory: f().fit().predict(user.x_test))
        fixed[method] = math.nan if pred is None else score(task, user.y_test, pred)
    for method, value in fixed.items():
        for budget in budgets:
            scores.add(method, budget, value)
    for budget, xl, yl in label_draws(user, budgets, seed):
        runs: dict[str, Callable[[], Any]] = {
            "EnsemblePruning": lambda: EnsemblePruning(candidates),
            "FeatureAugment": lambda: FeatureAugment(candidates),
            **labels_only(task)}
        for method, factory in runs.items():
            pred = _timed(scores, method,
                          lambda f=factory, xl=xl, yl=yl: f().fit(xl, yl).predict(user.x_test))
            scores.add(method, budget, math.nan if pred is None else
                       score(task, user.y_test, pred))
    return Ranking(tuple(m.id for m in result.single),
                   {lw.id: v for lw, v in zip(market, singles, strict=True)},
                   task == "classification")


def print_table(title: str, scores: Scores, budgets: Sequence[int] = BUDGETS) -> None:
    """Methods as rows, label budgets as columns; mean over users (n/a: never ran)."""
    unit = "accuracy, higher is better" if scores.task == "classification" else \
        "RMSE, lower is better"
    print(f"\n{title} ({unit}; mean over users)")
    width = max(len(m) for m in scores.values) + 2
    print("method".ljust(width) + "".join(f"{b:>9}" for b in budgets) + "   seconds/fit")
    for method, per_budget in scores.values.items():
        cells = []
        for b in budgets:
            vals = [v for v in per_budget.get(b, []) if not math.isnan(v)]
            cells.append(f"{np.mean(vals):9.3f}" if vals else f"{'·':>9}")
        secs = scores.seconds.get(method)
        tail = f"   {np.median(secs):.3f}" if secs else ""
        print(method.ljust(width) + "".join(cells) + tail)
