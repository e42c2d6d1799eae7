"""Heterogeneous search: rank learnwares whose columns differ from the user's.

For a requirement over the user's described columns and one learnware over its own:

1. match columns (`engine.hetero.match`): description embeddings + the column
   statistics both RKMEs carry, Hungarian assignment with a floor on the gain;
2. put the learnware's RKME on the user's columns: mapped columns copied, the
   learnware's other columns marginalised out (dropped: exact for a kernel mean
   embedding), and user columns it lacks drawn from the *user's* conditional
   distribution given the mapped ones (estimate + the user's own residuals, from the
   user's RKME: it is on the user's machine);
3. compare there: MMD^2 against the user's RKME under the user's kernel, and the same
   score as a homogeneous match (`engine.search.scoring`): ``1 - MMD^2 / (<q,q> +
   <i,i>)``. A homogeneous match is the same computation with every column mapped;
4. pairs that words could not tell apart are swapped (and doubtful ones dropped)
   while the MMD^2 falls (`match.refine`): the joint distribution decides, e.g.
   which of two look-alike lag columns is which.

Why the user's space and not each learnware's: in its own space every learnware has
its own kernel width and number of columns, and a score under a wider kernel over more
columns is higher for everyone, so candidates with more columns were favoured whatever
their task (measured on the synthetic market: 2 of 24 users had a learnware of the
other task above one of their own; 0 of 24 in the user's space, where every candidate
of one search is scored under one kernel over the same columns). Drawing the columns
one side lacks from a conditional *distribution*, not a point estimate, keeps the
spread those columns really have: the score measures disagreement on what is
shared, not the variance an estimate always lacks. How much of a learnware's input
the user can feed is reported as ``Match.mapping.coverage``; reuse fills the rest
from the learnware's own spec (`engine.hetero.fill`).

Nothing here needs anyone's raw data: both sides are RKME points and column texts.

`extend_result` is the hook `engine.search.Catalog.search` calls; `search_learnwares`
does the same over any list of (id, semantic, spec) without a catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from engine import kernel
from engine.errors import MissingExtraError, SearchError
from engine.hetero.embedding import ColumnEmbedder, default_embedder
from engine.hetero.features import (
    column_difference,
    column_text,
    order_by_name,
    require_described,
    shared_names,
)
from engine.hetero.fill import MAX_EXPANDED, SpaceMap, check_fill
from engine.hetero.mapping import ColumnMapping
from engine.hetero.match import (
    DEFAULT_THRESHOLD,
    column_moments,
    match_columns,
    refine,
    stat_agreement,
)
from engine.hetero.mixture import to_user_space, user_space_mixture
from engine.params import Options, check_param
from engine.search.results import Match, Mixture, Requirement, SearchResult
from engine.search.scoring import score_from
from engine.search.tables import TableIndex
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import Feature, InputSpec, SemanticSpec
from engine.vocabulary import DataType

Array = NDArray[np.float64]

SPACE = "user"
"""Where candidates are compared (`mapped_mmd2`): the user's space, so that every
candidate of one search is scored under one kernel over the same columns."""
REFINE_POINTS = 300
"""Expanded sample size while `refine` compares candidate maps (the final score uses
`fill.MAX_EXPANDED`): a map's MMD^2 needs less precision than its reported score."""
MIXTURE_POINTS = 400
"""Expanded sample size of each member of a mixture across feature spaces: the QP
needs every pair's inner product, so the cost grows with its square (six candidates
of the synthetic market, one thread: +134 ms per search at 1,000 points, +18 ms at
400)."""
SHORTLIST = 200
"""Candidates compared exactly (mapping refined, MMD^2 computed); more candidates are
first ranked by how well their columns are covered by the user's."""


MIXTURE_DROPPED = "mixture dropped: it held learnwares over other columns of the same width"


@dataclass(frozen=True)
class HeteroMatch:
    """A learnware compared across feature spaces."""

    id: str
    mapping: ColumnMapping
    mmd2: float
    score: float

    def as_match(self) -> Match:
        return Match(self.id, self.mmd2, self.score, mapping=self.mapping)


def _table_spec(spec: RKMESpec) -> bool:
    return spec.kind == "rkme_table"


def _check_user_spec(requirement: Requirement, user_input: InputSpec) -> RKMESpec:
    spec = requirement.spec
    if spec is None:
        raise SearchError("requirement: heterogeneous search needs the RKME of the user's rows")
    if not _table_spec(spec):
        raise SearchError(f"requirement: heterogeneous search maps table columns; the "
                          f"requirement's spec is {spec.kind} ({spec.space})")
    if spec.dim_ != user_input.dimension:
        raise SearchError(f"requirement: the semantic spec describes {user_input.dimension} "
                          f"columns, the RKME has {spec.dim_}")
    return spec


def _mmd2(a: Array, wa: Array, b: Array, wb: Array, gamma: float) -> tuple[float, float, float]:
    aa = kernel.mean_inner(a, wa, a, wa, gamma)
    bb = kernel.mean_inner(b, wb, b, wb, gamma)
    ab = kernel.mean_inner(a, wa, b, wb, gamma)
    return max(aa + bb - 2.0 * ab, 0.0), aa, bb


def mapped_mmd2(mapping: ColumnMapping, user_points: Array, user_weights: Array,
                user_gamma: float, spec: RKMESpec, fill: str = "linear", *,
                space: str = "user", max_points: int = MAX_EXPANDED
                ) -> tuple[float, float, float]:
    """(MMD^2, <q,q>, <i,i>) of the user's and a learnware's RKME across a column map.

    ``space="user"`` (what search uses): the learnware's points are put on the user's
    columns — mapped columns copied, user columns it lacks drawn from the *user's*
    conditional given the mapped ones — and compared with the user's points under the
    user's kernel. ``space="learnware"``: the user's points are put on the
    learnware's columns, missing ones drawn from the learnware's conditional, under
    the learnware's kernel. `max_points` caps the expanded sample (rows x draws).
    """
    if space == "learnware":
        q, qw = SpaceMap(mapping, spec.points_, spec.weights_, fill).expand(
            user_points, user_weights, max_points)
        return _mmd2(q, qw, spec.points_, spec.weights_, float(spec.gamma_))
    p_lw, w_lw = to_user_space(mapping, user_points, user_weights, spec, fill, max_points)
    return _mmd2(user_points, user_weights, p_lw, w_lw, user_gamma)


def compare(user_features: Sequence[Feature], user_points: Array, user_weights: Array,
            user_gamma: float, lw_features: Sequence[Feature], spec: RKMESpec, sim: Array, *,
            threshold: float = DEFAULT_THRESHOLD, fill: str = "linear",
            refine_pairs: bool = True, space: str = "user"
            ) -> tuple[ColumnMapping, float, float] | None:
    """Best column map of the user's points onto one learnware, its MMD^2 and score;
    None when no column can be mapped. `sim` is the description cosine matrix."""
    user_moments = column_moments(user_points, user_weights)
    lw_moments = column_moments(spec.points_, spec.weights_)
    mapping = match_columns(user_features, lw_features, sim, user_moments, lw_moments,
                            threshold=threshold)
    if not mapping.pairs:
        return None

    def objective(m: ColumnMapping) -> float:
        return mapped_mmd2(m, user_points, user_weights, user_gamma, spec, fill,
                           space=space, max_points=REFINE_POINTS)[0]

    if refine_pairs:
        mapping, _ = refine(mapping, sim, objective, threshold=threshold,
                            agree=stat_agreement(*user_moments, *lw_moments))
    value, qq, ii = mapped_mmd2(mapping, user_points, user_weights, user_gamma, spec, fill,
                                space=space)
    return mapping, value, float(score_from(value, qq, ii))


def table_learnware(semantic: SemanticSpec, spec: RKMESpec) -> bool:
    """Can this learnware take part in heterogeneous search (a table with named columns)?"""
    return (_table_spec(spec) and semantic.data_type in (None, DataType.TABLE)
            and semantic.input is not None and bool(semantic.input.features)
            and len(semantic.input.features) == spec.dim_)


def search_learnwares(requirement: Requirement,
                      candidates: Iterable[tuple[str, SemanticSpec, RKMESpec]], k: int = 5, *,
                      embedder: ColumnEmbedder | None = None,
                      threshold: float = DEFAULT_THRESHOLD, fill: str = "linear",
                      shortlist: int = SHORTLIST, space: str = SPACE) -> list[HeteroMatch]:
    """Heterogeneous matches among `candidates`, best first (at most `k`).

    Every candidate must be a table learnware with named columns (`table_learnware`);
    anything else is refused with a `SearchError` naming it. The requirement needs a
    described table input (`features.require_described`) and a table RKME over it.
    `space` is where candidates are compared (`mapped_mmd2`; "user" unless measuring).
    """
    check_param("space", space, [Options(("user", "learnware"))], SearchError)
    user_input = require_described(requirement.semantic)
    user_spec = _check_user_spec(requirement, user_input)
    fill = check_fill(fill)
    entries = list(candidates)
    for entry_id, semantic, spec in entries:
        if not table_learnware(semantic, spec):
            kind = (semantic.data_type.value if semantic.data_type is not None
                    and semantic.data_type is not DataType.TABLE else spec.kind)
            raise SearchError(f"learnware {entry_id}: cannot be compared across feature "
                              f"spaces: it is not a table with named columns ({kind})")
    return _rank(user_input, user_spec, entries, k, embedder, threshold, fill, shortlist, space)


def _rank(user_input: InputSpec, user_spec: RKMESpec,
          entries: Sequence[tuple[str, SemanticSpec, RKMESpec]], k: int,
          embedder: ColumnEmbedder | None, threshold: float, fill: str,
          shortlist: int, space: str = SPACE) -> list[HeteroMatch]:
    if not entries:
        return []
    emb = embedder or default_embedder()
    user_feats = user_input.features
    u = emb.embed([column_text(f) for f in user_feats])
    texts = sorted({column_text(f) for _, s, _ in entries
                    for f in s.input.features})  # type: ignore[union-attr]
    where = {t: i for i, t in enumerate(texts)}
    sims_all = u @ emb.embed(texts).T
    sims = []
    for _, semantic, _ in entries:
        cols = [where[column_text(f)] for f in semantic.input.features]  # type: ignore[union-attr]
        sims.append(sims_all[:, cols])
    order = range(len(entries))
    if len(entries) > shortlist:
        # How much of each learnware's input the user's columns can feed, by words alone.
        cover = np.array([np.mean(np.max(np.where(s >= threshold, s, 0.0), axis=0))
                          for s in sims])
        order = np.argsort(-cover, kind="stable")[:shortlist].tolist()
    zq, wq, gq = user_spec.points_, user_spec.weights_, float(user_spec.gamma_)
    found = []
    # Each comparison is a few products of at most MAX_EXPANDED rows: one BLAS thread.
    with kernel.blas_threads_for(float(MAX_EXPANDED) ** 2 * max(zq.shape[1], 1)):
        for i in order:
            entry_id, semantic, spec = entries[i]
            assert semantic.input is not None
            got = compare(user_feats, zq, wq, gq, semantic.input.features, spec, sims[i],
                          threshold=threshold, fill=fill, space=space)
            if got is not None:
                found.append(HeteroMatch(entry_id, got[0], got[1], got[2]))
    found.sort(key=lambda m: (-m.score, m.id))
    return found[:k]


def _needs_descriptions_note(n: int) -> str:
    return (f"{n} learnware(s) over other table columns were not compared: heterogeneous "
            "search needs semantic.input.features with a description for every column")


def extend_result(requirement: Requirement, result: SearchResult, tables: TableIndex,
                  spec_of: Callable[[str], RKMESpec], allowed: set[str] | None, k: int, *,
                  max_mixture: int = 1, embedder: ColumnEmbedder | None = None
                  ) -> SearchResult:
    """Add heterogeneous matches to a catalog's homogeneous `result` (the catalog hook).

    `tables` holds the catalog's table learnwares with named columns (the only ones
    that can take part), with the facts the candidate filter reads as arrays.

    Policy:

    - Candidates are the table learnwares with named columns that pass the semantic
      filter (input dimension aside) and do *not* have the requirement's columns
      (`features.same_columns`); they are compared by `search_learnwares`' method
      whenever the requirement describes its columns, and merged with the
      homogeneous matches by score (the two scores share one scale).
    - A homogeneous match whose learnware names *other* columns of the same width is
      replaced by its heterogeneous comparison (same width is not same meaning); a
      mixture containing one is dropped with a note.
    - A requirement that does not describe its columns gets the homogeneous result,
      with a note if heterogeneous candidates exist; if it names its columns, that
      result loses the learnwares that name other columns of the same width. If it
      *states* columns (input features) without describing them all and nothing
      homogeneous is left, it is refused with a `SearchError` saying that
      heterogeneous search needs the descriptions; a requirement with no input
      features at all (the pre-hetero call) is never refused: it keeps the old empty
      answer, plus the note.
    - A non-table requirement that states input features and found nothing
      homogeneous is refused (`SearchError`): columns cannot be mapped onto an image.
    - Without the ``text`` extra (no encoder) the step is skipped with a note; the
      homogeneous matches over other columns of the same width are still removed.
    - With heterogeneous matches in the top `k` and ``max_mixture >= 2``, a mixture of
      the top `k` in the user's space (`engine.hetero.mixture`) replaces the
      homogeneous mixture when it scores higher.
    """
    semantic = requirement.semantic
    spec = requirement.spec
    if spec is None:
        return result
    user_input = semantic.input if semantic is not None else None
    stated = user_input is not None and bool(user_input.features)
    table_req = _table_spec(spec) and (semantic is None
                                       or semantic.data_type in (None, DataType.TABLE))
    if not table_req:
        if stated and not result.single:
            require_described(semantic)  # raises: names the data type
            raise SearchError(f"requirement: heterogeneous search maps table columns; the "
                              f"requirement's spec is {spec.kind} ({spec.space})")
        return result
    if not len(tables):
        return result
    ids = tables.select(semantic if semantic is not None else SemanticSpec(), allowed,
                        other_width_than=None if stated else spec.dim_,
                        not_columns_of=user_input)
    if not ids:
        return result
    reorder = {i: p for i in ids
               if (p := order_by_name(user_input, [_input(tables.semantic(i))])) is not None}
    if reorder:  # the user's own names in another order: no descriptions needed
        result = _by_name(result, reorder, spec, spec_of, k, max_mixture)
        ids = [i for i in ids if i not in reorder]
        if not ids:
            return result
    if not stated or user_input is None or not user_input.described:
        if stated:  # named columns of the same width are not the same meaning
            result = _without(result, set(ids))
        if result.single or not stated:
            return replace(result, notes=(*result.notes, _needs_descriptions_note(len(ids))))
        _refuse_undescribed(semantic, [_input(tables.semantic(i)) for i in ids])
    assert user_input is not None
    entries = [(i, tables.semantic(i), spec_of(i)) for i in ids]
    entries = [e for e in entries if table_learnware(e[1], e[2])]
    base = _without(result, set(ids))  # compared again below, across feature spaces
    notes = list(base.notes)
    try:
        hetero = _rank(user_input, _check_user_spec(requirement, user_input), entries, k,
                       embedder, DEFAULT_THRESHOLD, "linear", SHORTLIST)
        notes.append(f"heterogeneous: {len(entries)} learnware(s) over other columns compared")
    except MissingExtraError as exc:  # a node without the extra still answers
        hetero = []
        notes.append(f"heterogeneous search skipped: {exc}")
    merged = sorted([*base.single, *(h.as_match() for h in hetero)],
                    key=lambda m: -m.score)[:k]
    if merged:
        notes = [n for n in notes if not n.startswith("no learnware in space")]
    mixture = base.mixture
    if max_mixture >= 2 and any(m.mapping is not None for m in merged):
        across = _mixture_across(merged, spec_of, spec, max_mixture)
        if across is not None and (mixture is None or across.score > mixture.score):
            mixture = across
            notes.append("mixture across feature spaces (compared on your columns)")
    n_hetero = sum(1 for _, s, sp in entries if sp.space != spec.space)
    return SearchResult(tuple(merged), mixture, result.n_candidates + n_hetero,
                        result.exact and len(entries) <= SHORTLIST, result.gamma, tuple(notes))


def _by_name(result: SearchResult, reorder: Mapping[str, list[int]], user_spec: RKMESpec,
             spec_of: Callable[[str], RKMESpec], k: int, max_mixture: int) -> SearchResult:
    """`result` with the learnwares over the user's column names in another order
    compared as homogeneous matches: the user's RKME with its columns put in each one's
    order (`features.order_by_name`, as reuse puts the rows), under the pair kernel a
    homogeneous search uses, ranked with the others by MMD^2; and the mixture of them
    all, each one's points put in the user's order (as `Catalog.search` mixes)."""
    base = _without(result, set(reorder))  # if there, they were compared column by column
    zq, wq, gq = user_spec.points_, user_spec.weights_, float(user_spec.gamma_)
    found, in_user_order = [], {}
    for learnware_id, permutation in reorder.items():
        spec = spec_of(learnware_id)
        if not _table_spec(spec) or spec.dim_ != len(permutation):
            continue
        gamma = kernel.pair_gamma(gq, float(spec.gamma_))
        mmd2, qq, ii = _mmd2(zq[:, permutation], wq, spec.points_, spec.weights_, gamma)
        found.append(Match(learnware_id, mmd2, float(score_from(mmd2, qq, ii))))
        in_user_order[learnware_id] = spec.points_[:, np.argsort(permutation)]
    ranked = sorted([*base.single, *found], key=lambda m: (m.mmd2, m.id))
    notes = [*base.notes, f"{len(found)} learnware(s) take your column names in another "
             "order: compared with your columns put in their order by name (reuse puts them "
             "so too)"]
    mixture = base.mixture
    if found and max_mixture >= 2:
        mixed = _mixture_by_name(ranked, in_user_order, user_spec, spec_of, max_mixture)
        if mixed is not None and (mixture is None or mixed.mmd2 < mixture.mmd2):
            mixture = mixed
            notes = [n for n in notes if n != MIXTURE_DROPPED]
    return replace(base, single=tuple(ranked[:k]), mixture=mixture, notes=tuple(notes))


def _mixture_by_name(ranked: Sequence[Match], in_user_order: Mapping[str, Array],
                     user_spec: RKMESpec, spec_of: Callable[[str], RKMESpec],
                     max_mixture: int) -> Mixture | None:
    """The mixture of the best `MIXTURE_POOL` same-space matches, under the pair kernel
    of the requirement and the best one (as `Catalog.search`'s homogeneous mixture)."""
    from engine.search.catalog import MIXTURE_POOL
    from engine.search.mixture import best_mixture

    pool = []
    for match in ranked[:MIXTURE_POOL]:
        spec = spec_of(match.id)
        if match.mapping is not None or spec.space != user_spec.space:
            continue
        pool.append((match.id, in_user_order.get(match.id, spec.points_), spec.weights_,
                     float(spec.gamma_)))
    if len(pool) < 2:
        return None
    zq, wq = user_spec.points_, user_spec.weights_
    gamma = kernel.pair_gamma(float(user_spec.gamma_), pool[0][3])
    m = len(pool)
    gram, h = np.empty((m, m)), np.empty(m)
    for i, (_, zi, wi, _g) in enumerate(pool):
        h[i] = kernel.mean_inner(zi, wi, zq, wq, gamma)
        for j in range(i, m):
            gram[i, j] = gram[j, i] = kernel.mean_inner(zi, wi, pool[j][1], pool[j][2], gamma)
    found = best_mixture(gram, h, kernel.mean_inner(zq, wq, zq, wq, gamma), max_mixture)
    if found is None:
        return None
    members, weights, value, score = found
    return Mixture(tuple(pool[i][0] for i in members), tuple(float(w) for w in weights),
                   value, score)


def _input(semantic: SemanticSpec) -> InputSpec:
    assert semantic.input is not None  # the candidates of `extend_result` name columns
    return semantic.input


def _refuse_undescribed(semantic: SemanticSpec | None, theirs: Sequence[InputSpec]) -> None:
    """`require_described`'s refusal, naming the columns the user's header lacks or has
    beyond the learnware that shares the most names with it."""
    user = semantic.input if semantic is not None else None
    closest = max(theirs, key=lambda t: shared_names(user, t)) if user and theirs else None
    try:
        require_described(semantic)
    except SearchError as exc:
        if user is None or closest is None or not shared_names(user, closest):
            raise
        diff = column_difference([f.name for f in user.features],
                                 [f.name for f in closest.features])
        raise SearchError(f"{exc} (your header, beside the learnware sharing most of its "
                          f"names: {diff})") from None


def _without(result: SearchResult, ids: set[str]) -> SearchResult:
    """`result` without the matches and the mixture that hold any of `ids`."""
    single = tuple(m for m in result.single if m.id not in ids)
    mixture = result.mixture
    notes = list(result.notes)
    if mixture is not None and ids & set(mixture.ids):
        mixture = None
        notes.append(MIXTURE_DROPPED)
    return replace(result, single=single, mixture=mixture, notes=tuple(notes))


def _mixture_across(merged: Sequence[Match], spec_of: Callable[[str], RKMESpec],
                    user_spec: RKMESpec, max_mixture: int) -> Mixture | None:
    """The user-space mixture of the ranked matches (heterogeneous ones mapped onto the
    user's columns, homogeneous ones as they are)."""
    zq, wq = user_spec.points_, user_spec.weights_
    members = []
    for match in merged:
        spec = spec_of(match.id)
        if match.mapping is not None:
            members.append((match.id, *to_user_space(match.mapping, zq, wq, spec,
                                                     max_points=MIXTURE_POINTS)))
        elif spec.space == user_spec.space:
            members.append((match.id, spec.points_, spec.weights_))
    found = user_space_mixture(user_spec, members, max_mixture)
    if found is None:
        return None
    mapping = {m.id: m.mapping for m in merged}
    return replace(found, mappings=tuple(mapping[i] for i in found.ids))

