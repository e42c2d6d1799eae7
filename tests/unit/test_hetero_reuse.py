"""Heterogeneous reuse: the user's rows in each learnware's columns, data-free or stacked."""

import dataclasses

import numpy as np
import pytest
from hetero_helpers import catalog, market, need_minilm, user_spec
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from engine.errors import ReuseError
from engine.hetero import ColumnMapping, ColumnPair, HeteroReuser
from engine.hetero.synthetic import house_model
from engine.learnware import Learnware
from engine.search import Requirement
from engine.specification import InputSpec, OutputSpec

USERS = [("city-a", 201), ("city-b", 202), ("city-a", 203), ("city-b", 204)]
N_LABELS = 50


def rmse(pred, y):
    return float(np.sqrt(np.mean((np.asarray(pred) - y) ** 2)))


def found(user, k=3):
    result = catalog().search(Requirement(user.semantic(), user_spec(user.x_pool)), k=k)
    by_id = {lw.id: lw for lw in market().learnwares}
    return [by_id[m.id] for m in result.single], [m.mapping for m in result.single]


@pytest.fixture(scope="module")
def runs():
    need_minilm()
    out = []
    for task, seed in USERS:
        user = market().user(task, 6, seed)
        lws, maps = found(user)
        rows = np.random.default_rng(seed).choice(len(user.x_pool), N_LABELS, replace=False)
        out.append((user, lws, maps, user.x_pool[rows], user.y_pool[rows]))
    return out


def test_reuse_with_0_and_50_labels_beats_user_only_models_at_50_labels(runs):
    free, stacked, own = [], [], []
    for user, lws, maps, xl, yl in runs:
        free.append(rmse(HeteroReuser(lws, mappings=maps).fit(user.x_pool).predict(user.x_test),
                         user.y_test))
        stacked.append(rmse(HeteroReuser(lws, mappings=maps).fit(xl, yl).predict(user.x_test),
                            user.y_test))
        # The user's best model on its own labels, chosen on the test rows (generous).
        own.append(min(rmse(m.fit(xl, yl).predict(user.x_test), user.y_test) for m in (
            house_model(), make_pipeline(StandardScaler(), RidgeCV()))))
    assert np.mean(free) < 0.85 * np.mean(own), (free, own)
    assert np.mean(stacked) < 0.85 * np.mean(own), (stacked, own)
    assert sum(s < o for s, o in zip(stacked, own, strict=True)) >= 3


def test_missing_columns_are_estimated_from_the_learnwares_spec_not_zeros(runs):
    user, lws, maps, _, _ = runs[0]
    reuser = HeteroReuser(lws, mappings=maps).fit(user.x_pool)
    for j, m in enumerate(reuser.mappings_):
        rows = reuser.transform(user.x_test[:200], j)
        for p in m.pairs:
            assert np.array_equal(rows[:, p.learnware], user.x_test[:200, p.user])
        spec = lws[j].spec
        centre = spec.weights_ @ spec.points_
        for col in m.missing:
            assert abs(rows[:, col].mean() - centre[col]) < 0.5 * spec.points_[:, col].std() + 0.2
            assert rows[:, col].std() > 0  # depends on the user's other columns
            assert not np.allclose(rows[:, col], 0.0)


def test_matching_inside_the_reuser_agrees_with_the_search(runs):
    user, lws, maps, _, _ = runs[1]
    reuser = HeteroReuser(lws, user_input=user.org.input_spec()).fit(user.x_pool)
    for got, want in zip(reuser.mappings_, maps, strict=True):
        assert {(p.user, p.learnware) for p in got.pairs} == {
            (p.user, p.learnware) for p in want.pairs}
    with_maps = HeteroReuser(lws, mappings=maps).fit(user.x_pool).predict(user.x_test)
    assert rmse(reuser.predict(user.x_test), user.y_test) == pytest.approx(
        rmse(with_maps, user.y_test), rel=0.05)


def test_conditional_draws_give_the_same_kind_of_answer(runs):
    user, lws, maps, _, _ = runs[2]
    point = HeteroReuser(lws[:1], mappings=maps[:1]).fit(user.x_pool).predict(user.x_test)
    drawn = HeteroReuser(lws[:1], mappings=maps[:1], draws=8).fit(user.x_pool).predict(
        user.x_test)
    assert drawn.shape == point.shape
    assert rmse(drawn, user.y_test) < 1.2 * rmse(point, user.y_test)


def test_classification_data_free_and_with_labels(runs):
    user, lws, maps, xl, yl = runs[0]
    cut = float(np.median(user.y_pool))

    def classifier(lw):
        x, y = market().tasks[market().task_of[lw.id]].sample(1500, np.random.default_rng(3))
        xo = market().orgs[lw.id].select(x)
        model = make_pipeline(StandardScaler(), PolynomialFeatures(2),
                              LogisticRegression(C=1.0, max_iter=3000)).fit(
            xo, np.where(y > cut, "dear", "cheap"))
        semantic = dataclasses.replace(lw.semantic, task_type="classification",
                                       output=OutputSpec(1, labels=("cheap", "dear")))
        return Learnware(lw.id, semantic, lw.spec, model)

    clfs = [classifier(lw) for lw in lws]
    truth = np.where(user.y_test > cut, "dear", "cheap")
    free = HeteroReuser(clfs, mappings=maps).fit(user.x_pool)
    proba = free.predict_proba(user.x_test)
    assert list(free.classes_) == ["cheap", "dear"]
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(free.predict(user.x_test) == truth) > 0.8
    stacked = HeteroReuser(clfs, mappings=maps).fit(xl, np.where(yl > cut, "dear", "cheap"))
    assert np.mean(stacked.predict(user.x_test) == truth) > 0.8


def test_bad_input_is_refused_clearly(runs):
    user, lws, maps, xl, yl = runs[0]
    names = InputSpec.from_columns([f.name for f in user.org.input_spec().features])
    with pytest.raises(ReuseError, match="needs the user's columns described"):
        HeteroReuser(lws, user_input=names).fit(user.x_pool)
    with pytest.raises(ReuseError, match="no mapping, and matching"):
        HeteroReuser(lws).fit(user.x_pool)
    with pytest.raises(ReuseError, match="2 for 3 learnwares"):
        HeteroReuser(lws, mappings=maps[:2]).fit(user.x_pool)
    with pytest.raises(ReuseError, match="expected 6 features"):
        HeteroReuser(lws, mappings=maps).fit(user.x_pool[:, :5])
    short = ColumnMapping(maps[0].user_columns[:5], maps[0].learnware_columns, ())
    with pytest.raises(ReuseError, match="expected 5 features"):
        HeteroReuser(lws[:1], mappings=[short]).fit(user.x_pool)
    with pytest.raises(ReuseError, match="maps 5 user columns, X has 6"):
        HeteroReuser(lws[:1], user_input=user.org.input_spec(), mappings=[short]).fit(
            user.x_pool)
    empty = ColumnMapping(maps[0].user_columns, maps[0].learnware_columns, ())
    with pytest.raises(ReuseError, match="no user column feeds"):
        HeteroReuser(lws[:1], mappings=[empty]).fit(user.x_pool)
    wrong = ColumnMapping(maps[0].user_columns, ("a",), (ColumnPair(0, 0, 1.0),))
    with pytest.raises(ReuseError, match=r"learnware .* takes"):
        HeteroReuser(lws[:1], mappings=[wrong]).fit(user.x_pool)
    for bad, message in [({"fill": "zeros"}, "fill"), ({"draws": -1}, "draws"),
                         ({"alpha": 0}, "alpha")]:
        with pytest.raises(ValueError, match=message):
            HeteroReuser(lws, mappings=maps, **bad).fit(user.x_pool)
    with pytest.raises(ReuseError, match="3 labels for 50 rows"):
        HeteroReuser(lws, mappings=maps).fit(xl, yl[:3])
    with pytest.raises(ReuseError, match="not fitted"):
        HeteroReuser(lws, mappings=maps).predict(user.x_test)
    unnamed = dataclasses.replace(lws[0], semantic=dataclasses.replace(
        lws[0].semantic, input=InputSpec(lws[0].spec.dim_)))
    with pytest.raises(ReuseError, match="names no columns"):
        HeteroReuser([unnamed], user_input=user.org.input_spec()).fit(user.x_pool)


def test_estimator_contract_clone_params_and_determinism(runs):
    from sklearn.base import clone

    user, lws, maps, xl, yl = runs[3]
    reuser = HeteroReuser(lws, mappings=maps, fill="kernel")
    assert clone(reuser).get_params()["fill"] == "kernel"
    a = reuser.fit(xl, yl).predict(user.x_test)
    b = clone(reuser).fit(xl, yl).predict(user.x_test)
    assert np.array_equal(a, b)
    assert not hasattr(reuser, "predict_proba")  # regression
