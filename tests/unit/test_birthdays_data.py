"""The Birthdays forecasting recipe: clean series, no look-ahead, a user-computable scale."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from lwnode.demo import birthdays as bd

DAYS = [bd.FIRST_DAY + timedelta(days=i) for i in range(bd.N_DAYS)]


def _series(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(100, bd.N_DAYS).astype(np.float64)


def test_calendar_flags_the_moving_holidays_of_1987() -> None:
    cal = bd.calendar(DAYS)
    moving = bd.CALENDAR_NAMES.index("moving_holiday")
    flagged = {d for d, row in zip(DAYS, cal, strict=True) if row[moving] and d.year == 1987}
    assert flagged == {date(1987, 5, 25), date(1987, 9, 7), date(1987, 11, 26),
                       date(1987, 11, 27)}
    assert np.all(cal[:, :7].sum(axis=1) == 1)
    assert cal[DAYS.index(date(1988, 12, 31)), 5] == 1  # a Saturday


def test_features_use_only_days_at_least_a_horizon_before_the_target() -> None:
    births = _series()
    cal = bd.calendar(DAYS)
    x, y, t = bd.features(births, cal)
    row = len(t) // 2
    target_day = int(t[row])
    changed = births.copy()
    changed[target_day - bd.HORIZON + 1:] *= 3.0  # days the forecaster cannot know yet
    x2, y2, t2 = bd.features(changed, cal)
    np.testing.assert_array_equal(t, t2)
    np.testing.assert_array_equal(x2[row], x[row])
    assert y2[row] == pytest.approx(3.0 * y[row])


def test_scale_free_target_needs_no_label_and_no_other_state() -> None:
    births = _series(1)
    cal = bd.calendar(DAYS)
    x, y, _ = bd.features(births, cal)
    x10, y10, _ = bd.features(10.0 * births, cal)
    np.testing.assert_allclose(x10, x)
    np.testing.assert_allclose(y10, y)
    assert abs(float(np.mean(y)) - 1.0) < 0.01


@pytest.mark.slow
def test_real_data_cleans_to_full_series_and_splits_by_size() -> None:
    days, series = bd.load_series()
    assert len(series) == 51 and days[-1] == date(1988, 12, 31)
    assert all(len(s) == bd.N_DAYS and np.all(s > 0) for s in series.values())
    rows = bd.state_rows(days, series)
    developers, users = bd.split_states(rows)
    assert (len(developers), len(users)) == (34, 17)
    assert not set(developers) & set(users)
    assert rows["CA"].x_test.shape == (731, len(bd.FEATURE_NAMES))
