"""What each reuser does beyond the shared contract: routing, pruning, stacking, and
the label alignment helpers they share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector
from engine.reuse import labels as lab
from engine.reuse.ensemble_pruning import evolve_subset, greedy_subset
from engine.reuse.job_selector import silverman_bandwidth
from engine.reuse.synthetic import make_learnwares, make_regions
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec


@pytest.fixture(scope="module")
def four():
    regions = make_regions(4, 5, n_classes=3, spread=2.0, random_state=2)
    return regions, make_learnwares(regions, 400, n_points=30, random_state=3)


def _learnware(model: Any, x: np.ndarray, labels: tuple[Any, ...] = (), name: str = "lw",
               n_points: int = 10) -> Learnware:
    # tiny local fixtures: the non-private fit (the reusers' behaviour is under test)
    spec = RKMETableSpec(n_points=n_points, random_state=0, min_rows_per_point=1).fit(x)
    task = "classification" if labels or hasattr(model, "classes_") else "regression"
    out = OutputSpec(len(labels), labels=labels) if labels else OutputSpec(1)
    semantic = SemanticSpec(task_type=task, name=name, input=InputSpec(x.shape[1]), output=out)
    return Learnware(name, semantic, spec, model)


# --- labels -------------------------------------------------------------------------------

def test_canonical_labels_unify_numeric_types():
    assert lab.canonical_labels(np.array([1.0, 2.0, 1.0]), "y") == [1, 2, 1]
    assert lab.canonical_labels(np.array([True, False]), "y") == [1, 0]
    assert lab.canonical_labels(np.array(["b", "a"]), "y") == ["b", "a"]
    assert lab.canonical_labels(np.array([[3], [4]]), "y") == [3, 4]
    assert lab.canonical_labels(np.array([1, "a"], dtype=object), "y") == [1, "a"]
    with pytest.raises(ReuseError, match=r"y: label 0\.5"):
        lab.canonical_labels([0.5], "y")


def test_aligned_proba_moves_columns_by_name():
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = np.where(x[:, 0] > 0, "z", "a")
    model = LogisticRegression().fit(x, y)
    lw = _learnware(model, x)
    classes = np.array(["a", "m", "z"])
    out = lab.aligned_proba(lw, x, classes)
    np.testing.assert_allclose(out[:, [0, 2]], model.predict_proba(x))
    assert (out[:, 1] == 0).all()
    votes = lab.onehot_votes(lw, x, classes)
    np.testing.assert_array_equal(classes[votes.argmax(axis=1)], model.predict(x))


class _Broken:
    classes_ = np.array([0, 1])

    def __init__(self, proba: np.ndarray | None = None, labels: Any = None) -> None:
        self.proba, self.labels = proba, labels

    def predict(self, x: np.ndarray) -> Any:
        return self.labels if self.labels is not None else np.zeros(len(x), dtype=int)

    def predict_proba(self, x: np.ndarray) -> Any:
        return self.proba


@pytest.mark.parametrize("model, call, message", [
    (_Broken(proba=np.ones((5, 3)) / 3), "proba", r"shape \(5, 3\)"),
    (_Broken(proba=np.full((5, 2), np.nan)), "proba", "NaN"),
    (_Broken(labels=np.full(5, 7)), "votes", "label 7 is not one of the classes"),
    (_Broken(labels=np.zeros(4)), "votes", r"shape \(4,\) for 5 rows"),
])
def test_misbehaving_models_are_named(model, call, message):
    x = np.random.default_rng(0).normal(size=(5, 2))
    lw = _learnware(model, x, name="bad-one")
    with pytest.raises(ReuseError, match=message) as info:
        if call == "proba":
            lab.aligned_proba(lw, x, np.array([0, 1]))
        else:
            lab.onehot_votes(lw, x, np.array([0, 1]))
    assert "bad-one" in str(info.value)


def test_classifier_without_class_names_is_refused():
    class NoNames:
        def predict(self, x):
            return np.zeros(len(x), dtype=int)

        def predict_proba(self, x):
            return np.ones((len(x), 2)) / 2

    x = np.random.default_rng(0).normal(size=(20, 2))
    spec = RKMETableSpec(n_points=5, random_state=0).fit(x)
    lw = Learnware("anon", SemanticSpec(task_type="classification"), spec, NoNames())
    with pytest.raises(ReuseError, match="anon: a classifier must name its classes"):
        Averaging([lw]).fit()


# --- JobSelector --------------------------------------------------------------------------

def test_job_selector_routes_rows_to_their_region(four):
    regions, lws = four
    x, _, region = regions.sample_mixture([0.25] * 4, 800, np.random.default_rng(0))
    selector = JobSelector(lws).fit()
    bayes = (regions.log_density(x).argmax(axis=1) == region).mean()
    assert (selector.route(x) == region).mean() >= bayes - 0.02, bayes
    post = selector.route_proba(x)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    np.testing.assert_array_equal(post.argmax(axis=1), selector.route(x))
    # The pooled density bandwidth is far narrower than the specs' own kernels.
    assert selector.gamma_ > max(lw.spec.gamma_ for lw in lws)  # narrower than the specs
    # Gaussian regions: one Gaussian per task is the right model, and routes as Bayes.
    gauss = JobSelector(lws, density="gaussian").fit()
    assert (gauss.route(x) == region).mean() >= bayes - 0.005


def test_job_selector_weights_are_priors(four):
    regions, lws = four
    x, _, _ = regions.sample_mixture([0.25] * 4, 400, np.random.default_rng(1))
    route = JobSelector(lws, weights=[1.0, 0.0, 1.0, 1.0]).fit().route(x)
    assert 1 not in set(route.tolist())
    only = JobSelector(lws, weights=[0.0, 0.0, 1.0, 0.0]).fit()
    np.testing.assert_array_equal(only.predict(x), lws[2].model.predict(x))


def test_job_selector_bandwidth_choices(four):
    _, lws = four
    assert JobSelector(lws, bandwidth=0.5).fit().gamma_ == pytest.approx(2.0)
    one_point = [_learnware(lw.model, lw.spec.points_[:3], lw.semantic.output.labels,
                            name=lw.id, n_points=1) for lw in lws[:2]]
    h = silverman_bandwidth([lw.spec for lw in one_point])
    gamma = np.median([lw.spec.gamma_ for lw in one_point])
    assert h == pytest.approx(np.sqrt(1 / (2 * gamma)))
    assert JobSelector(one_point).fit().bandwidth_ == pytest.approx(h)


def test_learnwares_of_different_widths_are_refused(four):
    _, lws = four
    other = _learnware(lws[0].model, np.zeros((4, 6)) + np.arange(6), (0, 1, 2))
    with pytest.raises(ReuseError, match="input widths disagree"):
        JobSelector([lws[0], other]).fit()


# --- EnsemblePruning ----------------------------------------------------------------------

def test_greedy_prefers_small_subsets_and_low_indices():
    scores = {(0,): 0.5, (1,): 0.7, (2,): 0.7, (0, 1): 0.9, (1, 2): 0.7, (0, 2): 0.6,
              (0, 1, 2): 0.9}

    def score(subset):
        return (scores[subset], 0.0, -len(subset))

    assert greedy_subset(score, 3, 3) == (0, 1)
    assert greedy_subset(score, 3, 1) == (1,)


def test_evolution_never_loses_to_its_seed_and_is_seeded():
    rng_scores = np.random.default_rng(0).random(2 ** 8)

    def score(subset):
        return (float(rng_scores[sum(1 << i for i in subset)]), 0.0, -len(subset))

    seed = greedy_subset(score, 8, 8)
    a = evolve_subset(score, 8, 8, seed, np.random.default_rng(5), 8, 10)
    b = evolve_subset(score, 8, 8, seed, np.random.default_rng(5), 8, 10)
    assert a == b and score(a) >= score(seed)
    best = max((tuple(i for i in range(8) if m >> i & 1) for m in range(1, 256)), key=score)
    assert score(evolve_subset(score, 8, 8, seed, np.random.default_rng(5), 16, 60)) == \
        score(best)


def test_pruning_keeps_identical_learnwares_once(four):
    regions, lws = four
    x, y = regions.sample(2, 60, np.random.default_rng(2))
    twins = [lws[0], lws[2], lws[2], lws[1]]
    pruned = EnsemblePruning(twins, routing=False).fit(x, y)
    assert pruned.selected_ == (1,)
    assert pruned.score_[0] == pytest.approx((lws[2].model.predict(x) == y).mean())


def test_pruning_evolution_and_hard_voting(four):
    regions, lws = four
    x, y = regions.sample(1, 80, np.random.default_rng(4))
    greedy = EnsemblePruning(lws).fit(x, y)
    evolved = EnsemblePruning(lws, method="evolution", random_state=3).fit(x, y)
    assert evolved.score_ >= greedy.score_
    hard = EnsemblePruning(lws, voting="hard", max_size=2).fit(x, y)
    assert 1 <= len(hard.selected_) <= 2
    assert set(np.unique(hard.predict_proba(x))) <= {0.0, 0.5, 1.0}


def test_pruning_counts_unknown_user_classes_as_wrong(four):
    regions, lws = four
    x, y = regions.sample(0, 50, np.random.default_rng(5))
    y = y.copy()
    y[:10] = 99
    pruned = EnsemblePruning(lws).fit(x, y)
    assert pruned.score_[0] <= 0.8
    assert 99 not in pruned.classes_


# --- FeatureAugment -----------------------------------------------------------------------

def test_feature_augment_learns_a_class_only_the_user_has(four):
    regions, lws = four
    x, y = regions.sample(3, 300, np.random.default_rng(6))
    y = np.where(x[:, 0] > np.quantile(x[:, 0], 0.8), 42, y)
    routed = FeatureAugment(lws[:2]).fit(x, y)
    assert routed.routed_ and 42 in routed.classes_.tolist()
    assert (routed.predict(x) == 42).sum() > 30
    fa = FeatureAugment(lws[:2], routing=False).fit(x, y)
    assert not fa.routed_ and 42 in fa.classes_.tolist()
    assert (fa.predict(x) == 42).sum() > 30
    proba = fa.predict_proba(x)
    known_only_to_learnwares = np.setdiff1d(fa.classes_, np.unique(y))
    for label in known_only_to_learnwares:
        assert (proba[:, fa.classes_.tolist().index(label)] == 0).all()


def test_feature_augment_on_one_class_falls_back_and_outputs_only_mode(four):
    regions, lws = four
    x, y = regions.sample(0, 40, np.random.default_rng(7))
    # One class in the labels: nothing to tell apart, so the data-free base answers
    # (it used to raise "at least 2 classes"), and a note says so.
    one = FeatureAugment(lws).fit(x, np.full(40, y[0]))
    assert one.learner_ == "data-free" and one.model_ is None
    assert len(one.notes_) == 1 and "one class" in one.notes_[0]
    outs = np.stack([lab.aligned_proba(lw, x, one.classes_) for lw in lws])
    post = JobSelector(lws).fit().route_proba(x)
    expected = (np.einsum("nj,jnk->nk", post, outs) if one.base_ == "route"
                else outs.mean(axis=0))
    np.testing.assert_allclose(one.predict_proba(x), expected)
    stacked = FeatureAugment(lws, use_raw=False, alpha=0.1, routing=False).fit(x, y)
    assert stacked.model_.coef_.shape[1] == len(lws) * len(stacked.classes_)
    # Routed: outputs and routing posteriors (plus intercepts), one column per class.
    routed = FeatureAugment(lws, use_raw=False, alpha=0.1).fit(x, y)
    n_classes = len(routed.classes_)
    assert routed.model_.coef.shape == (len(lws) * n_classes + len(lws) + 1, n_classes)


def test_feature_augment_regression_scale_invariance():
    regions = make_regions(2, 3, task="regression", spread=2.0, random_state=0)
    lws = make_learnwares(regions, 300, n_points=20, random_state=0)
    x, y = regions.sample(0, 80, np.random.default_rng(0))
    scaled = [Learnware(lw.id, lw.semantic, lw.spec, _Scaled(lw.model, 1000.0)) for lw in lws]
    for routing in (True, False):
        base = FeatureAugment(lws, routing=routing).fit(x, y).predict(x)
        big = FeatureAugment(scaled, routing=routing).fit(x, 1000.0 * y).predict(x)
        np.testing.assert_allclose(big / 1000.0, base, rtol=1e-6, atol=1e-6)


class _Scaled:
    def __init__(self, model: Any, factor: float) -> None:
        self.model, self.factor = model, factor

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.factor * self.model.predict(x)


def test_the_offset_fit_takes_scipys_logsumexp_float_for_float():
    from scipy.special import logsumexp

    from engine.reuse.offset_logistic import _logsumexp_rows

    rng = np.random.default_rng(0)
    for scale in (1e-3, 1.0, 30.0, 700.0):
        z = rng.normal(scale=scale, size=(50, 4))
        z[::3, 1] = z[::3, 0]  # rows whose maximum is tied
        z[::5] = 2.5  # rows of one value
        assert np.array_equal(_logsumexp_rows(z), logsumexp(z, axis=1))
