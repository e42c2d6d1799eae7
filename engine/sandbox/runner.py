"""Run a learnware's own Python code in a confined child process.

`run_code` writes the model's files and the input arrays into a fresh temporary
directory, starts ``sys.executable -I _child.py`` there in its own session (so the
whole process group can be killed), waits at most ``wall_seconds``, and reads the
outputs back as ``.npy`` with ``allow_pickle=False``. The child confines itself
before it imports the model (see `engine.sandbox._child`); doing it there rather
than in a ``preexec_fn`` keeps `run_code` safe to call from threads (the node runs
checks in an executor), where ``preexec_fn`` may deadlock.

Everything the child writes is treated as hostile: outputs are opened without
following symlinks, size-checked before reading, and never unpickled.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import PackageError, SandboxError
from engine.package.names import check_entry_name
from engine.sandbox.limits import SandboxLimits

METHODS = ("predict", "predict_proba")
_ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$", re.ASCII)
_CHILD = Path(__file__).with_name("_child.py")
_REPORT_BYTES = 4096
_ERROR_BYTES = 16 << 10
_MODEL_DIR = "model"
SUMMARY_CHARS = 200
"""Longest summary of a model's error in a report (a check report reaches the publisher)."""
_LOGGED_CHARS = 4000
log = logging.getLogger("engine.sandbox")


@dataclass(frozen=True)
class SandboxRun:
    """What one sandboxed run produced.

    Attributes
    ----------
    outputs
        One array per call, in call order.
    network
        Which network isolation held: ``"namespace"`` (a new, empty network
        namespace) or ``"audit-hook (...)"`` (the best-effort fallback, with the
        kernel's reason for refusing the namespace).
    filesystem
        ``"read-only except the work directory"`` (root: a private mount
        namespace), else ``"unchanged (why)"``.
    user
        ``"uid N (name)"`` if the child switched to an unprivileged user, else
        ``"unchanged (why)"``.
    seconds
        Wall-clock time of the run, interpreter start included.
    processes
        How every process the model starts is stopped: ``"PID namespace"`` (root:
        the kernel kills the whole namespace when its init ends), else
        ``"process group (why)"`` (a ``setsid`` escapes it).
    """

    outputs: tuple[NDArray[Any], ...]
    network: str
    filesystem: str
    user: str
    seconds: float
    processes: str = ""


def check_entry_point(entry_point: object) -> str:
    """Validate ``module.sub:attr`` (identifiers only: nothing to interpret)."""
    if not isinstance(entry_point, str) or not _ENTRY_POINT.match(entry_point):
        raise PackageError(f"model.entry_point: expected 'module:attribute' made of Python "
                           f"identifiers, got {entry_point!r}")
    return entry_point


def _write_inputs(work: Path, calls: Sequence[tuple[str, NDArray[Any]]]
                  ) -> list[dict[str, str]]:
    plan = []
    for i, (method, x) in enumerate(calls):
        if method not in METHODS:
            raise SandboxError(f"method {method!r} is not one of {METHODS}", kind="config")
        arr = np.asarray(x)
        if arr.dtype == object:
            raise SandboxError("inputs must be numeric or string arrays, not objects",
                               kind="config")
        np.save(work / f"in_{i}.npy", arr, allow_pickle=False)
        plan.append({"method": method, "input": f"in_{i}.npy", "output": f"out_{i}.npy"})
    return plan


def _write_files(root: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        check_entry_name(name)
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _read_untrusted(path: Path, max_bytes: int) -> bytes | None:
    """Read a child-written file without following links; None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink (ELOOP) or something stranger
        raise SandboxError(f"{path.name}: not a regular file ({exc.strerror})",
                           kind="output") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SandboxError(f"{path.name}: not a regular file", kind="output")
        if st.st_size > max_bytes:
            raise SandboxError(f"{path.name}: {st.st_size} bytes, more than {max_bytes}",
                               kind="output")
        return f.read(max_bytes + 1)[:max_bytes]


def _tail(path: Path, n: int) -> str:
    """The last `n` bytes of a child-written log, as text ("" if unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return ""
        f.seek(max(os.fstat(f.fileno()).st_size - n, 0))
        return f.read(n).decode("utf-8", "replace")


def _child_env(work: Path) -> dict[str, str]:
    threads = "1"
    return {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work),
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads}


def _failure(proc_rc: int, timed_out: bool, work: Path, limits: SandboxLimits,
             stderr_tail: str) -> SandboxError:
    if timed_out:
        return SandboxError(f"the model did not finish within {limits.wall_seconds:g} s "
                            "(wall clock); its process group was killed", kind="timeout")
    raw = _read_untrusted(work / "error.json", _ERROR_BYTES)
    if raw is not None:
        try:
            report = json.loads(raw)
            kind, message = str(report["kind"]), str(report["message"])
            first = str(report.get("summary") or message)
        except (ValueError, KeyError, TypeError, AttributeError):
            kind, message = "crash", "unreadable error report"
            first = message
        if kind not in ("memory", "crash", "start", "denied", "network"):
            kind = "crash"
        log.info("a sandboxed model failed (%s): %s", kind, message[-_LOGGED_CHARS:])
        return SandboxError(f"the model failed: {summary(first)}", kind=kind)
    if proc_rc < 0:
        sig = -proc_rc
        kinds: dict[int, tuple[str, str]] = {
            signal.SIGXCPU: ("cpu", f" (CPU limit {limits.cpu_seconds} s)"),
            signal.SIGXFSZ: ("output", f" (file size limit {limits.file_bytes} bytes)"),
            signal.SIGKILL: ("killed", " (CPU hard limit or the kernel's OOM killer)")}
        kind, hint = kinds.get(sig, ("crash", ""))
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return SandboxError(f"the model was killed by signal {name}{hint}", kind=kind)
    log.info("a sandboxed model exited with status %d; its output ends: %s", proc_rc,
             stderr_tail[-_LOGGED_CHARS:])
    return SandboxError(f"the model's process exited with status {proc_rc} (its output "
                        "is in the node's log, not in this report)", kind="crash")


def summary(message: str) -> str:
    """What a report may say of a model's error: the first line (``Type: message``),
    printable characters only, at most `SUMMARY_CHARS`: never its traceback, its
    output or file contents it may have put in its message."""
    first = message.strip().splitlines()[0] if message.strip() else "no message"
    clean = "".join(c if c.isprintable() else "?" for c in first)
    return clean if len(clean) <= SUMMARY_CHARS else clean[:SUMMARY_CHARS - 1] + "…"


def _sandbox_user(limits: SandboxLimits) -> tuple[int, int] | None:
    """(uid, gid) for the child to switch to, or None (not requested, not root).

    The child switches only if that user can read the Python installation it sees
    (inside its private root, only the bound directories must be readable).
    """
    if limits.user is None or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(limits.user)
    except KeyError:
        raise SandboxError(f"user: no such user {limits.user!r}", kind="config") from None
    return entry.pw_uid, entry.pw_gid


def _hand_over(work: Path, user: tuple[int, int] | None) -> None:
    """Give the work directory to the sandbox user; everything else stays read-only."""
    if user is None:
        return
    os.chown(work, *user)
    for path in work.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_code(files: Mapping[str, bytes], entry_point: str,
             calls: Sequence[tuple[str, NDArray[Any]]],
             limits: SandboxLimits | None = None) -> SandboxRun:
    """Run ``entry_point`` from `files` in a sandboxed child on each call's input.

    Parameters
    ----------
    files
        The model's files, by safe relative name (e.g. ``{"model.py": b"..."}``);
        they are written to ``model/`` in the child's working directory, which is
        put first on its ``sys.path``.
    entry_point
        ``"module:attr"``; the child calls ``attr()`` to build the model.
    calls
        ``(method, X)`` pairs, method one of ``predict`` / ``predict_proba``; all run
        in one child, so a check of several inputs pays for one interpreter start.
    limits
        `SandboxLimits`; defaults apply when None.

    Raises
    ------
    SandboxError
        With ``kind`` "timeout", "memory", "cpu", "crash", "output", "killed",
        "denied" (blocked by the audit hook), "network" or "start".
        The call never blocks past ``limits.wall_seconds`` (plus the kill).
    """
    limits = limits or SandboxLimits()
    check_entry_point(entry_point)
    user = _sandbox_user(limits)
    who = ("unchanged (not requested)" if limits.user is None
           else "unchanged (not root)" if user is None else "unknown")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lwdock-sandbox-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        _write_files(work / _MODEL_DIR, files)
        plan = _write_inputs(work, calls)
        request = {"entry_point": entry_point, "model_dir": _MODEL_DIR, "calls": plan,
                   "user": user,
                   "network_namespace": limits.network_namespace,
                   "require_network_namespace": limits.require_network_namespace,
                   "limits": {"cpu_seconds": limits.cpu_seconds,
                              "memory_bytes": limits.memory_bytes,
                              "file_bytes": limits.file_bytes,
                              "open_files": limits.open_files}}
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        _hand_over(work, user)
        report_r, report_w = os.pipe()
        os.set_blocking(report_r, False)
        timed_out = False
        try:
            with open(work / "stderr.txt", "wb") as log:
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-I", str(_CHILD), str(report_w)], cwd=work,
                        env=_child_env(work), stdin=subprocess.DEVNULL, stdout=log,
                        stderr=log, pass_fds=(report_w,), start_new_session=True)
                except OSError as exc:
                    raise SandboxError(f"cannot start the sandbox interpreter: {exc}",
                                       kind="start") from None
                finally:
                    os.close(report_w)
                remaining = limits.wall_seconds - (time.monotonic() - started)
                try:
                    proc.wait(timeout=max(remaining, 0.01))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc)
                    proc.wait()
                finally:
                    _kill_group(proc)  # grandchildren left in the group die too
            try:
                report = os.read(report_r, _REPORT_BYTES)
            except BlockingIOError:
                report = b""
        finally:
            os.close(report_r)
        processes = "unknown (the child did not report)"
        try:
            parsed = json.loads(report.decode())
            network, filesystem = str(parsed["network"]), str(parsed["filesystem"])
            processes = str(parsed["processes"])
            if user is not None:
                who = str(parsed["user"]).replace(f"uid {user[0]}",
                                                  f"uid {user[0]} ({limits.user})")
        except (ValueError, KeyError, TypeError):
            network = filesystem = "unknown (the child did not report)"
        if timed_out or proc.returncode != 0:
            tail = _tail(work / "stderr.txt", 4000)
            raise _failure(proc.returncode, timed_out, work, limits,
                           tail)
        outputs = []
        for step in plan:
            raw = _read_untrusted(work / step["output"], limits.file_bytes)
            if raw is None:
                raise SandboxError(f"{step['method']}: the model wrote no output",
                                   kind="output")
            try:
                outputs.append(np.load(io.BytesIO(raw), allow_pickle=False))
            except (ValueError, OSError, EOFError) as exc:
                raise SandboxError(f"{step['method']}: unreadable output array ({exc})",
                                   kind="output") from None
        return SandboxRun(tuple(outputs), network, filesystem, who,
                          time.monotonic() - started, processes)
