"""A random forest on `FeatureAugment`'s stacked features, kept only when it beats the
linear model in cross-validation.

`FeatureAugment`'s linear model (shrunk towards a data-free base) wins on few
labels, but cannot bend: on MNIST class subsets with 500 labels it had error 0.070
where a random forest on the raw pixels alone had 0.066. A forest on the *same*
stacked features — raw features, the learnwares' aligned outputs, routing
posteriors and the base's answer — combines what the learnwares know with a
nonlinear fit of the user's labels.

Whether the labels support it is decided on the labels alone, by K-fold
cross-validation on one set of folds for both learners: the forest is kept if its
mean paired per-row gain over the linear model — held-out correctness for
classification, held-out squared error (standardised targets) for regression — is
positive. The margin is zero on purpose:

- the two are equals, both fitted on the same labels, and an error point costs the
  same whichever way the choice goes wrong, so the choice with the least expected
  error is the higher estimate. A one-sided 5 % test (what `offset_logistic` uses
  before letting a few labels overrule the *data-free* base, which carries outside
  knowledge) would keep a forest that is truly better by about one standard error
  of the gain out most of the time: its worst expected loss is ~0.84 standard
  errors against ~0.17 for the plain comparison. On MNIST class subsets it kept
  the forest for 7 of 20 users at 500 labels (error 0.065) where the comparison
  kept it for 16 (0.059); the forest alone had 0.056, the linear model 0.070;
- the linear model is scored at the penalty it chose on these very folds, so its
  estimate is optimistic and the comparison already leans its way.

The comparison is run only from ``MIN_LABELS`` labelled rows on. Its standard
error is about ``sqrt(d / n)`` for n held-out rows on which the two disagree a share
d of the time: 4.5 accuracy points at n = 50, d = 0.1, more than a forest on so few
rows typically gains (in this project's three experiments a forest on the labels
alone beat the linear model at 100 labels or fewer only once, by 0.004 RMSE), so
below the threshold the choice would mostly follow noise, and cost six forest fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import KFold

Array = NDArray[np.float64]
Folds = list[tuple[NDArray[np.intp], NDArray[np.intp]]]

#: Fewest labelled rows on which "auto" compares the forest with the linear model.
MIN_LABELS = 100
N_TREES = 100
N_FOLDS = 5
LINEAR, FOREST = "linear", "forest"
LEARNERS = ("auto", LINEAR, FOREST)

Forest: TypeAlias = RandomForestClassifier | RandomForestRegressor


def make_forest(classify: bool) -> Forest:
    """Default forest (seeded, one thread): chosen before seeing any benchmark, not tuned."""
    if classify:
        return RandomForestClassifier(N_TREES, random_state=0, n_jobs=1)
    return RandomForestRegressor(N_TREES, random_state=0, n_jobs=1)


def folds(n: int) -> Folds:
    """The shared folds (the same split `offset_logistic.fit_cv` uses)."""
    return list(KFold(min(N_FOLDS, n), shuffle=True, random_state=0).split(np.zeros(n)))


def held_out(fit_predict: Callable[[NDArray[np.intp], NDArray[np.intp]], Array],
             target: Array | NDArray[np.intp], splits: Folds, classify: bool) -> Array:
    """Per-row held-out score, higher is better: 1/0 correct (``fit_predict`` returns
    class-position probabilities) or minus the squared error summed over outputs."""
    score = np.zeros(len(target))
    for train, test in splits:
        pred = fit_predict(train, test)
        if classify:
            score[test] = np.argmax(pred, axis=1) == target[test]
        else:
            err = pred.reshape(target[test].shape) - target[test]
            score[test] = -(err ** 2).reshape(len(test), -1).sum(axis=1)
    return score


def forest_fold(feats: Array, target: Array | NDArray[np.intp], classify: bool,
                n_classes: int) -> Callable[[NDArray[np.intp], NDArray[np.intp]], Array]:
    """`held_out`'s fit_predict for the forest."""
    def run(train: NDArray[np.intp], test: NDArray[np.intp]) -> Array:
        return predict(fit(classify, feats[train], target[train]), feats[test], n_classes)
    return run


def fit(classify: bool, feats: Array, target: Array | NDArray[np.intp]) -> Forest:
    """A fitted `make_forest` (a single regression output as a 1-D target)."""
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    return make_forest(classify).fit(feats, target)


def predict(forest: Forest, feats: Array, n_classes: int) -> Array:
    """Class-position probabilities (width n_classes; 0 for classes the forest never
    saw) or regression outputs as an (n, k) matrix."""
    if isinstance(forest, RandomForestClassifier):
        out = np.zeros((len(feats), n_classes))
        out[:, forest.classes_] = forest.predict_proba(feats)
        return out
    return np.asarray(forest.predict(feats), dtype=np.float64).reshape(len(feats), -1)


def forest_wins(forest: Array, linear: Array) -> bool:
    """Whether the forest's per-row held-out scores beat the linear model's on average
    (see the module doc for why there is no further margin)."""
    return bool((forest - linear).mean() > 0)
