"""Browsing a node from the command line as people browse a model hub: list, show,
withdraw, status and cache against a real node, with --json on each; tables that fit
an 80-column terminal; a CSV's columns matched by name; messages in the user's words.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from cli_run import NARROW, lwnode, lwnode_many, served_node, widest
from lwtesting import region_centres, region_labels, region_rows

pytestmark = pytest.mark.timeout(240)

D = 5


def narrow(*args, cwd, check=None):
    """`lwnode` with COLUMNS=80, as on an 80-column terminal."""
    return lwnode(*args, cwd=cwd, check=check, env=NARROW)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Two published learnwares (one describes its columns f0..f4), a user's rows with
    that header, the same rows with the columns shuffled, and with one column fewer."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("browse")
    centres = region_centres(3, D, seed=3)
    header = [f"f{j}" for j in range(D)]
    for i in range(2):
        x = region_rows(centres, i, 300)
        np.savetxt(d / f"dev{i}.csv", x, delimiter=",", header=",".join(header), comments="")
        sio.dump(LogisticRegression().fit(x, region_labels(centres, i, x)), d / f"dev{i}.skops")
        columns = "".join(f'f{j} = "reading {j} of the region sensor"\n' for j in range(D))
        (d / f"sem{i}.toml").write_text(
            f'name = "region {i} classifier"\ndata_type = "table"\n'
            'task_type = "classification"\nlibrary = "scikit_learn"\nlicense = "mit"\n'
            f'scenarios = ["{"retail" if i == 0 else "energy"}"]\n'
            + ("[input.columns]\n" + columns if i == 0 else ""))
    user = np.vstack([region_rows(centres, 0, 80, seed=9), region_rows(centres, 1, 80, seed=9)])
    np.savetxt(d / "user.csv", user, delimiter=",", header=",".join(header), comments="")
    order = [3, 0, 4, 1, 2]
    np.savetxt(d / "shuffled.csv", user[:, order], delimiter=",",
               header=",".join(header[j] for j in order), comments="")
    np.savetxt(d / "fewer.csv", user[:, :4], delimiter=",", header=",".join(header[:4]),
               comments="")
    return d


@pytest.fixture(scope="module")
def node(work):
    with served_node(work, "Browse Org") as (_proc, url):
        lwnode_many([("pack", "--model", f"dev{i}.skops", "--data", f"dev{i}.csv",
                      "--semantic", f"sem{i}.toml", "-o", f"pkg{i}.zip", "--points", "30")
                     for i in range(2)], cwd=work)
        ids = [json.loads(lwnode("publish", f"pkg{i}.zip", "--home", "home", "--json",
                                 cwd=work, check=0).stdout)["id"] for i in range(2)]
        yield url, ids


def test_list_searches_filters_sorts_and_fits_80_columns(work, node):
    _, ids = node
    everything, by_text, by_filter, limited = lwnode_many([
        ("list", "--home", "home", "--json"),
        ("list", "region", "1", "--home", "home", "--json"),
        ("list", "--scenario", "retail", "--task-type", "classification", "--home", "home",
         "--json"),
        ("list", "--sort", "name", "--limit", "1", "--home", "home", "--json")], cwd=work)
    listed = json.loads(everything.stdout)
    assert sorted(e["id"] for e in listed["items"]) == sorted(ids)
    assert listed["complete"] and listed["matched"] == 2 and listed["scanned"] == 2
    assert set(listed["items"][0]) >= {"id", "name", "organization", "data_type",
                                       "task_type", "library", "license", "scenarios", "size"}
    # "1" is not looked for inside ids (nearly every id holds a 1)
    assert [e["id"] for e in json.loads(by_text.stdout)["items"]] == [ids[1]]
    assert [e["id"] for e in json.loads(by_filter.stdout)["items"]] == [ids[0]]
    one = json.loads(limited.stdout)
    assert [e["name"] for e in one["items"]] == ["region 0 classifier"] and one["matched"] == 2
    table = narrow("list", "--home", "home", cwd=work, check=0).stdout
    assert widest(table) <= 80, table
    assert ids[0].split(":")[1][:12] in table and "region 1 classifier" in table


def test_show_is_a_card_with_the_columns_it_expects(work, node):
    _, ids = node
    text = narrow("show", ids[0].split(":")[1][:8], "--home", "home", cwd=work, check=0).stdout
    assert widest(text) <= 80, text
    assert ids[0] in text and "region 0 classifier" in text
    assert "expects      5 columns, by name (5 described)" in text
    assert "- f3 — reading 3 of the region sensor" in text
    # --points 30 asks for 30; 300 rows in groups of >= 20 (the private default) give 15
    assert "checks usable (8" in text and "15 weighted points in 5 dimensions" in text
    card = json.loads(lwnode("show", ids[0], "--home", "home", "--json", cwd=work,
                             check=0).stdout)
    assert set(card) == {"id", "short_id", "handles", "semantic", "columns", "offers",
                         "hosted", "package_url", "statistical"}
    assert card["handles"] == ["Browse Org/region 0 classifier"]
    by_handle = lwnode("show", "browse org/Region 0 Classifier", "--home", "home", "--json",
                       cwd=work, check=0)
    assert json.loads(by_handle.stdout)["id"] == ids[0]
    assert [c["name"] for c in card["columns"]] == [f"f{j}" for j in range(D)]
    assert card["offers"][0]["organization"] == "Browse Org"
    assert card["statistical"][0] == {"type": "rkme_table", "space": card["statistical"][0][
        "space"], "points": 15, "dimension": D, "n_samples": 300,
        "gamma": card["statistical"][0]["gamma"]}


def test_status_says_which_node_and_whether_the_token_works(work, node):
    url, _ = node
    (good,) = lwnode_many([("status", "--home", "home", "--json")], cwd=work)
    wrong = lwnode("status", "--node", url, "--token", "wrong", "--json", cwd=work,
                   check=4)  # a refused token: the exit of a refused request
    s = json.loads(good.stdout)
    assert s["node_url"] == url and s["organization"] == "Browse Org" and s["status"] == "ok"
    assert s["token"] == {"present": True, "valid": True,
                          "source": str(work / "home" / "api.token").replace(
                              str(work) + os.sep, ""), "problem": None}
    assert s["peers"] == {"connected": 0, "known": 0} and s["learnwares"]["hosted"] >= 1
    assert s["keeps"] == "every learnware"  # the default [replication]
    assert s["disk"]["max_mb"] == 1000 and s["disk"]["taking_new"] is True  # its budget
    assert 0 < s["disk"]["bytes"] < 10**7 and s["disk"]["note"] == ""
    assert json.loads(wrong.stdout)["token"]["valid"] is False
    text = narrow("status", "--home", "home", cwd=work, check=0).stdout
    assert widest(text) <= 80 and "accepted by the node" in text and "Browse Org" in text
    assert "every learnware peers offer" in text
    assert "of 1,000 MB" in text and "max_disk_mb" in text


def test_search_table_fits_80_columns_and_names_match_without_descriptions(work, node):
    _, ids = node
    out = narrow("search", "--data", "user.csv", "--home", "home", cwd=work, check=0).stdout
    assert widest(out) <= 80, out
    # both found: the user's header names learnware 0's described columns f0..f4 (it was
    # dropped as "other columns of the same width" when only one side described them)
    assert all(i.split(":")[1][:12] in out for i in ids), out
    assert "Best mixture" in out and "lwnode reuse " in out


def test_reuse_orders_columns_by_name_and_says_which_are_missing(work, node):
    _, ids = node
    lid = ids[0].split(":")[1][:12]
    # at once, into the one cache: the fetch lock keeps them off each other's .part file
    lwnode_many([
        ("reuse", lid, "--data", "user.csv", "-o", "same.csv", "--home", "home"),
        ("reuse", lid, "--data", "shuffled.csv", "-o", "shuffled_pred.csv", "--home", "home")],
        cwd=work)
    assert (work / "same.csv").read_text() == (work / "shuffled_pred.csv").read_text()
    fewer = lwnode("reuse", lid, "--data", "fewer.csv", "-o", "x.csv", "--home", "home",
                   cwd=work, check=2)
    assert "(missing f4)" in fewer.stderr and fewer.stderr.startswith("lwnode reuse: ")


def test_search_orders_columns_by_name_and_says_which_are_missing(work, node):
    _, ids = node
    same, shuffled = lwnode_many([("search", "--data", name, "--home", "home", "--json")
                                  for name in ("user.csv", "shuffled.csv")], cwd=work)
    fewer = lwnode("search", "--data", "fewer.csv", "--home", "home", cwd=work, check=2)
    # the shuffled columns are put in the learnwares' order by name: the same answer as
    # the rows in that order (the RKME is fitted on other-ordered rows, and its noise is
    # seeded by the rows' bytes: close, not equal; the user's rows are half of each
    # region, so the two learnwares are near-tied and their order may differ)
    a, b = json.loads(same.stdout), json.loads(shuffled.stdout)
    assert sorted(h["id"] for h in b["single"]) == sorted(ids)
    mmd2_in_order = {h["id"]: h["mmd2"] for h in a["single"]}
    for hit in b["single"]:
        assert hit["mmd2"] == pytest.approx(mmd2_in_order[hit["id"]], rel=0.2, abs=1e-3)
        assert not hit["heterogeneous"]
    assert any("in another order" in n for n in b["notes"]), b["notes"]
    assert a["mixture"] is not None and b["mixture"] is not None, b["notes"]  # mixed too
    assert sorted(b["mixture"]["ids"]) == sorted(a["mixture"]["ids"])
    assert b["mixture"]["mmd2"] == pytest.approx(a["mixture"]["mmd2"], rel=0.2, abs=1e-3)
    text = lwnode("search", "--data", "shuffled.csv", "--home", "home", cwd=work, check=0)
    assert "your column names in another order" in text.stdout
    # one column fewer and no descriptions: refused, naming the column it lacks
    assert fewer.stderr.startswith("lwnode search: fewer.csv: ") and "missing f4" in \
        fewer.stderr, fewer.stderr
    assert "requirement:" not in fewer.stderr and "InputSpec" not in fewer.stderr


def test_cache_lists_what_reuse_fetched_and_clears_it(work, node):
    _, ids = node
    lid = ids[1].split(":")[1]
    reused = json.loads(lwnode("reuse", lid[:12], "--data", "user.csv", "-o", "p.csv",
                               "--home", "home", "--json", cwd=work, check=0).stdout)
    assert reused["predictions"] == 160 and reused["method"] == "job-selector"
    assert [f["id"] for f in reused["fetched"]] == [ids[1]] and reused["mappings"] == {}
    listed = json.loads(lwnode("cache", "--home", "home", "--json", cwd=work, check=0).stdout)
    assert listed["dir"] == os.path.join("home", "cache")
    mine = [e for e in listed["items"] if e["id"] == ids[1]]
    assert mine and mine[0]["name"] == "region 1 classifier" and not mine[0]["partial"]
    assert listed["total_bytes"] == sum(e["size"] for e in listed["items"])
    (work / "home" / "cache" / "keep.txt").write_text("not a package")
    text = narrow("cache", "--home", "home", cwd=work, check=0).stdout
    assert widest(text) <= 80 and lid[:12] in text
    cleared = json.loads(lwnode("cache", "clear", "--home", "home", "--json", cwd=work,
                                check=0).stdout)
    assert cleared["removed"] == len(listed["items"])
    left = [p.name for p in (work / "home" / "cache").iterdir() if p.name != ".fetch.lock"]
    assert left == ["keep.txt"]


def test_a_handle_names_one_learnware_so_a_second_of_one_name_is_refused(work, node):
    _, ids = node
    lwnode("pack", "--model", "dev1.skops", "--data", "dev1.csv", "--semantic", "sem0.toml",
           "-o", "pkg_same.zip", "--points", "20", cwd=work, check=0)
    refused = lwnode("publish", "pkg_same.zip", "--home", "home", cwd=work, check=4)
    assert refused.stderr.startswith("lwnode publish: this node already offers a learnware "
                                     "named 'region 0 classifier' (" + ids[0]), refused.stderr
    assert "give this one another name" in refused.stderr
    listed = json.loads(lwnode("list", "--home", "home", "--json", cwd=work, check=0).stdout)
    assert sorted(e["id"] for e in listed["items"]) == sorted(ids)  # nothing left behind
    # the handle, in any case, is taken wherever an id is
    shown, fetched = lwnode_many([
        ("show", "browse org/REGION 0 classifier", "--home", "home", "--json"),
        ("fetch", "Browse Org/region 0 classifier", "-o", "by_handle", "--home", "home",
         "--json")], cwd=work)
    assert json.loads(shown.stdout)["id"] == ids[0]
    assert [f["id"] for f in json.loads(fetched.stdout)["fetched"]] == [ids[0]]


def test_withdraw_then_the_listing_no_longer_has_it(work, node):
    url, _ = node
    extra = work / "pkg_w.zip"
    (work / "sem_w.toml").write_text((work / "sem0.toml").read_text().replace(
        "region 0 classifier", "region 0 classifier, to withdraw"))
    lwnode("pack", "--model", "dev1.skops", "--data", "dev1.csv", "--semantic", "sem_w.toml",
           "-o", extra.name, "--points", "20", cwd=work, check=0)
    lid = json.loads(lwnode("publish", extra.name, "--home", "home", "--json", cwd=work,
                            check=0).stdout)["id"]
    refused = lwnode("withdraw", lid, "--node", url, "--token", "wrong", cwd=work, check=4)
    assert "--token" in refused.stderr and "HTTP" not in refused.stderr
    done = json.loads(lwnode("withdraw", lid.split(":")[1][:10], "--home", "home", "--json",
                             cwd=work, check=0).stdout)
    assert done["id"] == lid and done["status"] == "withdrawn"
    listed = json.loads(lwnode("list", "--home", "home", "--json", cwd=work, check=0).stdout)
    assert lid not in {e["id"] for e in listed["items"]}


def test_errors_name_the_command_typed(work, node):
    url, _ = node
    (work / "notoken").mkdir(exist_ok=True)
    cases = [
        (("list", "--node", "http://127.0.0.1:9"), 3, "lwnode list: no answer"),
        (("status", "--node", "http://127.0.0.1:9"), 3, "lwnode status: no answer"),
        (("show", "sha256:" + "0" * 64, "--node", url), 4, "lwnode show: "),
        (("publish", "pkg0.zip", "--node", url, "--home", "notoken"), 2,
         "lwnode publish: notoken/api.token: no API token"),
        # a stopped node fails before the data is read and summarised
        (("search", "--data", "user.csv", "--node", "http://127.0.0.1:9"), 3,
         "lwnode search: no answer"),
        (("search", "--data", "not-read.csv", "--node", "http://127.0.0.1:9"), 3,
         "lwnode search: no answer"),
    ]
    for args, code, text in cases:
        proc = lwnode(*args, cwd=work)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        assert proc.stderr.startswith(text) and proc.stderr.count("\n") == 1, (args, proc.stderr)


def test_init_and_fetch_print_json(work, node):
    _, ids = node
    made, fetched = lwnode_many([("init", "--home", "other", "--org", "X", "--json"),
                                 ("fetch", ids[0], "-o", "got", "--home", "home", "--json")],
                                cwd=work)
    assert set(json.loads(made.stdout)) == {"home", "node_id", "config", "key", "token"}
    (got,) = json.loads(fetched.stdout)["fetched"]
    assert got["id"] == ids[0] and got["name"] == "region 0 classifier"
    assert (work / got["path"]).stat().st_size == got["size"]


async def test_status_of_a_degraded_node_names_what_is_down_and_exits_1(tmp_path):
    import asyncio

    from lwtesting import until
    from real_nodes import cluster

    async with cluster(1, tmp_path) as (a,):
        network = a.federation.network
        real = network.peers

        async def broken():
            raise RuntimeError("injected fault in the peer watcher")

        network.peers = broken  # stays down while the command runs
        try:
            async def down() -> bool:
                return bool(a.federation.problems())

            await until(down, "the supervisor to see the watcher down")
            json_run, text_run = await asyncio.gather(*(asyncio.to_thread(  # at once
                lwnode, "status", "--node", a.url, *extra, cwd=tmp_path, process=True)
                for extra in (("--json",), ())))
        finally:
            network.peers = real
    assert json_run.returncode == 1 and text_run.returncode == 1, json_run.stderr
    s = json.loads(json_run.stdout)
    assert s["status"] == "degraded" and "injected fault" in s["down"]["peer watcher"]
    assert "health        degraded: peer watcher (" in text_run.stdout


def test_missing_values_refused_with_a_hint_or_imputed_for_search_and_reuse(work, node):
    _, ids = node
    rows = (work / "user.csv").read_text().splitlines()
    holes = [rows[0]] + [",".join("" if (i + j) % 17 == 0 else c
                                  for j, c in enumerate(line.split(",")))
                         for i, line in enumerate(rows[1:])]
    (work / "holes.csv").write_text("\n".join(holes) + "\n")
    refused = lwnode("search", "--data", "holes.csv", "--home", "home", cwd=work, check=2)
    assert "missing value(s)" in refused.stderr and "--impute" in refused.stderr
    found, reused = lwnode_many([
        ("search", "--data", "holes.csv", "--impute", "mean", "--home", "home", "--json"),
        ("reuse", ids[0].split(":")[1][:12], "--data", "holes.csv", "--impute", "mean",
         "-o", "holes_pred.csv", "--home", "home", "--json")], cwd=work)
    assert {h["id"] for h in json.loads(found.stdout)["single"]} == set(ids)
    assert "filled" in found.stderr and "with each column's mean" in found.stderr
    assert json.loads(reused.stdout)["predictions"] == len(holes) - 1
