"""`ColumnMapping`: which of the user's columns feed which of a learnware's.

The answer a heterogeneous search gives next to its score, and what a heterogeneous
reuser needs to put the user's rows into the learnware's feature space. It is plain
data (names and indices), so it can travel in a search result and be shown to a
person: ``describe()`` gives one line per learnware column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import SearchError


@dataclass(frozen=True)
class ColumnPair:
    """User column `user` feeds learnware column `learnware`; `similarity` is the
    cosine of their descriptions' embeddings (1 = same meaning)."""

    user: int
    learnware: int
    similarity: float


def _names(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise SearchError(f"{what}: expected a list of column names")
    if not all(isinstance(v, str) for v in values):
        raise SearchError(f"{what}: column names must be strings")
    return tuple(values)


@dataclass(frozen=True)
class ColumnMapping:
    """A partial one-to-one map from the user's columns to a learnware's.

    Attributes
    ----------
    user_columns, learnware_columns : tuple of str
        Column names on each side, in their own order.
    pairs : tuple of ColumnPair
        The mapped columns, sorted by learnware column.
    """

    user_columns: tuple[str, ...]
    learnware_columns: tuple[str, ...]
    pairs: tuple[ColumnPair, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_columns", _names(list(self.user_columns), "user_columns"))
        object.__setattr__(self, "learnware_columns",
                           _names(list(self.learnware_columns), "learnware_columns"))
        pairs = tuple(sorted(self.pairs, key=lambda p: p.learnware))
        object.__setattr__(self, "pairs", pairs)
        users = [p.user for p in pairs]
        lws = [p.learnware for p in pairs]
        if len(set(users)) != len(users) or len(set(lws)) != len(lws):
            raise SearchError("mapping: a column appears in two pairs; the map is one-to-one")
        for p in pairs:
            if not (0 <= p.user < len(self.user_columns)
                    and 0 <= p.learnware < len(self.learnware_columns)):
                raise SearchError(f"mapping: pair ({p.user}, {p.learnware}) is out of range "
                                  f"for {len(self.user_columns)} user and "
                                  f"{len(self.learnware_columns)} learnware columns")

    # -- views ----------------------------------------------------------------------------
    @property
    def missing(self) -> tuple[int, ...]:
        """Learnware columns that no user column feeds (filled from its spec)."""
        fed = {p.learnware for p in self.pairs}
        return tuple(j for j in range(len(self.learnware_columns)) if j not in fed)

    @property
    def unused(self) -> tuple[int, ...]:
        """User columns the learnware does not take."""
        used = {p.user for p in self.pairs}
        return tuple(i for i in range(len(self.user_columns)) if i not in used)

    @property
    def coverage(self) -> float:
        """Share of the learnware's columns fed by the user's."""
        return len(self.pairs) / max(len(self.learnware_columns), 1)

    @property
    def is_identity(self) -> bool:
        """Same columns in the same order: the rows need no mapping at all."""
        return (len(self.user_columns) == len(self.learnware_columns) == len(self.pairs)
                and all(p.user == p.learnware for p in self.pairs))

    def source(self) -> NDArray[np.int64]:
        """For each learnware column, the user column that feeds it (-1 if missing)."""
        out = np.full(len(self.learnware_columns), -1, dtype=np.int64)
        for p in self.pairs:
            out[p.learnware] = p.user
        return out

    def describe(self) -> list[str]:
        """One line per learnware column, then the unused user columns."""
        by_lw = {p.learnware: p for p in self.pairs}
        lines = []
        for j, name in enumerate(self.learnware_columns):
            p = by_lw.get(j)
            lines.append(f"{name} <- missing (filled from the learnware's spec)" if p is None
                         else f"{name} <- {self.user_columns[p.user]} ({p.similarity:.2f})")
        lines.extend(f"(unused) {self.user_columns[i]}" for i in self.unused)
        return lines

    # -- plain types ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "user_columns": list(self.user_columns),
            "learnware_columns": list(self.learnware_columns),
            "pairs": [{"user": p.user, "learnware": p.learnware, "similarity": p.similarity}
                      for p in self.pairs],
            "missing": list(self.missing),
            "unused": list(self.unused),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnMapping:
        """Rebuild from `to_dict()`; ``missing`` and ``unused`` are derived, so they are
        checked against the pairs rather than trusted."""
        if not isinstance(data, Mapping):
            raise SearchError(f"mapping: expected a mapping, got {type(data).__name__}")
        allowed = {"user_columns", "learnware_columns", "pairs", "missing", "unused"}
        unknown = sorted(set(map(str, data)) - allowed)
        if unknown:
            raise SearchError(f"mapping: unknown field(s) {', '.join(unknown)}")
        pairs_raw = data.get("pairs", [])
        if not isinstance(pairs_raw, list):
            raise SearchError("mapping.pairs: expected a list")
        pairs = []
        for p in pairs_raw:
            if not isinstance(p, Mapping) or set(p) != {"user", "learnware", "similarity"}:
                raise SearchError("mapping.pairs[]: expected {user, learnware, similarity}")
            u, lw, s = p["user"], p["learnware"], p["similarity"]
            if (isinstance(u, bool) or isinstance(lw, bool) or not isinstance(u, int)
                    or not isinstance(lw, int) or isinstance(s, bool)
                    or not isinstance(s, int | float) or not np.isfinite(s)):
                raise SearchError("mapping.pairs[]: user and learnware must be integers, "
                                  "similarity a finite number")
            pairs.append(ColumnPair(u, lw, float(s)))
        out = cls(_names(data.get("user_columns"), "mapping.user_columns"),
                  _names(data.get("learnware_columns"), "mapping.learnware_columns"),
                  tuple(pairs))
        for key in ("missing", "unused"):
            if key in data and list(data[key]) != list(getattr(out, key)):
                raise SearchError(f"mapping.{key}: does not agree with the pairs")
        return out
