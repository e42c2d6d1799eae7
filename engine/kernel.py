"""The Gaussian kernel, its bandwidth rule, and kernel-mean inner products.

Every statistical comparison in the project goes through these few functions, so
the kernel is stated once: ``k(x, y) = exp(-gamma * ||x - y||^2)``.

Bandwidth rule (`auto_gamma`): one over the 10th percentile of the data's squared
pairwise distances, snapped to a power of two. Not the median: a user's data is often
a *mix* of several tasks, and the median pair then straddles two tasks, giving a
kernel too wide to tell the tasks apart (seen: a 50/50 mix of two of ten tasks on a
line matched a three-task mixture of the wrong ones). The 10th percentile stays
within one task for mixes of up to ~10 equal parts; on single-task data it is a
constant factor below the median (0.5x at d=8, 0.8x at d=100). Snapping makes specs
of the same feature space, fitted independently by different organizations, almost
always share the *same* kernel, so their comparison is exact and the catalog's
per-spec constants can be computed once.
When two specs do carry different gammas they are compared under
``pair_gamma(a, b) = sqrt(gamma_a * gamma_b)``: symmetric, and an exact MMD under that
one stated kernel.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

MAX_ABS_VALUE = 1e38
"""The largest magnitude a data value or spec point may have: specs travel as 32-bit
floats (at most ~3.4e38), and squared distances between larger values overflow float64
(values of 1e155 gave NaN distances, and a node answered a search with an error 500)."""
MAX_GAMMA = 1e200
"""The largest bandwidth accepted: larger ones overflow the random features and the
QP (1e308 did); every larger gamma is a kernel that is already 0 off the diagonal."""

Array = NDArray[np.float64]

_MEDIAN_SAMPLE = 1000
BANDWIDTH_QUANTILE = 0.1
BLOCK_BYTES = 32 << 20
"""Default memory budget of the kernel sums below (`mean_inner`, `block_rows`): no
block of kernel values they build exceeds it, whatever the number of points (a
10,000-point spec against itself would otherwise be one 800 MB matrix)."""
CACHE_BYTES = 512 << 10
"""`weighted_kernel_sums` works in kernel blocks of at most this many bytes, even when
its budget allows more: they stay in a core's cache (this machine: 2 MiB of L2 a
core, shared with whatever else runs) through the passes over them."""
BLOCK_TEMPORARIES = 3
"""Arrays the size of one kernel block alive at once inside `gaussian`."""
SMALL_WORK = 5e7
"""Below this many multiply-adds, multi-threaded BLAS loses to one thread: thread
hand-offs dominate, and on a loaded 2-core machine each small product was 10-100x
slower (measured: a 100x600x10 product took 16 ms instead of 0.1 ms)."""


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


_single = threading.local()


@contextlib.contextmanager
def blas_threads_for(work: float) -> Iterator[None]:
    """Run BLAS single-threaded when `work` (multiply-adds) is small.

    Inside another single-threaded block of the same thread this does nothing: setting
    the limit costs ~40 us, and a search's mixture solves ~20 small QPs inside one.
    """
    if work >= SMALL_WORK or getattr(_single, "on", False):
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        _single.on = True
        try:
            yield
        finally:
            _single.on = False


def sq_dists(a: Array, b: Array) -> Array:
    """Pairwise squared Euclidean distances, clamped at 0 (BLAS-based).

    At most `BLOCK_TEMPORARIES` arrays of the result's size are alive at once.
    """
    aa = np.einsum("ij,ij->i", a, a)
    bb = np.einsum("ij,ij->i", b, b)
    d = aa[:, None] + bb[None, :]
    ab = a @ b.T
    ab *= 2.0  # in place: one temporary fewer than ``d -= 2.0 * (a @ b.T)``, same values
    d -= ab
    np.maximum(d, 0.0, out=d)
    return d


def gaussian(a: Array, b: Array, gamma: float) -> Array:
    """Gram matrix ``exp(-gamma * ||a_i - b_j||^2)``."""
    d = sq_dists(a, b)
    d *= -gamma
    return np.exp(d, out=d)


def auto_gamma(x: Array, random_state: int | np.random.Generator | None = None) -> float:
    """Local-scale bandwidth, snapped to the nearest power of two.

    ``gamma = 1 / quantile_0.1(||x_i - x_j||^2)`` over at most 1,000 rows, then
    rounded in log2. A data set whose rows are all equal gets ``gamma = 1``.
    """
    rng = np.random.default_rng(random_state)
    if len(x) > _MEDIAN_SAMPLE:
        x = x[rng.choice(len(x), _MEDIAN_SAMPLE, replace=False)]
    d = sq_dists(x, x)[np.triu_indices(len(x), k=1)]
    d = d[d > 0]
    if d.size == 0:
        return 1.0
    raw = 1.0 / float(np.quantile(d, BANDWIDTH_QUANTILE))
    return float(2.0 ** round(math.log2(raw)))


def pair_gamma(gamma_a: float, gamma_b: float) -> float:
    """The kernel two specs are compared under: the geometric mean of their gammas."""
    if gamma_a == gamma_b:
        return gamma_a
    return math.sqrt(gamma_a * gamma_b)


def block_shape(n_rows: int, n_cols: int, max_bytes: int = BLOCK_BYTES) -> tuple[int, int]:
    """Rows and columns of the kernel blocks of an ``n_rows x n_cols`` sum such that a
    block, with `gaussian`'s temporaries, takes at most `max_bytes` (at least 1 x 1)."""
    elements = max(1, int(max_bytes) // (8 * BLOCK_TEMPORARIES))
    cols = max(1, min(n_cols, elements))
    rows = max(1, min(n_rows, elements // cols))
    return rows, cols


def mean_inner(za: Array, wa: Array, zb: Array, wb: Array, gamma: float,
               max_bytes: int = BLOCK_BYTES) -> float:
    """``<mu_a, mu_b>`` for weighted point sets: ``wa^T K(za, zb) wb``.

    Summed over blocks of at most `max_bytes` (see `block_shape`); when everything
    fits in one block (the usual case) this is exactly one product.
    """
    rows, cols = block_shape(len(za), len(zb), max_bytes)
    if rows >= len(za) and cols >= len(zb):
        return float(wa @ gaussian(za, zb, gamma) @ wb)
    total = 0.0
    for r in range(0, len(za), rows):
        for c in range(0, len(zb), cols):
            total += float(wa[r:r + rows] @ gaussian(za[r:r + rows], zb[c:c + cols], gamma)
                           @ wb[c:c + cols])
    return total


def weighted_kernel_sums(qz: Array, qw: Array, z: Array, gamma: float,
                         max_bytes: int = BLOCK_BYTES) -> Array:
    """``s_j = sum_i qw_i k(qz_i, z_j)`` for every point ``z_j``, in bounded blocks.

    This is search's inner loop (a requirement against every shortlisted point), so
    it is written for speed: the exponent ``-gamma ||q - z||^2 = 2 gamma q.z - gamma
    ||q||^2 - gamma ||z||^2`` comes out of one product of augmented points (one pass
    over the block instead of `gaussian`'s five), clamped at 0 as `sq_dists` clamps
    distances, and blocks hold at most `CACHE_BYTES` so the clamp, the exponential
    and the weighted sum read them from cache. The values agree with
    ``qw @ gaussian(qz, z, gamma)`` to ~1e-15 relative.
    """
    m, n = len(qz), len(z)
    elements = max(1, min(int(max_bytes), CACHE_BYTES) // 8)
    rows = max(1, min(m, elements // 256))
    cols = max(1, elements // rows)
    qa = np.empty((m, qz.shape[1] + 2))
    qa[:, :-2] = (2.0 * gamma) * qz
    qa[:, -2] = -gamma * np.einsum("ij,ij->i", qz, qz)
    qa[:, -1] = -1.0
    out = np.zeros(n)
    with blas_threads_for(0):  # blocks this small gain nothing from BLAS threads
        _blocked_sums(qa, qw, z, gamma, rows, cols, out)
    return out


def _blocked_sums(qa: Array, qw: Array, z: Array, gamma: float, rows: int, cols: int,
                  out: Array) -> None:
    m, n = len(qa), len(z)
    for c in range(0, n, cols):
        zc = z[c:c + cols]
        za = np.empty((len(zc), zc.shape[1] + 2))
        za[:, :-2] = zc
        za[:, -2] = 1.0
        za[:, -1] = gamma * np.einsum("ij,ij->i", zc, zc)
        for r in range(0, m, rows):
            e = qa[r:r + rows] @ za.T
            np.minimum(e, 0.0, out=e)
            np.exp(e, out=e)
            out[c:c + cols] += qw[r:r + rows] @ e


def mean_embedding_on(z: Array, x: Array, gamma: float, chunk: int = 8192) -> Array:
    """``m_j = mean_i k(z_j, x_i)``: the sample's kernel mean evaluated at each z_j.

    Chunked over x so that memory stays bounded at any n.
    """
    out = np.zeros(len(z))
    for start in range(0, len(x), chunk):
        out += gaussian(z, x[start:start + chunk], gamma).sum(axis=1)
    return out / len(x)


def sample_self_inner(x: Array, gamma: float, chunk: int = 4096) -> float:
    """``<mu_x, mu_x> = mean_ij k(x_i, x_j)``, exact, O(n^2 d), chunked."""
    total = 0.0
    for start in range(0, len(x), chunk):
        total += float(gaussian(x[start:start + chunk], x, gamma).sum())
    return total / (len(x) ** 2)
