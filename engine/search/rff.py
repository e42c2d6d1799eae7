"""Random Fourier features of kernel mean embeddings: the index and the sketches.

For the Gaussian kernel, ``k(x, y) = E[phi(x) . phi(y)]`` with
``phi(x) = sqrt(2/D) cos(W x + b)``, ``W ~ N(0, 2 gamma I)``, ``b ~ U[0, 2 pi)``.
A weighted point set (Z, beta) then has a fixed-size vector ``e = sum_k beta_k phi(z_k)``
and ``||e_q - e_i||^2`` estimates MMD^2(q, i) with error O(1/sqrt(D)). Because every
entry shares the same W, the errors are correlated and the *ranking* is better than
the absolute values: a shortlist of a few hundred, re-ranked exactly, recovers the
exact top-k (recall measured in tests and benchmarks).

W and b are a pure function of (key, dimension, gamma, D). The key names who uses
the map: the catalog's index (``index/<random_state>/<space>``) or the network-wide
sketches (``engine.search.sketch``: ``lwdock-sketch/v<version>/<space>``). They are
drawn from raw PCG64 words (NumPy keeps bit-generator streams stable across releases;
its `Generator.normal` is not promised to be) by Box-Muller, seeded by SHA-256 of the
key, so every node with any NumPy draws the same map up to the last bit of `log` and
`cos` on its platform.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _stable_uniforms(key: str, n: int) -> Array:
    """`n` uniforms in (0, 1) from PCG64's raw words, seeded by SHA-256 of `key`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    raw = np.random.PCG64(np.random.SeedSequence(words)).random_raw(n)
    return ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


class RFFMap:
    """A fixed random Fourier feature map for one (key, dimension, gamma, D).

    Parameters
    ----------
    dim, gamma, n_features
        Input dimension, Gaussian kernel parameter, number of features D.
    key
        Who the map is for (module doc); maps of different keys are independent.
    """

    def __init__(self, dim: int, gamma: float, n_features: int, key: str) -> None:
        self.dim, self.gamma, self.n_features, self.key = dim, float(gamma), n_features, key
        full = f"{key}|dim={dim}|gamma={float(gamma).hex()}|D={n_features}"
        u = _stable_uniforms(full, 2 * dim * n_features + n_features)
        u1, u2 = u[: dim * n_features], u[dim * n_features: 2 * dim * n_features]
        normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)
        self.w = math.sqrt(2.0 * gamma) * normal.reshape(dim, n_features)
        self.b = 2.0 * math.pi * u[2 * dim * n_features:]
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
