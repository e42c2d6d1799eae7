"""JSON of the HTTP API <-> the node's types, in one module.

Requests are hostile input: every field is type-checked here and every problem is
a `BadRequest` naming the field, so handlers never see a malformed value. The
statistical spec travels as its `to_dict()` form with arrays as nested lists;
its size is bounded by the wire protocol's limit on array elements before any
array is built.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.errors import SearchError, SpecError
from engine.hetero.mapping import ColumnMapping
from engine.search import Requirement
from engine.specification import spec_from_dict
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec
from engine.vocabulary import DataType, Library, License, TaskType
from lwnode.config import NodeConfig
from lwnode.errors import BadRequest
from lwnode.node.budget import check_spec
from lwnode.node.records import offer_of
from lwnode.node.searchtypes import Hit, SearchAnswer, SearchQuery
from lwnode.node.service import Details, NodeService, package_path
from lwnode.node.store.base import ANNOUNCEMENT, OwnLearnware, RecordFilter, RecordRow
from protocol import limits
from protocol.content import check_content_id
from protocol.errors import ProtocolError

MAX_LIST_LIMIT = 1000
DEFAULT_LIST_LIMIT = 50
SEARCH_KEYS = ("semantic", "statistical", "k", "max_mixture", "deadline_ms")


def jsonable(value: Any) -> Any:
    """Numpy arrays and scalars -> lists and Python numbers, recursively."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def spec_json(spec: RKMESpec, max_points: int | None = None) -> dict[str, Any]:
    """A spec's JSON form; with `max_points`, only its heaviest points (in their order,
    weights as they are) and ``points_total``: a sample for a picture, not a spec."""
    out = dict(jsonable(spec.to_dict()))
    n = len(spec.points_)
    if max_points is not None and n > max_points:
        keep = np.sort(np.argsort(-spec.weights_, kind="stable")[:max_points])
        out["points"] = jsonable(np.asarray(spec.points_)[keep])
        out["weights"] = jsonable(np.asarray(spec.weights_)[keep])
        out["points_total"] = n
    return out


def learnware_id(value: str) -> str:
    try:
        return check_content_id(value, "learnware id")
    except ProtocolError as exc:
        raise BadRequest(str(exc)) from None


# -- requests --------------------------------------------------------------------------------
def _int(body: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key}: expected an integer, got {value!r}"[:200])
    if not lo <= value <= hi:
        raise BadRequest(f"{key}: {value} is outside {lo}..{hi}")
    return value


def _points_size(data: Mapping[str, Any]) -> None:
    """Refuse an oversized or ragged `points` before numpy sees it."""
    points = data.get("points")
    if not isinstance(points, list) or not points or not isinstance(points[0], list):
        raise BadRequest("statistical.points: expected a non-empty list of rows (lists of "
                         "numbers)")
    n, d = len(points), len(points[0])
    if n * d > limits.MAX_ARRAY_ELEMENTS:
        raise BadRequest(f"statistical.points: {n} x {d} values, at most "
                         f"{limits.MAX_ARRAY_ELEMENTS} allowed")
    if any(not isinstance(row, list) or len(row) != d for row in points):
        raise BadRequest(f"statistical.points: every row must have {d} numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for row in points for v in row):
        raise BadRequest("statistical.points: values must be numbers")


def parse_search(body: object, config: NodeConfig) -> SearchQuery:
    """A search request body -> `SearchQuery` (raises `BadRequest` naming the field)."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"body: expected a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(SEARCH_KEYS))
    if unknown:
        raise BadRequest(f"body: unknown field(s) {', '.join(unknown)[:200]} (known: "
                         f"{', '.join(SEARCH_KEYS)})")
    semantic = spec = None
    if body.get("semantic") is not None:
        try:
            semantic = SemanticSpec.from_dict(body["semantic"])
        except SpecError as exc:
            raise BadRequest(f"semantic: {exc}") from None
    if body.get("statistical") is not None:
        data = body["statistical"]
        if not isinstance(data, Mapping):
            raise BadRequest("statistical: expected an object (a spec's to_dict form)")
        _points_size(data)
        try:
            spec = spec_from_dict(data)
        except (SpecError, ValueError, TypeError) as exc:
            raise BadRequest(f"statistical: {exc}"[:500]) from None
        check_spec(spec, config.budget.requirement_points, "statistical",
                   "requirement_points")
    if semantic is None and spec is None:
        raise BadRequest("body: give a semantic spec, a statistical spec, or both")
    if (semantic is not None and spec is not None and semantic.input is not None
            and spec.kind == "rkme_table" and semantic.input.dimension != spec.dim_):
        raise BadRequest(f"statistical: {spec.dim_} features, but semantic input.dimension is "
                         f"{semantic.input.dimension}")
    k = _int(body, "k", config.search.default_k, 1, config.search.max_k)
    max_mixture = _int(body, "max_mixture", config.search.max_mixture, 1,
                       config.search.max_mixture)
    deadline_ms = _int(body, "deadline_ms", config.p2p.search_deadline_ms, 1,
                       limits.MAX_DEADLINE_MS)
    try:
        requirement = Requirement(semantic, spec)
    except SearchError as exc:
        raise BadRequest(str(exc)) from None
    return SearchQuery(requirement, k, max_mixture, deadline_ms)


def parse_search_body(raw: bytes, config: NodeConfig) -> SearchQuery:
    """`parse_search` of the raw body (JSON decoding included: run it off the loop)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"body: not valid JSON ({exc})"[:300]) from None
    return parse_search(body, config)


_VOCABULARIES: dict[str, type[DataType | TaskType | Library | License]] = {
    "data_type": DataType, "task_type": TaskType, "library": Library, "license": License}


def parse_filter(query: Mapping[str, str], scenarios: list[str]
                 ) -> tuple[RecordFilter, int, str | None]:
    """Query parameters of ``GET /v1/learnwares`` -> filter, limit, cursor."""
    known = {"owner", "name", "limit", "cursor", "scenario", *_VOCABULARIES}
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(f"query: unknown parameter(s) {', '.join(unknown)[:200]} (known: "
                         f"{', '.join(sorted(known))})")
    fields: dict[str, Any] = {}
    for key, vocab in _VOCABULARIES.items():
        if query.get(key):
            try:
                fields[key] = vocab.parse(query[key], key).value
            except SpecError as exc:
                raise BadRequest(str(exc)) from None
    for key in ("owner", "name"):
        if query.get(key):
            fields[key] = query[key][:200]
    if scenarios:
        fields["scenarios"] = tuple(sorted({s.strip().lower() for s in scenarios}))
    try:
        limit = int(query.get("limit", DEFAULT_LIST_LIMIT))
    except ValueError:
        raise BadRequest(f"limit: expected an integer, got {query.get('limit')!r}"[:200]
                         ) from None
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise BadRequest(f"limit: {limit} is outside 1..{MAX_LIST_LIMIT}")
    return RecordFilter(**fields), limit, query.get("cursor") or None


# -- responses -------------------------------------------------------------------------------
def record_json(row: RecordRow) -> dict[str, Any]:
    """A listing entry: the announcement's summary columns."""
    return {"id": row.learnware_id, "owner": row.owner, "organization": row.organization,
            "name": row.name, "data_type": row.data_type or None,
            "task_type": row.task_type or None, "library": row.library or None,
            "license": row.license or None, "scenarios": list(row.scenarios),
            "size": row.package_size, "sequence": row.sequence}


def own_json(own: OwnLearnware, report: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": own.status, "size": own.size, "sequence": own.sequence,
                           "published_at": own.published_at, "withdrawn_at": own.withdrawn_at}
    if report is not None:
        out["report"] = report
    return out


async def learnware_json(service: NodeService, learnware_id: str) -> dict[str, Any]:
    """``GET /v1/learnwares/{id}``'s answer, for the API and the node's own page."""
    details = await service.details(learnware_id)
    offers = [await service.compute(offer_of, r) for r in details.records
              if r.kind == ANNOUNCEMENT]
    hosted = details.own is not None and details.own.status == "active"
    url = service.public_url + package_path(learnware_id) if hosted else None
    urls = {a.owner: a.package_urls for a in offers}
    return details_json(details, offers[0].semantic, url, urls)


def details_json(details: Details, semantic: SemanticSpec, package_url: str | None,
                 urls: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """One learnware: its semantic spec, every owner's offer (with the owner's signed
    announcement, base64, so a client can check what it downloads, and when this node
    received it, so a client can try the original owner first), hosting status."""
    offers = [{**record_json(r), "package_urls": list(urls.get(r.owner, ())),
               "received_at": r.received_at,
               "envelope": base64.b64encode(r.envelope).decode("ascii")}
              for r in details.records if r.kind == ANNOUNCEMENT]
    own = details.own
    return {"id": details.learnware_id, "semantic": semantic.to_dict(),
            "offers": offers, "package_url": package_url,
            "hosted": None if own is None else own_json(own, json.loads(own.report))}


def place_json(hit: Hit) -> dict[str, Any]:
    """Which learnware and where to fetch it (a mixture member)."""
    return {"id": hit.learnware_id, "owner": hit.owner, "organization": hit.organization,
            "name": hit.name, "package_url": hit.package_url, "size": hit.size,
            "local": hit.local}


def hit_json(hit: Hit) -> dict[str, Any]:
    """A ranked single learnware: where it lives, its score, every owner offering it,
    and for a heterogeneous match which of the user's columns feed which of its own."""
    mapping = hit.mapping
    return {**place_json(hit), "score": hit.score, "mmd2": hit.mmd2,
            "locations": [{"owner": loc.owner, "organization": loc.organization,
                           "package_urls": list(loc.package_urls)} for loc in hit.locations],
            "heterogeneous": mapping is not None,
            "mapping": None if mapping is None else mapping_json(mapping),
            "approximate": hit.approximate}


def mapping_json(mapping: ColumnMapping) -> dict[str, Any]:
    """A column mapping with its coverage and one readable line per learnware column."""
    return {**mapping.to_dict(), "coverage": mapping.coverage, "lines": mapping.describe()}


def answer_json(answer: SearchAnswer) -> dict[str, Any]:
    mixture = answer.mixture
    return {
        "single": [hit_json(h) for h in answer.hits],
        "mixture": None if mixture is None else {
            "ids": list(mixture.ids), "weights": list(mixture.weights),
            "mmd2": mixture.mmd2, "score": mixture.score,
            "members": [place_json(h) for h in answer.mixture_hits]},
        "n_candidates": answer.n_candidates, "exact": answer.exact,
        "partial": answer.partial, "missed": list(answer.missed), "notes": list(answer.notes),
        "peers": {"asked": list(answer.asked), "answered": list(answer.answered)},
    }
