"""Table columns as text, and when two inputs describe the same columns.

A column is compared across organizations by what it *means*, so the text that is
embedded is the column's name in plain words, its description and its unit:
``"floor area: living area of the house (square metres)"``. Names are split at
underscores, dashes, dots and camelCase boundaries (``floorArea_m2`` -> ``floor Area
m2``), because a tokenizer sees ``floor_area`` as rarer pieces than ``floor area``.
The feature's ``kind`` is not embedded: "int" or "float" says little about meaning.
"""

from __future__ import annotations

import re

from engine.errors import SearchError
from engine.specification.semantic import Feature, InputSpec, SemanticSpec
from engine.vocabulary import DataType

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\-.\s]+")


def name_words(name: str) -> str:
    """A column name as plain words: ``"floorArea_m2"`` -> ``"floor Area m2"``."""
    return " ".join(_SEPARATORS.sub(" ", _CAMEL.sub(" ", name)).split())


def column_text(feature: Feature) -> str:
    """The text that stands for a column in the shared embedding."""
    text = name_words(feature.name)
    if feature.description.strip():
        text += f": {' '.join(feature.description.split())}"
    if feature.unit.strip():
        text += f" ({feature.unit.strip()})"
    return text


def column_texts(input_spec: InputSpec) -> tuple[str, ...]:
    return tuple(column_text(f) for f in input_spec.features)


def same_columns(a: InputSpec, b: InputSpec) -> bool:
    """True when both inputs name the same columns in the same order (names compared as
    words, case-insensitively): their rows can be compared as they are. Where both
    sides describe a column (or give its unit), those must agree too; a side that only
    names its columns is taken at its word (a user's CSV with a learnware's header has
    that learnware's columns, described or not)."""
    if a.dimension != b.dimension or len(a.features) != len(b.features):
        return False
    return all(_same_column(x, y) for x, y in zip(a.features, b.features, strict=True))


def _same_column(x: Feature, y: Feature) -> bool:
    if name_words(x.name).lower() != name_words(y.name).lower():
        return False
    for field in ("description", "unit"):
        mine, theirs = (" ".join(getattr(f, field).split()).lower() for f in (x, y))
        if mine and theirs and mine != theirs:
            return False
    return True


def missing_descriptions(input_spec: InputSpec | None) -> list[str]:
    """Names of the columns without a description (all of them when there are no
    features; ``["<input>"]`` when there is no input spec at all)."""
    if input_spec is None:
        return ["<input>"]
    if not input_spec.features:
        return [f"column {i}" for i in range(input_spec.dimension)]
    return [f.name for f in input_spec.features if not f.description.strip()]


def require_described(semantic: SemanticSpec | None, what: str = "requirement") -> InputSpec:
    """The input spec of a table whose every column has a description, or a
    `SearchError` saying what heterogeneous search needs."""
    if semantic is not None and semantic.data_type not in (None, DataType.TABLE):
        raise SearchError(f"{what}: heterogeneous search maps table columns; the "
                          f"{what} is {semantic.data_type.value} data")
    input_spec = semantic.input if semantic is not None else None
    missing = missing_descriptions(input_spec)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                          else "")
        raise SearchError(
            f"{what}: heterogeneous search (matching columns across feature spaces) needs "
            "semantic.input.features with a description for every column; missing for "
            f"{shown}. Build them with InputSpec.from_columns(names, descriptions)")
    assert input_spec is not None
    return input_spec
