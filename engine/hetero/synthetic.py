"""A synthetic market of table learnwares over different columns, with known answers.

One generating process per *task* (a city's housing market): ten column concepts
(floor area, rooms, building age, distance to the centre, ...), each with a fixed
mean and spread in its unit, made dependent by a three-factor model (size,
affluence, location), and a price that is a quadratic function of them. Every
concept can be written in three ways — name, description and unit — as different
organizations would write it ("floor_area: living area of the house (100 m²)",
"sqm_living: size of the home's interior (hundreds of square metres)", ...).

Two tasks share every column's marginal distribution (same means and spreads) but
differ in how the columns depend on each other and in the price function: a search
that looked at marginals only, or at column names only, could not tell them apart.

An `Organization` records the three core concepts (the main drivers of price) and
some of the seven others, in its own order and wording.
`make_market` trains one learnware per organization (a degree-2 model on thousands
of rows, with the RKME of those rows and a semantic spec describing its columns);
`Market.user` draws a user's rows over yet another subset. Pure and deterministic
under the seeds; used by the tests, the benchmark and demos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.learnware import Learnware
from engine.specification.rkme import RKMETableSpec
from engine.specification.semantic import InputSpec, OutputSpec, SemanticSpec
from engine.vocabulary import DataType, TaskType

Array = NDArray[np.float64]

# (key, mean, spread, three ways to write the column: (name, description, unit))
CONCEPTS: tuple[tuple[str, float, float, tuple[tuple[str, str, str], ...]], ...] = (
    ("area", 12.0, 2.0, (
        ("floor_area", "living area of the house", "10 m²"),
        ("sqm_living", "size of the home's interior", "tens of square metres"),
        ("livingSpace", "interior floor space of the dwelling", "10 square meters"))),
    ("rooms", 4.0, 1.2, (
        ("rooms", "number of rooms", "count"),
        ("n_rooms", "how many rooms the dwelling has", ""),
        ("roomCount", "total rooms in the property", "rooms"))),
    ("age", 3.0, 1.5, (
        ("building_age", "age of the building", "decades"),
        ("years_since_built", "time since construction", "tens of years"),
        ("constructionAge", "how old the house is", "decades"))),
    ("centre", 6.0, 2.5, (
        ("dist_centre", "distance to the city centre", "km"),
        ("km_to_downtown", "how far the property is from downtown", "km"),
        ("cbdDistance", "travel distance to the central business district", "kilometres"))),
    ("income", 5.0, 1.5, (
        ("median_income", "median household income in the neighbourhood", "10k$"),
        ("area_income", "typical income of households in the area", "ten thousand dollars"),
        ("localEarnings", "average earnings of local residents", "10k USD"))),
    ("lot", 4.0, 2.0, (
        ("lot_size", "area of the land parcel", "100 m²"),
        ("plot_area", "size of the plot the house stands on", "hundreds of square metres"),
        ("landArea", "total land area of the property including garden",
         "100 square meters"))),
    ("baths", 2.0, 1.0, (
        ("bathrooms", "number of bathrooms", "count"),
        ("n_baths", "how many bathrooms the home has", ""),
        ("bathCount", "total bathrooms and shower rooms", "bathrooms"))),
    ("school", 2.0, 1.0, (
        ("dist_school", "distance to the nearest school", "km"),
        ("km_to_school", "how far the closest school is", "km"),
        ("schoolDistance", "walking distance to a primary school", "kilometres"))),
    ("crime", 3.0, 1.5, (
        ("crime_rate", "reported crimes per 1000 residents per year", "per 1000"),
        ("crimes_per_1k", "yearly offences per thousand inhabitants", ""),
        ("safetyIncidents", "police-recorded incidents in the district per thousand people",
         "rate"))),
    ("energy", 6.0, 2.0, (
        ("energy_score", "energy efficiency rating of the building", "0-10"),
        ("efficiency", "how energy efficient the house is", "score out of 10"),
        ("insulationRating", "thermal efficiency grade of the dwelling", "points"))),
)
KEYS = tuple(c[0] for c in CONCEPTS)
MEANS = np.array([c[1] for c in CONCEPTS])
SPREADS = np.array([c[2] for c in CONCEPTS])

# Factor loadings (size, affluence, location) per concept, in KEYS order.
_LOADINGS = {
    "city-a": [(0.9, 0, 0), (0.85, 0, 0), (0, 0, -0.6), (0, 0, 0.9), (0, 0.85, -0.2),
               (0.6, 0, 0.5), (0.75, 0.3, 0), (0, 0, 0.6), (0, -0.7, 0), (0, 0.5, -0.5)],
    "city-b": [(0, 0.8, 0), (0.85, 0, 0), (0, 0.6, 0), (0, 0, -0.9), (-0.3, 0, 0.8),
               (0, 0, 0.8), (0.5, -0.6, 0), (0.7, 0, 0), (0, 0.7, 0), (-0.8, 0, 0)],
}


CORE = (0, 3, 4)
"""Concepts every organization records (floor area, distance to the centre, income):
the main drivers of price. The others are optional extras."""


def _price(task: str, z: Array) -> Array:
    """The task's price as a function of the standardised columns z (KEYS order)."""
    c = {k: z[:, i] for i, k in enumerate(KEYS)}
    if task == "city-a":
        return (2.0 * c["area"] + c["income"] - c["centre"] + c["area"] * c["income"]
                - 0.7 * c["centre"] ** 2 + 0.6 * c["area"] * c["centre"]
                + 0.5 * c["energy"] - 0.4 * c["crime"] + 0.3 * c["rooms"])
    return (1.5 * c["income"] - c["area"] * c["centre"] + 0.8 * c["area"] ** 2 + c["centre"]
            - 0.7 * c["income"] * c["centre"] + 0.5 * c["lot"] * c["age"]
            + 0.5 * c["school"] - 0.4 * c["rooms"])


@dataclass(frozen=True)
class Task:
    """One generating process: dependent columns and a price (see module docstring)."""

    name: str
    noise: float = 0.3

    def sample(self, n: int, rng: np.random.Generator) -> tuple[Array, Array]:
        """(n x 10 rows in KEYS order and units, n prices)."""
        load = np.asarray(_LOADINGS[self.name], dtype=np.float64)
        unique = np.sqrt(1.0 - (load**2).sum(axis=1))
        z = rng.standard_normal((n, 3)) @ load.T + rng.standard_normal((n, len(KEYS))) * unique
        y = _price(self.name, z) + self.noise * rng.standard_normal(n)
        return MEANS + SPREADS * z, y


@dataclass(frozen=True)
class Organization:
    """A subset of the concepts, in the organization's order and wording."""

    name: str
    columns: tuple[int, ...]   # concept indices, in the organization's column order
    wording: tuple[int, ...]   # which of the three wordings, per column

    def input_spec(self) -> InputSpec:
        words = [CONCEPTS[c][3][w] for c, w in zip(self.columns, self.wording, strict=True)]
        return InputSpec.from_columns([n for n, _, _ in words], [d for _, d, _ in words],
                                      units=[u for _, _, u in words])

    def select(self, rows: Array) -> Array:
        return rows[:, list(self.columns)]

    @staticmethod
    def draw(name: str, n_columns: int, rng: np.random.Generator,
             wording: int | None = None) -> Organization:
        """The `CORE` concepts plus random extras up to `n_columns`, in a random order;
        one wording for all columns, or a random mix."""
        extras = [c for c in rng.permutation(len(KEYS)) if c not in CORE]
        chosen = [*CORE, *extras[:max(n_columns - len(CORE), 0)]]
        cols = tuple(int(chosen[i]) for i in rng.permutation(len(chosen)))
        words = tuple(int(w) for w in (np.full(len(cols), wording) if wording is not None
                                       else rng.integers(0, 3, len(cols))))
        return Organization(name, cols, words)


def house_model() -> Any:
    """The degree-2 regression every developer trains."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    return make_pipeline(StandardScaler(), PolynomialFeatures(2, include_bias=False),
                         RidgeCV(alphas=np.logspace(-3, 3, 13)))


def semantic_for(org: Organization, task_words: str = "house price") -> SemanticSpec:
    return SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.REGRESSION,
                        name=f"{task_words} model of {org.name}", input=org.input_spec(),
                        output=OutputSpec(1, ("price in 100k$",)))


@dataclass(frozen=True)
class User:
    """A user's task: rows over the user's columns, labels, and a test set."""

    org: Organization
    task: Task
    x_pool: Array
    y_pool: Array
    x_test: Array
    y_test: Array

    def semantic(self) -> SemanticSpec:
        return SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.REGRESSION,
                            input=self.org.input_spec())


@dataclass(frozen=True)
class Market:
    """Learnwares of several tasks, each over its organization's columns."""

    tasks: dict[str, Task]
    learnwares: tuple[Learnware, ...]
    orgs: dict[str, Organization]
    task_of: dict[str, str]    # learnware id -> task name

    def user(self, task: str, n_columns: int, seed: int, *, n_pool: int = 500,
             n_test: int = 1000, wording: int | None = None) -> User:
        rng = np.random.default_rng(seed)
        org = Organization.draw(f"user-{seed}", n_columns, rng, wording)
        x_pool, y_pool = self.tasks[task].sample(n_pool, rng)
        x_test, y_test = self.tasks[task].sample(n_test, rng)
        return User(org, self.tasks[task], org.select(x_pool), y_pool, org.select(x_test),
                    y_test)


def make_market(n_per_task: int = 3, n_columns: Sequence[int] = (7, 8, 6), *,
                n_train: int = 3000, n_points: int = 50, seed: int = 0,
                tasks: Sequence[str] = ("city-a", "city-b")) -> Market:
    """`n_per_task` learnwares per task; organization i uses wording i % 3 and
    `n_columns[i % len(n_columns)]` random columns in a random order."""
    rng = np.random.default_rng(seed)
    by_name = {t: Task(t) for t in tasks}
    lws, orgs, task_of = [], {}, {}
    for t in tasks:
        for i in range(n_per_task):
            org = Organization.draw(f"{t}-org{i}", n_columns[i % len(n_columns)], rng, i % 3)
            x, y = by_name[t].sample(n_train, rng)
            xo = org.select(x)
            spec = RKMETableSpec(n_points=n_points, random_state=int(rng.integers(2**31))).fit(xo)
            lw = Learnware(org.name, semantic_for(org), spec, house_model().fit(xo, y))
            lws.append(lw)
            orgs[org.name] = org
            task_of[org.name] = t
    return Market(by_name, tuple(lws), orgs, task_of)
