"""One error hierarchy for the whole project.

`LwdockError` is the base every layer subclasses (protocol and node errors derive
from it too, so a caller can catch one class). Errors caused by bad *input* also
subclass `ValueError`, so that scikit-learn style callers can catch what they expect.
"""

from __future__ import annotations


class LwdockError(Exception):
    """Base class of every error raised on purpose by this project."""


class EngineError(LwdockError):
    """An error from the pure algorithms in `engine`."""


class SpecError(EngineError, ValueError):
    """A specification (semantic or statistical) or its input is invalid."""


class SearchError(EngineError, ValueError):
    """A search request cannot be answered as asked (e.g. incomparable specs)."""


class MissingExtraError(EngineError, ImportError):
    """An optional dependency (an install extra) is needed but not installed."""


class ReuseError(EngineError, ValueError):
    """A reuser's input (learnwares, weights, user rows or labels) is invalid."""


class PackageError(EngineError, ValueError):
    """A learnware package is malformed or hostile (names the entry or field at fault)."""


class ModelLoadError(EngineError, ValueError):
    """A model file cannot be loaded safely (unsafe format, untrusted type, corrupt)."""


class SandboxError(EngineError):
    """A sandboxed code model failed: timeout, resource limit, crash or bad output.

    `kind` is a stable word for programs ("timeout", "memory", "cpu", "crash",
    "output", "start"); the message is for people.
    """

    def __init__(self, message: str, kind: str = "crash") -> None:
        super().__init__(message)
        self.kind = kind
