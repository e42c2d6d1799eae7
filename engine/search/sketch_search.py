"""Sketch-then-exact search: rank by sketches, re-rank a shortlist on full specs.

A node that keeps only sketches (`engine.search.sketch`) of the learnwares it knows
answers a requirement in three steps:

1. semantic filter (the same rules as `Catalog`: `semantic_filter.SemanticIndex`);
2. rank the candidates of the requirement's space by ``||e_q - e_i||^2``, the sketch
   estimate of MMD^2 (the requirement embedded unquantised under each candidate
   gamma's map, the candidates dequantised), and keep the `shortlist` nearest. A
   candidate is ranked here under its own kernel, not yet the pair kernel of the
   exact step (as the `Catalog`'s index does); the synthetic market's specs carry
   two kernels per space, so the measured recall covers this;
3. fetch those candidates' full specs through the caller's `fetch` (a node fetches
   them by content id from its cache, the owner or a peer) and search them exactly
   with a `Catalog`: exact MMD^2, top-k, and the mixture as in a full-spec search.

If the shortlist holds the exact top-k (and, for the mixture, the exact 12 best), the
answer is the exact search's over all candidates. Recall@5 against an exact search
on full specs is measured by `benchmarks/sketch_recall.py` and tested on a small
market (`tests/unit/test_sketch_search.py`).

Heterogeneous matches (tables over other columns, `engine.hetero`) need the
candidates' full specs of other spaces and are not part of this path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SearchError
from engine.search import semantic_filter as sf
from engine.search.catalog import MIXTURE_POOL, Catalog
from engine.search.columns import Columns
from engine.search.entries import SpaceEntries
from engine.search.results import Match, Requirement, SearchResult
from engine.search.scoring import score_from
from engine.search.sketch import (
    DEFAULT_SKETCH_FEATURES,
    SKETCH_DTYPES,
    SKETCH_VERSION,
    Sketch,
    embedding,
)
from engine.search.sketch_ann import SketchANN
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec

Array = NDArray[np.float64]
SketchColumns = Mapping[str, NDArray[Any]] | Columns
"""Row-aligned sketch columns: ``codes`` (rows x D), ``scale``, ``gamma``, ``sq_norm``."""
SpecFetcher = Callable[[Sequence[str]], Mapping[str, RKMESpec]]
"""Given ids, return the full specs it could get (missing ids are left out). The caller
vouches for them: a node checks a fetched spec against the signed content id."""

DEFAULT_SKETCH_SHORTLIST = 100
"""Tuned on the tuning seeds of `benchmarks/sketch_recall.py` (docs/benchmarks.md)."""
_SCAN_ROWS = 1024
"""Rows of codes converted to float32 at once in the scan: a block that stays in the
CPU's cache between the conversion and the product (3.6x faster than 32,768 rows at
a time, measured on 280,000 codes of D = 256). At a million rows a scan reads 256 MB
of codes, and memory bandwidth is the limit: ~80 ms on this machine, the same in two
threads (measured), ~55 ms of it the conversion."""


class _SketchGroup:
    """The sketches of one comparison space, as row-aligned columns."""

    def __init__(self, space: str, n_features: int, dtype: str) -> None:
        self.space = space
        codes = {name: (np.int8, ()) for name in sf.CLASS_FIELDS}
        self.rows = Columns({
            "codes": (SKETCH_DTYPES[dtype], (n_features,)), "scale": (np.float64, ()),
            "gamma": (np.float64, ()), "sq_norm": (np.float64, ()), "alive": (np.bool_, ()),
            "input_dim": (np.int32, ()), **codes})
        self.ids: list[str | None] = []
        self.dead = 0

    def add(self, entry_id: str, semantic: SemanticSpec, sketch: Sketch) -> int:
        vector = sketch.vector()
        row = self.rows.append(
            codes=np.frombuffer(sketch.codes, dtype=self.rows["codes"].dtype),
            scale=sketch.scale, gamma=sketch.gamma, sq_norm=float(vector @ vector), alive=True,
            input_dim=semantic.input.dimension if semantic.input is not None else 0,
            **sf.class_codes(semantic))
        self.ids.append(entry_id)
        return row

    def kill(self, row: int) -> None:
        self.rows.set("alive", row, False)
        self.ids[row] = None
        self.dead += 1

    def compact(self) -> dict[str, int]:
        """Drop dead rows; returns the new row of every live id."""
        self.rows.compact(self.rows["alive"].copy())
        self.ids = [i for i in self.ids if i is not None]
        self.dead = 0
        return {entry_id: row for row, entry_id in enumerate(self.ids) if entry_id is not None}


def approx_mmd2(columns: SketchColumns, rows: NDArray[np.int64], e_q: dict[float, Array]
                ) -> Array:
    """``||e_q - e_i||^2`` for `rows` of `columns` (strictly increasing, as
    `np.flatnonzero` gives them), with e_q per gamma (see module doc)."""
    n = len(rows)
    codes = columns["codes"]
    # every row in order (nothing filtered out): read the columns as slices, not gathered
    whole = n == len(codes)

    def column(name: str) -> NDArray[Any]:
        return columns[name][:n] if whole else columns[name][rows]

    gammas = sorted(e_q)
    q = np.stack([e_q[g] for g in gammas], axis=1).astype(np.float32)
    dots = np.empty((n, len(gammas)), dtype=np.float32)
    buffer = np.empty((min(_SCAN_ROWS, n), codes.shape[1]), dtype=np.float32)
    for start in range(0, n, _SCAN_ROWS):
        stop = min(start + _SCAN_ROWS, n)
        block = buffer[:stop - start]
        np.copyto(block, codes[start:stop] if whole else codes[rows[start:stop]],
                  casting="unsafe")
        np.dot(block, q, out=dots[start:stop])
    self_q = np.array([float(e_q[g] @ e_q[g]) for g in gammas])
    if len(gammas) == 1:
        picked, base = dots[:, 0].astype(np.float64), self_q[0]
    else:
        which = np.searchsorted(gammas, column("gamma"))  # each row's gamma, as q's column
        picked, base = dots[np.arange(n), which].astype(np.float64), self_q[which]
    return base + column("sq_norm") - 2.0 * column("scale") * picked


def nearest_by_sketch(spec: RKMESpec, columns: SketchColumns, rows: NDArray[np.int64],
                      n: int, *, n_features: int, version: int
                      ) -> tuple[NDArray[np.int64], Array, Array]:
    """The `n` rows of `rows` nearest to `spec` by sketch, best first, with their
    estimates of MMD^2 and the scores those give (`SketchIndex.shortlist_scored`)."""
    e_q = {float(g): embedding(spec, float(g), n_features=n_features, version=version)
           for g in np.unique(columns["gamma"][rows])}
    return _nearest(columns, rows, n, e_q)


def nearest_by_index(spec: RKMESpec, columns: SketchColumns, allowed: NDArray[np.bool_] | None,
                     n: int, ann: SketchANN, *, n_features: int, version: int
                     ) -> tuple[NDArray[np.int64], Array, Array] | None:
    """`nearest_by_sketch` over the rows `allowed` (None: all rows of `columns`, the
    rows `ann` indexes), among the candidates `ann` names: their estimates from the
    codes, as the scan computes them. None when the filter is too narrow for the index
    (`SketchANN.candidates`) or the index names fewer than n allowed rows while more
    are allowed: the caller scans them."""
    e_q = {g: embedding(spec, g, n_features=n_features, version=version) for g in ann.gammas}
    rows = ann.candidates(e_q, columns["gamma"], allowed, n)
    if rows is None:
        return None
    n_allowed = len(columns["gamma"]) if allowed is None else int(np.count_nonzero(allowed))
    if len(rows) < min(n, n_allowed):
        return None
    return _nearest(columns, rows, n, e_q)


def _nearest(columns: SketchColumns, rows: NDArray[np.int64], n: int, e_q: dict[float, Array]
             ) -> tuple[NDArray[np.int64], Array, Array]:
    approx = approx_mmd2(columns, rows, e_q)
    if len(rows) > n:
        keep = np.argpartition(approx, n - 1)[:n]
        rows, approx = rows[keep], approx[keep]
    order = np.argsort(approx, kind="stable")
    rows, approx = rows[order], np.maximum(approx[order], 0.0)
    q_self = np.array([float(e_q[float(g)] @ e_q[float(g)]) for g in columns["gamma"][rows]])
    scores = np.atleast_1d(score_from(approx, q_self, columns["sq_norm"][rows]))
    return rows, approx, scores


class SketchIndex(SpaceEntries[_SketchGroup]):
    """Sketches and semantic specs of the learnwares a node knows; sketch-then-exact search.

    Parameters
    ----------
    n_features : int, default 256
        D of the sketches it holds (all must agree: they are compared in one space).
    dtype : {"int8", "float16"}, default "int8"
        Quantisation of the sketches it holds.
    version : int, default `SKETCH_VERSION`
        Sketch family of the sketches it holds.
    shortlist : int, default `DEFAULT_SKETCH_SHORTLIST`
        Candidates whose full specs are fetched and searched exactly.

    Adding an id that is already present replaces that entry.
    """

    def __init__(self, *, n_features: int = DEFAULT_SKETCH_FEATURES, dtype: str = "int8",
                 version: int = SKETCH_VERSION, shortlist: int = DEFAULT_SKETCH_SHORTLIST
                 ) -> None:
        if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1:
            raise SearchError(f"shortlist: expected a positive integer, got {shortlist!r}")
        if dtype not in SKETCH_DTYPES:
            raise SearchError(f"dtype: {dtype!r} is not one of {sorted(SKETCH_DTYPES)}")
        self.n_features, self.dtype, self.version = n_features, dtype, version
        self.shortlist = shortlist
        super().__init__()

    # -- contents -------------------------------------------------------------------------
    def add(self, entry_id: str, semantic: SemanticSpec, sketch: Sketch) -> None:
        """Insert (or replace) an entry by its sketch."""
        self._check_entry(entry_id, semantic)
        if not isinstance(sketch, Sketch):
            raise SearchError("sketch: expected a Sketch")
        got = (sketch.n_features, sketch.dtype, sketch.version)
        if got != (self.n_features, self.dtype, self.version):
            raise SearchError(f"sketch: D={got[0]}, {got[1]}, version {got[2]}; this index "
                              f"holds D={self.n_features}, {self.dtype}, version {self.version}")
        if entry_id in self._where:
            self.remove(entry_id)
        group = self._groups.get(sketch.space)
        if group is None:
            group = self._groups[sketch.space] = _SketchGroup(sketch.space, self.n_features,
                                                              self.dtype)
        self._placed(entry_id, semantic, sketch.space, group.add(entry_id, semantic, sketch))

    def nbytes(self) -> int:
        """Bytes held in the index's numpy arrays (excludes Python objects)."""
        return sum(g.rows.nbytes() for g in self._groups.values())

    # -- search ---------------------------------------------------------------------------
    def shortlist_for(self, requirement: Requirement, n: int | None = None
                      ) -> tuple[list[str], int]:
        """The ids of the `n` (default: `shortlist`) candidates nearest by sketch, best
        first, and the number of candidates that passed the semantic filter."""
        scored, n_candidates = self.shortlist_scored(requirement, n)
        return [m.id for m in scored], n_candidates

    def shortlist_scored(self, requirement: Requirement, n: int | None = None
                         ) -> tuple[list[Match], int]:
        """`shortlist_for` with each candidate's sketch estimates: ``||e_q - e_i||^2``
        for MMD^2 and the score it gives with ``||e_q||^2`` and ``||e_i||^2`` for the
        self inner products (`Match.approximate`)."""
        spec = _statistical(requirement)
        n = self.shortlist if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SearchError(f"n: expected a positive integer, got {n!r}")
        group = self._groups.get(spec.space)
        if group is None:
            return [], 0
        rows = self._candidate_rows(group, requirement.semantic,
                                    self._sem.allowed(requirement.semantic))
        if len(rows) == 0:
            return [], 0
        near, approx, scores = nearest_by_sketch(spec, group.rows, rows, n,
                                                 n_features=self.n_features,
                                                 version=self.version)
        return [Match(group.ids[int(r)] or "", float(a), float(s), approximate=True)
                for r, a, s in zip(near, approx, scores, strict=True)], len(rows)

    def search(self, requirement: Requirement, fetch: SpecFetcher, k: int = 5,
               max_mixture: int = 3) -> SearchResult:
        """Sketch shortlist, full specs by `fetch`, exact ranking and mixture.

        `n_candidates` counts the candidates the sketches ranked; `exact` is True
        only when every one of them was searched exactly. Ids `fetch` could not
        supply are left out, with a note.
        """
        spec = _statistical(requirement)
        for name, value in (("k", k), ("max_mixture", max_mixture)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SearchError(f"{name}: expected a positive integer, got {value!r}")
        # never fewer than the exact step ranks: k singles, MIXTURE_POOL for the mixture
        ids, n_all = self.shortlist_for(requirement, max(self.shortlist, k, MIXTURE_POOL))
        if not ids:
            return SearchResult((), None, 0, True, spec.gamma_,
                                (f"no learnware in space {spec.space} passes the filter",))
        got = fetch(ids)
        exact_catalog = Catalog(index=False)
        blank = SemanticSpec()  # already filtered; blank keeps hetero search out
        fulls = [(i, got.get(i)) for i in ids]
        usable = [(i, f) for i, f in fulls if isinstance(f, RKMESpec) and f.space == spec.space]
        missing = len(ids) - len(usable)
        work = sum(float(f.points_.size) * len(f.points_) for _, f in usable)
        with kernel.blas_threads_for(work):  # many small self inner products
            for entry_id, full in usable:
                exact_catalog.add(entry_id, blank, full)
        if len(exact_catalog) == 0:
            return SearchResult((), None, n_all, False, spec.gamma_,
                                (f"none of {len(ids)} shortlisted full specs could be fetched",))
        found = exact_catalog.search(Requirement(spec=spec), k=k, max_mixture=max_mixture,
                                     exact=True)
        notes: tuple[str, ...] = ()
        if missing:
            notes = (f"{missing} of {len(ids)} shortlisted full specs could not be fetched",)
        return SearchResult(found.single, found.mixture, n_all,
                            missing == 0 and len(ids) == n_all, found.gamma, notes)


def _statistical(requirement: Requirement) -> RKMESpec:
    if not isinstance(requirement, Requirement):
        raise SearchError("requirement: expected a Requirement")
    if requirement.spec is None:
        raise SearchError("requirement: sketch search needs a statistical spec (a "
                          "semantic-only search needs no sketches)")
    return requirement.spec

