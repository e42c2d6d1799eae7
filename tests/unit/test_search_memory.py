"""Search in bounded memory: specs of 10,000 points (legal on the wire) cost a search
its memory budget, not a kernel matrix over every candidate point (issue 14, finding 2).

tracemalloc sees numpy's allocations, so a test's peak is the search's real working
memory (the old mixture built one 30,000 x 30,000 float64 matrix: 6.7 GiB).
"""

import tracemalloc

import numpy as np
import pytest

from engine import kernel
from engine.errors import SearchError
from engine.search import Catalog, Requirement
from engine.specification import SemanticSpec, spec_from_dict

SEM = SemanticSpec(data_type="table", task_type="regression", name="forecaster")
D = 6  # 10,000 x 6 = 60,000 values: inside the protocol's 65,536 per array
MiB = 1 << 20


def spec_at(centre: np.ndarray, n: int, seed: int, gamma: float = 0.5, scale: float = 0.7):
    rng = np.random.default_rng(seed)
    points = centre + rng.normal(scale=scale, size=(n, len(centre)))
    return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={len(centre)}",
                           "gamma": gamma, "n_samples": 10 * n, "points": points,
                           "weights": rng.dirichlet(np.full(n, 5.0)), "params": {}})


def centres(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=4.0, size=(n, d))


def test_mixture_over_three_10k_point_candidates_stays_under_the_budget():
    budget = 64 * MiB
    c = centres(8)
    catalog = Catalog(memory_budget=budget)
    tracemalloc.start()
    try:
        for i in range(3):  # three hostile-sized announcements, as in the issue
            catalog.add(f"big{i}", SEM, spec_at(c[i], 10_000, seed=i))
        for i in range(3, 8):
            catalog.add(f"small{i}", SEM, spec_at(c[i], 100, seed=i))
        # The user's data is a mix of the three big candidates' tasks: they lead the
        # ranking, so the mixture is searched over them.
        rng = np.random.default_rng(99)
        mixed = np.vstack([c[i] + rng.normal(scale=0.7, size=(34, D)) for i in range(3)])
        query = spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                                "gamma": 0.5, "n_samples": 1000, "points": mixed,
                                "weights": np.full(len(mixed), 1 / len(mixed)), "params": {}})
        tracemalloc.reset_peak()
        result = catalog.search(Requirement(spec=query), k=5, max_mixture=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {m.id for m in result.single[:3]} == {"big0", "big1", "big2"}
    assert result.mixture is not None and set(result.mixture.ids) == {"big0", "big1", "big2"}
    assert peak < budget, f"search peak {peak / MiB:.0f} MiB over its {budget / MiB:.0f} MiB"


def test_insert_of_a_10k_point_spec_stays_under_the_budget():
    budget = 16 * MiB
    catalog = Catalog(memory_budget=budget)
    spec = spec_at(centres(1)[0], 10_000, seed=1)
    tracemalloc.start()
    try:
        catalog.add("big", SEM, spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < budget, f"insert peak {peak / MiB:.0f} MiB over its {budget / MiB:.0f} MiB"


def test_large_requirement_against_many_candidates_stays_under_the_budget():
    """Finding 6's shape: a many-point requirement re-ranked against a shortlist of
    candidates (the old cross product was requirement points x all their points)."""
    budget = 32 * MiB
    c = centres(40, seed=3)
    catalog = Catalog(memory_budget=budget)
    for i in range(40):
        catalog.add(f"lw{i}", SEM, spec_at(c[i], 500, seed=i))
    query = spec_at(c[5], 8_000, seed=77)
    tracemalloc.start()
    try:
        result = catalog.search(Requirement(spec=query), k=3, max_mixture=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.single[0].id == "lw5"
    assert peak < budget, f"search peak {peak / MiB:.0f} MiB over its {budget / MiB:.0f} MiB"


@pytest.mark.parametrize("gamma_mix", [False, True])
def test_blockwise_results_equal_one_matrix_results(gamma_mix):
    """The smallest budget forces every blocked path (pairwise mixture, batched re-rank,
    chunked kernel sums); the ranking, MMD^2 and mixture match the one-matrix path."""
    c = centres(12, seed=5)
    specs = [spec_at(c[i % 6], 300, seed=i, gamma=0.25 if gamma_mix and i % 2 else 0.5)
             for i in range(12)]
    rng = np.random.default_rng(5)
    mixed = np.vstack([c[i] + rng.normal(scale=0.7, size=(60, D)) for i in (0, 3)])
    query = spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={D}",
                            "gamma": 0.5, "n_samples": 120, "points": mixed,
                            "weights": np.full(120, 1 / 120), "params": {}})
    results = []
    for budget in (1 * MiB, 1 << 30):
        catalog = Catalog(memory_budget=budget)
        for i, spec in enumerate(specs):
            catalog.add(f"lw{i}", SEM, spec)
        results.append(catalog.search(Requirement(spec=query), k=12, max_mixture=3))
    small, large = results
    assert [m.id for m in small.single] == [m.id for m in large.single]
    np.testing.assert_allclose([m.mmd2 for m in small.single], [m.mmd2 for m in large.single],
                               rtol=1e-9, atol=1e-12)
    assert large.mixture is not None and small.mixture is not None
    assert small.mixture.ids == large.mixture.ids
    np.testing.assert_allclose(small.mixture.weights, large.mixture.weights, rtol=1e-6)


def test_mean_inner_in_blocks_equals_one_product():
    rng = np.random.default_rng(0)
    za, zb = rng.normal(size=(700, 4)), rng.normal(size=(900, 4))
    wa, wb = rng.dirichlet(np.ones(700)), rng.dirichlet(np.ones(900))
    whole = kernel.mean_inner(za, wa, zb, wb, 0.3)
    blocked = kernel.mean_inner(za, wa, zb, wb, 0.3, max_bytes=64 * 1024)
    assert kernel.block_shape(700, 900, 64 * 1024)[0] < 700
    assert blocked == pytest.approx(whole, rel=1e-12)
    sums = kernel.weighted_kernel_sums(za, wa, zb, 0.3, max_bytes=64 * 1024)
    np.testing.assert_allclose(sums, wa @ kernel.gaussian(za, zb, 0.3), rtol=1e-12)


@pytest.mark.parametrize("budget", [0, 1000, True, 1.5e8])
def test_memory_budget_is_checked(budget):
    with pytest.raises(SearchError, match="memory_budget"):
        Catalog(memory_budget=budget)
