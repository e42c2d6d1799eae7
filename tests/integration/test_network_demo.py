"""The network demo in reduced size: real nodes, real libp2p, its report asserted."""

import os
import subprocess
import sys

import pytest
from rich.console import Console

from lwnode import network_demo

pytestmark = pytest.mark.timeout(180)


async def test_network_demo_finds_fetches_and_reuses_across_owners(tmp_path):
    report = await network_demo.run_network_demo(n_orgs=2, quick=True, keep=tmp_path,
                                                 console=Console(quiet=True))
    mixture = report.search["mixture"]
    assert mixture is not None
    covered = {c for lw_id in mixture["ids"] for c in report.tasks[lw_id]}
    assert set(network_demo.USER_CLASSES) <= covered
    assert len({m["organization"] for m in mixture["members"]}) == 2  # across owners
    assert report.verified == mixture["ids"]  # every member fetched and verified
    acc = report.accuracy
    assert acc["job selector (no labels)"] > acc["user-only model (few labels)"]
    assert acc["job selector (no labels)"] > acc["best in market"]
    assert not report.search["partial"]


def test_lwnode_demo_command_runs_the_network_and_cleans_up(tmp_path):
    env = {**os.environ, "COLUMNS": "120", "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", "demo", "--quick", "--orgs", "2"],
                          capture_output=True, text=True, timeout=170, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Best mixture across owners" in proc.stdout and "job selector" in proc.stdout
    assert "fetched and verified" in proc.stdout
    assert not list(tmp_path.glob("lwdock-demo-*"))  # its temporary homes are gone
