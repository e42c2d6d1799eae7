"""`NodeClient`: the command line's HTTP client of a node (standard library only).

Synchronous on purpose: the command line does one thing at a time. Every failure
becomes a `NodeUnreachable` (no HTTP answer) or a `RequestFailed` (the node's JSON
error, with its status and code), so the command line can print one line.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from lwnode.errors import NodeUnreachable, RequestFailed

CHUNK_BYTES = 1 << 16
Progress = Callable[[int], None]


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NodeUnreachable(f"{url!r} is not an http(s) URL")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return conn, path


def _failed(status: int, body: bytes, what: str) -> RequestFailed:
    try:
        data = json.loads(body)
        code, message = str(data["code"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        data, code, message = {}, "http_error", body[:200].decode("utf-8", "replace") or \
            http.client.responses.get(status, "error")
    prefix = f"{what}: " if what else ""
    return RequestFailed(f"{prefix}{message} (HTTP {status} {code})", status, code, data)


class NodeClient:
    """Talk to one node's API.

    Parameters
    ----------
    url
        The node's base URL, e.g. ``http://127.0.0.1:8470``.
    token
        The bearer token, needed for publish and withdraw.
    timeout
        Seconds to wait for a connection and for each read.
    label
        What errors start with instead of the request's own name ("search: ..."); the
        command line passes "" and names the command the user typed itself.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 120.0,
                 label: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.label = label

    def _what(self, what: str) -> str:
        return what if self.label is None else self.label

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "lwnode-cli"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @contextmanager
    def _exchange(self, url: str, what: str) -> Iterator[http.client.HTTPConnection]:
        conn, _ = _connection(url, self.timeout)
        try:
            yield conn
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, DNS
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            prefix = f"{what}: " if what else ""
            raise NodeUnreachable(f"{prefix}no answer from {self.url} ({reason})") from None
        finally:
            conn.close()

    def request(self, method: str, path: str, payload: Any = None, *, auth: bool = False,
                what: str = "", accept: tuple[int, ...] = ()) -> Any:
        """One JSON request; returns the decoded JSON answer (also of an error status
        in `accept`)."""
        what = self._what(what or f"{method} {path}")
        url = self.url + path
        body = None if payload is None else json.dumps(payload).encode()
        headers = self._headers(auth)
        if body is not None:
            headers["Content-Type"] = "application/json"
        with self._exchange(url, what) as conn:
            conn.request(method, _connection(url, self.timeout)[1], body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        if response.status >= 400 and response.status not in accept:
            raise _failed(response.status, data, what)
        try:
            return json.loads(data)
        except ValueError:
            prefix = f"{what}: " if what else ""
            raise NodeUnreachable(f"{prefix}{self.url} did not answer JSON (is it a node?)"
                                  ) from None

    # -- endpoints -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        # 503 is a degraded node's health ("down" names what is being restarted)
        out: dict[str, Any] = self.request("GET", "/v1/health", what="health", accept=(503,))
        return out

    def details(self, learnware_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/v1/learnwares/{quote(learnware_id)}",
                                           what="get")
        return out

    def listing(self, **params: str | list[str]) -> dict[str, Any]:
        """One page of ``GET /v1/learnwares`` (a list value repeats its parameter)."""
        query = "?" + urlencode(params, doseq=True) if params else ""
        out: dict[str, Any] = self.request("GET", f"/v1/learnwares{query}", what="list")
        return out

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        # With the token when known: the node's own users are not rate-limited (and a
        # node with open_reads = false needs it).
        out: dict[str, Any] = self.request("POST", "/v1/search", body, auth=True,
                                           what="search")
        return out

    def gammas(self, space: str) -> dict[float, int]:
        """``GET /v1/gammas``: {gamma: learnwares} of `space` the node knows (public)."""
        out = self.request("GET", "/v1/gammas?" + urlencode({"space": space}), what="gammas")
        return {float(g["gamma"]): int(g["learnwares"]) for g in out.get("gammas", [])}

    def peers(self) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", "/v1/peers", what="peers")
        return out

    def whoami(self) -> dict[str, Any]:
        """``GET /v1/whoami``: 200 when the token is the node's (`RequestFailed` 401 when
        it is not, or missing); changes nothing."""
        out: dict[str, Any] = self.request("GET", "/v1/whoami", auth=True, what="whoami")
        return out

    def withdraw(self, learnware_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("DELETE", f"/v1/learnwares/{quote(learnware_id)}",
                                           auth=True, what=f"withdraw {learnware_id}")
        return out

    def publish(self, path: str | os.PathLike[str], progress: Progress | None = None
                ) -> tuple[int, dict[str, Any]]:
        """Stream a package file; returns (HTTP status, answer) — 201 new, 200 known."""
        size = Path(path).stat().st_size
        url = self.url + "/v1/learnwares"
        what = self._what("publish")
        with self._exchange(url, what) as conn, open(path, "rb") as f:
            conn.putrequest("POST", "/v1/learnwares")
            for key, value in {**self._headers(True), "Content-Type": "application/zip",
                               "Content-Length": str(size)}.items():
                conn.putheader(key, value)
            conn.endheaders()
            try:
                while chunk := f.read(CHUNK_BYTES):
                    conn.send(chunk)
                    if progress:
                        progress(len(chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the node answered early (e.g. 413): read its answer below
            response = conn.getresponse()
            data = response.read()
        if response.status >= 400:
            raise _failed(response.status, data, what)
        return response.status, json.loads(data)
