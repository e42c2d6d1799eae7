"""Where a catalog group keeps its reduced-set points: in memory, or in a scratch file.

Points are the bulk of a catalog (K x d float32 per entry: 4 KB at K=100, d=10;
400 MB at 100,000 entries), but a search reads only the shortlisted entries' points.
`FilePoints` keeps them in an append-only file and reads rows with `pread`, so a node
with a large catalog keeps only the index and the per-entry constants in memory.
The file is scratch — it is rebuilt from the node's store at start-up — and is used
only when the caller passes a directory (the engine does no hidden disk I/O).

Each point is one record of d+1 float32: its coordinates, then its weight.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from engine.search.columns import Columns

Array = NDArray[np.float64]
Index = NDArray[np.int64]


def segments(starts: Index, counts: Index) -> tuple[Index, Index]:
    """Point indices of several rows, and each row's offset in the concatenation."""
    offsets = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    idx = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    return idx, offsets


class PointStore(Protocol):
    @property
    def n(self) -> int: ...

    def extend(self, z: NDArray[np.float32], w: NDArray[np.float32]) -> int: ...
    def gather(self, starts: Index, counts: Index) -> tuple[Array, Array, Index]: ...
    def compact(self, keep: NDArray[np.bool_]) -> None: ...
    def nbytes(self) -> int: ...


class MemoryPoints:
    """Points in two growable in-memory columns."""

    def __init__(self, dim: int) -> None:
        self._cols = Columns({"z": (np.float32, (dim,)), "w": (np.float32, ())}, capacity=1024)

    @property
    def n(self) -> int:
        return self._cols.n

    def extend(self, z: NDArray[np.float32], w: NDArray[np.float32]) -> int:
        return self._cols.extend(len(z), z=z, w=w)

    def gather(self, starts: Index, counts: Index) -> tuple[Array, Array, Index]:
        idx, offsets = segments(starts, counts)
        return (self._cols["z"][idx].astype(np.float64), self._cols["w"][idx].astype(np.float64),
                offsets)

    def compact(self, keep: NDArray[np.bool_]) -> None:
        self._cols.compact(keep)

    def nbytes(self) -> int:
        return self._cols.nbytes()


class FilePoints:
    """Points in an append-only scratch file, read back with `pread`."""

    def __init__(self, directory: str | os.PathLike[str], space: str, dim: int) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", space)
        self.path = Path(directory) / f"points-{safe}.f32"
        self.dim = dim
        self._record = (dim + 1) * 4
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.n = 0

    def extend(self, z: NDArray[np.float32], w: NDArray[np.float32]) -> int:
        block = np.empty((len(z), self.dim + 1), dtype="<f4")
        block[:, :-1] = z
        block[:, -1] = w
        first = self.n
        os.pwrite(self._fd, block.tobytes(), first * self._record)
        self.n += len(z)
        return first

    def gather(self, starts: Index, counts: Index) -> tuple[Array, Array, Index]:
        offsets = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        buf = bytearray(int(counts.sum()) * self._record)
        view = memoryview(buf)
        pos = 0
        for start, count in zip(starts.tolist(), counts.tolist(), strict=True):
            size = count * self._record
            got = os.preadv(self._fd, [view[pos:pos + size]], start * self._record)
            if got != size:
                raise OSError(f"catalog points file {self.path} is truncated")
            pos += size
        block = np.frombuffer(buf, dtype="<f4").reshape(-1, self.dim + 1).astype(np.float64)
        return block[:, :-1], block[:, -1], offsets

    def compact(self, keep: NDArray[np.bool_]) -> None:
        raw = os.pread(self._fd, self.n * self._record, 0)
        block = np.frombuffer(raw, dtype="<f4").reshape(-1, self.dim + 1)[keep[: self.n]]
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, block.tobytes(), 0)
        self.n = len(block)

    def nbytes(self) -> int:
        return 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.path.unlink(missing_ok=True)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass
