"""`Averaging`: the data-free ensemble — every learnware answers, answers are averaged.

It needs nothing from the user but the rows to predict on, which makes it the
baseline every other reuser must beat: when the user's task is covered by several
learnwares equally, averaging is hard to improve on; when each learnware covers a
different part of the user's data, `JobSelector` routes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils.metaestimators import available_if

from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.params import Constraints
from engine.reuse.base import VOTING, Array, Reuser, _is_classifier


def weighted_mean(outputs: Sequence[Array], weights: Array) -> Array:
    """``sum_j w_j * out_j / sum_j w_j``; outputs must share one shape."""
    shapes = {o.shape for o in outputs}
    if len(shapes) > 1:
        raise ReuseError(f"learnwares: outputs of different shapes {sorted(shapes)} cannot "
                         "be averaged")
    total = np.zeros_like(outputs[0])
    for out, w in zip(outputs, weights, strict=True):
        total += w * out
    return total / float(weights.sum())


class Averaging(Reuser):
    """Average the learnwares' outputs, optionally weighted by mixture weights.

    Classification: ``voting="soft"`` averages probabilities aligned by class name
    (a learnware without ``predict_proba`` contributes a one-hot vote);
    ``voting="hard"`` counts (weighted) votes of each learnware's ``predict``, ties
    going to the first class in sorted order. Regression: the (weighted) mean.

    Parameters
    ----------
    learnwares : sequence of Learnware
    weights : array of shape (n_learnwares,), optional
        Mixture weights (e.g. from search); None weighs learnwares equally.
    voting : {"soft", "hard"}, default "soft"

    Attributes
    ----------
    classes_, task_, weights_, learnwares_, n_features_in_ : see `Reuser`.
    """

    _parameter_constraints: ClassVar[Constraints] = {"voting": [VOTING]}

    def __init__(self, learnwares: Sequence[Learnware] = (), *,
                 weights: ArrayLike | None = None, voting: str = "soft") -> None:
        self.learnwares = learnwares
        self.weights = weights
        self.voting = voting

    def fit(self, X: ArrayLike | None = None, y: object = None) -> Averaging:
        """Validate the learnwares and weights (and X's width if given); returns self.

        Data-free: `y` is ignored and present only for API consistency.
        """
        self._validate_params()
        self._voting = str(self.voting)
        self._setup(self.learnwares, self.weights)
        if X is not None:
            self._check_x(X)
        return self

    def _scores(self, X: ArrayLike) -> Array:
        x = self._check_x(X).rows
        live = [(lw, w) for lw, w in zip(self.learnwares_, self.weights_, strict=True) if w > 0]
        outputs = [self._output(lw, x, self._voting) for lw, _ in live]
        return weighted_mean(outputs, np.array([w for _, w in live]))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class names (classification) or mean outputs (regression), one per row."""
        return self._decide(self._scores(X))

    @available_if(_is_classifier)
    def predict_proba(self, X: ArrayLike) -> Array:
        """Averaged probabilities (soft) or vote shares (hard), columns = `classes_`."""
        return self._scores(X)
