"""`lwnode cache`: the packages this machine has fetched, where, how big; `cache clear`.

`lwnode reuse` keeps the packages it fetches in the cache (``<home>/cache``, or
``--cache DIR``), as model hubs' clients do, so a second reuse of the same
learnware does not download it again; every use checks the file's sha256 against
its id first (`lwnode.userside.local.fetch_package`). ``lwnode fetch -o DIR`` writes where
it is told; ``cache --dir DIR`` lists or clears such a folder too.

Only files named as fetches name them (``<64 hex>.zip`` and the resumable
``<64 hex>.zip.part``) are listed or removed: pointing ``--dir`` at the wrong
folder deletes nothing else.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lwnode.cli.common import EXIT_OK, human_size, node_home, out_console, print_json, short_id

CACHE_DIR_NAME = "cache"
LOCK_NAME = ".fetch.lock"
_PACKAGE_FILE = re.compile(r"([0-9a-f]{64})\.zip(\.part)?")


def cache_dir(args: argparse.Namespace) -> Path:
    """--dir, else ``cache`` in the node home (--home, $LWDOCK_HOME or ~/.lwdock)."""
    if getattr(args, "dir", None):
        return Path(args.dir)
    return Path(node_home(args).path) / CACHE_DIR_NAME


@contextmanager
def fetch_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's fetch lock: two commands fetching into one cache at once would
    both resume the same ``.part`` file and spoil it (seen with two parallel reuses of
    one learnware). An advisory ``flock``; where there is none, no lock."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _name_of(path: Path) -> str:
    """The learnware's name from the package's manifest ("" if it does not open)."""
    from engine.errors import LwdockError
    from engine.package import open_package

    try:
        return str(open_package(path).semantic.name)
    except (LwdockError, OSError, ValueError):
        return ""


def cached(folder: Path) -> list[dict[str, Any]]:
    """The fetched packages in `folder` (the keys `cache --json` prints), newest first."""
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        match = _PACKAGE_FILE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        stat = path.stat()
        partial = match.group(2) is not None
        out.append({"id": f"sha256:{match.group(1)}", "name": "" if partial else _name_of(path),
                    "size": stat.st_size, "partial": partial, "path": str(path),
                    "modified": datetime.fromtimestamp(stat.st_mtime, timezone.utc)
                    .isoformat(timespec="seconds")})
    out.sort(key=lambda e: (e["modified"], e["id"]), reverse=True)
    return out


def _cmd_cache(args: argparse.Namespace) -> int:
    folder = cache_dir(args)
    items = cached(folder)
    total = sum(e["size"] for e in items)
    if args.json:
        print_json({"dir": str(folder), "total_bytes": total, "items": items})
        return EXIT_OK
    if not items:
        print(f"{folder}: no fetched packages")
        return EXIT_OK
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=1, overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("fetched (UTC)", no_wrap=True)
    for e in items:
        name = "(partial download, resumed by the next fetch)" if e["partial"] else e["name"]
        table.add_row(short_id(e["id"]), name, human_size(e["size"]),
                      e["modified"][:16].replace("T", " "))
    console = out_console()
    console.print(table)
    console.print(f"{len(items)} file(s), {human_size(total)} in {folder}; free it: lwnode "
                  "cache clear", markup=False, highlight=False)
    return EXIT_OK


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    folder = cache_dir(args)
    items = cached(folder)
    for e in items:
        Path(e["path"]).unlink(missing_ok=True)
    total = sum(e["size"] for e in items)
    if args.json:
        print_json({"dir": str(folder), "removed": len(items), "freed_bytes": total})
        return EXIT_OK
    print(f"removed {len(items)} file(s), {human_size(total)}, from {folder}")
    return EXIT_OK


def add_commands(sub: Any, make: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``cache`` (and ``cache clear``)."""
    p = make(sub, "cache", "the packages fetched on this machine; 'cache clear'",
             "List the packages fetched on this machine (by 'lwnode reuse', into "
             "<home>/cache, or into --dir): id, name, size, when. 'lwnode cache clear' "
             "removes them (only files named <sha256>.zip or .zip.part).")

    def where(q: argparse.ArgumentParser) -> None:
        q.add_argument("--dir", metavar="DIR", help="the folder (default: cache in --home)")
        q.add_argument("--home", metavar="DIR", help="node home (default: $LWDOCK_HOME or "
                       "~/.lwdock)")
        q.add_argument("--json", action="store_true", help="print it as JSON")

    where(p)
    p.set_defaults(func=_cmd_cache)
    cache_sub = p.add_subparsers(dest="cache_command", metavar="COMMAND")
    q = make(cache_sub, "clear", "remove the fetched packages",
             "Remove the fetched packages (and partial downloads) from the cache folder.")
    where(q)
    q.set_defaults(func=_cmd_cache_clear)
