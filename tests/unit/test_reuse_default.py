"""The default method with labels on the README tour's data (issue 16, finding 5):
20 labels are no worse than none, and the figure shown is estimated out of fold."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from engine.learnware import Learnware
from lwnode.http.web.scoring import reuse_rows
from lwnode.userside.local import reuse_learnwares, select_method

ROOT = Path(__file__).resolve().parents[2]
README_WEIGHTS = (0.505, 0.495)  # the tour's search mixture of regions 0 and 2


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """The tour's files (README's make_example.py), packed as `lwnode pack` packs them:
    the learnwares of regions 0 and 2 that search mixes, the user's rows and their
    true labels (the first 100 rows come from region 0, the rest from region 2)."""
    from engine.package import build_bytes, open_package
    from lwnode.userside.local import load_model_file, make_spec, read_semantic
    from lwnode.userside.tabular import read_table

    d = tmp_path_factory.mktemp("tour")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    script = next(b for b in re.findall(r"^```python\n(.*?)^```$", text,
                                        flags=re.DOTALL | re.MULTILINE) if "skops.io.dump" in b)
    cwd = Path.cwd()
    try:
        os.chdir(d)
        names: dict[str, object] = {"__name__": "__doc__"}
        exec(compile(script, "README make_example.py", "exec"), names)
    finally:
        os.chdir(cwd)
    learnwares: list[Learnware] = []
    for r in (0, 2):
        table = read_table(d / f"dev{r}.csv")
        model = load_model_file(d / f"dev{r}.skops")
        semantic = read_semantic(d / f"sem{r}.toml", table=table, model=model, complete=True)
        learnwares.append(open_package(build_bytes(model, semantic, make_spec(table)))
                          .learnware())
    x = read_table(d / "user.csv").values
    centres = np.asarray(names["centres"])
    y = np.r_[(x[:100, 0] > centres[0][0]).astype(int), (x[100:, 0] > centres[2][0]).astype(int)]
    return learnwares, x, y


def test_twenty_labels_are_no_worse_than_none(tour):
    learnwares, x, y = tour
    none = reuse_rows(learnwares, x, None, weights=README_WEIGHTS)
    assert none.method == "job-selector"
    before = float(np.mean(none.predictions == y))
    assert before >= 0.95  # the README's "97% of the predictions are right"
    out = reuse_rows(learnwares, x, None, labels=y[:20], weights=README_WEIGHTS)
    assert float(np.mean(out.predictions == y)) >= before, out.method
    score = out.score
    assert score is not None and score.reuse is not None and score.user_only is not None
    assert "nested cross-validation" in score.protocol and "automatic" in score.protocol
    cli = reuse_learnwares(learnwares, x, labels=y[:20], weights=README_WEIGHTS)
    assert float(np.mean(cli.predictions == y)) >= before
    assert cli.selection is not None and cli.selection.chosen == cli.method


def test_labels_spread_over_the_rows_are_no_worse_either(tour):
    learnwares, x, y = tour
    before = float(np.mean(reuse_rows(learnwares, x, None, weights=README_WEIGHTS)
                           .predictions == y))
    every_tenth = slice(0, 200, 10)
    chosen = select_method(learnwares, x[every_tenth], y[every_tenth], README_WEIGHTS)
    assert float(np.mean(chosen.model.predict(x) == y)) >= before
