"""Table RKME: the properties the issue asks for, on data where the answer is known."""

import itertools

import numpy as np
import pytest

from engine import kernel
from engine.errors import SpecError
from engine.specification import RKMETableSpec, mmd2


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 8)) * 3
    return centres[rng.integers(0, 5, 3000)] + rng.normal(size=(3000, 8))


def test_spec_vs_sample_mmd_falls_as_k_grows(sample):
    values = [mmd2(RKMETableSpec(n_points=k, gamma=0.05, random_state=0).fit(sample), sample)
              for k in (2, 10, 50, 200)]
    assert all(later < earlier for earlier, later in itertools.pairwise(values))


def test_refinement_lowers_mmd(sample):
    plain = RKMETableSpec(n_points=30, gamma=0.05, refine_steps=0, random_state=0).fit(sample)
    refined = RKMETableSpec(n_points=30, gamma=0.05, refine_steps=5, random_state=0).fit(sample)
    assert mmd2(refined, sample) <= mmd2(plain, sample)


def test_the_non_private_fit_with_k_at_least_n_keeps_the_sample_exactly():
    x = np.arange(12.0).reshape(6, 2)
    spec = RKMETableSpec(n_points=10, gamma=1.0, min_rows_per_point=1).fit(x)
    np.testing.assert_array_equal(spec.points_, x)
    assert mmd2(spec, x) == pytest.approx(0.0, abs=1e-12)


def test_auto_gamma_is_a_power_of_two_and_scale_aware(sample):
    g1 = RKMETableSpec(random_state=0).fit(sample).gamma_
    g2 = RKMETableSpec(random_state=0).fit(sample * 10).gamma_
    assert np.log2(g1) == int(np.log2(g1))
    assert g2 == pytest.approx(g1 / 128, rel=1.01)  # 100x squared distances, snapped


def test_different_gammas_compare_under_the_pair_kernel(sample):
    a = RKMETableSpec(gamma=0.1, random_state=0).fit(sample[:1500])
    b = RKMETableSpec(gamma=0.025, random_state=0).fit(sample[1500:])
    g = kernel.pair_gamma(0.1, 0.025)
    assert g == pytest.approx(0.05)
    assert mmd2(a, b) == pytest.approx(mmd2(a, b, gamma=g))
    assert mmd2(a, b) == pytest.approx(mmd2(b, a))


@pytest.mark.parametrize(("bad", "shown"), [
    (np.zeros(5), r"\(5,\)"),
    (np.zeros((0, 3)), r"\(0, 3\)"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), r"\(2, 2\)"),
    (np.array([[1.0, np.inf]]), r"\(1, 2\)"),
    ([["a", "b"]], "numeric"),
])
def test_bad_input_messages_show_the_shape(bad, shown):
    with pytest.raises(SpecError, match=shown):
        RKMETableSpec().fit(bad)


@pytest.mark.parametrize("gamma", [0, -1.0, float("nan"), "median", True, 1e308])
def test_bad_gamma(gamma):
    with pytest.raises(SpecError, match="gamma"):
        RKMETableSpec(gamma=gamma).fit(np.ones((3, 2)))


def test_values_too_large_to_compare_are_refused_and_the_largest_allowed_work():
    """Finite values of 1e155 once made NaN distances (squares overflow); the bound is
    what a spec can carry on the wire (32-bit floats)."""
    x = np.random.default_rng(0).normal(size=(200, 4))
    with pytest.raises(SpecError, match=r"X: 800 value\(s\) beyond ±1e\+38.*rescale"):
        RKMETableSpec(n_points=10, random_state=0).fit(x * 1e155)
    big = RKMETableSpec(n_points=10, random_state=0).fit(x * (kernel.MAX_ABS_VALUE / 10))
    small = RKMETableSpec(n_points=10, random_state=0).fit(x)
    assert np.isfinite([mmd2(big, small), mmd2(small, big), mmd2(big, big)]).all()
    with pytest.raises(SpecError, match="beyond"):  # a spec received with such points
        type(small).from_dict({**small.to_dict(), "points": (small.points_ * 1e200).tolist()})


def test_transform_checks_width(sample):
    spec = RKMETableSpec(n_points=5, random_state=0).fit(sample)
    with pytest.raises(SpecError, match="expected 8 features"):
        mmd2(spec, np.ones((4, 3)))
