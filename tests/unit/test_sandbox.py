"""Code models in the sandbox: a well-behaved one predicts; one that hangs, allocates
10 GB, reaches for the network or crashes is stopped and reported within seconds."""

from __future__ import annotations

import functools
import os
import socket
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator

import numpy as np
import pytest

from engine.errors import SandboxError
from engine.sandbox import SandboxedModel, SandboxLimits, run_code
from engine.sandbox._child import _unreadable_by_others

FAST = SandboxLimits(wall_seconds=3, cpu_seconds=2, memory_bytes=1 << 30)
X = np.arange(12, dtype=np.float64).reshape(4, 3)


def _files(body: str) -> dict[str, bytes]:
    return {"m.py": textwrap.dedent(body).encode()}


def _run(body: str, limits: SandboxLimits = FAST, calls=None):
    return run_code(_files(body), "m:Model", calls or [("predict", X)], limits)


def _fails(body: str, kind: str, limits: SandboxLimits = FAST, within: float = 5.0) -> str:
    start = time.monotonic()
    with pytest.raises(SandboxError) as info:
        _run(body, limits)
    elapsed = time.monotonic() - start
    assert info.value.kind == kind, str(info.value)
    assert elapsed < within, f"took {elapsed:.1f} s"
    return str(info.value)


def _namespace_available() -> bool:
    run = _run("class Model:\n    def predict(self, x):\n        return x\n")
    return run.network == "namespace"


WELL_BEHAVED = """
    import numpy as np

    class Model:
        def __init__(self):
            self.w = np.array([1.0, 2.0, 3.0])

        def predict(self, x):
            return x @ self.w

        def predict_proba(self, x):
            p = 1 / (1 + np.exp(-x[:, 0]))
            return np.column_stack([1 - p, p])
"""


def test_well_behaved_model_predicts() -> None:
    run = _run(WELL_BEHAVED, calls=[("predict", X), ("predict_proba", X[:2])])
    np.testing.assert_allclose(run.outputs[0], X @ [1.0, 2.0, 3.0])
    assert run.outputs[1].shape == (2, 2)
    assert run.network == "namespace" or run.network.startswith("audit-hook")
    model = SandboxedModel.create(_files(WELL_BEHAVED), "m:Model", classes=[0, 1],
                                  methods=("predict", "predict_proba"), limits=FAST)
    np.testing.assert_allclose(model.predict(X), X @ [1.0, 2.0, 3.0])
    assert model.predict_proba(X).shape == (4, 2)
    assert not hasattr(SandboxedModel.create(_files(WELL_BEHAVED), "m:Model"), "predict_proba")


def test_model_that_sleeps_forever_is_killed_at_the_wall_clock() -> None:
    message = _fails("""
        import time

        class Model:
            def predict(self, x):
                time.sleep(3600)
    """, "timeout", SandboxLimits(wall_seconds=2, cpu_seconds=2), within=4)
    assert "within 2 s" in message


def test_model_that_allocates_10_gb_gets_a_memory_error() -> None:
    message = _fails("""
        import numpy as np

        class Model:
            def predict(self, x):
                block = np.ones(10 * 2**30 // 8)
                return block[: len(x)]
    """, "memory")
    assert "memory limit" in message


def test_model_that_spins_is_stopped_by_the_cpu_limit() -> None:
    _fails("""
        class Model:
            def predict(self, x):
                while True:
                    pass
    """, "cpu", SandboxLimits(wall_seconds=15, cpu_seconds=1), within=15)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A loopback server the model will try to reach; it must accept nothing."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    yield srv, srv.getsockname()[1]
    with pytest.raises(TimeoutError):
        conn, _ = srv.accept()
        conn.close()
    srv.close()


CONNECT = """
    import socket

    class Model:
        def predict(self, x):
            socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"leak")
            return x
"""


def test_model_that_opens_a_socket_is_refused(listener) -> None:
    message = _fails(CONNECT.format(port=listener[1]), "denied")
    assert "network access is not allowed" in message


def test_audit_hook_alone_still_refuses_sockets(listener) -> None:
    limits = SandboxLimits(wall_seconds=3, memory_bytes=1 << 30, network_namespace=False)
    with pytest.raises(SandboxError, match="network access is not allowed") as info:
        _run(CONNECT.format(port=listener[1]), limits)
    assert info.value.kind == "denied"
    run = _run(WELL_BEHAVED, limits)
    assert run.network.startswith("audit-hook (namespace refused: not requested")


def test_namespace_stops_connections_that_bypass_the_audit_hook(listener) -> None:
    if not _namespace_available():
        pytest.skip("no network namespace here (not root): only the audit hook applies")
    message = _fails(f"""
        import ctypes, os, socket, struct

        class Model:
            def predict(self, x):
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
                addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", {listener[1]})
                addr += socket.inet_aton("127.0.0.1") + bytes(8)
                if libc.connect(fd, addr, len(addr)) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
                return x
    """, "network")
    assert "unreachable" in message.lower()


def test_model_that_raises_or_exits_is_reported() -> None:
    message = _fails("""
        class Model:
            def predict(self, x):
                raise ValueError("the model is broken")
    """, "crash")
    assert "ValueError: the model is broken" in message
    message = _fails("""
        import os

        class Model:
            def predict(self, x):
                os._exit(3)
    """, "crash")
    assert "status 3" in message
    message = _fails("raise ImportError('missing dependency')\n", "crash")
    assert "missing dependency" in message


def test_model_cannot_start_processes() -> None:
    _fails("""
        import subprocess

        class Model:
            def predict(self, x):
                subprocess.run(["sleep", "100"])
    """, "denied")


def test_bad_outputs_are_refused() -> None:
    assert "object array" in _fails("""
        class Model:
            def predict(self, x):
                return [object()] * len(x)
    """, "crash")
    assert "not a regular file" in _fails("""
        import json, os

        class Model:
            def predict(self, x):
                call = json.load(open("request.json"))["calls"][0]
                os.symlink(call["input"], call["output"])  # a valid .npy, behind a link
                os._exit(0)
    """, "output")


def test_entry_point_and_file_names_are_validated() -> None:
    from engine.errors import PackageError

    with pytest.raises(PackageError, match="entry_point"):
        run_code(_files(WELL_BEHAVED), "m:Model; import os", [("predict", X)], FAST)
    with pytest.raises(PackageError, match="path traversal"):
        run_code({"../m.py": b""}, "m:Model", [("predict", X)], FAST)
    with pytest.raises(SandboxError, match="method"):
        run_code(_files(WELL_BEHAVED), "m:Model", [("fit", X)], FAST)


def test_interpreter_readability_check(tmp_path) -> None:
    private = tmp_path / "private"
    (private / "lib").mkdir(parents=True)
    private.chmod(0o700)
    assert _unreadable_by_others([str(private / "lib")]) == str(private)
    private.chmod(0o755)
    assert _unreadable_by_others([str(private / "lib")]) != str(private)


def test_model_cannot_change_files_outside_its_work_directory(tmp_path) -> None:
    _root_only("the read-only mount namespace")
    target = tmp_path / "pwned"
    message = _fails(f"""
        import ctypes, os

        class Model:
            def predict(self, x):
                with open("scratch.txt", "w") as f:  # its own directory stays writable
                    f.write("ok")
                results = []
                try:
                    open({str(target)!r}, "w").close()
                    results.append("wrote outside")
                except OSError as exc:
                    results.append(exc.strerror)
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.mount(None, b"/", None, 32 | 4096, None) != 0:  # remount read-write
                    results.append("remount: " + os.strerror(ctypes.get_errno()))
                raise RuntimeError(" / ".join(results))
    """, "crash")
    # outside paths do not exist in its private root; the mounts cannot be changed
    assert "No such file or directory / remount: Operation not permitted" in message
    assert not target.exists()
    run = _run(WELL_BEHAVED)
    assert run.filesystem.startswith("private root"), run.filesystem
    assert run.processes == "PID namespace"


@functools.cache
def _private_root_refused() -> str | None:
    """Why this machine gives a model no private root (None: it does).

    As root the sandbox unshares mount and PID namespaces; a container that denies
    root those (no CAP_SYS_ADMIN) falls back to the weaker isolation, as documented
    in docs/packages.md, and the root-only tests below have nothing to check."""
    if os.geteuid() != 0:
        return "not root"
    filesystem = _run(WELL_BEHAVED).filesystem
    return None if filesystem.startswith("private root") else filesystem


def _root_only(reason: str) -> None:
    refused = _private_root_refused()
    if refused is not None:
        pytest.skip(f"{reason} needs root with mount and PID namespaces ({refused})")


def _top(path: str) -> str:
    return path.strip("/").split("/")[0]


def test_model_cannot_read_the_node_home_nor_other_processes(tmp_path) -> None:
    # The model read the node's private key (this machine runs the node as root, and
    # the interpreter under /root kept the model root too) and its content came back
    # in the 422 report.
    _root_only("the private root")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    key = home / "node.key"
    key.write_text("SECRET-KEY-MATERIAL")
    key.chmod(0o600)
    message = _fails(f"""
        import os

        class Model:
            def predict(self, x):
                seen = []
                for path in ({str(key)!r}, "/proc/1/environ", "/proc/self/root/etc/passwd",
                             "/etc/passwd"):
                    try:
                        seen.append(open(path).read())
                    except OSError as exc:
                        seen.append(exc.strerror)
                seen.append(",".join(sorted(os.listdir("/"))))
                raise RuntimeError(" | ".join(seen))
    """, "crash")
    assert "SECRET" not in message and "root:x:0" not in message, message
    assert message.count("No such file or directory") == 4, message
    # Only what Python needs (system libraries, the interpreter's prefixes, which
    # may live under /root or a checkout's folder), the devices and the work dir.
    listed = set(message.rsplit(" | ", 1)[1].split(","))
    needed = {"bin", "dev", "etc", "lib", "lib32", "lib64", "usr",
              _top(tempfile.gettempdir())}
    needed |= {_top(os.path.realpath(p)) for p in (sys.prefix, sys.base_prefix,
                                                   sys.exec_prefix)}
    assert {"dev", "lib", "usr"} <= listed <= needed, (listed, needed)
    run = _run(WELL_BEHAVED)
    assert run.user.startswith("uid ") and "nobody" in run.user, run.user


def test_reports_never_carry_a_models_output_or_traceback() -> None:
    message = _fails("""
        import sys

        class Model:
            def predict(self, x):
                print("LEAKED-STDOUT", flush=True)
                print("LEAKED-STDERR", file=sys.stderr, flush=True)
                raise ValueError("first line\\nSECOND-LINE " + "x" * 5000)
    """, "crash")
    assert message.startswith("the model failed: ValueError: first line"), message
    assert "LEAKED" not in message and "SECOND-LINE" not in message
    assert "Traceback" not in message and len(message) < 260
    message = _fails("""
        import os, sys

        class Model:
            def predict(self, x):
                print("LEAKED-STDERR", file=sys.stderr, flush=True)
                os._exit(3)
    """, "crash")
    assert "status 3" in message and "LEAKED" not in message


def _escapee_alive(name: str) -> list[int]:
    """Pids of processes named `name` (what the test's model named its escapee)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                pass
    return found


ESCAPEE = """
    import ctypes, time

    def escape():
        libc = ctypes.CDLL(None)
        if libc.fork() == 0:  # ctypes: past the audit hook
            libc.setsid()  # out of the process group the runner kills
            libc.prctl(15, NAME, 0, 0, 0)  # PR_SET_NAME, so the test can find it
            while True:
                time.sleep(1)

    class Model:
        def predict(self, x):
            escape()
            time.sleep(0.3)
            %s
            return x
"""


@pytest.mark.parametrize("ending", ["", "time.sleep(100)"], ids=["returns", "times-out"])
def test_a_setsid_grandchild_does_not_survive_the_run(ending) -> None:
    # A grandchild that called setsid survived the kill of the process group.
    _root_only("the PID namespace")
    name = f"lwesc{os.getpid() % 10**6}{len(ending)}"[:15]
    body = f"NAME = {name.encode()!r}\n" + textwrap.dedent(ESCAPEE % ending)
    try:
        if ending:
            with pytest.raises(SandboxError, match="did not finish"):
                run_code({"m.py": body.encode()}, "m:Model", [("predict", X)], FAST)
        else:
            run_code({"m.py": body.encode()}, "m:Model", [("predict", X)], FAST)
        deadline = time.monotonic() + 5
        while _escapee_alive(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _escapee_alive(name) == []
    finally:
        for pid in _escapee_alive(name):  # what this test's model started, on failure
            os.kill(pid, 9)
