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


# -- columns matched by name alone ---------------------------------------------------------
# A user whose table has a learnware's own column names, in another order, needs no
# descriptions: search compares and reuse feeds the learnware with the user's columns
# put in its order. Both call `order_by_name`, so they agree on when that applies.
def _key(name: str) -> str:
    return name_words(name).lower()


def shown_names(names: tuple[str, ...] | list[str], at_most: int = 8) -> str:
    """"a, b, c" (the first `at_most`, then how many in all)."""
    shown = ", ".join(names[:at_most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > at_most else "")


def column_difference(mine: list[str] | tuple[str, ...], theirs: list[str] | tuple[str, ...]
                      ) -> str:
    """"missing a, b; extra c": which of a learnware's columns `theirs` the user's
    header `mine` lacks, and which it has that the learnware does not take (names
    compared as words, any case)."""
    mine_keys = {_key(n) for n in mine}
    their_keys = {_key(n) for n in theirs}
    missing = [n for n in theirs if _key(n) not in mine_keys]
    extra = [n for n in mine if _key(n) not in their_keys]
    parts = []
    if missing:
        parts.append(f"missing {shown_names(missing)}")
    if extra:
        parts.append(f"extra {shown_names(extra)}")
    return "; ".join(parts) if parts else "the same names in another order"


def shared_names(mine: InputSpec, theirs: InputSpec) -> int:
    """How many column names two inputs share (as words, any case)."""
    return len({_key(f.name) for f in mine.features} & {_key(f.name) for f in theirs.features})


def order_by_name(user: InputSpec | None, theirs: list[InputSpec]) -> list[int] | None:
    """The permutation that puts the user's columns in the learnwares' order, when every
    learnware that names its columns names the user's columns (as words, any case) in
    one and the same order other than the user's; None when nothing is to be reordered.

    ``x[:, order_by_name(...)]`` are the user's rows in the learnwares' order; for an
    RKME, the same permutation of its points' columns is the RKME of those rows (the
    Gaussian kernel sees only distances, which a permutation keeps)."""
    if user is None or not user.features:
        return None
    named = [t for t in theirs if t.features]
    if not named:
        return None
    mine = [_key(f.name) for f in user.features]
    orders = {tuple(_key(f.name) for f in t.features) for t in named}
    if len(orders) != 1 or len(set(mine)) != len(mine):
        return None
    (order,) = orders
    if list(order) == mine or sorted(order) != sorted(mine):
        return None
    return [mine.index(name) for name in order]


def reordered(user: InputSpec, permutation: list[int]) -> InputSpec:
    """`user` with its features in `permutation`'s order."""
    return InputSpec(user.dimension, tuple(user.features[i] for i in permutation))
