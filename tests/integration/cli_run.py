"""Running `lwnode` as people do, for the command-line tests: a node served from a home
in a work folder (``lwnode run`` in a subprocess), and commands against it.

A command runs in this process by default: `lwnode.cli.main` with the command's
arguments, working folder, environment, stdout and stderr, exactly as the console
script calls it, without the 1-2 s a fresh interpreter spends importing scikit-learn,
skops and torch for each command. ``process=True`` runs it as ``python -m lwnode.cli``
in a subprocess, for the tests of the entry point itself and of commands run at once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from lwtesting import wait_for

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("LWDOCK_")},
       "COLUMNS": "200"}
NARROW = {**ENV, "COLUMNS": "80"}
"""As on an 80-column terminal."""


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


_ONE_AT_A_TIME = threading.Lock()
"""The working folder, environment and sys.stdout / sys.stderr are the process's: one
in-process command at a time."""


def in_process(argv: Sequence[str], *, cwd: str | os.PathLike[str], env: Mapping[str, str]
               ) -> subprocess.CompletedProcess[str]:
    """``lwnode *argv`` run by `lwnode.cli.main` in this process, in `cwd` with exactly the
    environment `env`; its exit code and what it wrote, as `subprocess.run` returns them."""
    from lwnode.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME:
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(argv))
                except SystemExit as exc:  # argparse: --help, a usage error
                    if isinstance(exc.code, str):  # as the interpreter exits with it
                        print(exc.code, file=sys.stderr)
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


def lwnode(*args, cwd, timeout=120, check=None, env=ENV, process=False):
    """``lwnode *args`` (in this process; in a subprocess with `process`); with `check`,
    its exit code must be that."""
    argv = list(map(str, args))
    if process:
        proc = subprocess.run([sys.executable, "-m", "lwnode.cli", *argv], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=env)
    else:
        proc = in_process(argv, cwd=cwd, env=env)
    if check is not None:
        assert proc.returncode == check, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def lwnode_many(argvs, *, cwd, check=0, env=ENV):
    """Run several independent commands; all must exit with `check`."""
    return [lwnode(*argv, cwd=cwd, check=check, env=env) for argv in argvs]


@contextmanager
def served_node(d: Path, org: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`lwnode init` + `lwnode run` of the home ``d/home``; yields (process, URL) and
    stops it with SIGTERM, checking it stopped cleanly."""
    lwnode("init", "--home", "home", "--org", org, cwd=d, check=0)
    proc = subprocess.Popen([sys.executable, "-m", "lwnode.cli", "run", "--home", "home",
                             "--http", "127.0.0.1:0"], cwd=d, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    url_file = d / "home" / "node.url"
    try:
        wait_for(lambda: url_file.exists() or proc.poll() is not None, "the node to start", 60)
        assert proc.poll() is None, proc.communicate()
        yield proc, url_file.read_text().strip()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            assert "stopped" in out
            assert not url_file.exists()
