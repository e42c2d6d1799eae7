"""The command line as people run it against a running node (``lwnode run`` in a
subprocess).

init -> run -> pack -> publish -> search -> fetch -> reuse, every bad input to
its exit code with one line on stderr (each in its own ``python -m lwnode.cli``
process, the entry point people run), and the node's clean stop on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cli_run import ENV, lwnode, lwnode_many, served_node
from lwtesting import region_centres, region_files, region_labels, region_rows, wait_for

from engine.package import open_package
from engine.privacy import coarse_count

pytestmark = pytest.mark.timeout(180)

D = 5


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Developers' data and models, a user's rows, on disk as people have them."""
    d = tmp_path_factory.mktemp("cli")
    centres = region_centres(3, D, seed=3)
    for i in range(2):
        region_files(d, centres, i, header=[f"f{j}" for j in range(D)])
        (d / f"sem{i}.toml").write_text(
            f'name = "region {i} classifier"\ndata_type = "table"\n'
            'task_type = "classification"\nlibrary = "scikit_learn"\nlicense = "mit"\n'
            'scenarios = ["retail"]\n')
    user = np.vstack([region_rows(centres, 0, 80, seed=9), region_rows(centres, 1, 80, seed=9)])
    np.savetxt(d / "user.csv", user, delimiter=",")
    truth = np.concatenate([region_labels(centres, 0, user[:80]),
                            region_labels(centres, 1, user[80:])])
    np.savetxt(d / "labels.csv", truth, fmt="%s")
    (d / "bad.csv").write_text("a,b,c,d,e\n1,2,3,4,5\n1,2,x,4,5\n")
    (d / "narrow.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (d / "junk.zip").write_bytes(b"this is not a zip archive")
    return d, truth


@pytest.fixture(scope="module")
def node(work):
    with served_node(work[0], "CLI Test Org") as running:
        yield running


def test_the_whole_flow(work, node):
    d, truth = work
    _, url = node
    packs = lwnode_many([("pack", "--model", f"dev{i}.skops", "--data", f"dev{i}.csv",
                          "--semantic", f"sem{i}.toml", "-o", f"pkg{i}.zip", "--points", "30")
                         for i in range(2)], cwd=d)
    said = [" ".join(p.stdout.split()) for p in packs]  # lines wrap to the terminal
    assert all(f"pkg{i}.zip" in text and "no row is in it" in text and "membership AUC" in text
               and "kept in the package's learnware.toml" in text
               for i, text in enumerate(said))
    kept = open_package(d / "pkg0.zip").manifest.privacy_report
    assert kept is not None and kept.mechanism == "group-means" and kept.auc_nearest_point
    ids = []
    for i in range(2):
        published = lwnode("publish", f"pkg{i}.zip", "--home", "home", "--json", cwd=d,
                           check=0)
        answer = json.loads(published.stdout)
        assert answer["created"] and answer["report"]["status"] == "usable"
        ids.append(answer["id"])
    again = lwnode("publish", "pkg0.zip", "--home", "home", cwd=d, check=0)
    assert "already published" in again.stdout

    found, table, fetched, _ = lwnode_many([
        ("search", "--data", "user.csv", "--home", "home", "--json"),
        ("search", "--data", "user.csv", "--node", url),
        ("fetch", ids[0][:15], "-o", "downloads", "--home", "home"),  # a unique prefix
        ("spec", "make", "user.csv", "-o", "spec.json", "--points", "20")], cwd=d)
    answer = json.loads(found.stdout)
    assert {h["id"] for h in answer["single"]} == set(ids)
    assert sorted(answer["mixture"]["ids"]) == sorted(ids)
    assert "region 0 classifier" in table.stdout and "Best mixture" in table.stdout
    assert "no raw rows" in table.stdout and "verified" in fetched.stdout
    assert "your requirement's privacy: group-means" in table.stdout
    hexd = ids[0].split(":")[1]
    assert (d / "downloads" / f"{hexd}.zip").read_bytes() == (d / "pkg0.zip").read_bytes()
    spec = json.loads((d / "spec.json").read_text())
    # private: one point per >= 20 rows, and the row count rounded to its leading digit
    assert 1 <= len(spec["points"]) <= len(truth) // 20
    assert spec["n_samples"] == coarse_count(len(truth))

    weights = ",".join(str(w) for w in answer["mixture"]["weights"])
    _, _, by_spec, peers = lwnode_many([
        ("reuse", *answer["mixture"]["ids"], "--weights", weights, "--data", "user.csv",
         "-o", "predictions.csv", "--home", "home"),
        ("reuse", ids[0].split(":")[1].upper(), "--data", "user.csv", "--labels",  # file name
         "labels.csv", "--method",
         "ensemble-pruning", "-o", "pruned.csv", "--home", "home"),
        ("search", "--spec", "spec.json", "--home", "home", "--json"),
        ("peers", "--home", "home")], cwd=d)
    predictions = np.loadtxt(d / "predictions.csv", dtype=str, skiprows=1)
    assert len(predictions) == len(truth) and (predictions == truth).mean() > 0.85
    assert len(np.loadtxt(d / "pruned.csv", dtype=str, skiprows=1)) == len(truth)
    assert {h["id"] for h in json.loads(by_spec.stdout)["single"]} == set(ids)
    assert "no peers" in peers.stdout


def test_bad_inputs_give_one_line_and_their_exit_code(work, node):
    d, _ = work
    _, url = node
    unknown = "sha256:" + "0" * 64
    (d / "stopped").mkdir(exist_ok=True)  # a home whose node has stopped
    (d / "stopped" / "node.url").write_text("http://127.0.0.1:9\n")
    cases = [
        (("peers", "--home", "stopped"), 3, "start it with: lwnode run --home stopped"),
        (("search", "--data", "missing.csv", "--node", url), 2, "missing.csv: no such file"),
        (("search", "--data", "bad.csv", "--node", url), 2, "line 3, column 3 ('c'): 'x'"),
        (("search", "--data", "narrow.csv", "--node", url), 2, "narrow.csv: "),
        (("search", "--data", "user.csv", "--node", "http://127.0.0.1:9"), 3, "no answer"),
        (("publish", "junk.zip", "--node", url, "--token", "wrong"), 4,
         "refused the API token from --token"),
        (("publish", "junk.zip", "--home", "home"), 4, "archive"),
        (("fetch", unknown, "-o", "x", "--node", url), 4, "not known"),
        (("fetch", "nonsense", "-o", "x", "--node", url), 4,  # a name, looked up as such
         "not an id, and no learnware known to the node is named so"),
        (("fetch", "sha256:000000", "-o", "x", "--node", url), 4, "no learnware known"),
        (("fetch", "0" * 64, "-o", "x", "--node", url), 4, "not known"),  # as files are named
        (("reuse", unknown, "--data", "user.csv", "--method", "feature-augment", "-o", "p.csv",
          "--node", url), 2, "give --labels"),
        (("reuse", unknown, "--data", "user.csv", "--labels", "labels.csv", "--method",
          "average", "-o", "p.csv", "--node", url), 2, "uses no labels"),
        (("init", "--home", "home"), 1, "refusing to replace"),
        (("pack", "--model", "dev0.csv", "--data", "dev0.csv", "--semantic", "sem0.toml",
          "-o", "x.zip"), 2, "unsupported model file"),
    ]
    procs = [(args, code, text, subprocess.Popen(
        [sys.executable, "-m", "lwnode.cli", *args], cwd=d, env=ENV, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)) for args, code, text in cases]
    for args, code, text, proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == code, (args, proc.returncode, err)
        assert text in err and err.count("\n") == 1 and "Traceback" not in err, (args, err)
    usage = lwnode("peers", "--node", "localhost:8470", cwd=d, check=2)  # argparse's usage
    assert "expected a URL like http://" in usage.stderr


def test_every_command_has_help():
    commands = ("init", "run", "pack", "publish", "search", "fetch", "reuse", "peers", "spec",
                "spec make", "demo", "list", "show", "withdraw", "status", "cache",
                "cache clear", "completion")
    helped = lwnode_many([(*c.split(), "--help") for c in commands], cwd=".")
    for command, proc in zip(commands, helped, strict=True):
        assert proc.stdout.startswith("usage: lwnode"), command
    # the entry point people run, in a fresh interpreter
    assert "exit codes" in lwnode("--help", cwd=".", check=0, process=True).stdout


def test_run_works_with_no_config_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "lwnode.cli", "run", "--home", "fresh",
                             "--http", "127.0.0.1:0"], cwd=tmp_path, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url_file = tmp_path / "fresh" / "node.url"
    try:
        wait_for(lambda: url_file.exists() or proc.poll() is not None, "the node", 60)
        health = json.loads(lwnode("peers", "--home", "fresh", "--json", cwd=tmp_path,
                                   check=0).stdout)
        assert health == {"peers": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out and "new node home" in err
    assert not (tmp_path / "fresh" / "node.toml").exists()
    assert (tmp_path / "fresh" / "node.key").exists()


def test_a_second_run_on_a_running_home_leaves_its_port_alone(work, node):
    """A second ``lwnode run`` of a running home fails on the store lock before it touches
    anything of the running node's, such as the p2p port kept in the home."""
    d, _ = work
    port_file = d / "home" / "p2p.port"
    kept = port_file.read_text()
    second = lwnode("run", "--home", "home", "--http", "127.0.0.1:0", cwd=d, check=1,
                    process=True)
    assert "the store is in use by another lwnode process" in second.stderr
    assert "p2p port" not in second.stderr, second.stderr
    assert port_file.read_text() == kept


def test_sigkill_mid_publish_then_restart_is_clean(work, tmp_path):
    """The whole node killed while uploads are in flight; the next start recovers."""
    import random
    import threading
    import urllib.request

    from lwtesting import with_manifest

    from lwnode.home import NodeHome
    from lwnode.node.store import FileStore

    d, _ = work
    if not (d / "pkg0.zip").exists():
        lwnode("pack", "--model", "dev0.skops", "--data", "dev0.csv", "--semantic",
               "sem0.toml", "-o", "pkg0.zip", "--points", "30", cwd=d, check=0)
    base = (d / "pkg0.zip").read_bytes()

    def variant(i):
        def edit(manifest):
            manifest["semantic"]["description"] = f"variant {i}"
            manifest["semantic"]["name"] += f" v{i}"  # a handle names one
        return with_manifest(base, edit)

    variants = [variant(i) for i in range(40)]
    home = NodeHome(tmp_path / "victim")
    home.init("Victim")
    argv = [sys.executable, "-m", "lwnode.cli", "run", "--home", str(home.path), "--http",
            "127.0.0.1:0"]
    proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(home.url_path.exists, "the node", 60)
    url, token = home.read_url(), home.token()
    accepted = []

    def publish_all():
        for body in variants:
            request = urllib.request.Request(f"{url}/v1/learnwares", data=body, method="POST",
                                             headers={"Authorization": f"Bearer {token}"})
            try:
                urllib.request.urlopen(request, timeout=30).read()
                accepted.append(body)
            except Exception:  # the node dies under us: that is the point
                return

    uploader = threading.Thread(target=publish_all)
    uploader.start()
    wait_for(lambda: len(accepted) >= 3, "some publishes", 60)
    time.sleep(random.uniform(0.0, 0.05))
    proc.kill()
    proc.wait(timeout=30)
    uploader.join(timeout=60)
    with FileStore(home.store_dir(home.config(env={}))) as store:
        assert store.verify() == []
        hosted = {o.learnware_id for o in store.list_own() if o.status == "active"}
    assert 3 <= len(accepted) <= len(hosted) < len(variants)
    home.url_path.unlink()  # a killed node leaves its URL file behind
    restart = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(home.url_path.exists, "the restarted node", 60)
        listing = json.loads(urllib.request.urlopen(
            f"{home.read_url()}/v1/learnwares?limit=100").read())
        assert {i["id"] for i in listing["items"]} == hosted
    finally:
        restart.send_signal(signal.SIGTERM)
        restart.wait(timeout=30)
