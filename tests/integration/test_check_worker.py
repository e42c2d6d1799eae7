"""The node's check worker process: a real package checked in a real worker."""

from __future__ import annotations

import os

import pytest
from lwtesting import region_centres, region_package

from engine.checks import CheckOptions
from lwnode.node.checker import Checker

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


async def test_a_deeply_nested_manifest_is_reported_as_invalid_by_a_live_worker(tmp_path):
    # It used to raise RecursionError in the worker, which died: the publisher was
    # told "a crash in native code?" and the node logged ~3,000 traceback lines.
    from engine.checks import Status
    from engine.package.archive import read_archive, write_archive

    entries = read_archive(region_package(region_centres(2, 3), 0))
    entries["learnware.toml"] = b"a = " + b"[" * 5000 + b"]" * 5000
    path = tmp_path / "nested.zip"
    path.write_bytes(write_archive(entries))
    checker = Checker(CheckOptions(), isolation="process")
    try:
        outcome = await checker.check(path)
        failed = outcome.report.failed
        assert failed is not None and failed.name == "manifest"
        assert failed.status is Status.INVALID and "nested deeper than" in failed.reason
        (worker,) = checker._idle  # the same worker, alive, ready for the next upload
        assert worker.alive
    finally:
        await checker.close()


async def test_an_unexpected_exception_in_the_checks_is_reported_as_internal(tmp_path):
    # A bug of the checks (here: a request missing its options) is answered as an
    # internal error with a bounded traceback, and the worker goes on checking.
    from lwnode.node.checker import _Worker, options_to_json

    path = tmp_path / "region.zip"
    path.write_bytes(region_package(region_centres(2, 3), 0))
    worker = await _Worker.start()
    try:
        answer = await worker.check(str(path), {})
        assert set(answer) == {"internal_error"}
        assert "KeyError" in answer["internal_error"]
        assert len(answer["internal_error"]) <= 8000
        again = await worker.check(str(path), options_to_json(CheckOptions()))
        assert all(c["status"] == "usable" for c in again["checks"]), again
    finally:
        await worker.kill()


async def test_a_code_model_cannot_read_the_node_key_nor_put_it_in_the_report(tmp_path):
    # With allow_code=true the model read the node's private key and its content came
    # back in the 422 report (the node runs as root here; the model stayed root).
    import json
    import textwrap

    from lwtesting import tiny_semantic, tiny_spec

    from engine.models import CodeModel
    from engine.package import build_bytes
    from lwnode.home import NodeHome

    if os.geteuid() != 0:
        pytest.skip("the sandbox's private root needs root")
    home = NodeHome(tmp_path / "home")
    home.init("Org")
    secret = home.key_path.read_bytes()
    body = textwrap.dedent(f"""
        class Model:
            def predict(self, x):
                found = []
                for path in ({str(home.key_path)!r}, {str(home.token_path)!r}):
                    try:
                        found.append(open(path, "rb").read().hex())
                    except OSError as exc:
                        found.append(exc.strerror)
                raise RuntimeError(" ".join(found))
    """)
    package = build_bytes(CodeModel({"m.py": body.encode()}, "m:Model"),
                          tiny_semantic(d=4), tiny_spec(d=4))
    path = tmp_path / "code.zip"
    path.write_bytes(package)
    checker = Checker(CheckOptions(allow_code=True, time_limit=10), isolation="process")
    try:
        outcome = await checker.check(path)
    finally:
        await checker.close()
    report = json.dumps(outcome.report.to_dict())
    assert not outcome.report.ok
    assert secret.hex()[:24] not in report and secret[:24].decode("latin-1") not in report
    assert "No such file or directory No such file or directory" in report, report
