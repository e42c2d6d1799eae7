"""Sketch-then-exact search: on a small market of many spaces it finds the exact top-5
(recall >= 0.99 with the default shortlist, and still at half of it: the margin), its
mixture is the exact search's, and it reports what it could not fetch."""

from __future__ import annotations

import pytest

from engine.errors import SearchError
from engine.search import Catalog, Requirement
from engine.search.sketch import make_sketch
from engine.search.sketch_search import DEFAULT_SKETCH_SHORTLIST, SketchIndex
from engine.search.synthetic import SyntheticMarket
from engine.specification import SemanticSpec

SEM = SemanticSpec(data_type="table", task_type="regression", name="forecaster")
N, QUERIES = 1_000, 20


@pytest.fixture(scope="module")
def market():
    m = SyntheticMarket(5, n_spaces=3, tasks=20)
    specs = {f"lw{i}": m.entry(i)[2] for i in range(N)}
    exact = Catalog(index=False)
    sketches = SketchIndex()
    for entry_id, spec in specs.items():
        exact.add(entry_id, SEM, spec)
        sketches.add(entry_id, SEM, make_sketch(spec))
    queries = [m.query(j)[1] for j in range(QUERIES)]
    truth = [exact.search(Requirement(spec=q), k=5, max_mixture=1, exact=True) for q in queries]
    return specs, sketches, queries, truth, exact


def fetch_from(specs):
    return lambda ids: {i: specs[i] for i in ids if i in specs}


def recall(sketches, specs, queries, truth, shortlist):
    sketches.shortlist = shortlist
    try:
        hits = 0
        for q, t in zip(queries, truth, strict=True):
            got = sketches.search(Requirement(spec=q), fetch_from(specs), k=5, max_mixture=1)
            hits += len({m.id for m in got.single} & {m.id for m in t.single})
        return hits / (5 * len(queries))
    finally:
        sketches.shortlist = DEFAULT_SKETCH_SHORTLIST


def test_recall_at_5_against_exact_search_on_full_specs(market):
    specs, sketches, queries, truth, _ = market
    candidates = [sketches.shortlist_for(Requirement(spec=q))[1] for q in queries]
    assert min(candidates) > 2 * DEFAULT_SKETCH_SHORTLIST  # the shortlist really cuts
    assert recall(sketches, specs, queries, truth, DEFAULT_SKETCH_SHORTLIST) >= 0.99
    assert recall(sketches, specs, queries, truth, DEFAULT_SKETCH_SHORTLIST // 2) >= 0.99


def test_mixture_and_scores_are_the_exact_searchs(market):
    specs, sketches, queries, _, exact = market
    for q in queries[:5]:
        t = exact.search(Requirement(spec=q), k=5, max_mixture=3, exact=True)
        got = sketches.search(Requirement(spec=q), fetch_from(specs), k=5, max_mixture=3)
        assert [(m.id, m.mmd2) for m in got.single] == [(m.id, m.mmd2) for m in t.single]
        assert got.mixture == t.mixture
        assert not got.exact and got.n_candidates == t.n_candidates


def test_unfetchable_specs_are_left_out_with_a_note(market):
    specs, sketches, queries, truth, _ = market
    best = truth[0].single[0].id
    partial = {i: s for i, s in specs.items() if i != best}
    got = sketches.search(Requirement(spec=queries[0]), fetch_from(partial), k=5)
    assert best not in {m.id for m in got.single}
    assert any("could not be fetched" in note for note in got.notes)
    nothing = sketches.search(Requirement(spec=queries[0]), lambda ids: {}, k=5)
    assert nothing.single == () and nothing.notes


def test_semantic_filter_and_removal(market):
    specs, _, queries, _, _ = market
    index = SketchIndex()
    other = SemanticSpec(data_type="table", task_type="classification", name="classifier")
    for i, (entry_id, spec) in enumerate(list(specs.items())[:300]):
        index.add(entry_id, SEM if i % 2 else other, make_sketch(spec))
    req = Requirement(semantic=SemanticSpec(task_type="classification"), spec=queries[0])
    ids, _ = index.shortlist_for(req, n=300)
    assert ids and all(int(i[2:]) % 2 == 0 for i in ids)
    for entry_id in ids:
        index.remove(entry_id)
    assert index.shortlist_for(req, n=300) == ([], 0)
    assert len(index) == 300 - len(ids)


def test_index_refuses_mismatched_sketches_and_requirements(market):
    specs, _, _, _, _ = market
    index = SketchIndex(n_features=128)
    spec = next(iter(specs.values()))
    with pytest.raises(SearchError, match="D=256"):
        index.add("x", SEM, make_sketch(spec))
    with pytest.raises(SearchError, match="statistical spec"):
        index.search(Requirement(semantic=SEM), lambda ids: {})
    with pytest.raises(SearchError):
        SketchIndex(shortlist=0)
    req = Requirement(spec=spec)
    for bad in ({"k": 0}, {"max_mixture": True}):
        with pytest.raises(SearchError):
            index.search(req, lambda ids: {}, **bad)  # type: ignore[arg-type]
    with pytest.raises(SearchError):
        index.shortlist_for(req, n=0)


def test_shortlist_never_below_what_the_exact_step_ranks(market):
    specs, sketches, queries, _, _ = market
    sketches.shortlist = 1
    try:
        asked: list[int] = []

        def fetch(ids):
            asked.append(len(ids))
            return {i: specs[i] for i in ids}

        got = sketches.search(Requirement(spec=queries[0]), fetch, k=20, max_mixture=1)
        assert asked == [20] and len(got.single) == 20
    finally:
        sketches.shortlist = DEFAULT_SKETCH_SHORTLIST
