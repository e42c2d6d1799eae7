"""Match a user's columns to a learnware's: descriptions first, statistics second.

Similarity of user column i and learnware column j:

    sim_ij  = cos(e_i, e_j)                          (description embeddings)
    agree_ij = BC(N(m_i, s_i), N(m_j, s_j))          (column statistics, in [0, 1])
    gain_ij = sim_ij + STAT_WEIGHT * (agree_ij - 1)

`e` are the shared MiniLM embeddings of the column texts (`features.column_text`);
`m`, `s` the weighted mean and spread of the column over an RKME's points (the user's
own RKME, or rows, on the user side; the learnware's published RKME on the other),
and BC the Bhattacharyya coefficient of the two Gaussians. The assignment that
maximises the total gain is found exactly (Hungarian algorithm); pairs whose gain is
below `threshold` are never made, so a learnware column with no counterpart stays
*missing* rather than being fed an unrelated column.

Why descriptions lead and statistics only adjust: two organizations' columns of the
same meaning may have different marginals because their *tasks* differ (a young and an
old population's "age"), and the search must see that difference, not hide it by
refusing the pair — so an identical description survives any disagreement. But words
alone confuse related columns ("floor area" and "plot area" embed at 0.65, as close
as some true pairs), and there the statistics veto the pair. Ties that neither
settles — "births a week ago" and "births two weeks ago" embed almost alike and have
the same marginals — `refine` resolves by the joint distribution (see
`engine.hetero.search`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from engine.hetero.mapping import ColumnMapping, ColumnPair
from engine.specification.semantic import Feature

Array = NDArray[np.float64]

DEFAULT_THRESHOLD = 0.45
"""Minimum gain for a pair. all-MiniLM-L6-v2 gives 0.5-0.9 to the same column described
in other words, 0.0-0.4 to unrelated columns and up to 0.65 to related but different
ones ("floor area" / "plot area"; measured on the test and benchmark schemas)."""
STAT_WEIGHT = 0.4
"""How much disagreeing statistics cost: a pair with equal descriptions survives any
disagreement (1 - 0.4 >= 0.45); a pair of related words (0.65) whose means lie two
spreads apart (agreement ~0.4) does not."""
AMBIGUITY_MARGIN = 0.1
SURE = 0.8
DOUBT = 0.8
"""`refine` may drop a pair only when its words are below SURE *and* its column
statistics agree below DOUBT (Bhattacharyya coefficient; 0.8 ~ means 1.3 spreads apart)."""
DROP_GAIN = 0.5
_INFEASIBLE = 1e6


def column_moments(points: Array, weights: Array | None = None) -> tuple[Array, Array]:
    """Weighted mean and standard deviation of every column of a point set."""
    z = np.asarray(points, dtype=np.float64)
    w = (np.full(len(z), 1.0 / len(z)) if weights is None
         else np.asarray(weights, dtype=np.float64) / np.sum(weights))
    mean = w @ z
    var = w @ (z - mean) ** 2
    return mean, np.sqrt(np.maximum(var, 0.0))


def stat_agreement(mean_a: Array, std_a: Array, mean_b: Array, std_b: Array) -> Array:
    """Bhattacharyya coefficient of N(mean_a[i], std_a[i]) and N(mean_b[j], std_b[j]),
    for every (i, j): 1 for equal moments, towards 0 as they part."""
    floor = 1e-6 * (1.0 + np.abs(np.concatenate([mean_a, mean_b]))).max()
    va = np.maximum(std_a, floor)[:, None] ** 2
    vb = np.maximum(std_b, floor)[None, :] ** 2
    total = va + vb
    diff = (mean_a[:, None] - mean_b[None, :]) ** 2
    out: Array = np.sqrt(2.0 * np.sqrt(va * vb) / total) * np.exp(-diff / (4.0 * total))
    return out


def assign(gain: Array, allowed: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """The one-to-one pairs (i, j) with `allowed[i, j]` that maximise total gain."""
    if gain.size == 0 or not allowed.any():
        return []
    cost = np.where(allowed, -gain, _INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j]]


def mapping_from_pairs(user: Sequence[Feature], learnware: Sequence[Feature],
                       pairs: Sequence[tuple[int, int]], sim: Array) -> ColumnMapping:
    return ColumnMapping(tuple(f.name for f in user), tuple(f.name for f in learnware),
                         tuple(ColumnPair(i, j, round(float(sim[i, j]), 6)) for i, j in pairs))


def match_columns(user: Sequence[Feature], learnware: Sequence[Feature], sim: Array,
                  user_moments: tuple[Array, Array], learnware_moments: tuple[Array, Array],
                  *, threshold: float = DEFAULT_THRESHOLD,
                  stat_weight: float = STAT_WEIGHT) -> ColumnMapping:
    """The best one-to-one column map (see module docstring).

    `sim` is the (n_user, n_learnware) matrix of description cosines.
    """
    agree = stat_agreement(*user_moments, *learnware_moments)
    gain = sim + stat_weight * (agree - 1.0)
    return mapping_from_pairs(user, learnware, assign(gain, gain >= threshold), sim)


def refine(mapping: ColumnMapping, sim: Array, objective: Callable[[ColumnMapping], float], *,
           agree: Array | None = None, margin: float = AMBIGUITY_MARGIN,
           threshold: float = DEFAULT_THRESHOLD, drop_gain: float = DROP_GAIN,
           max_rounds: int = 8) -> tuple[ColumnMapping, float]:
    """Change doubtful pairs while `objective` (lower is better) improves.

    Moves, each kept only if it lowers the objective:

    - swap two pairs (i -> a, k -> b) into (i -> b, k -> a) when the swap is allowed
      and loses at most `margin` of description similarity: words cannot tell the
      two maps apart, so the joint statistics decide;
    - move a user column to an unmapped learnware column of near-equal similarity;
    - drop a *doubtful* pair — words below `SURE` and column statistics (`agree`)
      below `DOUBT` — if that divides the objective by at least 1 / `drop_gain`: a
      related-but-different column ("rooms" for "bathrooms") contradicts the joint
      distribution far more than an estimate of the column does. Pairs that words or
      marginals vouch for are never dropped, so a different task cannot shed the
      evidence against it by dropping the columns it disagrees on.

    Returns the best map and its objective value.
    """
    best, best_value = mapping, objective(mapping)
    for _ in range(max_rounds):
        pairs = [(p.user, p.learnware) for p in best.pairs]
        moves: list[tuple[list[tuple[int, int]], float]] = []
        for x, (i, a) in enumerate(pairs):
            for y in range(x + 1, len(pairs)):
                k, b = pairs[y]
                if min(sim[i, b], sim[k, a]) < threshold:
                    continue
                if sim[i, a] + sim[k, b] - sim[i, b] - sim[k, a] <= margin:
                    swapped = list(pairs)
                    swapped[x], swapped[y] = (i, b), (k, a)
                    moves.append((swapped, 1.0))
            for j in best.missing:
                if sim[i, j] >= threshold and sim[i, a] - sim[i, j] <= margin:
                    moves.append(([*pairs[:x], (i, j), *pairs[x + 1:]], 1.0))
            if (agree is not None and sim[i, a] < SURE and agree[i, a] < DOUBT
                    and len(pairs) > 1):
                moves.append(([*pairs[:x], *pairs[x + 1:]], drop_gain))
        for move, factor in moves:
            candidate = ColumnMapping(
                best.user_columns, best.learnware_columns,
                tuple(ColumnPair(i, j, round(float(sim[i, j]), 6)) for i, j in move))
            value = objective(candidate)
            if value < factor * best_value - 1e-12:
                best, best_value = candidate, value
                break
        else:
            break
    return best, best_value
