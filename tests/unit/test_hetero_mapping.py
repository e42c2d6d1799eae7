"""Column texts, described inputs, `ColumnMapping` and filling missing columns."""

import numpy as np
import pytest

from engine.errors import SearchError, SpecError
from engine.hetero import ColumnMapping, ColumnPair
from engine.hetero.features import column_text, name_words, require_described, same_columns
from engine.hetero.fill import ConditionalFill, SpaceMap
from engine.specification import Feature, InputSpec, SemanticSpec


def test_from_columns_builds_described_features_from_lists_or_mappings():
    spec = InputSpec.from_columns(["age", "spend"], {"age": "age of the customer"},
                                  units=["years", "EUR"])
    assert spec.dimension == 2
    assert spec.features[0] == Feature("age", "age of the customer", "years")
    assert spec.features[1] == Feature("spend", "", "EUR")
    assert not spec.described
    assert InputSpec.from_columns(["a"], ["the a"]).described
    assert InputSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((["a", "a"],), {}, "appears twice"),
    ((["a", " "],), {}, "column 2 has no name"),
    (([],), {}, "no column names"),
    (("ab",), {}, "sequence of column names"),
    ((["a", "b"], ["only one"]), {}, "expected 2 descriptions"),
    ((["a"], {"b": "x"}), {}, "unknown column(s) b"),
    ((["a"],), {"units": ["m", "s"]}, "expected 1 units"),
])
def test_from_columns_refuses_bad_columns(args, kwargs, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        InputSpec.from_columns(*args, **kwargs)


def test_column_text_uses_words_description_and_unit():
    assert name_words("floorArea_m2") == "floor Area m2"
    assert column_text(Feature("floor_area", "living area", "m²")) == "floor area: living area (m²)"
    assert column_text(Feature("x")) == "x"


def test_same_columns_compares_texts_in_order():
    a = InputSpec.from_columns(["x", "y"], ["first", "second"])
    assert same_columns(a, InputSpec.from_columns(["X", "y"], ["First", "second"]))
    assert not same_columns(a, InputSpec.from_columns(["y", "x"], ["second", "first"]))
    assert not same_columns(a, InputSpec.from_columns(["x"], ["first"]))


def test_require_described_names_the_missing_columns_and_refuses_images():
    with pytest.raises(SearchError, match=r"needs semantic\.input\.features with a "
                                          r"description for every column; missing for b"):
        require_described(SemanticSpec(input=InputSpec.from_columns(["a", "b"], {"a": "x"})))
    with pytest.raises(SearchError, match="missing for <input>"):
        require_described(SemanticSpec())
    with pytest.raises(SearchError, match="maps table columns; the requirement is image data"):
        require_described(SemanticSpec(data_type="image", input=InputSpec.from_columns(
            ["a"], ["x"])))


def mapping() -> ColumnMapping:
    return ColumnMapping(("u0", "u1", "u2"), ("l0", "l1", "l2", "l3"),
                         (ColumnPair(2, 0, 0.9), ColumnPair(0, 3, 0.7)))


def test_mapping_views_and_round_trip():
    m = mapping()
    assert m.missing == (1, 2) and m.unused == (1,)
    assert m.coverage == 0.5 and not m.is_identity
    assert m.source().tolist() == [2, -1, -1, 0]
    assert m.describe()[0] == "l0 <- u2 (0.90)"
    assert m.describe()[1].startswith("l1 <- missing")
    assert m.describe()[-1] == "(unused) u1"
    assert ColumnMapping.from_dict(m.to_dict()) == m
    same = ColumnMapping(("a", "b"), ("a", "b"), (ColumnPair(0, 0, 1.0), ColumnPair(1, 1, 1.0)))
    assert same.is_identity


@pytest.mark.parametrize(("change", "message"), [
    ({"pairs": [{"user": 0, "learnware": 9, "similarity": 1.0}]}, "out of range"),
    ({"pairs": [{"user": 0, "learnware": 0, "similarity": 1.0},
                {"user": 0, "learnware": 1, "similarity": 1.0}]}, "one-to-one"),
    ({"pairs": [{"user": "0", "learnware": 0, "similarity": 1.0}]}, "must be integers"),
    ({"pairs": [{"user": 0, "learnware": 0, "similarity": float("nan")}]}, "finite"),
    ({"pairs": [{"user": 0, "learnware": 0}]}, "expected {user"),
    ({"missing": [0]}, "does not agree"),
    ({"user_columns": "u0"}, "list of column names"),
    ({"extra": 1}, "unknown field"),
])
def test_mapping_from_dict_refuses_hostile_input(change, message):
    data = {**mapping().to_dict(), **change}
    with pytest.raises(SearchError, match=message):
        ColumnMapping.from_dict(data)


def gaussian_points(n=4000, seed=0):
    """Three jointly Gaussian columns with known conditional means."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]])
    mean = np.array([5.0, -2.0, 10.0])
    return rng.multivariate_normal(mean, cov, n), mean, cov


def test_linear_fill_is_the_gaussian_conditional_mean():
    z, mean, cov = gaussian_points()
    fill = ConditionalFill(z, np.full(len(z), 1 / len(z)), np.array([0, 2]), "linear")
    x_obs = np.array([[6.0, 9.0], [4.0, 11.0]])
    coef = cov[1, [0, 2]] @ np.linalg.inv(cov[np.ix_([0, 2], [0, 2])])
    expected = mean[1] + (x_obs - mean[[0, 2]]) @ coef
    out = fill.complete(x_obs)
    assert np.allclose(out[:, [0, 2]], x_obs)
    assert np.allclose(out[:, 1], expected, atol=0.06)


@pytest.mark.parametrize("method", ["linear", "kernel", "mean"])
def test_fill_never_uses_zeros_and_expand_keeps_weights(method):
    z, mean, _ = gaussian_points(600)
    w = np.full(len(z), 1 / len(z))
    fill = ConditionalFill(z, w, np.array([0]), method)
    out = fill.complete(np.array([[5.0]]))
    assert np.allclose(out[0, 1:], mean[1:], atol=0.3)  # near the learnware's typical values
    pts, pw = fill.expand(z[:20, [0]], np.full(20, 1 / 20))
    assert np.isclose(pw.sum(), 1.0) and len(pts) == len(pw)
    if method != "mean":
        assert len(pts) > 20  # several draws per row keep the missing columns' spread
        assert pts[:, 1].std() > 0.5


def test_space_map_copies_mapped_columns_and_checks_widths():
    z, _, _ = gaussian_points(300)
    m = ColumnMapping(("b", "a"), ("a", "b", "c"), (ColumnPair(1, 0, 1.0), ColumnPair(0, 1, 1.0)))
    space = SpaceMap(m, z, np.full(len(z), 1 / len(z)))
    rows = space.transform(np.array([[-2.0, 5.0]]))
    assert rows[0, 0] == 5.0 and rows[0, 1] == -2.0
    with pytest.raises(SearchError, match="expected 2 user columns"):
        space.transform(np.ones((1, 3)))
    with pytest.raises(SearchError, match="its spec has 3"):
        SpaceMap(ColumnMapping(("a",), ("a", "b"), ()), z, np.full(len(z), 1 / len(z)))
    with pytest.raises(SearchError, match="fill: expected one of"):
        ConditionalFill(z, np.full(len(z), 1 / len(z)), np.array([0]), "zeros")


def test_same_names_are_the_same_columns_when_one_side_only_names_them():
    described = InputSpec.from_columns(["f0", "f1"], ["first reading", "second reading"])
    assert same_columns(InputSpec.from_columns(["f0", "f1"]), described)
    assert same_columns(described, InputSpec.from_columns(["F0", "f1"]))
    assert not same_columns(described, InputSpec.from_columns(["f0", "f1"], ["other", ""]))
    assert not same_columns(InputSpec.from_columns(["f1", "f0"]), described)
