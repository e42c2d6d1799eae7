"""The vector index over one space's sketches (`engine.search.sketch_ann`).

On a synthetic market's space (4,000 learnwares, two kernels) its shortlists hold
the linear scan's (recall@100 >= 0.99, estimates the scan's), sketch-then-exact with
it finds the exact top-5 on full specs (recall@5 >= 0.99), it keeps to the rows the
filter allows and to each row's gamma, and written then memory-mapped it names the
same rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.search import Catalog, Requirement
from engine.search.sketch import embedding, make_sketch
from engine.search.sketch_ann import POOL_FACTOR, SketchANN
from engine.search.sketch_search import (
    DEFAULT_SKETCH_SHORTLIST,
    nearest_by_index,
    nearest_by_sketch,
)
from engine.search.synthetic import SyntheticMarket
from engine.specification import SemanticSpec

N, QUERIES, S = 4_000, 30, DEFAULT_SKETCH_SHORTLIST
D, VERSION = 256, 1


@pytest.fixture(scope="module")
def space():
    market = SyntheticMarket(7, n_spaces=1, tasks=30)
    specs = [market.entry(i)[2] for i in range(N)]
    sketches = [make_sketch(s) for s in specs]
    vectors = [s.vector() for s in sketches]
    columns = {"codes": np.stack([np.frombuffer(s.codes, dtype=np.int8) for s in sketches]),
               "scale": np.array([s.scale for s in sketches]),
               "gamma": np.array([s.gamma for s in sketches]),
               "sq_norm": np.array([float(v @ v) for v in vectors])}
    ann = SketchANN.build(columns["codes"], columns["scale"], columns["gamma"])
    queries = [market.query(j)[1] for j in range(QUERIES)]
    return specs, columns, ann, queries


def scan(q, columns, rows):
    return nearest_by_sketch(q, columns, rows, S, n_features=D, version=VERSION)


def indexed(q, columns, ann, allowed=None):
    return nearest_by_index(q, columns, allowed, S, ann, n_features=D, version=VERSION)


def test_its_shortlists_hold_the_scans_with_the_scans_estimates(space):
    _, columns, ann, queries = space
    assert len(ann) == N and len(ann.gammas) == 2  # both kernels of the space
    recalls = []
    for q in queries:
        rows, approx, scores = scan(q, columns, np.arange(N))
        got = indexed(q, columns, ann)
        assert got is not None
        got_rows, got_approx, got_scores = got
        recalls.append(len(np.intersect1d(rows, got_rows)) / S)
        _, mine, theirs = np.intersect1d(rows, got_rows, return_indices=True)
        assert np.allclose(approx[mine], got_approx[theirs], rtol=1e-6, atol=1e-9)
        assert np.allclose(scores[mine], got_scores[theirs], rtol=1e-6, atol=1e-9)
        # the index names a few candidates, not the space (else this proves nothing)
        e_q = {g: embedding(q, g) for g in ann.gammas}
        named = ann.candidates(e_q, columns["gamma"], None, S)
        assert named is not None and len(named) <= POOL_FACTOR * S * len(ann.gammas) < N
    assert np.mean(recalls) >= 0.99


def test_sketch_then_exact_with_it_finds_the_exact_top_5(space):
    specs, columns, ann, queries = space
    blank = SemanticSpec()
    everything = Catalog(index=False)
    for i, spec in enumerate(specs):
        everything.add(str(i), blank, spec)
    hits = 0
    for q in queries:
        truth = everything.search(Requirement(spec=q), k=5, max_mixture=1, exact=True)
        found = indexed(q, columns, ann)
        assert found is not None
        shortlisted = Catalog(index=False)
        for r in found[0]:
            shortlisted.add(str(int(r)), blank, specs[int(r)])
        got = shortlisted.search(Requirement(spec=q), k=5, max_mixture=1, exact=True)
        hits += len({m.id for m in got.single} & {m.id for m in truth.single})
    assert hits / (5 * len(queries)) >= 0.99


def test_it_keeps_to_the_allowed_rows_and_each_rows_gamma(space):
    _, columns, ann, queries = space
    rng = np.random.default_rng(0)
    most = rng.random(N) < 0.9
    one_kernel = columns["gamma"] == ann.gammas[0]
    recalls = []
    for q in queries[:10]:
        for allowed in (most, one_kernel):
            got = indexed(q, columns, ann, allowed)
            assert got is not None and allowed[got[0]].all()
            expected = scan(q, columns, np.flatnonzero(allowed))[0]
            recalls.append(len(np.intersect1d(expected, got[0])) / S)
    assert np.mean(recalls) >= 0.99
    # a narrow filter: the index would visit more rows than it keeps, so it says to
    # scan them (None) rather than return fewer
    few = np.zeros(N, dtype=bool)
    few[rng.choice(N, size=30, replace=False)] = True
    assert indexed(queries[0], columns, ann, few) is None


def test_written_then_mapped_it_names_the_same_rows(space, tmp_path):
    _, columns, ann, queries = space
    names = ann.write(tmp_path, "space")
    assert len(names) == 2  # a file per gamma
    mapped = SketchANN.open(tmp_path, names)
    assert len(mapped) == N and mapped.gammas == ann.gammas
    for q in queries[:10]:
        e_q = {g: embedding(q, g) for g in ann.gammas}
        assert np.array_equal(mapped.candidates(e_q, columns["gamma"], None, S),
                              ann.candidates(e_q, columns["gamma"], None, S))
