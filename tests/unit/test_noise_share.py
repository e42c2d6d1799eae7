"""The pieces `benchmarks.noise_share` decides with: the search ranking's hits, the gap
share B, the criterion and its paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.noise_share import MarketScores, best_share, bootstrap_difference, criterion
from benchmarks.reuse_common import Ranking


def test_a_hit_is_the_users_best_learnware_among_the_first_k() -> None:
    accuracy = Ranking(("b", "a", "c"), {"a": 0.9, "b": 0.7, "c": 0.9, "d": 0.5}, True)
    assert not accuracy.hit(1) and accuracy.hit(2)  # "a" and "c" tie for best
    rmse = Ranking(("d", "a"), {"a": 0.9, "b": 0.7, "d": 0.5}, False)
    assert rmse.hit(1)


def market(share: float, top1: list[float], averaging: list[float]) -> MarketScores:
    n = len(top1)
    values = {"mean in market": np.full(n, 1.0), "best in market": np.full(n, 0.0),
              "top-1 by search": np.asarray(top1), "JobSelector": np.full(n, np.nan),
              "Averaging": np.asarray(averaging)}
    return MarketScores("m", share, values, [Ranking((), {"x": 0.0}, False)] * n, 0.0)


def test_b_is_the_best_gap_share_of_the_three_methods_and_c_their_mean_over_markets() -> None:
    a = market(0.15, [0.5, 0.7], [0.2, 0.4])  # RMSE: gap closed 40 % by top-1, 70 % averaging
    b = market(0.15, [1.0, 1.0], [0.9, 0.9])  # 10 %; JobSelector never ran (NaN)
    assert best_share(a.values, np.arange(2)) == pytest.approx(0.7)
    assert criterion([a, b]) == pytest.approx((0.7 + 0.1) / 2)


def test_the_bootstrap_is_paired() -> None:
    a = market(0.15, [0.5, 0.7, 0.1], [0.2, 0.4, 0.9])
    assert np.all(bootstrap_difference([a], [a]) == 0.0)
