"""Across feature spaces from the command line, with no extra flag.

Developers of two housing tasks pack models over their own columns (their own
names, order and wording, described in ``[input.columns]``); a user with yet another
subset of columns searches a running node: the learnwares of the user's task come
first, marked heterogeneous, with the column mapping; ``lwnode reuse`` maps the
user's rows into each learnware's space by itself, with and without labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_run import ENV, lwnode, lwnode_many, served_node

from engine.hetero.synthetic import CONCEPTS

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "housing.py"
DEVELOPERS = ("northwind", "acme", "globex")  # the first two model the user's city


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    # the README's example, written by the script it points to
    d = tmp_path_factory.mktemp("hetero")
    subprocess.run([sys.executable, str(EXAMPLE), str(d)], check=True, env=ENV, cwd=d,
                   capture_output=True)
    (d / "typo.toml").write_text('[input.columns]\nkm_to_dwntown = "distance to downtown"\n')
    # northwind's rows under the user's (undescribed) names: same width, other columns
    rows = (d / "northwind.csv").read_text().splitlines()[1:301]
    names = [CONCEPTS[c][3][2][0] for c in (0, 2, 3, 4, 5, 6)]
    (d / "renamed.csv").write_text("\n".join([",".join(names), *rows]) + "\n")
    (d / "one_label.csv").write_text("price\n1.5\n")
    (d / "words.csv").write_text("cheap\ndear\ncheap\n")
    return d, np.loadtxt(d / "truth.csv", skiprows=1)


@pytest.fixture(scope="module")
def node(work):
    with served_node(work[0], "Housing Org") as running:
        yield running


def test_search_and_reuse_across_feature_spaces(work, node):
    d, truth = work
    packed = lwnode_many([("pack", "--model", f"{n}.skops", "--data", f"{n}.csv",
                           "--semantic", f"{n}.toml", "-o", f"{n}.zip", "--points", "40")
                          for n in DEVELOPERS], cwd=d)
    assert all("input 6 features (6 named, 6 described)" in p.stdout for p in packed)
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
    assert set(ranked[:2]) == {ids["northwind"], ids["acme"]}, answer  # the user's task first
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

    a_ids = [ids["northwind"], ids["acme"]]
    free, _ = lwnode_many([
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "-o", "p0.csv",
         "--home", "home"),
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "labels.csv", "-o", "p1.csv", "--home", "home")], cwd=d)
    assert "by hetero" in free.stdout and "takes other columns" in free.stdout
    refused = lwnode_many([
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "one_label.csv", "-o", "p2.csv", "--home", "home"),
        ("reuse", a_ids[0], "--data", "renamed.csv", "-o", "p3.csv", "--home", "home"),
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "words.csv", "-o", "p4.csv", "--home", "home")],
        cwd=d, check=2)
    assert "at least 2 labels" in refused[0].stderr
    assert "names other columns" in refused[1].stderr and "--semantic" in refused[1].stderr
    assert refused[2].stderr.startswith("lwnode reuse: words.csv: labels of the wrong kind for "
                                        "regression: expected numbers, got text")
    assert not any((d / f"p{i}.csv").exists() for i in (2, 3, 4))
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
        # same width, other names, no descriptions: not compared column by column
        (("search", "--data", "renamed.csv", "--home", "home"),
         "Describe your columns in a --semantic TOML"),
        (("reuse", "abcd", "--data", "user.csv", "-o", "p.csv", "--home", "home"),
         "too short"),
        (("pack", "--model", "acme.skops", "--data", "user.csv", "--semantic", "acme.toml",
          "-o", "x.zip"), "which user.csv does not have"),
    ]
    for args, text in cases:
        proc = lwnode(*args, cwd=d)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert text in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
