"""A search's answer sent back by the page, read as hostile input.

``POST /v1/web/rerank`` re-ranks the answer the page is showing (the one the user
saw, numbered as they saw it) rather than searching again, which across peers could
come back in another order. So the page sends that answer back; it reaches
`lwnode.userside.rerank` only as `read_answer` returns it: the fields the re-rank
reads, each checked (ids, finite MMD², mixture weights), lengths bounded by the
node's own search limits; anything else in it is dropped. A wrong field is a
`BadRequest` naming it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from lwnode.errors import BadRequest
from protocol.content import check_content_id
from protocol.errors import ProtocolError

MAX_NAME_CHARS = 200


def read_answer(text: str, *, max_k: int, max_mixture: int) -> dict[str, Any]:
    """The answer in `text` (``POST /v1/search``'s JSON, or just its ``single`` hits'
    ``id``, ``name``, ``mmd2``, ``mapping`` and its ``mixture``'s ``ids``, ``weights``,
    ``mmd2``, ``members``), as `lwnode.userside.rerank.rerank` reads it."""
    if not text:
        raise BadRequest("answer: send the search's answer (POST /v1/search's JSON) to "
                         "re-rank")
    try:
        raw = json.loads(text)
    except ValueError:
        raise BadRequest("answer: not valid JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("single"), list):
        raise BadRequest('answer: expected {"single": [hits...], "mixture": ...}')
    hits = raw["single"]
    if not 1 <= len(hits) <= max_k:
        raise BadRequest(f"answer.single: expected 1..{max_k} hits, got {len(hits)}")
    single = [_hit(hit, f"answer.single[{i}]") for i, hit in enumerate(hits)]
    if len({hit["id"] for hit in single}) < len(single):
        raise BadRequest("answer.single: an id appears twice")
    mixture = raw.get("mixture")
    return {"single": single,
            "mixture": None if mixture is None else _mixture(mixture, max_mixture)}


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected an object")
    return value


def _id(value: Any, where: str) -> str:
    try:
        return check_content_id(value, where)
    except ProtocolError as exc:
        raise BadRequest(str(exc)) from None


def _name(value: Any, where: str, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{where}: expected a string")
    return value[:MAX_NAME_CHARS]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise BadRequest(f"{where}: expected a finite number >= 0, got {value!r}"[:200])
    return float(value)


def _hit(value: Any, where: str) -> dict[str, Any]:
    hit = _object(value, where)
    lid = _id(hit.get("id"), f"{where}.id")
    return {"id": lid, "name": _name(hit.get("name"), f"{where}.name", lid[7:19]),
            "mmd2": None if hit.get("mmd2") is None else _number(hit["mmd2"], f"{where}.mmd2"),
            # rerank reads only whether a hit takes other columns than the user's
            "mapping": bool(hit.get("mapping") or hit.get("heterogeneous")) or None}


def _mixture(value: Any, max_mixture: int) -> dict[str, Any]:
    mix = _object(value, "answer.mixture")
    ids, weights = mix.get("ids"), mix.get("weights")
    if not isinstance(ids, list) or not 1 <= len(ids) <= max_mixture:
        raise BadRequest(f"answer.mixture.ids: expected a list of 1..{max_mixture} ids")
    ids = [_id(lid, f"answer.mixture.ids[{i}]") for i, lid in enumerate(ids)]
    if len(set(ids)) < len(ids):
        raise BadRequest("answer.mixture.ids: an id appears twice")
    if not isinstance(weights, list) or len(weights) != len(ids):
        raise BadRequest(f"answer.mixture.weights: expected {len(ids)} weights, one per id")
    weights = [_number(w, f"answer.mixture.weights[{i}]") for i, w in enumerate(weights)]
    if not math.isclose(sum(weights), 1.0, abs_tol=1e-3):
        raise BadRequest(f"answer.mixture.weights: they sum to {sum(weights):g}, not 1")
    members = mix.get("members")
    if members is None:
        members = [{} for _ in ids]
    if not isinstance(members, list) or len(members) != len(ids):
        raise BadRequest(f"answer.mixture.members: expected {len(ids)} members, one per id")
    names = [_name(_object(m, f"answer.mixture.members[{i}]").get("name"),
                   f"answer.mixture.members[{i}].name", lid[7:19])
             for i, (m, lid) in enumerate(zip(members, ids, strict=True))]
    return {"ids": ids, "weights": weights,
            "mmd2": _number(mix.get("mmd2"), "answer.mixture.mmd2"),
            "members": [{"id": lid, "name": name} for lid, name in zip(ids, names, strict=True)]}
