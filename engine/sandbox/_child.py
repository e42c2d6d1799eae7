"""Bootstrap of the sandbox child process: confine first, then run the model's code.

Run by `engine.sandbox.runner` as ``python -I _child.py REPORT_FD`` with the work
directory as its current directory. It imports nothing of the engine (``-I`` keeps
the current directory and the user's site off ``sys.path``), only the standard
library and, after confinement, numpy. The order matters:

1. resource limits (address space, CPU, file size, open files, no core dumps);
2. a new network namespace (``unshare(CLONE_NEWNET)`` through libc: Python 3.11 has
   no `os.unshare`), which leaves the child with a loopback that is down and no
   other interface; if the kernel refuses (not root), only step 5 remains;
3. as root, a private mount namespace in which every mount except the work
   directory is remounted read-only, so the model cannot change the machine's files;
4. numpy is imported, then the process switches to the unprivileged user the
   parent chose (``nobody`` when it runs as root and the interpreter is readable
   by others), so the model's code can write only where anyone may (its work
   directory, which the parent hands to that user) and read only what anyone may;
   a process that stays root gives up every capability (bounding set, effective,
   permitted; no_new_privs), so it can neither undo the read-only mounts nor
   regain powers through exec;
5. an audit hook that refuses internet sockets and new processes (best effort:
   code using ctypes can bypass it, which is why step 2 comes first);
6. one line on REPORT_FD saying which isolation holds, then the descriptor is
   closed, so the model's code cannot forge that report;
7. the model: ``module:attr`` imported from ``model/``, ``attr()`` called to make the
   model, and each requested method run on an ``.npy`` input; outputs are saved
   with ``allow_pickle=False``. Nothing is ever pickled in either direction.
"""

import ctypes
import errno
import json
import os
import re
import resource
import socket
import sys
import traceback

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME = 1 << 18, 1 << 21
_MOUNT_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                  "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
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
        libc = _libc()
        if libc.unshare(CLONE_NEWNET) == 0:
            return None
        return os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        return str(exc)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount_point(field):
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _read_only_filesystem(work):
    """Private mount namespace where every mount but `work` is read-only.

    Returns None on success, else why not (the caller reports it). Needs root.
    """
    if not sys.platform.startswith("linux"):
        return "unsupported platform " + sys.platform
    libc = _libc()

    def mount(source, target, flags):
        src = None if source is None else source.encode()
        if libc.mount(src, target.encode(), None, flags, None) != 0:
            return os.strerror(ctypes.get_errno())
        return None

    if libc.unshare(CLONE_NEWNS) != 0:
        return os.strerror(ctypes.get_errno())
    failed = mount(None, "/", MS_REC | MS_PRIVATE) or mount(work, work, MS_BIND | MS_REC)
    if failed:
        return failed
    not_ro = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        point = _mount_point(fields[4])
        if point == work or point.startswith(work + "/"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in fields[5].split(","):
            flags |= _MOUNT_OPTIONS.get(option, 0)
        if mount(None, point, flags):
            not_ro.append(point)
    os.chdir(work)  # the old cwd still points into the mount beneath the bind
    if "/" in not_ro:
        return "cannot remount / read-only"
    return None if not not_ro else "still writable: " + ", ".join(not_ro[:5])


def _drop_capabilities():
    """Give up every capability for good (root keeps its uid but not its powers)."""
    libc = _libc()
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last cap: fine
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        return os.strerror(ctypes.get_errno())
    return None


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
    is_root = os.geteuid() == 0
    fs_refused = (_read_only_filesystem(os.getcwd()) if is_root
                  else "not root: ordinary file permissions apply")
    import numpy  # noqa: F401  (imported while still able to read a root-only venv)

    not_dropped = _drop_privileges(request["user"])
    if not_dropped is None and os.geteuid() == 0:
        not_dropped = _drop_capabilities()
    sys.addaudithook(_audit_hook)
    network = "namespace" if refused is None else f"audit-hook (namespace refused: {refused})"
    filesystem = ("read-only except the work directory" if fs_refused is None
                  else f"unchanged ({fs_refused})")
    report = {"network": network, "filesystem": filesystem}
    os.write(report_fd, (json.dumps(report) + "\n").encode())
    os.close(report_fd)
    if not_dropped is not None:
        _write_error("start", "cannot drop privileges: " + not_dropped)
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
