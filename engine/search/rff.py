"""Random Fourier features of kernel mean embeddings: the catalog's search index.

For the Gaussian kernel, ``k(x, y) = E[phi(x) . phi(y)]`` with
``phi(x) = sqrt(2/D) cos(W x + b)``, ``W ~ N(0, 2 gamma I)``, ``b ~ U[0, 2 pi)``.
A weighted point set (Z, beta) then has a fixed-size vector ``e = sum_k beta_k phi(z_k)``
and ``||e_q - e_i||^2`` estimates MMD^2(q, i) with error O(1/sqrt(D)). Because every
entry shares the same W, the errors are correlated and the *ranking* is better than
the absolute values: a shortlist of a few hundred, re-ranked exactly, recovers the
exact top-k (recall measured in tests and benchmarks).

W is drawn from a seeded generator per (dimension, gamma), so the same catalog
settings always give the same index.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class RFFMap:
    """A fixed random Fourier feature map for one (dimension, gamma)."""

    def __init__(self, dim: int, gamma: float, n_features: int, seed: int) -> None:
        # Seed from the settings (not Python's hash) so the map is reproducible.
        mix = int.from_bytes(np.float64(gamma).tobytes(), "little")
        rng = np.random.default_rng([seed, dim, mix & 0xFFFFFFFF, mix >> 32, n_features])
        self.w = rng.normal(0.0, math.sqrt(2.0 * gamma), size=(dim, n_features))
        self.b = rng.uniform(0.0, 2.0 * math.pi, size=n_features)
        self.scale = math.sqrt(2.0 / n_features)

    def embed(self, points: Array, weights: Array, max_bytes: int = 32 << 20) -> Array:
        """``sum_k beta_k phi(z_k)`` for one weighted point set.

        Features are computed for at most `max_bytes` worth of points at a time (two
        arrays of points x features are alive per chunk); one chunk when they fit.
        """
        rows = max(1, max_bytes // (16 * self.w.shape[1]))
        if len(points) <= rows:
            return self.scale * (weights @ np.cos(points @ self.w + self.b))
        total = np.zeros(self.w.shape[1])
        for r in range(0, len(points), rows):
            total += weights[r:r + rows] @ np.cos(points[r:r + rows] @ self.w + self.b)
        return self.scale * total

    def embed_many(self, points: Array, weights: Array, starts: NDArray[np.int64]) -> Array:
        """Embeddings of many point sets stored back to back (see `cross_inner`)."""
        feats = np.cos(points @ self.w + self.b) * weights[:, None]
        return self.scale * np.add.reduceat(feats, starts, axis=0)
