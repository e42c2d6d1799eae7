"""Labels on the command line (issue 16): `lwnode reuse --labels` chooses its method
out of fold and says so; `lwnode search --labels` re-ranks the shortlist by them.

The market (`lwtesting.decoy_market`): the learnware nearest the user's data by MMD²
labels by the wrong column; the useful one sits further away.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import lwnode, served_node
from lwtesting import decoy_market

pytestmark = pytest.mark.timeout(300)

N_LABELS = 20


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    packages, x, y = decoy_market()
    for name, data in packages.items():
        (d / f"{name}.zip").write_bytes(data)
    np.savetxt(d / "user.csv", x, delimiter=",")
    np.savetxt(d / "labels.csv", y[:N_LABELS], fmt="%s")
    return d, y


@pytest.fixture(scope="module")
def node(work):
    d, _ = work
    with served_node(d, "Labels Test Org") as running:
        ids = {}
        for name in ("look-alike", "useful"):
            answer = json.loads(lwnode("publish", f"{name}.zip", "--home", "home", "--json",
                                       cwd=d, check=0).stdout)
            ids[name] = answer["id"]
        yield running, ids


def test_reuse_with_labels_chooses_out_of_fold_and_says_so(work, node):
    d, y = work
    _, ids = node
    both = (ids["look-alike"], ids["useful"])
    text = lwnode("reuse", *both, "--data", "user.csv", "--labels", "labels.csv", "-o",
                  "chosen.csv", "--home", "home", cwd=d, check=0).stdout
    assert "chosen on your labels: accuracy out of fold on your 20 labels" in text, text
    assert "nested cross-validation" in text
    answer = json.loads(lwnode("reuse", *both, "--data", "user.csv", "--labels", "labels.csv",
                               "-o", "chosen.csv", "--home", "home", "--json", cwd=d,
                               check=0).stdout)
    selection = answer["selection"]
    assert selection["chosen"] == answer["method"] != "job-selector"
    assert selection["scores"][0]["method"] == "job-selector"
    assert selection["estimate"]["value"] > 0.8 and selection["n_folds"] == 5
    predicted = np.loadtxt(d / "chosen.csv", skiprows=1, dtype=str)
    assert np.mean(predicted == y) > 0.85
    free = json.loads(lwnode("reuse", *both, "--data", "user.csv", "-o", "free.csv",
                             "--home", "home", "--json", cwd=d, check=0).stdout)
    assert free["method"] == "job-selector" and free["selection"] is None
    assert np.mean(np.loadtxt(d / "free.csv", skiprows=1, dtype=str) == y) < 0.75
