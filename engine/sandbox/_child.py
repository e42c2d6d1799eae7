"""Bootstrap of the sandbox child process: confine first, then run the model's code.

Run by `engine.sandbox.runner` as ``python -I _child.py REPORT_FD`` with the work
directory as its current directory. It imports nothing of the engine (``-I`` keeps
the current directory and the user's site off ``sys.path``), only the standard
library and, after confinement, numpy. The order matters:

1. resource limits (address space, CPU, file size, open files, no core dumps);
2. a new network namespace (``unshare(CLONE_NEWNET)`` through libc: Python 3.11 has
   no `os.unshare`), which leaves the child with a loopback that is down and no
   other interface; if the kernel refuses (not root), only step 6 remains;
3. as root, a private root (`_private_root`): new mount and PID namespaces, an
   empty read-only tmpfs holding only read-only bind mounts of the system's
   libraries (``/usr``, ``/lib*``), the Python installation (``sys.prefix``,
   ``sys.base_prefix``), ``/dev/null`` and ``/dev/urandom``, and the work
   directory (writable), then ``chroot`` into it: the node's home (key, token,
   store), ``/proc`` (other processes' environment and files), ``/etc`` and every
   other path simply do not exist for the model. If that fails, the older
   fallback: every mount but the work directory remounted read-only;
4. in a new PID namespace this process forks a tiny init (PID 1 there) that forks
   the model's process and waits for it; when the model's process ends, or when
   the runner kills this process group at the wall clock, the init dies and the
   kernel kills every process left in the namespace, ``setsid`` or not (a
   process group alone is escaped by ``setsid``);
5. numpy is imported, then the model's process switches to the unprivileged user
   the parent chose (``nobody`` when it runs as root) if that user can read the
   Python installation it sees (inside the private root, only the bound
   directories themselves must be readable by others), so the model's code can
   write only its work directory and read only what anyone may; a process that
   stays root gives up every capability (bounding set, effective, permitted;
   no_new_privs), so it can neither undo the mounts nor regain powers through exec;
6. an audit hook that refuses internet sockets and new processes (best effort:
   code using ctypes can bypass it, which is why steps 2-4 come first);
7. one line on REPORT_FD saying which isolation holds, then the descriptor is
   closed, so the model's code cannot forge that report;
8. the model: ``module:attr`` imported from ``model/``, ``attr()`` called to make the
   model, and each requested method run on an ``.npy`` input; outputs are saved
   with ``allow_pickle=False``. Nothing is ever pickled in either direction.
"""

import ctypes
import errno
import json
import os
import re
import resource
import signal
import socket
import stat
import sys
import traceback

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
PR_SET_DUMPABLE = 4
ROOT_DIR = ".root"
"""Where the private root is built, inside the work directory (hidden by the chroot)."""
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")
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


def _private_root(work):
    """New mount and PID namespaces, and a root holding only what the model needs.

    Returns None on success (the process is chrooted; its next child is PID 1 of
    the new PID namespace), else why not. Needs root (CAP_SYS_ADMIN, CAP_SYS_CHROOT).
    """
    if not sys.platform.startswith("linux"):
        return "unsupported platform " + sys.platform
    libc = _libc()

    def mount(source, target, fstype, flags):
        src = None if source is None else source.encode()
        kind = None if fstype is None else fstype.encode()
        if libc.mount(src, target.encode(), kind, flags, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target}: "
                          f"{os.strerror(ctypes.get_errno())}")

    if libc.unshare(CLONE_NEWNS | CLONE_NEWPID) != 0:
        return os.strerror(ctypes.get_errno())
    root = os.path.join(work, ROOT_DIR)
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        os.mkdir(root, 0o755)
        mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV)
        os.chmod(root, 0o755)

        def bind(path, *, writable=False, devices=False, recursive=True):
            target = root + path
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            if os.path.islink(path):  # /lib -> usr/lib: the same link inside
                os.symlink(os.readlink(path), target)
                return
            if os.path.isdir(path):
                os.makedirs(target, mode=0o755, exist_ok=True)
            else:
                open(target, "wb").close()
            mount(path, target, None, MS_BIND | (MS_REC if recursive else 0))
            flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if devices else MS_NODEV)
            mount(None, target, None, flags | (0 if writable else MS_RDONLY))

        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                                  sys.exec_prefix)}
        for path in (*SYSTEM_PATHS, *sorted(prefixes)):
            if os.path.lexists(path) and not os.path.lexists(root + path):
                bind(path)
        for path in DEVICES:
            if os.path.exists(path):
                bind(path, devices=True)
        bind(work, writable=True, recursive=False)  # not the new root inside it
        mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.chroot(root)
        os.chdir(work)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _unreadable_by_others(paths):
    """The first of `paths` (or an ancestor) that other users cannot reach, if any."""
    for start in paths:
        path = os.path.realpath(start)
        parts = [path]
        while parts[-1] != os.path.dirname(parts[-1]):
            parts.append(os.path.dirname(parts[-1]))
        for part in parts:
            mode = os.stat(part).st_mode
            if not mode & stat.S_IXOTH or (part == path and not mode & stat.S_IROTH):
                return part
    return None


def _init(model_pid):
    """PID 1 of the sandbox's PID namespace: reap orphans until the model's process
    ends, then exit with its status (128 + signal if killed): the kernel then kills
    every process left in the namespace."""
    _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the model's uid cannot ptrace it
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(70)
        if pid == model_pid:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status))


def _wait_and_pass_on(child):
    """Outside the PID namespace: wait for its init and end as it did (a signal that
    killed the model is raised again, so the runner sees it as before)."""
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    if code > 128 and code - 128 in (signal.SIGXCPU, signal.SIGXFSZ, signal.SIGKILL,
                                     signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        sig = code - 128
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


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
            json.dump({"kind": kind, "summary": message.strip()[:1000].split("\n")[0],
                       "message": message[-4000:]}, f)
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
    """Become the unprivileged user (uid, gid) chosen by the parent, if any.

    Returns (why not, or None; a description for the report)."""
    if user is None:
        return None, "unchanged (not requested)"
    import numpy

    blocked = _unreadable_by_others([sys.executable, os.path.dirname(os.__file__),
                                     os.path.dirname(os.path.dirname(numpy.__file__))])
    if blocked is not None:
        return None, (f"unchanged ({blocked} is not readable by other users, so uid "
                      f"{user[0]} could not run the interpreter)")
    try:
        os.setgroups([])
        os.setgid(user[1])
        os.setuid(user[0])
    except OSError as exc:
        return exc.strerror, "unchanged (switching failed)"
    return None, f"uid {user[0]}"


def main():
    report_fd = int(sys.argv[1])
    with open("request.json", encoding="utf-8") as f:
        request = json.load(f)
    _set_limits(request["limits"])
    refused = (_new_network_namespace() if request["network_namespace"]
               else "not requested by the caller")
    is_root = os.geteuid() == 0
    work = os.getcwd()
    root_refused = _private_root(work) if is_root else "not root"
    if root_refused is None:
        filesystem = "private root: the work directory and the Python installation"
        processes = "PID namespace"
        init = os.fork()
        if init != 0:
            os.close(report_fd)
            _wait_and_pass_on(init)
        model = os.fork()
        if model != 0:
            os.close(report_fd)
            _init(model)
    else:
        fs_refused = (_read_only_filesystem(work) if is_root
                      else "not root: ordinary file permissions apply")
        filesystem = (f"read-only except the work directory (private root refused: "
                      f"{root_refused})" if fs_refused is None
                      else f"unchanged ({fs_refused})")
        processes = f"process group (PID namespace refused: {root_refused})"
    import numpy  # noqa: F401  (imported while still able to read a root-only venv)

    not_dropped, user = _drop_privileges(request["user"])
    if not_dropped is None and os.geteuid() == 0:
        not_dropped = _drop_capabilities()
    sys.addaudithook(_audit_hook)
    network = "namespace" if refused is None else f"audit-hook (namespace refused: {refused})"
    report = {"network": network, "filesystem": filesystem, "processes": processes,
              "user": user}
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
