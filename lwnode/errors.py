"""Errors of the node layer.

Every error the node raises on purpose is a `NodeError` (a `LwdockError`). Errors
caused by what a client or a user sent also subclass `ValueError`. Each class
carries a stable `code` (the JSON ``code`` of an HTTP error, a word programs can
test); `lwnode.http.errors` maps classes to HTTP statuses in one table, for the API
and the web page's routes alike.
"""

from __future__ import annotations

from typing import Any

from engine.errors import LwdockError


class NodeError(LwdockError):
    """Base of the node's errors; `code` is stable, the message is for people.

    `headers` are HTTP headers an error response must carry (``WWW-Authenticate``
    on 401, ``Content-Range`` on 416). `http_status` is set only by errors that carry
    a status decided elsewhere (a worker process's answer, a remote node's refusal
    passed on); otherwise `lwnode.http.errors.ERROR_STATUS` decides.
    """

    code: str = "node_error"
    headers: dict[str, str] | None = None
    http_status: int | None = None


class ConfigError(NodeError, ValueError):
    """A configuration value (file, environment variable or flag) is invalid."""

    code = "bad_config"


class HomeError(NodeError):
    """The node's home directory cannot be used (missing key, existing key, modes)."""

    code = "bad_home"


class InputError(NodeError, ValueError):
    """A local input of the command line is wrong (missing file, non-numeric cell...)."""

    code = "bad_input"


class NodeUnreachable(NodeError):
    """No answer from the node at the given URL (refused, timed out, not HTTP)."""

    code = "unreachable"


class RequestFailed(NodeError):
    """The node answered an error; `status` and `code` are its HTTP status and JSON code."""

    code = "request_failed"

    def __init__(self, message: str, status: int, error_code: str,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.body = body or {}


class StoreError(NodeError):
    """The store is unusable: schema too new, corrupt database, failed blob write."""

    code = "store_error"


class BadRequest(NodeError, ValueError):
    """A request that is malformed or has wrong types or values (names the field)."""

    code = "bad_request"


class NotFound(NodeError, ValueError):
    """An id this node does not know."""

    code = "not_found"


class Gone(NodeError, ValueError):
    """A learnware its owner withdrew (the tombstone is kept)."""

    code = "withdrawn"


class Unauthorized(NodeError, ValueError):
    """A write (or, if configured, a read) without the node's bearer token."""

    code = "unauthorized"


class Forbidden(NodeError, ValueError):
    """A request this node will not do for anyone (e.g. withdraw another owner's work)."""

    code = "forbidden"


class NameTaken(NodeError, ValueError):
    """A publish whose name one of the node's active learnwares already has: a handle
    (organization/name) names one learnware of its owner."""

    code = "name_taken"


class CrossOrigin(Forbidden):
    """A state-changing or fetching request a browser sent from another site's page."""

    code = "cross_origin"


class UnknownHost(NodeError, ValueError):
    """A request whose ``Host`` is not one of this node's names (DNS rebinding)."""

    code = "unknown_host"


class TooLarge(NodeError, ValueError):
    """A body over the configured size cap."""

    code = "too_large"


class BadRange(NodeError, ValueError):
    """A ``Range`` header that is malformed or outside the package."""

    code = "bad_range"


class PackageRejected(NodeError, ValueError):
    """An upload that failed the usability checks; `report` says which and why."""

    code = "package_rejected"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class Busy(NodeError):
    """The node is shutting down or its workers are saturated; retry later."""

    code = "busy"


class TooManyPoints(TooLarge):
    """A statistical spec with more points than ``[budget]`` allows (a search's or a
    publish's: 413 ``too_many_points``)."""

    code = "too_many_points"


class RateLimited(NodeError):
    """A client over its rate or the node over its concurrency cap for expensive
    requests without the token (429 with ``Retry-After``; `code` says which)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float, code: str = "rate_limited") -> None:
        super().__init__(message)
        self.code = code  # the instance's own (two kinds of 429)
        self.retry_after = max(1, int(retry_after + 0.999))
        self.headers = {"Retry-After": str(self.retry_after)}


class FetchFailed(NodeError):
    """A package could not be fetched from its owner, or did not verify (HTTP 502)."""

    code = "fetch_failed"


class JobFailed(NodeError):
    """A web job's worker process failed: its HTTP `status`, stable `code`, a message.

    The worker process decides the status (400 bad input, 422 a model that failed,
    504 past its deadline), so the error carries it (`http_status`).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = self.http_status = status
        self.code = code
