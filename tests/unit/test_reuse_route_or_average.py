"""Route or average without labels (issue 16): the job selector only when its router is
sure where the user's rows belong, averaging when the learnwares cover the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lwtesting import region_centres, region_labels, region_package, region_rows

from engine.errors import ReuseError
from engine.package import open_package
from engine.reuse import Averaging, JobSelector
from engine.reuse.job_selector import ROUTE_CONFIDENCE, prefer_routing
from lwnode.userside.local import data_free_method, reuse_learnwares

CENTRES = region_centres(3, 4)


def learnware(region: int, seed: int = 0):
    return open_package(region_package(CENTRES, region, seed=seed)).learnware()


def accuracy(model, x, y) -> float:
    return float(np.mean(np.asarray(model.predict(x)) == y))


@pytest.fixture(scope="module")
def separable():
    """Two learnwares of far-apart regions; the user's rows mix both regions."""
    x = np.r_[region_rows(CENTRES, 0, 100, seed=7), region_rows(CENTRES, 2, 100, seed=7)]
    y = np.r_[region_labels(CENTRES, 0, x[:100]), region_labels(CENTRES, 2, x[100:])]
    return [learnware(0), learnware(2)], x, y


@pytest.fixture(scope="module")
def alike():
    """Three learnwares trained on the same region from different draws (near-equal
    alternatives); the user's rows come from that region."""
    x = region_rows(CENTRES, 1, 200, seed=7)
    return [learnware(1, seed) for seed in (1, 2, 3)], x, region_labels(CENTRES, 1, x)


def test_separable_learnwares_are_routed(separable):
    learnwares, x, y = separable
    route, confidence = prefer_routing(learnwares, x)
    assert route and confidence > ROUTE_CONFIDENCE
    choice = data_free_method(learnwares, x, None)
    assert choice.method == "job-selector" and "routed" in choice.note
    # and routing is the right call here
    assert accuracy(JobSelector(learnwares).fit(), x, y) > accuracy(
        Averaging(learnwares).fit(), x, y) + 0.1


def test_learnwares_over_the_same_inputs_are_averaged(alike):
    learnwares, x, y = alike
    route, confidence = prefer_routing(learnwares, x, weights=[0.5, 0.3, 0.2])
    assert not route and confidence < 0.8
    out = reuse_learnwares(learnwares, x)  # no method, no labels: the data-free default
    assert out.method == "average"
    assert any("cannot be told apart" in n for n in out.notes)
    assert accuracy(Averaging(learnwares).fit(), x, y) >= accuracy(
        JobSelector(learnwares).fit(), x, y)


def test_identical_learnwares_give_an_even_posterior():
    lw = learnware(0)
    x = region_rows(CENTRES, 0, 50, seed=3)
    assert JobSelector([lw, lw]).fit().confidence(x) == pytest.approx(0.5)
    assert JobSelector([lw, lw, lw]).fit().confidence(x) == pytest.approx(1 / 3)


def test_nothing_to_choose_keeps_the_job_selector_without_a_note():
    lw, other = learnware(0), learnware(2)
    x = region_rows(CENTRES, 0, 50, seed=3)
    for learnwares, weights in (([lw], None), ([lw, other], [1.0, 0.0])):
        route, confidence = prefer_routing(learnwares, x, weights=weights)
        assert route and math.isnan(confidence)
        choice = data_free_method(learnwares, x, weights)
        assert choice.method == "job-selector" and choice.note == ""


def test_an_asked_method_is_never_overruled(alike):
    learnwares, x, _ = alike
    out = reuse_learnwares(learnwares, x, method="job-selector")
    assert out.method == "job-selector"
    assert not any("cannot be told apart" in n for n in out.notes)


def test_a_routed_default_routes_the_rows_once(separable, monkeypatch):
    """The choice's posteriors are the routing: `reuse_learnwares` (no method, no labels)
    computes the router's kernel blocks on the user's rows once, and predicts exactly
    what a fresh job selector does."""
    learnwares, x, y = separable
    expected = JobSelector(learnwares).fit().predict(x)
    passes = []
    original = JobSelector._log_posterior

    def counted(self, inputs):
        passes.append(len(inputs.rows))
        return original(self, inputs)

    monkeypatch.setattr(JobSelector, "_log_posterior", counted)
    out = reuse_learnwares(learnwares, x)
    assert out.method == "job-selector"
    assert passes == [len(x)]
    np.testing.assert_array_equal(out.predictions, expected)
    assert accuracy(JobSelector(learnwares).fit(), x, y) > 0.9


def test_a_routing_of_other_learnwares_is_refused(separable, alike):
    learnwares, x, _ = separable
    routing = JobSelector(alike[0]).fit().routing(x)  # three learnwares' posteriors
    with pytest.raises(ReuseError, match="do not fit 2 learnwares"):
        JobSelector(learnwares).fit().predict(routing)
