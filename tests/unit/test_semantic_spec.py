"""SemanticSpec: validation, normalisation and lossless round trips."""

import pytest

from engine.errors import SpecError
from engine.specification import Feature, InputSpec, OutputSpec, SemanticSpec
from engine.vocabulary import DataType, TaskType


def full_spec() -> SemanticSpec:
    return SemanticSpec(
        data_type="Table", task_type="classification", library="scikit-learn",
        scenarios=["Retail", "business"], license="MIT", name="Churn model",
        description="Predicts churn from usage",
        input=InputSpec(2, (Feature("age", "years", "y", "int"), Feature("spend"))),
        output=OutputSpec(1, ("churned",), (0, 1)),
    )


def test_vocabulary_is_normalised():
    spec = full_spec()
    assert spec.data_type is DataType.TABLE
    assert spec.task_type is TaskType.CLASSIFICATION
    assert spec.scenarios == ("business", "retail")


def test_round_trip_is_lossless():
    spec = full_spec()
    assert SemanticSpec.from_dict(spec.to_dict()) == spec
    assert SemanticSpec.from_dict(SemanticSpec().to_dict()) == SemanticSpec()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"data_type": "video"}, "data_type"),
    ({"task_type": "clustering"}, "task_type"),
    ({"license": "wtfpl"}, "license"),
    ({"scenarios": "retail"}, "scenarios"),
    ({"name": "x" * 201}, "name"),
    ({"name": 3}, "name"),
])
def test_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SemanticSpec(**kwargs)


def test_allowed_values_are_listed():
    with pytest.raises(SpecError, match="'classification'"):
        SemanticSpec(task_type="clustering")


def test_feature_count_must_match_dimension():
    with pytest.raises(SpecError, match=r"input\.features"):
        InputSpec(3, (Feature("a"),))


def test_labels_unique_and_typed():
    with pytest.raises(SpecError, match="unique"):
        OutputSpec(1, (), (1, 1))
    with pytest.raises(SpecError, match="labels"):
        OutputSpec(1, (), (1.5,))


def test_from_dict_rejects_unknown_fields_and_versions():
    data = full_spec().to_dict()
    with pytest.raises(SpecError, match="unknown field"):
        SemanticSpec.from_dict({**data, "colour": "red"})
    with pytest.raises(SpecError, match="format"):
        SemanticSpec.from_dict({**data, "format": 99})
    with pytest.raises(SpecError, match="input"):
        SemanticSpec.from_dict({**data, "input": {"dimension": "two"}})


def test_require_complete():
    full_spec().require_complete()
    with pytest.raises(SpecError, match="task_type"):
        SemanticSpec(data_type="table", name="x", input=InputSpec(1),
                     output=OutputSpec(1)).require_complete()
    with pytest.raises(SpecError, match="labels"):
        SemanticSpec(data_type="table", task_type="classification", name="x",
                     input=InputSpec(1), output=OutputSpec(1)).require_complete()


# -- a column's declared range (the DP mode's per-column bounds) ---------------------------
def test_a_declared_range_is_two_floats_and_round_trips():
    age = Feature("age", "years", range=[0, 120])
    assert age.range == (0.0, 120.0) and all(isinstance(v, float) for v in age.range)
    assert age.to_dict()["range"] == [0.0, 120.0]
    spec = SemanticSpec(input=InputSpec(2, (age, Feature("spend"))))
    assert SemanticSpec.from_dict(spec.to_dict()) == spec
    assert spec.input is not None and spec.input.ranges == ((0.0, 120.0), None)


def test_a_feature_without_a_range_is_the_same_map_as_before_ranges_existed():
    assert Feature("spend", "monthly", "EUR").to_dict() == {
        "name": "spend", "description": "monthly", "unit": "EUR", "kind": ""}


@pytest.mark.parametrize(("value", "words"), [
    ([1], r"column 'age': range: expected \[low, high\], two numbers, got \[1\]"),
    ([0, 1, 2], "two numbers"),
    ("0,1", "two numbers, got '0,1'"),
    ([0, "120"], "two numbers"),
    ([True, 2], "two numbers"),  # a bool is not a number here
    ({"low": 0, "high": 1}, "two numbers"),
    ([120, 0], r"column 'age': range: low must be below high, got \[120.0, 0.0\]"),
    ([5, 5], "low must be below high"),
    ([float("nan"), 1], "low and high must be finite numbers"),
    ([0, float("inf")], "low and high must be finite numbers"),
    ([-(10**400), 0], "low and high must be finite numbers"),  # beyond any float
])
def test_a_bad_range_is_refused_naming_the_column(value, words):
    with pytest.raises(SpecError, match=words):
        Feature("age", range=value)
    with pytest.raises(SpecError, match=r"input\.features: column 'age': range"):
        InputSpec.from_dict({"dimension": 1, "features": [{"name": "age", "range": value}]})


def test_ranges_per_column_by_name_or_in_order():
    by_name = InputSpec.from_columns(["a", "b"], ranges={"b": (-1, 1)})
    assert by_name.ranges == (None, (-1.0, 1.0))
    in_order = InputSpec.from_columns(["a", "b"], ranges=[(0, 1), (2, 3)])
    assert in_order.ranges == ((0.0, 1.0), (2.0, 3.0))
    with pytest.raises(SpecError, match="ranges for unknown column"):
        InputSpec.from_columns(["a"], ranges={"z": (0, 1)})
    with pytest.raises(SpecError, match=r"expected 2 ranges \(one per column\)"):
        InputSpec.from_columns(["a", "b"], ranges=[(0, 1)])


def test_without_ranges_keeps_everything_else():
    spec = SemanticSpec(name="x", input=InputSpec.from_columns(
        ["a", "b"], ["first", "second"], ranges={"a": (0, 1)}))
    bare = spec.without_ranges()
    assert bare.input is not None and bare.input.ranges == (None, None)
    assert [f.description for f in bare.input.features] == ["first", "second"]
    assert bare.name == "x" and bare.without_ranges() is bare
