"""`SandboxedModel`: a code model that satisfies `engine.learnware.Model`.

Each `predict` starts one confined child (see `engine.sandbox.runner`): the model's
code never runs in the caller's process, and no state survives between calls.
That costs an interpreter start per call (about 0.1 s plus the model's imports),
so callers that have several inputs pass them together to `run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.sandbox.limits import SandboxLimits
from engine.sandbox.runner import SandboxRun, check_entry_point, run_code


class SandboxedModel:
    """A learnware's own Python model, run only inside the sandbox.

    Parameters
    ----------
    files
        The model's files by relative name (the package's ``model/`` directory).
    entry_point
        ``"module:attr"``; ``attr()`` must return an object with ``predict``.
    classes
        Class labels of a classifier (becomes ``classes_``), or None.
    limits
        Limits of each run.

    Use `create` to get a model that also offers ``predict_proba`` when the
    manifest declares it.
    """

    def __init__(self, files: Mapping[str, bytes], entry_point: str, *,
                 classes: Sequence[Any] | None = None,
                 limits: SandboxLimits | None = None) -> None:
        self.files = MappingProxyType(dict(files))
        self.entry_point = check_entry_point(entry_point)
        self.limits = limits or SandboxLimits()
        if classes is not None:
            self.classes_ = np.asarray(list(classes))

    @staticmethod
    def create(files: Mapping[str, bytes], entry_point: str, *,
               classes: Sequence[Any] | None = None, methods: Sequence[str] = ("predict",),
               limits: SandboxLimits | None = None) -> SandboxedModel:
        """A `SandboxedModel`, or a `SandboxedProbaModel` if ``predict_proba`` is declared."""
        cls = SandboxedProbaModel if "predict_proba" in methods else SandboxedModel
        return cls(files, entry_point, classes=classes, limits=limits)

    def run(self, calls: Sequence[tuple[str, NDArray[Any]]]) -> SandboxRun:
        """Run several ``(method, X)`` calls in one child process."""
        return run_code(self.files, self.entry_point, calls, self.limits)

    def predict(self, x: NDArray[Any]) -> NDArray[Any]:
        return self.run([("predict", np.asarray(x))]).outputs[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.entry_point!r}, {len(self.files)} file(s))"


class SandboxedProbaModel(SandboxedModel):
    """A sandboxed classifier that also offers ``predict_proba``."""

    def predict_proba(self, x: NDArray[Any]) -> NDArray[Any]:
        return self.run([("predict_proba", np.asarray(x))]).outputs[0]
