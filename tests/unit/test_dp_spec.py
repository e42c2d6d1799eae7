"""The differentially private spec: the noise is the accounting library's scale drawn by
OpenDP's sampler, the points are synthetic, membership is at chance, and search still
finds the right task."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from engine import kernel
from engine.errors import SpecError
from engine.privacy.report import strongest_kde_auc
from engine.specification import RKMETableSpec, mmd2
from protocol.codec import spec_from_wire, spec_to_wire

CENTRES = np.random.default_rng(0).normal(scale=3, size=(3, 5))
DP = {"gamma": 0.125, "epsilon": 1.0, "delta": 1e-5, "bounds": (-12, 12), "n_points": 40}


def sample(task: int, n: int, seed: int) -> np.ndarray:
    return CENTRES[task] + np.random.default_rng(seed).normal(size=(n, 5))


def test_the_recorded_noise_is_what_the_accounting_library_returns():
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    x = sample(0, 800, 1)
    spec = RKMETableSpec(random_state=0, **DP).fit(x)
    multiplier = dp_accounting.calibrate_dp_mechanism(
        PLDAccountant, dp_accounting.GaussianDpEvent, 1.0, 1e-5)
    sensitivity = 2 * math.sqrt(2) / 800  # replace one row; features have norm <= sqrt(2)
    assert spec.noise_std_ == pytest.approx(multiplier * sensitivity, rel=1e-12)
    record = spec.to_dict()["privacy"]
    assert (record["mechanism"], record["epsilon"], record["delta"]) == ("gaussian-rff", 1.0,
                                                                         1e-5)
    assert record["library"] == "dp-accounting" and record["version"]
    assert spec_from_wire(spec_to_wire(spec)).privacy_ == record


def test_noise_does_not_come_from_random_state_and_points_stay_in_the_public_bounds():
    x = sample(0, 400, 2)
    a = RKMETableSpec(random_state=0, **DP).fit(x)
    b = RKMETableSpec(random_state=0, **DP).fit(x)
    assert not np.array_equal(a.points_, b.points_)  # a known seed would undo the noise
    assert a.points_.min() >= -12 and a.points_.max() <= 12


def test_public_bounds_and_gamma_too_large_for_a_spec_are_refused():
    x = sample(0, 400, 2)
    with pytest.raises(SpecError, match=r"bounds: each within ±1e\+38"):
        RKMETableSpec(random_state=0, **{**DP, "bounds": (-1e200, 1e200)}).fit(x)
    with pytest.raises(SpecError, match="gamma"):  # 1e308 broke the QP: LinAlgError
        RKMETableSpec(random_state=0, **{**DP, "gamma": 1e308}).fit(x)


def test_the_noise_is_a_fresh_gaussian_of_the_calibrated_scale_from_opendp(monkeypatch):
    from scipy import stats

    from engine.privacy import dp

    first = dp.add_gaussian_noise(np.full(20_000, 3.0), 0.25)
    assert stats.kstest((first - 3.0) / 0.25, "norm").pvalue > 1e-6
    assert not np.array_equal(first, dp.add_gaussian_noise(np.full(20_000, 3.0), 0.25))

    calls = []  # dp_fit noises the feature mean once, through OpenDP, at its recorded scale
    real = dp.add_gaussian_noise
    monkeypatch.setattr(dp, "add_gaussian_noise",
                        lambda values, sigma: calls.append(sigma) or real(values, sigma))
    spec = RKMETableSpec(random_state=0, **DP).fit(sample(0, 400, 2))
    assert calls == [spec.noise_std_]


@pytest.mark.parametrize("change, message", [
    ({"gamma": "auto"}, "public gamma"), ({"bounds": None}, "public bounds"),
    ({"epsilon": 0}, "epsilon"), ({"delta": 1.5}, "delta"), ({"bounds": (3, 1)}, "low < high")])
def test_what_would_spend_privacy_unaccounted_is_refused(change, message):
    with pytest.raises(SpecError, match=message):
        RKMETableSpec(**{**DP, **change}).fit(sample(0, 100, 3))


def test_membership_inference_at_epsilon_1_is_at_chance():
    members, others = sample(0, 500, 7), sample(0, 500, 8)
    spec = RKMETableSpec(random_state=0, **DP).fit(members)
    rows = np.vstack([members, others])
    truth = np.r_[np.ones(500), np.zeros(500)]
    near = -kernel.sq_dists(rows, spec.points_).min(axis=1)
    dens = kernel.gaussian(rows, spec.points_, spec.gamma_) @ spec.weights_
    assert roc_auc_score(truth, near) <= 0.55
    assert roc_auc_score(truth, dens) <= 0.55
    # the density attack with the kernel an attacker would pick (1x..64x the gamma)
    assert strongest_kde_auc(spec, members, others) <= 0.55


def test_search_still_finds_the_users_task_at_epsilon_1():
    # The noise is fresh OS entropy on every fit (no seed can fix it), so the claim is
    # a rate: 1 miss in 60 draws at these sizes (2,000 / 1,000 rows; 9 in 60 at the
    # 1,000 / 400 this test used before, which failed about one run in four); two
    # misses in nine are allowed (a false failure about once in 2,500 runs).
    owners = [RKMETableSpec(random_state=t, **DP).fit(sample(t, 2000, t)) for t in range(3)]
    found = [int(np.argmin([mmd2(RKMETableSpec(random_state=9, **DP).fit(
        sample(t, 1000, 50 + 3 * t + draw)), o) for o in owners])) == t
        for t in range(3) for draw in range(3)]
    assert sum(found) >= 7, found


def test_per_column_bounds_keep_each_column_of_the_points_in_its_own_range():
    from engine.privacy.public import declared_bounds
    from engine.specification.semantic import InputSpec

    rng = np.random.default_rng(4)
    x = np.c_[rng.uniform(0, 120, 300), rng.normal(size=300), rng.uniform(1000, 1010, 300)]
    x[:5, 1] = 9.0  # rows outside a declared range still count in the mean, unclipped
    declared = InputSpec.from_columns(["age", "z", "t"],
                                      ranges={"age": (0, 120), "z": (-4, 4), "t": (1000, 1010)})
    bounds = declared_bounds(declared)
    spec = RKMETableSpec(**{**DP, "bounds": bounds, "n_points": 30}, random_state=0).fit(x)
    lo, hi = np.array(bounds[0]), np.array(bounds[1])
    assert ((spec.points_ >= lo) & (spec.points_ <= hi)).all()
    # each column's own box, not one range for all: the third column never leaves 1000..1010
    assert spec.points_[:, 2].min() >= 1000 and spec.points_[:, 1].max() <= 4
    with pytest.raises(SpecError, match="bounds: need finite low < high for every column"):
        RKMETableSpec(**{**DP, "bounds": ((0, 5, 1000), (120, 4, 1010))}).fit(x)
