"""The node's check worker process: a real package checked in a real worker."""

from __future__ import annotations

import os

import pytest

from engine.checks import CheckOptions
from lwnode.checker import Checker
from lwnode.testing import region_centres, region_package

pytestmark = pytest.mark.timeout(120)


async def test_a_worker_checks_in_its_own_session(tmp_path):
    # Its own session: a Ctrl-C at the node's terminal (SIGINT to the foreground
    # process group) stops the node, which stops the worker; it must not kill the
    # worker mid-check and report a good package as crashing.
    path = tmp_path / "region.zip"
    path.write_bytes(region_package(region_centres(2, 3), 0))
    checker = Checker(CheckOptions(), isolation="process")
    try:
        outcome = await checker.check(path)
        assert outcome.report.ok, outcome.report
        (worker,) = checker._idle
        assert os.getsid(worker.proc.pid) == worker.proc.pid != os.getsid(0)
        assert os.getpgid(worker.proc.pid) != os.getpgid(0)
    finally:
        await checker.close()
    assert worker.proc.returncode is not None
