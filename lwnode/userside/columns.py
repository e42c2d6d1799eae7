"""The columns of a user's or developer's table, for the command line.

A CSV header names the columns; a semantic TOML may describe them, in one of two
forms (both checked against the header, so a typo is an error, not a silent
mismatch):

.. code-block:: toml

    [input.columns]                       # a data dictionary, by column name
    births_lag1 = "births the day before"
    temp = { description = "daily mean temperature", unit = "C", kind = "float",
             range = [-40, 50] }

    [[input.features]]                    # or one entry per column, in order
    name = "births_lag1"
    description = "births the day before"
    range = [0, 2000]

Descriptions are what lets a search or a reuse map columns across feature spaces
(`engine.hetero`); names alone are enough when both sides use the same columns. A
``range`` is the values the column can take, declared (not read from the rows): the
differentially private mode places its synthetic points inside it
(`lwnode.userside.privacy.resolve_dp`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.hetero.features import shown_names
from engine.specification.semantic import (
    FEATURE_TEXT_CHARS,
    InputSpec,
    declared_range,
    text_problem,
)
from lwnode.errors import InputError
from lwnode.userside.tabular import Table

TEXT_FIELDS = ("description", "unit", "kind")
COLUMN_FIELDS = (*TEXT_FIELDS, "range")


def _dictionary(columns: object, where: str) -> dict[str, dict[str, Any]]:
    """``input.columns`` as {name: {description, unit, kind, range}}; the range is
    checked by `Feature` (finite, low below high), which names the column."""
    if not isinstance(columns, Mapping):
        raise InputError(f"{where}: input.columns must be a table of column = description")
    out: dict[str, dict[str, Any]] = {}
    for name, value in columns.items():
        if isinstance(value, str):
            value = {"description": value}
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: input.columns.{name}: expected a description or a "
                             f"table with {', '.join(COLUMN_FIELDS)}")
        unknown = sorted(set(value) - set(COLUMN_FIELDS))
        if unknown:
            raise InputError(f"{where}: input.columns.{name}: unknown field(s) "
                             f"{', '.join(unknown)} (expected {', '.join(COLUMN_FIELDS)})")
        for field in TEXT_FIELDS:  # refused here, in the TOML's words, as it was written
            problem = text_problem(value.get(field, ""), FEATURE_TEXT_CHARS[field])
            if problem is not None:
                raise InputError(f"{where}: input.columns.{name}: {field}: {problem}")
        out[str(name)] = dict(value)
        if "range" in value:
            try:
                out[str(name)]["range"] = declared_range(
                    value["range"], str(name), where=f"input.columns.{name}: range")
            except SpecError as exc:
                raise InputError(f"{where}: {exc}") from None
    return out


def _header_columns(header: list[str], described: dict[str, dict[str, Any]],
                    data_name: str) -> InputSpec:
    """The header's columns with their descriptions; the TOML's fields are checked by
    `_dictionary` first, so what is refused here is the header's: said so."""
    try:
        return InputSpec.from_columns(
            header, {n: d.get("description", "") for n, d in described.items()},
            units={n: d.get("unit", "") for n, d in described.items()},
            kinds={n: d.get("kind", "") for n, d in described.items()},
            ranges={n: d["range"] for n, d in described.items() if "range" in d})
    except SpecError as exc:
        raise InputError(f"{data_name}: in its header, {exc}") from None


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
            raise InputError(f"{where}: input.columns describes {shown_names(unknown)}, which "
                             f"{data_name} does not have (its columns: {shown_names(header)})")
        spec = _header_columns(header, described, data_name)
        out["features"] = [f.to_dict() for f in spec.features]
    elif "features" in out:
        names = [f.get("name") if isinstance(f, Mapping) else None
                 for f in out["features"] or []]
        if header and names != header:
            raise InputError(f"{where}: input.features name "
                             f"{shown_names([str(n) for n in names])}; the header of "
                             f"{data_name} is {shown_names(header)} (same columns, same order)")
    elif header:
        out["features"] = [f.to_dict() for f in _header_columns(header, {}, data_name).features]
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


# The name matching (`order_by_name`, `column_difference`, `reordered`) is the engine's
# (`engine.hetero.features`): search compares a learnware over the user's column names in
# another order the same way reuse feeds it, by one function.
