"""FeatureAugment's learner choice: a forest on the stacked features when the labels
show it beats the linear model, never on few labels (`engine/reuse/forest_stack.py`).

The user's labels depend on its own features in a way no learnware knows: an XOR of
two coordinates (no linear model can express it) or a linear shift (a forest can
only approximate it). Both tasks, routed and unrouted.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ReuseError
from engine.reuse import FeatureAugment
from engine.reuse import forest_stack as fs
from engine.reuse.synthetic import make_learnwares, make_regions

N_MANY = 400


@pytest.fixture(scope="module")
def worlds():
    out = {}
    for task in ("classification", "regression"):
        regions = make_regions(3, 4, task=task, n_classes=3, spread=2.0, random_state=5)
        out[task] = regions, make_learnwares(regions, 300, n_points=20, random_state=6)
    return out


def user_rows(worlds, task: str, kind: str, n: int, seed: int):
    """n rows of region 0 labelled by the user's own rule (see the module doc)."""
    regions, lws = worlds[task]
    x, y = regions.sample(0, n, np.random.default_rng(seed))
    u = x - regions.centres[0]
    if task == "classification":
        rule = u[:, 0] * u[:, 1] > 0 if kind == "xor" else u[:, 0] + u[:, 1] > 0
        return lws, x, np.where(rule, 100, 101)
    shift = np.sign(u[:, 0] * u[:, 1]) if kind == "xor" else u[:, 0] + u[:, 1]
    return lws, x, y + shift


def quality(model: FeatureAugment, x: np.ndarray, y: np.ndarray, task: str) -> float:
    """Accuracy, or minus the RMSE: higher is better."""
    pred = model.predict(x)
    if task == "classification":
        return float((pred == y).mean())
    return -float(np.sqrt(((pred - y) ** 2).mean()))


@pytest.mark.parametrize("routing", [True, False])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_forest_chosen_when_the_labels_are_nonlinear_in_the_users_features(
        worlds, task, routing):
    lws, x, y = user_rows(worlds, task, "xor", N_MANY + 2000, seed=1)
    auto = FeatureAugment(lws, routing=routing).fit(x[:N_MANY], y[:N_MANY])
    linear = FeatureAugment(lws, routing=routing, learner="linear").fit(x[:N_MANY], y[:N_MANY])
    assert auto.routed_ is routing
    assert auto.learner_ == "forest" and auto.forest_ is not None
    assert auto.cv_scores_ is not None and auto.cv_scores_[1] > auto.cv_scores_[0]
    margin = 0.15 if task == "classification" else 0.2  # accuracy / RMSE (y spread ~1)
    test_x, test_y = x[N_MANY:], y[N_MANY:]
    assert quality(auto, test_x, test_y, task) > quality(linear, test_x, test_y, task) + margin
    if task == "classification":
        proba = auto.predict_proba(test_x)
        assert proba.shape == (len(test_x), len(auto.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_linear_kept_when_the_users_rule_is_linear(worlds, task):
    """Fails if the comparison were biased towards the forest (a held-out score of the
    wrong shape once made every regression choose it)."""
    lws, x, y = user_rows(worlds, task, "linear", N_MANY, seed=2)
    auto = FeatureAugment(lws).fit(x, y)
    assert auto.cv_scores_ is not None and auto.cv_scores_[0] > auto.cv_scores_[1]
    assert auto.learner_ == "linear" and auto.forest_ is None


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_forest_not_tried_on_few_labels(worlds, task):
    lws, x, y = user_rows(worlds, task, "xor", fs.MIN_LABELS - 1, seed=3)
    auto = FeatureAugment(lws).fit(x, y)
    assert auto.learner_ == "linear" and auto.cv_scores_ is None and auto.forest_ is None


def test_learner_forced_and_validated(worlds):
    lws, x, y = user_rows(worlds, "classification", "linear", 60, seed=4)
    forced = FeatureAugment(lws, learner="forest").fit(x, y)
    assert forced.learner_ == "forest" and forced.cv_scores_ is None
    assert np.isin(forced.predict(x), [100, 101]).all()
    lws, x, y = user_rows(worlds, "classification", "xor", N_MANY, seed=5)
    assert FeatureAugment(lws, learner="linear").fit(x, y).learner_ == "linear"
    for bad in ("tree", None, 1):
        with pytest.raises(ReuseError, match="learner"):
            FeatureAugment(lws, learner=bad).fit(x, y)
