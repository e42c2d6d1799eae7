"""`EnsemblePruning`: keep the subset of learnwares that scores best on the user's labels.

With a few labelled rows the user can tell which of the searched learnwares
actually help: averaging all of them lets the wrong ones vote, and picking one by
its specification alone ignores how well its model works. Pruning searches the
subsets, scoring each subset's average (as `Averaging` computes it) on the
labelled rows; every learnware's output is computed once, so a subset costs one
mean over cached arrays.

Score of a subset, compared as a tuple, higher is better:
classification ``(accuracy, mean probability of the true class, -size)``,
regression ``(-mean squared error, 0, -size)``. The second term breaks the many
ties accuracy has on few labels; the last prefers the smaller of equal subsets.

Search: greedy forward selection (add the learnware that raises the score most,
ties to the lowest index; stop when nothing raises it), or a small evolutionary
search over subsets seeded with the greedy answer (so never worse than greedy on
the labelled rows), deterministic under `random_state`.

Routing (``routing="auto"``, the default, when the learnwares carry fitted RKME
specs of one space, see `job_selector.can_route`): a subset can also be combined
by *routing* each row to the subset's learnware whose RKME region it lies in (the
data-free `JobSelector`, uniform priors, its bandwidth from all the learnwares),
instead of averaging. When the user's rows are a mixture of the learnwares' tasks
no average of them is right (MNIST class subsets: pruning stuck at error 0.27,
routing alone 0.13). Subsets are searched for both combinations, and routing over
all the learnwares is always scored, so the kept answer scores at least as well on
the labelled rows as the `JobSelector` would; on equal scores averaging is kept.
`combine_` records which won. The reference's
evolutionary pruning needs an optimiser that does not install on Python 3.11;
this needs nothing beyond numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils.metaestimators import available_if

from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.params import Constraints, Interval, Options
from engine.reuse.averaging import weighted_mean
from engine.reuse.base import (
    REGRESSION,
    ROUTING,
    VOTING,
    Array,
    Reuser,
    _is_classifier,
    check_class_targets,
    check_regression_targets,
)
from engine.reuse.job_selector import JobSelector, can_route
from engine.reuse.labels import class_index, label_positions

Key = tuple[float, float, int]
Scorer = Callable[[tuple[int, ...]], Key]


def greedy_subset(score: Scorer, n: int, max_size: int) -> tuple[int, ...]:
    """Forward selection: add the best learnware while the score rises."""
    chosen: tuple[int, ...] = ()
    best: Key | None = None
    while len(chosen) < max_size:
        grown = [tuple(sorted((*chosen, j))) for j in range(n) if j not in chosen]
        # max() keeps the first of equal keys: ties go to the lowest added index.
        candidate = max(grown, key=score)
        if best is not None and score(candidate) <= best:
            break
        chosen, best = candidate, score(candidate)
    return chosen


def evolve_subset(score: Scorer, n: int, max_size: int, seed: tuple[int, ...],
                  rng: np.random.Generator, population: int, generations: int
                  ) -> tuple[int, ...]:
    """(mu + lambda) evolution of subsets: tournament parents, uniform crossover,
    bit-flip mutation, repair to 1..max_size members; the seed is kept in the
    population, so the result scores at least as well."""

    def repair(mask: NDArray[np.bool_]) -> tuple[int, ...]:
        on = np.flatnonzero(mask)
        if on.size == 0:
            on = rng.choice(n, 1)
        if on.size > max_size:
            on = rng.choice(on, max_size, replace=False)
        return tuple(sorted(int(i) for i in on))

    def as_mask(subset: tuple[int, ...]) -> NDArray[np.bool_]:
        mask = np.zeros(n, dtype=bool)
        mask[list(subset)] = True
        return mask

    def rank(subsets: set[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return sorted(subsets, key=lambda s: (score(s), tuple(-i for i in s)),
                      reverse=True)[:population]

    pop = rank({seed} | {repair(rng.random(n) < 0.5) for _ in range(population - 1)})
    for _ in range(generations):
        children = set()
        for _ in range(population):
            # Binary tournaments: pop is ranked best first, so the lower index wins.
            a, b = (int(rng.choice(len(pop), 2).min()) for _ in range(2))
            mask = np.where(rng.random(n) < 0.5, as_mask(pop[a]), as_mask(pop[b]))
            mask ^= rng.random(n) < 1.0 / n
            children.add(repair(mask))
        pop = rank(set(pop) | children)
    return pop[0]


def _cached(score: Scorer) -> Scorer:
    cache: dict[tuple[int, ...], Key] = {}

    def cached(subset: tuple[int, ...]) -> Key:
        if subset not in cache:
            cache[subset] = score(subset)
        return cache[subset]

    return cached


def _routed(outputs: Array, logits: Array, subset: tuple[int, ...]) -> Array:
    """Each row's output from the subset's learnware it is routed to, shape (n, k);
    outputs (J, n, k) and logits (n, J) are indexed by learnware."""
    members = np.asarray(subset)
    route = members[np.argmax(logits[:, members], axis=1)]
    return np.asarray(outputs[route, np.arange(outputs.shape[1])])


class EnsemblePruning(Reuser):
    """Average the subset of learnwares that scores best on the user's labelled rows.

    Parameters
    ----------
    learnwares : sequence of Learnware
    voting : {"soft", "hard"}, default "soft"
        How the kept learnwares are combined (see `Averaging`).
    method : {"greedy", "evolution"}, default "greedy"
    max_size : int or None
        At most this many learnwares are kept (None: no limit).
    population, generations : int
        Size of the evolutionary search (``method="evolution"`` only).
    random_state : int or None
        Seed of the evolutionary search.
    routing : bool or "auto", default "auto"
        Also try routing within subsets (see the module doc): "auto" when `can_route`
        holds, True requires it, False averages only.

    Attributes
    ----------
    selected_ : tuple of int
        Indices into `learnwares_` of the kept learnwares, ascending.
    score_ : tuple
        The kept subset's score on the labelled rows (see the module doc).
    combine_ : "average" or "route"
        How the kept learnwares are combined.
    classes_, task_, learnwares_, n_features_in_ : see `Reuser`.
    """

    selected_: tuple[int, ...]
    score_: Key
    combine_: str

    _parameter_constraints: ClassVar[Constraints] = {
        "voting": [VOTING],
        "method": [Options(("greedy", "evolution"))],
        "max_size": [Interval(int, 1, None), None],
        "population": [Interval(int, 1, None)],
        "generations": [Interval(int, 1, None)],
        "routing": [ROUTING],
    }

    def __init__(self, learnwares: Sequence[Learnware] = (), *, voting: str = "soft",
                 method: str = "greedy", max_size: int | None = None, population: int = 16,
                 generations: int = 30, random_state: int | None = None,
                 routing: bool | str = "auto") -> None:
        self.learnwares = learnwares
        self.voting = voting
        self.method = method
        self.max_size = max_size
        self.population = population
        self.generations = generations
        self.random_state = random_state
        self.routing = routing

    def fit(self, X: ArrayLike, y: ArrayLike) -> EnsemblePruning:
        """Score subsets of the learnwares on the labelled rows (X, y); returns self."""
        self._validate_params()
        self._voting = str(self.voting)
        self._setup(self.learnwares)
        n = len(self.learnwares_)
        max_size = n if self.max_size is None else min(self.max_size, n)
        inputs = self._check_x(X)
        x = inputs.rows
        outputs = np.stack([self._output(lw, x, self._voting) for lw in self.learnwares_])
        key = self._key(outputs, x, y)
        n = len(self.learnwares_)

        def search(score: Scorer) -> tuple[int, ...]:
            subset = greedy_subset(score, n, max_size)
            if self.method == "evolution":
                subset = evolve_subset(score, n, max_size, subset,
                                       np.random.default_rng(self.random_state),
                                       self.population, self.generations)
            return subset

        average = _cached(lambda s: key(outputs[list(s)].mean(axis=0), len(s)))
        route = self.routing is True or (self.routing == "auto" and can_route(self.learnwares_))
        if route:
            self.selector_ = JobSelector(self.learnwares_).fit()
            logits = self.selector_.route_log_scores(inputs)
            routed = _cached(lambda s: key(_routed(outputs, logits, s), len(s)))
        degenerate = self._degenerate(y, len(x))
        if degenerate:  # nothing to choose by: every learnware, as the data-free reusers
            self.selected_ = tuple(range(n))
            self.combine_ = "route" if route else "average"
            self.score_ = (routed if route else average)(self.selected_)
            self._note(f"{degenerate}: kept every learnware, "
                       f"{'routed' if route else 'averaged'} as without labels")
            return self
        self.selected_, self.combine_ = search(average), "average"
        self.score_ = average(self.selected_)
        if route:
            everyone = [tuple(range(n))] if n <= max_size else []
            for subset in (search(routed), *everyone):
                if routed(subset) > self.score_:
                    self.selected_, self.combine_ = subset, "route"
                    self.score_ = routed(subset)
        return self

    def _degenerate(self, y: ArrayLike, n_rows: int) -> str | None:
        """Why the labels cannot tell learnwares apart (one class, or a single regression
        target), or None. (`_key` has validated them already.)"""
        if self.task_ == REGRESSION:
            return f"y: {n_rows} labelled row; too few to compare learnwares" if n_rows < 2 \
                else None
        labels = set(check_class_targets(y, n_rows, self.classes_))
        if len(labels) < 2:
            return (f"y: the labels hold one class ({next(iter(labels))!r}); any learnware "
                    "that always answers it would score best")
        return None

    def _key(self, outputs: Array, x: Array, y: ArrayLike) -> Callable[[Array, int], Key]:
        """The score (see the module doc) of combined outputs of a subset of a size."""
        if self.task_ == REGRESSION:
            target = check_regression_targets(y, len(x))
            if target.shape[1] != outputs.shape[2]:
                raise ReuseError(f"y: {target.shape[1]} output(s) per row, the learnwares "
                                 f"predict {outputs.shape[2]}")
        else:
            labels = check_class_targets(y, len(x), self.classes_)
            column = label_positions(labels, class_index(self.classes_), "y", unknown=-1)
            rows = np.arange(len(x))
            known = column >= 0

        def key(mean: Array, size: int) -> Key:
            if self.task_ == REGRESSION:
                return -float(((mean - target) ** 2).mean()), 0.0, -size
            hit = np.argmax(mean, axis=1) == column
            true_p = np.where(known, mean[rows, np.maximum(column, 0)], 0.0)
            return float(hit.mean()), float(true_p.mean()), -size

        return key

    def _scores(self, X: ArrayLike) -> Array:
        inputs = self._check_x(X)
        if not hasattr(self, "selected_"):
            raise ReuseError("EnsemblePruning is not fitted: call fit(X, y) first")
        x = inputs.rows
        outputs = [self._output(self.learnwares_[i], x, self._voting) for i in self.selected_]
        if self.combine_ == "route":
            logits = self.selector_.route_log_scores(inputs)[:, list(self.selected_)]
            return _routed(np.stack(outputs), logits, tuple(range(len(outputs))))
        return weighted_mean(outputs, np.ones(len(outputs)))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predictions of the kept learnwares' average."""
        return self._decide(self._scores(X))

    @available_if(_is_classifier)
    def predict_proba(self, X: ArrayLike) -> Array:
        """The kept learnwares' averaged probabilities (soft) or vote shares (hard)."""
        return self._scores(X)
