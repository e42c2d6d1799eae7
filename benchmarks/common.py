"""Shared helpers for the benchmark scripts: synthetic data, timing, table printing."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import kernel


def clustered(n: int, d: int, seed: int = 0, clusters: int = 10) -> np.ndarray:
    """Rows from `clusters` Gaussian clusters, scaled so that gamma=0.1 (the reference's
    fixed kernel) is meaningful at any d: within-cluster squared distances ~4,
    between-cluster ~16."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=np.sqrt(8.0 / d), size=(clusters, d))
    return centres[rng.integers(0, clusters, n)] + rng.normal(scale=np.sqrt(2.0 / d),
                                                              size=(n, d))


def mmd2_to_data(z: np.ndarray, beta: np.ndarray, x: np.ndarray, gamma: float,
                 x_self: float) -> float:
    """MMD^2 between a reduced set and data, with the data's self term given (it is the
    same for every method compared on that data, so it is computed once)."""
    zz = kernel.mean_inner(z, beta, z, beta, gamma)
    cross = float(beta @ kernel.mean_embedding_on(z, x, gamma))
    return zz - 2 * cross + x_self


def data_self_term(x: np.ndarray, gamma: float, max_rows: int = 10_000) -> tuple[float, bool]:
    """mean K(X, X): exact up to `max_rows` rows, else on a fixed random subsample."""
    if len(x) <= max_rows:
        return kernel.sample_self_inner(x, gamma), True
    rows = np.random.default_rng(0).choice(len(x), max_rows, replace=False)
    return kernel.sample_self_inner(x[rows], gamma), False


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Best wall time over `repeats` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def rss_mb() -> float:
    """Current resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, load avg {load:.1f}")


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A GitHub-markdown table (pasted as is into docs/benchmarks.md)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n### {title}\n")
    for j, row in enumerate(cells):
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
