"""Labels on the command line (issue 16): `lwnode reuse --labels` chooses its method
out of fold and says so; `lwnode search --labels` re-ranks the shortlist by them.

The market (`lwtesting.decoy_market`): the learnware nearest the user's data by MMD²
labels by the wrong column; the useful one sits further away.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import NARROW, lwnode, served_node, widest
from lwtesting import decoy_market

pytestmark = pytest.mark.timeout(300)

N_LABELS = 20


def decoy_files(d):
    """The decoy market's packages, the user's rows and their first labels, in `d`."""
    packages, x, y = decoy_market()
    for name, data in packages.items():
        (d / f"{name}.zip").write_bytes(data)
    np.savetxt(d / "user.csv", x, delimiter=",")
    np.savetxt(d / "labels.csv", y[:N_LABELS], fmt="%s")
    return y


def publish_decoys(d) -> dict[str, str]:
    """Publish both decoy packages on the node of ``d/home``; their ids by name."""
    return {name: json.loads(lwnode("publish", f"{name}.zip", "--home", "home", "--json",
                                    cwd=d, check=0).stdout)["id"]
            for name in ("look-alike", "useful")}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    return d, decoy_files(d)


@pytest.fixture(scope="module")
def node(work):
    d, _ = work
    with served_node(d, "Labels Test Org") as running:
        yield running, publish_decoys(d)


def test_reuse_with_labels_chooses_out_of_fold_and_says_so(work, node):
    d, y = work
    _, ids = node
    both = (ids["look-alike"], ids["useful"])
    text = lwnode("reuse", *both, "--data", "user.csv", "--labels", "labels.csv", "-o",
                  "chosen.csv", "--home", "home", cwd=d, check=0, env=NARROW).stdout
    assert widest(text) <= 80, text  # "chosen on your labels: ..." was ~400 columns
    text = " ".join(text.split())
    assert "chosen on your labels: accuracy out of fold on your 20 labels" in text, text
    assert "nested cross-validation" in text
    answer = json.loads(lwnode("reuse", *both, "--data", "user.csv", "--labels", "labels.csv",
                               "-o", "chosen.csv", "--force", "--home", "home", "--json",
                               cwd=d, check=0).stdout)
    selection = answer["selection"]
    # the baseline is the data-free default: averaging, as the router cannot tell the
    # decoy's two learnwares apart (tests/unit/test_reuse_route_or_average.py)
    assert selection["chosen"] == answer["method"] not in ("job-selector", "average")
    assert selection["scores"][0]["method"] == "average"
    assert selection["estimate"]["value"] >= 0.8 and selection["n_folds"] == 5
    predicted = np.loadtxt(d / "chosen.csv", skiprows=1, dtype=str)
    assert np.mean(predicted == y) > 0.85
    free = json.loads(lwnode("reuse", *both, "--data", "user.csv", "-o", "free.csv",
                             "--home", "home", "--json", cwd=d, check=0).stdout)
    assert free["method"] == "average" and free["selection"] is None
    assert any("cannot be told apart" in n for n in free["notes"]), free
    assert np.mean(np.loadtxt(d / "free.csv", skiprows=1, dtype=str) == y) < 0.8


def test_search_with_labels_reranks_the_shortlist_and_shows_both_orders(work, node):
    d, _ = work
    _, ids = node
    plain = json.loads(lwnode("search", "--data", "user.csv", "--home", "home", "--json",
                              cwd=d, check=0).stdout)
    assert plain["single"][0]["id"] == ids["look-alike"]  # nearest by MMD², and useless
    assert "rerank" not in plain
    answer = json.loads(lwnode("search", "--data", "user.csv", "--labels", "labels.csv",
                               "--home", "home", "--json", cwd=d, check=0).stdout)
    assert [h["id"] for h in answer["single"]] == [h["id"] for h in plain["single"]]
    reranked = answer["rerank"]
    assert reranked["moved"] and reranked["metric"] == "accuracy"
    assert (reranked["n_labels"], reranked["n_folds"]) == (N_LABELS, 5)
    first = reranked["ranking"][0]
    assert first["id"] in (ids["useful"], "mixture") and first["mmd2_rank"] > 1
    by_id = {e["id"]: e for e in reranked["ranking"]}
    assert by_id[ids["useful"]]["value"] > 0.85 > by_id[ids["look-alike"]]["value"]
    assert all(e["spread"] >= 0 for e in reranked["ranking"])
    text = lwnode("search", "--data", "user.csv", "--labels", "labels.csv", "--home", "home",
                  cwd=d, check=0).stdout
    assert "Ranked learnwares (by MMD²" in text and "Ranked by your 20 labels" in text, text
    assert "your labels put" in text and "--labels labels.csv" in text


def test_the_label_table_is_explained_first_and_numbered_as_the_search_table(work, node):
    """A new user's reading of the label table: its order was explained only after it,
    its "by MMD²" column counted the mixture (the search table's #1 showed as #2), and
    the suggested reuse named learnwares the labels had scored 0."""
    d, _ = work
    _, ids = node
    answer = json.loads(lwnode("search", "--data", "user.csv", "--labels", "labels.csv",
                               "--home", "home", "--json", cwd=d, check=0).stdout)
    text = lwnode("search", "--data", "user.csv", "--labels", "labels.csv", "--home", "home",
                  cwd=d, check=0).stdout
    lines = text.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("Ranked by your"))
    assert lines[title - 1].startswith("your labels put"), text  # the why, before the table
    table = "\n".join(lines[title:])
    assert "search #" in table and "by MMD²" not in table
    search_place = {h["id"]: i for i, h in enumerate(answer["single"], 1)}
    for entry in answer["rerank"]["ranking"]:  # the search table's numbers, not MMD² ranks
        row = next(line for line in lines[title:] if line.split()[1:2] == [
            "mixture" if entry["id"] == "mixture" else entry["id"][7:19]])
        place = "mixture" if entry["id"] == "mixture" else f"#{search_place[entry['id']]}"
        assert row.split()[-1] == place, (row, table)
        assert entry["search_rank"] == (None if entry["id"] == "mixture"
                                        else search_place[entry["id"]])
    top = answer["rerank"]["ranking"][0]
    hint = text[text.index("reuse the labels' first"):]
    suggested = hint.split("lwnode reuse ", 1)[1].split("\\")[0].split()
    mixture = answer["mixture"]
    expected = [i[7:19] for i in mixture["ids"]] if top["id"] == "mixture" else [top["id"][7:19]]
    assert suggested == expected, hint  # what the labels' ranking supports, nothing else
    assert top["id"] != ids["look-alike"] and ids["look-alike"][7:19] not in suggested


def test_labels_that_do_not_separate_keep_the_mmd_order(work, node):
    d, _ = work
    (d / "few.csv").write_text("\n".join(["pos", "neg", "pos"]) + "\n")
    text = lwnode("search", "--data", "user.csv", "--labels", "few.csv", "--home", "home",
                  cwd=d, check=0).stdout
    assert "too few to tell methods apart" in text and "kept the given order" in text, text
    (d / "noise.csv").write_text("\n".join(np.where(
        np.random.default_rng(5).random(10) < 0.5, "pos", "neg")) + "\n")
    answer = json.loads(lwnode("search", "--data", "user.csv", "--labels", "noise.csv",
                               "--home", "home", "--json", cwd=d, check=0).stdout)
    assert not answer["rerank"]["moved"]
    ranks = [e["mmd2_rank"] for e in answer["rerank"]["ranking"]]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) >= 2
    bad = lwnode("search", "--data", "user.csv", "--labels", "few.csv", "--rerank", "11",
                 "--home", "home", cwd=d, check=2)
    assert "--rerank: expected 1..10" in bad.stderr


def test_a_shortlisted_package_that_cannot_be_fetched_leaves_the_others_reranked(
        tmp_path_factory):
    """One package of the shortlist is lost on its node (its file removed): `search
    --labels` re-ranks the other and names the one it could not fetch."""
    d = tmp_path_factory.mktemp("lost")
    decoy_files(d)
    with served_node(d, "Lost Package Org"):
        ids = publish_decoys(d)
        lost = ids["look-alike"].split(":", 1)[1]
        [blob] = [p for p in (d / "home").rglob(lost) if p.is_file()]
        blob.unlink()
        answer = json.loads(lwnode("search", "--data", "user.csv", "--labels", "labels.csv",
                                   "--home", "home", "--json", cwd=d, check=0).stdout)
    reranked = answer["rerank"]
    assert [e["id"] for e in reranked["ranking"]] == [ids["useful"]], reranked
    assert [n for n in reranked["notes"] if "not re-ranked: it could not be fetched" in n], \
        reranked["notes"]
