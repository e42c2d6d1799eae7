"""`Reuser`: the validation and bookkeeping every reuser shares.

A reuser is a scikit-learn style estimator: ``__init__`` stores keyword
parameters, ``fit`` validates everything and sets attributes ending in ``_``, and
``predict`` / ``predict_proba`` work on the user's rows. What is validated once
here, so that each reuser module holds only its own idea:

- the learnwares: a non-empty sequence of `Learnware`, one task (classification or
  regression, from the semantic spec, else from whether the model names classes),
  one input width (semantic ``input.dimension`` and table RKME dimension agree);
- mixture weights: one finite non-negative number per learnware, normalised;
- the user's inputs: raw inputs of the kind the learnwares' specs were made from
  (table rows, images or texts; `engine.reuse.inputs` holds the contract), whose
  model rows have the learnwares' width;
- the user's labels: one per row, of the kind the task needs (class names of the
  learnwares' kind for classification, finite numbers for regression).

Every failure is a `ReuseError` (a `ValueError`) naming the input at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator

from engine.errors import ReuseError, SpecError
from engine.learnware import Learnware
from engine.params import Constraints, Options, validate_params
from engine.reuse import labels as lab
from engine.reuse.inputs import UserInputs, check_inputs, expected_kind
from engine.specification.rkme import check_matrix
from engine.vocabulary import TaskType

Array = NDArray[np.float64]

CLASSIFICATION = "classification"
REGRESSION = "regression"

VOTING = Options(("soft", "hard"))
"""Soft (probabilities) or hard (votes) voting, for reusers that combine classifiers."""
ROUTING = Options((True, False, "auto"))
"""Route rows to learnwares (`JobSelector`): always, never, or when `can_route`."""


def check_learnwares(learnwares: object) -> tuple[Learnware, ...]:
    """A non-empty tuple of `Learnware` whose models can predict."""
    if isinstance(learnwares, Learnware) or not isinstance(learnwares, Sequence):
        raise ReuseError(f"learnwares: expected a sequence of Learnware, got "
                         f"{type(learnwares).__name__}")
    if len(learnwares) == 0:
        raise ReuseError("learnwares: no learnwares given; a reuser needs at least one")
    for i, lw in enumerate(learnwares):
        if not isinstance(lw, Learnware):
            raise ReuseError(f"learnwares[{i}]: expected a Learnware, got {type(lw).__name__}")
        if not callable(getattr(lw.model, "predict", None)):
            raise ReuseError(f"learnware {lw.id}: its model has no predict method")
    return tuple(learnwares)


def infer_task(learnwares: Sequence[Learnware]) -> str:
    """The one task the learnwares share: ``"classification"`` or ``"regression"``."""
    tasks: dict[str, list[str]] = {}
    for lw in learnwares:
        declared = lw.semantic.task_type
        if declared is None:
            task = CLASSIFICATION if lw.classes() is not None else REGRESSION
        elif declared in (TaskType.CLASSIFICATION, TaskType.REGRESSION):
            task = declared.value
        else:
            raise ReuseError(f"learnware {lw.id}: task_type {declared.value!r} cannot be "
                             "reused; expected classification or regression")
        tasks.setdefault(task, []).append(lw.id)
    if len(tasks) > 1:
        raise ReuseError(f"learnwares: mixed task types {tasks}; reuse needs one task")
    return next(iter(tasks))


def input_width(learnwares: Sequence[Learnware]) -> int | None:
    """The raw input width the learnwares declare, or None if none declares one."""
    widths: dict[str, int] = {}
    for lw in learnwares:
        if lw.semantic.input is not None:
            widths[f"{lw.id} (semantic)"] = lw.semantic.input.dimension
        if lw.spec.kind == "rkme_table" and hasattr(lw.spec, "points_"):
            widths[f"{lw.id} (RKME)"] = lw.spec.dim_
    if len(set(widths.values())) > 1:
        raise ReuseError(f"learnwares: input widths disagree {widths}")
    return next(iter(widths.values()), None)


def check_weights(weights: ArrayLike | None, n: int, what: str = "weights") -> Array:
    """Mixture weights normalised to sum to 1; None means uniform."""
    if weights is None:
        return np.full(n, 1.0 / n)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ReuseError(f"{what}: expected {n} numbers") from None
    if w.shape != (n,):
        raise ReuseError(f"{what}: expected shape ({n},) (one per learnware), got {w.shape}")
    if not np.isfinite(w).all() or w.min() < 0 or w.max() <= 0:
        raise ReuseError(f"{what}: must be finite, non-negative and not all zero, got "
                         f"{w.tolist()}")
    w = w / w.max()  # first, so that the sum of huge weights cannot overflow
    return w / w.sum()


def check_rows(x: ArrayLike, width: int | None, what: str = "X") -> Array:
    """The user's rows as a finite, non-empty float matrix of the expected width."""
    try:
        return check_matrix(x, what, width)
    except SpecError as exc:
        raise ReuseError(str(exc)) from None


def check_regression_targets(y: ArrayLike, n_rows: int, what: str = "y") -> Array:
    """Finite numeric targets, one row per user row, as an (n, n_outputs) matrix."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise ReuseError(f"{what}: labels of the wrong kind for regression: expected numbers, "
                         f"got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ReuseError(f"{what}: expected shape ({n_rows},) or ({n_rows}, n_outputs), got "
                         f"{np.shape(y)}")
    if len(arr) != n_rows:
        raise ReuseError(f"{what}: {len(arr)} labels for {n_rows} rows of X")
    if not np.isfinite(arr).all():
        raise ReuseError(f"{what}: NaN or infinite values")
    return arr


def check_class_targets(y: ArrayLike, n_rows: int, classes: NDArray[Any],
                        what: str = "y") -> list[lab.Label]:
    """Canonical class labels, one per row, of the same kind as the learnwares' classes."""
    canon = lab.canonical_labels(y, what)
    if len(canon) != n_rows:
        raise ReuseError(f"{what}: {len(canon)} labels for {n_rows} rows of X")
    expected = lab.label_kind(lab.canonical_labels(classes, "classes"))
    got = lab.label_kind(canon)
    if expected is not None and got is not None and got != expected:
        raise ReuseError(f"{what}: labels of the wrong kind: got {got} labels, the "
                         f"learnwares' classes are {expected} labels")
    return canon


def _is_classifier(reuser: Reuser) -> bool:
    """`available_if` check: predict_proba exists unless the reuser was fitted to regress."""
    return getattr(reuser, "task_", CLASSIFICATION) == CLASSIFICATION


class Reuser(BaseEstimator):
    """Base of every reuser: learnware validation, task, classes and row checks.

    Fitted attributes (set by `_setup`):

    learnwares_ : tuple of Learnware
    task_ : ``"classification"`` or ``"regression"``
    classes_ : sorted union of the learnwares' class names (classification only)
    n_features_in_ : values per model row the learnwares declare (None if unknown)
    input_kind_ : ``"table"``, ``"image"`` or ``"text"``: what `fit` and `predict` take
    weights_ : normalised mixture weights, one per learnware
    notes_ : tuple of str; what the reuser did instead of what was asked, and why
        (e.g. a fallback on a degenerate label draw); empty when nothing needs saying
    """

    learnwares_: tuple[Learnware, ...]
    task_: str
    classes_: NDArray[Any]
    n_features_in_: int | None
    input_kind_: str
    weights_: Array
    notes_: tuple[str, ...]

    _parameter_constraints: ClassVar[Constraints] = {}
    """What each constructor parameter may be (`engine.params`); checked first in `fit`."""
    _parameter_error: ClassVar[type[Exception]] = ReuseError

    def _validate_params(self) -> None:
        """scikit-learn's hook, with this project's constraints and error."""
        validate_params(self)

    def _setup(self, learnwares: object, weights: ArrayLike | None = None,
               extra_classes: Sequence[lab.Label] = ()) -> None:
        lws = check_learnwares(learnwares)
        task = infer_task(lws)
        kind = expected_kind(lws)
        width = input_width(lws)
        w = check_weights(weights, len(lws))
        if task == CLASSIFICATION:
            self.classes_ = lab.class_union(lws, extra_classes)
        self.learnwares_, self.task_, self.n_features_in_, self.weights_ = lws, task, width, w
        self.input_kind_, self.notes_ = kind, ()

    def _note(self, note: str) -> None:
        self.notes_ = (*self.notes_, note)

    def _check_fitted(self) -> None:
        if not hasattr(self, "learnwares_"):
            raise ReuseError(f"{type(self).__name__} is not fitted: call fit() first")

    def _check_x(self, x: ArrayLike | UserInputs, what: str = "X") -> UserInputs:
        """The user's raw inputs validated once (`engine.reuse.inputs`): ``.rows`` go to
        the models, ``.in_space(spec)`` to routing."""
        self._check_fitted()
        return check_inputs(x, self.input_kind_, self.n_features_in_, what)

    def _output(self, lw: Learnware, x: Array, voting: str = "soft") -> Array:
        """One learnware's output on x: aligned probabilities (soft), one-hot votes
        (hard) or an (n, n_outputs) regression matrix."""
        if self.task_ == REGRESSION:
            return lab.regression_output(lw, x)
        if voting == "hard":
            return lab.onehot_votes(lw, x, self.classes_)
        return lab.aligned_proba(lw, x, self.classes_)

    def _decide(self, scores: Array) -> NDArray[Any]:
        """Class scores → class names (ties go to the first class in sorted order);
        regression outputs are returned as 1-D when there is one output."""
        if self.task_ == REGRESSION:
            return scores[:, 0] if scores.shape[1] == 1 else scores
        return self.classes_[np.argmax(scores, axis=1)]


__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "ROUTING",
    "VOTING",
    "Reuser",
    "check_class_targets",
    "check_learnwares",
    "check_regression_targets",
    "check_rows",
    "check_weights",
    "infer_task",
    "input_width",
]
