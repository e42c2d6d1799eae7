"""The columns of a user's or developer's table, for the command line.

A CSV header names the columns; a semantic TOML may describe them, in one of two
forms (both checked against the header, so a typo is an error, not a silent
mismatch):

.. code-block:: toml

    [input.columns]                       # a data dictionary, by column name
    births_lag1 = "births the day before"
    temp = { description = "daily mean temperature", unit = "C", kind = "float" }

    [[input.features]]                    # or one entry per column, in order
    name = "births_lag1"
    description = "births the day before"

Descriptions are what lets a search or a reuse map columns across feature spaces
(`engine.hetero`); names alone are enough when both sides use the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.specification.semantic import InputSpec
from lwnode.errors import InputError
from lwnode.userside.tabular import Table

TEXT_FIELDS = ("description", "unit", "kind")


def _dictionary(columns: object, where: str) -> dict[str, dict[str, str]]:
    """``input.columns`` as {name: {description, unit, kind}}."""
    if not isinstance(columns, Mapping):
        raise InputError(f"{where}: input.columns must be a table of column = description")
    out: dict[str, dict[str, str]] = {}
    for name, value in columns.items():
        if isinstance(value, str):
            value = {"description": value}
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: input.columns.{name}: expected a description or a "
                             "table with description, unit, kind")
        unknown = sorted(set(value) - set(TEXT_FIELDS))
        if unknown:
            raise InputError(f"{where}: input.columns.{name}: unknown field(s) "
                             f"{', '.join(unknown)} (expected {', '.join(TEXT_FIELDS)})")
        if not all(isinstance(v, str) for v in value.values()):
            raise InputError(f"{where}: input.columns.{name}: values must be strings")
        out[str(name)] = {k: str(v) for k, v in value.items()}
    return out


def _show(names: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(names[:8])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 8 else "")


def complete_input(inp: Mapping[str, Any], table: Table, where: str, data_name: str
                   ) -> dict[str, Any]:
    """A semantic ``input`` section completed from a data file.

    Fills the dimension (the data's width) and, when the file has a header, one
    feature per column named by it, described by ``input.columns`` or
    ``input.features``; refuses descriptions of columns the header does not have and
    features whose names differ from it.
    """
    out = dict(inp)
    x = table.values
    width = int(x.shape[1]) if x.ndim == 2 else int(x[0].size)
    if "dimension" in out and out["dimension"] != width:
        raise InputError(f"{where}: input.dimension is {out['dimension']}, {data_name} has "
                         f"{width} columns")
    out["dimension"] = width
    columns = out.pop("columns", None)
    if columns is not None and "features" in out:
        raise InputError(f"{where}: give input.columns or input.features, not both")
    header = list(table.columns)
    if columns is not None:
        if not header:
            raise InputError(f"{where}: input.columns describes columns by name, but "
                             f"{data_name} has no header row to name them")
        described = _dictionary(columns, where)
        unknown = sorted(set(described) - set(header))
        if unknown:
            raise InputError(f"{where}: input.columns describes {_show(unknown)}, which "
                             f"{data_name} does not have (its columns: {_show(header)})")
        try:
            spec = InputSpec.from_columns(
                header, {n: d.get("description", "") for n, d in described.items()},
                units={n: d.get("unit", "") for n, d in described.items()},
                kinds={n: d.get("kind", "") for n, d in described.items()})
        except SpecError as exc:
            raise InputError(f"{data_name}: {exc}") from None
        out["features"] = [f.to_dict() for f in spec.features]
    elif "features" in out:
        names = [f.get("name") if isinstance(f, Mapping) else None
                 for f in out["features"] or []]
        if header and names != header:
            raise InputError(f"{where}: input.features name {_show([str(n) for n in names])}"
                             f"; the header of {data_name} is {_show(header)} (same columns, "
                             "same order)")
    elif header:
        try:
            spec = InputSpec.from_columns(header)
        except SpecError as exc:
            raise InputError(f"{data_name}: {exc}") from None
        out["features"] = [f.to_dict() for f in spec.features]
    return out


def user_input(table: Table, semantic: Mapping[str, Any] | None, where: str,
               data_name: str) -> InputSpec | None:
    """The user's columns as an `InputSpec` (None when the file names none)."""
    inp = complete_input((semantic or {}).get("input") or {}, table, where, data_name)
    if not inp.get("features"):
        return None
    try:
        return InputSpec.from_dict(inp)
    except SpecError as exc:
        raise InputError(f"{where}: {exc}") from None


# -- a user's columns against a learnware's ----------------------------------------------------
def _key(name: str) -> str:
    from engine.hetero.features import name_words

    return name_words(name).lower()


def column_difference(mine: list[str] | tuple[str, ...], theirs: list[str] | tuple[str, ...]
                      ) -> str:
    """"missing: a, b; extra: c": which of a learnware's columns `theirs` the user's
    header `mine` lacks, and which it has that the learnware does not take."""
    mine_keys = {_key(n) for n in mine}
    their_keys = {_key(n) for n in theirs}
    missing = [n for n in theirs if _key(n) not in mine_keys]
    extra = [n for n in mine if _key(n) not in their_keys]
    parts = []
    if missing:
        parts.append(f"missing {_show(missing)}")
    if extra:
        parts.append(f"extra {_show(extra)}")
    return "; ".join(parts) if parts else "the same names in another order"


def order_by_name(user: InputSpec | None, theirs: list[InputSpec]) -> list[int] | None:
    """The permutation that puts the user's columns in the learnwares' order, when every
    learnware that names its columns names the user's columns (as words, any case) in
    one and the same order other than the user's; None when nothing is to be reordered."""
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
