"""Exact quadratic programs on the probability simplex.

RKME weights and mixture weights both solve

    minimise  w^T Q w - 2 c^T w   subject to  w >= 0,  sum(w) = 1

with Q a (PSD) Gram matrix of at most a few hundred rows. cvxpy solves this in
~10-50 ms per call; this solver takes well under a millisecond at K = 100, and the
test suite checks it against cvxpy on random and degenerate problems.

Method: accelerated projected gradient (FISTA with restarts) to find the support,
then an exact polish on that support (KKT linear system), kept only if it is
feasible and lowers the objective.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from engine.kernel import blas_threads_for

Array = NDArray[np.float64]


def project_simplex(v: Array) -> Array:
    """Euclidean projection onto the probability simplex (sort-based, O(n log n))."""
    n = v.size
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    idx = np.arange(1, n + 1)
    rho = np.nonzero(u - css / idx > 0)[0][-1]
    theta = css[rho] / (rho + 1.0)
    return np.maximum(v - theta, 0.0)


def objective(q: Array, c: Array, w: Array) -> float:
    return float(w @ q @ w - 2.0 * c @ w)


def _polish(q: Array, c: Array, w: Array) -> Array | None:
    """Solve the KKT system on w's support; None if the result is infeasible."""
    s = np.flatnonzero(w > 1e-12)
    k = s.size
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = 2.0 * q[np.ix_(s, s)]
    kkt[:k, k] = 1.0
    kkt[k, :k] = 1.0
    rhs = np.concatenate([2.0 * c[s], [1.0]])
    try:
        sol = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:  # singular Gram (duplicated points): least squares
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    ws = sol[:k]
    if not np.all(np.isfinite(ws)) or ws.min() < 0:
        return None
    out = np.zeros_like(w)
    out[s] = ws
    return out / out.sum()


def _is_optimal(q: Array, c: Array, w: Array, tol: float) -> bool:
    """KKT conditions: equal gradient on the support, no smaller gradient off it."""
    g = 2.0 * (q @ w - c)
    support = w > 1e-12
    lam = float(g[support].mean())
    scale = tol * (1.0 + float(np.abs(g).max()))
    if np.abs(g[support] - lam).max() > scale:
        return False
    return bool((~support).sum() == 0 or g[~support].min() >= lam - scale)


def simplex_qp(q: Array, c: Array, *, tol: float = 1e-9, max_iter: int = 5000) -> Array:
    """Minimise ``w^T q w - 2 c^T w`` over the probability simplex.

    Parameters
    ----------
    q : (K, K) symmetric positive semi-definite matrix.
    c : (K,) vector.

    Returns
    -------
    w : (K,) non-negative weights summing to 1.
    """
    with blas_threads_for(0):  # always small: one thread (see kernel.SMALL_WORK)
        return _simplex_qp(q, c, tol, max_iter)


ENUMERATE_UP_TO = 8
"""Problems this small (mixture weights: at most a few members) are solved exactly by
trying every support: near-duplicate learnwares make their Gram matrix so
ill-conditioned that projected gradient needed its full 5,000 iterations on a
quarter of real mixture queries (75-150 ms each); 255 tiny KKT solves take ~2 ms."""


@functools.cache
def _supports(k: int) -> tuple[tuple[int, NDArray[np.intp]], ...]:
    """Every non-empty support of k variables, by mask (bit i: variable i), as
    (mask, sorted indices)."""
    return tuple((mask, np.flatnonzero([(mask >> i) & 1 for i in range(k)]))
                 for mask in range(1, 2**k))


def _kkt_solutions(q: Array, c: Array, sets: NDArray[np.intp]) -> Array | None:
    """KKT solutions (weights, then the multiplier) of n problems (q: n x k x k, c:
    n x k) on g supports of one size (sets: g x size), solved together: n x g x
    (size + 1); None when one system is singular (the caller solves one by one)."""
    n = len(c)
    g, size = sets.shape
    kkt = np.zeros((n, g, size + 1, size + 1))
    kkt[:, :, :size, :size] = 2.0 * q[:, sets[:, :, None], sets[:, None, :]]
    kkt[:, :, :size, size] = 1.0
    kkt[:, :, size, :size] = 1.0
    rhs = np.ones((n, g, size + 1, 1))
    rhs[:, :, :size, 0] = 2.0 * c[:, sets]
    try:
        return np.linalg.solve(kkt, rhs)[..., 0]
    except np.linalg.LinAlgError:
        return None


def _by_supports(q: Array, c: Array) -> Array:
    """Exact minimiser: the best feasible KKT solution over every non-empty support."""
    return _by_supports_many(q[None], c[None])[0]


def _by_supports_many(q: Array, c: Array) -> Array:
    """`_by_supports` of n problems of one size (q: n x k x k, c: n x k) at once.

    The KKT systems of every problem and support of one size are solved in one
    batched call (the greedy mixture solves ~20 problems of 2-3 variables a search,
    and one call per support cost more in overhead than in arithmetic); each
    problem's supports are then compared in mask order, as one loop over them
    would, so the weights are those of solving each system on its own."""
    n, k = c.shape
    supports = _supports(k)
    solved: dict[int, Array | None] = {}
    for size in range(1, k + 1):
        group = [(i, mask, s) for i, (mask, s) in
                 enumerate(item for item in supports if item[1].size == size)]
        sols = _kkt_solutions(q, c, np.array([s for _, _, s in group]))
        for i, mask, _ in group:
            solved[mask] = None if sols is None else sols[:, i, :size]
    out = np.empty((n, k))
    for p in range(n):
        best, best_f = np.full(k, 1.0 / k), np.inf
        for mask, s in supports:
            batch = solved[mask]
            if batch is None:  # a singular system in its batch: this support on its own
                w = _polish(q[p], c[p], np.isin(np.arange(k), s).astype(float))
            else:
                ws = batch[p]
                if not np.all(np.isfinite(ws)) or ws.min() < 0:
                    continue
                w = np.zeros(k)
                w[s] = ws
                w /= w.sum()
            if w is not None:
                f = objective(q[p], c[p], w)
                if f < best_f:
                    best, best_f = w, f
        out[p] = best
    return out


def simplex_qp_many(q: Array, c: Array) -> Array:
    """`simplex_qp` of n problems of one size (q: n x k x k, c: n x k); n x k weights,
    equal to solving each problem on its own. Problems of at most `ENUMERATE_UP_TO`
    variables are solved together (`_by_supports_many`)."""
    q = np.asarray(q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if c.ndim != 2 or q.shape != (*c.shape, c.shape[1]):
        raise ValueError(f"q must be (n, k, k) and c (n, k), got {q.shape} and {c.shape}")
    n, k = c.shape
    if n == 0 or not 1 < k <= ENUMERATE_UP_TO:
        return np.array([simplex_qp(qi, ci) for qi, ci in zip(q, c, strict=True)]
                        ).reshape(n, k)
    with blas_threads_for(0):
        return _by_supports_many(q, c)


def _simplex_qp(q: Array, c: Array, tol: float, max_iter: int) -> Array:
    q = np.asarray(q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    k = c.size
    if q.shape != (k, k):
        raise ValueError(f"q must be ({k}, {k}), got {q.shape}")
    if k == 1:
        return np.ones(1)
    if k <= ENUMERATE_UP_TO:
        return _by_supports(q, c)
    lip = 2.0 * float(np.linalg.eigvalsh(q)[-1])
    if lip <= 0:
        return np.full(k, 1.0 / k)
    step = 1.0 / lip
    w = project_simplex(c / max(float(np.abs(c).sum()), 1e-300))
    y, t = w.copy(), 1.0
    f_prev = objective(q, c, w)
    support, stable = w > 0, 0
    for it in range(max_iter):
        # Once the support has stopped changing, try to finish exactly on it.
        if stable in (5, 25, 100, 400) or it == max_iter - 1:
            polished = _polish(q, c, w)
            if polished is not None and _is_optimal(q, c, polished, tol):
                return polished
        grad = 2.0 * (q @ y - c)
        w_new = project_simplex(y - step * grad)
        f_new = objective(q, c, w_new)
        if f_new > f_prev:  # adaptive restart keeps FISTA monotone
            y, t = w.copy(), 1.0
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = w_new + ((t - 1.0) / t_new) * (w_new - w)
        delta = float(np.abs(w_new - w).max())
        new_support = w_new > 0
        stable = stable + 1 if np.array_equal(new_support, support) else 0
        support = new_support
        w, t, f_prev = w_new, t_new, f_new
        if delta < 1e-14:
            break
    polished = _polish(q, c, w)
    if polished is not None and objective(q, c, polished) <= f_prev + 1e-15:
        w = polished
    return w
