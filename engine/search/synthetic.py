"""A synthetic market of many spaces and tasks, for measuring search (not for users).

Spaces are tables of different widths. Each space has tasks (Gaussian clusters at
random centres); a learnware is a spec of one task (its points the task's
distribution, shifted and spread a little differently per learnware), and how many
learnwares a task gets is skewed (Zipf-like), as in real hubs where a few tasks draw
most uploads. Most specs of a space share the space's kernel; a fifth carry half of
it, as independently fitted specs sometimes do (`kernel.auto_gamma` snaps to powers
of two). A requirement mixes one to three tasks of one space.

Entry i and query j are pure functions of (seed, i) and (seed, j), so a benchmark
can build any prefix of the market and a test a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.specification import spec_from_dict
from engine.specification.rkme import RKMESpec

Array = NDArray[np.float64]


@dataclass(frozen=True)
class _Space:
    dim: int
    gamma: float
    centres: Array
    popularity: Array


class SyntheticMarket:
    """Reproducible specs across `n_spaces` table spaces of `tasks` tasks each."""

    def __init__(self, seed: int = 0, *, n_spaces: int = 20, tasks: int = 50,
                 points: tuple[int, int] = (10, 60)) -> None:
        rng = np.random.default_rng([seed, 0])
        self.seed, self.points = seed, points
        self.spaces: list[_Space] = []
        dims = rng.choice(np.arange(2, 41), size=n_spaces, replace=n_spaces > 39)
        for d in dims.tolist():
            centres = rng.normal(scale=2.0, size=(tasks, d))
            ranks = np.arange(1, tasks + 1, dtype=np.float64)
            popularity = rng.permutation(1.0 / ranks)
            # gamma ~ 1 / (typical squared distance within a task), a power of two
            gamma = float(2.0 ** round(np.log2(1.0 / (2.0 * d * 0.5 ** 2))))
            self.spaces.append(_Space(d, gamma, centres, popularity / popularity.sum()))

    def _spec(self, space: _Space, points: Array, weights: Array, gamma: float) -> RKMESpec:
        return spec_from_dict({"type": "rkme_table", "format": 1,
                               "space": f"table/d={space.dim}", "gamma": gamma,
                               "n_samples": 1000, "points": points, "weights": weights,
                               "params": {}})

    def entry(self, i: int) -> tuple[int, int, RKMESpec]:
        """(space index, task index, spec) of learnware i."""
        rng = np.random.default_rng([self.seed, 1, i])
        s = int(rng.integers(len(self.spaces)))
        space = self.spaces[s]
        task = int(rng.choice(len(space.centres), p=space.popularity))
        k = int(rng.integers(self.points[0], self.points[1] + 1))
        shift = rng.normal(scale=0.3, size=space.dim)
        spread = rng.uniform(0.3, 0.8)
        pts = space.centres[task] + shift + rng.normal(scale=spread, size=(k, space.dim))
        gamma = space.gamma if rng.random() < 0.8 else space.gamma / 2
        return s, task, self._spec(space, pts, rng.dirichlet(np.full(k, 5.0)), gamma)

    def query(self, j: int) -> tuple[int, RKMESpec]:
        """(space index, spec) of requirement j: a mix of one to three tasks."""
        rng = np.random.default_rng([self.seed, 2, j])
        s = int(rng.integers(len(self.spaces)))
        space = self.spaces[s]
        n_tasks = int(rng.integers(1, 4))
        tasks = rng.choice(len(space.centres), size=n_tasks, replace=False,
                           p=space.popularity)
        k = 50
        which = rng.integers(n_tasks, size=k)
        pts = space.centres[tasks][which] + rng.normal(scale=0.5, size=(k, space.dim))
        return s, self._spec(space, pts, np.full(k, 1.0 / k), space.gamma)
