"""Field checks shared by message constructors and decoders.

Each check takes the value and the field's name (``"SearchHit.score"``) and either
returns the value in its canonical Python type or raises `ProtocolError` naming the
field and what arrived. Checks never trust `isinstance(x, int)` alone: a bool is an
int in Python but not on the wire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from protocol.errors import ProtocolError

_URL_RE = re.compile(r"https?://[!-~]+")
_QUERY_ID_RE = re.compile(r"[0-9a-f]{32}")
_CODE_RE = re.compile(r"[a-z][a-z0-9_]*")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(value: object, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{where}: expected an integer, got {_show(value)}")
    if not lo <= value <= hi:
        raise ProtocolError(f"{where}: {value} is outside {lo}..{hi}")
    return int(value)


def check_float(value: object, where: str, lo: float | None = None,
                hi: float | None = None) -> float:
    """A finite float (an integer is refused: the wire spells floats as floats)."""
    if not isinstance(value, float) or not math.isfinite(value):
        raise ProtocolError(f"{where}: expected a finite float, got {_show(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ProtocolError(f"{where}: {value!r} is outside [{lo}, {hi}]")
    return float(value)


def check_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"{where}: expected true or false, got {_show(value)}")
    return value


def check_str(value: object, where: str, max_chars: int, *, min_chars: int = 0,
              pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: expected a string, got {_show(value)}")
    if not min_chars <= len(value) <= max_chars:
        raise ProtocolError(f"{where}: {len(value)} characters, expected {min_chars}.."
                            f"{max_chars}")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise ProtocolError(f"{where}: {_show(value)} does not match {pattern.pattern}")
    return str(value)


def check_bytes(value: object, where: str, max_len: int, *, min_len: int = 0) -> bytes:
    if not isinstance(value, bytes):
        raise ProtocolError(f"{where}: expected bytes, got {_show(value)}")
    if not min_len <= len(value) <= max_len:
        expected = str(max_len) if min_len == max_len else f"{min_len}..{max_len}"
        raise ProtocolError(f"{where}: {len(value)} bytes, expected {expected}")
    return value


def check_items(value: object, where: str, max_items: int, *, min_items: int = 0
                ) -> tuple[Any, ...]:
    """A list or tuple of a bounded length, returned as a tuple."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ProtocolError(f"{where}: expected a list, got {_show(value)}")
    if not min_items <= len(value) <= max_items:
        raise ProtocolError(f"{where}: {len(value)} items, expected {min_items}..{max_items}")
    return tuple(value)


def check_unique(items: tuple[Any, ...], where: str) -> None:
    if len(set(items)) != len(items):
        raise ProtocolError(f"{where}: duplicate entries")


def check_url(value: object, where: str, max_chars: int) -> str:
    """An absolute http(s) URL of printable ASCII without spaces."""
    return check_str(value, where, max_chars, min_chars=1, pattern=_URL_RE)


def check_query_id(value: object, where: str) -> str:
    return check_str(value, where, 32, min_chars=32, pattern=_QUERY_ID_RE)


def check_code(value: object, where: str, max_chars: int) -> str:
    return check_str(value, where, max_chars, min_chars=1, pattern=_CODE_RE)


class MapReader:
    """Read a wire map field by field; `done()` refuses keys nobody read.

    `lenient` (a message of a newer minor version) lets unknown keys pass: they are
    fields added by a later minor version, which this node may ignore.
    """

    def __init__(self, value: object, where: str, *, lenient: bool = False) -> None:
        if not isinstance(value, Mapping):
            raise ProtocolError(f"{where}: expected a map, got {_show(value)}")
        self.value = value
        self.where = where
        self.lenient = lenient
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        """The qualified name of a field, for error messages."""
        return f"{self.where}.{key}"

    def take(self, key: str) -> Any:
        self._read.add(key)
        if key not in self.value:
            raise ProtocolError(f"{self.where}: missing field {key}")
        return self.value[key]

    def has(self, key: str) -> bool:
        """Whether an optional field is present (absent means its default)."""
        return key in self.value

    def done(self) -> None:
        unknown = sorted(set(map(str, self.value)) - self._read)
        if unknown and not self.lenient:
            names = ", ".join(_show(name) for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ProtocolError(f"{self.where}: unknown field(s) {names}{more}")
