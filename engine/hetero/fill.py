"""Put user rows into a learnware's feature space: copy mapped columns, estimate the rest.

A learnware column that none of the user's columns feeds is *estimated from the
learnware's own specification*: its RKME is a weighted sample (Z, beta) of the
distribution the model was trained on, so it says what the missing column usually
is *given* the columns the user does have. Zeros would be wrong twice: a value the
model never saw, and one that ignores what the user's other columns imply.

Methods (``fill=``):

``"linear"`` (default)
    The Gaussian conditional mean from the points' weighted mean and covariance:
    ``x_M = mu_M + S_MO (S_OO + lambda I)^-1 (x_O - mu_O)``. Smooth, never wild far
    from the data, and exact when the columns are jointly Gaussian. The ridge
    ``lambda`` (a small share of the average observed variance) keeps it stable when
    the observed columns are nearly collinear or few points are given.
``"kernel"``
    Nadaraya-Watson over the points, ``x_M = sum_k w_k(x_O) z_kM`` with
    ``w_k ∝ beta_k exp(-||x_O - z_kO||^2 / (2 h^2))`` and Silverman's bandwidth on
    the observed columns: follows non-linear dependence, falls back towards the
    nearest points far from the data.
``"mean"``
    The weighted column means: ignores the observed columns (a baseline).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SearchError
from engine.hetero.mapping import ColumnMapping
from engine.params import Options, check_param

Array = NDArray[np.float64]

FILL_METHODS = ("linear", "kernel", "mean")
RIDGE = 1e-2
MAX_EXPANDED = 1000


def check_fill(fill: object) -> str:
    check_param("fill", fill, [Options(FILL_METHODS)], SearchError)
    return str(fill)


class ConditionalFill:
    """Estimates of a learnware's missing columns given its observed ones.

    Parameters
    ----------
    points, weights : the learnware's RKME (K x d points on the simplex weights).
    observed : indices of the learnware columns the user provides.
    fill : ``"linear"``, ``"kernel"`` or ``"mean"`` (see module docstring).
    """

    def __init__(self, points: Array, weights: Array, observed: NDArray[np.int64],
                 fill: str = "linear") -> None:
        self.fill = check_fill(fill)
        z = np.asarray(points, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        w = w / w.sum()
        d = z.shape[1]
        self.observed = np.asarray(observed, dtype=np.int64)
        self.missing = np.setdiff1d(np.arange(d), self.observed)
        self.dim = d
        self._z, self._w = z, w
        self.mean_ = w @ z
        zo, zm = z[:, self.observed], z[:, self.missing]
        if self.fill == "linear" and len(self.observed) and len(self.missing):
            co = zo - self.mean_[self.observed]
            cm = zm - self.mean_[self.missing]
            s_oo = (co * w[:, None]).T @ co
            s_mo = (cm * w[:, None]).T @ co
            lam = RIDGE * max(float(np.trace(s_oo)) / len(self.observed), 1e-12)
            self.coef_ = np.linalg.solve(s_oo + lam * np.eye(len(self.observed)), s_mo.T).T
        elif self.fill == "kernel" and len(self.observed):
            n_eff = 1.0 / float(np.sum(w**2))
            q = len(self.observed)
            sigma = np.sqrt(np.maximum(w @ (zo - self.mean_[self.observed]) ** 2, 1e-12))
            h = (4.0 / (q + 2)) ** (1.0 / (q + 4)) * n_eff ** (-1.0 / (q + 4))
            # Columns are scaled by their spread so one bandwidth suits them all.
            self._scale = sigma
            self._gamma = 1.0 / (2.0 * h * h)

    def complete(self, x_observed: Array) -> Array:
        """Full rows in the learnware's space: observed columns as given, the rest
        estimated. `x_observed` has one column per entry of `observed`."""
        x = np.asarray(x_observed, dtype=np.float64)
        out = np.empty((len(x), self.dim))
        out[:, self.observed] = x
        if not len(self.missing):
            return out
        mu_m = self.mean_[self.missing]
        if self.fill == "mean" or not len(self.observed):
            out[:, self.missing] = mu_m
        elif self.fill == "linear":
            out[:, self.missing] = mu_m + (x - self.mean_[self.observed]) @ self.coef_.T
        else:
            zo = self._z[:, self.observed] / self._scale
            logits = -self._gamma * kernel.sq_dists(x / self._scale, zo) + np.log(
                np.maximum(self._w, 1e-300))
            logits -= logits.max(axis=1, keepdims=True)
            resp = np.exp(logits)
            resp /= resp.sum(axis=1, keepdims=True)
            out[:, self.missing] = resp @ self._z[:, self.missing]
        return out


    def residuals(self, max_draws: int) -> tuple[Array, Array]:
        """Draws of the missing columns' deviation from their conditional estimate:
        the learnware's own points minus their estimate, with their weights; at most
        `max_draws`, chosen by systematic resampling on the weights (deterministic)."""
        z = self._z
        r = z[:, self.missing] - self.complete(z[:, self.observed])[:, self.missing]
        w = self._w
        if len(r) <= max_draws:
            return r, w
        picks = np.searchsorted(np.cumsum(w), (np.arange(max_draws) + 0.5) / max_draws)
        return r[np.minimum(picks, len(r) - 1)], np.full(max_draws, 1.0 / max_draws)

    def expand(self, x_observed: Array, weights: Array, max_points: int = MAX_EXPANDED
               ) -> tuple[Array, Array]:
        """A weighted sample of the conditional *distribution*: every row becomes
        several rows whose missing columns are its estimate plus one of the
        learnware's residual draws (weights multiply). Compared by MMD with the
        learnware's points, this keeps the spread the missing columns really have,
        so the comparison measures disagreement on the shared columns rather than the
        variance an estimate always lacks."""
        x = np.asarray(x_observed, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        est = self.complete(x)
        if not len(self.missing) or self.fill == "mean":
            return est, w
        r, rw = self.residuals(max(1, max_points // max(len(x), 1)))
        n, m = len(x), len(r)
        out = np.repeat(est, m, axis=0)
        out[:, self.missing] += np.tile(r, (n, 1))
        return out, np.outer(w, rw).ravel()


class SpaceMap:
    """User rows -> rows in a learnware's feature space, by a `ColumnMapping` and a
    `ConditionalFill` from the learnware's RKME points."""

    def __init__(self, mapping: ColumnMapping, points: Array, weights: Array,
                 fill: str = "linear") -> None:
        if len(mapping.learnware_columns) != np.shape(points)[1]:
            raise SearchError(f"mapping: {len(mapping.learnware_columns)} learnware columns, "
                              f"its spec has {np.shape(points)[1]}")
        self.mapping = mapping
        src = mapping.source()
        self._observed = np.flatnonzero(src >= 0)
        self._user_cols = src[self._observed]
        self.filler = ConditionalFill(points, weights, self._observed, fill)

    @property
    def n_user_columns(self) -> int:
        return len(self.mapping.user_columns)

    def transform(self, x_user: Array) -> Array:
        """(n, user columns) -> (n, learnware columns)."""
        x = np.asarray(x_user, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_user_columns:
            raise SearchError(f"X: expected {self.n_user_columns} user columns, got shape "
                              f"{x.shape}")
        return self.filler.complete(x[:, self._user_cols])

    def expand(self, x_user: Array, weights: Array, max_points: int = MAX_EXPANDED
               ) -> tuple[Array, Array]:
        """Weighted user points -> a weighted sample in the learnware's space, missing
        columns drawn from the learnware's conditional (`ConditionalFill.expand`)."""
        x = np.asarray(x_user, dtype=np.float64)
        return self.filler.expand(x[:, self._user_cols], weights, max_points)
