"""`Manifest`: the typed, validated content of ``learnware.toml``.

Every section is a frozen dataclass validated at construction; `Manifest.from_toml`
refuses unknown keys, wrong types and inconsistent sections with a `PackageError`
that names the key. See docs/packages.md for a commented example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ModelLoadError, PackageError, SpecError
from engine.models.formats import CODE, MODEL_FORMATS, TORCH_STATE_DICT, TORCHSCRIPT, refuse_unsafe
from engine.package import toml_write
from engine.package.names import check_entry_name
from engine.package.nesting import load_toml
from engine.privacy.report import PrivacyReport
from engine.specification.semantic import MAX_DIMENSION, MAX_LABELS, Label, SemanticSpec
from engine.vocabulary import TaskType

PACKAGE_FORMAT_VERSION = 1
MANIFEST_NAME = "learnware.toml"
MODEL_DIR = "model"
OUTPUT_KINDS = ("values", "logits", "probabilities")
METHODS = ("predict", "predict_proba")
MAX_SHAPE_RANK = 4
MAX_LAYERS = 256
INFO_FILES = ("README.md", "LICENSE")


def _reject_unknown(data: object, allowed: Sequence[str], where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PackageError(f"learnware.toml {where}: expected a table, got "
                           f"{type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise PackageError(f"learnware.toml {where}: unknown key(s) {', '.join(unknown)}")
    return data


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise PackageError(f"learnware.toml {where}: missing key {key!r}")
    return data[key]


def _str_tuple(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PackageError(f"learnware.toml {where}: expected a list of strings")
    return tuple(value)


def _shape(value: object, where: str, min_rank: int) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not min_rank <= len(value) <= MAX_SHAPE_RANK:
        raise PackageError(f"learnware.toml {where}: expected a list of {min_rank} to "
                           f"{MAX_SHAPE_RANK} positive integers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DIMENSION:
            raise PackageError(f"learnware.toml {where}: {v!r} is not an integer in "
                               f"1..{MAX_DIMENSION}")
    return tuple(value)


def shape_size(shape: Sequence[int]) -> int:
    """Number of values per row for a per-row shape (``()`` is one value)."""
    return math.prod(shape)


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: how to load the model and what it takes and returns per row.

    Attributes
    ----------
    format
        One of `engine.models.formats.MODEL_FORMATS`.
    file
        The model file (``model/model.skops``), or for code models the directory
        (``model``) whose files are the model's code and data.
    input_shape
        Shape of one input row (``[d]`` for tables).
    output_shape
        Shape of ``predict``'s output for one row: ``[]`` for one label or value,
        ``[k]`` for k regression targets.
    labels
        Class labels of a classifier; for torch, in the order of the output columns.
    entry_point
        Code models only: ``"module:attr"``; ``attr()`` returns the model.
    methods
        Methods the model offers (``predict``, and ``predict_proba`` for classifiers).
    output_kind
        Torch only: what the network's output columns are (``values`` for
        regression, ``logits`` or ``probabilities`` for classification).
    architecture
        Torch state dicts only: the layer list the weights are loaded into.
    trusted_types
        skops only, informational: types beyond scikit-learn/numpy/scipy the file
        needs. A loader still refuses them unless its caller trusts them.
    """

    format: str
    file: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] = ()
    labels: tuple[Label, ...] = ()
    entry_point: str = ""
    methods: tuple[str, ...] = ("predict",)
    output_kind: str = "values"
    architecture: tuple[Mapping[str, Any], ...] = ()
    trusted_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.format, str):
            raise PackageError("learnware.toml [model] format: expected a string")
        try:
            refuse_unsafe(str(self.file), self.format)
        except ModelLoadError as exc:
            raise PackageError(f"learnware.toml [model]: {exc}") from None
        if self.format not in MODEL_FORMATS:
            raise PackageError(f"learnware.toml [model] format: {self.format!r} is not one of "
                               f"{', '.join(MODEL_FORMATS)}")
        if not isinstance(self.file, str):
            raise PackageError("learnware.toml [model] file: expected a string")
        check_entry_name(self.file)
        object.__setattr__(self, "input_shape", _shape(self.input_shape,
                                                       "[model] input_shape", 1))
        object.__setattr__(self, "output_shape", _shape(self.output_shape,
                                                        "[model] output_shape", 0))
        self._check_labels()
        object.__setattr__(self, "methods", _str_tuple(self.methods, "[model] methods"))
        if "predict" not in self.methods or not set(self.methods) <= set(METHODS):
            raise PackageError(f"learnware.toml [model] methods: {list(self.methods)} must "
                               f"include 'predict' and be among {list(METHODS)}")
        if "predict_proba" in self.methods and not self.labels:
            raise PackageError("learnware.toml [model] methods: predict_proba needs labels")
        is_code = self.format == CODE
        if is_code != bool(self.entry_point):
            raise PackageError("learnware.toml [model] entry_point: required for code "
                               "models and only for them")
        if is_code:
            from engine.sandbox.runner import check_entry_point

            check_entry_point(self.entry_point)
        self._check_torch_fields()
        object.__setattr__(self, "trusted_types",
                           _str_tuple(self.trusted_types, "[model] trusted_types"))

    def _check_labels(self) -> None:
        labels = self.labels
        if not isinstance(labels, list | tuple) or len(labels) > MAX_LABELS:
            raise PackageError(f"learnware.toml [model] labels: expected a list of at most "
                               f"{MAX_LABELS}")
        for label in labels:
            if isinstance(label, bool) or not isinstance(label, int | str):
                raise PackageError(f"learnware.toml [model] labels: {label!r} is not an "
                                   "integer or a string")
        if len(set(labels)) != len(labels):
            raise PackageError("learnware.toml [model] labels: labels must be unique")
        object.__setattr__(self, "labels", tuple(labels))

    def _check_torch_fields(self) -> None:
        if self.output_kind not in OUTPUT_KINDS:
            raise PackageError(f"learnware.toml [model] output_kind: {self.output_kind!r} is "
                               f"not one of {', '.join(OUTPUT_KINDS)}")
        is_torch = self.format in (TORCHSCRIPT, TORCH_STATE_DICT)
        if self.output_kind != "values" and not is_torch:
            raise PackageError("learnware.toml [model] output_kind: only for torch models")
        if is_torch and bool(self.labels) != (self.output_kind != "values"):
            raise PackageError("learnware.toml [model] output_kind: a torch classifier "
                               "outputs 'logits' or 'probabilities', a regressor 'values'")
        arch = self.architecture
        if not isinstance(arch, list | tuple) or len(arch) > MAX_LAYERS or not all(
                isinstance(layer, Mapping) for layer in arch):
            raise PackageError(f"learnware.toml [model] architecture: expected a list of at "
                               f"most {MAX_LAYERS} tables")
        if (self.format == TORCH_STATE_DICT) != bool(arch):
            raise PackageError("learnware.toml [model] architecture: required for "
                               "torch-state-dict models and only for them")
        object.__setattr__(self, "architecture", tuple(dict(layer) for layer in arch))

    def owns(self, name: str) -> bool:
        """True if entry `name` belongs to the model (its file, or its directory)."""
        return name == self.file or (self.format == CODE and name.startswith(self.file + "/"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "file": self.file,
                               "input_shape": list(self.input_shape),
                               "output_shape": list(self.output_shape),
                               "labels": list(self.labels), "methods": list(self.methods)}
        if self.entry_point:
            out["entry_point"] = self.entry_point
        if self.output_kind != "values":
            out["output_kind"] = self.output_kind
        if self.architecture:
            out["architecture"] = [dict(layer) for layer in self.architecture]
        if self.trusted_types:
            out["trusted_types"] = list(self.trusted_types)
        return out

    @classmethod
    def from_dict(cls, data: object) -> ModelSection:
        keys = ("format", "file", "input_shape", "output_shape", "labels", "entry_point",
                "methods", "output_kind", "architecture", "trusted_types")
        d = _reject_unknown(data, keys, "[model]")
        for key in ("format", "file", "input_shape"):
            _require(d, key, "[model]")
        return cls(**{k: d[k] for k in keys if k in d})


@dataclass(frozen=True)
class StatisticalSection:
    """``[statistical]``: the statistical spec's type and its two files."""

    type: str
    meta: str = "spec/statistical.json"
    arrays: str = "spec/statistical.npz"

    def __post_init__(self) -> None:
        for key in ("type", "meta", "arrays"):
            if not isinstance(getattr(self, key), str):
                raise PackageError(f"learnware.toml [statistical] {key}: expected a string")
        check_entry_name(self.meta)
        check_entry_name(self.arrays)
        if self.meta == self.arrays:
            raise PackageError("learnware.toml [statistical]: meta and arrays must differ")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "meta": self.meta, "arrays": self.arrays}

    @classmethod
    def from_dict(cls, data: object) -> StatisticalSection:
        d = _reject_unknown(data, ("type", "meta", "arrays"), "[statistical]")
        for key in ("type", "meta", "arrays"):
            _require(d, key, "[statistical]")
        return cls(d["type"], d["meta"], d["arrays"])


@dataclass(frozen=True)
class Requirements:
    """``[requirements]``: informational (what the model was built with); never installed."""

    python: str = ""
    packages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.python, str):
            raise PackageError("learnware.toml [requirements] python: expected a string")
        object.__setattr__(self, "packages",
                           _str_tuple(self.packages, "[requirements] packages"))

    def to_dict(self) -> dict[str, Any]:
        return {"python": self.python, "packages": list(self.packages)}

    @classmethod
    def from_dict(cls, data: object) -> Requirements:
        d = _reject_unknown(data, ("python", "packages"), "[requirements]")
        return cls(d.get("python", ""), d.get("packages", ()))


@dataclass(frozen=True)
class Manifest:
    """The whole of ``learnware.toml``."""

    semantic: SemanticSpec
    statistical: StatisticalSection
    model: ModelSection
    requirements: Requirements = field(default_factory=Requirements)
    format: int = PACKAGE_FORMAT_VERSION
    privacy_report: PrivacyReport | None = None
    """The owner's measurement of what the spec reveals (`engine.privacy.report`), for
    people: a reader cannot check it, so nothing trusts it."""

    def file_names(self) -> tuple[str, ...]:
        """The single-file entries the manifest names (a code model's directory excluded)."""
        names = [MANIFEST_NAME, self.statistical.meta, self.statistical.arrays]
        if self.model.format != CODE:
            names.append(self.model.file)
        return tuple(names)

    def to_dict(self) -> dict[str, Any]:
        out = {"format": self.format, "semantic": self.semantic.to_dict(),
               "statistical": self.statistical.to_dict(), "model": self.model.to_dict(),
               "requirements": self.requirements.to_dict()}
        if self.privacy_report is not None:
            out["privacy_report"] = self.privacy_report.to_manifest()
        return out

    def to_toml(self) -> bytes:
        return toml_write.dumps(self.to_dict()).encode("utf-8")

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        d = _reject_unknown(data, ("format", "semantic", "statistical", "model",
                                   "requirements", "privacy_report"), "")
        version = _require(d, "format", "")
        if version != PACKAGE_FORMAT_VERSION:
            raise PackageError(f"learnware.toml format: {version!r} is not supported (this "
                               f"version reads format {PACKAGE_FORMAT_VERSION})")
        try:
            semantic = SemanticSpec.from_dict(_require(d, "semantic", ""))
        except SpecError as exc:
            raise PackageError(f"learnware.toml [semantic]: {exc}") from None
        report = None
        if "privacy_report" in d:
            try:
                report = PrivacyReport.from_dict(d["privacy_report"])
            except ValueError as exc:
                raise PackageError(f"learnware.toml [privacy_report]: {exc}") from None
        return cls(semantic=semantic,
                   statistical=StatisticalSection.from_dict(_require(d, "statistical", "")),
                   model=ModelSection.from_dict(_require(d, "model", "")),
                   requirements=Requirements.from_dict(d.get("requirements", {})),
                   format=version, privacy_report=report)

    @classmethod
    def from_toml(cls, data: bytes) -> Manifest:
        """Parse and validate the manifest's bytes (UTF-8 TOML)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackageError(f"learnware.toml: not UTF-8 ({exc.reason} at byte "
                               f"{exc.start})") from None
        return cls.from_dict(load_toml(text, MANIFEST_NAME))


def check_consistent(manifest: Manifest) -> None:
    """Semantic spec complete and in agreement with the model section.

    Raises `PackageError` naming the fields that disagree. Kept apart from parsing
    so that usability checks can report "semantic" separately from "manifest".
    """
    sem, model = manifest.semantic, manifest.model
    try:
        sem.require_complete()
    except SpecError as exc:
        raise PackageError(f"learnware.toml [semantic]: {exc}") from None
    assert sem.input is not None and sem.output is not None
    n_in = shape_size(model.input_shape)
    if sem.input.dimension != n_in:
        raise PackageError(f"[semantic] input.dimension {sem.input.dimension} disagrees with "
                           f"[model] input_shape {list(model.input_shape)} ({n_in} values)")
    classification = sem.task_type is TaskType.CLASSIFICATION
    if classification:
        if set(model.labels) != set(sem.output.labels) or not model.labels:
            raise PackageError(f"[model] labels {list(model.labels)} differ from [semantic] "
                               f"output.labels {list(sem.output.labels)}")
        if model.output_shape != ():
            raise PackageError("[model] output_shape: a classifier predicts one label per row; "
                               f"expected [], got {list(model.output_shape)}")
    else:
        if model.labels:
            raise PackageError(f"[model] labels: only classifiers have labels (task type "
                               f"{sem.task_type})")
        n_out = shape_size(model.output_shape)
        if sem.output.dimension != n_out:
            raise PackageError(f"[semantic] output.dimension {sem.output.dimension} disagrees "
                               f"with [model] output_shape {list(model.output_shape)}")
