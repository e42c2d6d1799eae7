"""Deterministic sample messages for the protocol tests (and checks that they are valid).

Everything here is fixed: keys come from fixed seeds and specs are built from fixed
points (exact in float32), so encodings are byte-stable and usable as golden vectors.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from engine.hetero.mapping import ColumnMapping, ColumnPair
from engine.search.sketch import Sketch
from engine.specification import SemanticSpec, spec_from_dict
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import Feature, InputSpec, OutputSpec
from protocol.codec import encode_message, encode_spec, spec_id, to_wire
from protocol.content import content_id
from protocol.messages import (
    MESSAGE_TYPES,
    Digest,
    DigestEntry,
    ErrorCode,
    ErrorReply,
    Message,
    MixtureHit,
    Requirement,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SignedEnvelope,
    SpecAnnouncement,
    SpecRef,
    SpecRequest,
    SpecResponse,
    SpecSummary,
    SyncRequest,
    SyncResponse,
    SyncWant,
    Withdrawal,
)
from protocol.owneraddrs import peer_id_of_key
from protocol.replication import ReplicationFilter
from protocol.signing import Identity
from protocol.sync import owner_fingerprint
from protocol.versions import SCHEMA_MAJOR, SCHEMA_MINOR
from protocol.wire import pack

OWNER = Identity.from_seed(bytes(range(32)))
OTHER = Identity.from_seed(bytes(range(100, 132)))
PACKAGE = b"example package bytes"
LEARNWARE_ID = content_id(PACKAGE)
URL = "http://127.0.0.1:8470/v1/learnwares/" + LEARNWARE_ID + "/package"
CREATED_AT = 1_750_000_000_000
QUERY_ID = "00112233445566778899aabbccddeeff"


def fixed_spec(k: int = 3, d: int = 2, gamma: float = 0.5) -> RKMESpec:
    """A table spec with points in multiples of 1/8 (exact in float32), uniform weights."""
    points = (np.arange(k * d, dtype=np.float64).reshape(k, d) - k * d / 2) / 8
    return spec_from_dict({
        "type": "rkme_table", "format": 1, "space": f"table/d={d}", "gamma": gamma,
        "n_samples": 100, "points": points, "weights": np.full(k, 1.0 / k),
        "params": {"n_points": k, "refine_steps": 5},
        "privacy": {"mechanism": "group-means", "min_rows_per_point": 10, "epsilon": None,
                    "delta": None, "library": "lwdock", "version": "0.1.0"}})


def semantic(description: str = "Predicts churn from account activity.") -> SemanticSpec:
    return SemanticSpec(
        data_type="table", task_type="classification", library="scikit_learn",
        scenarios=("business",), license="mit", name="churn-model", description=description,
        input=InputSpec(2, (Feature("tenure", "months as a customer", "month"),
                            Feature("spend", "monthly spend", "EUR"))),
        output=OutputSpec(1, labels=("stay", "leave")))


def announcement(**over: Any) -> SpecAnnouncement:
    fields: dict[str, Any] = {
        "learnware_id": LEARNWARE_ID, "owner": OWNER.node_id, "organization": "Example Org",
        "semantic": semantic(), "statistical": (fixed_spec(),), "package_size": len(PACKAGE),
        "package_urls": (URL,), "sequence": 1, "created_at": CREATED_AT}
    fields.update(over)
    return SpecAnnouncement(**fields)


def withdrawal(**over: Any) -> Withdrawal:
    fields: dict[str, Any] = {"learnware_id": LEARNWARE_ID, "owner": OWNER.node_id,
                              "sequence": 2, "created_at": CREATED_AT + 1000}
    fields.update(over)
    return Withdrawal(**fields)


def signed_announcement() -> SignedEnvelope:
    return OWNER.sign(announcement())


def digest() -> Digest:
    owners = sorted([OWNER.node_id, OTHER.node_id])
    entries = tuple(DigestEntry(o, 3, 1, owner_fingerprint([(LEARNWARE_ID, 3)])) for o in owners)
    return Digest(OWNER.node_id, "", "", entries,
                  holds=ReplicationFilter(data_types=("table",), scenarios=("business",)))


def sync_request() -> SyncRequest:
    return SyncRequest((SyncWant(OTHER.node_id, 0), SyncWant(OWNER.node_id, 7)), b"",
                       filters=(ReplicationFilter(data_types=("table",)),
                                ReplicationFilter(scenarios=("business",))))


def sync_response() -> SyncResponse:
    return SyncResponse((signed_announcement(), OWNER.sign(withdrawal())), b"\x92\x01\x02")


def search_request() -> SearchRequest:
    req = Requirement(SemanticSpec(task_type="classification", scenarios=("business",)),
                      fixed_spec(2, 2))
    return SearchRequest(QUERY_ID, req, 5, 3, 2, (OTHER.node_id,), 1500)


def search_hit(**over: Any) -> SearchHit:
    fields: dict[str, Any] = {
        "learnware_id": LEARNWARE_ID, "owner": OWNER.node_id, "mmd2": 0.015625, "score": 0.875,
        "package_url": URL, "size": len(PACKAGE), "announcement": signed_announcement()}
    fields.update(over)
    return SearchHit(**fields)


def column_mapping() -> ColumnMapping:
    """The user's three columns onto the sample announcement's two (tenure, spend)."""
    return ColumnMapping(("months as customer", "age", "spend per month"),
                         ("tenure", "spend"), (ColumnPair(0, 0, 0.75), ColumnPair(2, 1, 0.5)))


def search_response() -> SearchResponse:
    mixture = MixtureHit((LEARNWARE_ID,), (1.0,), 0.015625, 0.875)
    return SearchResponse(QUERY_ID, OTHER.node_id, (search_hit(mapping=column_mapping()),),
                          mixture, True, (OWNER.node_id,))


def error_reply() -> ErrorReply:
    return ErrorReply(ErrorCode.BUSY, "too many concurrent searches; retry later")


def spec_summary() -> SpecSummary:
    """The sample announcement's summary, with a fixed sketch (a computed one depends on
    the platform's last bit of cos: golden bytes must not)."""
    spec = fixed_spec()
    sketch = Sketch(1, spec.space, 0.5, "int8", 0.001, bytes([127, 3, 251, 0] * 4))
    ref = SpecRef(spec_id(spec), "rkme_table", 3, spec.privacy_, sketch)
    return SpecSummary(LEARNWARE_ID, OWNER.node_id, "Example Org", semantic(), (ref,),
                       len(PACKAGE), (URL,), 1, CREATED_AT)


OWNER_ADDR = "/ip4/203.0.113.7/tcp/4001/p2p/" + peer_id_of_key(OWNER.public_key)


def spec_summary_with_addrs() -> SpecSummary:
    """The sample summary with the owner's p2p address (1.5)."""
    return dataclasses.replace(spec_summary(), addrs=(OWNER_ADDR,))


def spec_request() -> SpecRequest:
    """The sample spec's id and one the responder does not hold, forwardable once."""
    return SpecRequest((spec_id(fixed_spec()), content_id(b"a spec nobody holds")), 1)


def spec_response() -> SpecResponse:
    return SpecResponse((encode_spec(fixed_spec()),))


SAMPLES = {
    "spec_announcement": announcement, "withdrawal": withdrawal, "digest": digest,
    "sync_request": sync_request, "sync_response": sync_response,
    "search_request": search_request, "search_response": search_response,
    "error_reply": error_reply, "spec_summary": spec_summary,
    "spec_request": spec_request, "spec_response": spec_response,
}


def raw(message: Message, body: dict[str, Any] | None = None, *,
        version: list[int] | None = None, kind: str | None = None) -> bytes:
    """Canonical bytes of a message with its body (or version/type) replaced.

    Lets a test spell a message the typed constructors would refuse.
    """
    return pack({"body": to_wire(message) if body is None else body,
                 "type": message.TYPE if kind is None else kind,
                 "version": [SCHEMA_MAJOR, SCHEMA_MINOR] if version is None else version})


def test_samples_cover_every_message_type() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES)
    for name, build in SAMPLES.items():
        message = build()
        assert type(message).TYPE == name
        assert raw(message) == encode_message(message)
