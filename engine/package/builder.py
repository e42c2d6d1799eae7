"""`build`: a fitted model plus its specifications -> one deterministic package.

The model is saved in the safe format for its kind (scikit-learn -> skops, torch
-> TorchScript or a state dict, `CodeModel` -> its files), the statistical spec as
JSON + npz, the manifest as TOML, all in a deterministic zip. The result is opened
again with `open_package` before it is returned, so a builder can never produce a
package that a node would refuse as malformed. Running the model is left to the
usability checks (`engine.checks`).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from engine.errors import PackageError, SpecError
from engine.models import skops_io, torch_io
from engine.models.code import CodeModel
from engine.models.formats import CODE, SKOPS, TORCH_STATE_DICT, TORCHSCRIPT
from engine.package.archive import content_id, write_archive
from engine.package.manifest import (
    INFO_FILES,
    MANIFEST_NAME,
    MODEL_DIR,
    Manifest,
    ModelSection,
    Requirements,
    StatisticalSection,
)
from engine.package.reader import open_package
from engine.package.statspec import spec_to_files
from engine.privacy.report import PrivacyReport
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec
from engine.vocabulary import TaskType

_REQUIREMENTS = {SKOPS: ("scikit-learn", "numpy", "scipy"), TORCHSCRIPT: ("torch",),
                 TORCH_STATE_DICT: ("torch",), CODE: ()}


def _is_torch_module(model: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_sklearn(model: object) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(model, BaseEstimator)


def _versions(names: Iterable[str]) -> tuple[str, ...]:
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return tuple(out)


def _serialise(model: Any, semantic: SemanticSpec, input_shape: tuple[int, ...],
               model_format: str | None, trusted_types: Sequence[str]
               ) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Model files (package names) and the model-specific manifest fields."""
    assert semantic.output is not None
    labels = semantic.output.labels
    classifier = semantic.task_type is TaskType.CLASSIFICATION
    if isinstance(model, CodeModel):
        files = {f"{MODEL_DIR}/{name}": data for name, data in model.files.items()}
        return files, {"format": CODE, "file": MODEL_DIR, "entry_point": model.entry_point,
                       "methods": model.methods}
    if _is_torch_module(model):
        fmt = model_format or TORCHSCRIPT
        fields: dict[str, Any] = {"format": fmt, "output_kind": "logits" if classifier
                                  else "values",
                                  "methods": ("predict", "predict_proba") if classifier
                                  else ("predict",)}
        if fmt == TORCHSCRIPT:
            data = torch_io.dump_torchscript(model, input_shape)
        elif fmt == TORCH_STATE_DICT:
            fields["architecture"] = torch_io.architecture_of(model)
            data = torch_io.dump_state_dict(model)
        else:
            raise PackageError(f"model_format: {fmt!r} does not fit a torch module")
        fields["file"] = f"{MODEL_DIR}/model.pt"
        return {fields["file"]: data}, fields
    if _is_sklearn(model):
        if model_format not in (None, SKOPS):
            raise PackageError(f"model_format: {model_format!r} does not fit a scikit-learn "
                               "estimator")
        classes = getattr(model, "classes_", None)
        if classifier and (classes is None or set(classes.tolist()) != set(labels)):
            raise PackageError(f"model.classes_ {None if classes is None else classes.tolist()}"
                               f" differ from the semantic spec's labels {list(labels)}")
        data = skops_io.dump_sklearn(model)
        needed = skops_io.untrusted_types(data, trusted_types)
        if needed:
            raise PackageError(f"the estimator needs type(s) outside scikit-learn/numpy/scipy: "
                               f"{needed}; pass trusted_types={needed!r} to declare them "
                               "(consumers must then trust them explicitly)")
        methods = ("predict", "predict_proba") if hasattr(model, "predict_proba") and \
            classifier else ("predict",)
        file = f"{MODEL_DIR}/model.skops"
        return {file: data}, {"format": SKOPS, "file": file, "methods": methods,
                              "trusted_types": tuple(trusted_types)}
    raise PackageError(f"model: cannot package a {type(model).__module__}."
                       f"{type(model).__name__}; pass a fitted scikit-learn estimator, a torch "
                       "nn.Module or an engine.models.CodeModel")


def build_bytes(model: Any, semantic: SemanticSpec, spec: RKMESpec, *,
                model_format: str | None = None, input_shape: Sequence[int] | None = None,
                trusted_types: Sequence[str] = (), packages: Sequence[str] = (),
                readme: str | None = None, privacy_report: PrivacyReport | None = None
                ) -> bytes:
    """The package's bytes. See `build` for the parameters."""
    try:
        semantic.require_complete()
    except SpecError as exc:
        raise PackageError(f"semantic spec: {exc}") from None
    if not isinstance(spec, RKMESpec):
        raise PackageError(f"spec: expected a fitted RKMESpec, got {type(spec).__name__}")
    assert semantic.input is not None and semantic.output is not None
    shape = tuple(input_shape) if input_shape is not None else (semantic.input.dimension,)
    classifier = semantic.task_type is TaskType.CLASSIFICATION
    out_dim = semantic.output.dimension
    output_shape = () if classifier or out_dim == 1 else (out_dim,)
    files, fields = _serialise(model, semantic, shape, model_format, trusted_types)
    meta, arrays = spec_to_files(spec)
    section = ModelSection(input_shape=shape, output_shape=output_shape,
                           labels=semantic.output.labels if classifier else (), **fields)
    manifest = Manifest(
        semantic=semantic,
        statistical=StatisticalSection(type=spec.kind),
        model=section,
        requirements=Requirements(python=".".join(platform.python_version_tuple()[:2]),
                                  packages=_versions(_REQUIREMENTS[section.format])
                                  + tuple(packages)),
        privacy_report=privacy_report)
    entries = {MANIFEST_NAME: manifest.to_toml(), manifest.statistical.meta: meta,
               manifest.statistical.arrays: arrays, **files}
    if readme is not None:
        entries[INFO_FILES[0]] = readme.encode("utf-8")
    data = write_archive(entries)
    open_package(data)
    return data


def build(path: str | os.PathLike[str], model: Any, semantic: SemanticSpec, spec: RKMESpec,
          **options: Any) -> str:
    """Build a package file from a fitted model and its specifications.

    Parameters
    ----------
    path
        Where to write the package (``.zip``); written atomically (temporary file,
        fsync, rename), so readers never see a partial package.
    model
        A fitted scikit-learn estimator (saved with skops), a torch ``nn.Module``
        (TorchScript, or a state dict with ``model_format="torch-state-dict"`` for
        an ``nn.Sequential`` of plain layers), or an `engine.models.CodeModel`.
    semantic
        A complete `SemanticSpec` (see ``require_complete``); classifiers list their
        labels in ``output.labels`` (torch: in the order of the output columns).
    spec
        The fitted statistical spec of the training inputs.
    **options
        ``model_format``, ``input_shape`` (default ``[input.dimension]``),
        ``trusted_types`` (skops types beyond scikit-learn/numpy/scipy the estimator
        needs), ``packages`` (extra informational requirements), ``readme``,
        ``privacy_report`` (`engine.privacy.privacy_report` of the spec on the rows it
        was fit on: kept as ``[privacy_report]`` in ``learnware.toml`` for people).

    Returns
    -------
    str
        The content id ``sha256:<hex>`` of the package bytes.
    """
    data = build_bytes(model, semantic, spec, **options)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                               dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return content_id(data)
