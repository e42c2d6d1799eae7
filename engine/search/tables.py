"""`TableIndex`: the catalog's table learnwares with named columns, as arrays.

Heterogeneous search (`engine.hetero.search.extend_result`) looks at every table
learnware that names its columns and keeps those that pass the semantic filter (input
dimension aside) and do not have the requirement's own columns. Doing that with a
Python loop over every entry's semantic spec cost ~0.5 us an entry (~47 ms at 100,000
entries) on every search, even when no entry names its columns. Here the facts that
filter reads are columns filled once at insert: class codes, input dimension, and a
hash of the column names (as `same_columns` compares them); a search is a few
vectorised comparisons, and only entries whose names hash equal to the requirement's
are compared column by column. Entries that cannot take part (no named columns, not a
table) are never held, so a catalog without any costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.hetero.features import name_words, same_columns
from engine.search import semantic_filter as sf
from engine.search.columns import Columns
from engine.specification.semantic import InputSpec, SemanticSpec
from engine.vocabulary import DataType

_COMPACT_AFTER = 64


def names_key(input_spec: InputSpec) -> int:
    """Hash of the column names as `same_columns` compares them (words, any case)."""
    return hash(tuple(name_words(f.name).lower() for f in input_spec.features))


def named_table(semantic: SemanticSpec) -> bool:
    """Could this entry be compared across feature spaces (a table naming its columns)?"""
    return (semantic.input is not None and bool(semantic.input.features)
            and semantic.data_type in (None, DataType.TABLE))


class TableIndex:
    """Entries with named table columns, in insertion order, with their filter facts."""

    def __init__(self) -> None:
        codes = {name: (np.int8, ()) for name in sf.CLASS_FIELDS}
        self._rows = Columns({"alive": (np.bool_, ()), "input_dim": (np.int32, ()),
                              "names": (np.int64, ()), **codes})
        self._ids: list[str | None] = []
        self._semantic: list[SemanticSpec | None] = []
        self._row_of: dict[str, int] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self._row_of)

    def add(self, entry_id: str, semantic: SemanticSpec) -> None:
        """Hold `entry_id` if it names table columns (call `remove` first to replace)."""
        if not named_table(semantic):
            return
        assert semantic.input is not None
        self._row_of[entry_id] = self._rows.append(
            alive=True, input_dim=semantic.input.dimension, names=names_key(semantic.input),
            **sf.class_codes(semantic))
        self._ids.append(entry_id)
        self._semantic.append(semantic)

    def remove(self, entry_id: str) -> None:
        row = self._row_of.pop(entry_id, None)
        if row is None:
            return
        self._rows.set("alive", row, False)
        self._ids[row] = None
        self._semantic[row] = None
        self._dead += 1
        if self._dead > _COMPACT_AFTER and self._dead * 2 > self._rows.n:
            self._rows.compact(self._rows["alive"].copy())
            self._ids = [i for i in self._ids if i is not None]
            self._semantic = [s for s in self._semantic if s is not None]
            self._row_of = {entry_id: row for row, entry_id in enumerate(self._ids)
                            if entry_id is not None}
            self._dead = 0

    def select(self, requirement: SemanticSpec, allowed: Iterable[str] | None, *,
               other_width_than: int | None = None,
               not_columns_of: InputSpec | None = None) -> list[str]:
        """Held ids, in insertion order, that

        - agree with `requirement`'s class fields other than the data type;
        - are in `allowed` (when given);
        - have an input dimension other than `other_width_than` (when given);
        - do not have the columns of `not_columns_of` (`same_columns`; when given).
        """
        n = self._rows.n
        mask = self._rows["alive"].copy()
        for name, code in sf.class_codes(requirement).items():
            if code >= 0 and name != "data_type":
                mask &= self._rows[name] == code
        if allowed is not None:
            in_set = np.zeros(n, dtype=bool)
            in_set[[r for r in map(self._row_of.get, allowed) if r is not None]] = True
            mask &= in_set
        if other_width_than is not None:
            mask &= self._rows["input_dim"] != other_width_than
        if not_columns_of is not None and not_columns_of.features:
            maybe_same = mask & (self._rows["names"] == names_key(not_columns_of))
            for row in np.flatnonzero(maybe_same):
                semantic = self._semantic[row]
                assert semantic is not None and semantic.input is not None
                if same_columns(not_columns_of, semantic.input):
                    mask[row] = False
        return [self._ids[r] or "" for r in np.flatnonzero(mask).tolist()]

    def semantic(self, entry_id: str) -> SemanticSpec:
        """The semantic spec of a held entry; raises KeyError if it is not held."""
        semantic = self._semantic[self._row_of[entry_id]]
        assert semantic is not None
        return semantic
