"""The RFF index: its shortlist recovers the exact top-5 on a large, crowded catalog."""

import numpy as np
import pytest

from engine.search import Catalog, Requirement
from engine.search.rff import RFFMap
from engine.specification import SemanticSpec, spec_from_dict

SEM = SemanticSpec(data_type="table", task_type="regression", name="perturbed")
GAMMA = 0.125


def spec(points, weights):
    return spec_from_dict({"type": "rkme_table", "format": 1,
                           "space": f"table/d={points.shape[1]}", "gamma": GAMMA,
                           "n_samples": 1000, "points": points, "weights": weights,
                           "params": {}})


def perturbed(base, rng, scale):
    points = base + rng.normal(scale=scale, size=base.shape)
    weights = rng.dirichlet(np.full(len(base), 5.0))
    return spec(points, weights)


@pytest.fixture(scope="module")
def crowded():
    """10,000 specs: 100 base tasks x 100 perturbations of varied strength (d=10, K=20)."""
    rng = np.random.default_rng(0)
    bases = [rng.normal(size=(20, 10)) * 2 for _ in range(100)]
    indexed, exact = Catalog(), Catalog(index=False)
    for i in range(10_000):
        s = perturbed(bases[i % 100], rng, rng.uniform(0.05, 1.0))
        indexed.add(f"s{i}", SEM, s)
        exact.add(f"s{i}", SEM, s)
    queries = [perturbed(bases[j], rng, 0.3) for j in rng.choice(100, 30, replace=False)]
    return indexed, exact, queries


@pytest.mark.slow
def test_recall_at_5_against_exact(crowded):
    indexed, exact, queries = crowded
    hits = 0
    for q in queries:
        approx = indexed.search(Requirement(spec=q), k=5, max_mixture=1)
        truth = exact.search(Requirement(spec=q), k=5, max_mixture=1)
        assert not approx.exact and truth.exact and approx.n_candidates == 10_000
        hits += len({m.id for m in approx.single} & {m.id for m in truth.single})
        # whatever the shortlist found is scored exactly
        assert approx.single[0].mmd2 >= truth.single[0].mmd2 - 1e-12
    assert hits / (5 * len(queries)) >= 0.99


def test_exact_flag_bypasses_the_index(crowded):
    indexed, _, queries = crowded
    assert indexed.search(Requirement(spec=queries[0]), exact=True).exact


def test_rff_inner_products_estimate_the_kernel():
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.5
    w = np.full(30, 1 / 30)
    rff = RFFMap(5, 0.2, 4096, key="test")
    e1, e2 = rff.embed(z1, w), rff.embed(z2, w)
    d = z1[:, None, :] - z2[None, :, :]
    exact = float(w @ np.exp(-0.2 * (d ** 2).sum(-1)) @ w)
    assert float(e1 @ e2) == pytest.approx(exact, abs=0.03)


def test_rff_map_is_reproducible():
    a, b = RFFMap(4, 0.5, 64, key="a"), RFFMap(4, 0.5, 64, key="a")
    np.testing.assert_array_equal(a.w, b.w)
    assert not np.array_equal(a.w, RFFMap(4, 0.25, 64, key="a").w)
    assert not np.array_equal(a.w, RFFMap(4, 0.5, 64, key="b").w)
