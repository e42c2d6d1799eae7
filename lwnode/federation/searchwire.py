"""The node's search types <-> the wire's (`SearchRequest` / `SearchResponse`).

Routed search (`lwnode.federation.routing`) speaks protocol messages; the service speaks
`SearchQuery` / `SearchAnswer` with `Hit`s that say where each learnware lives.
The conversions sit here, in one place (Flower's ``serde``), so federation code
and the algorithm never build one from the other by hand.

A local hit becomes a `SearchHit` carrying its owner's signed offer (announcement
or summary), byte for byte as signed, so whoever receives it can verify it
(`verify_hit`) without trusting the node that relayed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import msgpack

from engine.errors import SearchError
from engine.search import Mixture
from engine.search import Requirement as EngineRequirement
from lwnode.node.searchtypes import Hit, SearchAnswer, SearchQuery
from lwnode.node.store.base import ANNOUNCEMENT, RecordRow, Store
from protocol import limits
from protocol.codec import decode_envelope
from protocol.messages import (
    MixtureHit,
    Requirement,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SpecAnnouncement,
    new_query_id,
)


def request_of(query: SearchQuery, *, ttl: int, deadline_ms: int) -> SearchRequest:
    """The request a user's node sends (a fresh query id, nobody visited yet).

    It asks peers for ranked singles only (``max_mixture = 0``): the asking node
    computes the mixture itself, once, over every owner's hits, so no peer spends
    a QP on a mixture that would be replaced.
    """
    requirement = Requirement(query.requirement.semantic, query.requirement.spec)
    return SearchRequest(query_id=new_query_id(), requirement=requirement, k=query.k,
                         max_mixture=0, ttl=ttl, visited=(),
                         deadline_ms=min(deadline_ms, limits.MAX_DEADLINE_MS))


def query_of(request: SearchRequest, *, max_k: int, max_mixture: int,
             max_points: int | None = None) -> SearchQuery:
    """What a peer's request asks of this node's catalog (bounded by this node's config).

    Raises `SearchError` for a requirement of more than `max_points` points."""
    spec = request.requirement.spec
    if max_points is not None and spec is not None and len(spec.points_) > max_points:
        raise SearchError(f"requirement: a statistical spec of {len(spec.points_)} points; "
                          f"this node answers at most {max_points} ([budget] "
                          "requirement_points)")
    requirement = EngineRequirement(request.requirement.semantic, spec)
    return SearchQuery(requirement, min(request.k, max_k),
                       max(1, min(request.max_mixture, max_mixture)),
                       deadline_ms=request.deadline_ms)


def _unit(x: float) -> float:
    return min(1.0, max(0.0, float(x))) if math.isfinite(x) else 0.0


def mixture_hit(mixture: Mixture | None) -> MixtureHit | None:
    """The engine's mixture on the wire (weights clipped to [0, 1], summing to 1)."""
    if mixture is None or not mixture.ids:
        return None
    weights = [max(0.0, float(w)) if math.isfinite(w) else 0.0 for w in mixture.weights]
    total = sum(weights)
    if total <= 0:
        return None
    weights = [w / total for w in weights]
    weights[-1] = max(0.0, 1.0 - sum(weights[:-1]))
    mmd2 = float(mixture.mmd2)
    return MixtureHit(tuple(mixture.ids), tuple(weights),
                      max(0.0, mmd2) if math.isfinite(mmd2) else 0.0, _unit(mixture.score))


def engine_mixture(mixture: MixtureHit | None) -> Mixture | None:
    if mixture is None:
        return None
    return Mixture(tuple(mixture.ids), tuple(mixture.weights), mixture.mmd2, mixture.score)


def local_response(store: Store, answer: SearchAnswer, query_id: str, node_id: str,
                   own: Callable[[RecordRow], bytes] | None = None, *,
                   estimates: bool = False) -> SearchResponse:
    """This node's answer as a `SearchResponse` (runs in the store thread).

    Each hit carries the stored, signed offer of its owner; a hit whose offer is
    gone (withdrawn meanwhile) is left out, and so is a mixture that loses a member.
    `own` is given for an asker that reads summaries (schema 1.3): this node's own
    learnwares then travel as their signed summaries (`own(row)`), not as full
    announcements (an older asker gets `for_older_asker` of the merged answer).
    Hits ranked by a sketch estimate (`Hit.approximate`) go only into this node's own
    merge (`estimates`): the wire has no mark for them, so a peer is not sent them.
    """
    hits: list[SearchHit] = []
    seen: set[str] = set()
    for hit in (*answer.hits, *answer.mixture_hits):
        if hit.learnware_id in seen or (hit.approximate and not estimates):
            continue
        wire = wire_hit(store, hit, node_id, own)
        if wire is not None:
            hits.append(wire)
            seen.add(hit.learnware_id)
    mixture = mixture_hit(answer.mixture)
    if mixture is not None and not set(mixture.ids) <= seen:
        mixture = None
    if len(hits) > limits.MAX_HITS:
        hits = hits[:limits.MAX_HITS]
        if mixture is not None and not set(mixture.ids) <= {h.learnware_id for h in hits}:
            mixture = None
    return SearchResponse(query_id=query_id, responder=node_id, hits=tuple(hits),
                          mixture=mixture)


def wire_hit(store: Store, hit: Hit, node_id: str = "",
             own: Callable[[RecordRow], bytes] | None = None) -> SearchHit | None:
    row = store.get_record(hit.owner, hit.learnware_id)
    if row is None or row.kind != ANNOUNCEMENT:
        return None
    envelope = row.envelope
    if own is not None and row.owner == node_id:
        envelope = own(row)
    mmd2 = None if hit.mmd2 is None else max(0.0, float(hit.mmd2))
    return SearchHit(learnware_id=hit.learnware_id, owner=hit.owner, mmd2=mmd2,
                     score=_unit(hit.score), package_url=hit.package_url,
                     size=row.package_size, announcement=decode_envelope(envelope),
                     mapping=hit.mapping)


def for_older_asker(response: SearchResponse) -> SearchResponse:
    """The answer for an asker of schema 1.2: hits that carry a summary are left out
    (it cannot verify one), and the mixture if it loses a member."""
    hits = tuple(h for h in response.hits if _payload_type(h.announcement.payload)
                 == SpecAnnouncement.TYPE)
    if len(hits) == len(response.hits):
        return response
    ids = {h.learnware_id for h in hits}
    mixture = response.mixture
    if mixture is not None and not set(mixture.ids) <= ids:
        mixture = None
    return replace(response, hits=hits, mixture=mixture)


def _payload_type(payload: bytes) -> str:
    """The message type a signed payload names, read without decoding the body."""
    try:
        value = msgpack.unpackb(payload, raw=False, max_bin_len=limits.MAX_BINARY_BYTES,
                                max_str_len=limits.MAX_STRING_BYTES)
        return str(value["type"])
    except Exception:  # unreadable: not an announcement an older node could verify
        return ""


def answer_of(response: SearchResponse, local: SearchAnswer, hits: Sequence[Hit], *, k: int,
              asked: Sequence[str], answered: Sequence[str]) -> SearchAnswer:
    """The merged answer for the API.

    `hits` are the merged wire hits placed as `Hit`s (where each learnware lives);
    a wire hit this node could not place is dropped, and the mixture with it if it
    is a member. Singles are the top `k`; the wire answer also carries the
    mixture's members beyond them.
    """
    by_id = {h.learnware_id: h for h in hits}
    ranked = [by_id[h.learnware_id] for h in response.hits if h.learnware_id in by_id]
    mixture = engine_mixture(response.mixture)
    members: tuple[Hit, ...] = ()
    if mixture is not None:
        if all(i in by_id for i in mixture.ids):
            members = tuple(by_id[i] for i in mixture.ids)
        else:
            mixture = None
    return SearchAnswer(tuple(ranked[:k]), mixture, local.n_candidates, local.exact,
                        partial=response.partial, missed=tuple(response.missed),
                        notes=local.notes, mixture_hits=members, asked=tuple(asked),
                        answered=tuple(answered))
