"""The OpenAPI documents are as strict as the server, value by value.

For each field issue 14 named (``limit``, ``Range``, ids, the search bounds and
vocabularies, the web forms' ids, bounds, methods and upload types), every value
in a list of edge cases is checked both ways: the schema allows it exactly when the
server's own parser accepts it. The parsers are the ones the routes call; the
schema check is a small JSON-Schema subset (what the documents use).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.vocabulary import DataType, Library, License, TaskType
from lwnode.config import load_config
from lwnode.http import jsonio
from lwnode.http.app import parse_range
from lwnode.http.openapi import OPENAPI, openapi_document
from lwnode.http.web import routes, worker
from lwnode.http.web.forms import Form
from lwnode.userside import local

ONE = "sha256:" + "a" * 64
TWO = "sha256:" + "b" * 64


# -- a JSON-Schema subset ------------------------------------------------------------------------
def allows(schema: dict[str, Any], value: Any, doc: dict[str, Any] = OPENAPI) -> bool:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return allows(doc["components"]["schemas"][name], value, doc)
    if value is None:
        return bool(schema.get("nullable"))
    kind = schema.get("type")
    types = {"integer": int, "number": (int, float), "string": str, "object": dict,
             "array": list, "boolean": bool}
    if kind is not None and (not isinstance(value, types[kind])
                             or (kind in ("integer", "number") and isinstance(value, bool))):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "minimum" in schema and (value <= schema["minimum"] if schema.get("exclusiveMinimum")
                                else value < schema["minimum"]):
        return False
    if "maximum" in schema and (value >= schema["maximum"] if schema.get("exclusiveMaximum")
                                else value > schema["maximum"]):
        return False
    if "minLength" in schema and len(value) < schema["minLength"]:
        return False
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return False
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if any(k not in value for k in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and set(value) - set(props):
            return False
        if not all(allows(props[k], v, doc) for k, v in value.items() if k in props):
            return False
    if "anyOf" in schema and not any(allows(s, value, doc) for s in schema["anyOf"]):
        return False
    return all(allows(s, value, doc) for s in schema.get("allOf", []))


def accepts(parse, *args: Any) -> bool:
    try:
        parse(*args)
    except ValueError:  # the server's input errors (BadRequest, BadRange...) are ValueErrors
        return False
    return True


def _param(path: str, name: str, method: str | None = None) -> dict[str, Any]:
    item = OPENAPI["paths"][path]
    params = item.get("parameters", []) + (item[method].get("parameters", []) if method else [])
    return next(p["schema"] for p in params if p["name"] == name)


def _form_schema(path: str) -> dict[str, Any]:
    body = OPENAPI["paths"][path]["post"]["requestBody"]["content"]
    return body["multipart/form-data"]["schema"]


# -- the API -----------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [-1, 0, 1, 2, 50, 999, 1000, 1001, 10**6])
def test_limit(limit):
    schema = _param("/v1/learnwares", "limit", "get")
    assert allows(schema, limit) == accepts(jsonio.parse_filter, {"limit": str(limit)}, [])


@pytest.mark.parametrize("header", [
    "bytes=0-9", "bytes=5-", "bytes=-7", "bytes=0-0", f"bytes=5-{10**9}",
    "bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=-1,-2", "bytes=", "bytes=-", "lines=0-3",
    "bytes=a-b", "bytes 0-9", "bytes=0-9;", "bytes=--1",
])
def test_range(header):
    schema = _param("/v1/learnwares/{id}/package", "Range")
    assert allows(schema, header) == accepts(parse_range, header, 10**12)


def test_range_order_is_documented():
    # "bytes=9-3" (last before first) is refused; a pattern cannot compare numbers, so the
    # description says it
    assert not accepts(parse_range, "bytes=9-3", 100)
    description = OPENAPI["paths"]["/v1/learnwares/{id}/package"]["parameters"][1]["description"]
    assert "LAST not before FIRST" in description


@pytest.mark.parametrize("value", [ONE, ONE.upper(), "sha256:" + "a" * 63, ONE + "0",
                                   ONE.replace("sha256:", "sha1:"), ONE[7:], "",
                                   " " + ONE])
def test_ids(value):
    path_id = _param("/v1/learnwares/{id}", "id")
    fetch_id = OPENAPI["paths"]["/v1/web/fetch"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["id"]
    server = accepts(jsonio.learnware_id, value)
    assert allows(path_id, value) == allows(fetch_id, value) == server


SEARCH = {"semantic": {"data_type": "table"}}


@pytest.mark.parametrize("body", [
    SEARCH, {}, {"semantic": {}}, {"colour": 1, **SEARCH},
    *({**SEARCH, "k": k} for k in (0, 1, 5, 100, 101, "5", True)),
    *({**SEARCH, "max_mixture": m} for m in (0, 1, 3, 4)),
    *({**SEARCH, "deadline_ms": d} for d in (0, 1, 120_000, 120_001)),
    {"semantic": {"data_type": "video"}}, {"semantic": {"task_type": "dancing"}},
    {"semantic": {"task_type": "regression", "library": "pytorch", "license": "mit"}},
    {"semantic": {"library": "tensorflow"}}, {"semantic": {"license": "wtfpl"}},
    {"semantic": {"colour": "red"}},
])
def test_search_body(body):
    config = load_config(None, env={})
    doc = openapi_document(config)
    schema = doc["components"]["schemas"]["SearchRequest"]
    assert allows(schema, body, doc) == accepts(jsonio.parse_search, body, config)


def test_search_bounds_follow_the_nodes_settings():
    config = load_config(None, env={}, overrides={"search": {"max_k": 7, "max_mixture": 2}})
    schema = openapi_document(config)["components"]["schemas"]["SearchRequest"]["properties"]
    assert (schema["k"]["maximum"], schema["max_mixture"]["maximum"]) == (7, 2)
    assert not accepts(jsonio.parse_search, {**SEARCH, "k": 8}, config)


# -- the web page's routes -----------------------------------------------------------------------
def _form(tmp_path: Path, **fields: str) -> Form:
    return Form(tmp_path, fields=dict(fields))


@pytest.mark.parametrize("n_points", [0, 1, 100, 500, 501])
def test_n_points(tmp_path, n_points):
    schema = _form_schema("/v1/web/requirement")["properties"]["n_points"]
    server = accepts(routes._bounded_int, _form(tmp_path, n_points=str(n_points)), "n_points",
                     100, 1, routes.MAX_POINTS)
    assert allows(schema, n_points) == server


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11])
def test_rerank_count(tmp_path, n):
    schema = _form_schema("/v1/web/rerank")["properties"]["rerank"]
    server = accepts(routes._bounded_int, _form(tmp_path, rerank=str(n)), "rerank",
                     routes.DEFAULT_RERANK, 1, routes.MAX_RERANK)
    assert allows(schema, n) == server
    assert schema["default"] == routes.DEFAULT_RERANK


DP = {"epsilon": 1.0, "delta": 1e-5, "gamma": 0.5, "bounds": "-5,5"}


@pytest.mark.parametrize(("field", "value"), [
    *(("epsilon", v) for v in (-1, 0, 1e-9, 1, 8.5)),  # a JSON number is finite
    *(("delta", v) for v in (0, 1e-12, 1e-5, 0.5, 1, 2)),
    *(("gamma", v) for v in (-0.5, 0, 2.0**-6, 1, 1e6)),
    *(("bounds", v) for v in ("-5,5", "0,1", " -1e-3 , 2.5E2 ", ".5,1.", "0, 1", "-5", "5,",
                              "a,b", "0;1", "1,2,3", "inf,1", "nan,1", "")),
])
@pytest.mark.parametrize("path", ["/v1/web/requirement", "/v1/web/pack"])
def test_dp_fields(tmp_path, path, field, value):
    schema = _form_schema(path)["properties"][field]
    form = _form(tmp_path, **{k: str(v) for k, v in {**DP, field: value}.items()})
    assert allows(schema, value) == accepts(routes._dp, form)


def test_dp_bounds_order_is_documented(tmp_path):
    # "5,-5" is refused; a pattern cannot compare numbers, so the description says it
    assert not accepts(routes._dp, _form(tmp_path, **{**{k: str(v) for k, v in DP.items()},
                                                      "bounds": "5,-5"}))
    assert "LOW below HIGH" in _form_schema("/v1/web/pack")["properties"]["bounds"][
        "description"]


@pytest.mark.parametrize("ids", [
    ONE, f"{ONE},{TWO}", f"{ONE}, {TWO}", f'["{ONE}"]', f'["{ONE}", "{TWO}"]',
    ",".join([ONE] * 10), ",".join(f"sha256:{i:064x}" for i in range(11)),
    "", "nope", f"{ONE},nope", f'["{ONE}", 3]', "[]", ONE.upper(),
])
def test_reuse_ids(tmp_path, ids):
    schema = _form_schema("/v1/web/reuse")["properties"]["ids"]
    assert allows(schema, ids) == accepts(routes._ids, _form(tmp_path, ids=ids))


def test_methods_vocabularies_and_upload_types_are_the_servers():
    reuse = _form_schema("/v1/web/reuse")["properties"]
    assert reuse["method"]["enum"] == list(local.REUSE_METHODS)
    assert reuse["data"]["x-file-suffixes"] == list(routes.DATA_SUFFIXES)
    assert reuse["semantic"]["x-file-suffixes"] == list(routes.SEMANTIC_FILE[0])
    assert _form_schema("/v1/web/requirement")["properties"]["data"]["x-file-suffixes"] == \
        list(routes.DATA_SUFFIXES)
    rerank = _form_schema("/v1/web/rerank")["properties"]
    assert rerank["data"]["x-file-suffixes"] == list(routes.DATA_SUFFIXES)
    assert rerank["labels"]["x-file-suffixes"] == list(routes.LABEL_FILE[0])
    assert reuse["labels"]["x-file-suffixes"] == list(routes.LABEL_FILE[0])
    pack = _form_schema("/v1/web/pack")["properties"]
    assert pack["model"]["x-file-suffixes"] == list(worker.MODEL_SUFFIXES)
    assert pack["data"]["x-file-suffixes"] == list(routes.DATA_SUFFIXES)
    for field, vocab in (("task_type", TaskType), ("data_type", DataType),
                         ("library", Library), ("license", License)):
        assert pack[field]["enum"] == [m.value for m in vocab]
    assert not allows(pack["name"], "   ") and allows(pack["name"], "a model")
