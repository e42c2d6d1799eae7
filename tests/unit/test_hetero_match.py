"""Column matching: descriptions lead, statistics veto look-alikes, the joint MMD settles ties."""

import numpy as np
import pytest
from hetero_helpers import need_minilm

from engine import kernel
from engine.hetero.embedding import ColumnEmbedder, default_embedder
from engine.hetero.features import column_text
from engine.hetero.match import column_moments, match_columns, refine, stat_agreement
from engine.hetero.search import compare
from engine.hetero.synthetic import CONCEPTS, KEYS, Organization, Task
from engine.specification import Feature, RKMETableSpec


def feats(*names):
    return tuple(Feature(n, f"the {n}") for n in names)


def test_stat_agreement_is_one_for_equal_moments_and_falls_apart():
    mean = np.array([0.0, 0.0, 5.0])
    std = np.array([1.0, 1.0, 1.0])
    agree = stat_agreement(mean[:1], std[:1], mean, std * np.array([1, 3, 1]))
    assert agree[0, 0] == pytest.approx(1.0)
    assert 0.5 < agree[0, 1] < 0.9
    assert agree[0, 2] < 0.05


def test_column_moments_are_weighted():
    z = np.array([[0.0], [10.0]])
    mean, std = column_moments(z, np.array([0.75, 0.25]))
    assert mean[0] == pytest.approx(2.5) and std[0] == pytest.approx(np.sqrt(18.75))


def test_hungarian_match_keeps_unrelated_columns_missing():
    sim = np.array([[0.9, 0.2, 0.1],
                    [0.3, 0.2, 0.3]])  # user column 1 resembles nothing
    moments = (np.zeros(2), np.ones(2)), (np.zeros(3), np.ones(3))
    m = match_columns(feats("a", "b"), feats("x", "y", "z"), sim, *moments)
    assert [(p.user, p.learnware) for p in m.pairs] == [(0, 0)]
    assert m.missing == (1, 2) and m.unused == (1,)


def test_statistics_veto_a_look_alike_but_not_an_identical_description():
    sim = np.array([[0.65], [1.0]])
    user = (np.array([12.0, 12.0]), np.array([2.0, 2.0]))
    lw = (np.array([4.0]), np.array([2.0]))   # means four spreads apart
    look_alike = match_columns(feats("floor"), feats("lot"), sim[:1], (user[0][:1], user[1][:1]),
                               lw)
    assert look_alike.pairs == ()
    same_words = match_columns(feats("lot"), feats("lot"), sim[1:], (user[0][:1], user[1][:1]),
                               lw)
    assert len(same_words.pairs) == 1  # a different task may shift a column: still mapped


def lagged(n, rng, corr_first):
    """temp, and two look-alike lags: the first correlates with temp at `corr_first`."""
    temp = rng.standard_normal(n)
    a = corr_first * temp + np.sqrt(1 - corr_first**2) * rng.standard_normal(n)
    b = rng.standard_normal(n)
    return np.column_stack([temp, a, b])


def test_refine_swaps_look_alike_columns_by_the_joint_distribution():
    rng = np.random.default_rng(0)
    lw_rows = lagged(3000, rng, 0.9)                     # temp, lagA (corr .9), lagB (corr 0)
    spec = RKMETableSpec(n_points=60, random_state=0).fit(lw_rows)
    user_rows = lagged(800, rng, 0.9)[:, [0, 2, 1]]       # temp, lag1 (= lagB), lag2 (= lagA)
    # Words point the wrong way, by a hair: lag1 ~ lagA, lag2 ~ lagB.
    sim = np.array([[1.0, 0.1, 0.1],
                    [0.1, 0.80, 0.78],
                    [0.1, 0.79, 0.80]])
    w = np.full(len(user_rows), 1 / len(user_rows))
    user = feats("temp", "lag1", "lag2")
    lw = feats("temp", "lagA", "lagB")
    plain = match_columns(user, lw, sim, column_moments(user_rows), column_moments(
        spec.points_, spec.weights_))
    assert {(p.user, p.learnware) for p in plain.pairs} == {(0, 0), (1, 1), (2, 2)}
    g = kernel.auto_gamma(user_rows, 0)
    mapping, mmd2, score = compare(user, user_rows, w, g, lw, spec, sim)
    assert {(p.user, p.learnware) for p in mapping.pairs} == {(0, 0), (1, 2), (2, 1)}
    _, mmd2_plain, score_plain = compare(user, user_rows, w, g, lw, spec, sim,
                                         refine_pairs=False)
    assert mmd2 < mmd2_plain and score > score_plain


def test_refine_leaves_a_clear_map_alone():
    sim = np.array([[1.0, 0.1], [0.1, 1.0]])
    m = match_columns(feats("a", "b"), feats("a", "b"), sim, (np.zeros(2), np.ones(2)),
                      (np.zeros(2), np.ones(2)))
    calls = []
    refined, _ = refine(m, sim, lambda mm: calls.append(mm) or 0.0)
    assert refined == m and len(calls) == 1  # no ambiguous pair: only the start is scored


def test_embedder_caches_by_text():
    seen = []

    def encode(texts):
        seen.extend(texts)
        return np.eye(4)[[len(t) % 4 for t in texts]]

    emb = ColumnEmbedder(encode, max_cached=2)
    out = emb.embed(["ab", "abc", "ab"])
    assert out.shape == (3, 4) and seen == ["ab", "abc"]
    emb.embed(["abc"])
    assert seen == ["ab", "abc"] and emb.encoded == 2
    emb.embed(["x", "abcd"])
    assert len(emb) == 2  # bounded: the oldest went


def test_minilm_matches_every_wording_of_the_house_columns():
    """Each organization writes the ten columns its own way; with the column statistics,
    MiniLM's description similarity maps every column to its counterpart."""
    need_minilm()
    emb = default_embedder()
    x, _ = Task("city-a").sample(2000, np.random.default_rng(0))
    moments = column_moments(x)
    texts = [[column_text(Feature(*c[3][w])) for c in CONCEPTS] for w in range(3)]
    vecs = [emb.embed(t) for t in texts]
    for a in range(3):
        for b in range(3):
            if a == b:
                continue
            m = match_columns([Feature(*c[3][a]) for c in CONCEPTS],
                              [Feature(*c[3][b]) for c in CONCEPTS], vecs[a] @ vecs[b].T,
                              moments, moments)
            assert [(p.user, p.learnware) for p in m.pairs] == [(i, i) for i in range(10)]


def test_minilm_does_not_feed_floor_area_into_plot_area():
    need_minilm()
    emb = default_embedder()
    x, _ = Task("city-a").sample(2000, np.random.default_rng(1))
    user = Organization("u", (KEYS.index("area"), KEYS.index("rooms")), (0, 0))
    lw = Organization("l", (KEYS.index("lot"), KEYS.index("rooms")), (1, 1))
    uf, lf = user.input_spec().features, lw.input_spec().features
    sim = emb.embed([column_text(f) for f in uf]) @ emb.embed([column_text(f) for f in lf]).T
    assert sim[0, 0] > 0.5  # the words alone would pair them
    m = match_columns(uf, lf, sim, column_moments(user.select(x)), column_moments(lw.select(x)))
    assert [(p.user, p.learnware) for p in m.pairs] == [(1, 1)]
    assert m.missing == (0,)
