"""Catalog search: ranking, mixtures, semantic filter, contents, on known answers."""

import numpy as np
import pytest

from engine.errors import SearchError
from engine.search import MIXTURE_MIN_GAIN, Catalog, Requirement
from engine.specification import InputSpec, RKMETableSpec, SemanticSpec, mmd2, spec_from_dict

SEM = SemanticSpec(data_type="table", task_type="classification", name="region classifier")


@pytest.fixture(scope="module")
def market(regions):
    catalog = Catalog()
    specs = {}
    for r in range(10):
        specs[f"lw{r}"] = RKMETableSpec(random_state=r).fit(regions.sample(r, 600))
        catalog.add(f"lw{r}", SEM, specs[f"lw{r}"])
    return catalog, specs


def spec_from_points(points, gamma, weights=None):
    """A spec with given points (fast: no fitting), through the public from_dict."""
    w = np.full(len(points), 1 / len(points)) if weights is None else weights
    return spec_from_dict({"type": "rkme_table", "format": 1, "space": f"table/d={points.shape[1]}",
                           "gamma": gamma, "n_samples": len(points), "points": points,
                           "weights": w, "params": {}})


def user_spec(data, seed=0):
    return RKMETableSpec(random_state=seed).fit(data)


def test_single_region_user_finds_its_region_10_of_10(market, regions):
    catalog, _ = market
    for r in range(10):
        result = catalog.search(Requirement(spec=user_spec(regions.sample(r, 300), r)))
        assert result.single[0].id == f"lw{r}"
        # private specs (one point per >= 20 rows: 15 points here) score a perfect
        # match 0.85-0.9 where the old row-copying fit scored > 0.9
        assert result.single[0].score > 0.8
        assert result.mixture is None  # one region: a mixture cannot beat it by the margin


def test_ranking_is_by_exact_mmd2_with_scores_in_unit_interval(market, regions):
    catalog, specs = market
    q = user_spec(regions.sample(4, 300))
    result = catalog.search(Requirement(spec=q), k=10)
    values = [m.mmd2 for m in result.single]
    assert values == sorted(values)
    for m in result.single:
        assert m.mmd2 == pytest.approx(mmd2(q, specs[m.id]), rel=1e-5, abs=1e-7)
        assert 0.0 <= m.score <= 1.0
    assert result.exact and result.n_candidates == 10


def test_half_half_user_gets_a_two_learnware_mixture(market, regions):
    catalog, _ = market
    for a, b in [(2, 7), (0, 5), (3, 9)]:
        q = user_spec(regions.mix({a: 300, b: 300}), a)
        result = catalog.search(Requirement(spec=q), max_mixture=4)
        mix = result.mixture
        assert mix is not None
        assert set(mix.ids) == {f"lw{a}", f"lw{b}"}
        assert all(abs(w - 0.5) <= 0.15 for w in mix.weights)
        assert abs(sum(mix.weights) - 1) < 1e-9
        assert mix.mmd2 <= (1 - MIXTURE_MIN_GAIN) * result.single[0].mmd2
        assert mix.score > result.single[0].score


def test_unequal_mixture_weights_follow_the_proportions(market, regions):
    catalog, _ = market
    q = user_spec(regions.mix({1: 450, 6: 150}))
    mix = catalog.search(Requirement(spec=q)).mixture
    assert mix is not None
    weights = dict(zip(mix.ids, mix.weights, strict=True))
    assert weights["lw1"] == pytest.approx(0.75, abs=0.1)


def test_max_mixture_one_disables_mixtures(market, regions):
    catalog, _ = market
    q = user_spec(regions.mix({2: 300, 7: 300}))
    assert catalog.search(Requirement(spec=q), max_mixture=1).mixture is None


def test_scores_are_comparable_across_queries(market, regions):
    """A perfect match scores near 1 whatever the query; a far one near 0."""
    catalog, _ = market
    for r in (0, 8):
        result = catalog.search(Requirement(spec=user_spec(regions.sample(r, 400))), k=10)
        assert result.single[0].score > 0.8 and result.single[-1].score < 0.1


def test_pair_kernel_when_gammas_differ(regions):
    catalog = Catalog()
    a = RKMETableSpec(gamma=0.05, random_state=0).fit(regions.sample(0, 300))
    b = RKMETableSpec(gamma=0.2, random_state=0).fit(regions.sample(1, 300))
    catalog.add("a", SEM, a)
    catalog.add("b", SEM, b)
    q = RKMETableSpec(gamma=0.1, random_state=0).fit(regions.sample(0, 300))
    result = catalog.search(Requirement(spec=q), k=2)
    assert [m.id for m in result.single] == ["a", "b"]
    assert result.single[0].mmd2 == pytest.approx(mmd2(q, a), rel=1e-5)


def test_semantic_filter_rules(regions):
    catalog = Catalog()
    spec = RKMETableSpec(n_points=10, random_state=0).fit(regions.sample(0, 100))
    catalog.add("clf", SemanticSpec(data_type="table", task_type="classification",
                                    scenarios=["retail"], name="Churn classifier",
                                    input=InputSpec(10)), spec)
    catalog.add("reg", SemanticSpec(data_type="table", task_type="regression",
                                    scenarios=["energy"], name="Load forecasting",
                                    description="forecasts hourly electricity demand"), spec)

    def ids(**kwargs):
        req = Requirement(semantic=SemanticSpec(**kwargs), spec=spec)
        return sorted(m.id for m in catalog.search(req).single)

    assert ids() == ["clf", "reg"]  # empty fields are ignored
    assert ids(task_type="regression") == ["reg"]
    assert ids(scenarios=["retail", "health"]) == ["clf"]
    assert ids(name="classification of churners") == ["clf"]  # fuzzy stems
    assert ids(description="electricity forecast") == ["reg"]
    assert ids(name="weather radar") == []
    assert ids(input=InputSpec(10)) == ["clf", "reg"]
    assert ids(input=InputSpec(3)) == ["reg"]  # "reg" states no input dimension
    assert ids(library="pytorch") == []


def test_semantic_only_search_ranks_by_words(regions):
    catalog = Catalog()
    spec = RKMETableSpec(n_points=5, random_state=0).fit(regions.sample(0, 50))
    catalog.add("a", SemanticSpec(name="hourly electricity load forecaster"), spec)
    catalog.add("b", SemanticSpec(name="electricity price model"), spec)
    result = catalog.search(Requirement(semantic=SemanticSpec(name="electricity load")))
    assert [m.id for m in result.single] == ["a", "b"]
    assert result.single[0].mmd2 is None and result.single[0].score == 1.0


def test_add_replace_remove_get(regions):
    catalog = Catalog()
    s0 = RKMETableSpec(random_state=0).fit(regions.sample(0, 200))
    s1 = RKMETableSpec(random_state=0).fit(regions.sample(1, 200))
    catalog.add("x", SEM, s0)
    catalog.add("x", SEM, s1)  # replace
    assert len(catalog) == 1
    entry = catalog.get("x")
    np.testing.assert_allclose(entry.spec.points_, s1.points_, rtol=1e-6)
    assert entry.spec.space == s1.space and entry.semantic == SEM
    catalog.remove("x")
    assert "x" not in catalog and len(catalog) == 0
    with pytest.raises(KeyError):
        catalog.get("x")
    result = catalog.search(Requirement(spec=s0))
    assert result.single == () and result.n_candidates == 0


def test_many_removals_compact_and_keep_search_right(regions):
    catalog = Catalog()
    specs = {}
    for i in range(300):
        specs[i] = spec_from_points(regions.sample(i % 10, 8), gamma=0.0625)
        catalog.add(f"e{i}", SEM, specs[i])
    for i in range(300):
        if i % 10 != 3:
            catalog.remove(f"e{i}")
    assert len(catalog) == 30
    q = user_spec(regions.sample(3, 200))
    q = spec_from_points(q.points_, 0.0625, q.weights_)
    result = catalog.search(Requirement(spec=q), k=30, exact=True)
    assert {m.id for m in result.single} == {f"e{i}" for i in range(3, 300, 10)}
    for m in result.single[:5]:
        assert m.mmd2 == pytest.approx(mmd2(q, specs[int(m.id[1:])]), rel=1e-4)


def test_spaces_are_kept_apart(regions):
    catalog = Catalog()
    catalog.add("d10", SEM, RKMETableSpec(n_points=5, random_state=0).fit(regions.sample(0, 50)))
    q = RKMETableSpec(n_points=5, random_state=0).fit(np.ones((20, 3)) + np.arange(3))
    result = catalog.search(Requirement(spec=q))
    assert result.single == () and "no learnware in space" in result.notes[0]
    assert catalog.spaces() == {"table/d=10": 1}


@pytest.mark.parametrize("bad", [{"k": 0}, {"k": 2.5}, {"max_mixture": 0}])
def test_bad_search_arguments(market, bad):
    catalog, specs = market
    with pytest.raises(SearchError):
        catalog.search(Requirement(spec=specs["lw0"]), **bad)
    with pytest.raises(ValueError):
        catalog.search("not a requirement")  # type: ignore[arg-type]


def test_file_backed_points_give_the_same_answers(regions, tmp_path):
    memory, on_disk = Catalog(), Catalog(points_dir=tmp_path)
    specs = [spec_from_points(regions.sample(i % 10, 20), gamma=0.0625) for i in range(200)]
    for i, s in enumerate(specs):
        memory.add(f"e{i}", SEM, s)
        on_disk.add(f"e{i}", SEM, s)
    for i in range(0, 200, 3):  # enough removals to trigger compaction of both
        memory.remove(f"e{i}")
        on_disk.remove(f"e{i}")
    assert list(tmp_path.iterdir()) and on_disk.nbytes() < memory.nbytes()
    q = user_spec(regions.mix({4: 200, 8: 200}))
    a = memory.search(Requirement(spec=q), k=10, exact=True)
    b = on_disk.search(Requirement(spec=q), k=10, exact=True)
    assert [m.id for m in a.single] == [m.id for m in b.single]
    assert [m.mmd2 for m in a.single] == pytest.approx([m.mmd2 for m in b.single], rel=1e-9)
    np.testing.assert_array_equal(memory.get("e4").spec.points_, on_disk.get("e4").spec.points_)
