"""Reduced kernel mean embeddings (RKME): the statistical specification.

An RKME summarises a sample X (n x d) by K weighted points (Z: K x d, beta on the
simplex) whose kernel mean embedding is close to X's: it approximately minimises

    MMD^2(X, (Z, beta)) = beta^T K(Z,Z) beta - 2 beta^T m(Z) + mean K(X,X),
    m_j = mean_i k(z_j, x_i).

Fitting here, by default (private): every point is the mean of a group of at least
`min_rows_per_point` rows (`engine.privacy.grouping`: k-means++ seeding, Lloyd
iterations, small groups dissolved into their neighbours, size-constrained Lloyd
rounds), and only the weights are fitted, by an exact simplex QP. No point is a row
or moves off its group's mean, so a spec can leave its owner's machine.

With ``min_rows_per_point=1`` (for local use only: the points may be rows) the old
fit runs: k-means++ seeding, weights by the QP, then refinement of Z by
preconditioned gradient steps (a mean-shift-like move towards the data plus
repulsion between points), re-solving the weights after each step and keeping a
step only when the MMD^2 falls. Every step is a few BLAS calls over X.

`RKMESpec` is the shared base: image and text specs map their raw inputs to a fixed
vector space (recorded as `space`) and are table RKMEs there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine import kernel
from engine.errors import SpecError
from engine.params import Constraints, Interval, Options, check_param, validate_params
from engine.privacy.grouping import MIN_ROWS_PER_POINT, coarse_count, group_means
from engine.privacy.record import check_privacy_record, privacy_record
from engine.qp import simplex_qp

Array = NDArray[np.float64]

RKME_FORMAT_VERSION = 1
MAX_POINTS = 10_000
MAX_EPSILON = 10.0
"""The largest epsilon the differentially private mode takes (see its constraint)."""
_LLOYD_ITERS = 10
_KMEANS_SAMPLE = 20_000


def check_matrix(x: ArrayLike, what: str = "X", dim: int | None = None) -> Array:
    """Validate a 2-D, finite, non-empty numeric matrix; return it as float64."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{what}: expected a numeric 2-D array ({exc})") from None
    if arr.ndim != 2:
        raise SpecError(f"{what}: expected a 2-D array (n_samples, n_features), got shape "
                        f"{arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SpecError(f"{what}: empty array of shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise SpecError(f"{what}: expected {dim} features, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise SpecError(f"{what}: {bad} NaN or infinite value(s) in array of shape {arr.shape}")
    check_magnitude(arr, what)
    return arr


def check_magnitude(arr: Array, what: str) -> None:
    """Values within ±`kernel.MAX_ABS_VALUE`, or a `SpecError` that says what to do."""
    big = int((np.abs(arr) > kernel.MAX_ABS_VALUE).sum())
    if big:
        raise SpecError(f"{what}: {big} value(s) beyond ±{kernel.MAX_ABS_VALUE:.0e}, too large to "
                        "compare (specs travel as 32-bit floats): rescale those columns, "
                        "e.g. to larger units")


def kmeans_init(x: Array, k: int, rng: np.random.Generator) -> Array:
    """k-means++ seeds plus a few Lloyd iterations, on a subsample for large n."""
    from sklearn.cluster import kmeans_plusplus

    if len(x) > _KMEANS_SAMPLE:
        x = x[rng.choice(len(x), _KMEANS_SAMPLE, replace=False)]
    seed = int(rng.integers(2**31 - 1))
    centres, _ = kmeans_plusplus(x, k, random_state=seed)
    for _ in range(_LLOYD_ITERS):
        assign = np.argmin(kernel.sq_dists(x, centres), axis=1)
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x)
        nonempty = counts > 0
        centres[nonempty] = sums[nonempty] / counts[nonempty, None]
    return np.asarray(centres, dtype=np.float64)


class RKMESpec:
    """Base of every RKME specification: weighted points in a named vector space.

    Subclasses set `kind` and may override `transform` (raw input → vectors) and
    `space` (what must match for two specs to be comparable).
    """

    kind: ClassVar[str] = "rkme"

    _parameter_constraints: ClassVar[Constraints] = {
        "n_points": [Interval(int, 1, MAX_POINTS)],
        "gamma": [Options(("auto",)), Interval(float, 0, kernel.MAX_GAMMA, closed="right")],
        "refine_steps": [Interval(int, 0, None)],
        "min_rows_per_point": [Interval(int, 1, None)],
        # at most MAX_EPSILON: beyond it the guarantee means little, and the
        # accountant's calibration grows with epsilon (3 s at 10, ~5 min at 1000: a
        # request could hold a compute thread that long)
        "epsilon": [Interval(float, 0, MAX_EPSILON, closed="right"), None],
        "delta": [Interval(float, 0, 1, closed="neither"), None],
    }
    _parameter_error: ClassVar[type[Exception]] = SpecError

    points_: Array
    weights_: Array
    gamma_: float
    n_samples_: int
    rows_per_point_: NDArray[np.int64] | None
    """Rows behind each point (private fit only; never serialised: it is the owner's)."""
    privacy_: dict[str, Any] | None
    """The signed statement of how the points were made (`engine.privacy.record`);
    None for a spec read from a map written before the record existed."""

    def __init__(self, *, n_points: int = 100, gamma: float | str = "auto",
                 refine_steps: int = 5, random_state: int | None = None,
                 min_rows_per_point: int = MIN_ROWS_PER_POINT,
                 epsilon: float | None = None, delta: float | None = None,
                 bounds: Any = None) -> None:
        self.n_points = n_points
        self.gamma = gamma
        self.refine_steps = refine_steps
        self.random_state = random_state
        self.min_rows_per_point = min_rows_per_point
        self.epsilon = epsilon
        self.delta = delta
        self.bounds = bounds

    # -- raw input -> comparison space ------------------------------------------------
    def transform(self, x: ArrayLike) -> Array:
        """Map raw input to the vectors the embedding lives on (identity for tables)."""
        vectors = self._to_vectors(x)
        self._check_fitted()
        if vectors.shape[1] != self.points_.shape[1]:
            raise SpecError(f"X: expected {self.points_.shape[1]} features, got shape "
                            f"{vectors.shape}")
        return vectors

    def _to_vectors(self, x: ArrayLike) -> Array:
        """Validate raw input and map it to vectors; subclasses add their feature map."""
        return check_matrix(x)

    @property
    def space(self) -> str:
        """Comparability key: two specs are comparable iff their spaces are equal."""
        self._check_fitted()
        return f"table/d={self.points_.shape[1]}"

    @property
    def dim_(self) -> int:
        self._check_fitted()
        return int(self.points_.shape[1])

    # -- fitting ------------------------------------------------------------------------
    def fit(self, x: ArrayLike) -> RKMESpec:
        """Fit the reduced set to the sample; returns self."""
        validate_params(self)
        gamma = self.gamma
        vectors = self._to_vectors(x)
        rng = np.random.default_rng(self.random_state)
        g = kernel.auto_gamma(vectors, rng) if gamma == "auto" else float(gamma)
        with kernel.blas_threads_for(vectors.size * min(self.n_points, len(vectors))):
            self._fit_vectors(vectors, g, rng)
        return self

    def _fit_vectors(self, x: Array, gamma: float, rng: np.random.Generator) -> None:
        if self.epsilon is not None or self.delta is not None:
            self._fit_dp(x, gamma)
            return
        if self.min_rows_per_point > 1:
            self._fit_private(x, gamma, rng)
        else:
            self._fit_exact(x, gamma, rng)
        self.gamma_ = gamma
        self.n_samples_ = coarse_count(len(x))
        m = self.min_rows_per_point
        self.privacy_ = privacy_record("group-means" if m > 1 else "none", m)

    def _fit_dp(self, x: Array, gamma: float) -> None:
        """(epsilon, delta)-DP: noisy random-feature mean, synthetic points
        (`engine.privacy.dp`); gamma and bounds must be public (declared)."""
        from engine.privacy import dp

        eps, delta = self.epsilon, self.delta
        for name, value in (("epsilon", eps), ("delta", delta)):
            if value is None:  # each alone is declared optional; together they are not
                raise SpecError(f"{name}: the differentially private mode needs both "
                                "epsilon and delta, got None")
        assert eps is not None and delta is not None
        if self.gamma == "auto":
            raise SpecError("gamma: the differentially private mode needs a public gamma "
                            "(choosing it from the data would spend privacy): pass a number")
        if self.bounds is None:
            raise SpecError("bounds: the differentially private mode needs public bounds "
                            "(low, high) for the synthetic points: pass them")
        bounds = dp.check_bounds(self.bounds, x.shape[1])
        z, beta, sigma = dp.dp_fit(x, epsilon=float(eps), delta=float(delta), gamma=gamma,
                                   bounds=bounds, n_points=self.n_points,
                                   seed=self.random_state)
        self.points_, self.weights_ = z, beta
        self.rows_per_point_ = None
        self.noise_std_ = sigma
        self.gamma_ = gamma
        self.n_samples_ = coarse_count(len(x))
        self.privacy_ = privacy_record("gaussian-rff", 1, epsilon=float(eps),
                                       delta=float(delta), library=dp.LIBRARY,
                                       version=dp.library_version())

    def _fit_private(self, x: Array, gamma: float, rng: np.random.Generator) -> None:
        """Points are group means of >= m rows; only the weights are optimised."""
        z, counts = group_means(x, self.n_points, self.min_rows_per_point, rng,
                                rounds=self.refine_steps)
        m = kernel.mean_embedding_on(z, x, gamma)
        self.points_ = z
        self.weights_ = simplex_qp(kernel.gaussian(z, z, gamma), m)
        self.rows_per_point_ = counts

    def _fit_exact(self, x: Array, gamma: float, rng: np.random.Generator) -> None:
        """The non-private fit (points may be rows): for local use only."""
        n = len(x)
        k = min(self.n_points, n)
        if k == n:
            z = x.copy()
        else:
            z = kmeans_init(x, k, rng)
        m = kernel.mean_embedding_on(z, x, gamma)
        kzz = kernel.gaussian(z, z, gamma)
        beta = simplex_qp(kzz, m)
        loss = float(beta @ kzz @ beta - 2 * beta @ m)
        step = 1.0
        for _ in range(self.refine_steps if k < n else 0):
            z_new = self._refine_step(x, z, beta, gamma, step)
            m_new = kernel.mean_embedding_on(z_new, x, gamma)
            kzz_new = kernel.gaussian(z_new, z_new, gamma)
            beta_new = simplex_qp(kzz_new, m_new)
            loss_new = float(beta_new @ kzz_new @ beta_new - 2 * beta_new @ m_new)
            if loss_new < loss:
                z, beta, loss = z_new, beta_new, loss_new
            else:
                step *= 0.5
        self.points_ = z
        self.weights_ = beta
        self.rows_per_point_ = None

    @staticmethod
    def _refine_step(x: Array, z: Array, beta: Array, gamma: float, step: float) -> Array:
        """One preconditioned gradient step on Z (mean-shift-like at step 1)."""
        kzx = np.empty((len(z), 0))
        attract = np.zeros_like(z)
        mass = np.zeros(len(z))
        for start in range(0, len(x), 8192):
            chunk = x[start:start + 8192]
            kzx = kernel.gaussian(z, chunk, gamma)
            attract += kzx @ chunk
            mass += kzx.sum(axis=1)
        attract /= len(x)
        mass /= len(x)
        kzz = kernel.gaussian(z, z, gamma) * beta[None, :]
        # Gradient of the loss w.r.t. z_j, divided by 4*gamma*beta_j:
        #   sum_l beta_l k_jl (z_l - z_j)... repulsion, minus data attraction.
        repulse = kzz @ z - kzz.sum(axis=1)[:, None] * z
        grad = -(attract - mass[:, None] * z) + repulse
        precond = np.maximum(mass, 1e-12)[:, None]
        return z - step * grad / precond

    # -- comparisons --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "points_"):
            raise SpecError(f"{type(self).__name__} is not fitted: call fit(X) or from_dict()")

    def self_inner(self, gamma: float | None = None) -> float:
        """``<mu, mu>`` under the given kernel (default: the spec's own)."""
        self._check_fitted()
        g = self.gamma_ if gamma is None else gamma
        return kernel.mean_inner(self.points_, self.weights_, self.points_, self.weights_, g)

    # -- serialisation ------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {"n_points": self.n_points, "refine_steps": self.refine_steps}

    def to_dict(self) -> dict[str, Any]:
        """Plain types and numpy arrays; `from_dict(to_dict())` restores it exactly."""
        self._check_fitted()
        return {
            "type": self.kind,
            "format": RKME_FORMAT_VERSION,
            "space": self.space,
            "gamma": float(self.gamma_),
            "n_samples": int(self.n_samples_),
            "points": np.array(self.points_, dtype=np.float64),
            "weights": np.array(self.weights_, dtype=np.float64),
            "params": self._params(),
            **({} if self.privacy_ is None else {"privacy": dict(self.privacy_)}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RKMESpec:
        """Rebuild a fitted spec; every field is validated (input may be hostile)."""
        if not isinstance(data, Mapping):
            raise SpecError(f"spec: expected a mapping, got {type(data).__name__}")
        expected = {"type", "format", "space", "gamma", "n_samples", "points", "weights",
                    "params"}
        missing = sorted(expected - set(data))
        unknown = sorted(set(map(str, data)) - expected - {"privacy"})
        if missing or unknown:
            raise SpecError(f"spec: missing field(s) {missing}, unknown field(s) {unknown}")
        if data["type"] != cls.kind:
            raise SpecError(f"spec.type: expected {cls.kind!r}, got {data['type']!r}")
        if data["format"] != RKME_FORMAT_VERSION:
            raise SpecError(f"spec.format: version {data['format']!r} is not supported "
                            f"(this version reads {RKME_FORMAT_VERSION})")
        params = data["params"]
        if not isinstance(params, Mapping):
            raise SpecError("spec.params: expected a mapping")
        spec = cls._from_params(params)
        gamma = data["gamma"]
        check_param("spec.gamma", gamma, cls._parameter_constraints["gamma"], SpecError)
        if gamma == "auto":
            raise SpecError("spec.gamma: a fitted spec needs a number")
        n_samples = data["n_samples"]
        check_param("spec.n_samples", n_samples, [Interval(int, 1, None)], SpecError)
        points = check_matrix(data["points"], "spec.points")
        if len(points) > MAX_POINTS:
            raise SpecError(f"spec.points: {len(points)} points, at most {MAX_POINTS}")
        try:
            weights = np.asarray(data["weights"], dtype=np.float64)
        except (TypeError, ValueError):
            raise SpecError("spec.weights: expected a numeric vector") from None
        if weights.shape != (len(points),):
            raise SpecError(f"spec.weights: expected shape ({len(points)},), got {weights.shape}")
        if not np.isfinite(weights).all() or weights.min() < 0 or abs(weights.sum() - 1) > 1e-6:
            raise SpecError("spec.weights: must be finite, non-negative and sum to 1")
        spec.points_ = points
        spec.weights_ = weights
        spec.gamma_ = float(gamma)
        spec.n_samples_ = n_samples
        spec.rows_per_point_ = None
        spec.privacy_ = (check_privacy_record(data["privacy"]) if "privacy" in data else None)
        if spec.privacy_ is not None:
            spec.min_rows_per_point = spec.privacy_["min_rows_per_point"]
        spec._restore_extra(params)
        if spec.space != data["space"]:
            raise SpecError(f"spec.space: {data['space']!r} does not match the data "
                            f"({spec.space!r})")
        return spec

    @classmethod
    def _from_params(cls, params: Mapping[str, Any]) -> RKMESpec:
        allowed = {"n_points", "refine_steps"}
        unknown = sorted(set(map(str, params)) - allowed)
        if unknown:
            raise SpecError(f"spec.params: unknown field(s) {unknown}")
        return cls(**{k: params[k] for k in allowed if k in params})

    def _restore_extra(self, params: Mapping[str, Any]) -> None:
        """Hook for subclasses whose params carry more than construction settings."""

    def __repr__(self) -> str:
        state = (f"K={len(self.points_)}, d={self.points_.shape[1]}, gamma={self.gamma_:g}"
                 if hasattr(self, "points_") else "unfitted")
        return f"{type(self).__name__}({state})"


class RKMETableSpec(RKMESpec):
    """RKME of tabular data (n_samples x n_features).

    Parameters
    ----------
    n_points : int, default 100
        Size K of the reduced set (at most the number of rows).
    gamma : float or "auto", default "auto"
        Gaussian kernel parameter; "auto" is the median heuristic snapped to a power
        of two (see `engine.kernel.auto_gamma`).
    refine_steps : int, default 5
        Gradient refinements of the points after k-means seeding (0 to skip).
    random_state : int or None
        Seed for the subsampling and the k-means++ seeding.
    min_rows_per_point : int, default `engine.privacy.MIN_ROWS_PER_POINT`
        Every point is the mean of at least this many rows, so no point is a row or
        stands for a single one (outliers are folded into their neighbours' group);
        K is at most ``n_rows // min_rows_per_point`` and fewer rows are refused.
        ``refine_steps`` then counts size-constrained Lloyd rounds. 1 restores the
        non-private fit (points may be rows: for local use, never to publish).
    """

    kind = "rkme_table"


def _as_spec_and_gamma(a: RKMESpec | ArrayLike, b: RKMESpec | ArrayLike,
                       gamma: float | None) -> tuple[Array, Array, Array, Array, float]:
    specs: list[RKMESpec] = [s for s in (a, b) if isinstance(s, RKMESpec)]
    if not specs:
        raise SpecError("mmd2: at least one argument must be a fitted spec")
    for spec in specs:
        spec._check_fitted()
    if len(specs) == 2 and specs[0].space != specs[1].space:
        raise SpecError(f"mmd2: specs are not comparable ({specs[0].space!r} vs "
                        f"{specs[1].space!r})")
    if gamma is None:
        gamma = (kernel.pair_gamma(specs[0].gamma_, specs[1].gamma_) if len(specs) == 2
                 else specs[0].gamma_)
    out: list[tuple[Array, Array]] = []
    for s in (a, b):
        if isinstance(s, RKMESpec):
            out.append((s.points_, s.weights_))
        else:
            vec = specs[0].transform(s)
            out.append((vec, np.full(len(vec), 1.0 / len(vec))))
    return out[0][0], out[0][1], out[1][0], out[1][1], float(gamma)


def mmd2(a: RKMESpec | ArrayLike, b: RKMESpec | ArrayLike, *, gamma: float | None = None
         ) -> float:
    """Squared MMD between two specs, or between a spec and a raw sample.

    Two specs are compared under ``pair_gamma`` of their gammas unless `gamma` is
    given; a spec and a sample under the spec's gamma. A raw sample is first mapped
    by the spec's `transform` (identity for tables, the fixed feature map for images
    and text). The sample's self term is exact: O(n^2 d) for n rows.
    """
    za, wa, zb, wb, g = _as_spec_and_gamma(a, b, gamma)
    work = float(len(za) + len(zb)) ** 2 * za.shape[1]
    with kernel.blas_threads_for(work):
        return _mmd2(a, b, za, wa, zb, wb, g)


def _mmd2(a: object, b: object, za: Array, wa: Array, zb: Array, wb: Array, g: float) -> float:
    if not isinstance(a, RKMESpec) or not isinstance(b, RKMESpec):
        raw, spec_z, spec_w = (za, zb, wb) if not isinstance(a, RKMESpec) else (zb, za, wa)
        value = (kernel.mean_inner(spec_z, spec_w, spec_z, spec_w, g)
                 - 2 * float(spec_w @ kernel.mean_embedding_on(spec_z, raw, g))
                 + kernel.sample_self_inner(raw, g))
    else:
        value = (kernel.mean_inner(za, wa, za, wa, g) + kernel.mean_inner(zb, wb, zb, wb, g)
                 - 2 * kernel.mean_inner(za, wa, zb, wb, g))
    return max(value, 0.0)
