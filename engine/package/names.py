"""Entry names inside a package: the one place that decides which names are safe.

A name is safe when, joined to any directory, it stays inside that directory on
every platform we care about: relative, forward slashes only, no ``.``/``..`` or
empty components, no drive letters, no control characters, bounded length.
"""

from __future__ import annotations

import re

from engine.errors import PackageError

MAX_NAME_CHARS = 255
MAX_DEPTH = 16
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


def check_entry_name(name: str, *, allow_dir: bool = False) -> str:
    """Return `name` if it is a safe relative path, else raise `PackageError` naming it.

    Parameters
    ----------
    name
        The entry name as stored in the archive (``/``-separated).
    allow_dir
        Accept a trailing ``/`` (a directory entry written by other zip tools).
    """
    shown = repr(name[:80])
    if not isinstance(name, str) or not name:
        raise PackageError("entry name: empty")
    if len(name) > MAX_NAME_CHARS:
        raise PackageError(f"entry {shown}: name longer than {MAX_NAME_CHARS} characters")
    if _FORBIDDEN.search(name):
        raise PackageError(f"entry {shown}: backslash, colon, wildcard or control character "
                           "in name")
    if name.startswith("/"):
        raise PackageError(f"entry {shown}: absolute path")
    body = name[:-1] if allow_dir and name.endswith("/") else name
    parts = body.split("/")
    if len(parts) > MAX_DEPTH:
        raise PackageError(f"entry {shown}: deeper than {MAX_DEPTH} directories")
    for part in parts:
        if part in ("", ".", ".."):
            raise PackageError(f"entry {shown}: path traversal or empty component "
                               f"({part or 'empty'!r})")
    return name
