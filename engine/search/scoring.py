"""Scores comparable across queries, and exact MMD^2 against many catalog rows.

Score transform. For a requirement q and a learnware i compared under one kernel,

    score = 1 - MMD^2(q, i) / (<mu_q, mu_q> + <mu_i, mu_i>)
          = 2 <mu_q, mu_i> / (<mu_q, mu_q> + <mu_i, mu_i>)

It is 1 for identical embeddings and tends to 0 as the supports separate. Unlike
the reference's min-max normalisation per query, it depends only on the two
distributions, so a 0.8 means the same thing in every search and on every node.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine import kernel

Array = NDArray[np.float64]


def score_from(mmd2: float | Array, self_q: float | Array, self_i: float | Array) -> float | Array:
    """Map MMD^2 to [0, 1] given both self inner products (see module docstring)."""
    denom = np.maximum(np.asarray(self_q + self_i, dtype=np.float64), 1e-300)
    out = np.clip(1.0 - np.asarray(mmd2) / denom, 0.0, 1.0)
    return float(out) if np.ndim(out) == 0 else out


def cross_inner(qz: Array, qw: Array, points: Array, weights: Array,
                starts: NDArray[np.int64], gamma: float,
                max_bytes: int = kernel.BLOCK_BYTES) -> Array:
    """``<mu_q, mu_i>`` for many rows stored back to back in `points`.

    `starts` holds each row's first point index (rows are contiguous and in order);
    kernel sums of the query against all their points (in blocks of at most
    `max_bytes`, `kernel.weighted_kernel_sums`), then a segmented sum.
    """
    if len(starts) == 0:
        return np.zeros(0)
    per_point = kernel.weighted_kernel_sums(qz, qw, points, gamma, max_bytes) * weights
    return np.add.reduceat(per_point, starts)
