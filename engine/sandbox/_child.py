"""Bootstrap of the sandbox child process: confine first, then run the model's code.

Run by `engine.sandbox.runner` as ``python -I _child.py REPORT_FD`` with the work
directory as its current directory. It imports nothing of the engine (``-I`` keeps
the current directory and the user's site off ``sys.path``), only the standard
library and, after confinement, numpy. The order matters:

1. resource limits (address space, CPU, file size, open files, no core dumps);
2. a new network namespace (``unshare(CLONE_NEWNET)`` through libc: Python 3.11 has
   no `os.unshare`), which leaves the child with a loopback that is down and no
   other interface; if the kernel refuses (not root), only step 4 remains;
3. numpy is imported, then the process switches to the unprivileged user the
   parent chose (``nobody`` when it runs as root and the interpreter is readable
   by others), so the model's code can write only where anyone may (its work
   directory, which the parent hands to that user) and read only what anyone may;
4. an audit hook that refuses internet sockets and new processes (best effort:
   code using ctypes can bypass it, which is why step 2 comes first);
5. one line on REPORT_FD saying which isolation holds, then the descriptor is
   closed, so the model's code cannot forge that report;
6. the model: ``module:attr`` imported from ``model/``, ``attr()`` called to make the
   model, and each requested method run on an ``.npy`` input; outputs are saved
   with ``allow_pickle=False``. Nothing is ever pickled in either direction.
"""

import ctypes
import errno
import json
import os
import resource
import socket
import sys
import traceback

CLONE_NEWNET = 0x40000000
ERROR_FILE = "error.json"
_BLOCKED_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "subprocess.Popen", "pty.spawn")


def _set_limits(limits):
    hard_cpu = limits["cpu_seconds"] + 1
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], hard_cpu))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _new_network_namespace():
    if not sys.platform.startswith("linux"):
        return "unsupported platform " + sys.platform
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0:
            return None
        return os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        return str(exc)


class _Denied(PermissionError):
    """Raised by the audit hook; reported as kind "denied"."""


_NO_NETWORK = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)


def _audit_hook(event, args):
    # No imports in here: an import raises an audit event of its own.
    if event == "socket.__new__" and args[1] != socket.AF_UNIX:
        raise _Denied("network access is not allowed in the learnware sandbox")
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
                 "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        raise _Denied("network access is not allowed in the learnware sandbox")
    if event.startswith(_BLOCKED_EVENTS):
        raise _Denied("starting processes is not allowed in the learnware sandbox")


def _write_error(kind, message):
    try:
        with open(ERROR_FILE, "w", encoding="utf-8") as f:
            json.dump({"kind": kind, "message": message[-4000:]}, f)
    except BaseException:  # the error report itself may fail (disk, limits): exit anyway
        pass


def _run_model(request):
    import importlib

    import numpy as np

    sys.path.insert(0, os.path.abspath(request["model_dir"]))
    module_name, _, attr = request["entry_point"].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    model = factory()
    for call in request["calls"]:
        method = getattr(model, call["method"], None)
        if method is None:
            raise AttributeError(f"the model has no method {call['method']!r}")
        x = np.load(call["input"], allow_pickle=False)
        out = np.asarray(method(x))
        if out.dtype == object:
            raise TypeError(f"{call['method']} returned an object array; return numbers "
                            "or strings")
        np.save(call["output"], out, allow_pickle=False)


def _drop_privileges(user):
    """Become the unprivileged user (uid, gid) chosen by the parent, if any."""
    if user is None:
        return None
    try:
        os.setgroups([])
        os.setgid(user[1])
        os.setuid(user[0])
    except OSError as exc:
        return exc.strerror
    return None


def main():
    report_fd = int(sys.argv[1])
    with open("request.json", encoding="utf-8") as f:
        request = json.load(f)
    _set_limits(request["limits"])
    refused = (_new_network_namespace() if request["network_namespace"]
               else "not requested by the caller")
    import numpy  # noqa: F401  (imported while still able to read a root-only venv)

    not_dropped = _drop_privileges(request["user"])
    sys.addaudithook(_audit_hook)
    network = "namespace" if refused is None else f"audit-hook (namespace refused: {refused})"
    os.write(report_fd, (json.dumps({"network": network}) + "\n").encode())
    os.close(report_fd)
    if not_dropped is not None:
        _write_error("start", "cannot switch to the sandbox user: " + not_dropped)
        return 4
    if refused is not None and request["require_network_namespace"]:
        _write_error("start", "a new network namespace is required but was refused: " + refused)
        return 4
    try:
        _run_model(request)
    except MemoryError:
        _write_error("memory", "MemoryError: the model exceeded the sandbox's memory limit\n"
                     + traceback.format_exc())
        return 3
    except BaseException as exc:
        kind = ("denied" if isinstance(exc, _Denied) else
                "network" if isinstance(exc, OSError) and exc.errno in _NO_NETWORK else "crash")
        _write_error(kind, f"{type(exc).__name__}: {exc}\n" + traceback.format_exc())
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the model's atexit handlers: its work is done
