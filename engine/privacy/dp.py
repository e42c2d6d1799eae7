"""Differentially private RKME: a noisy random-Fourier-feature mean, then synthetic points.

Balog, Tolstikhin & Schölkopf (ICML 2018) and DP-MERF (Harder et al., 2021): the
kernel mean embedding of the rows is approximated by the mean of D random Fourier
features of the Gaussian kernel, ``phi(x) = sqrt(2/D) cos(W x + b)`` with
``W ~ N(0, 2 gamma I)`` and ``b ~ U[0, 2 pi)``. Every row's feature vector has norm at
most sqrt(2), so replacing one row moves the mean by at most ``2 sqrt(2) / n`` in L2:
the Gaussian mechanism needs no clipping of rows. The noise multiplier for one
release at (epsilon, delta) comes from Google's `dp-accounting` (its privacy-loss
distribution accountant, tight for the Gaussian mechanism), so the (epsilon, delta)
stated in the spec's record is the library's, not ours.

Everything else is post-processing of the noisy mean, which costs no privacy: K
points are placed at random inside the caller's public `bounds` and moved by gradient
steps (and weighted by the simplex QP) until their own feature mean matches the
noisy one. No row is ever looked at again. What touches the data is only the mean;
the kernel width `gamma`, the `bounds` and the number of rows n are public inputs
the caller declares (n goes on the wire only rounded; the guarantee is for
neighbouring data sets of the same n, differing in one row).

The noise is drawn by OpenDP's Gaussian mechanism (`add_gaussian_noise`), never from
`random_state` (a seed known to others would let them subtract it); the features' W
and b are public and seeded. A textbook float sampler (numpy's, as here before) leaks
the exact value through which floats it can and cannot produce (Mironov, CCS 2012);
OpenDP samples it exactly, from a discrete Gaussian on a fine lattice (2^k), and
rounds it once. Only the sampler is OpenDP's: the noise scale is the calibration
above, recorded in the spec.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SpecError
from engine.qp import simplex_qp

Array = NDArray[np.float64]

N_FEATURES = 2048
LIBRARY = "dp-accounting"
_STEPS = 300


def library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LIBRARY)
    except PackageNotFoundError:
        return "0+unknown"


def sensitivity(n: int) -> float:
    """L2 sensitivity of the mean of n feature vectors of norm <= sqrt(2) (replace one)."""
    return 2.0 * math.sqrt(2.0) / n


@functools.lru_cache(maxsize=64)
def noise_multiplier(epsilon: float, delta: float) -> float:
    """sigma / sensitivity of a single Gaussian release at (epsilon, delta), by the
    accounting library's privacy-loss-distribution accountant."""
    try:
        import dp_accounting
        from dp_accounting.pld import PLDAccountant
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise SpecError(f"epsilon: the differentially private mode needs {LIBRARY} "
                        f"({exc})") from None
    return float(dp_accounting.calibrate_dp_mechanism(
        PLDAccountant, dp_accounting.GaussianDpEvent, float(epsilon), float(delta)))


@dataclass(frozen=True)
class Features:
    """The public random Fourier features of the Gaussian kernel exp(-gamma ||x-y||^2)."""

    w: Array
    b: Array

    @classmethod
    def draw(cls, d: int, gamma: float, seed: int | None, n_features: int = N_FEATURES
             ) -> Features:
        rng = np.random.default_rng(seed)
        return cls(rng.normal(scale=math.sqrt(2.0 * gamma), size=(n_features, d)),
                   rng.uniform(0.0, 2.0 * math.pi, size=n_features))

    def __call__(self, x: Array) -> Array:
        return np.sqrt(2.0 / len(self.b)) * np.cos(x @ self.w.T + self.b)


def check_bounds(bounds: object, d: int) -> tuple[Array, Array]:
    """Public bounds as (lo, hi) arrays of length d; a pair of scalars is broadcast."""
    try:
        lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), (d,)).copy()
                  for v in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise SpecError("bounds: expected (low, high), each a number or one per column, "
                        "declared by the caller (public: not computed from the data)") from None
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
        raise SpecError("bounds: need finite low < high for every column")
    if (np.abs(lo) > kernel.MAX_ABS_VALUE).any() or (np.abs(hi) > kernel.MAX_ABS_VALUE).any():
        raise SpecError(f"bounds: each within ±{kernel.MAX_ABS_VALUE:.0e} (the values a spec "
                        "can hold): rescale the column(s)")
    return lo, hi


def add_gaussian_noise(values: Array, sigma: float) -> Array:
    """`values` + N(0, sigma^2) per element, sampled by OpenDP (see the module docstring)."""
    import opendp.prelude as opendp  # ~1 s to import: only DP fits pay it

    # "contrib": OpenDP's flag for mechanisms not yet vetted by its own review process
    # (every float mechanism is flagged so); the sampler is OpenDP's hardened one.
    opendp.enable_features("contrib")
    domain = opendp.vector_domain(opendp.atom_domain(T=float, nan=False), size=len(values))
    mechanism = opendp.m.make_gaussian(domain, opendp.l2_distance(T=float), scale=sigma)
    return np.asarray(mechanism(values.astype(np.float64).tolist()), dtype=np.float64)


def dp_fit(x: Array, *, epsilon: float, delta: float, gamma: float,
           bounds: tuple[Array, Array], n_points: int, seed: int | None
           ) -> tuple[Array, Array, float]:
    """Points, weights and the noise standard deviation used (see the module docstring)."""
    n, d = x.shape
    features = Features.draw(d, gamma, seed)
    mean = np.zeros(len(features.b))
    for start in range(0, n, 4096):
        mean += features(x[start:start + 4096]).sum(axis=0)
    mean /= n
    sigma = noise_multiplier(epsilon, delta) * sensitivity(n)
    noisy = add_gaussian_noise(mean, sigma)
    del mean  # from here on: post-processing of `noisy` only
    lo, hi = bounds
    rng = np.random.default_rng(seed)
    z = lo + (hi - lo) * rng.random((n_points, d))
    scale = 2.0 * math.sqrt(2.0 / len(features.b))
    angles = z @ features.w.T + features.b  # one product per step serves phi and its gradient
    phi = math.sqrt(2.0 / len(features.b)) * np.cos(angles)
    beta = simplex_qp(phi @ phi.T, phi @ noisy)
    first, second = np.zeros_like(z), np.zeros_like(z)
    lr = 0.02 * (hi - lo)
    for step in range(1, _STEPS + 1):  # Adam on Z, the weights re-solved every 10 steps
        residual = phi.T @ beta - noisy
        grad = -scale * beta[:, None] * ((np.sin(angles) * residual[None, :]) @ features.w)
        first = 0.9 * first + 0.1 * grad
        second = 0.999 * second + 0.001 * grad**2
        z = z - lr * (first / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-12)
        z = np.clip(z, lo, hi)
        angles = z @ features.w.T + features.b
        phi = math.sqrt(2.0 / len(features.b)) * np.cos(angles)
        if step % 10 == 0:
            beta = simplex_qp(phi @ phi.T, phi @ noisy)
    return z, beta, sigma
