"""Running `lwnode` as people do, for the command-line tests: subprocesses, a node
served from a home in a work folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lwtesting import wait_for

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("LWDOCK_")},
       "COLUMNS": "200"}
NARROW = {**ENV, "COLUMNS": "80"}
"""As on an 80-column terminal."""


def widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def lwnode(*args, cwd, timeout=120, check=None, env=ENV):
    proc = subprocess.run([sys.executable, "-m", "lwnode.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)
    if check is not None:
        assert proc.returncode == check, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def lwnode_many(argvs, *, cwd, check=0, env=ENV):
    """Run several commands at once (they are independent); all must exit with `check`."""
    procs = [subprocess.Popen([sys.executable, "-m", "lwnode.cli", *map(str, a)], cwd=cwd,
                              env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for a in argvs]
    done = []
    for argv, proc in zip(argvs, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == check, (argv, proc.returncode, out, err)
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return done


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
