"""A new user's first hour with `lwnode` in an 80-column terminal: the README's
housing market (learnwares over other columns than the user's), a market whose
scores and MMD² disagree, typos in --home and --node, a wrong token in the
environment, a learnware asked for by its name. Each test is one of their findings.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import ENV, NARROW, lwnode, lwnode_many, served_node, widest
from lwtesting import HOUSING_DEVELOPERS, housing_packages, spread_market

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

COMMANDS = ("", "demo", "init", "run", "pack", "publish", "search", "fetch", "reuse", "peers",
            "spec", "spec make", "list", "show", "withdraw", "status", "cache", "cache clear",
            "completion")


def fits_80(text: str) -> bool:
    """No line wider than 80 columns, but for one that is a single word (a URL, an id)."""
    return all(len(line) <= 80 or " " not in line.strip() for line in text.splitlines())


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("first_use")
    for name, data in housing_packages(d).items():
        (d / f"{name}.zip").write_bytes(data)
    spread, rows = spread_market()
    (d / "spread").mkdir()
    for i, data in enumerate(spread.values()):
        (d / "spread" / f"{i}.zip").write_bytes(data)
    np.savetxt(d / "spread" / "user.csv", rows, delimiter=",")
    return d


@pytest.fixture(scope="module")
def node(work):
    with served_node(work, "Acme Host") as (_, url):
        ids = {}
        for name in HOUSING_DEVELOPERS:
            ids[name] = json.loads(lwnode("publish", f"{name}.zip", "--home", "home", "--json",
                                          cwd=work, check=0).stdout)["id"]
        for package in sorted((work / "spread").glob("*.zip")):
            lwnode("publish", package, "--home", "home", cwd=work, check=0)
        yield url, ids


def test_every_help_fits_an_80_column_terminal(work):
    helps = lwnode_many([(*c.split(), "--help") for c in COMMANDS], cwd=work, env=NARROW)
    for command, proc in zip(COMMANDS, helps, strict=True):
        assert widest(proc.stdout) <= 80, (command, proc.stdout)
    text = {c: p.stdout for c, p in zip(COMMANDS, helps, strict=True)}
    assert "  4    the node refused the request" in text["pack"]  # the table keeps its layout


def test_search_with_labels_on_learnwares_over_other_columns_prints_the_results(work, node):
    text = " ".join(lwnode("search", "--help", cwd=work, check=0).stdout.split())
    assert "only learnwares over your own columns (by name) and their mixture are " \
           "re-ranked" in text
    proc = lwnode("search", "--data", "user.csv", "--semantic", "user.toml", "--labels",
                  "labels.csv", "--home", "home", cwd=work, env=NARROW, check=0)
    assert "Ranked learnwares" in proc.stdout and "house prices" in proc.stdout
    notes = [line for line in proc.stdout.splitlines() if "not re-ranked" in line]
    assert len(notes) == 1 and notes[0].startswith("note: not re-ranked by your labels: "
                                                   "every learnware"), proc.stdout
    assert "Ranked by your" not in proc.stdout
    answer = json.loads(lwnode("search", "--data", "user.csv", "--semantic", "user.toml",
                               "--labels", "labels.csv", "--home", "home", "--json",
                               cwd=work, check=0).stdout)
    assert answer["single"] and answer["rerank"]["ranking"] == []
    assert answer["rerank"]["metric"] is None and len(answer["rerank"]["notes"]) == 1


def test_reuse_with_labels_across_feature_spaces_says_how_the_labels_were_used(work, node):
    _, ids = node
    a_ids = (ids["northwind"], ids["acme"])
    text, as_json = lwnode_many([
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "labels.csv", "-o", "p.csv", "--home", "home"),
        ("reuse", *a_ids, "--data", "user.csv", "--semantic", "user.toml", "--labels",
         "labels.csv", "-o", "q.csv", "--home", "home", "--json")], cwd=work, env=NARROW)
    assert "by hetero" in text.stdout
    assert "labels: your 40 labels" in text.stdout and "leave-one-out" in text.stdout
    assert fits_80(text.stdout), text.stdout
    answer = json.loads(as_json.stdout)
    assert answer["selection"] is None and answer["labels_used"].startswith("your 40 labels")
    helped = " ".join(lwnode("reuse", "--help", cwd=work, check=0).stdout.split())
    assert "with --labels it fits a correction of the learnwares' average on them, or a " \
           "stacked classifier, and prints which" in helped


def test_long_output_lines_wrap_to_the_terminal(work, node):
    _, ids = node
    pack, publish, fetch = (
        lwnode("pack", "--model", "acme.skops", "--data", "acme.csv", "--semantic",
               "acme.toml", "-o", "acme2.zip", "--points", "40", cwd=work, env=NARROW, check=0),
        lwnode("publish", "acme.zip", "--home", "home", cwd=work, env=NARROW, check=0),
        lwnode("fetch", ids["acme"][7:19], "-o", "fetched", "--home", "home", cwd=work,
               env=NARROW, check=0))
    for proc in (pack, publish, fetch):
        assert fits_80(proc.stdout), proc.stdout
    assert "peers see the row count only as ~1000" in " ".join(pack.stdout.split())
    assert "sha256 and owner's signature verified" in " ".join(fetch.stdout.split())


def test_show_marks_the_coarsened_row_count_as_approximate(work, node):
    url, ids = node
    text = lwnode("show", ids["acme"][7:19], "--home", "home", cwd=work, check=0).stdout
    assert "summarising ~1000 training rows" in text, text
    import urllib.request

    with urllib.request.urlopen(f"{url}/web/app.js") as page:  # the web page's detail view
        assert "(from ~${stat.n_samples} rows" in page.read().decode()


def test_a_home_that_does_not_exist_is_an_error_not_another_node(work, node):
    runs = lwnode_many([(*c, "--home", "nosuchhome") for c in (
        ("list",), ("show", "abcdef"), ("status",), ("peers",), ("cache",),
        ("search", "--data", "user.csv"), ("publish", "acme.zip"))], cwd=work, check=2)
    for proc in runs:
        assert "--home nosuchhome: no such node home; create one with: lwnode init --home " \
               "nosuchhome" in proc.stderr, proc.stderr
    a_file = lwnode("list", "--home", "user.csv", cwd=work, check=2)
    assert "--home user.csv: not a folder; create one with: lwnode init" in a_file.stderr
    assert not (work / "nosuchhome").exists()


def test_an_explicit_home_beats_a_wrong_token_in_the_environment(work, node):
    url, _ = node
    wrong = {**ENV, "LWDOCK_TOKEN": "wrongtoken"}
    published = lwnode("publish", "globex.zip", "--home", "home", cwd=work, env=wrong, check=0)
    assert "already published" in published.stdout
    refused = lwnode("publish", "globex.zip", "--node", url, cwd=work, env=wrong, check=4)
    assert "refused the API token from $LWDOCK_TOKEN" in refused.stderr
    status = lwnode("status", "--node", url, cwd=work, env=wrong, check=4)
    assert "REFUSED by the node (from $LWDOCK_TOKEN)" in status.stdout
    assert "health        ok" in status.stdout
    assert json.loads(lwnode("status", "--node", url, "--json", cwd=work, env=wrong,
                             check=4).stdout)["token"]["valid"] is False
    lwnode("status", "--home", "home", cwd=work, env=wrong, check=0)


def test_a_learnware_is_found_by_its_name(work, node):
    _, ids = node
    card = json.loads(lwnode("show", "house prices (acme)", "--home", "home", "--json",
                             cwd=work, check=0).stdout)
    assert card["id"] == ids["acme"]
    missing = lwnode("show", "house prices", "--home", "home", cwd=work, check=4)
    assert "no learnware known to the node is named so" in missing.stderr
    assert "HTTP" not in missing.stderr and "sha256:" not in missing.stderr


def test_search_says_why_its_scores_are_not_in_rank_order(work, node):
    text = lwnode("search", "--data", "spread/user.csv", "--home", "home", cwd=work,
                  env=NARROW, check=0).stdout
    answer = json.loads(lwnode("search", "--data", "spread/user.csv", "--home", "home",
                               "--json", cwd=work, check=0).stdout)
    scores = [round(h["score"], 3) for h in answer["single"]]
    assert scores != sorted(scores, reverse=True), scores  # the market does what it says
    assert "note: the scores are not in rank order: the rank is by MMD²" in text, text
    ordered = lwnode("search", "--data", "user.csv", "--semantic", "user.toml", "--home",
                     "home", "--k", "1", cwd=work, check=0).stdout
    assert "not in rank order" not in ordered


def test_a_node_url_that_does_not_answer_gets_a_hint(work):
    proc = lwnode("list", "--node", "http://127.0.0.1:9", cwd=work, check=3)
    assert "Connection refused" in proc.stderr
    assert "is a node running at that URL? check --node" in proc.stderr
