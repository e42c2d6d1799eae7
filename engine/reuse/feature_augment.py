"""`FeatureAugment`: learnware outputs as extra features for a model fitted on user labels.

Stacking: the user's raw features (standardised) sit next to every learnware's
output — class probabilities aligned by class name, or regression outputs — and a
regularised linear model (LogisticRegression / Ridge) is fitted on the user's few
labels. The linear model learns which learnwares to trust and how to correct them,
while the raw features let it fix what none of them knows; it can also predict
classes that only the user's labels contain.

For regression the model is fitted on the *residual* of the learnwares' average:
``y = mean_j f_j(x) + ridge([raw, f_j(x) - mean_j f_j(x)])``. With few, noisy labels
the ridge shrinks towards the learnwares' consensus instead of towards zero: a plain
stack on 10 labels threw away what the learnwares knew and lost to data-free
averaging on the Birthdays benchmark (RMSE 0.176 vs 0.116). With ``alpha="auto"``
(the default) the ridge penalty is chosen by exact leave-one-out error (RidgeCV's
efficient form) over a wide grid, so with too few labels to correct anything it
falls back to the consensus. Targets and outputs are standardised by the targets'
spread, so `alpha` means the same at any scale of y.

Routing (``routing="auto"``, the default, whenever the learnwares carry fitted RKME
specs of one space, see `job_selector.can_route`): the data-free `JobSelector`
knows which learnware each row belongs to, which no average of outputs can
express. On MNIST class subsets routing alone had error 0.13 while this stack,
shrinking towards the average (classification: towards uniform), had 0.55 on 10
labels and lost to a model on the labels alone from 50 labels on. With routing:

- the features gain the routing posteriors ``p(j | x)`` (uniform priors over the
  given learnwares), so the model can learn which region a row is in;
- the *base* the model shrinks towards is the better, on the labelled rows, of the
  learnwares' average and their routed mixture ``sum_j p(j | x) f_j(x)`` (a
  data-free answer has nothing fitted on the labels, so its score on them is an
  honest estimate; ties go to routing). `base_` records the choice;
- classification fits `offset_logistic` (multinomial logistic regression whose class
  scores start from the log of the base's probabilities, all coefficients
  penalised, alpha by cross-validated accuracy): with few labels it stays at the
  base's answer, with many it learns the user's own linear model on top;
- regression replaces the consensus by that base in the residual fit above.

Without routable specs (or with ``routing=False``) it works as described before.

A linear model cannot bend: on MNIST class subsets with 500 labels it had error
0.070 where a random forest on the raw pixels alone had 0.066. With
``learner="auto"`` (the default) and at least `forest_stack.MIN_LABELS` (100)
labelled rows, a random forest on the same features plus the base's answer (fitted
to the residual of the base for regression) is cross-validated against the linear
model on shared folds and replaces it if its held-out score is higher
(`forest_stack`, which explains the threshold and why no further margin).
``"linear"`` never tries the forest, ``"forest"`` always uses it. `learner_`
records the choice.

The reference implementation calls scikit-learn arguments that no longer exist;
this uses only the current API.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if

from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.params import Constraints, InstanceOf, Interval, Options
from engine.reuse import forest_stack as fs
from engine.reuse import offset_logistic as ol
from engine.reuse.base import (
    REGRESSION,
    ROUTING,
    Array,
    Reuser,
    _is_classifier,
    check_class_targets,
    check_regression_targets,
)
from engine.reuse.inputs import UserInputs
from engine.reuse.job_selector import JobSelector, can_route
from engine.reuse.labels import as_label_array, class_index, class_union, label_positions

AUTO_ALPHAS = np.logspace(-2, 5, 15)
FoldFit = Callable[[NDArray[np.intp], NDArray[np.intp]], Array]
ROUTE, AVERAGE = "route", "average"
DATA_FREE = "data-free"


def _base_key(task: str, base: Array, target: Array | NDArray[np.intp]) -> tuple[float, float]:
    """Score of a data-free base on the labelled rows, higher is better: (accuracy,
    mean probability of the true class) or (-mean squared error, 0)."""
    if task == REGRESSION:
        return -float(((base - target) ** 2).mean()), 0.0
    rows = np.arange(len(base))
    return (float((np.argmax(base, axis=1) == target).mean()),
            float(base[rows, target].mean()))


class FeatureAugment(Reuser):
    """A linear model (or, with enough labels, a forest) on [raw features, learnware
    outputs], fitted on the user's labels.

    Parameters
    ----------
    learnwares : sequence of Learnware
    alpha : float or "auto", default "auto"
        L2 regularisation: Ridge's ``alpha``; LogisticRegression's ``C = 1 / alpha``.
        "auto": leave-one-out choice for regression; for classification, stratified
        cross-validation (up to 5 folds) when every class has 2+ labels, else 1.0;
        with routing, K-fold cross-validated accuracy (`offset_logistic`).
    use_raw : bool, default True
        Include the user's raw (standardised) features; False stacks outputs only.
    routing : bool or "auto", default "auto"
        Use the data-free routing of the learnwares' RKME specs (see the module doc):
        "auto" when `can_route` holds, True requires it, False never routes.
    learner : "auto", "linear" or "forest", default "auto"
        What predicts: the linear model; a random forest on the same features plus
        the base (`forest_stack`); or, "auto", the forest only if it beats the linear
        model in cross-validation on the labels (tried from 100 labelled rows on).

    Attributes
    ----------
    model_ : LogisticRegression, Ridge, `offset_logistic.OffsetFit` or None
        The fitted linear model (fitted whatever `learner` is; None when the labels
        were a degenerate draw).
    learner_ : "linear", "forest" or "data-free"
        Which model predicts. "data-free": the labels hold one class (or one row, for
        regression), so nothing is fitted on them and the data-free base predicts;
        `notes_` says so.
    forest_ : RandomForestClassifier, RandomForestRegressor or None
        The fitted forest when `learner_` is "forest".
    cv_scores_ : (float, float) or None
        Mean held-out score (accuracy, or minus the squared error in standardised
        target units) of the linear model and of the forest, when "auto" compared them.
    routed_ : bool
        Whether routing is used.
    base_ : "route" or "average"
        What the model shrinks towards (regression always; classification when routed).
    classes_ : sorted union of the learnwares' classes and the classes in y.
    task_, learnwares_, n_features_in_ : see `Reuser`.
    """

    model_: LogisticRegression | LogisticRegressionCV | Ridge | RidgeCV | ol.OffsetFit | None
    routed_: bool
    base_: str
    learner_: str
    forest_: fs.Forest | None
    cv_scores_: tuple[float, float] | None

    _parameter_constraints: ClassVar[Constraints] = {
        "alpha": [Options(("auto",)), Interval(float, 0, None, closed="neither")],
        "use_raw": [InstanceOf(bool)],
        "routing": [ROUTING],
        "learner": [Options(fs.LEARNERS)],
    }

    def __init__(self, learnwares: Sequence[Learnware] = (), *, alpha: float | str = "auto",
                 use_raw: bool = True, routing: bool | str = "auto",
                 learner: str = "auto") -> None:
        self.learnwares = learnwares
        self.alpha = alpha
        self.use_raw = use_raw
        self.routing = routing
        self.learner = learner

    def fit(self, X: ArrayLike, y: ArrayLike) -> FeatureAugment:
        """Fit the linear model (and, if chosen, the forest) on the labelled rows (X, y);
        returns self."""
        self._validate_params()
        self._setup(self.learnwares)
        x = self._check_x(X)
        self.routed_ = bool(self.routing) and (self.routing is True
                                               or can_route(self.learnwares_))
        if self.routed_:
            self.selector_ = JobSelector(self.learnwares_).fit()
        self.base_ = AVERAGE
        self.learner_, self.forest_, self.cv_scores_ = fs.LINEAR, None, None
        self.scaler_ = StandardScaler().fit(x.rows)
        if self.task_ == REGRESSION:
            target = check_regression_targets(y, x.n)
            self.y_mean_ = target.mean(axis=0)
            spread = target.std(axis=0)
            self.y_scale_ = np.where(spread > 0, spread, 1.0)
            self._n_outputs = target.shape[1]
            scaled = (target - self.y_mean_) / self.y_scale_
            if self.routed_:
                self.base_ = self._choose_base(x, self._regression_outputs(x), scaled)
            if x.n < 2:
                return self._data_free(f"y: {x.n} labelled row; nothing to fit on")
            feats, base = self._regression_features(x)
            resid = scaled - base
            self._fit_ridge(feats, resid)
            self._choose_learner(feats, base, resid, self._ridge_fold(feats, resid))
            return self
        labels = check_class_targets(y, x.n, self.classes_)
        self.classes_ = class_union(self.learnwares_, labels)
        column = label_positions(labels, class_index(self.classes_), "y")
        if self.routed_:
            self.base_ = self._choose_base(x, self._class_outputs(x), column)
        if len(set(labels)) < 2:
            return self._data_free(f"y: the labels hold one class ({labels[0]!r}); a model "
                                   "cannot learn to tell classes apart from them")
        feats, base = self._class_stack(x)
        if self.routed_:
            self._fit_offset(feats, ol.log_base(base), column)
            linear_fold = self._offset_fold(feats, ol.log_base(base), column)
        else:
            self._fit_logistic(feats, labels)
            linear_fold = self._logistic_fold(feats, labels)
        self._choose_learner(feats, base, column, linear_fold)
        return self

    def _data_free(self, why: str) -> FeatureAugment:
        """Fit nothing on a degenerate label draw: predict the data-free base, with a note."""
        self.model_ = None
        self.learner_ = DATA_FREE
        what = "routed mixture" if self.base_ == ROUTE else "average"
        self._note(f"{why}: predicted the learnwares' data-free {what} instead")
        return self

    def _fit_ridge(self, feats: Array, resid: Array) -> None:
        ridge = (RidgeCV(alphas=AUTO_ALPHAS) if self.alpha == "auto"
                 else Ridge(alpha=float(self.alpha)))
        self.model_ = ridge.fit(feats, resid)

    def _fit_offset(self, feats: Array, offset: Array, column: NDArray[np.intp]) -> None:
        if self.alpha == "auto":
            self.model_ = ol.fit_cv(feats, offset, column)
        else:
            coef = ol.fit_coef(feats, offset, column, float(self.alpha))
            self.model_ = ol.OffsetFit(coef, float(self.alpha), float("nan"))

    def _fit_logistic(self, feats: Array, labels: list[Any]) -> None:
        target = as_label_array(labels)
        folds = min(5, min(Counter(labels).values()))
        if self.alpha == "auto" and folds >= 2:
            cv = LogisticRegressionCV(
                Cs=1.0 / AUTO_ALPHAS, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                scoring="neg_log_loss", max_iter=2000)
            with warnings.catch_warnings():  # scikit-learn 1.9 announces API changes
                warnings.simplefilter("ignore", FutureWarning)
                self.model_ = cv.fit(feats, target)
        else:
            alpha = 1.0 if self.alpha == "auto" else float(self.alpha)
            self.model_ = LogisticRegression(C=1.0 / alpha, max_iter=2000).fit(feats, target)

    # Each *_fold returns `forest_stack.held_out`'s fit_predict for the linear model at
    # the hyperparameter already chosen on all rows (so no nested search: cheaper,
    # and if anything optimistic for the linear model, i.e. conservative for the forest).

    def _ridge_fold(self, feats: Array, resid: Array) -> FoldFit:
        model = self.model_
        assert isinstance(model, Ridge | RidgeCV)
        alpha = float(model.alpha_ if isinstance(model, RidgeCV) else model.alpha)

        def run(train: NDArray[np.intp], test: NDArray[np.intp]) -> Array:
            ridge = Ridge(alpha=alpha).fit(feats[train], resid[train])
            return np.asarray(ridge.predict(feats[test]), dtype=np.float64)
        return run

    def _offset_fold(self, feats: Array, offset: Array, column: NDArray[np.intp]) -> FoldFit:
        model = self.model_
        assert isinstance(model, ol.OffsetFit)

        def run(train: NDArray[np.intp], test: NDArray[np.intp]) -> Array:
            coef = ol.fit_coef(feats[train], offset[train], column[train], model.alpha,
                               model.coef)  # warm start: the problem is strictly convex
            return ol.predict_proba(coef, feats[test], offset[test])
        return run

    def _logistic_fold(self, feats: Array, labels: list[Any]) -> FoldFit:
        model = self.model_
        assert isinstance(model, LogisticRegression | LogisticRegressionCV)
        c = float(model.C_[0] if isinstance(model, LogisticRegressionCV) else model.C)
        target, index = as_label_array(labels), class_index(self.classes_)

        def run(train: NDArray[np.intp], test: NDArray[np.intp]) -> Array:
            out = np.zeros((len(test), len(self.classes_)))
            if len(set(target[train].tolist())) < 2:  # a fold with one class: predict it
                out[:, label_positions(target[train][:1], index, "y")] = 1.0
                return out
            fold = LogisticRegression(C=c, max_iter=2000).fit(feats[train], target[train])
            out[:, label_positions(fold.classes_, index, "classes")] = \
                fold.predict_proba(feats[test])
            return out
        return run

    def _choose_learner(self, feats: Array, base: Array, target: Array | NDArray[np.intp],
                        linear_fold: FoldFit) -> None:
        """Set `learner_`, `forest_` and `cv_scores_` (see the class doc)."""
        classify = self.task_ != REGRESSION
        n_classes = len(self.classes_) if classify else 0
        stack = np.hstack([feats, base])
        self.learner_, self.forest_, self.cv_scores_ = fs.LINEAR, None, None
        if self.learner == fs.LINEAR or (self.learner == "auto"
                                         and len(feats) < fs.MIN_LABELS):
            return
        if self.learner == "auto":
            splits = fs.folds(len(feats))
            linear = fs.held_out(linear_fold, target, splits, classify)
            forest = fs.held_out(fs.forest_fold(stack, target, classify, n_classes),
                                 target, splits, classify)
            self.cv_scores_ = (float(linear.mean()), float(forest.mean()))
            if not fs.forest_wins(forest, linear):
                return
        self.learner_ = fs.FOREST
        self.forest_ = fs.fit(classify, stack, target)

    def _choose_base(self, x: UserInputs, outs: Array, target: Array | NDArray[np.intp]
                     ) -> str:
        """The better data-free base on the labelled rows; ties go to routing."""
        routed = self._mix(outs, self.selector_.route_proba(x))
        if _base_key(self.task_, routed, target) >= _base_key(self.task_, outs.mean(axis=0),
                                                              target):
            return ROUTE
        return AVERAGE

    @staticmethod
    def _mix(outs: Array, post: Array) -> Array:
        """Routed mixture: sum_j p(j | x) * output_j(x), outs of shape (J, n, k)."""
        return np.asarray(np.einsum("nj,jnk->nk", post, outs))

    def _base_and_parts(self, x: UserInputs, outs: Array) -> tuple[Array, list[Array]]:
        """The base and the extra features routing brings (its posteriors)."""
        if not self.routed_:
            return outs.mean(axis=0), []
        post = self.selector_.route_proba(x)
        base = self._mix(outs, post) if self.base_ == ROUTE else outs.mean(axis=0)
        return base, [post]

    def _class_outputs(self, x: UserInputs) -> Array:
        return np.stack([self._output(lw, x.rows) for lw in self.learnwares_])

    def _class_stack(self, x: UserInputs) -> tuple[Array, Array]:
        """Classification features ([raw, outputs] and, routed, the posteriors) and the
        base's probabilities (routed: the chosen base; else the learnwares' average)."""
        outs = self._class_outputs(x)
        base, extra = self._base_and_parts(x, outs)
        parts = [self.scaler_.transform(x.rows)] if self.use_raw else []
        return np.hstack([*parts, *outs, *extra]), base

    def _regression_outputs(self, x: UserInputs) -> Array:
        """Every learnware's outputs in standardised target units, shape (J, n, k)."""
        outs = []
        for lw in self.learnwares_:
            out = self._output(lw, x.rows)
            if out.shape[1] != self._n_outputs:
                raise ReuseError(f"learnware {lw.id}: predicts {out.shape[1]} output(s) "
                                 f"per row, y has {self._n_outputs}")
            outs.append((out - self.y_mean_) / self.y_scale_)
        return np.stack(outs)

    def _regression_features(self, x: UserInputs) -> tuple[Array, Array]:
        """Stack features (outputs as deviations from the base, routing posteriors)
        and the base, all in standardised target units."""
        outs = self._regression_outputs(x)
        base, extra = self._base_and_parts(x, outs)
        parts = [self.scaler_.transform(x.rows)] if self.use_raw else []
        parts.extend(out - base for out in outs)
        return np.hstack([*parts, *extra]), base

    def _check_ready(self, X: ArrayLike | UserInputs) -> UserInputs:
        x = self._check_x(X)
        if not hasattr(self, "learner_"):
            raise ReuseError("FeatureAugment is not fitted: call fit(X, y) first")
        return x

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class names or regression outputs of the fitted learner."""
        x = self._check_ready(X)
        if self.task_ != REGRESSION:
            return self._decide(self.predict_proba(x))
        feats, base = self._regression_features(x)
        if self.learner_ == DATA_FREE:
            out = np.zeros_like(base)
        elif self.forest_ is not None:
            out = fs.predict(self.forest_, np.hstack([feats, base]), 0)
        else:
            model = self.model_
            assert isinstance(model, Ridge | RidgeCV)
            out = np.asarray(model.predict(feats), dtype=np.float64)
        out = (out.reshape(x.n, self._n_outputs) + base) * self.y_scale_ + self.y_mean_
        return self._decide(out)

    @available_if(_is_classifier)
    def predict_proba(self, X: ArrayLike) -> Array:
        """Probabilities over `classes_`: 0 for classes absent from the user's labels
        when the forest or the unrouted linear model answers; the routed linear model
        keeps some probability for every class of `classes_`."""
        x = self._check_ready(X)
        feats, base = self._class_stack(x)
        if self.learner_ == DATA_FREE:
            return base
        if self.forest_ is not None:
            return fs.predict(self.forest_, np.hstack([feats, base]), len(self.classes_))
        if isinstance(self.model_, ol.OffsetFit):
            return ol.predict_proba(self.model_.coef, feats, ol.log_base(base))
        assert isinstance(self.model_, LogisticRegression | LogisticRegressionCV)
        proba = self.model_.predict_proba(feats)
        cols = label_positions(self.model_.classes_, class_index(self.classes_), "classes")
        out = np.zeros((x.n, len(self.classes_)))
        out[:, cols] = proba
        return out
