"""Choose a reuser by its out-of-fold score on the user's few labels.

Why: a method that learns from labels is not always better than a data-free one.
On the README tour's data, 20 labels of the first rows (all from one of the two
regions the user's rows mix) made the old default, ensemble pruning, keep that
region's learnware alone: accuracy fell from 0.97 (job selector, no labels) to
0.75. So the default with labels is a choice, made on the labels and nothing else:

- every candidate is scored on the *same* folds of the labelled rows (`label_folds`:
  stratified by class for classification, shuffled for regression, a fixed seed).
  A data-free candidate (``uses_labels`` False) never sees the labels, so its
  predictions of the labelled rows are out of fold as they are; a labelled one is
  fitted on the other folds and predicts the held-out one;
- the *baseline* (the first candidate: the data-free default) is kept unless
  another candidate beats it on the out-of-fold rows by a paired margin: the mean
  per-row gain (0/1 error, or squared error) must exceed `Z_GAIN` standard errors
  of that gain (a one-sided 5 % test, the rule `FeatureAugment` uses to keep its
  base). Ties, and wins of a row or two on ten labels, keep the baseline. Among the
  candidates that pass, the largest mean gain wins (ties: the earlier candidate);
- choosing by a cross-validated score and then reporting that score is optimistic
  (the winner is the one whose folds went well). The figure to show is
  `Selection.estimate`: nested cross-validation of the whole choice — on each outer
  fold the choice is made again on the other folds' labels alone, the chosen
  method fitted there and scored on the held-out fold;
- labels that cannot tell methods apart (one class; fewer than `MIN_LABELS` rows)
  keep the baseline, with a note; never an error.

A labelled estimate can only speak for the rows the labels are drawn like: labels
of the first rows of a file sorted by source say little about the other rows.

`select_reuser` returns the chosen reuser fitted on all the labelled rows;
`rank_by_labels` orders a search's shortlist by the same scores and rule (label-aware
search: the given MMD² order stands unless the labels separate two entries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import ReuseError
from engine.reuse import labels as lab
from engine.reuse.base import CLASSIFICATION, Reuser, check_class_targets
from engine.reuse.offset_logistic import Z_GAIN

Array = NDArray[np.float64]
Folds = list[tuple[NDArray[np.intp], NDArray[np.intp]]]

MAX_FOLDS = 5
#: Fewer labelled rows than this cannot tell methods apart (3 folds of 2 rows).
MIN_LABELS = 6
SEED = 0


@dataclass(frozen=True)
class Candidate:
    """One method to choose from: its name, a factory of an unfitted reuser, and
    whether it learns from labels (data-free reusers are fitted without them)."""

    name: str
    make: Callable[[], Reuser]
    uses_labels: bool


@dataclass(frozen=True)
class FoldScore:
    """A candidate's out-of-fold score: `value` over all labelled rows (accuracy, or
    RMSE), `spread` the standard deviation of the per-fold values."""

    name: str
    value: float
    spread: float


@dataclass(frozen=True)
class Selection:
    """What `select_reuser` chose and why.

    chosen : the chosen candidate's name
    model : the chosen reuser, fitted (on the labelled rows, if it learns from labels)
    metric : ``"accuracy"`` (higher is better) or ``"rmse"`` (lower is better)
    scores : every candidate's out-of-fold score on the shared folds (the choice's
        evidence; optimistic for the winner)
    estimate : the figure to show: nested cross-validation of the choice, or, when
        the baseline was kept without a choice (degenerate labels), its score on the
        labelled rows, which it never saw; None without labels
    n_labels, n_folds : labelled rows, and folds (0: no choice was made)
    notes : sentences for the user (a degenerate draw; the fitted reuser's notes)
    """

    chosen: str
    model: Reuser
    metric: str
    scores: tuple[FoldScore, ...]
    estimate: FoldScore | None
    n_labels: int
    n_folds: int
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One paragraph for the user: the scores, the rule, the estimate (empty when
        no choice was made: `notes` say why)."""
        if not self.n_folds:
            return ""
        scores = ", ".join(f"{s.name} {s.value:.3f} ± {s.spread:.3f}" for s in self.scores)
        base = self.scores[0].name
        rule = (f"kept {base}: no other method beat it by {Z_GAIN} "
                "standard errors of the per-row gain" if self.chosen == base else
                f"chose {self.chosen}: it beat {base} by more than {Z_GAIN} standard errors "
                "of the per-row gain")
        how = "stratified folds" if self.metric == "accuracy" else "folds"
        text = (f"{self.metric} out of fold on your {self.n_labels} labels ({self.n_folds} "
                f"{how}, ± the spread over folds): {scores}; {rule}")
        if self.estimate is not None:
            text += (f". Estimate of this choice on rows it did not fit (nested "
                     f"cross-validation): {self.estimate.value:.3f} ± "
                     f"{self.estimate.spread:.3f}")
        return text


def label_folds(y: ArrayLike, classification: bool, *, max_folds: int = MAX_FOLDS,
                random_state: int = SEED) -> Folds:
    """Shared, deterministic k-fold splits of the labelled rows (k = min(max_folds, m)).

    Classification: stratified — each class's rows, shuffled, are dealt round the
    folds in turn (continuing from where the previous class stopped), so every fold
    holds each class about equally and the folds' sizes differ by at most one.
    Regression: a shuffled split.
    """
    target = np.asarray(y)
    m = len(target)
    if m < 2:
        raise ReuseError(f"y: {m} labelled row(s); cross-validation needs at least 2")
    k = min(max_folds, m)
    rng = np.random.default_rng(random_state)
    fold_of = np.empty(m, dtype=np.intp)
    if classification:
        keys = np.asarray([str(v) for v in lab.canonical_labels(target, "y")])
        start = 0
        for cls in np.unique(keys):
            rows = rng.permutation(np.flatnonzero(keys == cls))
            fold_of[rows] = (start + np.arange(len(rows))) % k
            start += len(rows)
    else:
        fold_of[rng.permutation(m)] = np.arange(m) % k
    every = np.arange(m)
    return [(every[fold_of != f], every[fold_of == f]) for f in range(k)]


def select_reuser(candidates: Sequence[Candidate], x: Any, y: ArrayLike, *,
                  task: str, nested: bool = True, max_folds: int = MAX_FOLDS,
                  random_state: int = SEED) -> Selection:
    """Choose among `candidates` (the first is the baseline, kept unless beaten; see
    the module doc) by their out-of-fold scores on the labelled rows (`x`, `y`), and
    fit the chosen one. `x` is the labelled rows' raw inputs (anything a reuser
    takes that numpy can index by rows); `task` is ``"classification"`` or
    ``"regression"``. `nested` False skips the nested estimate (its cost is about
    `max_folds` times the choice's)."""
    if not candidates:
        raise ReuseError("candidates: nothing to choose from")
    classify = task == CLASSIFICATION
    target = _targets(y, classify)
    x = x if hasattr(x, "__getitem__") and hasattr(x, "shape") else np.asarray(x)
    m = len(target)
    if len(x) != m:
        raise ReuseError(f"y: {m} labels for {len(x)} rows of X")
    metric = "accuracy" if classify else "rmse"
    baseline = candidates[0]
    model = _fit(baseline, x, target)
    if classify:  # labels of the learnwares' kind (a data-free fit does not look)
        check_class_targets(target, m, model.classes_)
    why = _degenerate(target, classify)
    if why is not None:
        notes = (f"{why}: kept {baseline.name}, the method that needs no labels",)
        estimate = None
        if m and not baseline.uses_labels:
            pred = np.asarray(model.predict(x))
            estimate = FoldScore(baseline.name, _metric(_losses(pred, target, classify),
                                                        classify), 0.0)
        return Selection(baseline.name, model, metric, (), estimate, m, 0,
                         notes + tuple(model.notes_))
    splits = label_folds(target, classify, max_folds=max_folds, random_state=random_state)
    data_free = _data_free_predictions(candidates, x, target)
    losses = _losses_by_candidate(candidates, x, target, splits, classify, data_free)
    chosen = _choose(candidates, losses)
    scores = tuple(FoldScore(c.name, _metric(losses[c.name], classify),
                             _spread(losses[c.name], splits, classify)) for c in candidates)
    estimate = None
    if nested:
        outer = np.zeros(m)
        for train, test in splits:
            inner = select_reuser(candidates, x[train], target[train], task=task,
                                  nested=False, max_folds=max_folds,
                                  random_state=random_state)
            if inner.chosen in data_free:
                pred = data_free[inner.chosen][test]
            else:
                pred = np.asarray(inner.model.predict(x[test]))
            outer[test] = _losses(pred, target[test], classify)
        estimate = FoldScore(chosen.name, _metric(outer, classify),
                             _spread(outer, splits, classify))
    model = model if chosen is baseline else _fit(chosen, x, target)
    return Selection(chosen.name, model, metric, scores, estimate, m, len(splits),
                     tuple(model.notes_))


@dataclass(frozen=True)
class Ranked:
    """One entry of `rank_by_labels`: its out-of-fold score and its place in the
    order it was given (0: first)."""

    name: str
    value: float
    spread: float
    given_rank: int


@dataclass(frozen=True)
class Ranking:
    """`rank_by_labels`' answer: the entries in their order by the labels.

    moved : True when the labels changed the given order
    n_folds : 0 when the labels could not rank anything (`notes` say why); the
        given order is then kept and the entries' values are their plain scores on
        the labelled rows (NaN for a candidate that learns from labels)
    """

    entries: tuple[Ranked, ...]
    metric: str
    n_labels: int
    n_folds: int
    moved: bool
    notes: tuple[str, ...] = ()


def rank_by_labels(candidates: Sequence[Candidate], x: Any, y: ArrayLike, *, task: str,
                   max_folds: int = MAX_FOLDS, random_state: int = SEED,
                   z: float = Z_GAIN) -> Ranking:
    """Order `candidates` (given in a prior order, e.g. by MMD²) by their out-of-fold
    scores on the labelled rows, moving one ahead only when the labels separate it.

    Walking down the given order, the first remaining candidate keeps its place unless
    another remaining one beats it by the rule `select_reuser` uses (paired per-row
    gain above `z` standard errors, `Z_GAIN` unless given); then the one with the
    largest gain takes it. So ten labels that do not separate two learnwares leave them
    as they were given.
    Scores come from the same shared folds as `select_reuser`'s.
    """
    if not candidates:
        raise ReuseError("candidates: nothing to rank")
    classify = task == CLASSIFICATION
    target = _targets(y, classify)
    m = len(target)
    if len(x) != m:
        raise ReuseError(f"y: {m} labels for {len(x)} rows of X")
    metric = "accuracy" if classify else "rmse"
    why = _degenerate(target, classify)
    if why is not None:
        data_free = _data_free_predictions(candidates, x, target)
        entries = tuple(Ranked(c.name, _metric(_losses(data_free[c.name], target, classify),
                                               classify) if c.name in data_free else
                               float("nan"), 0.0, i) for i, c in enumerate(candidates))
        return Ranking(entries, metric, m, 0, False, (f"{why}: kept the given order",))
    splits = label_folds(target, classify, max_folds=max_folds, random_state=random_state)
    losses = _losses_by_candidate(candidates, x, target, splits, classify,
                                  _data_free_predictions(candidates, x, target))
    remaining = list(candidates)
    order: list[Candidate] = []
    while remaining:
        pick = _choose(remaining, losses, z)
        order.append(pick)
        remaining.remove(pick)
    given = {c.name: i for i, c in enumerate(candidates)}
    entries = tuple(Ranked(c.name, _metric(losses[c.name], classify),
                           _spread(losses[c.name], splits, classify), given[c.name])
                    for c in order)
    return Ranking(entries, metric, m, len(splits),
                   [e.given_rank for e in entries] != list(range(len(entries))))


def _targets(y: ArrayLike, classify: bool) -> NDArray[Any]:
    if classify:
        return lab.as_label_array(lab.canonical_labels(y, "y"))
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise ReuseError(f"y: labels of the wrong kind for regression: expected numbers, got "
                         f"dtype {arr.dtype}")
    return arr.astype(np.float64)


def _degenerate(target: NDArray[Any], classify: bool) -> str | None:
    m = len(target)
    if m < MIN_LABELS:
        return (f"{m} label(s): too few to tell methods apart (a choice needs at least "
                f"{MIN_LABELS})")
    if classify and len(np.unique(target)) < 2:
        return (f"the labels hold one class ({target[0]!r}): they cannot tell methods "
                "apart")
    return None


def _fit(candidate: Candidate, x: Any, target: NDArray[Any]) -> Reuser:
    model = candidate.make()
    return model.fit(x, target) if candidate.uses_labels else model.fit(x)


def _data_free_predictions(candidates: Sequence[Candidate], x: Any,
                           target: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """Each data-free candidate's predictions of every labelled row (fitted once:
    it never sees the labels, so these are out of fold in every split)."""
    return {c.name: np.asarray(_fit(c, x, target).predict(x))
            for c in candidates if not c.uses_labels}


def _losses_by_candidate(candidates: Sequence[Candidate], x: Any, target: NDArray[Any],
                         splits: Folds, classify: bool,
                         data_free: dict[str, NDArray[Any]]) -> dict[str, Array]:
    """Per-row out-of-fold loss of every candidate. A reuser's `ReuseError` (labels of
    the wrong kind, say) is the caller's: every reuser takes any valid label draw."""
    losses: dict[str, Array] = {}
    for c in candidates:
        if not c.uses_labels:
            losses[c.name] = _losses(data_free[c.name], target, classify)
            continue
        loss = np.zeros(len(target))
        for train, test in splits:
            model = c.make().fit(x[train], target[train])
            loss[test] = _losses(np.asarray(model.predict(x[test])), target[test], classify)
        losses[c.name] = loss
    return losses


def _choose(candidates: Sequence[Candidate], losses: dict[str, Array],
            z: float = Z_GAIN) -> Candidate:
    """The baseline unless a candidate's paired per-row gain over it passes the test
    (mean gain above `z` standard errors)."""
    baseline = candidates[0]
    best, best_gain = baseline, 0.0
    for c in candidates[1:]:
        gain = losses[baseline.name] - losses[c.name]
        mean = float(gain.mean())
        if mean <= z * float(gain.std()) / np.sqrt(len(gain)):
            continue
        if mean > best_gain:
            best, best_gain = c, mean
    return best


def _losses(pred: NDArray[Any], target: NDArray[Any], classify: bool) -> Array:
    """Per-row loss: 0/1 error, or the squared error summed over outputs."""
    if classify:
        got = lab.canonical_labels(np.asarray(pred).reshape(len(target)), "predictions")
        return np.asarray([g != t for g, t in zip(got, target.tolist(), strict=True)],
                          dtype=np.float64)
    diff = np.asarray(pred, dtype=np.float64).reshape(len(target), -1) - \
        target.reshape(len(target), -1)
    return np.asarray((diff ** 2).sum(axis=1), dtype=np.float64)


def _metric(loss: Array, classify: bool) -> float:
    """Accuracy from 0/1 errors; RMSE from squared errors."""
    return float(1.0 - loss.mean()) if classify else float(np.sqrt(loss.mean()))


def _spread(loss: Array, splits: Folds, classify: bool) -> float:
    """Standard deviation of the metric over the folds."""
    return float(np.std([_metric(loss[test], classify) for _, test in splits]))
