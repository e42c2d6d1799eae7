"""One conformance suite that every reuser passes.

The scikit-learn contract (fit returns self, shapes, determinism, clone), input
validation (every bad input is a `ReuseError` that is a `ValueError` and names the
input), label alignment across learnwares with different class sets, and
regression. Each check runs against every reuser in `REUSERS`; `HeteroReuser` on
tables whose columns are the learnwares' own (each column mapped onto itself), fitted
on the user's rows without labels (its data-free answer) unless a check gives labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from engine.errors import ReuseError
from engine.hetero import ColumnMapping, ColumnPair, HeteroReuser
from engine.learnware import Learnware
from engine.reuse import Averaging, EnsemblePruning, FeatureAugment, JobSelector, Reuser
from engine.reuse.synthetic import make_learnwares, make_regions
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec

REUSERS: list[type[Reuser]] = [JobSelector, Averaging, EnsemblePruning, FeatureAugment,
                               HeteroReuser]
NEEDS_LABELS = {EnsemblePruning, FeatureAugment}
TAKES_ROWS = {HeteroReuser}
"""Fitted on the user's rows without labels (data-free); labels are optional."""
CHECKS_LABELS = NEEDS_LABELS | TAKES_ROWS




@pytest.fixture(scope="module")
def market() -> dict[str, Any]:
    """Three classification learnwares with class sets {0,1,2}, {1,2,3}, {0,2,3}, three
    regression learnwares, and users drawn from all their regions."""
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    for task in ("classification", "regression"):
        regions = make_regions(3, 4, task=task, n_classes=3, n_labels=4, spread=2.0,
                               random_state=0)
        lws = make_learnwares(regions, 300, n_points=20, random_state=1)
        x, y, _ = regions.sample_mixture([0.4, 0.3, 0.3], 200, rng)
        out[task] = (lws, x, y)
    return out


def same_columns(lws: Any) -> list[ColumnMapping | None] | None:
    """`HeteroReuser`'s mappings when the user's columns are each learnware's own: every
    column feeds itself (the data a table reuser shares with the others)."""
    if not isinstance(lws, list):
        return None
    out: list[ColumnMapping | None] = []
    for lw in lws:
        if not isinstance(lw, Learnware):
            out.append(None)
            continue
        names = tuple(f"c{j}" for j in range(lw.spec.dim_))
        out.append(ColumnMapping(names, names,
                                 tuple(ColumnPair(j, j, 1.0) for j in range(len(names)))))
    return out


def made(cls: type[Reuser], lws: Any, **params: Any) -> Reuser:
    if cls is HeteroReuser and "mappings" not in params:
        params["mappings"] = same_columns(lws)
    return cls(lws, **params)


def fit(reuser: Reuser, x: np.ndarray, y: np.ndarray) -> Reuser:
    cls = type(reuser)
    if cls in NEEDS_LABELS:
        return reuser.fit(x, y)
    return reuser.fit(x) if cls in TAKES_ROWS else reuser.fit()


def fitted(cls: type[Reuser], lws: list[Learnware], x: np.ndarray, y: np.ndarray,
           **params: Any) -> Reuser:
    return fit(made(cls, lws, **params), x, y)


# --- the estimator contract ---------------------------------------------------------------

@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("cls", REUSERS)
def test_fit_returns_self_and_predict_shapes(cls, task, market):
    lws, x, y = market[task]
    reuser = made(cls, lws)
    assert fit(reuser, x, y) is reuser
    assert reuser.task_ == task
    pred = reuser.predict(x)
    assert pred.shape == (len(x),)
    if task == "classification":
        assert set(np.unique(pred)) <= set(reuser.classes_.tolist())
        proba = reuser.predict_proba(x)
        assert proba.shape == (len(x), len(reuser.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    else:
        assert pred.dtype == np.float64 and np.isfinite(pred).all()
        assert not hasattr(reuser, "predict_proba")


@pytest.mark.parametrize("cls", REUSERS)
def test_deterministic_and_clonable(cls, market):
    lws, x, y = market["classification"]
    params = {"random_state": 0} if "random_state" in cls().get_params() else {}
    a = fitted(cls, lws, x, y, **params)
    b = fit(clone(a), x, y)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert b.get_params()["learnwares"] is not None


@pytest.mark.parametrize("cls", REUSERS)
def test_not_fitted_is_an_error(cls, market):
    _, x, _ = market["classification"]
    with pytest.raises(ReuseError, match="not fitted"):
        made(cls, market["classification"][0]).predict(x)


# --- bad inputs ---------------------------------------------------------------------------

def _bad_x(x: np.ndarray) -> dict[str, tuple[Any, str]]:
    nan = x.copy()
    nan[3, 1] = np.nan
    return {
        "wrong width": (x[:, :-1], "expected 4 features"),
        "empty": (x[:0], "empty"),
        "nan": (nan, "NaN"),
        "one-dimensional": (x[:, 0], "2-D"),
        "not numeric": (np.full(x.shape, "a"), "numeric"),
    }


@pytest.fixture(scope="module")
def fitted_once(market: dict[str, Any]) -> Any:
    """Each reuser fitted once on the classification market, for the checks that only
    call `predict` (a FeatureAugment fit cross-validates: seconds, not milliseconds)."""
    cache: dict[type[Reuser], Reuser] = {}

    def get(cls: type[Reuser]) -> Reuser:
        if cls not in cache:
            lws, x, y = market["classification"]
            cache[cls] = fitted(cls, lws, x, y)
        return cache[cls]

    return get


@pytest.mark.parametrize("case", list(_bad_x(np.zeros((5, 4)))))
@pytest.mark.parametrize("cls", REUSERS)
def test_bad_rows_are_value_errors(cls, case, market, fitted_once):
    lws, x, y = market["classification"]
    reuser = fitted_once(cls)
    bad, message = _bad_x(x)[case]
    with pytest.raises(ReuseError, match=message) as info:
        reuser.predict(bad)
    assert isinstance(info.value, ValueError) and "X" in str(info.value)
    if cls in CHECKS_LABELS:  # the (labelled) rows are checked the same way
        with pytest.raises(ReuseError, match=message):
            made(cls, lws).fit(bad, y[:len(bad)] if np.ndim(bad) else y)


@pytest.mark.parametrize("cls", REUSERS)
@pytest.mark.parametrize("learnwares, message", [
    ([], "no learnwares"),
    (None, "sequence of Learnware"),
    ([object()], r"learnwares\[0\]: expected a Learnware"),
])
def test_bad_learnwares(cls, learnwares, message, market):
    _, x, y = market["classification"]
    with pytest.raises(ReuseError, match=message):
        fitted(cls, learnwares, x, y)


@pytest.mark.parametrize("cls", REUSERS)
def test_mixed_tasks_are_refused(cls, market):
    lws = [market["classification"][0][0], market["regression"][0][0]]
    _, x, y = market["classification"]
    with pytest.raises(ReuseError, match="mixed task types"):
        fitted(cls, lws, x, y)


@pytest.mark.parametrize("cls", sorted(CHECKS_LABELS, key=lambda c: c.__name__))
@pytest.mark.parametrize("task, make_y, message", [
    ("classification", lambda y: y[:-1], "labels for 200 rows"),
    ("classification", lambda y: np.array([f"c{v}" for v in y]), "wrong kind"),
    ("classification", lambda y: y + 0.5, "neither an integer nor a string"),
    ("classification", lambda y: np.where(np.arange(len(y)) == 0, np.nan, y), "neither"),
    ("classification", lambda y: np.stack([y, y], axis=1), "1-D"),
    ("regression", lambda y: y[:10], "labels for 200 rows"),
    ("regression", lambda y: np.array([str(v) for v in y]), "wrong kind"),
    ("regression", lambda y: np.where(np.arange(len(y)) == 0, np.inf, y), "NaN or infinite"),
])
def test_bad_labels(cls, task, make_y, message, market):
    lws, x, y = market[task]
    with pytest.raises(ReuseError, match=message) as info:
        made(cls, lws).fit(x, make_y(y))
    assert "y" in str(info.value)


@pytest.mark.parametrize("cls", REUSERS)
def test_bad_weights_or_params(cls, market):
    lws, x, y = market["classification"]
    params = cls().get_params()
    if "weights" in params:
        for weights in ([1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [np.nan, 1.0, 1.0]):
            with pytest.raises(ReuseError, match="weights"):
                fitted(cls, lws, x, y, weights=weights)
        # huge but finite: their sum once overflowed and the weights became all 0
        huge = fitted(cls, lws, x, y, weights=[1e308, 1e308, 1e308])
        equal = fitted(cls, lws, x, y, weights=[1.0, 1.0, 1.0])
        np.testing.assert_array_equal(huge.predict(x), equal.predict(x))
    bad = {"voting": "maybe", "method": "annealing", "max_size": 0, "alpha": -1.0,
           "bandwidth": "wide", "density": "blob", "learner": "tree", "fill": "zeros",
           "draws": -1}
    for name, value in bad.items():
        if name in params:
            with pytest.raises(ReuseError, match=name):
                fitted(cls, lws, x, y, **{name: value})


# --- label alignment ----------------------------------------------------------------------

class FixedProba:
    """A classifier that answers the same probabilities for every row, with its
    classes in a deliberately unsorted order."""

    def __init__(self, classes: list[Any], proba: list[float]) -> None:
        self.classes_ = np.array(classes)
        self.proba = np.array(proba)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.proba, (len(x), 1))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


class VoteOnly:
    """A classifier with predict only (no predict_proba, no classes_)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.label)


def _learnware(name: str, model: Any, labels: tuple[Any, ...], centre: float) -> Learnware:
    rng = np.random.default_rng(len(name))
    spec = RKMETableSpec(n_points=10, random_state=0).fit(centre + rng.normal(size=(60, 3)))
    semantic = SemanticSpec(task_type="classification", name=name, input=InputSpec(3),
                            output=OutputSpec(len(labels), labels=labels))
    return Learnware(name, semantic, spec, model)


@pytest.fixture(scope="module")
def animals() -> tuple[list[Learnware], np.ndarray, np.ndarray]:
    lws = [
        _learnware("a", FixedProba(["dog", "cat"], [0.7, 0.3]), ("cat", "dog"), -3.0),
        _learnware("b", FixedProba(["fish", "dog"], [0.6, 0.4]), ("dog", "fish"), 3.0),
        _learnware("c", VoteOnly("bird"), ("bird", "cat"), 0.0),
    ]
    rng = np.random.default_rng(1)
    x = np.vstack([c + rng.normal(size=(20, 3)) for c in (-3.0, 3.0, 0.0)])
    y = np.repeat(["dog", "fish", "bird"], 20)
    return lws, x, y


# Aligned rows of a, b, c over the union ["bird", "cat", "dog", "fish"].
ROW = {"a": [0.0, 0.3, 0.7, 0.0], "b": [0.0, 0.0, 0.4, 0.6], "c": [1.0, 0.0, 0.0, 0.0]}


@pytest.mark.parametrize("cls", REUSERS)
def test_classes_are_aligned_by_name(cls, animals):
    lws, x, y = animals
    reuser = fitted(cls, lws, x, y)
    assert reuser.classes_.tolist() == ["bird", "cat", "dog", "fish"]
    proba = reuser.predict_proba(x)
    assert proba.shape == (len(x), 4)
    pred = reuser.predict(x)
    assert pred.dtype.kind == "U"
    np.testing.assert_array_equal(pred, reuser.classes_[np.argmax(proba, axis=1)])
    if cls in (Averaging, HeteroReuser):  # HeteroReuser's data-free answer: the average
        np.testing.assert_allclose(proba, np.tile(np.mean(list(ROW.values()), axis=0),
                                                  (len(x), 1)))
    if cls is JobSelector:  # every row gets its own region's learnware, aligned by name
        np.testing.assert_allclose(proba, np.repeat(list(ROW.values()), 20, axis=0))
    if cls is EnsemblePruning:  # routing by region gets every row right ...
        assert reuser.combine_ == "route" and (pred == y).all()
        # ... while any average of constant members gets at most a third right.
        averaged = EnsemblePruning(lws, routing=False).fit(x, y)
        assert (averaged.predict(x) == y).mean() == pytest.approx(1 / 3)
    if cls is FeatureAugment:  # raw features + aligned outputs: each region's class right
        assert (pred == y).mean() > 0.9


@pytest.mark.parametrize("cls", REUSERS)
def test_integer_and_string_classes_do_not_mix(cls, animals):
    lws, x, y = animals
    numbered = _learnware("n", FixedProba([1, 0], [0.5, 0.5]), (0, 1), 0.0)
    with pytest.raises(ReuseError, match="mix integers and strings"):
        fitted(cls, [lws[0], numbered], x, y)


# --- regression ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", REUSERS)
def test_regression_on_a_one_region_user(cls, market):
    lws = market["regression"][0]
    regions = make_regions(3, 4, task="regression", spread=2.0, random_state=0)
    x, y = regions.sample(0, 200, np.random.default_rng(3))
    params = {"weights": [1.0, 0.0, 0.0]} if "weights" in cls().get_params() else {}
    reuser = fitted(cls, lws, x, y, **params)
    pred = reuser.predict(x)
    assert pred.shape == (200,) and np.isfinite(pred).all()
    mse = float(np.mean((pred - y) ** 2))
    assert mse < 0.1 * float(np.var(y)), (cls.__name__, mse, float(np.var(y)))


def test_regression_averaging_is_the_weighted_mean(market):
    lws, x, _ = market["regression"]
    pred = Averaging(lws, weights=[2.0, 1.0, 1.0]).fit().predict(x)
    outs = [lw.model.predict(x) for lw in lws]
    np.testing.assert_allclose(pred, 0.5 * outs[0] + 0.25 * outs[1] + 0.25 * outs[2])
