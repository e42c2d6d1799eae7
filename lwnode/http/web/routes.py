"""The page's routes: ``/`` and ``/web/*`` (static files) and the ``/v1/web/*`` API.

The ``/v1/web`` routes do, on this node, what the command line does on a user's
machine, so a browser needs nothing installed:

=============================  ======================================================
route                          does
=============================  ======================================================
``GET /v1/web/vocabulary``     the choices and limits the page's forms offer
``POST /v1/web/requirement``   uploaded rows (+ a TOML describing their columns) -> their
                               RKME and columns (the rows stay on this node;
                               each RKME point stands for >= 10 of them, or,
                               opted in, the RKME is differentially private)
``POST /v1/web/fetch``         fetch and verify a package into the page's cache
``POST /v1/web/reuse``         uploaded rows (+ labels of the first rows, + the columns
                               TOML) -> predictions CSV and a score against a user-only
                               model; across feature spaces, each column mapping
``POST /v1/web/rerank``        uploaded rows + labels of the first rows (+ the columns
                               TOML) + the search's answer -> its shortlist ordered by
                               the labels, as ``lwnode search --labels`` orders it
``POST /v1/web/pack``          (token) model + data + semantic fields (+ the DP
                               fields) -> package, published like
                               ``POST /v1/learnwares``
=============================  ======================================================

The differential privacy fields (``epsilon``, ``delta``, ``gamma``, ``bounds``) are
the command line's ``--epsilon --delta --gamma --bounds``, parsed by the same code
(`lwnode.userside.privacy.parse_dp`): left out, the spec is the private default.

Errors are the API's JSON ``{code, message}``: handlers raise, and the node's one
error table (`lwnode.http.errors`) answers; a worker's failure (`JobFailed`) carries
the status the worker chose, a failed fetch is 502, the owner's "unknown" or
"withdrawn" is passed on. Host and Origin are checked before any handler runs
(`lwnode.http.guard`).

A reuse or re-rank whose client has gone (the page closed, a timeout) is stopped, its
worker killed (`stops_when_the_client_leaves`): aiohttp runs a handler to its end whatever
the connection does, and an abandoned reuse held a worker slot until its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.vocabulary import SCENARIOS, DataType, Library, License, TaskType
from lwnode.config import NodeConfig
from lwnode.errors import (
    BadRequest,
    Busy,
    FetchFailed,
    Gone,
    InputError,
    JobFailed,
    NodeError,
    NodeUnreachable,
    NotFound,
    RequestFailed,
    TooLarge,
)
from lwnode.http import jsonio
from lwnode.http.guard import refuse_token, token_ok
from lwnode.http.web.answers import read_answer
from lwnode.http.web.forms import Form, read_form
from lwnode.http.web.jobs import WebJobs
from lwnode.http.web.worker import COLUMNS_TOML, MODEL_SUFFIXES
from lwnode.node.service import NodeService, package_path
from lwnode.userside.local import NEEDS_LABELS, Fetched
from lwnode.userside.local import REUSE_METHODS as METHODS
from lwnode.userside.privacy import FIELDS as DP_FIELDS
from lwnode.userside.privacy import parse_dp
from lwnode.userside.rerank import (
    AVERAGE_SCORE_FLOOR,
    DEFAULT_RERANK,
    MAX_RERANK,
    shortlist_ids,
)

STATIC = Path(__file__).parent / "static"
DATA_SUFFIXES = (".csv", ".tsv", ".npy")
MAX_DATA_BYTES = 64 << 20
MAX_LABEL_BYTES = 8 << 20
MAX_SEMANTIC_BYTES = 256 << 10
SEMANTIC_FILE = ((".toml",), MAX_SEMANTIC_BYTES)
LABEL_FILE = ((".csv", ".tsv", ".npy"), MAX_LABEL_BYTES)
"""The optional ``semantic`` upload: a TOML whose ``[input.columns]`` describes the
user's columns (as ``--semantic`` on the command line)."""
MAX_REUSE_IDS = 10
MAX_POINTS = 500
PUBLISH_CHUNK_BYTES = 1 << 20
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class WebContext:
    service: NodeService
    config: NodeConfig
    token: str
    jobs: WebJobs

    @property
    def max_data_bytes(self) -> int:
        return min(MAX_DATA_BYTES, self.config.http.max_upload_bytes)


WEB = web.AppKey("lwnode_web", WebContext)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda v: json.dumps(v, allow_nan=False))


def _self_url(request: web.Request, ctx: WebContext) -> str:
    """This node's URL as the connection reached it (always reachable from the node)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sock, tuple) or len(sock) < 2:
        return ctx.service.public_url
    bound = str(sock[0])
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bound, bound)
    return f"http://{f'[{host}]' if ':' in host else host}:{sock[1]}"


async def _fetch(ctx: WebContext, request: web.Request, lid: str) -> Fetched:
    """Fetch a package for the page; any failure is the fetch's (502), an unknown or
    withdrawn id the owner's answer (`lwnode.http.errors` maps both)."""
    details = await jsonio.learnware_json(ctx.service, lid)  # NotFound / Gone: 404 / 410
    own_file = await ctx.service.package_file(lid)
    try:
        return await ctx.jobs.fetch(lid, details, _self_url(request, ctx), own_file)
    except (InputError, RequestFailed, NodeUnreachable, FetchFailed, Busy):
        raise
    except NodeError as exc:  # a download that did not verify, no URL known...
        raise FetchFailed(str(exc)) from exc


async def _fetch_shortlist(ctx: WebContext, request: web.Request, ids: Sequence[str]
                           ) -> tuple[list[Fetched], dict[str, str]]:
    """Fetch a re-ranking's shortlist: one that fails (its owner down, withdrawn
    meanwhile, a download that does not verify) is left out with why, so the others
    are still re-ranked; only when none arrives does the fetch's error stand."""
    fetched: list[Fetched] = []
    unfetched: dict[str, str] = {}
    first: NodeError | None = None
    for lid in ids:
        try:
            fetched.append(await _fetch(ctx, request, lid))
        except (FetchFailed, NodeUnreachable, RequestFailed, NotFound, Gone) as exc:
            unfetched[lid] = str(exc)[:300]
            first = first or exc
    if not fetched and first is not None:
        raise first
    return fetched, unfetched


def _fetched_json(f: Fetched) -> dict[str, Any]:
    return {"id": f.learnware_id, "name": f.name, "owner": f.owner, "size": f.size,
            "cached": f.cached, "verified": True}


# -- handlers ------------------------------------------------------------------------------
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def vocabulary(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    search = ctx.config.search
    return _json({
        "data_type": [m.value for m in DataType], "task_type": [m.value for m in TaskType],
        "library": [m.value for m in Library], "license": [m.value for m in License],
        "scenarios": sorted(SCENARIOS), "methods": list(METHODS),
        "needs_labels": list(NEEDS_LABELS), "data_suffixes": list(DATA_SUFFIXES),
        "model_suffixes": list(MODEL_SUFFIXES),
        "limits": {"max_data_bytes": ctx.max_data_bytes, "max_label_bytes": MAX_LABEL_BYTES,
                   "max_semantic_bytes": MAX_SEMANTIC_BYTES,
                   "max_model_bytes": ctx.config.http.max_upload_bytes,
                   "max_upload_bytes": ctx.config.http.max_upload_bytes,
                   "max_k": search.max_k, "max_mixture": search.max_mixture,
                   "max_points": MAX_POINTS, "max_reuse_ids": MAX_REUSE_IDS,
                   "max_rerank": MAX_RERANK, "default_rerank": DEFAULT_RERANK,
                   "average_score_floor": AVERAGE_SCORE_FLOOR}})


YOUR_ROWS = ("data", "a .csv, .tsv or .npy file of your rows")


def _require_files(form: Form, *files: tuple[str, str]) -> None:
    """Refuse a form without each (field, what to choose) file, naming the first missing."""
    for key, what in files:
        if key not in form.files:
            raise BadRequest(f"{key}: choose {what}")


def _bounded_int(form: Form, key: str, default: int, lo: int, hi: int) -> int:
    text = form.text(key)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key}: expected an integer, got {text[:40]!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{key}: {value} is outside {lo}..{hi}")
    return value


def _page_name(field: str) -> str:
    """A DP field as the page names it (the command line's is ``--field``)."""
    return field


def _dp(form: Form) -> dict[str, Any] | None:
    """The opt-in DP fields, parsed as the command line parses its flags (None: the
    private default); a bad or missing one is a 400 naming the field."""
    try:
        return parse_dp(*(form.text(f) for f in DP_FIELDS), name=_page_name)
    except InputError as exc:
        raise BadRequest(str(exc)) from None


def _requirement(form: Form, n_points: int, dp: dict[str, Any] | None,
                 market: Callable[[str], dict[float, int]] | None = None) -> dict[str, Any]:
    """Read the uploaded rows and fit their RKME (in the page's compute thread).

    The answer's ``input`` is the rows' columns: the header's names, described by the
    optional ``semantic`` TOML; sent with the RKME, it lets the search match
    learnwares over other columns (as ``lwnode search --data --semantic`` does).
    """
    from lwnode.userside.local import dp_choices, make_spec, read_semantic, spec_privacy_report
    from lwnode.userside.privacy import privacy_note
    from lwnode.userside.tabular import read_table

    began = time.perf_counter()
    data = form.files["data"]
    toml = form.files.get("semantic")
    try:
        table = read_table(data.path)
        semantic = read_semantic(None if toml is None else toml.path, table=table,
                                 data_name=data.name)
        # not lowered to the row count: the private fit gives small data fewer points
        # by itself (each point stands for >= 10 rows), and refuses too few rows
        # gamma left out: the convention of this node's market (its catalog's gammas)
        dp, chosen = dp_choices(table, None, dp, market=market, name=_page_name,
                                declared=semantic.input,
                                declared_in=COLUMNS_TOML if toml is None else toml.name)
        spec = make_spec(table, n_points=n_points, dp=dp)
    except InputError as exc:
        raise BadRequest(form.clean(str(exc))) from None
    seconds = time.perf_counter() - began
    shared = semantic.without_ranges()  # what the page searches with: ranges bound the fit
    return {"statistical": jsonio.spec_json(spec), "privacy_note": privacy_note(spec),
            "privacy_report": spec_privacy_report(spec, table).to_dict(),
            "input": None if shared.input is None else shared.input.to_dict(),
            "file": data.name, "bytes": data.size,
            "rows": len(table.values), "shape": list(table.values.shape[1:]),
            "columns": list(table.columns), "points": len(spec.points_), "dp_choices": chosen,
            "seconds": round(seconds, 3)}


async def requirement(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    form = await read_form(request, {"data": (DATA_SUFFIXES, ctx.max_data_bytes),
                                     "semantic": SEMANTIC_FILE},
                           ("n_points", *DP_FIELDS), ctx.jobs.uploads)
    try:
        n_points = _bounded_int(form, "n_points", 100, 1, MAX_POINTS)
        dp = _dp(form)
        _require_files(form, YOUR_ROWS)
        return _json(await ctx.jobs.compute(_requirement, form, n_points, dp,
                                            ctx.service.catalog.gammas))
    finally:
        await ctx.jobs.io(form.close)


async def fetch(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    if request.content_length is not None and request.content_length > 4096:
        raise TooLarge("body: at most 4096 bytes")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})"[:200]) from None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise BadRequest('body: expected {"id": "sha256:..."}')
    lid = jsonio.learnware_id(body["id"])
    return _json(_fetched_json(await _fetch(ctx, request, lid)))


def _ids(form: Form) -> list[str]:
    text = form.text("ids")
    if not text:
        raise BadRequest("ids: choose at least one learnware to reuse")
    try:
        raw = json.loads(text) if text.startswith("[") else text.split(",")
    except ValueError:
        raise BadRequest("ids: expected a JSON list or comma-separated ids") from None
    if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
        raise BadRequest("ids: expected a list of learnware ids")
    ids = list(dict.fromkeys(i.strip() for i in raw if i.strip()))
    if not ids or len(ids) > MAX_REUSE_IDS:
        raise BadRequest(f"ids: give 1 to {MAX_REUSE_IDS} learnwares, got {len(ids)}")
    return [jsonio.learnware_id(i) for i in ids]


def _weights(form: Form, n: int) -> list[float] | None:
    text = form.text("weights")
    if not text:
        return None
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise BadRequest(f"weights: expected numbers separated by commas, got "
                         f"{text[:80]!r}") from None
    if len(weights) != n:
        raise BadRequest(f"weights: {len(weights)} weights for {n} learnwares")
    return weights


CLIENT_POLL_SECONDS = 0.5
"""How often a long route looks whether its client is still connected."""

log = logging.getLogger("lwnode.api")


def stops_when_the_client_leaves(handler: Handler) -> Handler:
    """`handler`, cancelled once its client's connection closes (a worker it waits for
    is killed by `WebJobs.run_worker` on cancellation; its upload folder is removed by
    the handler's own clean-up). Only for routes whose work is for that client alone:
    not for publishing, which must finish or not start."""

    async def watched(request: web.Request) -> web.StreamResponse:
        task = asyncio.ensure_future(handler(request))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=CLIENT_POLL_SECONDS)
                transport = request.transport
                if not task.done() and (transport is None or transport.is_closing()):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    log.info("%s %s: the client left; its work was stopped",
                             request.method, request.path)
                    return web.Response(status=499)  # nobody reads it
            return task.result()
        finally:
            if not task.done():  # this handler itself was cancelled
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return watched


async def reuse(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    form = await read_form(request, {"data": (DATA_SUFFIXES, ctx.max_data_bytes),
                                     "labels": LABEL_FILE, "semantic": SEMANTIC_FILE},
                           ("ids", "method", "weights"), ctx.jobs.uploads)
    try:
        ids = _ids(form)
        method = form.text("method") or None  # None: chosen as `lwnode reuse` chooses
        if method is not None and method not in METHODS:
            raise BadRequest(f"method: {method[:40]!r} is not one of {', '.join(METHODS)}")
        if method in NEEDS_LABELS and "labels" not in form.files:
            raise BadRequest(f"labels: {method} learns from a few labels; upload labels for "
                             "the first rows of your data, or choose job-selector or average")
        _require_files(form, YOUR_ROWS)
        weights = _weights(form, len(ids))
        began = time.perf_counter()
        fetched = [await _fetch(ctx, request, lid) for lid in ids]
        predictions = form.root / "predictions.csv"
        toml = form.files.get("semantic")
        job = {"kind": "reuse", "data": str(form.files["data"].path),
               "data_name": form.files["data"].name,
               "semantic": None if toml is None else str(toml.path),
               "labels": str(form.files["labels"].path) if "labels" in form.files else None,
               "packages": [str(f.path) for f in fetched], "method": method,
               "weights": weights, "predictions": str(predictions)}
        with ctx.jobs.pinned([f.path for f in fetched]):
            try:
                answer = await ctx.jobs.run_worker(job, form.root)
            except JobFailed as exc:  # its message without the upload's temp paths
                raise JobFailed(exc.status, exc.code, form.clean(str(exc))) from None
        csv_text = await ctx.jobs.io(predictions.read_text, "utf-8")
        return _json({"ids": ids, "weights": weights,
                      "fetched": [_fetched_json(f) for f in fetched], **answer,
                      "seconds": round(time.perf_counter() - began, 3),
                      "predictions_csv": csv_text})
    finally:
        await ctx.jobs.io(form.close)


async def rerank(request: web.Request) -> web.Response:
    """The search's shortlist ordered by the user's labels: its packages fetched and
    verified here, then scored in a worker process by the code ``lwnode search
    --labels`` runs (`lwnode.userside.rerank`)."""
    ctx = request.app[WEB]
    form = await read_form(request, {"data": (DATA_SUFFIXES, ctx.max_data_bytes),
                                     "labels": LABEL_FILE, "semantic": SEMANTIC_FILE},
                           ("answer", "rerank"), ctx.jobs.uploads)
    try:
        _require_files(form, YOUR_ROWS,
                       ("labels", "a file of labels for the first rows of your data"))
        n = _bounded_int(form, "rerank", DEFAULT_RERANK, 1, MAX_RERANK)
        answer = read_answer(form.text("answer"), max_k=ctx.config.search.max_k,
                             max_mixture=ctx.config.search.max_mixture)
        began = time.perf_counter()
        fetched, unfetched = await _fetch_shortlist(ctx, request, shortlist_ids(answer, n))
        toml = form.files.get("semantic")
        job = {"kind": "rerank", "data": str(form.files["data"].path),
               "data_name": form.files["data"].name,
               "semantic": None if toml is None else str(toml.path),
               "labels": str(form.files["labels"].path), "answer": answer, "n": n,
               "packages": {f.learnware_id: str(f.path) for f in fetched},
               "unfetched": unfetched}
        with ctx.jobs.pinned([f.path for f in fetched]):
            try:
                out = await ctx.jobs.run_worker(job, form.root)
            except JobFailed as exc:  # its message without the upload's temp paths
                raise JobFailed(exc.status, exc.code, form.clean(str(exc))) from None
        return _json({**out, "notes": [form.clean(note) for note in out["notes"]],
                      "fetched": [_fetched_json(f) for f in fetched],
                      "seconds": round(time.perf_counter() - began, 3)})
    finally:
        await ctx.jobs.io(form.close)


def _semantic(form: Form, model_name: str) -> dict[str, Any]:
    name = form.text("name")
    if not name:
        raise BadRequest("name: give the learnware a name")
    library = form.text("library") or ("scikit_learn" if model_name.endswith(".skops")
                                       else "pytorch")
    scenarios = [s.strip().lower() for s in form.text("scenarios").split(",") if s.strip()]
    out: dict[str, Any] = {"data_type": form.text("data_type") or "table",
                           "task_type": form.text("task_type") or "classification",
                           "library": library, "scenarios": scenarios, "name": name[:200],
                           "description": form.text("description")[:5000]}
    if form.text("license"):
        out["license"] = form.text("license")
    return out


async def publish_file(service: NodeService, jobs: WebJobs, path: Path
                       ) -> tuple[dict[str, Any], int]:
    """Publish a package file through the service, as an upload would."""
    upload = await service.new_upload()
    try:
        with open(path, "rb") as f:  # opening is instant; reads go through the io threads
            while chunk := await jobs.io(f.read, PUBLISH_CHUNK_BYTES):
                await upload.write(chunk)
        result = await service.publish(upload)
    finally:
        await upload.discard()
    own = result.learnware
    return ({"id": own.learnware_id, "created": result.created,
             "package_url": service.public_url + package_path(own.learnware_id),
             **jsonio.own_json(own, result.report)}, 201 if result.created else 200)


async def pack(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    if not token_ok(request, ctx.token):
        raise refuse_token(request, "packing and publishing", "enter it at the top of the "
                           "page; it is in api.token in the node's home")
    form = await read_form(request, {"model": (MODEL_SUFFIXES,
                                               ctx.config.http.max_upload_bytes),
                                     "data": (DATA_SUFFIXES, ctx.max_data_bytes)},
                           ("name", "description", "task_type", "data_type", "library",
                            "license", "scenarios", *DP_FIELDS), ctx.jobs.uploads)
    try:
        dp = _dp(form)
        _require_files(form, ("model", "a model file (.skops or TorchScript .pt)"),
                       ("data", "the training data (.csv, .tsv or .npy)"))
        package = form.root / "package.zip"
        job = {"kind": "pack", "model": str(form.files["model"].path),
               "data": str(form.files["data"].path), "package": str(package),
               "semantic": _semantic(form, form.files["model"].name), "dp": dp}
        try:
            packed = await ctx.jobs.run_worker(job, form.root)
        except JobFailed as exc:  # its message without the upload's temp paths
            raise JobFailed(exc.status, exc.code, form.clean(str(exc))) from None
        answer, status = await publish_file(ctx.service, ctx.jobs, package)
        return _json({**answer, "packed": packed}, status)
    finally:
        await ctx.jobs.io(form.close)


API_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/web/vocabulary", vocabulary),
    ("POST", "/v1/web/requirement", requirement),
    ("POST", "/v1/web/fetch", fetch),
    ("POST", "/v1/web/reuse", stops_when_the_client_leaves(reuse)),
    ("POST", "/v1/web/rerank", stops_when_the_client_leaves(rerank)),
    ("POST", "/v1/web/pack", pack),
)
"""The page's JSON routes (documented in `lwnode.http.openapi`)."""

PAGE_PATHS = frozenset({"/", "/web"})
"""The page and its static files: open even when ``open_reads = false`` (no data in them;
the page then asks for the token)."""


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/web/"):
        response.headers.update(PAGE_HEADERS)


def setup_web(app: web.Application, service: NodeService, config: NodeConfig,
              token: str) -> None:
    """Serve the web page from `app`: ``/``, ``/web/*`` and the ``/v1/web`` routes."""
    from lwnode.userside.safefetch import FetchLimits

    timeout = 120.0 + 4 * config.checks.time_limit
    root = getattr(service.store, "root", None)  # a FileStore's folder; None in memory
    jobs = WebJobs(trusted_types=tuple(config.checks.trusted_types),
                   timeout=timeout, workers=max(1, config.checks.workers),
                   scratch=None if root is None else Path(root) / "scratch" / "web",
                   fetch_limits=FetchLimits.from_config(config),
                   fetch_slots=config.fetch.concurrent)
    app[WEB] = WebContext(service, config, token, jobs)

    async def jobs_ctx(app: web.Application) -> Any:
        await jobs.start()
        yield
        await jobs.stop()

    app.cleanup_ctx.append(jobs_ctx)
    app.on_response_prepare.append(_page_headers)
    app.router.add_get("/", index, allow_head=False)
    app.router.add_static("/web", STATIC)
    for method, path, handler in API_ROUTES:
        if method == "GET":
            app.router.add_get(path, handler, allow_head=False)
        else:
            app.router.add_route(method, path, handler)
