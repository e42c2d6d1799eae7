"""`lwnode demo` as a user runs it: a real subprocess, its report on stdout."""

import os
import subprocess
import sys

import pytest

from protocol.versions import VERSION_STRING


@pytest.mark.timeout(180)
def test_lwnode_engine_demo_prints_the_report():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "demo", "--engine"],
                          capture_output=True,
                          text=True, timeout=170, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Top learnwares by MMD²" in out and "Best mixture" in out
    assert "dev02" in out and "dev07" in out
    assert "job selector" in out


def test_lwnode_help_lists_demo():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_version_names_the_protocol():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"protocol {VERSION_STRING}" in proc.stdout, proc


def test_unknown_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "fly"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_demo_data_sets_are_offered_and_misuse_is_one_line():
    run = [sys.executable, "-m", "lwnode.cli", "demo"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60)
    assert "{image,tabular,text}" in helped.stdout
    for argv, text in ((["--data", "video"], "invalid choice"),
                       (["--engine", "--data", "text"], "digits only"),
                       (["--seed", "-1"], "expected 0..4294967295"),
                       (["--keep", __file__], "is not a folder")):
        proc = subprocess.run([*run, *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and text in proc.stderr and "Traceback" not in proc.stderr
