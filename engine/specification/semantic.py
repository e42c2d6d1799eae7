"""`SemanticSpec`: what a learnware is for, in words and closed vocabularies.

Every field may be left empty so that the same class describes a user's *partial*
requirement; `require_complete()` states what a published learnware must fill in.
Instances are frozen and validated at construction, so an invalid spec cannot exist.

A `Feature` may declare its column's ``range`` (low, high): the values the column can
take, stated by the owner (never computed from the rows: a declared range is public,
and the rows' own minimum and maximum are two of the rows). The differentially
private mode places its synthetic points inside it (`engine.privacy.public`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine.errors import SpecError
from engine.params import Interval, check_param
from engine.vocabulary import DataType, Library, License, TaskType

SEMANTIC_FORMAT_VERSION = 1

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_DIMENSION = 1_000_000
MAX_FEATURES = 10_000
MAX_LABELS = 10_000

Label = int | str
Range = tuple[float, float]

FEATURE_FIELDS = ("name", "description", "unit", "kind", "range")
INPUT_FIELDS = ("dimension", "features")
OUTPUT_FIELDS = ("dimension", "descriptions", "labels")


FEATURE_TEXT_CHARS = {"name": MAX_NAME_CHARS, "description": MAX_DESCRIPTION_CHARS,
                      "unit": MAX_TAG_CHARS, "kind": MAX_TAG_CHARS}
"""The longest text each text field of a `Feature` (a column) may hold."""


def text_problem(value: object, max_chars: int) -> str | None:
    """What is wrong with `value` as a text field of at most `max_chars` characters, in
    the words of someone who wrote it in a TOML file; None when nothing is."""
    if isinstance(value, str):
        return None if len(value) <= max_chars else \
            f"{len(value)} characters, at most {max_chars}"
    if isinstance(value, bool):
        got = f"{str(value).lower()}"
    elif isinstance(value, int | float):
        got = f"a number ({value!r})"
    elif isinstance(value, Mapping):
        got = "a table"
    elif isinstance(value, list | tuple):
        got = "a list"
    else:
        got = type(value).__name__
    return f"expected text, got {got}"


def _text(value: object, field_name: str, max_chars: int) -> str:
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise SpecError(f"{field_name}: {problem}")
    assert isinstance(value, str)
    return value


def _dimension(value: object, field_name: str) -> int:
    check_param(field_name, value, [Interval(int, 1, MAX_DIMENSION)], SpecError)
    assert isinstance(value, int)
    return value


def _reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}")


def declared_range(value: object, column: str, *, where: str | None = None
                   ) -> Range | None:
    """A declared (low, high) as floats, or None; refused unless two finite numbers,
    low below high (the error names the column, or starts with `where`)."""
    if value is None:
        return None
    where = where or f"column {column!r}: range"
    if (isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise SpecError(f"{where}: expected [low, high], two numbers, got {value!r:.80}")
    try:
        low, high = float(value[0]), float(value[1])
    except OverflowError:  # an integer beyond any float
        raise SpecError(f"{where}: low and high must be finite numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError(f"{where}: low and high must be finite numbers, got "
                        f"[{low!r}, {high!r}]")
    if not low < high:
        raise SpecError(f"{where}: low must be below high, got [{low!r}, {high!r}]")
    return low, high


@dataclass(frozen=True)
class Feature:
    """One input column: its name, what it means, and optionally its unit, type and
    declared range ``(low, high)`` (see the module docstring)."""

    name: str
    description: str = ""
    unit: str = ""
    kind: str = ""
    range: Range | None = None

    def __post_init__(self) -> None:
        _text(self.name, "column name", MAX_NAME_CHARS)
        for field in ("description", "unit", "kind"):  # the errors name the column
            _text(getattr(self, field), f"column {self.name!r}: {field}",
                  FEATURE_TEXT_CHARS[field])
        object.__setattr__(self, "range", declared_range(self.range, self.name))

    def to_dict(self) -> dict[str, Any]:
        """The map of the wire and the manifest; ``range`` only when declared, so a
        feature without one is the same map as before ranges existed."""
        out: dict[str, Any] = {"name": self.name, "description": self.description,
                               "unit": self.unit, "kind": self.kind}
        if self.range is not None:
            out["range"] = list(self.range)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        _reject_unknown(data, FEATURE_FIELDS, "a column")
        if "name" not in data:
            raise SpecError("a column: missing field name")
        return cls(**{k: data[k] for k in FEATURE_FIELDS if k in data})


@dataclass(frozen=True)
class InputSpec:
    """The model's input: its dimension and, optionally, one `Feature` per column."""

    dimension: int
    features: tuple[Feature, ...] = ()

    def __post_init__(self) -> None:
        _dimension(self.dimension, "input.dimension")
        object.__setattr__(self, "features", tuple(self.features))
        if not all(isinstance(f, Feature) for f in self.features):
            raise SpecError("input.features: expected Feature objects")
        if self.features and len(self.features) != self.dimension:
            raise SpecError(
                f"input.features: {len(self.features)} descriptions for dimension "
                f"{self.dimension}; give one per feature or none"
            )

    @classmethod
    def from_columns(cls, names: Sequence[str],
                     descriptions: Sequence[str] | Mapping[str, str] | None = None, *,
                     units: Sequence[str] | Mapping[str, str] | None = None,
                     kinds: Sequence[str] | Mapping[str, str] | None = None,
                     ranges: Sequence[Range | None] | Mapping[str, Range] | None = None
                     ) -> InputSpec:
        """An input spec of a table: one `Feature` per column, e.g. a header plus a data
        dictionary.

        `descriptions`, `units`, `kinds` and `ranges` are either one value per column,
        in the order of `names`, or a mapping from column name to value (columns left
        out get "", or no range). Names must be unique and non-empty: heterogeneous
        search and reuse map columns by them (see `engine.hetero`).
        """
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise SpecError("input.features: expected a sequence of column names")
        cols = [_text(n, f"column {i}'s name", MAX_NAME_CHARS)
                for i, n in enumerate(names, 1)]
        if not cols:
            raise SpecError("input.features: no column names given")
        own = "every column needs a name of its own (columns are matched by name)"
        seen: set[str] = set()
        for i, name in enumerate(cols, 1):
            if not name.strip():
                raise SpecError(f"column {i} has no name; {own}")
            if name in seen:
                raise SpecError(f"column {name!r} appears twice; {own}")
            seen.add(name)

        def per_column(values: Sequence[Any] | Mapping[str, Any] | None, what: str,
                       missing: Any = "") -> list[Any]:
            if values is None:
                return [missing] * len(cols)
            if isinstance(values, Mapping):
                unknown = sorted(set(values) - seen)
                if unknown:
                    raise SpecError(f"input.features: {what} for unknown column(s) "
                                    f"{', '.join(map(str, unknown))}")
                return [values.get(name, missing) for name in cols]
            if isinstance(values, str) or len(values) != len(cols):
                raise SpecError(f"input.features: expected {len(cols)} {what} (one per "
                                "column) or a mapping from column name")
            return list(values)

        columns = zip(cols, per_column(descriptions, "descriptions"),
                      per_column(units, "units"), per_column(kinds, "kinds"),
                      per_column(ranges, "ranges", None), strict=True)
        return cls(len(cols), tuple(Feature(*column) for column in columns))

    @property
    def ranges(self) -> tuple[Range | None, ...]:
        """Each column's declared range (None where a feature declares none); empty when
        the spec has no features."""
        return tuple(f.range for f in self.features)

    @property
    def described(self) -> bool:
        """True when every column has a feature with a non-empty description."""
        return bool(self.features) and all(f.description.strip() for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSpec:
        _reject_unknown(data, INPUT_FIELDS, "input")
        if "dimension" not in data:
            raise SpecError("input: missing field dimension")
        feats = data.get("features", [])
        if not isinstance(feats, list) or len(feats) > MAX_FEATURES:
            raise SpecError(f"input.features: expected a list of at most {MAX_FEATURES}")
        try:  # a column's error says where the column is
            features = tuple(Feature.from_dict(f) for f in feats)
        except SpecError as exc:
            raise SpecError(f"input.features: {exc}") from None
        return cls(data["dimension"], features)


@dataclass(frozen=True)
class OutputSpec:
    """The model's output: dimension, per-output descriptions, class labels if any."""

    dimension: int
    descriptions: tuple[str, ...] = ()
    labels: tuple[Label, ...] = ()

    def __post_init__(self) -> None:
        _dimension(self.dimension, "output.dimension")
        object.__setattr__(self, "descriptions", tuple(self.descriptions))
        object.__setattr__(self, "labels", tuple(self.labels))
        for d in self.descriptions:
            _text(d, "output.descriptions[]", MAX_DESCRIPTION_CHARS)
        if self.descriptions and len(self.descriptions) != self.dimension:
            raise SpecError(
                f"output.descriptions: {len(self.descriptions)} for dimension {self.dimension}"
            )
        if len(self.labels) > MAX_LABELS:
            raise SpecError(f"output.labels: at most {MAX_LABELS} labels")
        for label in self.labels:
            if isinstance(label, bool) or not isinstance(label, int | str):
                raise SpecError(f"output.labels: {label!r} is not an integer or a string")
            if isinstance(label, str):
                _text(label, "output.labels[]", MAX_NAME_CHARS)
        if len(set(self.labels)) != len(self.labels):
            raise SpecError("output.labels: labels must be unique")

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "descriptions": list(self.descriptions),
                "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputSpec:
        _reject_unknown(data, OUTPUT_FIELDS, "output")
        if "dimension" not in data:
            raise SpecError("output: missing field dimension")
        for key in ("descriptions", "labels"):
            if not isinstance(data.get(key, []), list):
                raise SpecError(f"output.{key}: expected a list")
        return cls(data["dimension"], tuple(data.get("descriptions", [])),
                   tuple(data.get("labels", [])))


_FIELDS = ("data_type", "task_type", "library", "scenarios", "license", "name", "description",
           "input", "output")
SEMANTIC_FIELDS = ("format", *_FIELDS)
"""The keys of `SemanticSpec.to_dict` (those of its input, output and features:
`INPUT_FIELDS`, `OUTPUT_FIELDS`, `FEATURE_FIELDS`)."""


@dataclass(frozen=True)
class SemanticSpec:
    """Structured description of a learnware's task, or a user's partial requirement.

    Parameters
    ----------
    data_type, task_type, library, license
        Values of the vocabularies in `engine.vocabulary` (strings are accepted and
        normalised: ``"Classification"`` → ``TaskType.CLASSIFICATION``).
    scenarios
        Scenario tags (see `engine.vocabulary.SCENARIOS` for the suggested ones).
    name, description
        Free text. Search matches them fuzzily.
    input, output
        `InputSpec` / `OutputSpec`, or None when unknown (requirements).
    """

    data_type: DataType | None = None
    task_type: TaskType | None = None
    library: Library | None = None
    scenarios: tuple[str, ...] = ()
    license: License | None = None
    name: str = ""
    description: str = ""
    input: InputSpec | None = None
    output: OutputSpec | None = None

    def __post_init__(self) -> None:
        for name, vocab in (("data_type", DataType), ("task_type", TaskType),
                            ("library", Library), ("license", License)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, vocab.parse(value, name))
        if isinstance(self.scenarios, str):
            raise SpecError("scenarios: expected a list of tags, got a string")
        tags = tuple(self.scenarios)
        if len(tags) > MAX_TAGS:
            raise SpecError(f"scenarios: {len(tags)} tags, at most {MAX_TAGS} allowed")
        norm = tuple(sorted({_text(t, "scenarios[]", MAX_TAG_CHARS).strip().lower()
                             for t in tags} - {""}))
        object.__setattr__(self, "scenarios", norm)
        _text(self.name, "name", MAX_NAME_CHARS)
        _text(self.description, "description", MAX_DESCRIPTION_CHARS)
        if self.input is not None and not isinstance(self.input, InputSpec):
            raise SpecError("input: expected an InputSpec")
        if self.output is not None and not isinstance(self.output, OutputSpec):
            raise SpecError("output: expected an OutputSpec")
        out = self.output
        if (self.task_type is TaskType.CLASSIFICATION and out is not None and out.labels
                and out.dimension not in (1, len(out.labels))):
            raise SpecError(
                f"output.dimension: {out.dimension} for {len(out.labels)} "
                "labels; expected 1 (labels) or one column per label (probabilities)"
            )

    def require_complete(self) -> None:
        """Raise `SpecError` unless the spec can describe a published learnware."""
        missing = [f for f in ("data_type", "task_type", "name", "input", "output")
                   if getattr(self, f) in (None, "")]
        if missing:
            raise SpecError(f"semantic spec: missing required field(s) {', '.join(missing)}")
        assert self.output is not None
        if self.task_type is TaskType.CLASSIFICATION and not self.output.labels:
            raise SpecError("output.labels: a classification learnware must list its labels")

    def without_ranges(self) -> SemanticSpec:
        """This spec with no column's declared range: what a requirement needs (search
        matches columns by name and description; a range only bounds the owner's DP
        fit, and a 1.3 peer refuses a requirement that carries one)."""
        if self.input is None or all(r is None for r in self.input.ranges):
            return self
        features = tuple(replace(f, range=None) for f in self.input.features)
        return replace(self, input=replace(self.input, features=features))

    def to_dict(self) -> dict[str, Any]:
        def v(x: Any) -> Any:
            return None if x is None else x.value

        return {
            "format": SEMANTIC_FORMAT_VERSION,
            "data_type": v(self.data_type),
            "task_type": v(self.task_type),
            "library": v(self.library),
            "scenarios": list(self.scenarios),
            "license": v(self.license),
            "name": self.name,
            "description": self.description,
            "input": None if self.input is None else self.input.to_dict(),
            "output": None if self.output is None else self.output.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SemanticSpec:
        _reject_unknown(data, SEMANTIC_FIELDS, "semantic spec")
        version = data.get("format", SEMANTIC_FORMAT_VERSION)
        if version != SEMANTIC_FORMAT_VERSION:
            raise SpecError(
                f"semantic spec: format {version!r} is not supported "
                f"(this version reads format {SEMANTIC_FORMAT_VERSION})"
            )
        kwargs: dict[str, Any] = {k: data[k] for k in _FIELDS if data.get(k) is not None}
        if "scenarios" in kwargs and not isinstance(kwargs["scenarios"], list | tuple):
            raise SpecError("scenarios: expected a list of tags")
        if "input" in kwargs:
            kwargs["input"] = InputSpec.from_dict(kwargs["input"])
        if "output" in kwargs:
            kwargs["output"] = OutputSpec.from_dict(kwargs["output"])
        return cls(**kwargs)
