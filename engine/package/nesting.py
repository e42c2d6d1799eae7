"""`toml_nesting` / `load_toml`: refuse TOML nested deeper than a bound before parsing it.

``tomllib`` parses arrays and inline tables recursively: 60 bytes of ``[[[[...``
raise `RecursionError` deep inside the parser (thousands of frames, a long
traceback, and a check worker that looks as if it crashed). Counting brackets
first costs one pass over the text and turns that into a `PackageError` that
says what is wrong. The scan skips strings (basic, literal, multi-line) and
comments, so brackets inside a description do not count.
"""

from __future__ import annotations

import sys
from typing import Any

from engine.errors import PackageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_TOML_DEPTH = 32
"""Most nested arrays / inline tables (and ``[[table]]`` headers) a TOML file may open;
a learnware's manifest needs 3."""

_OPEN, _CLOSE = frozenset("[{"), frozenset("]}")


def _string_end(text: str, i: int) -> int:
    """Index just past the string starting at ``text[i]`` (a quote)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        end = text.find(quote * 3, i + 3)
        if end < 0:
            return len(text)
        end += 3
        while end < len(text) and text[end] == quote:  # up to two quotes end the content
            end += 1
        return end
    j = i + 1
    while j < len(text) and text[j] != quote and text[j] != "\n":
        if quote == '"' and text[j] == "\\":
            j += 1
        j += 1
    return j + 1


def toml_nesting(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in `text`, outside strings and comments."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            i = _string_end(text, i)
            continue
        i += 1
    return deepest


def load_toml(text: str, where: str, max_depth: int = MAX_TOML_DEPTH) -> dict[str, Any]:
    """Parse `text` as TOML; a `PackageError` naming `where` for malformed or too deep.

    `RecursionError` is still caught (a parser path the scan does not foresee)
    and reported the same way.
    """
    if toml_nesting(text) > max_depth:
        raise PackageError(f"{where}: nested deeper than {max_depth} levels")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackageError(f"{where}: malformed TOML ({exc})") from None
    except RecursionError:
        raise PackageError(f"{where}: nested too deeply to read") from None
