"""Across feature spaces from the command line, with no extra flag.

Developers of two housing tasks pack models over their own columns (their own
names, order and wording, described in ``[input.columns]``); a user with yet another
subset of columns searches a running node: the learnwares of the user's task come
first, marked heterogeneous, with the column mapping; ``lwnode reuse`` maps the
user's rows into each learnware's space by itself, with and without labels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import lwnode, lwnode_many, served_node

from engine.hetero.synthetic import CONCEPTS, Organization, Task, house_model

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

DEVELOPERS = {  # name -> (task, concept indices in its column order, wording)
    "a0": ("city-a", (0, 2, 3, 4, 5, 6), 0),
    "a1": ("city-a", (4, 3, 0, 7, 1, 8), 1),
    "b0": ("city-b", (0, 2, 3, 4, 5, 6), 0),
}
USER = Organization("user", (3, 0, 4, 9, 2), (2, 2, 2, 2, 2))


def write_table(path, org, rows):
    names = [CONCEPTS[c][3][w][0] for c, w in zip(org.columns, org.wording, strict=True)]
    np.savetxt(path, rows, delimiter=",", header=",".join(names), comments="")


def columns_toml(org):
    lines = ["[input.columns]"]
    for c, w in zip(org.columns, org.wording, strict=True):
        name, description, unit = CONCEPTS[c][3][w]
        lines.append(f'{name} = {{ description = "{description}", unit = "{unit}" }}')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import skops.io as sio

    d = tmp_path_factory.mktemp("hetero")
    rng = np.random.default_rng(5)
    for name, (task, cols, wording) in DEVELOPERS.items():
        org = Organization(name, cols, (wording,) * len(cols))
        x, y = Task(task).sample(1500, rng)
        write_table(d / f"{name}.csv", org, org.select(x))
        sio.dump(house_model().fit(org.select(x), y), d / f"{name}.skops")
        (d / f"{name}.toml").write_text(
            f'name = "house prices {task} by {name}"\ndata_type = "table"\n'
            'task_type = "regression"\nlibrary = "scikit_learn"\nlicense = "mit"\n'
            + columns_toml(org))
    x, y = Task("city-a").sample(400, rng)
    write_table(d / "user.csv", USER, USER.select(x))
    np.savetxt(d / "labels.csv", y[:60])
    (d / "user.toml").write_text(columns_toml(USER))
    (d / "typo.toml").write_text('[input.columns]\nkm_to_dwntown = "distance to downtown"\n')
    return d, y


@pytest.fixture(scope="module")
def node(work):
    with served_node(work[0], "Housing Org") as running:
        yield running


def test_search_and_reuse_across_feature_spaces(work, node):
    d, truth = work
    lwnode_many([("pack", "--model", f"{n}.skops", "--data", f"{n}.csv", "--semantic",
                  f"{n}.toml", "-o", f"{n}.zip", "--points", "40") for n in DEVELOPERS], cwd=d)
    ids = {}
    for name in DEVELOPERS:
        answer = json.loads(lwnode("publish", f"{name}.zip", "--home", "home", "--json",
                                   cwd=d, check=0).stdout)
        ids[name] = answer["id"]

    found, table = lwnode_many([
        ("search", "--data", "user.csv", "--semantic", "user.toml", "--home", "home", "--json"),
        ("search", "--data", "user.csv", "--semantic", "user.toml", "--home", "home")], cwd=d)
    answer = json.loads(found.stdout)
    ranked = [h["id"] for h in answer["single"]]
    assert set(ranked[:2]) == {ids["a0"], ids["a1"]}, answer  # the user's task first
    assert all(h["heterogeneous"] for h in answer["single"])
    top = answer["single"][0]["mapping"]
    assert top["user_columns"] == ["cbdDistance", "livingSpace", "localEarnings",
                                   CONCEPTS[9][3][2][0], "constructionAge"]
    names = dict(zip(top["learnware_columns"], range(99), strict=False))
    by_lw = {top["learnware_columns"][p["learnware"]]: top["user_columns"][p["user"]]
             for p in top["pairs"]}
    expect = {"floor_area": "livingSpace", "sqm_living": "livingSpace",
              "dist_centre": "cbdDistance", "km_to_downtown": "cbdDistance",
              "median_income": "localEarnings", "area_income": "localEarnings"}
    assert {k: v for k, v in by_lw.items() if k in expect} == \
        {k: expect[k] for k in by_lw if k in expect}
    assert len([k for k in names if k in expect]) == 3
    assert "other columns" in table.stdout and "<- livingSpace" in table.stdout

    a_ids = [ids["a0"], ids["a1"]]
    free, _ = lwnode_many([
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "-o", "p0.csv",
         "--home", "home"),
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "labels.csv", "-o", "p1.csv", "--home", "home")], cwd=d)
    assert "by hetero" in free.stdout and "takes other columns" in free.stdout
    rmse_mean = np.sqrt(np.mean((truth - truth.mean()) ** 2))
    for path in ("p0.csv", "p1.csv"):
        predictions = np.loadtxt(d / path, skiprows=1)
        assert np.sqrt(np.mean((predictions - truth) ** 2)) < 0.6 * rmse_mean, path


def test_bad_inputs_across_feature_spaces_are_clear(work, node):
    d, _ = work
    cases = [
        (("search", "--data", "user.csv", "--home", "home"), "description"),
        (("search", "--data", "user.csv", "--semantic", "typo.toml", "--home", "home"),
         "km_to_dwntown, which user.csv does not have"),
        (("pack", "--model", "a0.skops", "--data", "user.csv", "--semantic", "a0.toml",
          "-o", "x.zip"), "which user.csv does not have"),
    ]
    for args, text in cases:
        proc = lwnode(*args, cwd=d)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
