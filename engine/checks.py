"""Usability checks: is a submitted package a learnware others can use?

Each check yields a `CheckResult` (status and a reason a person can act on); the
`CheckReport` gathers them and takes the first failure as its verdict. Checks stop
at the first failure because each depends on the ones before it.

==============  ===========  =======================================================
check           on failure   what it verifies
==============  ===========  =======================================================
``archive``     INVALID      a readable zip, no hostile entries, within the limits
``manifest``    INVALID      ``learnware.toml`` parses, schema holds, entries match
``semantic``    INVALID      semantic spec complete, agrees with the model section
``statistical`` INVALID      the statistical spec's files load
``dimensions``  INVALID      statistical spec dimension == model input
``model_load``  NONUSABLE    the model loads safely (in the sandbox for code)
``predict``     NONUSABLE    it predicts on the spec's reduced-set points and on a
                             few random points, within the time limit
``outputs``     NONUSABLE    finite outputs of the declared shape; classifiers
                             answer within their declared labels (and probabilities
                             are probabilities)
==============  ===========  =======================================================

INVALID means the package is malformed as described; NONUSABLE means it is well
formed but its model does not work here. The functions are pure (no global
state; randomness from ``random_state``), so a node may run them in an executor.
A model loaded in this process cannot be interrupted, so its time limit is
measured after the fact; code models are killed at the limit by the sandbox.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import EngineError, ModelLoadError, PackageError, SandboxError
from engine.learnware import Learnware, Model
from engine.package.limits import PackageLimits
from engine.sandbox.limits import SandboxLimits
from engine.specification.rkme import RKMESpec
from engine.vocabulary import TaskType

PROBA_TOLERANCE = 1e-4


class Status(str, Enum):
    """Verdict of a check (values as the reference system names them, lower-case)."""

    USABLE = "usable"
    NONUSABLE = "nonusable"
    INVALID = "invalid"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    reason: str
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "reason": self.reason,
                "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class CheckReport:
    """All checks run on one package; `status` is the first failure's, else USABLE."""

    results: tuple[CheckResult, ...]
    learnware_id: str | None = None
    privacy_report: dict[str, Any] | None = None
    """The manifest's ``[privacy_report]`` (the owner's statement, shown, not trusted)."""

    @property
    def failed(self) -> CheckResult | None:
        return next((r for r in self.results if r.status is not Status.USABLE), None)

    @property
    def status(self) -> Status:
        failed = self.failed
        return Status.USABLE if failed is None else failed.status

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def reason(self) -> str:
        failed = self.failed
        return "all checks passed" if failed is None else f"{failed.name}: {failed.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "reason": self.reason,
                "learnware_id": self.learnware_id,
                "checks": [r.to_dict() for r in self.results],
                "privacy_report": self.privacy_report}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class CheckOptions:
    """How strict and how patient the checks are.

    Parameters
    ----------
    time_limit
        Seconds for all predictions together (for code models: the sandbox's wall
        clock, interpreter start and imports included).
    n_random
        Random rows predicted besides the spec's reduced-set points.
    random_state
        Seed of the random rows.
    allow_code
        Whether code models may run (in the sandbox); if not, they are NONUSABLE.
    trusted_types
        skops types trusted beyond scikit-learn, numpy and scipy.
    sandbox_limits
        Limits of the sandboxed run; by default `time_limit` sets the wall clock
        and CPU time, other limits keep `SandboxLimits` defaults.
    package_limits
        Caps for reading the package.
    """

    time_limit: float = 30.0
    n_random: int = 8
    random_state: int = 0
    allow_code: bool = False
    trusted_types: tuple[str, ...] = ()
    sandbox_limits: SandboxLimits | None = None
    package_limits: PackageLimits | None = field(default=None)

    def sandbox(self) -> SandboxLimits:
        if self.sandbox_limits is not None:
            return self.sandbox_limits
        return SandboxLimits(wall_seconds=self.time_limit,
                             cpu_seconds=max(1, math.ceil(self.time_limit)))


@dataclass(frozen=True)
class _Expect:
    """What the model must accept and answer, from the manifest or the semantic spec."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    labels: tuple[Any, ...]
    proba: bool


class _Failed(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Runner:
    """Runs named checks in order, timing each, stopping at the first failure."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    def run(self, name: str, status: Status, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            value = fn()
        except _Failed as exc:
            self._add(name, exc.status, exc.reason, start)
            raise
        except (EngineError, ValueError) as exc:
            self._add(name, status, str(exc), start)
            raise _Failed(status, str(exc)) from None
        self._add(name, Status.USABLE, "ok", start)
        return value

    def _add(self, name: str, status: Status, reason: str, start: float) -> None:
        self.results.append(CheckResult(name, status, reason, time.perf_counter() - start))


def _inputs(spec: RKMESpec, shape: tuple[int, ...], n_random: int, random_state: int
            ) -> list[NDArray[np.float64]]:
    """The spec's own points (table specs) and random rows around them."""
    rng = np.random.default_rng(random_state)
    if spec.kind == "rkme_table" and len(shape) == 1:
        points = spec.points_
        low, high = points.min(axis=0), points.max(axis=0)
        pad = 0.1 * (high - low) + 1e-3
        random = rng.uniform(low - pad, high + pad, size=(n_random, shape[0]))
        return [points, random]
    return [rng.standard_normal((n_random, *shape))]


def _predict_all(model: Model, inputs: list[NDArray[np.float64]], proba: bool,
                 time_limit: float) -> list[tuple[str, NDArray[Any], NDArray[Any]]]:
    """``(method, X, output)`` for every input and method; raises `_Failed`."""
    from engine.sandbox.model import SandboxedModel

    calls = [("predict", x) for x in inputs] + ([("predict_proba", inputs[0])] if proba
                                                 else [])
    start = time.perf_counter()
    try:
        if isinstance(model, SandboxedModel):
            outputs = list(model.run(calls).outputs)
        else:
            outputs = [np.asarray(getattr(model, method)(x)) for method, x in calls]
    except SandboxError as exc:
        raise _Failed(Status.NONUSABLE, f"[{exc.kind}] {exc}") from None
    except Exception as exc:  # the model's own code may raise anything: report it
        raise _Failed(Status.NONUSABLE, f"{type(exc).__name__}: {exc}") from None
    elapsed = time.perf_counter() - start
    if elapsed > time_limit:
        raise _Failed(Status.NONUSABLE, f"predictions took {elapsed:.1f} s, more than the "
                      f"limit of {time_limit:g} s")
    return [(m, x, out) for (m, x), out in zip(calls, outputs, strict=True)]


def _check_outputs(results: Sequence[tuple[str, NDArray[Any], NDArray[Any]]], expect: _Expect,
                   model: Model) -> None:
    for method, x, out in results:
        n = len(x)
        if out.ndim == 0 or out.shape[0] != n:
            raise _Failed(Status.NONUSABLE, f"{method} returned shape {out.shape} for {n} rows")
        if method == "predict_proba":
            _check_proba(out, n, expect)
            continue
        rows = out.shape[1:]
        single = math.prod(rows) == 1 and math.prod(expect.output_shape) == 1
        if rows != expect.output_shape and not (single and len(rows) <= 1):
            raise _Failed(Status.NONUSABLE, f"predict returned rows of shape {rows}, declared "
                          f"{expect.output_shape}")
        if expect.labels:
            allowed = set(expect.labels)
            bad = sorted({str(v) for v in out.ravel().tolist() if v not in allowed})
            if bad:
                raise _Failed(Status.NONUSABLE, f"predict returned label(s) {bad[:5]} outside "
                              f"the declared labels {list(expect.labels)[:20]}")
        else:
            if not np.issubdtype(out.dtype, np.number) or not np.isfinite(out).all():
                raise _Failed(Status.NONUSABLE, f"predict returned non-finite or non-numeric "
                              f"values (dtype {out.dtype})")
    classes = getattr(model, "classes_", None)
    if expect.labels and classes is not None and set(np.asarray(classes).tolist()) != set(
            expect.labels):
        raise _Failed(Status.NONUSABLE, f"model.classes_ {np.asarray(classes).tolist()[:20]} "
                      f"differ from the declared labels {list(expect.labels)[:20]}")


def _check_proba(out: NDArray[Any], n: int, expect: _Expect) -> None:
    if out.shape != (n, len(expect.labels)):
        raise _Failed(Status.NONUSABLE, f"predict_proba returned shape {out.shape}, expected "
                      f"({n}, {len(expect.labels)})")
    if not np.issubdtype(out.dtype, np.number) or not np.isfinite(out).all():
        raise _Failed(Status.NONUSABLE, "predict_proba returned non-finite values")
    if out.min() < -PROBA_TOLERANCE or out.max() > 1 + PROBA_TOLERANCE or not np.allclose(
            out.sum(axis=1), 1.0, atol=1e3 * PROBA_TOLERANCE):
        raise _Failed(Status.NONUSABLE, "predict_proba rows are not probabilities (in [0, 1], "
                      "summing to 1)")


def _model_checks(run: _Runner, load: Callable[[], Model], spec: RKMESpec, expect: _Expect,
                  options: CheckOptions) -> None:
    model = run.run("model_load", Status.NONUSABLE, load)
    inputs = _inputs(spec, expect.input_shape, options.n_random, options.random_state)
    results = run.run("predict", Status.NONUSABLE,
                      lambda: _predict_all(model, inputs, expect.proba, options.time_limit))
    run.run("outputs", Status.NONUSABLE, lambda: _check_outputs(results, expect, model))


def check_package(source: bytes | str | os.PathLike[str],
                  options: CheckOptions | None = None) -> CheckReport:
    """Run every check on a package (path or bytes); never raises for a bad package."""
    from engine.package import reader
    from engine.package.manifest import check_consistent

    options = options or CheckOptions()
    limits = options.package_limits
    run = _Runner()
    pkg_id: str | None = None
    privacy: dict[str, Any] | None = None
    try:
        pkg_id, entries = run.run("archive", Status.INVALID,
                                  lambda: reader.read_package(source, limits))
        manifest = run.run("manifest", Status.INVALID,
                           lambda: reader.parse_manifest(entries, limits))
        if manifest.privacy_report is not None:
            privacy = manifest.privacy_report.to_manifest()
        run.run("semantic", Status.INVALID, lambda: check_consistent(manifest))
        spec = run.run("statistical", Status.INVALID,
                       lambda: reader.load_statistical(manifest, entries, limits))
        run.run("dimensions", Status.INVALID, lambda: reader.check_dimensions(manifest, spec))
        pkg = reader.Package(pkg_id, manifest, spec, entries)
        m = manifest.model
        expect = _Expect(m.input_shape, m.output_shape, m.labels, "predict_proba" in m.methods)
        _model_checks(run, lambda: pkg.load_model(
            trusted_types=options.trusted_types, allow_code=options.allow_code,
            sandbox_limits=options.sandbox(), limits=limits), spec, expect, options)
    except _Failed:
        pass
    return CheckReport(tuple(run.results), pkg_id, privacy)


def check_learnware(learnware: Learnware, options: CheckOptions | None = None) -> CheckReport:
    """The semantic, dimension and model checks for a `Learnware` built in memory."""
    options = options or CheckOptions()
    run = _Runner()
    sem, spec, model = learnware.semantic, learnware.spec, learnware.model

    def semantic() -> _Expect:
        sem.require_complete()
        assert sem.input is not None and sem.output is not None
        classifier = sem.task_type is TaskType.CLASSIFICATION
        out = () if classifier or sem.output.dimension == 1 else (sem.output.dimension,)
        return _Expect((sem.input.dimension,), out, sem.output.labels if classifier else (),
                       classifier and hasattr(model, "predict_proba"))

    def dimensions() -> None:
        assert sem.input is not None
        if spec.kind == "rkme_table" and spec.dim_ != sem.input.dimension:
            raise PackageError(f"statistical spec dimension {spec.dim_} disagrees with the "
                               f"semantic input dimension {sem.input.dimension}")

    try:
        expect = run.run("semantic", Status.INVALID, semantic)
        run.run("dimensions", Status.INVALID, dimensions)
        _model_checks(run, lambda: _as_model(model), spec, expect, options)
    except _Failed:
        pass
    return CheckReport(tuple(run.results), learnware.id)


def _as_model(model: object) -> Model:
    if not callable(getattr(model, "predict", None)):
        raise ModelLoadError(f"{type(model).__name__} has no predict method")
    return model  # type: ignore[return-value]
