"""Heterogeneous search: users find their own task's learnwares across column spaces."""

import dataclasses

import numpy as np
import pytest
from hetero_helpers import catalog, market, need_minilm, user_spec

from engine.errors import SearchError
from engine.hetero.match import column_moments
from engine.hetero.search import search_learnwares
from engine.hetero.synthetic import semantic_for
from engine.search import Catalog, Requirement
from engine.specification import InputSpec, RKMETableSpec, SemanticSpec

USERS = [("city-a", 101), ("city-b", 102), ("city-a", 103), ("city-b", 104)]


@pytest.fixture(scope="module")
def searched():
    need_minilm()
    out = []
    for task, seed in USERS:
        user = market().user(task, 6, seed)
        result = catalog().search(Requirement(user.semantic(), user_spec(user.x_pool)), k=6)
        out.append((task, user, result))
    return out


def test_the_two_tasks_have_the_same_marginals():
    """The other task is a real trap: every column's mean and spread agree."""
    rng = np.random.default_rng(0)
    a, _ = market().tasks["city-a"].sample(20_000, rng)
    b, _ = market().tasks["city-b"].sample(20_000, rng)
    (ma, sa), (mb, sb) = column_moments(a), column_moments(b)
    assert np.allclose(ma, mb, atol=0.1) and np.allclose(sa, sb, rtol=0.05)


def test_users_find_their_own_tasks_learnwares_first(searched):
    for task, _, result in searched:
        top = [m.id for m in result.single[:3]]
        assert [market().task_of[i] for i in top] == [task] * 3, (task, result.single)
        scores = [m.score for m in result.single]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_each_match_says_which_user_column_feeds_which_learnware_column(searched):
    for _, user, result in searched:
        for match in result.single:
            m = match.mapping
            assert m is not None and match.mmd2 is not None and match.mmd2 >= 0
            org = market().orgs[match.id]
            assert m.user_columns == tuple(f.name for f in user.org.input_spec().features)
            assert m.learnware_columns == tuple(f.name for f in org.input_spec().features)
            wrong = [p for p in m.pairs if user.org.columns[p.user] != org.columns[p.learnware]]
            # same concept on both sides for the user's own task; a learnware of the
            # other task may pair one look-alike (private specs: rooms -> baths seen)
            assert len(wrong) <= (0 if market().task_of[match.id] == user.task.name else 1)
            shared = set(user.org.columns) & set(org.columns)
            assert len(m.pairs) >= len(shared) - 1  # at most one look-alike left unmapped
            for j in m.missing:
                assert org.columns[j] not in shared or len(m.pairs) < len(shared)
            assert any(n.startswith("heterogeneous: ") for n in result.notes)


def test_search_learnwares_without_a_catalog_agrees(searched):
    _, user, result = searched[0]
    lws = market().learnwares
    found = search_learnwares(Requirement(user.semantic(), user_spec(user.x_pool)),
                              [(lw.id, lw.semantic, lw.spec) for lw in lws], k=3)
    assert [h.id for h in found] == [m.id for m in result.single[:3]]
    assert found[0].score == pytest.approx(result.single[0].score)


def test_a_learnware_with_the_users_own_columns_stays_homogeneous():
    need_minilm()
    user = market().user("city-a", 6, 101)
    x, _ = market().tasks["city-a"].sample(2000, np.random.default_rng(5))
    own = RKMETableSpec(n_points=50, random_state=0).fit(user.org.select(x))
    cat = Catalog()
    for lw in market().learnwares:
        cat.add(lw.id, lw.semantic, lw.spec)
    cat.add("same-columns", semantic_for(user.org), own)
    result = cat.search(Requirement(user.semantic(), user_spec(user.x_pool)), k=4)
    by_id = {m.id: m for m in result.single}
    assert by_id["same-columns"].mapping is None
    others = [m for m in result.single if m.id != "same-columns"]
    assert all(m.mapping is not None and market().task_of[m.id] == "city-a" for m in others)
    # One scale: the same task scores alike with or without a column map.
    assert abs(by_id["same-columns"].score - others[0].score) < 0.03
    assert result.n_candidates == 1 + len(market().learnwares)


def test_same_width_other_columns_is_compared_as_heterogeneous():
    need_minilm()
    user = market().user("city-a", 7, 105)
    lw = next(lw for lw in market().learnwares if lw.spec.dim_ == 7)
    cat = Catalog()
    cat.add(lw.id, lw.semantic, lw.spec)
    result = cat.search(Requirement(user.semantic(), user_spec(user.x_pool)))
    assert len(result.single) == 1 and result.single[0].mapping is not None
    without = cat.search(Requirement(None, user_spec(user.x_pool)))
    assert without.single[0].mapping is None  # no descriptions: compared as before


def test_descriptions_missing_is_a_clear_error_when_nothing_else_compares():
    user = market().user("city-a", 5, 106)
    spec = user_spec(user.x_pool)
    names = [f.name for f in user.org.input_spec().features]
    partly = {names[0]: "living area of the house"}
    for semantic in (SemanticSpec(input=InputSpec.from_columns(names)),
                     SemanticSpec(data_type="table", input=InputSpec.from_columns(names, partly))):
        with pytest.raises(SearchError, match=r"heterogeneous search .* needs "
                                              r"semantic\.input\.features with a description "
                                              rf"for every column; missing for .*{names[1]}"):
            catalog().search(Requirement(semantic, spec))


def test_a_requirement_without_columns_keeps_the_old_empty_answer_with_a_note():
    user = market().user("city-a", 5, 106)
    for semantic in (None, SemanticSpec(data_type="table")):
        result = catalog().search(Requirement(semantic, user_spec(user.x_pool)))
        assert result.single == ()
        assert result.notes[0].startswith("no learnware in space")
        assert "needs semantic.input.features with a description" in result.notes[-1]


def test_named_undescribed_columns_are_not_compared_by_position():
    # Same width is not same meaning: learnwares that name other columns are not
    # matched column by column against a user who names (but does not describe)
    # theirs; with nothing else left the search says what it needs.
    user = market().user("city-a", 7, 107)
    cat = Catalog()
    for lw in market().learnwares:
        cat.add(lw.id, lw.semantic, lw.spec)
    names = [f.name for f in user.org.input_spec().features]
    names_only = SemanticSpec(input=InputSpec.from_columns(names))
    spec = user_spec(user.x_pool)
    with pytest.raises(SearchError, match="description"):
        cat.search(Requirement(names_only, spec))
    cat.add("own-columns", names_only, user_spec(user.x_pool[::-1]))
    result = cat.search(Requirement(names_only, spec))
    assert [m.id for m in result.single] == ["own-columns"]
    assert "needs semantic.input.features with a description" in result.notes[-1]
    # without names the rows are compared as they are, with the same note
    unnamed = cat.search(Requirement(SemanticSpec(), spec))
    assert len(unnamed.single) > 1 and all(m.mapping is None for m in unnamed.single)
    assert "needs semantic.input.features with a description" in unnamed.notes[-1]


def test_an_image_requirement_with_columns_is_refused():
    user = market().user("city-a", 6, 108)
    semantic = dataclasses.replace(user.semantic(), data_type="image")
    with pytest.raises(SearchError, match="maps table columns; the requirement is image data"):
        catalog().search(Requirement(semantic, user_spec(user.x_pool)))


def test_search_learnwares_refuses_learnwares_it_cannot_map():
    user = market().user("city-a", 6, 109)
    req = Requirement(user.semantic(), user_spec(user.x_pool))
    lw = market().learnwares[0]
    image = dataclasses.replace(lw.semantic, data_type="image")
    with pytest.raises(SearchError, match="not a table with named columns \\(image\\)"):
        search_learnwares(req, [(lw.id, image, lw.spec)])
    unnamed = dataclasses.replace(lw.semantic, input=InputSpec(lw.spec.dim_))
    with pytest.raises(SearchError, match="not a table with named columns"):
        search_learnwares(req, [(lw.id, unnamed, lw.spec)])
    with pytest.raises(SearchError, match="needs the RKME"):
        search_learnwares(Requirement(user.semantic()), [])
    wrong_width = Requirement(user.semantic(), user_spec(user.x_pool[:, :4]))
    with pytest.raises(SearchError, match="describes 6 columns, the RKME has 4"):
        search_learnwares(wrong_width, [])


def test_without_the_text_extra_the_step_is_skipped_with_a_note(monkeypatch):
    """A node without the encoder still answers (the extra cannot be uninstalled here,
    so the encoder is replaced by one that fails as a missing extra does)."""
    import engine.hetero.search as hetero_search
    from engine.errors import MissingExtraError
    from engine.hetero.embedding import ColumnEmbedder

    def missing(texts):
        raise MissingExtraError("text embeddings need the optional 'text' extra")

    monkeypatch.setattr(hetero_search, "default_embedder", lambda: ColumnEmbedder(missing))
    user = market().user("city-a", 6, 110)
    result = catalog().search(Requirement(user.semantic(), user_spec(user.x_pool)))
    assert result.single == ()  # same-width learnwares name other columns: not comparable
    assert "heterogeneous search skipped: text embeddings need" in result.notes[-1]
