"""Reuse on synthetic regions, where the right answer is known by construction.

Ten Gaussian regions in d=10, each labelled by its own argmax of quadratic forms
over its own three of ten class names; learnware r is a degree-2 model trained on
1,000 rows of region r plus the RKME of those rows. A linear model or a forest on
100 labels cannot learn a quadratic labelling function well; the learnwares can.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector
from engine.reuse.synthetic import make_learnwares, make_regions
from engine.specification import mmd2


@pytest.fixture(scope="module")
def world():
    regions = make_regions(10, 10, spread=1.5, random_state=0)
    learnwares = make_learnwares(regions, 1000, n_points=50, random_state=1)
    return regions, learnwares


@pytest.mark.parametrize("region", [0, 4, 9])
def test_single_region_user_top1_learnware(world, region):
    regions, lws = world
    x, y = regions.sample(region, 500, np.random.default_rng(region))
    ranked = np.argsort([mmd2(x, lw.spec) for lw in lws])
    assert ranked[0] == region
    top = lws[ranked[0]]
    assert (top.model.predict(x) == y).mean() >= 0.9
    # Averaging with search-like weights on the top learnware is that learnware.
    avg = Averaging(lws, weights=np.eye(10)[region]).fit()
    assert (avg.predict(x) == y).mean() >= 0.9


@pytest.mark.parametrize("pair", [(0, 1), (2, 7), (5, 8)])
def test_two_region_mixture_job_selector_matches_oracle(world, pair):
    regions, lws = world
    a, b = pair
    proportions = np.zeros(10)
    proportions[[a, b]] = [0.6, 0.4]
    x, y, region = regions.sample_mixture(proportions, 2000, np.random.default_rng(a + b))
    chosen = [lws[a], lws[b]]
    oracle = np.where(region == a, chosen[0].model.predict(x), chosen[1].model.predict(x))
    oracle_acc = float((oracle == y).mean())

    start = time.perf_counter()
    selector = JobSelector(chosen, weights=[0.6, 0.4]).fit()
    pred = selector.predict(x)
    elapsed = time.perf_counter() - start

    accuracy = float((pred == y).mean())
    assert accuracy >= oracle_acc - 0.01, (accuracy, oracle_acc)
    assert (selector.route(x) == (region == b)).mean() >= 0.98
    assert elapsed < 1.0
    # The data-free alternative that ignores routing is far worse here.
    assert (Averaging(chosen).fit().predict(x) == y).mean() < accuracy - 0.2


@pytest.mark.parametrize("region", [3, 6])
def test_hundred_labels_pruning_and_augment_beat_labels_alone(world, region):
    regions, lws = world
    rng = np.random.default_rng(100 + region)
    x_lab, y_lab = regions.sample(region, 100, rng)
    x_test, y_test = regions.sample(region, 2000, rng)

    def accuracy(model) -> float:
        return float((model.predict(x_test) == y_test).mean())

    alone = max(accuracy(LogisticRegression(max_iter=2000).fit(x_lab, y_lab)),
                accuracy(RandomForestClassifier(random_state=0).fit(x_lab, y_lab)))
    pruning = EnsemblePruning(lws).fit(x_lab, y_lab)
    augment = FeatureAugment(lws).fit(x_lab, y_lab)
    assert pruning.selected_ == (region,)
    assert accuracy(pruning) > alone + 0.1, (accuracy(pruning), alone)
    assert accuracy(augment) > alone + 0.1, (accuracy(augment), alone)


@pytest.fixture(scope="module")
def mixture_user(world):
    """A user whose rows are a mixture of three regions, and the learnwares search would
    hand a labelled reuser: those three plus two others (as in the benchmarks)."""
    regions, lws = world
    proportions = np.zeros(10)
    proportions[[1, 4, 8]] = [0.4, 0.3, 0.3]
    x, y, _ = regions.sample_mixture(proportions, 3000, np.random.default_rng(11))
    return [lws[i] for i in (1, 4, 8, 0, 6)], x[:2500], y[:2500], x[2500:], y[2500:]


@pytest.mark.parametrize("budget", [10, 30])
def test_few_labels_reusers_are_as_good_as_routing_on_a_mixture(mixture_user, budget):
    """Where routing is right, a few labels must not make the labelled reusers worse
    than the data-free JobSelector; without routing they are far worse."""
    lws, x_test, y_test, x_pool, y_pool = mixture_user

    def accuracy(model) -> float:
        return float((model.predict(x_test) == y_test).mean())

    x_lab, y_lab = x_pool[:budget], y_pool[:budget]
    routing = accuracy(JobSelector(lws).fit())
    assert routing >= 0.85
    for cls in (EnsemblePruning, FeatureAugment):
        routed = accuracy(cls(lws).fit(x_lab, y_lab))
        blind = accuracy(cls(lws, routing=False).fit(x_lab, y_lab))
        assert routed >= routing - 0.02, (cls.__name__, routed, routing)
        # Fails if the routing input were ignored: no average or stack of the five
        # learnwares comes near the routed answer on this few labels.
        assert routed > blind + 0.15, (cls.__name__, routed, blind)


def test_many_labels_reusers_keep_routing_and_beat_labels_alone(mixture_user):
    """With many labels the routed reusers stay at least as good as routing (here the
    regions' quadratic labels leave a linear correction nothing to add, so the
    cross-validated penalty must keep the base) and far ahead of the labels alone."""
    lws, x_test, y_test, x_pool, y_pool = mixture_user

    def accuracy(model) -> float:
        return float((model.predict(x_test) == y_test).mean())

    x_lab, y_lab = x_pool[:400], y_pool[:400]
    routing = accuracy(JobSelector(lws).fit())
    alone = accuracy(LogisticRegression(max_iter=2000).fit(x_lab, y_lab))
    augment = FeatureAugment(lws).fit(x_lab, y_lab)
    assert augment.routed_ and augment.base_ == "route"
    pruning = EnsemblePruning(lws).fit(x_lab, y_lab)
    assert pruning.combine_ == "route"
    for model in (augment, pruning):
        assert accuracy(model) >= routing - 0.01
        assert accuracy(model) > alone + 0.1
