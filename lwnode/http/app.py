"""The HTTP API under ``/v1`` (aiohttp): routes, auth, and the one error mapping.

Every response is JSON except a package download. Every error is JSON
``{"code": ..., "message": ...}`` with a status from `lwnode.http.errors` (the one
place errors become statuses, for these routes and the web page's): 4xx for
anything a client can send, 500 only for bugs (logged once with their traceback),
503 for a node that is shutting down or saturated. `lwnode.http.guard` refuses, on
every route, a ``Host`` that is not one of the node's names and a browser's POST
or DELETE from another site's page.

Writes (``POST /v1/learnwares``, ``DELETE /v1/learnwares/{id}``) and ``GET
/v1/whoami`` (a read-only check of the token: 200 with it, 401 without) need the
node's bearer token; reads are open unless ``[http] open_reads = false`` (health and
the OpenAPI document stay open for probes). The OpenAPI document is
`lwnode.http.openapi.openapi_document`; a test checks that it lists exactly the routes here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import metadata
from typing import Any

from aiohttp import web

from lwnode.config import NodeConfig
from lwnode.errors import BadRange, BadRequest, TooLarge
from lwnode.http import jsonio
from lwnode.http.errors import errors_middleware
from lwnode.http.guard import RequestGuard, refuse_token, token_ok
from lwnode.http.openapi import openapi_document
from lwnode.http.ratelimit import OpenLimits
from lwnode.http.web import PAGE_PATHS, setup_web  # the web page (lwnode.http.web, issue 9)
from lwnode.node.service import NodeService, package_path
from protocol.versions import SCHEMA_STRING

log = logging.getLogger("lwnode.api")

SERVICE = web.AppKey("service", NodeService)
CONFIG = web.AppKey("config", NodeConfig)
TOKEN = web.AppKey("token", str)
LIMITS = web.AppKey("limits", OpenLimits)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)
"""The OpenAPI document with this node's limits, encoded once (it is ~30 kB)."""

UPLOAD_CHUNK_BYTES = 1 << 16
MAX_SPACE_CHARS = 200
"""Longest comparison space ``GET /v1/gammas`` takes (real ones are under 100)."""
SHA256_HEADER = "X-Content-SHA256"
OPEN_ROUTES = frozenset({"/v1/health", "/v1/openapi.json", *PAGE_PATHS})  # + the web page
TOKEN_ROUTES = frozenset({("POST", "/v1/learnwares"), ("DELETE", "/v1/learnwares/{id}"),
                          ("GET", "/v1/whoami")})
"""Routes that need the token whatever ``open_reads`` says: the writes, and the check."""


@web.middleware
async def auth_middleware(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    route = request.match_info.route.resource
    template = route.canonical if route is not None else request.path
    needs_token = (request.method, template) in TOKEN_ROUTES
    if template not in OPEN_ROUTES and (needs_token or not request.app[CONFIG].http.open_reads) \
            and not token_ok(request, request.app[TOKEN]):
        raise refuse_token(request, "this request", "send 'Authorization: Bearer <token>'; "
                           "the token is in api.token in the node's home")
    return await handler(request)


# -- helpers ----------------------------------------------------------------------------------
async def read_body(request: web.Request) -> bytes:
    """The whole body of a JSON request, within ``[http] max_request_bytes``."""
    cap = request.app[CONFIG].http.max_request_bytes
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"body: {request.content_length} bytes, at most {cap}")
    return await request.read()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda v: json.dumps(v, allow_nan=False))


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single-range ``Range`` header, or None for all.

    Raises `BadRequest` for a malformed header and `BadRange` (416) for one that
    cannot be satisfied.
    """
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or not (m[1] or m[2]):
        raise BadRequest(f"Range: expected 'bytes=FIRST-LAST', 'bytes=FIRST-' or "
                         f"'bytes=-LENGTH' (one range), got {header[:80]!r}")
    unsatisfiable = BadRange(f"Range: {header[:80]!r} is outside the package's {size} bytes")
    unsatisfiable.headers = {"Content-Range": f"bytes */{size}"}
    if m[1]:
        first = int(m[1])
        last = int(m[2]) if m[2] else size - 1
        if m[2] and last < first:
            raise BadRequest(f"Range: last byte {last} is before the first {first}")
        if first >= size:
            raise unsatisfiable
        return first, min(last, size - 1)
    length = int(m[2])
    if length == 0:
        raise unsatisfiable
    return max(0, size - length), size - 1


# -- handlers ---------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    config = request.app[CONFIG]
    data = await service.health()
    data = {**data, "version": _version(),
            "protocol": SCHEMA_STRING,
            "limits": {"max_upload_bytes": config.http.max_upload_bytes,
                       "max_request_bytes": config.http.max_request_bytes,
                       "max_k": config.search.max_k,
                       "max_mixture": config.search.max_mixture,
                       "max_spec_points": config.budget.spec_points,
                       "max_requirement_points": config.budget.requirement_points},
            "open_reads": config.http.open_reads}
    return _json(data, 503 if data["status"] != "ok" else 200)  # degraded: probes see it


def _version() -> str:
    try:
        return metadata.version("lwdock")
    except metadata.PackageNotFoundError:
        return "unknown"


async def list_learnwares(request: web.Request) -> web.Response:
    where, limit, cursor = jsonio.parse_filter(request.query, request.query.getall("scenario",
                                                                                   []))
    page = await request.app[SERVICE].list_learnwares(where, limit, cursor)
    return _json({"items": [jsonio.record_json(r) for r in page.rows],
                  "next_cursor": page.next_cursor})


async def get_learnware(request: web.Request) -> web.Response:
    lid = jsonio.learnware_id(request.match_info["id"])
    return _json(await jsonio.learnware_json(request.app[SERVICE], lid))


async def get_spec(request: web.Request) -> web.Response:
    lid = jsonio.learnware_id(request.match_info["id"])
    text = request.query.get("max_points")
    max_points = None
    if text is not None:
        if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
            raise BadRequest(f"max_points: expected a positive integer, got {text[:40]!r}")
        max_points = int(text)
    semantic, specs = await request.app[SERVICE].specs(lid)
    return _json({"id": lid, "semantic": semantic.to_dict(),
                  "statistical": [jsonio.spec_json(s, max_points) for s in specs]})


async def upload(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    cap = request.app[CONFIG].http.max_upload_bytes
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"package: {request.content_length} bytes, more than this node's limit "
                       f"of {cap}")
    upload = await service.new_upload()
    try:
        async for chunk in request.content.iter_chunked(UPLOAD_CHUNK_BYTES):
            if upload.size + len(chunk) > cap:
                raise TooLarge(f"package: more than this node's limit of {cap} bytes")
            await upload.write(chunk)
        if upload.size == 0:
            raise BadRequest("body: empty; send the package's bytes (application/zip)")
        result = await service.publish(upload)
    finally:
        await upload.discard()
    own = result.learnware
    return _json({"id": own.learnware_id, "created": result.created,
                  "package_url": service.public_url + package_path(own.learnware_id),
                  **jsonio.own_json(own, result.report)},
                 status=201 if result.created else 200)


async def withdraw(request: web.Request) -> web.Response:
    lid = jsonio.learnware_id(request.match_info["id"])
    own = await request.app[SERVICE].withdraw(lid)
    return _json({"id": lid, **jsonio.own_json(own)})


async def download(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    lid = jsonio.learnware_id(request.match_info["id"])
    f, size = await service.open_package(lid)
    try:
        headers = {"Content-Type": "application/zip", "Accept-Ranges": "bytes",
                   "ETag": f'"{lid}"', SHA256_HEADER: lid.split(":", 1)[1],
                   "Content-Disposition": f'attachment; filename="{lid.split(":", 1)[1]}.zip"'}
        byte_range = parse_range(request.headers.get("Range"), size)
        if_range = request.headers.get("If-Range")
        if byte_range is not None and if_range is not None and if_range.strip() != f'"{lid}"':
            byte_range = None  # the client's partial copy is of other bytes: send all
        status, first, last = 200, 0, size - 1
        if byte_range is not None:
            status, (first, last) = 206, byte_range
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = last - first + 1
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        f.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = await service.read_chunk(f, min(left, 1 << 18))
            if not chunk:
                raise ConnectionResetError(f"package {lid} shrank while being sent")
            await response.write(chunk)
            left -= len(chunk)
        await response.write_eof()
        return response
    finally:
        await service.close_file(f)


async def search(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    raw = await read_body(request)
    query = await service.compute(jsonio.parse_search_body, raw, request.app[CONFIG])
    # only the node's own users (with its token) say what it is interested in: an
    # anonymous searcher (``open_reads``) must not steer what its disk budget keeps
    answer = await service.search(query, own_user=token_ok(request, request.app[TOKEN]))
    return _json(jsonio.answer_json(answer))


async def gammas(request: web.Request) -> web.Response:
    """The market's gammas in one comparison space: public (each travels signed), what
    a DP spec's public gamma follows (`lwnode.userside.privacy.resolve_dp`)."""
    unknown = sorted(set(request.query) - {"space"})
    space = request.query.get("space", "")
    if unknown or not 1 <= len(space) <= MAX_SPACE_CHARS:
        raise BadRequest(f"query: expected space=SPACE (1..{MAX_SPACE_CHARS} characters), e.g. "
                         "space=table/d=17" + (f"; unknown: {', '.join(unknown)[:200]}"
                                               if unknown else ""))
    counts = await request.app[SERVICE].gammas(space)
    return _json({"space": space, "gammas": [{"gamma": g, "learnwares": n}
                                             for g, n in sorted(counts.items())]})


async def peers(request: web.Request) -> web.Response:
    found = await request.app[SERVICE].peer_list()
    return _json({"peers": [{"node_id": p.node_id, "connected": p.connected,
                             "organization": p.organization, "http_url": p.http_url,
                             "multiaddrs": list(p.multiaddrs), "last_seen": p.last_seen,
                             "records_accepted": p.records_accepted,
                             "records_rejected": p.records_rejected}
                            for p in found]})


async def whoami(request: web.Request) -> web.Response:
    """Reached only with the right token (`auth_middleware`): who holds it. Lets a client
    check a token without writing anything (``lwnode status``)."""
    service = request.app[SERVICE]
    return _json({"token": "accepted", "node_id": service.node_id,
                  "organization": service.organization, "can": ["publish", "withdraw"]})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_BODY], content_type="application/json")


ROUTES: tuple[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]], ...] = (
    ("GET", "/v1/health", health),
    ("GET", "/v1/learnwares", list_learnwares),
    ("POST", "/v1/learnwares", upload),
    ("GET", "/v1/learnwares/{id}", get_learnware),
    ("DELETE", "/v1/learnwares/{id}", withdraw),
    ("GET", "/v1/learnwares/{id}/spec", get_spec),
    ("GET", "/v1/learnwares/{id}/package", download),
    ("HEAD", "/v1/learnwares/{id}/package", download),
    ("POST", "/v1/search", search),
    ("GET", "/v1/gammas", gammas),
    ("GET", "/v1/peers", peers),
    ("GET", "/v1/whoami", whoami),
    ("GET", "/v1/openapi.json", openapi),
)


def make_app(service: NodeService, config: NodeConfig, token: str) -> web.Application:
    """The aiohttp application of one node; the service starts and stops with it."""
    guard = RequestGuard(config)  # Host allowlist and Origin check, before anything else
    limits = OpenLimits(config.budget, lambda request: token_ok(request, token))
    app = web.Application(middlewares=[errors_middleware, guard.middleware, auth_middleware,
                                       limits.middleware],
                          client_max_size=config.http.max_request_bytes)
    app[LIMITS] = limits
    app[SERVICE] = service
    app[CONFIG] = config
    app[TOKEN] = token
    app[OPENAPI_BODY] = json.dumps(openapi_document(config)).encode()

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        await app[SERVICE].start()
        yield
        await app[SERVICE].stop()

    app.cleanup_ctx.append(service_ctx)
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler, allow_head=False)
        else:
            app.router.add_route(method, path, handler)
    setup_web(app, service, config, token)  # the web page: /, /web/*, /v1/web/* (lwnode.http.web)
    return app
