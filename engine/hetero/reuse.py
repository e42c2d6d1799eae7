"""`HeteroReuser`: reuse learnwares whose columns differ from the user's.

Each learnware gets the user's rows in its own feature space (`fill.SpaceMap`):
columns the user has are copied by the column map (from the search's
`Match.mapping`, or matched here from the descriptions and the user's rows), and
columns the user lacks are estimated from the learnware's RKME given the ones it
has — never zeros, which are values the model never saw and that ignore what the
user's other columns imply.

Without labels (``fit(X)``) the prediction is the learnwares' weighted average:
data-free. With a few labels (``fit(X, y)``):

- regression: a ridge model on [the user's standardised columns, each learnware's
  standardised output] is fitted to the *residual* ``y - data-free prediction``, its
  penalty chosen by exact leave-one-out. It competes with simpler corrections (none,
  a constant shift, a re-weighting of the learnwares) and is used only with enough
  labels per parameter and when its leave-one-out error beats the simpler ones by
  more than one standard error. The shrinkage pulls towards the learnwares' answer,
  not towards the mean of a few labels: few or noisy labels change little, many
  labels correct what the learnwares miss (biases from estimated columns, what only
  the user's own columns know);
- classification: a logistic model on [the user's standardised columns, each
  learnware's log-probabilities aligned by class name] (FeatureAugment-style
  stacking), which can also predict classes only the user's labels contain.

``draws > 0`` averages each learnware over that many draws of its missing columns
(their conditional estimate plus the learnware's own residuals) instead of feeding
the estimate: better for models that are far from linear in the missing columns,
at ``draws`` times the prediction cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if

from engine import kernel
from engine.errors import LwdockError, ReuseError
from engine.hetero.embedding import ColumnEmbedder, default_embedder
from engine.hetero.features import column_text, missing_descriptions
from engine.hetero.fill import FILL_METHODS, SpaceMap
from engine.hetero.mapping import ColumnMapping
from engine.hetero.match import DEFAULT_THRESHOLD
from engine.hetero.search import compare
from engine.learnware import Learnware
from engine.params import Constraints, InstanceOf, Interval, Options
from engine.reuse import labels as lab
from engine.reuse.averaging import weighted_mean
from engine.reuse.base import (
    REGRESSION,
    Reuser,
    _is_classifier,
    check_class_targets,
    check_learnwares,
    check_regression_targets,
    check_rows,
    check_weights,
    infer_task,
)
from engine.specification.semantic import InputSpec

Array = NDArray[np.float64]

ALPHAS = tuple(np.logspace(-3, 4, 15))
LABELS_PER_PARAMETER = 3
_MATCH_ROWS = 300


def loo_ridge(features: Array, target: Array, alphas: Sequence[float]
              ) -> tuple[Array, Array]:
    """Exact leave-one-out squared errors of ridge with a free intercept, per alpha.

    For a linear smoother the left-out residual is ``e_i / (1 - h_ii)``, with ``H =
    X (X'X + alpha D)^-1 X'`` over ``X = [1, features]`` and ``D`` penalising all but
    the intercept: one p x p solve per alpha, no refits. Returns (alphas, errors of
    shape (n_samples, n_alphas)), errors summed over the targets' columns.
    """
    x = np.hstack([np.ones((len(features), 1)), features])
    y = target.reshape(len(target), -1)
    gram, xty = x.T @ x, x.T @ y
    penal = np.eye(x.shape[1])
    penal[0, 0] = 0.0
    out = np.empty((len(x), len(alphas)))
    for j, alpha in enumerate(alphas):
        inv = np.linalg.pinv(gram + alpha * penal)
        resid = y - x @ (inv @ xty)
        lever = np.einsum("ij,ij->i", x @ inv, x)
        out[:, j] = ((resid / np.maximum(1.0 - lever, 1e-9)[:, None]) ** 2).sum(axis=1)
    return np.asarray(alphas, dtype=np.float64), out


def _check_mapping(mapping: object, lw: Learnware, width: int, i: int) -> ColumnMapping:
    if not isinstance(mapping, ColumnMapping):
        raise ReuseError(f"mappings[{i}]: expected a ColumnMapping or None, got "
                         f"{type(mapping).__name__}")
    if len(mapping.user_columns) != width:
        raise ReuseError(f"mappings[{i}]: maps {len(mapping.user_columns)} user columns, X "
                         f"has {width}")
    if len(mapping.learnware_columns) != lw.spec.dim_:
        raise ReuseError(f"mappings[{i}]: maps onto {len(mapping.learnware_columns)} "
                         f"columns, learnware {lw.id} takes {lw.spec.dim_}")
    if not mapping.pairs:
        raise ReuseError(f"mappings[{i}]: no user column feeds learnware {lw.id}")
    return mapping


class HeteroReuser(Reuser):
    """Reuse learnwares over other columns: data-free, or stacked on a few labels.

    Parameters
    ----------
    learnwares : sequence of Learnware
        Table learnwares; their widths may differ from the user's and each other's.
    user_input : InputSpec or None
        The user's columns, described (`InputSpec.from_columns`); needed for every
        learnware without a mapping.
    mappings : sequence of (ColumnMapping or None), or None
        One per learnware, e.g. ``[m.mapping for m in result.single]``; None entries
        are matched here.
    weights : array of shape (n_learnwares,), optional
        Weights of the data-free average (e.g. search scores); None weighs equally.
    fill : {"linear", "kernel", "mean"}, default "linear"
        How missing columns are estimated (`engine.hetero.fill`).
    draws : int, default 0
        0 feeds the estimate; k > 0 averages over k conditional draws.
    alpha : float, default 1.0
        Classification only: ``C = 1 / alpha`` of the stacked logistic model.
    embedder : ColumnEmbedder or None
        For matching columns here; None uses the process-wide MiniLM embedder.

    Attributes
    ----------
    mappings_ : tuple of ColumnMapping, one per learnware
    space_maps_ : tuple of SpaceMap
    model_ : Ridge, LogisticRegression or None
        The correction (regression) or stacked model (classification); None when
        fitted without labels, when no correction earned its place, or when the labels
        were a degenerate draw (one class; one regression row), which `notes_` says.
    correction_ : str
        Regression: which correction was kept ("none", "constant", "outputs",
        "outputs+columns"); "stacked" for classification with labels.
    task_, classes_, weights_, learnwares_, n_features_in_, notes_ : see `Reuser`.
    """

    mappings_: tuple[ColumnMapping, ...]
    space_maps_: tuple[SpaceMap, ...]
    model_: Ridge | LogisticRegression | None

    _parameter_constraints: ClassVar[Constraints] = {
        "draws": [Interval(int, 0, None)],
        "alpha": [Interval(float, 0, None, closed="neither")],
        "user_input": [InstanceOf(InputSpec), None],
        "fill": [Options(FILL_METHODS)],  # as search checks it, but a ReuseError here
    }

    def __init__(self, learnwares: Sequence[Learnware] = (), *,
                 user_input: InputSpec | None = None,
                 mappings: Sequence[ColumnMapping | None] | None = None,
                 weights: ArrayLike | None = None, fill: str = "linear", draws: int = 0,
                 alpha: float = 1.0, embedder: ColumnEmbedder | None = None) -> None:
        self.learnwares = learnwares
        self.user_input = user_input
        self.mappings = mappings
        self.weights = weights
        self.fill = fill
        self.draws = draws
        self.alpha = alpha
        self.embedder = embedder

    # -- fitting ------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> HeteroReuser:
        """Map the learnwares onto the user's columns; with `y`, fit the stacked model.

        `X` are the user's rows (labelled when `y` is given); their column statistics
        help match columns that have no mapping yet.
        """
        self._validate_params()
        lws = check_learnwares(self.learnwares)
        for lw in lws:
            if lw.spec.kind != "rkme_table":
                raise ReuseError(f"learnware {lw.id}: heterogeneous reuse maps table columns; "
                                 f"its spec is {lw.spec.kind}")
        self.task_ = infer_task(lws)
        self.learnwares_ = lws
        self.weights_ = check_weights(self.weights, len(lws))
        if self.task_ != REGRESSION:
            self.classes_ = lab.class_union(lws)
        width = self._user_width(X)
        x = check_rows(X, width)
        self.n_features_in_ = x.shape[1]
        self.mappings_ = self._mappings(lws, x)
        self.space_maps_ = tuple(SpaceMap(m, lw.spec.points_, lw.spec.weights_, self.fill)
                                 for m, lw in zip(self.mappings_, lws, strict=True))
        self.model_ = None
        self.correction_ = "none"
        self.notes_ = ()
        if y is not None:
            self._fit_stack(x, y)
        return self

    def _user_width(self, X: ArrayLike) -> int:
        if self.user_input is not None:
            return self.user_input.dimension
        given = [m for m in (self.mappings or ()) if m is not None]
        if given:
            return len(given[0].user_columns)
        return int(np.shape(X)[1]) if np.ndim(X) == 2 else 0

    def _mappings(self, lws: tuple[Learnware, ...], x: Array) -> tuple[ColumnMapping, ...]:
        given: Sequence[ColumnMapping | None] = (list(self.mappings) if self.mappings
                                                 is not None else [None] * len(lws))
        if len(given) != len(lws):
            raise ReuseError(f"mappings: {len(given)} for {len(lws)} learnwares; give one "
                             "per learnware (None to match it here)")
        out = []
        for i, (m, lw) in enumerate(zip(given, lws, strict=True)):
            out.append(self._match(lw, x, i) if m is None
                       else _check_mapping(m, lw, x.shape[1], i))
        return tuple(out)

    def _match(self, lw: Learnware, x: Array, i: int) -> ColumnMapping:
        ui = self.user_input
        if ui is None or missing_descriptions(ui):
            raise ReuseError(f"user_input: learnware {lw.id} has no mapping, and matching "
                             "columns needs the user's columns described "
                             "(InputSpec.from_columns(names, descriptions))")
        lw_in = lw.semantic.input
        if lw_in is None or len(lw_in.features) != lw.spec.dim_:
            raise ReuseError(f"learnware {lw.id}: its semantic spec names no columns "
                             f"(input.features); it cannot be matched to the user's")
        emb = self.embedder or default_embedder()
        try:
            u = emb.embed([column_text(f) for f in ui.features])
            v = emb.embed([column_text(f) for f in lw_in.features])
        except LwdockError as exc:
            raise ReuseError(f"learnware {lw.id}: cannot embed column descriptions: {exc}"
                             ) from None
        rows = x if len(x) <= _MATCH_ROWS else x[np.linspace(0, len(x) - 1, _MATCH_ROWS)
                                                 .astype(int)]
        got = compare(ui.features, rows, np.full(len(rows), 1.0 / len(rows)),
                      kernel.auto_gamma(rows, 0), lw_in.features, lw.spec, u @ v.T,
                      threshold=DEFAULT_THRESHOLD, fill=self.fill)
        if got is None:
            raise ReuseError(f"learnware {lw.id}: none of the user's columns matches one of "
                             f"its columns ({', '.join(f.name for f in lw_in.features)})")
        return got[0]

    # -- outputs ------------------------------------------------------------------------
    def transform(self, X: ArrayLike, index: int = 0) -> Array:
        """The user's rows in learnware `index`'s feature space (estimates filled in)."""
        x = self._check_rows(X)
        return self.space_maps_[index].transform(x)

    def _learnware_output(self, j: int, x: Array) -> Array:
        lw, space = self.learnwares_[j], self.space_maps_[j]
        if self.draws == 0:
            return self._output(lw, space.transform(x))
        rows, w = space.expand(x, np.ones(len(x)), max_points=self.draws * len(x))
        out = self._output(lw, rows) * w[:, None]  # w: each row's draw weights, sum 1
        return out.reshape(len(x), len(rows) // len(x), -1).sum(axis=1)

    def _outputs(self, x: Array) -> list[Array]:
        return [self._learnware_output(j, x) for j in range(len(self.learnwares_))]

    def _data_free(self, outputs: list[Array]) -> Array:
        live = [(o, w) for o, w in zip(outputs, self.weights_, strict=True) if w > 0]
        return weighted_mean([o for o, _ in live], np.array([w for _, w in live]))

    def _fit_stack(self, x: Array, y: ArrayLike) -> None:
        self.scaler_ = StandardScaler().fit(x)
        outputs = self._outputs(x)
        if self.task_ == REGRESSION:
            target = check_regression_targets(y, len(x))
            if len(x) < 2:
                self._note("y: 1 labelled row; nothing to fit on: predicted the data-free "
                           "average instead")
                return
            spread = target.std(axis=0)
            self.y_scale_ = np.where(spread > 0, spread, 1.0)
            residual = (target - self._data_free(outputs)) / self.y_scale_
            self._correction(x, outputs, residual)
        else:
            labels = check_class_targets(y, len(x), self.classes_)
            if len(set(labels)) < 2:
                self._note(f"y: the labels hold one class ({labels[0]!r}); a model cannot "
                           "learn to tell classes apart from them: predicted the data-free "
                           "average instead")
                return
            self.classes_ = lab.class_union(self.learnwares_, labels)
            outputs = self._outputs(x)
            self.model_ = LogisticRegression(C=1.0 / float(self.alpha), max_iter=2000).fit(
                self._stack(x, outputs), lab.as_label_array(labels))
            self.correction_ = "stacked"

    def _correction(self, x: Array, outputs: list[Array], residual: Array) -> None:
        """Choose and fit the correction of the data-free answer (regression).

        Candidates, simplest first: none; a constant; ridge on the learnwares' outputs
        (re-weighting them); ridge on the outputs and the user's columns. A candidate
        needs `LABELS_PER_PARAMETER` labels per parameter, and the simplest one whose
        exact leave-one-out error (`loo_ridge`) is within one standard error of the
        best is kept. Leave-one-out on about as many labels as parameters is too noisy
        to choose by (measured: 10 labels, 9 features, leave-one-out 0.09 against
        none's 0.22, test error 5x the data-free answer's), so the data must show
        clear evidence before anything is trusted over the learnwares.
        """
        n = len(residual)
        stacked = self._stack(x, outputs)
        n_out = stacked.shape[1] - x.shape[1]
        centred = residual - residual.mean(axis=0)
        errors = [(residual**2).sum(axis=1),                       # no correction
                  ((n / (n - 1) * centred) ** 2).sum(axis=1)]      # a constant
        fits: list[tuple[slice, float]] = [(slice(0), 0.0), (slice(0), 1e12)]
        for cols in (slice(x.shape[1], None), slice(None)):
            n_params = (n_out if cols.start else stacked.shape[1]) + 1
            if n < LABELS_PER_PARAMETER * n_params:
                break
            alphas, loo = loo_ridge(stacked[:, cols], residual, ALPHAS)
            j = int(np.argmin(loo.mean(axis=0)))
            errors.append(loo[:, j])
            fits.append((cols, float(alphas[j])))
        means = [float(e.mean()) for e in errors]
        best = int(np.argmin(means))
        bar = means[best] + float(errors[best].std()) / np.sqrt(n)
        choice = next(i for i, m in enumerate(means) if m <= bar)
        self.correction_ = ("none", "constant", "outputs", "outputs+columns")[choice]
        if choice == 0:
            self.model_ = None
            return
        cols, alpha = fits[choice]
        if choice == 1:  # a constant is ridge with every coefficient shrunk away
            cols = slice(None)
        self._columns = cols
        self.model_ = Ridge(alpha=alpha).fit(stacked[:, cols], residual)

    def _stack(self, x: Array, outputs: list[Array]) -> Array:
        parts = [self.scaler_.transform(x)]
        for out in outputs:
            if self.task_ == REGRESSION:
                parts.append(out / self.y_scale_)
            else:
                parts.append(np.log(np.clip(out, 1e-6, 1.0)))
        return np.hstack(parts)

    def _check_rows(self, X: ArrayLike, what: str = "X") -> Array:
        if not hasattr(self, "space_maps_"):
            raise ReuseError("HeteroReuser is not fitted: call fit(X) or fit(X, y) first")
        return check_rows(X, self.n_features_in_, what)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class names or regression outputs, one per row of the user's columns."""
        x = self._check_rows(X)
        if self.task_ != REGRESSION:
            return self._decide(self.predict_proba(x))
        outputs = self._outputs(x)
        pred = self._data_free(outputs)
        if self.model_ is not None:
            stacked = self._stack(x, outputs)[:, self._columns]
            correction = np.asarray(self.model_.predict(stacked))
            pred = pred + correction.reshape(pred.shape) * self.y_scale_
        return self._decide(pred)

    @available_if(_is_classifier)
    def predict_proba(self, X: ArrayLike) -> Array:
        """Probabilities over `classes_`."""
        x = self._check_rows(X)
        outputs = self._outputs(x)
        if self.model_ is None:
            return self._data_free(outputs)
        proba = self.model_.predict_proba(self._stack(x, outputs))
        cols = lab.label_positions(self.model_.classes_, lab.class_index(self.classes_),
                                   "classes")
        out = np.zeros((len(x), len(self.classes_)))
        out[:, cols] = proba
        return out
