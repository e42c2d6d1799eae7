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
