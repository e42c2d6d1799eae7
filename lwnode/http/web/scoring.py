"""Reuse on the user's rows, and an honest score against a model of the user's own.

The page lets a user upload rows and, optionally, labels for the *first* few of
them. `reuse_rows` predicts every row with one of the engine's reusers and, when
labels are given, scores it against the obvious alternative: a model trained on
those labels alone (logistic regression or ridge on standardised columns).

Neither side is scored on rows it learnt from: a data-free reuser (job selector,
averaging) never sees the labels, so it is scored on the labelled rows directly;
a reuser that learns from labels (ensemble pruning, feature augment) and the
user-only model are scored by k-fold cross-validation over the labelled rows, on
the folds `engine.reuse.select.label_folds` deals (stratified by class).

With labels and no method asked for ("automatic"), the method is chosen on them by
`lwnode.userside.local.select_method` (the data-free default unless another method
beats it out of fold), and the figure shown is its nested cross-validated estimate
of that choice: choosing by a score and then showing the same score would flatter
the winner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import ReuseError, SpecError
from engine.hetero.mapping import ColumnMapping
from engine.learnware import Learnware
from engine.reuse.base import CLASSIFICATION, infer_task
from engine.reuse.select import Selection, label_folds
from engine.specification.semantic import InputSpec
from lwnode.userside.local import (
    HETERO,
    NEEDS_LABELS,
    REUSE_METHODS,
    data_free_method,
    data_free_predictions,
    new_reuser,
    other_columns,
    reuse_learnwares,
    select_method,
)

METHODS = REUSE_METHODS


@dataclass(frozen=True)
class Score:
    """Reuse against a user-only model on the user's labelled rows."""

    metric: str
    """``accuracy`` (classification, higher is better) or ``rmse`` (lower is better)."""
    reuse: float | None
    user_only: float | None
    n_labels: int
    protocol: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReuseOutcome:
    predictions: NDArray[Any]
    task: str
    n_labels: int
    score: Score | None
    method: str = ""
    """The method that predicted (the one asked for, or the one chosen)."""
    mappings: tuple[tuple[str, ColumnMapping], ...] = ()
    """For reuse across feature spaces: each learnware's column mapping."""
    notes: tuple[str, ...] = ()
    """The reuser's notes: what it did instead of what was asked, and why."""


def reuse_rows(learnwares: Sequence[Learnware], x: NDArray[Any], method: str | None, *,
               labels: NDArray[Any] | None = None, weights: Sequence[float] | None = None,
               user_input: InputSpec | None = None) -> ReuseOutcome:
    """Predict all of `x` by `method`; `labels` (if any) belong to the first rows.

    `method` None chooses as `lwnode.userside.local.reuse_with` does. When a learnware takes
    other columns than the user's (`user_input`: their header and descriptions), or
    `method` is ``hetero``, the rows are reused across feature spaces
    (`lwnode.userside.local.reuse_learnwares`); that reuse is not scored (its labelled fit is
    not cross-validated here).
    """
    if method is not None and method not in METHODS:
        raise ReuseError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    m = 0 if labels is None else len(labels)
    if m > len(x):
        raise ReuseError(f"labels: {m} labels for {len(x)} rows")
    task = infer_task(learnwares)
    y = None if labels is None else _targets(labels, task)
    if method == HETERO or (x.ndim == 2 and other_columns(learnwares, user_input, x)):
        reused = reuse_learnwares(learnwares, x, method=method, labels=y, weights=weights,
                                  user_input=user_input)
        return ReuseOutcome(reused.predictions, task, m, None, reused.method, reused.mappings,
                            reused.notes)
    if method is None and y is not None:
        return _chosen_on_labels(learnwares, x, y, weights, task)
    chosen = None if method is not None else data_free_method(learnwares, x, weights)
    method = chosen.method if chosen is not None else method
    assert method is not None
    if method in NEEDS_LABELS and m == 0:
        raise ReuseError(f"method {method} learns from a few labels: upload labels for the "
                         "first rows of your data")
    if chosen is not None:
        reuser, predictions = data_free_predictions(chosen, learnwares, x, weights)
    else:
        reuser = new_reuser(method, learnwares, weights)
        if method in NEEDS_LABELS:
            assert y is not None
            reuser.fit(x[:m], y)
        else:
            reuser.fit(x)
        predictions = np.asarray(reuser.predict(x))
    notes = ((chosen.note,) if chosen is not None and chosen.note else ()) + tuple(reuser.notes_)
    if y is None:
        return ReuseOutcome(predictions, task, 0, None, method, notes=notes)
    return ReuseOutcome(predictions, task, m,
                        score_against_user_only(learnwares, x[:m], y, method, weights, task,
                                                predictions[:m]), method, notes=notes)


def _chosen_on_labels(learnwares: Sequence[Learnware], x: NDArray[Any], y: NDArray[Any],
                      weights: Sequence[float] | None, task: str) -> ReuseOutcome:
    """`reuse_rows` with labels and no method asked for: the method `select_method`
    chooses, scored by its nested cross-validated estimate."""
    m = len(y)
    selection = select_method(learnwares, x[:m], y, weights, rows=x)
    predictions = np.asarray(selection.model.predict(x))
    if selection.estimate is None or not selection.n_folds:  # no choice: as asked for
        score = score_against_user_only(learnwares, x[:m], y, selection.chosen, weights,
                                        task, predictions[:m])
    else:
        score = Score(metric_of(task), selection.estimate.value,
                      _user_only_score(task, x[:m], y), m, _protocol(selection))
    return ReuseOutcome(predictions, task, m, score, selection.chosen,
                        notes=selection.notes)


def _protocol(selection: Selection) -> str:
    k, m = selection.n_folds, selection.n_labels
    return (f"“automatic” chose {selection.chosen} on your labels, and its score is an "
            f"estimate by nested cross-validation (the choice made again without each "
            f"held-out fold); the user-only model by {k}-fold cross-validation over your "
            f"{m} labelled rows. How it chose: {selection.describe()}")


def _targets(labels: NDArray[Any], task: str) -> NDArray[Any]:
    if task == CLASSIFICATION:
        return np.asarray(labels)
    try:
        return np.asarray(labels, dtype=np.float64)
    except ValueError:
        raise ReuseError("labels: the learnwares are regressors, so labels must be numbers"
                         ) from None


def metric_of(task: str) -> str:
    return "accuracy" if task == CLASSIFICATION else "rmse"


def measure(task: str, predicted: NDArray[Any], truth: NDArray[Any]) -> float:
    if task == CLASSIFICATION:
        return float(np.mean(np.asarray(predicted).astype(str) == np.asarray(truth).astype(str)))
    diff = np.asarray(predicted, dtype=np.float64).reshape(len(truth), -1) - \
        np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    return float(np.sqrt(np.mean(diff ** 2)))


def cross_validated(fit_predict: Callable[[NDArray[Any], NDArray[Any], NDArray[Any]],
                                          NDArray[Any]],
                    x: NDArray[Any], y: NDArray[Any], task: str) -> NDArray[Any]:
    """Out-of-fold predictions of every labelled row (the shared `label_folds`)."""
    out: list[Any] = [None] * len(y)
    for train, test in label_folds(y, task == CLASSIFICATION):
        for i, p in zip(test, np.asarray(fit_predict(x[train], y[train], x[test])),
                        strict=True):
            out[int(i)] = p
    return np.asarray(out)


def _user_only_score(task: str, x: NDArray[Any], y: NDArray[Any]) -> float:
    return measure(task, cross_validated(user_only(task), x, y, task), y)


def user_only(task: str) -> Callable[[NDArray[Any], NDArray[Any], NDArray[Any]], NDArray[Any]]:
    """Fit-and-predict of the model a user would train on their labels alone (on one
    numeric row per input: images flattened, texts as their embeddings)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit_predict(x: NDArray[Any], y: NDArray[Any], x_test: NDArray[Any]) -> NDArray[Any]:
        x, x_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)
        if task == CLASSIFICATION:
            if len(np.unique(y.astype(str))) < 2:  # one class seen: predict it
                return np.full(len(x_test), y[0], dtype=y.dtype)
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        else:
            model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        return np.asarray(model.fit(x, y).predict(x_test))

    return fit_predict


def score_against_user_only(learnwares: Sequence[Learnware], x: NDArray[Any], y: NDArray[Any],
                            method: str, weights: Sequence[float] | None, task: str,
                            predicted: NDArray[Any]) -> Score:
    """See the module doc; `predicted` are the reuser's predictions of the labelled rows."""
    m, metric, notes = len(y), metric_of(task), []
    if m < 2:
        return Score(metric, measure(task, predicted, y) if method not in NEEDS_LABELS else None,
                     None, m, "too few labels for a user-only model (give at least 2)")
    k = len(label_folds(y, task == CLASSIFICATION))
    own = _user_only_score(task, x, y)
    if method not in NEEDS_LABELS:
        return Score(metric, measure(task, predicted, y), own, m,
                     f"reuse on your {m} labelled rows (it did not see the labels); the "
                     f"user-only model by {k}-fold cross-validation over them")

    def reuse_fit_predict(xt: NDArray[Any], yt: NDArray[Any], xs: NDArray[Any]
                          ) -> NDArray[Any]:
        return np.asarray(new_reuser(method, learnwares, weights).fit(xt, yt).predict(xs))

    try:
        reused: float | None = measure(task, cross_validated(reuse_fit_predict, x, y, task),
                                       y)
    except (ReuseError, SpecError) as exc:
        reused = None
        notes.append(f"reuse could not be cross-validated on so few labels: {exc}")
    return Score(metric, reused, own, m,
                 f"both by {k}-fold cross-validation over your {m} labelled rows",
                 tuple(notes))
