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
