"""Write the README's "Across feature spaces" example into a folder.

    python docs/examples/housing.py housing/    (from the repository's root)

Three organizations price houses, each over its own columns (own names, order and
wording) described in its semantic TOML: northwind and acme model city A, globex
city B, whose columns have the same marginals but whose prices follow another rule.
A user in city A has yet another subset of columns, described in ``user.toml``.
Everything is drawn from `engine.hetero.synthetic` (seeded): for each organization
``<name>.csv`` (its training rows, a header naming its columns), ``<name>.skops``
(its fitted model) and ``<name>.toml``; for the user ``user.csv`` (400 rows),
``user.toml``, ``labels.csv`` (prices of the first 40 rows) and ``truth.csv`` (all
400 prices, to score predictions).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from engine.hetero.synthetic import CONCEPTS, Organization, Task, house_model

DEVELOPERS = (  # name, task, concept indices in its column order, wording
    ("northwind", "city-a", (0, 2, 3, 4, 5, 6), 0),
    ("acme", "city-a", (4, 3, 0, 7, 1, 8), 1),
    ("globex", "city-b", (0, 2, 3, 4, 5, 6), 0),
)
USER = Organization("user", (3, 0, 4, 9, 2), (2, 2, 2, 2, 2))
USER_ROWS, USER_LABELS = 400, 40


def column_names(org: Organization) -> list[str]:
    return [CONCEPTS[c][3][w][0] for c, w in zip(org.columns, org.wording, strict=True)]


def columns_toml(org: Organization) -> str:
    """The ``[input.columns]`` section that describes `org`'s columns."""
    lines = ["[input.columns]"]
    for c, w in zip(org.columns, org.wording, strict=True):
        name, description, unit = CONCEPTS[c][3][w]
        lines.append(f'{name} = {{ description = "{description}", unit = "{unit}" }}')
    return "\n".join(lines) + "\n"


def write_table(path: Path, org: Organization, rows: np.ndarray) -> None:
    np.savetxt(path, org.select(rows), delimiter=",", header=",".join(column_names(org)),
               comments="")


def write_example(folder: Path) -> None:
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for name, task, columns, wording in DEVELOPERS:
        org = Organization(name, columns, (wording,) * len(columns))
        x, y = Task(task).sample(1500, rng)
        write_table(folder / f"{name}.csv", org, x)
        sio.dump(house_model().fit(org.select(x), y), folder / f"{name}.skops")
        (folder / f"{name}.toml").write_text(
            f'name = "house prices ({name})"\ndata_type = "table"\ntask_type = "regression"\n'
            'library = "scikit_learn"\nlicense = "mit"\n' + columns_toml(org))
    x, y = Task("city-a").sample(USER_ROWS, rng)
    write_table(folder / "user.csv", USER, x)
    (folder / "user.toml").write_text(columns_toml(USER))
    np.savetxt(folder / "labels.csv", y[:USER_LABELS], header="price", comments="")
    np.savetxt(folder / "truth.csv", y, header="price", comments="")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    write_example(Path(sys.argv[1]))
    print(f"wrote {sys.argv[1]}: northwind, acme, globex (.csv .skops .toml), user.csv, "
          "user.toml, labels.csv, truth.csv")
