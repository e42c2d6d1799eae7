"""The network demo in reduced size on each data set: real nodes, real libp2p, its report
asserted (the right learnwares found, reuse better than the user's own few-label model)."""

import io
import json
import os
import tempfile

import pytest
from cli_run import in_process
from rich.console import Console

from lwnode.demo import network as network_demo

pytestmark = pytest.mark.timeout(180)


async def _quick(data: str, tmp_path) -> network_demo.NetworkDemoReport:
    report = await network_demo.run_network_demo(data=data, n_orgs=2, quick=True, keep=tmp_path,
                                                 console=Console(quiet=True))
    assert report.data == data
    mixture = report.search["mixture"]
    assert mixture is not None
    assert report.verified == mixture["ids"]  # every member fetched and verified
    assert not report.search["partial"]
    assert len({m["organization"] for m in mixture["members"]}) == 2  # across owners
    return report


def _covered(report: network_demo.NetworkDemoReport) -> set:
    return {c for lw_id in report.search["mixture"]["ids"] for c in report.knows[lw_id]}


@pytest.mark.parametrize("data", ["image", pytest.param("text", marks=pytest.mark.slow)])
async def test_classification_demo_mixes_learnwares_that_know_the_users_classes(data, tmp_path):
    """Digits 2, 3, 7, 8 / reviews of four product kinds: no learnware knows them all."""
    report = await _quick(data, tmp_path)
    if data == "image":  # the printed report (the command below prints JSON)
        console = Console(record=True, width=120, file=io.StringIO())
        network_demo.print_network_report(report, console)
        out = console.export_text()
        assert "Best mixture across owners" in out and "job selector" in out
        assert "fetched and verified" in out
        assert "digits 2 and 3" in out  # matches are shown by their task
    assert all(not set(report.user_classes) <= set(k) for k in report.knows.values())
    assert set(report.user_classes) <= _covered(report)
    acc = report.scores
    assert acc["job selector (no labels)"] > acc["user-only model (few labels)"]
    assert acc["job selector (no labels)"] > acc["best in market"]


@pytest.mark.slow
async def test_tabular_demo_finds_forecasters_that_fit_the_users_state(tmp_path):
    report = await _quick("tabular", tmp_path)
    rmse = report.scores
    top = report.search["single"][0]["id"]
    assert report.alone[top] < rmse["mean in market"]  # search ranked a better-than-average one
    assert all("births one week ahead" in report.tasks[i] for i in report.verified)
    assert rmse["averaging (no labels)"] < rmse["mean in market"]
    for method in ("job selector (no labels)", "averaging (no labels)"):
        assert rmse[method] < rmse["user-only model (few labels)"]


def test_lwnode_demo_command_runs_the_network_and_cleans_up(tmp_path, monkeypatch):
    env = {**os.environ, "COLUMNS": "120", "TMPDIR": str(tmp_path)}
    monkeypatch.setattr(tempfile, "tempdir", None)  # read $TMPDIR again, as a new process does
    proc = in_process(["demo", "--quick", "--orgs", "2", "--json"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)  # stdout is the JSON alone: progress went to stderr
    assert set(report) == {"demo", "data", "title", "user_task", "organizations", "n_labels",
                           "metric", "higher_is_better", "search", "tasks", "alone",
                           "scores", "verified", "seconds", "kept"}
    assert report["demo"] == "network" and report["organizations"] == ["Org A", "Org B"]
    mixture = report["search"]["mixture"]
    assert report["verified"] == mixture["ids"] and report["kept"] is None
    assert all(i.startswith("sha256:") and len(i) == 71 for i in mixture["ids"])
    assert "digits 2 and 3" in report["tasks"].values()
    assert report["scores"]["job selector (no labels)"] > \
        report["scores"]["user-only model (few labels)"]
    assert not list(tmp_path.glob("lwdock-demo-*"))  # its temporary homes are gone
