"""The node's HTTP server: aiohttp's, with the bounds a hostile client needs.

aiohttp has no deadline for a request's head or body: a client that sends one
byte every few seconds holds a connection (and a handler) for as long as it likes,
and enough of them hold every connection. Nor does it cap connections. And it logs
every malformed request at ERROR with a traceback (a flood of them floods the log).
`GuardedAppRunner` serves an app with a connection handler that adds, from
``[http]``:

==========================  ==================================================
setting                     bound
==========================  ==================================================
``header_timeout``          request line + headers within this many seconds of
                            connecting or of the request's first byte
``body_timeout``,           a body that sends less than ``body_min_rate`` bytes
``body_min_rate``           a second over a ``body_timeout`` window (or stalls)
                            while the node waits for it drops the connection
``send_timeout``            a client that leaves the answer unread this long
                            (buffers full) is dropped
``idle_timeout``            an idle keep-alive connection is closed (aiohttp's
                            ``keepalive_timeout``)
``max_connections``         open connections; more are answered 503 and closed
``max_connections_per_ip``  open connections from one address
==========================  ==================================================

A malformed request is answered 400 with the API's JSON error and logged at INFO,
one line, no traceback. Disconnections for the bounds are logged at INFO too, at
most one line of each kind a second (`lwnode.ratelog`), so a flood cannot fill
the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from lwnode.config import HttpSection
from lwnode.ratelog import RateLimitedLog

log = logging.getLogger("lwnode.http")


class ConnectionBudget:
    """Open connections, in all and per client address, within ``[http]``'s caps."""

    def __init__(self, total: int, per_ip: int) -> None:
        self.total, self.per_ip = total, per_ip
        self.open = 0
        self.by_ip: Counter[str] = Counter()

    def admit(self, ip: str) -> bool:
        if self.open >= self.total or self.by_ip[ip] >= self.per_ip:
            return False
        self.open += 1
        self.by_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.open -= 1
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


def _busy_bytes(message: str) -> bytes:
    body = json.dumps({"code": "busy", "message": message}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nRetry-After: 1\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def _one_line(what: object) -> str:
    """aiohttp's parser messages span lines (the bad bytes and a caret): one line here."""
    return " ".join(str(what).split())[:200]


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler with the module's bounds (one per connection)."""

    def __init__(self, manager: web.Server, *, http: HttpSection, budget: ConnectionBudget,
                 notes: RateLimitedLog, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._http, self._budget, self._notes = http, budget, notes
        self._client = ""
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._window_bytes = 0  # body bytes received in the current window
        self._window_excused = False  # the node stopped reading in this window
        self._payload: Any = None

    # -- connections ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._budget.admit(self._client):
            self._notes.info("HTTP: refused a connection from %s (%d open, %d from it; "
                             "[http] max_connections %d, max_connections_per_ip %d)",
                             self._client, self._budget.open, self._budget.by_ip[self._client],
                             self._budget.total, self._budget.per_ip)
            if self.transport is not None:
                self.transport.write(_busy_bytes("too many connections; retry later"))
            self.force_close()
            return
        self._admitted = True
        self._start_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admitted:
            self._admitted = False
            self._budget.release(self._client)
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._window_bytes += len(data)
        if self._head_timer is None and not self._request_in_progress and self._admitted:
            self._start_head_timer()  # the first byte of the next request on this connection
        super().data_received(data)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._send_timer = None

    # -- the request head ----------------------------------------------------------------
    def _start_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(self._http.header_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if self._request_in_progress or self._messages or self.transport is None:
            return
        self._notes.info("HTTP: %s sent no complete request head within %g s "
                         "([http] header_timeout); disconnected", self._client,
                         self._http.header_timeout)
        self.force_close()

    # -- the request body ----------------------------------------------------------------
    async def _handle_request(self, request: BaseRequest, *args: Any, **kwargs: Any
                              ) -> tuple[web.StreamResponse, bool]:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._payload = request.content
        self._window_bytes, self._window_excused = 0, False
        self._body_timer = self._loop.call_later(self._http.body_timeout, self._check_body)
        try:
            return await super()._handle_request(request, *args, **kwargs)
        finally:
            self._payload = None
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

    def pause_reading(self) -> None:
        self._window_excused = True  # the handler is not reading: not the client's doing
        super().pause_reading()

    def _check_body(self) -> None:
        """End of a `body_timeout` window: enough of the body arrived, or drop the client."""
        self._body_timer = None
        payload = self._payload
        if payload is None or payload.is_eof() or self.transport is None:
            return  # all of the body is in (or there was none)
        got, excused = self._window_bytes, self._window_excused or self._reading_paused
        self._window_bytes, self._window_excused = 0, False
        window = self._http.body_timeout
        need = max(1, int(self._http.body_min_rate * window))
        if excused or got >= need:
            self._body_timer = self._loop.call_later(window, self._check_body)
            return
        self._notes.info("HTTP: %s sent %d bytes of its request body in %g s, fewer than "
                         "%d ([http] body_timeout, body_min_rate); disconnected",
                         self._client, got, window, need)
        self.force_close()

    # -- the answer ------------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()  # the client's buffers are full: it is not reading
        self._send_timer = self._loop.call_later(self._http.send_timeout, self._send_late)

    def resume_writing(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().resume_writing()

    def _send_late(self) -> None:
        self._send_timer = None
        if self.transport is None:
            return
        self._notes.info("HTTP: %s left the answer unread for %g s ([http] send_timeout); "
                         "disconnected", self._client, self._http.send_timeout)
        self.transport.abort()  # close() would wait for the client to read what is buffered
        self.force_close()

    # -- malformed requests --------------------------------------------------------------
    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # the client's malformed request, not a bug
            self._notes.info("HTTP: malformed request from %s: %s", self._client,
                             _one_line(exc))
            return
        super().log_exception(*args, **kwargs)

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if not (isinstance(exc, HttpProcessingError) and 400 <= status < 500):
            return super().handle_error(request, status, exc, message)
        self.log_exception("malformed request", exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was sent already")
        text = _one_line(exc.message if isinstance(exc.message, str) else exc)
        response = web.json_response({"code": "bad_request",
                                      "message": f"malformed HTTP request: {text}"},
                                     status=status)
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's `Server` (the protocol factory), making `GuardedRequestHandler`s."""

    def __init__(self, base: web.Server, http: HttpSection) -> None:
        self.__dict__.update(base.__dict__)  # built by the app, as aiohttp builds it
        self.http = http
        self.budget = ConnectionBudget(http.max_connections, http.max_connections_per_ip)
        self.notes = RateLimitedLog(log)

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, http=self.http, budget=self.budget,
                                     notes=self.notes, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """`web.AppRunner` serving through `GuardedServer`; `http` is the ``[http]`` section."""

    def __init__(self, app: web.Application, http: HttpSection, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=http.idle_timeout, **kwargs)
        self._http = http

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self._http)
