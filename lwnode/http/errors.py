"""Errors -> HTTP responses: the one table for the API and the web page's routes.

A client must be able to tell "you sent something wrong" (4xx, with a stable
``code`` and a message naming the field) from "the node has a bug" (500). So:

- our input errors (an `LwdockError` that is also a `ValueError`: `BadRequest`,
  `SpecError`, `ProtocolError`, ...) are 4xx, with the status of the first row of
  `ERROR_STATUS` they match (400 when none does) and the error's own ``code``;
- our other errors that mean a state of the node or of a remote (`Busy` 503, a
  failed fetch 502) have their row too; an error that carries its status
  (`NodeError.http_status`: a worker's answer, a remote's refusal passed on) keeps it;
- anything else, a bare ``ValueError`` from deep inside included, is a bug: 500
  ``internal`` with a generic message, logged once with its traceback.

HTTP-level errors (unknown route, wrong method, body over aiohttp's cap) become the
same JSON ``{code, message}``; a client that hangs up or sends a malformed body is
logged at INFO, without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from engine.errors import LwdockError, PackageError, SearchError, SpecError
from lwnode.errors import (
    BadRange,
    Busy,
    FetchFailed,
    Forbidden,
    Gone,
    NameTaken,
    NodeError,
    NodeUnreachable,
    NotFound,
    PackageRejected,
    RateLimited,
    RequestFailed,
    TooLarge,
    Unauthorized,
    UnknownHost,
)
from lwnode.ratelog import RateLimitedLog
from protocol.errors import ProtocolError, SignatureError

log = logging.getLogger("lwnode.api")
client_notes = RateLimitedLog(log)
"""Lines about clients that hang up or send a broken body (a flood is one line a second)."""

ERROR_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (NameTaken, 409, "name_taken"),
    (Gone, 410, "withdrawn"),
    (TooLarge, 413, "too_large"),
    (BadRange, 416, "bad_range"),
    (UnknownHost, 421, "unknown_host"),
    (PackageRejected, 422, "package_rejected"),
    (RateLimited, 429, "rate_limited"),
    (Busy, 503, "busy"),
    (NodeUnreachable, 502, "unreachable"),
    (FetchFailed, 502, "fetch_failed"),
    (SignatureError, 400, "bad_signature"),
    (ProtocolError, 400, "bad_request"),
    (SpecError, 400, "bad_spec"),
    (SearchError, 400, "bad_search"),
    (PackageError, 400, "bad_package"),
)
"""Error class -> (HTTP status, code); the first matching row wins. A `NodeError`'s
own `code` replaces the generic one. Not listed: an input error (`LwdockError` and
`ValueError`) is 400; anything else is a bug, 500 ``internal``."""

RELAYED_STATUSES = frozenset({400, 401, 404, 410})
"""A remote node's refusals passed on as they are (by the page's fetch); other
remote failures are 502."""

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
              413: "too_large", 415: "unsupported_media_type"}
"""aiohttp's own HTTP errors -> our stable codes."""

INTERNAL_MESSAGE = "internal error (logged on the node)"


def status_of(exc: BaseException) -> tuple[int, str]:
    """``(HTTP status, code)`` of an exception (see the module doc)."""
    if isinstance(exc, RequestFailed):  # a remote node's answer to our fetch
        if exc.status in RELAYED_STATUSES:
            return exc.status, exc.error_code
        return 502, "fetch_failed"
    if isinstance(exc, NodeError) and exc.http_status is not None:
        return exc.http_status, exc.code
    for cls, status, code in ERROR_STATUS:
        if isinstance(exc, cls):
            return status, exc.code if isinstance(exc, NodeError) else code
    if isinstance(exc, LwdockError) and isinstance(exc, ValueError):
        return 400, exc.code if isinstance(exc, NodeError) else "bad_request"
    return 500, "internal"


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """The JSON error every route answers: ``{"code", "message", ...}``."""
    body = {"code": code, "message": message[:2000], **extra}
    return web.json_response(body, status=status, headers=headers)


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = HTTP_CODES.get(exc.status, "http_error")
    message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    if exc.status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    elif exc.status == 404:
        message = f"no route {request.path} (see /v1/openapi.json)"
    return error_response(exc.status, code, message,
                          headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"})


def _bug(request: web.Request) -> web.Response:
    log.exception("bug: %s %s", request.method, request.path)  # the one log line, traceback
    return error_response(500, "internal", INTERNAL_MESSAGE)


@web.middleware
async def errors_middleware(request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                            ) -> web.StreamResponse:
    """Every exception of a handler -> its JSON error response (`status_of`)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(request, exc)
    except LwdockError as exc:
        status, code = status_of(exc)
        if status == 500:
            return _bug(request)
        extra = {"report": exc.report} if isinstance(exc, PackageRejected) else {}
        return error_response(status, code, str(exc), headers=getattr(exc, "headers", None),
                              **extra)
    except (ConnectionResetError, HttpProcessingError, RequestPayloadError) as exc:
        # the client hung up or sent a malformed body: its doing, not a bug
        client_notes.info("%s %s: the request ended early or its body is malformed (%s)",
                          request.method, request.path, exc)
        return error_response(400, "bad_request", f"the request ended early or its body is "
                                                  f"malformed ({exc})")
    except Exception:  # a bare ValueError included: a bug, not the client's input
        return _bug(request)
