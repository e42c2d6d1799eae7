"""Row-aligned growable numpy columns, so a catalog of 100k entries stays vectorised.

Every per-entry quantity (semantic codes, kernel constants, index vectors, where the
entry's points start) lives in one column of a `Columns` table; appending doubles
capacity when full, and `compact` drops dead rows from every column at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


class Columns:
    """A table of equal-length numpy columns with amortised O(1) append."""

    def __init__(self, spec: dict[str, tuple[Any, tuple[int, ...]]], capacity: int = 64) -> None:
        # spec: name -> (dtype, trailing shape)
        self._spec = dict(spec)
        self._cap = capacity
        self.n = 0
        self._data: dict[str, NDArray[Any]] = {
            name: np.zeros((capacity, *shape), dtype=dtype)
            for name, (dtype, shape) in self._spec.items()
        }

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self._data[name][: self.n]

    def add_column(self, name: str, dtype: Any, shape: tuple[int, ...], fill: Any = 0) -> None:
        self._spec[name] = (dtype, shape)
        self._data[name] = np.full((self._cap, *shape), fill, dtype=dtype)

    def has(self, name: str) -> bool:
        return name in self._data

    def _reserve(self, extra: int) -> None:
        if self.n + extra <= self._cap:
            return
        while self.n + extra > self._cap:
            self._cap *= 2
        for name, arr in self._data.items():
            grown = np.zeros((self._cap, *arr.shape[1:]), dtype=arr.dtype)
            grown[: self.n] = arr[: self.n]
            self._data[name] = grown

    def append(self, **values: Any) -> int:
        """Append one row; returns its index."""
        return self.extend(1, **{k: np.asarray(v)[None] for k, v in values.items()})

    def extend(self, n_rows: int, /, **blocks: Any) -> int:
        """Append `n_rows` rows given as arrays of that length; returns the first index."""
        self._reserve(n_rows)
        first = self.n
        for name, block in blocks.items():
            self._data[name][first:first + n_rows] = block
        self.n += n_rows
        return first

    def set(self, name: str, row: int, value: Any) -> None:
        self._data[name][row] = value

    def compact(self, keep: NDArray[np.bool_]) -> None:
        """Keep only rows where `keep` is True, in order."""
        kept = int(keep.sum())
        for arr in self._data.values():
            arr[:kept] = arr[: self.n][keep]
        self.n = kept

    def nbytes(self) -> int:
        return sum(arr.nbytes for arr in self._data.values())
