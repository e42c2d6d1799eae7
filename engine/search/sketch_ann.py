"""A vector index over one space's sketches, for spaces too large to scan.

The sketch phase scans every candidate's codes (`sketch_search.approx_mmd2`): at a
million sketches in one space that reads 256 MB per search, ~100 ms on the 2-core
reference machine, bound by memory bandwidth. A `SketchANN` instead names the few
hundred rows nearest to the requirement's embedding; the caller then computes their
estimates from its own codes as the scan would (`sketch_search.nearest_by_index`), so
the shortlist is the scan's wherever the index's candidates hold it, and its
estimates are the scan's.

The index is faiss's ``IndexIVFScalarQuantizer`` (inverted file, 8-bit scalar
quantiser per dimension), under L2 over the dequantised embeddings
``scale_i * codes_i`` (the vectors whose squared distance to ``e_q`` is the sketch
estimate of MMD^2). ``nlist`` ~ sqrt(N) coarse cells (a power of 2), trained by k-means
on at most `TRAIN_PER_LIST` x nlist rows of the space (a fixed seed); a search visits
the `NPROBE` nearest cells and returns `POOL_FACTOR` x n candidates. The rows a search
may return (the semantic filter's, minus withdrawn ones) are given as a bitmap, and
when the space holds sketches of several kernels (gammas) the requirement is embedded
and searched once per gamma, among that gamma's rows. Written once, beside the
segment's arrays, and opened memory-mapped (``faiss.IO_FLAG_MMAP_IFC``): its inverted
lists are file-backed pages, not the heap; only the coarse centroids (nlist x D
floats) are read in.

Chosen over usearch and hnswlib, and the parameters set, by
`benchmarks/vector_index.py` (docs/benchmarks.md, "Vector index for the sketch
phase"): on the node benchmark's sketches (one space, tight clusters of near
duplicates) its shortlists held the scan's with recall ~1.0 where HNSW graphs lost
whole clusters for some queries, it builds 13-38x faster and maps with no heap.

faiss is imported when an index is built or opened, not with this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from engine.errors import SearchError

ANN_MIN_ROWS: Final = 200_000
"""Spaces with at least this many sketches get an index (a scan of 200,000 took 44 ms
on the busy reference machine, the index ~1 ms)."""
ANN_MIN_CANDIDATES: Final = 50_000
"""Below this many candidates (after the semantic filter) a search scans them."""
NPROBE: Final = 32
"""Cells visited when every row is allowed (twice what the benchmark needed for
recall 1.0 at 200,000 and 1,000,000; a filter that keeps a share f of the rows
multiplies it by 1/f)."""
VISIT_COST: Final = 0.7
"""What a row the index visits costs, in rows scanned: faiss's 8-bit brute force took
0.7x the scan's time at 1,000,000 (`benchmarks/vector_index.py`)."""
POOL_FACTOR: Final = 2
TRAIN_PER_LIST: Final = 64
_ADD_ROWS = 65_536


def _faiss() -> Any:
    import faiss

    return faiss


def n_lists(n: int) -> int:
    """Coarse cells for n rows: the power of 2 nearest sqrt(n) (at least 1)."""
    return max(1, int(2 ** round(np.log2(max(1.0, np.sqrt(n))))))


def _vectors(codes: NDArray[Any], scale: NDArray[np.float64], rows: NDArray[np.int64]
             ) -> NDArray[np.float32]:
    return np.ascontiguousarray(codes[rows].astype(np.float32)
                                * scale[rows, None].astype(np.float32))


class SketchANN:
    """IVF indexes over one space's sketches, one per kernel gamma (each gamma's
    sketches live under their own feature map: one coarse quantiser over both would
    send a requirement's embedding under one gamma to cells of the other's); faiss
    ids are the rows of the space. See the module doc. Build with `build`, persist
    with `write`, map with `open`."""

    def __init__(self, parts: dict[float, Any]) -> None:
        self.parts = dict(sorted(parts.items()))

    @property
    def gammas(self) -> tuple[float, ...]:
        """The distinct kernel gammas of the rows."""
        return tuple(self.parts)

    def __len__(self) -> int:
        return sum(int(index.ntotal) for index in self.parts.values())

    @classmethod
    def build(cls, codes: NDArray[Any], scale: NDArray[np.float64],
              gamma: NDArray[np.float64], *, seed: int = 0) -> SketchANN:
        """The index of rows 0..N-1 of these columns (codes N x D)."""
        faiss = _faiss()
        d = codes.shape[1]
        if len(codes) == 0:
            raise SearchError("an index of no sketches")
        rng = np.random.default_rng(seed)
        parts = {}
        for g in np.unique(gamma):
            rows = np.flatnonzero(gamma == g)
            nlist = n_lists(len(rows))
            index = faiss.IndexIVFScalarQuantizer(
                faiss.IndexFlatL2(d), d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
            index.cp.seed = seed
            train = np.sort(rng.choice(rows, size=min(len(rows), TRAIN_PER_LIST * nlist),
                                       replace=False))
            index.train(_vectors(codes, scale, train))
            for start in range(0, len(rows), _ADD_ROWS):
                chunk = rows[start:start + _ADD_ROWS]
                index.add_with_ids(_vectors(codes, scale, chunk), chunk.astype(np.int64))
            parts[float(g)] = index
        return cls(parts)

    def write(self, directory: Path, stem: str) -> dict[str, str]:
        """One file per gamma in `directory` (the caller fsyncs it); returns
        {gamma as text: file name}."""
        faiss = _faiss()
        names = {}
        for j, (g, index) in enumerate(self.parts.items()):
            name = f"{stem}-{j}.faiss"
            faiss.write_index(index, str(directory / name))
            with open(directory / name, "rb+") as f:
                os.fsync(f.fileno())
            names[repr(g)] = name
        return names

    @classmethod
    def open(cls, directory: Path, names: dict[str, str]) -> SketchANN:
        """The files `write` returned, memory-mapped."""
        faiss = _faiss()
        # single queries: faiss's threads would only wait on each other on a busy node
        faiss.omp_set_num_threads(1)
        return cls({float(g): faiss.read_index(str(directory / name), faiss.IO_FLAG_MMAP_IFC)
                    for g, name in names.items()})

    def candidates(self, e_q: dict[float, NDArray[np.float64]], gamma: NDArray[np.float64],
                   allowed: NDArray[np.bool_] | None, n: int) -> NDArray[np.int64] | None:
        """Up to ``POOL_FACTOR * n`` rows per gamma nearest to its e_q, among the
        `allowed` ones (None: all), sorted. A filter that keeps a share f of a gamma's
        rows has its index visit 1/f times the cells (as many allowed rows as without
        a filter); None when visiting them costs more than scanning the rows the filter
        keeps (`VISIT_COST`)."""
        faiss = _faiss()
        plans = []  # (gamma, index, nprobe): the cells to visit, more under a filter
        visits = kept_total = 0
        for g, index in self.parts.items():
            nprobe, nlist, total = NPROBE, int(index.nlist), int(index.ntotal)
            if allowed is not None:
                kept = int(np.count_nonzero(allowed if len(self.parts) == 1 else
                                            allowed & (gamma == g)))
                if kept == 0:
                    continue
                nprobe, kept_total = -(-NPROBE * total // kept), kept_total + kept
            nprobe = min(nprobe, nlist)
            visits += nprobe * total // nlist
            plans.append((g, index, nprobe))
        if allowed is not None and VISIT_COST * visits > kept_total:
            return None
        # the bitmap and its selector must outlive the searches (faiss keeps pointers)
        bitmap = selector = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        found = [np.zeros(0, dtype=np.int64)]
        for g, index, nprobe in plans:
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            if selector is not None:
                params.sel = selector
            q = np.asarray(e_q[g], dtype=np.float32)[None]
            rows = index.search(q, POOL_FACTOR * n, params=params)[1][0]
            found.append(rows[rows >= 0])
        del bitmap, selector
        return np.unique(np.concatenate(found)).astype(np.int64)
