"""Shared synthetic data: Gaussian regions whose right answers are known by construction."""

import numpy as np
import pytest
from lwtesting import single_threaded_maths

single_threaded_maths()  # BLAS/torch threads only add contention on a shared 2-core machine


class Regions:
    """`n` well-separated Gaussian regions in `d` dimensions."""

    def __init__(self, n: int = 10, d: int = 10, spread: float = 4.0, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(size=(n, d)) * spread
        self.d = d

    def sample(self, region: int, n: int) -> np.ndarray:
        return self.centres[region] + self.rng.normal(size=(n, self.d))

    def mix(self, parts: dict[int, int]) -> np.ndarray:
        return np.vstack([self.sample(r, n) for r, n in parts.items()])


@pytest.fixture(scope="session")
def regions() -> Regions:
    return Regions()
