"""The ``/v1/web`` routes in OpenAPI 3 form, merged into `lwnode.http.openapi.OPENAPI`.

Kept beside the routes so the page's API is documented where it is written; the
node's test of the OpenAPI document checks that the two agree, and that the
document is as strict as the routes (ids, bounds, methods, vocabularies; a file
field's allowed suffixes are in ``x-file-suffixes``, as JSON Schema cannot
constrain a multipart file name).
"""

from __future__ import annotations

from typing import Any

from engine.specification.rkme import MAX_EPSILON
from engine.vocabulary import DataType, Library, License, TaskType
from lwnode.userside.rerank import DEFAULT_RERANK, MAX_RERANK

ID_PATTERN = "^sha256:[0-9a-f]{64}$"
_ONE_ID = "sha256:[0-9a-f]{64}"
IDS_PATTERN = (rf'^(\[ *"{_ONE_ID}"( *, *"{_ONE_ID}"){{0,9}} *\]'
               rf"|{_ONE_ID}( *, *{_ONE_ID}){{0,9}})$")
"""1 to 10 ids: a JSON list or comma-separated."""
REUSE_METHODS = ["job-selector", "average", "ensemble-pruning", "feature-augment", "hetero"]
MAX_POINTS = 500
DATA_SUFFIXES = [".csv", ".tsv", ".npy"]
LABEL_SUFFIXES = [".csv", ".tsv", ".npy"]
MODEL_SUFFIXES = [".skops", ".pt", ".pth", ".ts"]
SEMANTIC_SUFFIXES = [".toml"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_WORDS = {400: "Malformed input (the message names the field, file, line and column)",
          401: "Missing or wrong bearer token", 404: "Unknown id", 410: "Withdrawn",
          409: "The node already offers a learnware of this name (name_taken)",
          413: "An upload over its size cap", 422: "A model or package failed (the message "
          "says how; a rejected package comes with its check report)",
          429: "Over a rate or concurrency limit for clients without the token (Retry-After "
          "says when to retry)",
          502: "The package could not be fetched or did not verify",
          504: "The job did not finish in time and was stopped"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": _WORDS[s], "content": {"application/json": {
        "schema": _ERROR}}} for s in statuses}


def _ok(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {
        "schema": {"type": "object", "properties": properties}}}}}


def _form(description: str, properties: dict[str, Any], required: list[str]
          ) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": required,
                                           "properties": properties}}}}


_FILE = {"type": "string", "format": "binary"}


def _file(suffixes: list[str], description: str = "") -> dict[str, Any]:
    return {**_FILE, "x-file-suffixes": suffixes,
            "description": f"{description} ({', '.join(suffixes)})".strip()}


def _enum(vocab: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [m.value for m in vocab]}


_STR = {"type": "string"}
_FLOAT = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"
"""A finite number as `float` reads it (without its rarer spellings: 1_000, inf, nan)."""
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_SEMANTIC = {**_FILE, "x-file-suffixes": SEMANTIC_SUFFIXES,
             "description": "Optional .toml describing the data's columns by "
                                     "header name ([input.columns] name = \"description\"), "
                                     "as lwnode's --semantic: lets learnwares over other "
                                     "columns be found and reused; a range = [LOW, HIGH] "
                                     "beside a column bounds a DP spec's points"}

_DP = {
    "epsilon": {**_NUM, "minimum": 0, "exclusiveMinimum": True, "maximum": MAX_EPSILON,
                "description": "Opt in to a differentially private spec at this budget "
                               "(lwnode's --epsilon); left out: the private default (each "
                               "point the mean of >= 10 rows). Needs bounds (gamma is "
                               "chosen by a public rule when left out)"},
    "delta": {**_NUM, "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
              "exclusiveMaximum": True, "default": 1e-5,
              "description": "delta of the DP spec (--delta); only with epsilon"},
    "gamma": {**_NUM, "minimum": 0, "exclusiveMinimum": True,
              "description": "Public kernel gamma of the DP spec, declared, not read from "
                             "the rows (--gamma); left out with epsilon: the market's "
                             "convention or the data-free rule (said in dp_choices); "
                             "refused without epsilon"},
    "bounds": {**_STR, "pattern": rf"^(\s*{_FLOAT}\s*,\s*{_FLOAT}\s*|\s*)$",
               "description": "LOW,HIGH: public range of every column for the DP spec's "
                              "synthetic points, LOW below HIGH (--bounds); required with "
                              "epsilon for tables, as the answer's 400 says, unless the "
                              "requirement's semantic TOML declares range = [LOW, HIGH] for "
                              "every column (then each column gets its own; an explicit "
                              "bounds wins); empty: text embeddings get -1,1; refused "
                              "without epsilon"},
}
"""The opt-in differential privacy fields of requirement and pack (`lwnode.userside.
privacy.parse_dp`, shared with the command line)."""
_DP_CHOICES = {"type": "array", "items": _STR, "description": "What chose the DP spec's "
               "gamma (and bounds) that were left out: the public rule and its value; empty "
               "when everything was declared or the spec is not DP"}
_PRIVACY_NOTE = {**_STR, "description": "What the spec reveals of the rows, from its "
                 "signed privacy record (differentially private at epsilon, delta; or "
                 "each point the mean of >= m rows)"}

_PACKED = {"allOf": [{"$ref": "#/components/schemas/Published"}, {
    "type": "object", "properties": {"packed": {
        "type": "object", "description": "What was packed (the exact row count is the "
        "developer's own view; the spec carries it rounded)", "properties": {
            "size": _INT, "name": _STR, "rows": _INT, "points": _INT,
            "privacy_report": {"$ref": "#/components/schemas/PrivacyReport"},
            "privacy": {"type": "object", "description": "the spec's signed privacy record"},
            "privacy_note": _PRIVACY_NOTE, "dp_choices": _DP_CHOICES}}}}]}

WEB_PATHS: dict[str, Any] = {
    "/v1/web/vocabulary": {"get": {
        "summary": "Choices and limits of the web page's forms", "operationId": "webVocabulary",
        "responses": {**_ok("Vocabularies, reuse methods, upload limits", {
            "data_type": {"type": "array"}, "task_type": {"type": "array"},
            "library": {"type": "array"}, "license": {"type": "array"},
            "scenarios": {"type": "array"}, "methods": {"type": "array"},
            "limits": {"type": "object"}}), **_errors(401)}}},
    "/v1/web/requirement": {"post": {
        "summary": "Fit the RKME of uploaded rows on this node (the rows are never sent on; "
                   "only the returned spec is used to search)",
        "operationId": "webRequirement",
        "requestBody": _form("The user's rows", {
            "data": _file(DATA_SUFFIXES, ".csv/.tsv (optional header) or .npy"),
            "semantic": _SEMANTIC,
            "n_points": {**_INT, "minimum": 1, "maximum": MAX_POINTS, "default": 100,
                         "description": "RKME points"}, **_DP}, ["data"]),
        "responses": {**_ok("The statistical spec and the columns, ready for POST /v1/search "
                            "(as statistical and semantic.input)", {
            "statistical": {"$ref": "#/components/schemas/StatisticalSpec"},
            "input": {"type": "object", "nullable": True, "description": "dimension and "
                      "features (the header's names, with the TOML's descriptions)"},
            "rows": _INT, "shape": {"type": "array"}, "columns": {"type": "array"},
            "points": _INT, "seconds": _NUM, "privacy_note": _PRIVACY_NOTE,
            "dp_choices": _DP_CHOICES,
            "privacy_report": {"$ref": "#/components/schemas/PrivacyReport"}}),
            **_errors(400, 401, 413, 429)}}},
    "/v1/web/fetch": {"post": {
        "summary": "Fetch a learnware's package into this node's page cache and verify it "
                   "(sha256 and the owner's signed announcement)",
        "operationId": "webFetch",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "properties": {"id": {
                **_STR, "pattern": ID_PATTERN}}}}}},
        "responses": {**_ok("Fetched and verified", {
            "id": _STR, "name": _STR, "owner": _STR, "size": _INT, "cached": {
                "type": "boolean"}, "verified": {"type": "boolean"}}),
            **_errors(400, 401, 404, 410, 413, 429, 502)}}},
    "/v1/web/reuse": {"post": {
        "summary": "Predict uploaded rows with fetched learnwares; with labels of the first "
                   "rows, score reuse against a model trained on those labels alone",
        "operationId": "webReuse",
        "requestBody": _form("Rows, optional labels, learnwares and method", {
            "data": _file(DATA_SUFFIXES),
            "labels": _file(LABEL_SUFFIXES, "One label per line for the first rows of data"),
            "ids": {**_STR, "pattern": IDS_PATTERN,
                    "description": "1 to 10 learnware ids: a JSON list or comma-separated"},
            "semantic": _SEMANTIC,
            "method": {"type": "string", "enum": REUSE_METHODS,
                       "description": "Left out: hetero when a learnware takes other "
                                      "columns; else, without labels, job-selector "
                                      "or average (whether the router is sure where "
                                      "the rows belong); with labels, the one that "
                                      "scores best out of fold"},
            "weights": {**_STR, "description": "Comma-separated mixture weights"}},
            ["data", "ids"]),
        "responses": {**_ok("Predictions and score", {
            "method": _STR, "ids": {"type": "array"}, "task": _STR, "n_rows": _INT,
            "n_labels": _INT, "predictions_csv": _STR,
            "notes": {"type": "array", "description": "What the method did instead of what "
                      "was asked, and why (e.g. one class in the labels)"},
            "mappings": {"type": "array", "description": "For reuse across feature spaces: "
                         "{id, pairs, coverage, lines} per learnware"}, "score": {
                "type": "object", "nullable": True, "properties": {
                    "metric": {"type": "string", "enum": ["accuracy", "rmse"]},
                    "reuse": {**_NUM, "nullable": True},
                    "user_only": {**_NUM, "nullable": True}, "n_labels": _INT,
                    "protocol": _STR, "notes": {"type": "array"}}}}),
            **_errors(400, 401, 404, 410, 413, 422, 429, 502, 504)}}},
    "/v1/web/rerank": {"post": {
        "summary": "Order a search's shortlist by labels of the uploaded rows' first rows, "
                   "as lwnode search --labels does: its packages fetched and verified here, "
                   "each single learnware and the mixture scored out of fold on the labels; "
                   "the MMD² order stands unless the labels separate two entries (a paired "
                   "test)",
        "operationId": "webRerank",
        "requestBody": _form("Rows, their labels and the search's answer", {
            "data": _file(DATA_SUFFIXES, "The rows the search was made with"),
            "labels": _file(LABEL_SUFFIXES, "One label per line for the first rows of data"),
            "semantic": _SEMANTIC,
            "answer": {**_STR, "description": "The search's answer as JSON (POST /v1/search's "
                       "answer, at most 20000 characters: of each single hit only id, name, "
                       "mmd2 and mapping or heterogeneous are read, of the mixture ids, "
                       "weights, mmd2 and members' names); at most max_k hits and "
                       "max_mixture members"},
            "rerank": {**_INT, "minimum": 1, "maximum": MAX_RERANK, "default": DEFAULT_RERANK,
                       "description": "How many single hits over the user's own columns to "
                                      "fetch and score (with the mixture's members), as "
                                      "--rerank"}},
            ["data", "labels", "answer"]),
        "responses": {**_ok("The shortlist in the labels' order (docs/reuse.md, "
                            "Label-aware search)", {
            "metric": {"type": "string", "enum": ["accuracy", "rmse"], "nullable": True},
            "n_labels": _INT, "n_folds": {**_INT, "description": "0: the labels could not "
                                          "rank anything (notes say why)"},
            "moved": {"type": "boolean", "description": "the labels changed the MMD² order"},
            "ranking": {"type": "array", "description": "{id ('mixture' for the mixture), "
                        "name, value (the metric on the labels), spread (over the folds), "
                        "mmd2, mmd2_rank, search_rank (place among the answer's single hits; "
                        "null for the mixture)}, the labels' first first"},
            "why": {**_STR, "nullable": True, "description": "Why the order stands or "
                    "changed"},
            "notes": {"type": "array", "description": "What was not re-ranked, and why"},
            "reuse": {"type": "object", "nullable": True, "description": "What the labels' "
                      "first stands for: {ids, weights} (the mixture's, or one id and null)"},
            "fetched": {"type": "array"}, "n_rows": _INT, "seconds": _NUM}),
            **_errors(400, 401, 404, 410, 413, 422, 429, 502, 504)}}},
    "/v1/web/pack": {"post": {
        "summary": "Pack a model file, its training data and semantic fields into a package "
                   "and publish it (as POST /v1/learnwares)",
        "operationId": "webPack", "security": [{"bearer": []}],
        "requestBody": _form("Model, data and semantic fields", {
            "model": _file(MODEL_SUFFIXES, ".skops or TorchScript"),
            "data": _file(DATA_SUFFIXES),
            "name": {**_STR, "pattern": "\\S"}, "description": _STR,
            "task_type": _enum(TaskType), "data_type": _enum(DataType),
            "library": _enum(Library), "license": _enum(License),
            "scenarios": {**_STR, "description": "Comma-separated"}, **_DP},
            ["model", "data", "name"]),
        "responses": {
            "201": {"description": "Published", "content": {"application/json": {
                "schema": _PACKED}}},
            "200": {"description": "Already hosted", "content": {"application/json": {
                "schema": _PACKED}}},
            **_errors(400, 401, 409, 413, 422, 504)}}},
}
