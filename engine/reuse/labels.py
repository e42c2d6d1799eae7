"""Class labels and learnware outputs, aligned by class *name*.

Learnwares trained by different organizations rarely share a class set, and even
when they do their probability columns need not come in the same order. Every
reuser therefore works on one sorted union of class names (`class_union`), and
each learnware's probabilities are moved into that union's columns by name
(`aligned_proba`): a class the learnware does not know gets probability 0. A
learnware without ``predict_proba`` contributes a one-hot vote of its ``predict``.

Labels are compared in a canonical form: integers (numpy, Python, or integral
floats such as ``1.0``) become `int`, strings become `str`. Integer and string
labels never match each other, so a union that mixes them is refused rather than
silently aligned by accident.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import ReuseError
from engine.learnware import Learnware

Array = NDArray[np.float64]
Label = int | str

#: Probability rows may be off by this much from summing to one (float32 models).
_PROBA_TOL = 1e-3


def canonical_label(value: object, what: str) -> Label:
    """The canonical form of one class label, or `ReuseError` naming `what`."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise ReuseError(f"{what}: label {value!r} is neither an integer nor a string")


def canonical_labels(values: ArrayLike, what: str) -> list[Label]:
    """Canonical labels of a 1-D sequence (each distinct value is converted once)."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ReuseError(f"{what}: expected a 1-D array of labels, got shape {arr.shape}")
    if arr.size == 0:
        return []
    try:
        uniq, inverse = np.unique(arr, return_inverse=True)
    except TypeError:  # unorderable mix, e.g. ints and strings in an object array
        return [canonical_label(v, what) for v in arr.tolist()]
    canon = [canonical_label(v, what) for v in uniq.tolist()]
    return [canon[i] for i in inverse.ravel().tolist()]


def label_kind(labels: Sequence[Label]) -> str | None:
    """``"int"``, ``"str"`` or None (empty); `ReuseError` if both kinds occur."""
    kinds = {"str" if isinstance(v, str) else "int" for v in labels}
    if len(kinds) > 1:
        raise ReuseError("class labels mix integers and strings; they cannot be aligned by name")
    return kinds.pop() if kinds else None


def as_label_array(labels: Sequence[Label]) -> NDArray[Any]:
    """A numpy array of canonical labels: int64 for integers, unicode for strings."""
    kind = label_kind(labels)
    if kind == "int":
        return np.asarray(labels, dtype=np.int64)
    if kind == "str":
        return np.asarray(labels, dtype=np.str_)
    return np.asarray([], dtype=np.int64)


def learnware_classes(lw: Learnware) -> list[Label]:
    """Canonical class labels of a classification learnware, in its own column order."""
    classes = lw.classes()
    if classes is None or np.asarray(classes).size == 0:
        raise ReuseError(f"learnware {lw.id}: a classifier must name its classes "
                         "(model.classes_ or semantic output.labels)")
    labels = canonical_labels(np.asarray(classes), f"learnware {lw.id} classes")
    if len(set(labels)) != len(labels):
        raise ReuseError(f"learnware {lw.id}: duplicate class labels {labels}")
    return labels


def class_union(learnwares: Sequence[Learnware], extra: Sequence[Label] = ()) -> NDArray[Any]:
    """Sorted union of every learnware's class names (plus `extra`, e.g. user labels)."""
    union: set[Label] = set(extra)
    for lw in learnwares:
        union.update(learnware_classes(lw))
    try:
        return as_label_array(sorted(union))
    except TypeError:
        raise ReuseError("class labels mix integers and strings across learnwares "
                         "(or between learnwares and y); they cannot be aligned by name"
                         ) from None


def class_index(classes: NDArray[Any]) -> dict[Label, int]:
    """Column of each canonical class name in `classes`."""
    return {label: i for i, label in enumerate(canonical_labels(classes, "classes"))}


def label_positions(labels: ArrayLike, index: dict[Label, int], what: str,
                    *, unknown: int | None = None) -> NDArray[np.intp]:
    """Column of each label; unknown labels raise, or map to `unknown` when given."""
    canon = canonical_labels(labels, what)
    kind = label_kind(list(index))
    if canon and kind is not None and label_kind(canon) != kind:
        got = "strings" if isinstance(canon[0], str) else "integers"
        raise ReuseError(f"{what}: labels of the wrong kind: got {got}, the classes are "
                         f"{'strings' if kind == 'str' else 'integers'}")
    out = np.empty(len(canon), dtype=np.intp)
    for i, label in enumerate(canon):
        pos = index.get(label, unknown)
        if pos is None:
            raise ReuseError(f"{what}: label {label!r} is not one of the classes "
                             f"{list(index)}")
        out[i] = pos
    return out


def _predict(lw: Learnware, x: Array) -> NDArray[Any]:
    out = np.asarray(lw.model.predict(x))
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape[:1] != (len(x),):
        raise ReuseError(f"learnware {lw.id}: predict returned shape {out.shape} for "
                         f"{len(x)} rows")
    return out


def onehot_votes(lw: Learnware, x: Array, classes: NDArray[Any]) -> Array:
    """One-hot rows of the learnware's predicted labels, in the columns of `classes`."""
    pred = _predict(lw, x)
    pos = label_positions(pred, class_index(classes), f"learnware {lw.id} predictions")
    votes = np.zeros((len(x), len(classes)))
    votes[np.arange(len(x)), pos] = 1.0
    return votes


def aligned_proba(lw: Learnware, x: Array, classes: NDArray[Any]) -> Array:
    """The learnware's class probabilities moved into the columns of `classes` by name.

    Classes the learnware does not know get 0. Without ``predict_proba`` the
    learnware's ``predict`` gives a one-hot vote.
    """
    predict_proba = getattr(lw.model, "predict_proba", None)
    if predict_proba is None:
        return onehot_votes(lw, x, classes)
    own = learnware_classes(lw)
    proba = np.asarray(predict_proba(x), dtype=np.float64)
    if proba.shape != (len(x), len(own)):
        raise ReuseError(f"learnware {lw.id}: predict_proba returned shape {proba.shape}, "
                         f"expected ({len(x)}, {len(own)}) for classes {own}")
    if not np.isfinite(proba).all() or proba.min() < -_PROBA_TOL:
        raise ReuseError(f"learnware {lw.id}: predict_proba returned NaN, infinite or "
                         "negative values")
    cols = label_positions(own, class_index(classes), f"learnware {lw.id} classes")
    out = np.zeros((len(x), len(classes)))
    out[:, cols] = proba
    return out


def regression_output(lw: Learnware, x: Array) -> Array:
    """The learnware's predictions as a finite (n, n_outputs) float matrix."""
    try:
        out = np.asarray(lw.model.predict(x), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReuseError(f"learnware {lw.id}: predict did not return numbers ({exc})") from None
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or len(out) != len(x):
        raise ReuseError(f"learnware {lw.id}: predict returned shape {out.shape} for "
                         f"{len(x)} rows")
    if not np.isfinite(out).all():
        raise ReuseError(f"learnware {lw.id}: predict returned NaN or infinite values")
    return out
