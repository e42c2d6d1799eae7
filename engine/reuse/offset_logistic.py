"""Multinomial logistic regression on top of a fixed base prediction (an offset).

``FeatureAugment`` corrects a data-free answer with the user's labels. Plain
logistic regression shrinks towards *uniform* class probabilities, so with few
labels it throws away what the learnwares know (MNIST class subsets: error 0.55 on
10 labels, where routing alone has 0.13). Here the class scores are

    s_c(x) = log b_c(x) + w_c . phi(x) + v_c

with ``b`` the base probabilities (smoothed: ``(1 - eps) b + eps / C``, so that a
class the base rules out can still be learnt from labels) and an L2 penalty
``alpha / 2 * (|w|^2 + |v|^2)`` on everything that is fitted, intercepts included:
a large alpha gives back the base exactly, a small one lets the labels learn the
user's own linear model on top of it. The class set is fixed in advance (the
union of the learnwares' classes and the user's), so a fold that lacks a class can
still be scored.

``alpha`` is chosen by K-fold cross-validation over a grid, scored by (accuracy,
mean probability of the true class) on the held-out rows — the quantity the user
cares about, with the probability breaking accuracy's many ties on few labels;
remaining ties go to the stronger penalty (closer to the base). On few labels
that score is noisy, and a lucky fold would let 10 labels overrule a base that
knows better; so the best penalty is kept only if it beats the strongest one (the
base, in effect) significantly: its paired per-row gain in held-out accuracy must
exceed ``Z_GAIN`` standard errors (a one-sided test at the 5 % level of "do the
labels improve on the base at all?"; on 30 synthetic labels a plain argmax let a
lucky fold pick a model 8 points worse than the base). The path runs from strong to weak
penalty with warm starts, like scikit-learn's LogisticRegressionCV.

Fitting is L-BFGS on the exact gradient (scipy); the problem is strictly convex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import softmax
from sklearn.model_selection import KFold

Array = NDArray[np.float64]

#: Share of the base's probability spread evenly over the classes (see module doc).
BASE_SMOOTHING = 0.1
#: Penalties tried, strongest first (the first is, in effect, the base alone).
ALPHAS = np.logspace(5, -2, 15)
MAX_ITER = 500
#: One-sided 5 % normal quantile: how sure the labels must be that they beat the base.
Z_GAIN = 1.645


def log_base(base: Array, eps: float = BASE_SMOOTHING) -> Array:
    """Log of the smoothed base probabilities, shape (n, C)."""
    return np.log((1.0 - eps) * base + eps / base.shape[1])


def _logsumexp_rows(z: Array) -> Array:
    """``scipy.special.logsumexp(z, axis=1)`` of finite real `z`, the same floats: step
    for step as scipy computes it (1.17), each row's maximum kept out of the sum and
    added back through log1p; without its array-API dispatch, which was 80 % of the time
    of a fit on few labels (L-BFGS calls the objective thousands of times on tiny arrays).
    """
    top = z.max(axis=1, keepdims=True)
    at_top = z == top
    count = at_top.sum(axis=1, keepdims=True, dtype=z.dtype)
    rest = np.exp(np.where(at_top, -np.inf, z) - top).sum(axis=1, keepdims=True)
    rest = np.where(rest == 0, rest, rest / count)
    out: Array = (np.log1p(rest) + np.log(count) + top)[:, 0]
    return out


def _objective(theta: Array, feats: Array, offset: Array, target: NDArray[np.intp],
               alpha: float) -> tuple[float, Array]:
    n, d = feats.shape
    coef = theta.reshape(d + 1, offset.shape[1])
    z = offset + feats @ coef[:-1] + coef[-1]
    lse = _logsumexp_rows(z)
    rows = np.arange(n)
    loss = float((lse - z[rows, target]).sum()) + 0.5 * alpha * float((coef ** 2).sum())
    resid = np.exp(z - lse[:, None])
    resid[rows, target] -= 1.0
    grad = np.vstack([feats.T @ resid, resid.sum(axis=0)]) + alpha * coef
    return loss, grad.ravel()


def fit_coef(feats: Array, offset: Array, target: NDArray[np.intp], alpha: float,
             start: Array | None = None) -> Array:
    """Coefficients (d + 1, C) (last row: intercepts) minimising the penalised loss."""
    size = (feats.shape[1] + 1) * offset.shape[1]
    theta0 = np.zeros(size) if start is None else start.ravel()
    result = minimize(_objective, theta0, args=(feats, offset, target, alpha), jac=True,
                      method="L-BFGS-B", options={"maxiter": MAX_ITER})
    return np.asarray(result.x).reshape(feats.shape[1] + 1, offset.shape[1])


def predict_proba(coef: Array, feats: Array, offset: Array) -> Array:
    return np.asarray(softmax(offset + feats @ coef[:-1] + coef[-1], axis=1))


@dataclass(frozen=True)
class OffsetFit:
    """A fitted model: coefficients, the chosen penalty and its cross-validated score."""

    coef: Array
    alpha: float
    cv_accuracy: float


def fit_cv(feats: Array, offset: Array, target: NDArray[np.intp],
           alphas: Array = ALPHAS, n_folds: int = 5, random_state: int = 0) -> OffsetFit:
    """Choose alpha by K-fold cross-validation (see module doc) and refit on all rows.

    With a single row there is nothing to cross-validate: the strongest penalty.
    """
    n = len(feats)
    alphas = np.sort(np.asarray(alphas, dtype=np.float64))[::-1]
    correct = np.zeros((len(alphas), n))
    true_p = np.zeros((len(alphas), n))
    if n >= 2:
        folds = KFold(min(n_folds, n), shuffle=True, random_state=random_state)
        for train, test in folds.split(feats):
            coef = None
            for a, alpha in enumerate(alphas):
                coef = fit_coef(feats[train], offset[train], target[train], alpha, coef)
                p = predict_proba(coef, feats[test], offset[test])
                correct[a, test] = np.argmax(p, axis=1) == target[test]
                true_p[a, test] = p[np.arange(len(test)), target[test]]
    # max() keeps the first of equal keys: ties go to the stronger penalty.
    best = max(range(len(alphas)), key=lambda a: (correct[a].sum(), true_p[a].sum()))
    gain = correct[best] - correct[0]
    if n < 2 or gain.mean() <= Z_GAIN * gain.std() / np.sqrt(n):
        best = 0
    coef = None
    for alpha in alphas[:best + 1]:
        coef = fit_coef(feats, offset, target, float(alpha), coef)
    assert coef is not None
    return OffsetFit(coef, float(alphas[best]), float(correct[best].mean()))
