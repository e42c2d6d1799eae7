"""`Catalog`: the specs a dock knows, and search over them.

Layout. Entries are grouped by comparison space (`RKMESpec.space`: tables of one
dimension, images under one feature map, ...); a requirement is compared only with
its own space. Inside a group, all reduced-set points sit back to back in one float32
array, and every per-entry quantity (where its points start, its gamma, its kernel
self inner product, semantic codes, index vector) is a row-aligned numpy column. A
search is therefore a few vectorised passes, not a Python loop over entries.

Search. Semantic filter -> candidate rows -> (if there are more candidates than the
shortlist) random-Fourier-feature index shortlist -> exact MMD^2 re-rank -> top-k
singles -> greedy mixture over the best few, weights by the simplex QP. Per-entry
constants (self inner products, index vectors and their squared norms) are computed
once, at insert. Table learnwares that name their columns are also held in a
`TableIndex`, which heterogeneous search reads instead of every semantic spec.

Memory. A search's working memory is bounded by `memory_budget` whatever the
candidates hold (a peer may announce specs of thousands of points): kernel values are
summed in blocks of at most half the budget (`engine.kernel.block_shape`), points are
gathered for re-ranking in batches of at most a quarter of it, and the mixture's
inner products are computed a candidate's row at a time, as the greedy selection
reads them (`engine.search.mixture.LazyGram`), each row in bounded blocks.

Precision. Points are held in float32 (half the memory of float64); the effect on
MMD^2 is below 1e-6 relative and is checked by the tests against float64 maths.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import SearchError
from engine.params import Constraints, Interval, validate_params
from engine.search import semantic_filter as sf
from engine.search.columns import Columns
from engine.search.entries import SpaceEntries
from engine.search.mixture import LazyGram, best_mixture
from engine.search.points import FilePoints, MemoryPoints, PointStore
from engine.search.results import Match, Mixture, Requirement, SearchResult
from engine.search.rff import RFFMap
from engine.search.scoring import cross_inner, score_from
from engine.search.tables import TableIndex
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec

Array = NDArray[np.float64]

DEFAULT_SHORTLIST = 200
DEFAULT_INDEX_FEATURES = 128
MIXTURE_POOL = 12
_EXACT_BLOCK = 4096
DEFAULT_MEMORY_BUDGET = 128 << 20
"""Bytes of working memory one search may use for kernel blocks and gathered points
(128 MiB: a mixture pool of 12 specs of 100 points fits in one block, exactly as
before budgets existed)."""


@dataclass(frozen=True)
class CatalogEntry:
    """One learnware as the catalog holds it (points rounded to float32)."""

    id: str
    semantic: SemanticSpec
    spec: RKMESpec


class _SpaceGroup:
    """All entries of one comparison space."""

    def __init__(self, space: str, dim: int, spec_cls: type[RKMESpec], n_features: int,
                 seed: int, points_dir: str | os.PathLike[str] | None) -> None:
        self.space, self.dim, self.spec_cls = space, dim, spec_cls
        self.n_features, self.seed = n_features, seed
        codes = {name: (np.int8, ()) for name in sf.CLASS_FIELDS}
        self.rows = Columns({
            "start": (np.int64, ()), "count": (np.int64, ()), "gamma": (np.float64, ()),
            "self_inner": (np.float64, ()), "alive": (np.bool_, ()), "input_dim": (np.int32, ()),
            "index": (np.float32, (n_features,)), "index_sq": (np.float64, ()), **codes,
        })
        self.pts: PointStore = (MemoryPoints(dim) if points_dir is None
                                else FilePoints(points_dir, space, dim))
        self.ids: list[str | None] = []
        self.meta: list[tuple[int, dict[str, Any]] | None] = []
        self.maps: dict[float, RFFMap] = {}
        self.dead = 0

    def rff(self, gamma: float) -> RFFMap:
        if gamma not in self.maps:
            self.maps[gamma] = RFFMap(self.dim, gamma, self.n_features,
                                      f"index/{self.seed}/{self.space}")
        return self.maps[gamma]

    def add(self, entry_id: str, semantic: SemanticSpec, spec: RKMESpec,
            kernel_bytes: int = kernel.BLOCK_BYTES) -> int:
        z = spec.points_.astype(np.float32)
        w = spec.weights_.astype(np.float32)
        start = self.pts.extend(z, w)
        z64, w64 = z.astype(np.float64), w.astype(np.float64)
        gamma = float(spec.gamma_)
        codes = sf.class_codes(semantic)
        index = (self.rff(gamma).embed(z64, w64, kernel_bytes).astype(np.float32)
                 if self.n_features else np.zeros(0, np.float32))
        row = self.rows.append(
            start=start, count=len(z), gamma=gamma, alive=True,
            self_inner=kernel.mean_inner(z64, w64, z64, w64, gamma, kernel_bytes),
            input_dim=semantic.input.dimension if semantic.input is not None else 0,
            index=index, index_sq=float(index.astype(np.float64) @ index), **codes,
        )
        self.ids.append(entry_id)
        params = spec.to_dict()["params"]
        self.meta.append((int(spec.n_samples_), params))
        return row

    def by_gamma(self, rows: NDArray[np.int64]) -> list[tuple[float, NDArray[np.int64]]]:
        """Each gamma among `rows`, with the positions in `rows` that carry it; no scan
        when the space has only ever held one gamma (the usual case: `auto_gamma`
        snaps bandwidths)."""
        if len(self.maps) == 1:
            return [(next(iter(self.maps)), np.arange(len(rows)))]
        gammas = self.rows["gamma"][rows]
        return [(float(g), np.flatnonzero(gammas == g)) for g in np.unique(gammas)]

    def kill(self, row: int) -> None:
        self.rows.set("alive", row, False)
        self.ids[row] = None
        self.meta[row] = None
        self.dead += 1

    def live(self) -> int:
        return self.rows.n - self.dead

    def compact(self) -> dict[str, int]:
        """Drop dead rows and their points; returns the new row of every live id."""
        alive = self.rows["alive"].copy()
        counts = self.rows["count"]
        point_keep = np.repeat(alive, counts)
        self.pts.compact(point_keep)
        self.rows.compact(alive)
        new_counts = self.rows["count"]
        starts = np.zeros(len(new_counts), dtype=np.int64)
        np.cumsum(new_counts[:-1], out=starts[1:])
        self.rows["start"][:] = starts
        self.ids = [i for i in self.ids if i is not None]
        self.meta = [m for m in self.meta if m is not None]
        self.dead = 0
        return {entry_id: row for row, entry_id in enumerate(self.ids) if entry_id is not None}

    def gather(self, rows: NDArray[np.int64]) -> tuple[Array, Array, NDArray[np.int64]]:
        """Concatenated points and weights of `rows`, and each row's offset."""
        return self.pts.gather(self.rows["start"][rows], self.rows["count"][rows])

    def spec_of(self, row: int) -> RKMESpec:
        meta = self.meta[row]
        assert meta is not None
        z, w, _ = self.gather(np.array([row]))
        spec = self.spec_cls.from_dict({
            "type": self.spec_cls.kind, "format": 1, "space": self.space,
            "gamma": float(self.rows["gamma"][row]), "n_samples": meta[0],
            "points": z, "weights": w / w.sum(), "params": meta[1],
        })
        return spec


class Catalog(SpaceEntries[_SpaceGroup]):
    """Learnware specs a dock knows, with semantic + statistical search.

    Parameters
    ----------
    index : bool, default True
        Use the random-Fourier-feature index to shortlist when a space holds more
        candidates than `shortlist`. False always scans exactly (for testing).
    shortlist : int, default 200
        How many index candidates are re-ranked by exact MMD^2.
    n_features : int, default 128
        Random Fourier features per index vector.
    random_state : int, default 0
        Seed of the index's feature maps (the same seed gives the same index).
    points_dir : path or None, default None
        Keep reduced-set points in scratch files in this directory instead of in
        memory (see `engine.search.points`); for large catalogs.
    memory_budget : int, default 128 MiB
        Bytes of working memory one search (and one insert) may use for kernel
        blocks and gathered points, whatever the size of the specs (module doc).

    Adding an id that is already present replaces that entry.
    """

    _parameter_constraints: ClassVar[Constraints] = {
        "shortlist": [Interval(int, 1, None)],
        "n_features": [Interval(int, 1, None)],
        "memory_budget": [Interval(int, 1 << 20, None)],  # bytes: at least 1 MiB
    }
    _parameter_error: ClassVar[type[Exception]] = SearchError

    def __init__(self, *, index: bool = True, shortlist: int = DEFAULT_SHORTLIST,
                 n_features: int = DEFAULT_INDEX_FEATURES, random_state: int = 0,
                 points_dir: str | os.PathLike[str] | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        validate_params(self, {"shortlist": shortlist, "n_features": n_features,
                               "memory_budget": memory_budget})
        self.memory_budget = memory_budget
        self.index, self.shortlist = index, shortlist
        self.n_features, self.random_state = n_features, random_state
        self.points_dir = points_dir
        super().__init__()
        self._tables = TableIndex()

    # -- contents -----------------------------------------------------------------------
    def spaces(self) -> dict[str, int]:
        """Number of entries in each comparison space."""
        return {space: g.live() for space, g in self._groups.items() if g.live()}

    def add(self, entry_id: str, semantic: SemanticSpec, spec: RKMESpec) -> None:
        """Insert (or replace) an entry; computes its per-entry constants once."""
        self._check_entry(entry_id, semantic)
        if not isinstance(spec, RKMESpec):
            raise SearchError("spec: expected a fitted RKME spec")
        spec._check_fitted()
        if entry_id in self._where:
            self.remove(entry_id)
        group = self._groups.get(spec.space)
        if group is None:
            # an exact-only catalog keeps no index vectors (nothing would read them)
            group = _SpaceGroup(spec.space, spec.dim_, type(spec),
                                self.n_features if self.index else 0, self.random_state,
                                self.points_dir)
            self._groups[spec.space] = group
        self._placed(entry_id, semantic, spec.space,
                     group.add(entry_id, semantic, spec, self._kernel_bytes))

    def add_many(self, entries: Iterable[tuple[str, SemanticSpec, RKMESpec]]) -> None:
        for entry_id, semantic, spec in entries:
            self.add(entry_id, semantic, spec)

    def _placed(self, entry_id: str, semantic: SemanticSpec, space: str, row: int) -> None:
        super()._placed(entry_id, semantic, space, row)
        self._tables.add(entry_id, semantic)

    def remove(self, entry_id: str) -> None:
        """Remove an entry; raises KeyError if it is unknown."""
        super().remove(entry_id)
        self._tables.remove(entry_id)

    def get(self, entry_id: str) -> CatalogEntry:
        """The entry with this id; raises KeyError if it is unknown."""
        space, row = self._where[entry_id]
        return CatalogEntry(entry_id, self._sem.specs[entry_id], self._groups[space].spec_of(row))

    def nbytes(self) -> int:
        """Bytes held in the catalog's numpy arrays (excludes Python objects)."""
        return sum(g.rows.nbytes() + g.pts.nbytes() for g in self._groups.values())

    @property
    def _kernel_bytes(self) -> int:
        """The share of the budget kernel blocks may take."""
        return self.memory_budget // 2

    @property
    def _gather_bytes(self) -> int:
        """The share of the budget points gathered at once may take."""
        return self.memory_budget // 4

    # -- search -------------------------------------------------------------------------
    def search(self, requirement: Requirement, k: int = 5, max_mixture: int = 3, *,
               exact: bool = False) -> SearchResult:
        """Rank learnwares for a requirement and find the best mixture.

        Parameters
        ----------
        requirement : Requirement
            Optional partial semantic spec and optional fitted RKME.
        k : int
            Number of single matches to return.
        max_mixture : int
            Largest mixture to consider (1 disables mixtures).
        exact : bool
            Scan every candidate exactly, even when the index could shortlist.
        """
        if not isinstance(requirement, Requirement):
            raise SearchError("requirement: expected a Requirement")
        for name, value in (("k", k), ("max_mixture", max_mixture)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SearchError(f"{name}: expected a positive integer, got {value!r}")
        allowed = self._sem.allowed(requirement.semantic)
        if requirement.spec is None:
            return self._semantic_only(requirement.semantic, allowed, k)
        group = self._groups.get(requirement.spec.space)
        if group is None or group.live() == 0:
            result = SearchResult((), None, 0, True, requirement.spec.gamma_,
                                  (f"no learnware in space {requirement.spec.space}",))
        else:
            rows = self._candidate_rows(group, requirement.semantic, allowed)
            q = requirement.spec
            n_rows = len(rows) if exact or not self.index else min(len(rows), self.shortlist)
            mean_k = group.pts.n / max(group.rows.n, 1)
            with kernel.blas_threads_for(n_rows * mean_k * q.points_.size):
                result = self._statistical(group, rows, q, k, max_mixture, exact)
        return self._with_hetero(requirement, result, allowed, k, max_mixture)

    def _with_hetero(self, requirement: Requirement, result: SearchResult,
                     allowed: set[str] | None, k: int, max_mixture: int) -> SearchResult:
        """Also rank table learnwares over other columns when the requirement describes
        its own (policy and method: `engine.hetero.search.extend_result`)."""
        from engine.hetero.search import extend_result  # lazy: hetero imports search

        return extend_result(requirement, result, self._tables,
                             lambda entry_id: self.get(entry_id).spec, allowed, k,
                             max_mixture=max_mixture)

    def _statistical(self, group: _SpaceGroup, rows: NDArray[np.int64], spec: RKMESpec, k: int,
                     max_mixture: int, exact: bool) -> SearchResult:
        gq = float(spec.gamma_)
        qz, qw = spec.points_, spec.weights_
        n_candidates = len(rows)
        use_index = self.index and not exact and n_candidates > self.shortlist
        if use_index:
            rows = self._shortlist(group, rows, qz, qw)
        mmd, q_self, i_self = self._exact_mmd2(group, rows, qz, qw, gq)
        order = np.argsort(mmd, kind="stable")
        top = order[:k]
        scores = score_from(mmd[top], q_self[top], i_self[top])
        single = tuple(Match(group.ids[r] or "", float(mmd[j]), float(s))
                       for j, r, s in zip(top, rows[top], np.atleast_1d(scores), strict=True))
        mixture = None
        if max_mixture > 1 and len(rows) > 1:
            mixture = self._mixture(group, rows[order[:MIXTURE_POOL]], qz, qw, gq, max_mixture)
        return SearchResult(single, mixture, n_candidates, not use_index, gq)

    def _shortlist(self, group: _SpaceGroup, rows: NDArray[np.int64], qz: Array, qw: Array
                   ) -> NDArray[np.int64]:
        """The `shortlist` rows nearest to the query in the index's RFF space.

        ``||v - e||^2 = ||v||^2 - 2 v.e + ||e||^2`` with ``||v||^2`` stored at insert:
        one matrix-vector product, over the whole index column (no gathered copy)
        when most rows are candidates.
        """
        approx = np.empty(len(rows))
        index = group.rows["index"]
        for g, sel in group.by_gamma(rows):
            eq = group.rff(g).embed(qz, qw, self._kernel_bytes).astype(np.float32)
            sub = rows[sel]
            dots = (index @ eq)[sub] if 4 * len(sub) >= len(index) else index[sub] @ eq
            approx[sel] = (group.rows["index_sq"][sub] - 2.0 * dots
                           + float(eq.astype(np.float64) @ eq))
        keep = np.argpartition(approx, self.shortlist - 1)[: self.shortlist]
        return rows[keep]

    def _exact_mmd2(self, group: _SpaceGroup, rows: NDArray[np.int64], qz: Array, qw: Array,
                    gq: float) -> tuple[Array, Array, Array]:
        """Exact MMD^2 of the query against `rows`, each under its pair kernel."""
        mmd = np.empty(len(rows))
        q_self = np.empty(len(rows))
        i_self = np.empty(len(rows))
        gammas = group.rows["gamma"][rows]
        for g_row in np.unique(gammas):
            g_pair = kernel.pair_gamma(gq, float(g_row))
            sel_all = np.flatnonzero(gammas == g_row)
            qs = kernel.mean_inner(qz, qw, qz, qw, g_pair, self._kernel_bytes)
            counts = group.rows["count"][rows[sel_all]]
            for sel in _batches(sel_all, counts, _EXACT_BLOCK,
                                self._gather_bytes // (8 * (group.dim + 1))):
                z, w, offsets = group.gather(rows[sel])
                cross = cross_inner(qz, qw, z, w, offsets, g_pair, self._kernel_bytes)
                if g_pair == g_row:
                    selfs = group.rows["self_inner"][rows[sel]]
                else:
                    selfs = self._self_inner_many(z, w, offsets, g_pair, self._kernel_bytes)
                mmd[sel] = np.maximum(qs + selfs - 2.0 * cross, 0.0)
                q_self[sel] = qs
                i_self[sel] = selfs
        return mmd, q_self, i_self

    @staticmethod
    def _self_inner_many(z: Array, w: Array, offsets: NDArray[np.int64], gamma: float,
                         max_bytes: int) -> Array:
        bounds = [*offsets.tolist(), len(z)]
        return np.array([kernel.mean_inner(z[a:b], w[a:b], z[a:b], w[a:b], gamma, max_bytes)
                         for a, b in itertools.pairwise(bounds)])

    def _mixture(self, group: _SpaceGroup, pool: NDArray[np.int64], qz: Array, qw: Array,
                 gq: float, max_mixture: int) -> Mixture | None:
        """Mixture among the best `pool` rows, all under one kernel: the pair kernel of
        the requirement and the best single match (the kernel its rank was scored by).

        The candidates' inner products are computed a row at a time, as the greedy
        selection asks for them (`LazyGram`), each row summed in bounded blocks; a
        candidate's own one is its stored constant when it was computed under this
        kernel."""
        gq = kernel.pair_gamma(gq, float(group.rows["gamma"][pool[0]]))
        z, w, offsets = group.gather(pool)
        budget = self._kernel_bytes
        bounds = [*offsets.tolist(), len(z)]
        parts = [(z[a:b], w[a:b]) for a, b in itertools.pairwise(bounds)]
        stored = group.rows["gamma"][pool] == gq
        diag = np.array([group.rows["self_inner"][row] if known
                         else kernel.mean_inner(zi, wi, zi, wi, gq, budget)
                         for row, known, (zi, wi) in zip(pool, stored, parts, strict=True)])
        gram = LazyGram(diag, lambda i: cross_inner(*parts[i], z, w, offsets, gq, budget))
        h = cross_inner(qz, qw, z, w, offsets, gq, budget)
        q_self = kernel.mean_inner(qz, qw, qz, qw, gq, budget)
        found = best_mixture(gram, h, q_self, max_mixture)
        if found is None:
            return None
        members, weights, value, score = found
        ids = tuple(group.ids[int(pool[m])] or "" for m in members)
        if not all(math.isfinite(x) for x in weights):
            return None
        return Mixture(ids, tuple(float(x) for x in weights), value, score)


def _batches(sel: NDArray[np.int64], counts: NDArray[np.int64], max_rows: int,
             max_points: int) -> Iterable[NDArray[np.int64]]:
    """`sel` in consecutive batches of at most `max_rows` rows and `max_points` points
    (a single row with more points forms a batch alone)."""
    start, n = 0, len(sel)
    ends = np.cumsum(counts)
    while start < n:
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + max(max_points, 1), side="right"))
        stop = min(max(stop, start + 1), start + max_rows, n)
        yield sel[start:stop]
        start = stop
