"""Reading a user's data files for the command line, with errors that say where.

``.csv`` / ``.tsv`` (an optional header row, then numbers) and ``.npy`` (numeric,
no pickles). Every problem is an `InputError` naming the file, the line and the
column, so ``lwnode`` can print one clear line instead of a traceback.

Missing values (an empty cell, ``NaN``, ``NA``, ``N/A``, ``null``, ``?``) are refused
unless an imputation is chosen (``--impute``, as scikit-learn's ``SimpleImputer``):
``mean`` or ``median`` of the column over the file's own rows, or ``zero``. The
statistics come from the file being read, so the same file gives the same filled
rows to ``search`` (its RKME) and to ``reuse`` (its predictions); a developer's
``pack`` fills the training rows the spec summarises the same way.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lwnode.errors import InputError

MAX_CELL_CHARS = 60
MISSING_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})
IMPUTE_STRATEGIES = ("mean", "median", "zero")


@dataclass(frozen=True)
class Table:
    """Rows as a float matrix (or an n-d array from ``.npy``), and column names if any."""

    values: NDArray[Any]
    columns: tuple[str, ...] = ()
    imputed: int = 0
    """How many missing values were filled (by the ``impute`` strategy)."""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _separator_hint(cell: str, path: Path) -> str:
    """" (columns are separated by commas)" when `cell` holds another separator (a
    semicolon or a tab: a file written for another locale or tool), else ""."""
    delimiter = _delimiter(path)
    if not any(sep in cell for sep in (";", "\t", ",") if sep != delimiter):
        return ""
    return " (columns are separated by tabs in a .tsv file)" if delimiter == "\t" else \
        " (columns are separated by commas)"


def _rows(path: Path) -> list[list[str]]:
    delimiter = _delimiter(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [row for row in csv.reader(f, delimiter=delimiter) if any(c.strip()
                                                                              for c in row)]
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None


def _open_check(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    return p


def impute(values: NDArray[Any], strategy: str, where: str) -> tuple[NDArray[Any], int]:
    """`values` with each NaN replaced by its column's mean / median over the other rows,
    or by 0; returns (filled copy, how many were filled). A column with no value at all
    cannot be filled from itself: refused."""
    if strategy not in IMPUTE_STRATEGIES:
        raise InputError(f"--impute: {strategy!r} is not one of {', '.join(IMPUTE_STRATEGIES)}")
    flat = values.reshape(len(values), -1).copy()
    missing = np.isnan(flat)
    n = int(missing.sum())
    if n == 0:
        return values, 0
    if strategy == "zero":
        flat[missing] = 0.0
    else:
        empty = np.flatnonzero(missing.all(axis=0))
        if len(empty):
            raise InputError(f"{where}: column {empty[0] + 1} has no value at all; --impute "
                             f"{strategy} fills a column from its own values")
        fill = np.nanmean(flat, axis=0) if strategy == "mean" else np.nanmedian(flat, axis=0)
        flat[missing] = np.take(fill, np.nonzero(missing)[1])
    return flat.reshape(values.shape), n


def _missing_hint(p: Path, n: int, first: str) -> InputError:
    return InputError(f"{p}: {n} missing value(s), the first {first}; drop those rows, or "
                      f"fill them (lwnode: --impute {'|'.join(IMPUTE_STRATEGIES)}, each "
                      "column's mean or median over your rows, or 0)")


def read_table(path: str | os.PathLike[str], impute_with: str | None = None) -> Table:
    """A numeric table from ``.csv``/``.tsv``/``.npy`` (see the module doc); missing
    values are filled by `impute_with` (mean, median or zero), else refused."""
    p = _open_check(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{p}: not a plain numeric .npy array ({exc})") from None
        except OSError as exc:
            raise InputError(f"{p}: cannot read ({exc})") from None
        if not np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_:
            raise InputError(f"{p}: expected numbers, got dtype {values.dtype}")
        if values.ndim < 2 or values.shape[0] == 0:
            raise InputError(f"{p}: expected rows of values (a 2-D array or images), got shape "
                             f"{values.shape}")
        values = values.astype(np.float64)
        if np.isinf(values).any():
            raise InputError(f"{p}: {int(np.isinf(values).sum())} infinite value(s)")
        n_missing = int(np.isnan(values).sum())
        if n_missing and impute_with is None:
            first_row = int(np.argwhere(np.isnan(values))[0][0])
            raise _missing_hint(p, n_missing, f"in row {first_row + 1}")
        if impute_with is not None:
            values, n_missing = impute(values, impute_with, str(p))
        return Table(values, imputed=n_missing)
    if suffix not in (".csv", ".tsv"):
        raise InputError(f"{p}: unsupported file type {suffix or '(none)'!r}; use .csv, .tsv "
                         "or .npy")
    rows = _rows(p)
    if not rows:
        raise InputError(f"{p}: no rows")
    columns: tuple[str, ...] = ()
    if any(_number(cell) is None and cell.strip().lower() not in MISSING_MARKERS
           for cell in rows[0]):  # a name, not a number or a missing value
        columns, rows = tuple(c.strip() for c in rows[0]), rows[1:]
        if not rows:
            raise InputError(f"{p}: a header row but no data rows")
    width = len(columns) or len(rows[0])
    values = np.empty((len(rows), width))
    start = 2 if columns else 1
    first_missing = ""
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InputError(f"{p} line {i + start}: {len(row)} values, expected {width}")
        for j, cell in enumerate(row):
            name = f" ({columns[j]!r})" if columns else ""
            if cell.strip().lower() in MISSING_MARKERS:
                values[i, j] = np.nan
                first_missing = first_missing or f"at line {i + start}, column {j + 1}{name}"
                continue
            number = _number(cell)
            if number is None or not np.isfinite(number):
                raise InputError(f"{p} line {i + start}, column {j + 1}{name}: "
                                 f"{cell[:MAX_CELL_CHARS]!r} is not a finite number"
                                 f"{_separator_hint(cell, p)}")
            values[i, j] = number
    n_missing = 0
    if first_missing:
        if impute_with is None:
            raise _missing_hint(p, int(np.isnan(values).sum()), first_missing)
        values, n_missing = impute(values, impute_with, str(p))
    return Table(values, columns, n_missing)


_LABEL_HEADERS = ("label", "labels", "y", "target", "class", "prediction")


def _labels_header(rows: list[list[str]]) -> bool:
    """Is the first line a column name? A usual one (`lwnode reuse`'s own output says
    ``prediction``), or any word above lines that are all numbers."""
    first = rows[0][0].strip()
    if first.lower() in _LABEL_HEADERS:
        return True
    return _number(first) is None and len(rows) > 1 and all(
        len(r) == 1 and _number(r[0]) is not None for r in rows[1:])


def read_labels(path: str | os.PathLike[str]) -> NDArray[Any]:
    """One label per row: integers, numbers or class names. A first line that names the
    column is skipped: label, labels, y, target, class or prediction, or any name above
    numeric labels (class names under another header cannot be told from a class)."""
    p = _open_check(path)
    if p.suffix.lower() == ".npy":
        try:
            values = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{p}: not a plain .npy array ({exc})") from None
        if values.ndim != 1 or len(values) == 0:
            raise InputError(f"{p}: expected a 1-D array of labels, got shape {values.shape}")
        return values
    if p.suffix.lower() not in (".csv", ".tsv"):
        raise InputError(f"{p}: unsupported file type {p.suffix!r}; use .csv or .npy")
    rows = _rows(p)
    if rows and len(rows[0]) == 1 and _labels_header(rows):
        rows = rows[1:]
    if not rows:
        raise InputError(f"{p}: no labels")
    bad = next((i for i, r in enumerate(rows) if len(r) != 1), None)
    if bad is not None:
        raise InputError(f"{p} line {bad + 1}: expected one label per line, got {len(rows[bad])}"
                         " values")
    cells = [r[0].strip() for r in rows]
    numbers = [_number(c) for c in cells]
    if all(n is not None for n in numbers):
        floats = np.array(numbers, dtype=np.float64)
        if np.all(floats == np.round(floats)) and np.all(np.isfinite(floats)):
            return floats.astype(np.int64)
        return floats
    return np.array(cells)


def predictions_csv(predictions: NDArray[Any]) -> bytes:
    """One prediction per line under a ``prediction`` header (or one column per output),
    as CSV bytes (the command line writes them whole with `lwnode.cli.commands`)."""
    values = np.asarray(predictions)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    if values.ndim == 1:
        writer.writerow(["prediction"])
        writer.writerows([v] for v in values.tolist())
    else:
        writer.writerow([f"prediction_{j}" for j in range(values.shape[1])])
        writer.writerows(values.tolist())
    return text.getvalue().encode("utf-8")


def write_predictions(path: str | os.PathLike[str], predictions: NDArray[Any]) -> None:
    """`predictions_csv` into `path` (the web page's job file)."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise InputError(f"{p.parent}: no such directory")
    p.write_bytes(predictions_csv(predictions))
