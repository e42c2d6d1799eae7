"""Where entries live: per-space groups of row-aligned columns, plus the semantic index.

Shared by `Catalog` (full specs) and `SketchIndex` (sketches): both keep every entry
as a row of its comparison space's group, find candidates by the same semantic rules,
and drop dead rows once they are half a group.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from engine.errors import SearchError
from engine.search import semantic_filter as sf
from engine.search.columns import Columns
from engine.search.results import Match, SearchResult
from engine.specification.semantic import SemanticSpec

_COMPACT_AFTER = 64
"""Dead rows a group tolerates before compaction is considered (then: half the group)."""


class Group(Protocol):
    space: str
    rows: Columns
    ids: list[str | None]
    dead: int

    def kill(self, row: int) -> None: ...
    def compact(self) -> dict[str, int]: ...


G = TypeVar("G", bound=Group)


class SpaceEntries(Generic[G]):
    """Entry id -> (space, row), the groups, and the semantic index."""

    def __init__(self) -> None:
        self._groups: dict[str, G] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._sem = sf.SemanticIndex()

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._where

    def ids(self) -> list[str]:
        return list(self._where)

    @staticmethod
    def _check_entry(entry_id: object, semantic: object) -> None:
        if not isinstance(entry_id, str) or not entry_id:
            raise SearchError("entry id: expected a non-empty string")
        if not isinstance(semantic, SemanticSpec):
            raise SearchError("semantic: expected a SemanticSpec")

    def _placed(self, entry_id: str, semantic: SemanticSpec, space: str, row: int) -> None:
        """Record that `entry_id` now lives at `row` of `space`'s group."""
        self._where[entry_id] = (space, row)
        self._sem.add(entry_id, semantic)

    def gammas(self, space: str) -> dict[float, int]:
        """How many live entries of `space` carry each kernel gamma."""
        group = self._groups.get(space)
        if group is None:
            return {}
        values, counts = np.unique(group.rows["gamma"][group.rows["alive"]], return_counts=True)
        return {float(g): int(c) for g, c in zip(values, counts, strict=True)}

    def remove(self, entry_id: str) -> None:
        """Remove an entry; raises KeyError if it is unknown."""
        space, row = self._where.pop(entry_id)
        self._sem.remove(entry_id)
        group = self._groups[space]
        group.kill(row)
        if group.dead > _COMPACT_AFTER and group.dead * 2 > group.rows.n:
            for moved_id, new_row in group.compact().items():
                self._where[moved_id] = (space, new_row)

    def _semantic_only(self, semantic: SemanticSpec | None, allowed: set[str] | None,
                       k: int) -> SearchResult:
        """Top `k` by the share of the requirement's words an entry's text holds (ties by
        id); every entry passes when the requirement has no words."""
        words = sf.stems(sf.text_of(semantic)) if semantic is not None else set()
        hits = self._sem.stems.counts(words) if words else {}
        ids: list[str | None] = []
        for group in self._groups.values():
            rows = self._candidate_rows(group, semantic, allowed)
            ids.extend(group.ids[r] for r in rows)
        scored = sorted(((hits.get(i, 0) / len(words) if words else 1.0, i) for i in ids
                         if i is not None), key=lambda t: (-t[0], t[1]))
        single = tuple(Match(i, None, s) for s, i in scored[:k])
        return SearchResult(single, None, len(ids), True, None)

    def semantic_search(self, semantic: SemanticSpec | None, k: int) -> SearchResult:
        """The entries that pass the semantic filter, ranked by their text alone."""
        return self._semantic_only(semantic, self._sem.allowed(semantic), k)

    def _candidate_rows(self, group: G, semantic: SemanticSpec | None,
                        allowed: set[str] | None) -> NDArray[np.int64]:
        """Live rows of `group` that pass the semantic filter (`allowed`: its id set)."""
        rows = None if allowed is None else [
            row for space, row in (self._where[i] for i in allowed) if space == group.space]
        codes = {name: group.rows[name] for name in sf.CLASS_FIELDS}
        return np.flatnonzero(sf.candidate_mask(codes, group.rows["input_dim"],
                                                group.rows["alive"], semantic, rows))
