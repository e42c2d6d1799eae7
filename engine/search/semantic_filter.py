"""The semantic filter: which catalog entries a requirement's words allow.

Rules (fields left empty in the requirement are ignored):

- class fields (data type, task type, library, license) must be equal;
- input dimension, when both sides state one, must be equal;
- scenario tags: at least one tag in common;
- name / description: fuzzy — at least one word stem in common. Words are
  lower-cased, split on non-alphanumerics, stop words dropped, and cut to their
  first six characters, so "classifier" matches "classification" and "forecasts"
  matches "forecasting". A semantic-only search ranks by the share of the
  requirement's stems an entry contains.

Class fields are stored as small integer codes in catalog columns and compared
vectorised; tags and stems live in inverted indices (stem -> entry ids).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from engine.specification.semantic import SemanticSpec
from engine.vocabulary import DataType, Library, License, TaskType

CLASS_FIELDS: dict[str, tuple[type, ...]] = {
    "data_type": tuple(DataType),
    "task_type": tuple(TaskType),
    "library": tuple(Library),
    "license": tuple(License),
}
STEM_CHARS = 6
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the and for with from that this into over under are was were has have had its our "
    "your their not but all any can will one two use used using per via data model task "
    "learnware".split()
)


def stems(text: str) -> set[str]:
    """Word stems used for fuzzy matching of names and descriptions."""
    return {w[:STEM_CHARS] for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOP}


def class_codes(semantic: SemanticSpec) -> dict[str, int]:
    """Integer code of each class field (-1 when the field is empty)."""
    codes = {}
    for name, members in CLASS_FIELDS.items():
        value = getattr(semantic, name)
        codes[name] = -1 if value is None else list(members).index(value)
    return codes


def text_of(semantic: SemanticSpec) -> str:
    return f"{semantic.name} {semantic.description}"


class InvertedIndex:
    """term -> set of entry ids, with removal."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = defaultdict(set)

    def add(self, entry_id: str, terms: Iterable[str]) -> None:
        for t in terms:
            self._ids[t].add(entry_id)

    def remove(self, entry_id: str, terms: Iterable[str]) -> None:
        for t in terms:
            bucket = self._ids.get(t)
            if bucket is not None:
                bucket.discard(entry_id)
                if not bucket:
                    del self._ids[t]

    def any_of(self, terms: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for t in terms:
            out |= self._ids.get(t, set())
        return out

    def counts(self, terms: Iterable[str]) -> dict[str, int]:
        """How many of `terms` each entry holds (entries holding none are absent)."""
        out: dict[str, int] = defaultdict(int)
        for t in terms:
            for entry_id in self._ids.get(t, ()):
                out[entry_id] += 1
        return out


def class_mask(columns_codes: dict[str, NDArray[np.int8]], input_dims: NDArray[np.int32],
               semantic: SemanticSpec | None, n: int) -> NDArray[np.bool_]:
    """Rows whose class fields and input dimension agree with the requirement."""
    mask = np.ones(n, dtype=bool)
    if semantic is None:
        return mask
    for name, code in class_codes(semantic).items():
        if code >= 0:
            mask &= columns_codes[name] == code
    if semantic.input is not None:
        dims = input_dims
        mask &= (dims == 0) | (dims == semantic.input.dimension)
    return mask


class SemanticIndex:
    """The semantic specs of a catalog's entries, with their tag and stem indices.

    Shared by `Catalog` (full specs) and `SketchIndex` (sketches only), so both
    apply the same rules (module doc).
    """

    def __init__(self) -> None:
        self.specs: dict[str, SemanticSpec] = {}
        self.tags = InvertedIndex()
        self.stems = InvertedIndex()

    def add(self, entry_id: str, semantic: SemanticSpec) -> None:
        self.specs[entry_id] = semantic
        self.tags.add(entry_id, semantic.scenarios)
        self.stems.add(entry_id, stems(text_of(semantic)))

    def remove(self, entry_id: str) -> None:
        semantic = self.specs.pop(entry_id)
        self.tags.remove(entry_id, semantic.scenarios)
        self.stems.remove(entry_id, stems(text_of(semantic)))

    def allowed(self, semantic: SemanticSpec | None) -> set[str] | None:
        """Ids sharing a tag and a name/description stem with `semantic` (None: all)."""
        if semantic is None:
            return None
        allowed: set[str] | None = None
        if semantic.scenarios:
            allowed = self.tags.any_of(semantic.scenarios)
        words = stems(text_of(semantic))
        if words:
            by_text = self.stems.any_of(words)
            allowed = by_text if allowed is None else allowed & by_text
        return allowed


def candidate_mask(codes: dict[str, NDArray[np.int8]], input_dims: NDArray[np.int32],
                   alive: NDArray[np.bool_], semantic: SemanticSpec | None,
                   allowed_rows: list[int] | NDArray[np.int64] | None) -> NDArray[np.bool_]:
    """Live rows of one space group that pass the class fields and the allowed ids."""
    mask = alive & class_mask(codes, input_dims, semantic, len(alive))
    if allowed_rows is not None:
        in_set = np.zeros(len(alive), dtype=bool)
        in_set[allowed_rows] = True
        mask &= in_set
    return mask
