"""`lwnode demo` as a user runs it: a real subprocess, its report on stdout (its misuse
is checked in-process, `cli_run.in_process`)."""

import io
import json
import os
import subprocess
import sys

import pytest

from protocol.versions import SCHEMA_STRING


@pytest.mark.timeout(180)
def test_lwnode_engine_demo_prints_its_report_as_json():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "demo", "--engine", "--json"],
                          capture_output=True,
                          text=True, timeout=170, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # the JSON alone: progress goes to stderr
    assert set(report) == {"demo", "n_candidates", "exact", "single", "mixture", "scores",
                           "metric", "higher_is_better", "n_labels", "seconds"}
    assert [h["id"] for h in report["single"][:2]] == ["dev02", "dev07"]
    assert report["single"][0]["classes"] == [2, 3]
    assert report["mixture"]["ids"] and len(report["mixture"]["weights"]) == \
        len(report["mixture"]["ids"])
    scores = report["scores"]
    assert scores["job selector (no labels)"] > scores["user-only model (few labels)"]


def test_engine_demo_report_prints_its_tables():
    from rich.console import Console

    from engine.search.results import Match, Mixture, SearchResult
    from lwnode.demo.engine import DemoReport, print_report

    result = SearchResult((Match("dev02", 0.0934, 0.814), Match("dev07", 0.098, 0.799)),
                          Mixture(("dev02", "dev07"), (0.5, 0.5), 0.01, 0.95), 10, True, 0.1)
    report = DemoReport(result, {"dev02": (2, 3), "dev07": (7, 8)}, 0.966, 0.895, 8,
                        {"search": 0.01})
    console = Console(record=True, width=120, file=io.StringIO())
    print_report(report, console)
    out = console.export_text()
    assert "Top learnwares by MMD²" in out and "Best mixture" in out
    assert "dev02" in out and "(7, 8)" in out and "job selector" in out and "0.966" in out


def test_lwnode_help_lists_demo():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_version_names_the_protocol():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    # the form status prints (from /v1/health): "lwnode 0.1.0, protocol 1.4"
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith(f"protocol {SCHEMA_STRING}"), \
        proc


def test_unknown_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "fly"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_demo_data_sets_are_offered_and_misuse_is_one_line():
    from cli_run import in_process  # the entry point's own process: the tests above

    def demo(*argv: str) -> subprocess.CompletedProcess[str]:
        return in_process(["demo", *argv], cwd=".", env=os.environ)

    assert "{image,tabular,text}" in demo("--help").stdout
    for argv, text in ((["--data", "video"], "invalid choice"),
                       (["--engine", "--data", "text"], "digits only"),
                       (["--seed", "-1"], "expected 0..4294967295"),
                       (["--keep", __file__], "is not a folder")):
        proc = demo(*argv)
        assert proc.returncode == 2 and text in proc.stderr and "Traceback" not in proc.stderr
