"""Points that each stand for at least m rows: the private default of every RKME.

A released point that *is* a row, or sits next to one, tells whoever holds the spec
that the row was in the data (membership) and what it was (reconstruction). The old
fit started from k-means centres and then moved them by gradient steps towards the
data: with few rows per centre, or with an outlier that k-means++ seeds on purpose,
a centre ended up on a row. Here every point is the plain mean of a *group* of at
least `m` rows, and nothing ever moves a point off its group's mean:

1. k-means++ seeds and Lloyd iterations give ``k = min(n_points, n // m)`` centres
   (small data gets fewer points);
2. every row joins its nearest centre; while some group has fewer than `m` rows, the
   smallest one recruits the rows nearest to its centre from groups that can spare
   them (so an outlier, which k-means++ likes to seed alone, is folded together
   with its m - 1 nearest neighbours instead of being published);
3. a few size-constrained Lloyd rounds (recompute means, reassign, fill again)
   improve the fit while keeping the property;
4. the points are the groups' means, moved outwards by `restore_spread` only as far
   as keeps every row's weight in a point at most ``1 / (GROUP_FACTOR m)`` (what a
   plain mean of the smallest group gives), and part (`NOISE_SHARE`) of the spread
   the means still lack comes as noise shaped like the pooled within-group
   covariance (`spread_noise`). Only the weights are then fitted (by the RKME's QP).

Why noise for the spread, rather than moving the means further out: moving a mean
outwards multiplies its rows' weights in it, and a member's weight in its nearest
point is exactly what the nearest-point membership attack measures (on an isotropic
17-D Gaussian its AUC was 0.68-0.71 with the spread restored by moving alone,
0.58-0.62 with this noise; docs/privacy.md). The noise is seeded by `random_state`
*and* a hash of the rows, so the owner gets the same spec twice while nobody without
the rows can regenerate the noise and subtract it.

An outlier folded into a group of g rows moves that group's mean by 1/g of its
distance: the spec shows that *some* row lies in that direction, not where.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SpecError

Array = NDArray[np.float64]

MIN_ROWS_PER_POINT = 10
"""Default m: every released point is the mean of at least this many rows. Chosen
from measurements (docs/privacy.md): at m = 10 the nearest-point membership attack's
AUC stayed near chance on the tuning sets while search quality held."""

GROUP_FACTOR = 2
"""Groups hold at least this many times m rows. `restore_spread` moves a point outwards
only while no row weighs more than 1 / (GROUP_FACTOR m) in it (the weight a row has in
a plain mean of the smallest group); `spread_noise` adds the rest of the spread."""
NOISE_SHARE = 0.15
"""Share of the spread the moved means still lack (per column variance) that
`spread_noise` adds: the largest, in steps of 0.05, with which image search still
returns the mixtures of `tests/unit/test_image_search.py` (at 0.2 and above a third,
wrong learnware joins a two-pair user's mixture at 5-9 % weight). More noise lowers
the membership AUC further (docs/privacy.md); this much takes the isotropic 17-D
Gaussian from 0.68-0.71 to 0.58-0.62. Chosen again on users (`benchmarks.noise_share`:
six markets, even users tuning, shares 0 to 1): 0.15 kept the largest mean gap closed
at zero labels among the shares that do not raise the membership AUC; docs/privacy.md,
"Choosing the noise share on users"."""
_ASSIGN_CHUNK = 8192


class TooFewRowsError(SpecError):
    """The data has too few rows to hide any one of them in a group of m rows."""


def _nearest(x: Array, centres: Array) -> NDArray[np.intp]:
    """Index of the nearest centre for every row, in bounded chunks."""
    out = np.empty(len(x), dtype=np.intp)
    for start in range(0, len(x), _ASSIGN_CHUNK):
        out[start:start + _ASSIGN_CHUNK] = np.argmin(
            kernel.sq_dists(x[start:start + _ASSIGN_CHUNK], centres), axis=1)
    return out


def _fill_small(x: Array, centres: Array, assign: NDArray[np.intp], m: int
                ) -> tuple[Array, NDArray[np.intp]]:
    """Bring every group to at least `m` rows; returns (centres, assign).

    The smallest group first recruits the rows nearest to its centre from groups
    that can spare them (more than `m` rows); an empty group is dropped. An outlier
    alone in its group thus gets m - 1 neighbours. Ends with every group at least `m`
    rows because ``n >= m * len(centres)`` after drops (every drop keeps it so).
    """
    assign = assign.copy()
    while True:
        counts = np.bincount(assign, minlength=len(centres))
        if counts.min() >= m:
            return centres, assign
        j = int(np.argmin(counts))
        if counts[j] == 0 or counts.sum() < m * len(centres):
            keep = np.arange(len(centres)) != j
            centres = centres[keep]
            assign = (np.cumsum(keep) - 1)[assign]
            if counts[j] > 0:
                moved = assign == -1
                assign[moved] = _nearest(x[moved], centres)
            continue
        donors = np.flatnonzero(counts[assign] > m)
        order = donors[np.argsort(kernel.sq_dists(x[donors], centres[j:j + 1])[:, 0])]
        need = m - int(counts[j])
        for row in order:
            if counts[assign[row]] > m:
                counts[assign[row]] -= 1
                assign[row] = j
                need -= 1
                if need == 0:
                    break


def _means(x: Array, assign: NDArray[np.intp], k: int) -> tuple[Array, NDArray[np.int64]]:
    counts = np.bincount(assign, minlength=k)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, assign, x)
    return sums / counts[:, None], counts.astype(np.int64)


def restore_spread(x: Array, means: Array, counts: NDArray[np.int64], min_rows: int
                   ) -> Array:
    """Move group means away from the data's mean so the points' spread matches the data.

    A group mean has less spread than the rows (the within-group part is averaged
    away), more so for bigger groups: two specs with different rows per point would
    disagree on every column's spread (heterogeneous search matches columns by it)
    and every kernel comparison would see a shrunken cloud. Point j becomes
    ``c + s_j * (mean_j - c)`` (c the data's mean, s per column: the data's standard
    deviation over the means'), as a linear combination of rows in which a row of
    group j weighs ``s/g_j + (1 - s)/n``. s is capped per point so that no row weighs
    more than 1/m: the point still stands for at least m rows.
    """
    n = len(x)
    if len(means) == 1 or n <= min_rows:
        return means  # one group: its mean is the data's mean, nothing to spread
    centre = x.mean(axis=0)
    total = x.var(axis=0)
    between = (counts[:, None] * (means - centre) ** 2).sum(axis=0) / n
    scale = np.sqrt(total / np.maximum(between, np.finfo(float).tiny))
    scale = np.maximum(scale, 1.0)
    cap = (1.0 / min_rows - 1.0 / n) / (1.0 / counts - 1.0 / n)
    per_point = np.minimum(scale[None, :], np.maximum(cap, 1.0)[:, None])
    return np.asarray(centre + per_point * (means - centre))


def spread_noise(x: Array, points: Array, means: Array, assign: NDArray[np.intp],
                 counts: NDArray[np.int64], rng: np.random.Generator) -> Array:
    """Noise that gives the points the per-column spread the data has and they lack.

    Shaped like the pooled within-group covariance (the rows' deviations from their
    own group's mean), rescaled per column so that its variance is `NOISE_SHARE` of
    the data's variance minus the points' (never negative); one independent draw per
    point.
    Correlated columns thus get correlated noise: a point stays a plausible row of
    its group's region instead of a blur across every column.
    """
    n = len(x)
    if len(points) == 1:
        return np.zeros_like(points)
    centre = x.mean(axis=0)
    spread = (counts[:, None] * (points - centre) ** 2).sum(axis=0) / n
    deficit = NOISE_SHARE * np.maximum(x.var(axis=0) - spread, 0.0)
    deviations = x - means[assign]
    within = deviations.T @ deviations / n
    # deficit <= within-group variance in exact arithmetic (moving means outwards only
    # adds spread); the clip keeps round-off in a column constant within groups (a
    # one-hot, a blank pixel) from turning 1e-17 / 1e-300 into an overflow
    scale = np.sqrt(np.clip(deficit / np.maximum(np.diag(within), np.finfo(float).tiny),
                            0.0, 1.0))
    values, vectors = np.linalg.eigh(within)
    factor = vectors * np.sqrt(np.maximum(values, 0.0))
    return np.asarray((rng.standard_normal(points.shape) @ factor.T) * scale[None, :])


def noise_rng(x: Array, rng: np.random.Generator) -> np.random.Generator:
    """A generator the owner can reproduce (same rows, same seed) and nobody else can."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    return np.random.default_rng([*words, int(rng.integers(2**32))])


def group_bounds(n: int, min_rows: int) -> tuple[int, int]:
    """``(most points, rows per group)`` `group_means` makes of `n` rows: one point per
    ``GROUP_FACTOR * min_rows`` rows (at least one), each the mean of at least that
    many rows (all `n` when fewer)."""
    group = GROUP_FACTOR * min_rows
    return max(1, n // group), min(group, n)


def group_means(x: Array, n_points: int, min_rows: int, rng: np.random.Generator,
                rounds: int = 5) -> tuple[Array, NDArray[np.int64]]:
    """Points of an RKME, each the mean of a group of at least `min_rows` rows.

    `rounds` size-constrained Lloyd rounds refine the groups. Returns
    ``(points, rows_per_point)``. Raises `TooFewRowsError` when the data has
    fewer than `min_rows` rows (no group could hide a row).
    """
    from engine.specification.rkme import kmeans_init

    n = len(x)
    if n < min_rows:
        raise TooFewRowsError(
            f"X: {n} row(s) are too few to hide a row: every point of a private spec is "
            f"the mean of at least {min_rows} rows; give at least {min_rows} rows "
            f"(more rows give more points and a better spec)")
    most, group = group_bounds(n, min_rows)
    k = min(n_points, most)
    centres = kmeans_init(x, k, rng) if k > 1 else x.mean(axis=0, keepdims=True)
    assign = _nearest(x, centres)
    centres, assign = _fill_small(x, centres, assign, group)
    for _ in range(rounds):
        centres, _counts = _means(x, assign, len(centres))
        new_assign = _nearest(x, centres)
        if np.array_equal(new_assign, assign):
            break
        centres, assign = _fill_small(x, centres, new_assign, group)
    means, counts = _means(x, assign, len(centres))
    points = restore_spread(x, means, counts, group)
    return points + spread_noise(x, points, means, assign, counts, noise_rng(x, rng)), counts


def coarse_count(n: int) -> int:
    """`n` rounded down to its leading decimal digit (1,234 -> 1,000; 87 -> 80; 7 -> 7).

    The exact row count is not needed by any peer (search compares distributions) and
    would let two specs of the same data, one row apart, be told apart; the leading
    digit still says "about how much data" for people.
    """
    if n < 10:
        return n
    scale = 10 ** (len(str(n)) - 1)
    return (n // scale) * scale

