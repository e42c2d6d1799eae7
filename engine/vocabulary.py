"""The closed vocabularies of the semantic specification, in one place.

Values are the strings that appear in manifests, on the wire and in the API; the
reference `learnware` package uses the same words (capitalised) for the same ideas.
"""

from __future__ import annotations

from enum import Enum


class _Vocab(str, Enum):
    """A string enum whose invalid values give a `ValueError` naming the field."""

    @classmethod
    def parse(cls, value: object, field: str) -> _Vocab:
        from engine.errors import SpecError

        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            norm = value.strip().lower().replace(" ", "_").replace("-", "_")
            for member in cls:
                if member.value == norm:
                    return member
        allowed = ", ".join(repr(m.value) for m in cls)
        raise SpecError(f"{field}: {value!r} is not one of {allowed}")

    def __str__(self) -> str:
        return self.value


class DataType(_Vocab):
    TABLE = "table"
    IMAGE = "image"
    TEXT = "text"


class TaskType(_Vocab):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    FEATURE_EXTRACTION = "feature_extraction"
    OTHER = "other"


class Library(_Vocab):
    SCIKIT_LEARN = "scikit_learn"
    PYTORCH = "pytorch"
    OTHER = "other"


class License(_Vocab):
    APACHE_2_0 = "apache_2.0"
    MIT = "mit"
    BSD_3_CLAUSE = "bsd_3_clause"
    CC_BY_4_0 = "cc_by_4.0"
    GPL_3_0 = "gpl_3.0"
    PROPRIETARY = "proprietary"
    OTHER = "other"


SCENARIOS: frozenset[str] = frozenset(
    {
        "business",
        "financial",
        "health",
        "politics",
        "computer",
        "internet",
        "traffic",
        "nature",
        "fashion",
        "industry",
        "agriculture",
        "education",
        "entertainment",
        "architecture",
        "retail",
        "energy",
        "other",
    }
)
"""Scenario tags. Free-form tags are allowed too; these are the suggested ones."""
