"""The OpenAPI 3 document of the node's HTTP API, served at ``/v1/openapi.json``.

Written by hand (it is documentation for people and client generators); a test
checks that it lists exactly the routes `lwnode.http.app` registers, with the same
methods, and that every operation documents its error responses. It is as strict
as the server: what it allows, the server accepts (bounds, patterns, enums, no
unknown fields), so a client generated from it never meets a 400 it could have
known about; `openapi_document` fills in the node's own ``[search]`` limits (a test
compares schema and server value by value).
"""

from __future__ import annotations

from typing import Any

from engine.vocabulary import DataType, Library, License, TaskType
from lwnode.config import NodeConfig
from lwnode.http.jsonio import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from lwnode.http.web.openapi import WEB_PATHS  # the web page's /v1/web routes (issue 9)
from protocol.limits import MAX_DEADLINE_MS

ID_PATTERN = "^sha256:[0-9a-f]{64}$"
RANGE_PATTERN = "^bytes=([0-9]+-[0-9]*|-[0-9]+)$"
"""One range (the server sends no multipart/byteranges): FIRST-LAST, FIRST- or -LENGTH."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "Malformed request (names the field)", 401: "Missing or wrong bearer token",
             403: "Not allowed for anyone (e.g. another owner's learnware)",
             404: "Unknown id",
             409: "The node already offers a learnware of this name (code name_taken)",
             410: "Withdrawn by its owner", 413: "Body over the size cap",
             416: "Range outside the package", 422: "Package failed the usability checks",
             429: "Over a rate or concurrency limit for clients without the token "
                  "(Retry-After says when to retry; code rate_limited or "
                  "concurrency_limited)",
             503: "Node shutting down"}
    return {str(s): _json_body(_ref("Error"), words[s]) for s in statuses}


_ID_PARAM = {"name": "id", "in": "path", "required": True,
             "description": "Learnware id: the package's content id, sha256:<64 hex>",
             "schema": {"type": "string", "pattern": ID_PATTERN}}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _query(name: str, description: str, schema: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}, **extra}


_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "Stable word for programs, e.g. not_found"},
        "message": {"type": "string", "description": "What went wrong, for people"},
        "report": _ref("CheckReport")}},
    "Health": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "down": {"type": "object", "additionalProperties": {"type": "string"},
                 "description": "Background parts that are down, with the cause (503)"},
        "node_id": {"type": "string"},
        "organization": {"type": "string"}, "version": {"type": "string"},
        "protocol": {"type": "string"}, "http_url": {"type": "string"},
        "peer_multiaddrs": {"type": "array", "items": {"type": "string"}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
        "peer_layer": {"type": "object"}, "open_reads": {"type": "boolean"},
        "spec_cache": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "Full specs fetched for learnwares known by summary "
                                      "(specs, bytes, hits, misses, evicted)"},
        "catalog_index": {"type": "object", "description": (
            "The persisted index of the learnwares known by summary: entries in the one "
            "last written, offers changed since, bytes of the files mapped now, whether a "
            "background rewrite runs"), "properties": {
                "entries": {"type": "integer"}, "changes_since": {"type": "integer"},
                "mapped_bytes": {"type": "integer"}, "rewriting": {"type": "boolean"}}},
        "replication": {"type": "object", "description": (
            "Which peers' learnwares this node keeps ([replication], narrowed to its "
            "interests, or with none to the most common tags, when over its disk budget "
            "max_disk_mb); routed search reaches the others. disk_bytes: its database "
            "and write-ahead log, index and scratch points (not its own packages). "
            "taking_new false: over the budget with nothing left to narrow to, "
            "the node takes no new peers' learnwares (note says why)"), "properties": {
                "data_types": {"type": "array", "items": {"type": "string"}},
                "scenarios": {"type": "array", "items": {"type": "string"}},
                "keeps": {"type": "string"},
                "configured": {"type": "object", "properties": {
                    "data_types": {"type": "array", "items": {"type": "string"}},
                    "scenarios": {"type": "array", "items": {"type": "string"}}}},
                "max_disk_mb": {"type": "integer"},
                "disk_bytes": {"type": "integer", "description": (
                    "Bytes of the database (pages in use and its log) and the persisted "
                    "index")},
                "taking_new": {"type": "boolean"}, "note": {"type": "string"}}},
        "uptime_seconds": {"type": "number"}}},
    "Summary": {"type": "object", "properties": {
        "id": {"type": "string"}, "owner": {"type": "string"},
        "organization": {"type": "string"}, "name": {"type": "string"},
        "data_type": {"type": "string", "nullable": True},
        "task_type": {"type": "string", "nullable": True},
        "library": {"type": "string", "nullable": True},
        "license": {"type": "string", "nullable": True},
        "scenarios": {"type": "array", "items": {"type": "string"}},
        "size": {"type": "integer"}, "sequence": {"type": "integer"}}},
    "Page": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("Summary")},
        "next_cursor": {"type": "string", "nullable": True,
                        "description": "Pass as ?cursor= for the next page; null at the end"}}},
    "CheckReport": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["usable", "nonusable", "invalid"]},
        "reason": {"type": "string"}, "learnware_id": {"type": "string", "nullable": True},
        "checks": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "status": {"type": "string"},
            "reason": {"type": "string"}, "seconds": {"type": "number"}}}},
        "privacy_report": {"allOf": [_ref("PrivacyReport")], "nullable": True,
                           "description": "The package's [privacy_report] as its owner "
                                          "measured it (shown, not checked)"}}},
    "PrivacyReport": {"type": "object", "description": "What a spec reveals of its rows, "
                      "measured on its owner's machine (engine.privacy.report)", "properties": {
        "mechanism": {"type": "string"}, "min_rows_per_point": {"type": "integer"},
        "points": {"type": "integer"},
        "rows": {"type": "integer", "description": "rounded to its leading digit in a "
                 "package; exact in the owner's own view"},
        "nearest_row_ratio": {"type": "number", "description": "closest point to any row "
                              "over the rows' median nearest-neighbour spacing"},
        "fewest_rows_per_point": {"type": "integer", "nullable": True},
        "median_rows_per_point": {"type": "number", "nullable": True},
        "auc_nearest_point": {"type": "number", "nullable": True},
        "auc_kernel_density": {"type": "number", "nullable": True}}},
    "Hosted": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["active", "withdrawn"]},
        "size": {"type": "integer"}, "sequence": {"type": "integer"},
        "published_at": {"type": "integer", "description": "ms since the epoch"},
        "withdrawn_at": {"type": "integer", "nullable": True},
        "report": _ref("CheckReport")}},
    "Details": {"type": "object", "properties": {
        "id": {"type": "string"}, "semantic": _ref("SemanticSpec"),
        "offers": {"type": "array", "items": {"allOf": [_ref("Summary"), {
            "type": "object", "properties": {
                "package_urls": {"type": "array", "items": {"type": "string"}},
                "received_at": {"type": "integer", "description": "ms since the epoch "
                                "when this node received this owner's announcement "
                                "(fetches try the earliest first)"},
                "envelope": {"type": "string", "format": "byte",
                             "description": "The owner's signed announcement (wire "
                                            "format, base64)"}}}]}},
        "package_url": {"type": "string", "nullable": True},
        "hosted": {"allOf": [_ref("Hosted")], "nullable": True}}},
    "SemanticSpec": {"type": "object", "description": "engine.specification.SemanticSpec "
                     "to_dict() form; every field optional in a search",
                     "additionalProperties": False, "properties": {
                         "format": {"type": "integer"},
                         "data_type": {"type": "string", "enum": [m.value for m in DataType]},
                         "task_type": {"type": "string", "enum": [m.value for m in TaskType]},
                         "library": {"type": "string", "enum": [m.value for m in Library]},
                         "scenarios": {"type": "array", "items": {"type": "string"}},
                         "license": {"type": "string", "enum": [m.value for m in License]},
                         "name": {"type": "string"},
                         "description": {"type": "string"}, "input": {"type": "object"},
                         "output": {"type": "object"}}},
    "StatisticalSpec": {"type": "object", "description": "An RKME's to_dict() form: K "
                        "weighted points (never raw rows; see privacy)", "required": [
                            "type", "format", "space", "gamma", "n_samples", "points",
                            "weights", "params"], "properties": {
        "type": {"type": "string", "enum": ["rkme_table", "rkme_image", "rkme_text"]},
        "format": {"type": "integer"}, "space": {"type": "string"},
        "gamma": {"type": "number"}, "n_samples": {"type": "integer"},
        "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "weights": {"type": "array", "items": {"type": "number"}},
        "params": {"type": "object"},
        "privacy": {"type": "object", "description": "how the points were made private "
                    "(signed with the spec): mechanism, min_rows_per_point, epsilon, delta, "
                    "library, version; absent on specs written before it existed",
                    "required": ["mechanism", "min_rows_per_point", "epsilon", "delta",
                                 "library", "version"], "properties": {
                        "mechanism": {"type": "string",
                                      "enum": ["none", "group-means", "gaussian-rff"]},
                        "min_rows_per_point": {"type": "integer", "minimum": 1},
                        "epsilon": {"type": ["number", "null"]},
                        "delta": {"type": ["number", "null"]},
                        "library": {"type": "string"}, "version": {"type": "string"}}}}},
    "Specs": {"type": "object", "properties": {
        "id": {"type": "string"}, "semantic": _ref("SemanticSpec"),
        "statistical": {"type": "array", "items": _ref("StatisticalSpec")}}},
    "Published": {"allOf": [_ref("Hosted"), {"type": "object", "properties": {
        "id": {"type": "string"}, "created": {"type": "boolean"},
        "package_url": {"type": "string"}}}]},
    "Withdrawn": {"allOf": [_ref("Hosted"), {"type": "object", "properties": {
        "id": {"type": "string"}}}]},
    "Place": {"type": "object", "properties": {
        "id": {"type": "string"}, "owner": {"type": "string"},
        "organization": {"type": "string"}, "name": {"type": "string"},
        "package_url": {"type": "string"}, "size": {"type": "integer"},
        "local": {"type": "boolean", "description": "hosted by this node"}}},
    "Hit": {"allOf": [_ref("Place"), {"type": "object", "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "mmd2": {"type": "number", "nullable": True},
        "locations": {"type": "array", "items": {"type": "object"}},
        "heterogeneous": {"type": "boolean", "description": "the learnware takes other "
                          "columns than the requirement's; `mapping` says which feed which"},
        "mapping": {"allOf": [_ref("ColumnMapping")], "nullable": True},
        "approximate": {"type": "boolean", "description": "score and mmd2 are estimates "
                        "from the learnware's sketch: this node knows it by summary and "
                        "could not fetch its full spec in time (a note says so)"}}}]},
    "ColumnMapping": {"type": "object", "description": "Which of the user's columns feed "
                      "which of a learnware's (engine.hetero.ColumnMapping)", "properties": {
        "user_columns": {"type": "array", "items": {"type": "string"}},
        "learnware_columns": {"type": "array", "items": {"type": "string"}},
        "pairs": {"type": "array", "items": {"type": "object", "properties": {
            "user": {"type": "integer"}, "learnware": {"type": "integer"},
            "similarity": {"type": "number", "description": "cosine of the two "
                           "columns' description embeddings"}}}},
        "missing": {"type": "array", "items": {"type": "integer"}, "description":
                    "learnware columns no user column feeds (reuse fills them from the "
                    "learnware's spec)"},
        "unused": {"type": "array", "items": {"type": "integer"}},
        "coverage": {"type": "number", "description": "share of the learnware's columns "
                     "fed by the user's"},
        "lines": {"type": "array", "items": {"type": "string"}, "description": "one line "
                  "per learnware column, for people"}}},
    "SearchAnswer": {"type": "object", "properties": {
        "single": {"type": "array", "items": _ref("Hit")},
        "mixture": {"type": "object", "nullable": True, "properties": {
            "ids": {"type": "array", "items": {"type": "string"}},
            "weights": {"type": "array", "items": {"type": "number"}},
            "mmd2": {"type": "number"}, "score": {"type": "number"},
            "members": {"type": "array", "items": _ref("Place")}}},
        "n_candidates": {"type": "integer"}, "exact": {"type": "boolean"},
        "partial": {"type": "boolean", "description": "some peers missed the deadline "
                    "(named in missed) or hits were cut to fit a message"},
        "missed": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "peers": {"type": "object", "description": "peers the search was forwarded to and "
                  "those that answered in time", "properties": {
                      "asked": {"type": "array", "items": {"type": "string"}},
                      "answered": {"type": "array", "items": {"type": "string"}}}}}},
    "Whoami": {"type": "object", "description": "The token was accepted: whose node it "
               "opens", "properties": {
                   "token": {"type": "string", "enum": ["accepted"]},
                   "node_id": {"type": "string"}, "organization": {"type": "string"},
                   "can": {"type": "array", "items": {"type": "string"},
                           "description": "what the token allows beyond reading"}}},
    "Peers": {"type": "object", "properties": {"peers": {"type": "array", "items": {
        "type": "object", "properties": {
            "node_id": {"type": "string"}, "connected": {"type": "boolean"},
            "organization": {"type": "string"}, "http_url": {"type": "string"},
            "multiaddrs": {"type": "array", "items": {"type": "string"}},
            "last_seen": {"type": "number", "nullable": True},
            "records_accepted": {"type": "integer", "description": "signed records from "
                                 "this peer admitted (gossip, sync, search answers)"},
            "records_rejected": {"type": "integer", "description": "signed records from "
                                 "this peer refused (see peer_layer counters in /v1/health)"},
        }}}}},
}

def _search_request(max_k: int, default_k: int, max_mixture: int) -> dict[str, Any]:
    """The search body's schema with this node's ``[search]`` limits."""
    return {"type": "object", "description": "A requirement: a partial semantic spec and/or "
            "the RKME of the user's data (built on the user's machine); at least one",
            "additionalProperties": False,
            "anyOf": [{"required": ["semantic"]}, {"required": ["statistical"]}],
            "properties": {
                "semantic": _ref("SemanticSpec"), "statistical": _ref("StatisticalSpec"),
                "k": {"type": "integer", "minimum": 1, "maximum": max_k,
                      "default": default_k},
                "max_mixture": {"type": "integer", "minimum": 1, "maximum": max_mixture,
                                "default": max_mixture},
                "deadline_ms": {"type": "integer", "minimum": 1, "maximum": MAX_DEADLINE_MS,
                                "description": "time budget of routing to peers (default: "
                                               "[p2p] search_deadline_ms)"}}}


_PACKAGE_HEADERS = {
    "Content-Length": {"schema": {"type": "integer"}},
    "X-Content-SHA256": {"description": "sha256 of the whole package (hex)",
                         "schema": {"type": "string"}},
    "ETag": {"description": "The quoted learnware id", "schema": {"type": "string"}},
    "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
}

_PACKAGE_RESPONSES = {
    "200": {"description": "The package", "headers": _PACKAGE_HEADERS,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "The requested byte range", "headers": {
        **_PACKAGE_HEADERS, "Content-Range": {"schema": {"type": "string"}}},
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
    **_errors(400, 401, 404, 410, 416),
}

def openapi_document(config: NodeConfig | None = None) -> dict[str, Any]:
    """The document, with the limits of `config` (default: the default settings)."""
    search = (config or NodeConfig()).search
    schemas = {**_SCHEMAS, "SearchRequest": _search_request(search.max_k, search.default_k,
                                                            search.max_mixture)}
    return {**_DOCUMENT, "components": {**_DOCUMENT["components"], "schemas": schemas}}


_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "lwnode", "version": "1",
             "description": "One organization's learnware dock: publish model packages, "
                            "search them by the specification of a task, fetch and reuse "
                            "them. Errors are JSON {code, message}."},
    "components": {"schemas": _SCHEMAS, "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "The token in api.token in the node's home"}}},
    "paths": {
        "/v1/health": {"get": {
            "summary": "Node id, organization, version, URLs, counts and limits",
            "operationId": "health", "responses": {
                "200": _json_body(_ref("Health"), "ok"),
                "503": _json_body(_ref("Health"), "degraded: a part named in 'down' is "
                                  "being restarted")}}},
        "/v1/learnwares": {
            "get": {"summary": "List announced learnwares (own and peers'), filtered, "
                               "paginated", "operationId": "listLearnwares",
                    "parameters": [
                        _query("owner", "Node id of the owner"),
                        _query("data_type", "table, image or text"),
                        _query("task_type", "classification, regression, ..."),
                        _query("library", "scikit_learn, pytorch, other"),
                        _query("license", "e.g. mit"),
                        _query("scenario", "Scenario tag (repeat for any of several)",
                               {"type": "array", "items": {"type": "string"}},
                               explode=True),
                        _query("name", "Case-insensitive part of the name"),
                        _query("limit", f"Page size (1..{MAX_LIST_LIMIT}, default "
                                        f"{DEFAULT_LIST_LIMIT})",
                               {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT,
                                "default": DEFAULT_LIST_LIMIT}),
                        _query("cursor", "next_cursor of the previous page")],
                    "responses": {"200": _json_body(_ref("Page"), "A page"),
                                  **_errors(400, 401)}},
            "post": {"summary": "Publish a package: checks run, 201 with the report (200 if "
                                "already hosted), or 422 naming the failed check",
                     "operationId": "publish", "security": _BEARER,
                     "requestBody": {"required": True, "content": {"application/zip": {
                         "schema": {"type": "string", "format": "binary"}}}},
                     "responses": {"201": _json_body(_ref("Published"), "Published"),
                                   "200": _json_body(_ref("Published"), "Already hosted"),
                                   **_errors(400, 401, 409, 413, 422, 503)}}},
        "/v1/learnwares/{id}": {
            "parameters": [_ID_PARAM],
            "get": {"summary": "One learnware: semantic spec, who offers it, check report",
                    "operationId": "getLearnware",
                    "responses": {"200": _json_body(_ref("Details"), "Found"),
                                  **_errors(400, 401, 404, 410)}},
            "delete": {"summary": "Withdraw an own learnware (a signed tombstone is kept)",
                       "operationId": "withdraw", "security": _BEARER,
                       "responses": {"200": _json_body(_ref("Withdrawn"), "Withdrawn"),
                                     **_errors(400, 401, 403, 404, 410)}}},
        "/v1/learnwares/{id}/spec": {
            "parameters": [_ID_PARAM, {
                "name": "max_points", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1},
                "description": "Send at most this many points of each statistical spec: "
                               "its heaviest, weights as they are (a picture's sample, "
                               "not a spec); the answer's spec then has points_total"}],
            "get": {"summary": "Semantic and statistical specifications",
                    "operationId": "getSpec",
                    "responses": {"200": _json_body(_ref("Specs"), "Found"),
                                  **_errors(400, 401, 404, 410)}}},
        "/v1/learnwares/{id}/package": {
            "parameters": [_ID_PARAM, {"name": "Range", "in": "header", "required": False,
                                       "schema": {"type": "string", "pattern": RANGE_PATTERN},
                                       "description": "One range: bytes=FIRST-LAST (LAST "
                                                      "not before FIRST), bytes=FIRST- or "
                                                      "bytes=-LENGTH; several ranges are "
                                                      "refused (400)"}],
            "get": {"summary": "Download the package of a learnware this node hosts",
                    "operationId": "downloadPackage", "responses": _PACKAGE_RESPONSES},
            "head": {"summary": "Size and checksum of the package, no body",
                     "operationId": "packageHead", "responses": _PACKAGE_RESPONSES}},
        "/v1/search": {"post": {
            "summary": "Rank learnwares for a requirement and find the best mixture",
            "operationId": "search",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("SearchRequest")}}},
            "responses": {"200": _json_body(_ref("SearchAnswer"), "Ranked hits and mixture"),
                          **_errors(400, 401, 413, 429)}}},
        "/v1/gammas": {"get": {
            "summary": "The kernel gammas of one comparison space's learnwares this node "
                       "knows, with how many carry each (public: each travels in a signed "
                       "spec): the market's convention a DP spec's public gamma follows",
            "operationId": "gammas",
            "parameters": [{"name": "space", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                            "description": "a spec's comparison space, e.g. table/d=17"}],
            "responses": {"200": _json_body({"type": "object", "properties": {
                "space": {"type": "string"}, "gammas": {"type": "array", "items": {
                    "type": "object", "properties": {"gamma": {"type": "number"},
                                                     "learnwares": {"type": "integer"}}}}}},
                "ok"), **_errors(400, 401)}}},
        "/v1/peers": {"get": {
            "summary": "Peers this node knows", "operationId": "peers",
            "responses": {"200": _json_body(_ref("Peers"), "ok"), **_errors(401)}}},
        "/v1/whoami": {"get": {
            "summary": "Check the token without changing anything: 200 with the node's "
                       "token, 401 without it or with another", "operationId": "whoami",
            "security": _BEARER,
            "responses": {"200": _json_body(_ref("Whoami"), "The token is this node's"),
                          **_errors(401)}}},
        "/v1/openapi.json": {"get": {
            "summary": "This document", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3 document"}}}},
        **WEB_PATHS,  # the web page's routes (lwnode.http.web.openapi)
    },
}

OPENAPI: dict[str, Any] = openapi_document()
"""The document of a node with the default settings."""
