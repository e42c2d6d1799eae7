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

    def embed(self, points: Array, weights: Array) -> Array:
        """``sum_k beta_k phi(z_k)`` for one weighted point set."""
        return self.scale * (weights @ np.cos(points @ self.w + self.b))

    def embed_many(self, points: Array, weights: Array, starts: NDArray[np.int64]) -> Array:
        """Embeddings of many point sets stored back to back (see `cross_inner`)."""
        feats = np.cos(points @ self.w + self.b) * weights[:, None]
        return self.scale * np.add.reduceat(feats, starts, axis=0)
