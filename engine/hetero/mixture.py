"""Mixtures across feature spaces, in the user's space.

Heterogeneous search compares every candidate on the user's columns
(`engine.hetero.search`): a learnware over other columns becomes a weighted sample
there (its mapped columns copied, the user's columns it lacks drawn from the user's
conditional given the mapped ones: `to_user_space`), and a learnware over the user's
own columns is its RKME as it is. All of them are then kernel mean embeddings in one
space under one kernel — the user's — so the mixture QP of `engine.search.mixture`
applies unchanged: the best weighted combination of learnwares over *different*
columns whose mixed embedding fits the user's data, e.g. two organizations that each
cover part of the user's population.

The catalog keeps its homogeneous mixture unless this one scores higher (both
scores are ``1 - MMD^2 / (<q,q> + <mix,mix>)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.hetero.fill import MAX_EXPANDED, ConditionalFill
from engine.hetero.mapping import ColumnMapping
from engine.search.mixture import best_mixture
from engine.search.results import Mixture
from engine.specification.rkme import RKMESpec

Array = NDArray[np.float64]


def to_user_space(mapping: ColumnMapping, user_points: Array, user_weights: Array,
                  spec: RKMESpec, fill: str = "linear", max_points: int = MAX_EXPANDED
                  ) -> tuple[Array, Array]:
    """A learnware's RKME as a weighted sample on the user's columns (see module doc)."""
    pairs = mapping.pairs
    filler = ConditionalFill(user_points, user_weights,
                             np.array([p.user for p in pairs], dtype=np.int64), fill)
    lw_cols = [p.learnware for p in pairs]
    return filler.expand(spec.points_[:, lw_cols], spec.weights_, max_points)


def user_space_mixture(user_spec: RKMESpec, members: Sequence[tuple[str, Array, Array]],
                       max_mixture: int) -> Mixture | None:
    """The best mixture of `members` — (id, points, weights) on the user's columns —
    for the user's RKME, under the user's kernel; None if no mixture beats the best
    single member by the margin of `engine.search.mixture`."""
    if max_mixture < 2 or len(members) < 2:
        return None
    zq, wq, gamma = user_spec.points_, user_spec.weights_, float(user_spec.gamma_)
    m = len(members)
    gram = np.empty((m, m))
    h = np.empty(m)
    with kernel.blas_threads_for(float(MAX_EXPANDED) ** 2 * max(zq.shape[1], 1)):
        for i, (_, pi, wi) in enumerate(members):
            h[i] = kernel.mean_inner(pi, wi, zq, wq, gamma)
            for j in range(i, m):
                _, pj, wj = members[j]
                gram[i, j] = gram[j, i] = kernel.mean_inner(pi, wi, pj, wj, gamma)
        q_self = kernel.mean_inner(zq, wq, zq, wq, gamma)
    found = best_mixture(gram, h, q_self, max_mixture)
    if found is None:
        return None
    chosen, weights, value, score = found
    return Mixture(tuple(members[i][0] for i in chosen), tuple(float(w) for w in weights),
                   value, score)
