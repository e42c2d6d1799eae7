"""A small TOML writer, enough for `learnware.toml` (stdlib has a reader only).

Nested mappings become ``[a.b]`` tables; lists of mappings become arrays of
inline tables; None is left out (TOML has no null). Output is deterministic:
keys keep the mapping's order, floats use ``repr``. `dumps` reads its own output
back with `tomllib` and raises if the round trip is not exact, so a writer bug
can never produce a manifest that means something else.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import PackageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: object) -> str:
    if not isinstance(k, str):
        raise PackageError(f"manifest: key {k!r} is not a string")
    # fullmatch: "$" would also match before a final newline, writing "0\n" bare
    return k if _BARE_KEY.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    # JSON's escapes are TOML's; TOML also forbids a raw DEL. Non-ASCII stays raw
    # (JSON would write astral characters as surrogate pairs, which TOML refuses).
    if any("\ud800" <= c <= "\udfff" for c in s):
        raise PackageError(f"manifest: string {s[:40]!r} holds a lone surrogate")
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, Mapping):
        items = [f"{_key(k)} = {_value(x, f'{where}.{k}')}" for k, x in v.items()
                 if x is not None]
        return "{" + ", ".join(items) + "}" if items else "{}"
    if isinstance(v, Sequence):
        if any(x is None for x in v):
            raise PackageError(f"manifest: {where} holds a null, which TOML cannot store")
        return "[" + ", ".join(_value(x, f"{where}[]") for x in v) + "]"
    raise PackageError(f"manifest: {where}: cannot store a {type(v).__name__} in TOML")


def _drop_none(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list | tuple):
        return [_drop_none(v) for v in data]
    return data


def _table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    tables = []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, Mapping):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v, '.'.join([*path, k]))}")
    for k, v in tables:
        sub = [*path, k]
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in sub) + "]")
        _table(v, sub, lines)


def dumps(data: Mapping[str, Any]) -> str:
    """TOML text for `data` (mappings, lists, str, int, float, bool; None dropped)."""
    lines: list[str] = []
    _table(data, [], lines)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != _drop_none(data):
        raise PackageError("manifest: the TOML writer could not represent the data exactly")
    return text

