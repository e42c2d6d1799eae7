"""Every limit: a value at the limit is accepted, one past it is refused.

Over-limit messages are built with `unchecked` (bypassing the constructors) so the
decoder itself is shown to refuse them, not just the constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields, replace
from typing import Any

import numpy as np
import pytest
from test_protocol_samples import (
    OWNER,
    QUERY_ID,
    URL,
    announcement,
    error_reply,
    fixed_spec,
    raw,
    search_hit,
    search_request,
    search_response,
    semantic,
    withdrawal,
)

from protocol import limits
from protocol.codec import decode_envelope, decode_message, encode_envelope, encode_message
from protocol.content import content_id
from protocol.errors import ProtocolError
from protocol.messages import (
    Digest,
    DigestEntry,
    ErrorReply,
    MixtureHit,
    SearchResponse,
    SignedEnvelope,
    SpecRequest,
    SpecResponse,
    SyncRequest,
    SyncResponse,
    SyncWant,
)
from protocol.node_id import node_id_from_public_key
from protocol.signing import verify
from protocol.sync import owner_fingerprint
from protocol.wire import array_from_wire, array_to_wire, pack, unpack

BIG = 1 << 24


def unchecked(cls: type[Any], **values: Any) -> Any:
    """An instance of a message class without running its validation (fields with a
    default may be left out)."""
    obj = object.__new__(cls)
    for f in fields(cls):
        object.__setattr__(obj, f.name, values[f.name] if f.name in values or
                           f.default is MISSING else f.default)
    return obj


def node_ids(n: int) -> list[str]:
    return sorted(node_id_from_public_key(i.to_bytes(32, "big")) for i in range(n))


def lw_ids(n: int) -> list[str]:
    return [content_id(i.to_bytes(4, "big")) for i in range(n)]


def _hits(n: int) -> dict[str, Any]:
    base = search_response()
    hits = tuple(replace(search_hit(), learnware_id=i) for i in lw_ids(n))
    return {**vars(base), "hits": hits, "mixture": None}


def _mixture(n: int) -> dict[str, Any]:
    ids = tuple(lw_ids(n))
    hits = tuple(replace(search_hit(), learnware_id=i) for i in ids)
    mix = unchecked(MixtureHit, ids=ids, weights=(1.0 / n,) * n, mmd2=0.0, score=1.0)
    return {**vars(search_response()), "hits": hits, "mixture": mix}


def _digest(n: int) -> dict[str, Any]:
    fp = owner_fingerprint([])
    entries = tuple(DigestEntry(o, 1, 1, fp) for o in node_ids(n))
    return {"node": OWNER.node_id, "range_start": "", "range_end": "", "entries": entries}


# (name, message class, limit, fields for a value of n, field named in the error)
CASES: list[tuple[str, type[Any], int, Callable[[int], dict[str, Any]], str]] = [
    ("organization chars", type(announcement()), limits.MAX_ORGANIZATION_CHARS,
     lambda n: {**vars(announcement()), "organization": "o" * n}, "organization"),
    ("package urls", type(announcement()), limits.MAX_PACKAGE_URLS,
     lambda n: {**vars(announcement()), "package_urls": tuple(f"{URL}?m={i}" for i in range(n))},
     "package_urls"),
    ("url chars", type(announcement()), limits.MAX_URL_CHARS,
     lambda n: {**vars(announcement()), "package_urls": ("http://h/" + "a" * (n - 9),)},
     r"package_urls\[0\]"),
    ("statistical specs", type(announcement()), limits.MAX_STATISTICAL_SPECS,
     lambda n: {**vars(announcement()), "statistical": (fixed_spec(),) * n}, "statistical"),
    ("package size", type(announcement()), limits.MAX_PACKAGE_BYTES,
     lambda n: {**vars(announcement()), "package_size": n}, "package_size"),
    ("sequence", type(withdrawal()), limits.MAX_SEQUENCE,
     lambda n: {**vars(withdrawal()), "sequence": n}, "sequence"),
    ("timestamp", type(withdrawal()), limits.MAX_TIMESTAMP_MS,
     lambda n: {**vars(withdrawal()), "created_at": n}, "created_at"),
    ("k", type(search_request()), limits.MAX_K,
     lambda n: {**vars(search_request()), "k": n}, r"\.k"),
    ("max mixture", type(search_request()), limits.MAX_MIXTURE,
     lambda n: {**vars(search_request()), "max_mixture": n}, "max_mixture"),
    ("ttl", type(search_request()), limits.MAX_TTL,
     lambda n: {**vars(search_request()), "ttl": n}, "ttl"),
    ("visited", type(search_request()), limits.MAX_VISITED,
     lambda n: {**vars(search_request()), "visited": tuple(node_ids(n))}, "visited"),
    ("deadline", type(search_request()), limits.MAX_DEADLINE_MS,
     lambda n: {**vars(search_request()), "deadline_ms": n}, "deadline_ms"),
    ("hits", SearchResponse, limits.MAX_HITS, _hits, "hits"),
    ("missed", SearchResponse, limits.MAX_VISITED,
     lambda n: {**vars(search_response()), "missed": tuple(node_ids(n))}, "missed"),
    ("digest entries", Digest, limits.MAX_DIGEST_ENTRIES, _digest, "entries"),
    ("sync wants", SyncRequest, limits.MAX_SYNC_WANTS,
     lambda n: {"wants": tuple(SyncWant(o, 0) for o in node_ids(n)), "cursor": b""}, "wants"),
    ("request cursor", SyncRequest, limits.MAX_CURSOR_BYTES,
     lambda n: {"wants": (SyncWant(OWNER.node_id, 0),), "cursor": b"c" * n}, "cursor"),
    ("sync records", SyncResponse, limits.MAX_SYNC_RECORDS,
     lambda n: {"records": (OWNER.sign(withdrawal()),) * n, "next_cursor": b""}, "records"),
    ("response cursor", SyncResponse, limits.MAX_CURSOR_BYTES,
     lambda n: {"records": (), "next_cursor": b"c" * n}, "next_cursor"),
    ("error message", ErrorReply, limits.MAX_ERROR_MESSAGE_CHARS,
     lambda n: {"code": "busy", "message": "m" * n}, "message"),
    ("error code", ErrorReply, limits.MAX_ERROR_CODE_CHARS,
     lambda n: {"code": "c" * n, "message": ""}, "code"),
    ("spec ids", SpecRequest, limits.MAX_SPEC_IDS,
     lambda n: {"ids": tuple(lw_ids(n)), "ttl": 0}, r"SpecRequest\.ids"),
    ("spec ttl", SpecRequest, limits.MAX_SPEC_TTL,
     lambda n: {"ids": tuple(lw_ids(1)), "ttl": n}, r"SpecRequest\.ttl"),
    ("spec items", SpecResponse, limits.MAX_SPEC_IDS,
     lambda n: {"specs": (b"s",) * n}, r"SpecResponse\.specs"),
]


@pytest.mark.parametrize(("cls", "limit", "make", "field"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_field_limit(cls: type[Any], limit: int, make: Callable[[int], dict[str, Any]],
                     field: str) -> None:
    at_limit = cls(**make(limit))
    data = encode_message(at_limit)
    assert decode_message(data) == at_limit
    over = make(limit + 1)
    with pytest.raises(ProtocolError, match=field):
        cls(**over)
    with pytest.raises(ProtocolError, match=field):
        decode_message(raw(unchecked(cls, **over)))


def test_mixture_size_limit() -> None:
    n = limits.MAX_MIXTURE
    at = SearchResponse(**_mixture(n))
    assert decode_message(encode_message(at)) == at
    over = _mixture(n + 1)
    with pytest.raises(ProtocolError, match=r"MixtureHit\.ids"):
        MixtureHit(**vars(over["mixture"]))
    with pytest.raises(ProtocolError, match=r"mixture: MixtureHit\.ids"):
        decode_message(raw(unchecked(SearchResponse, **over)))


# -- message bytes ------------------------------------------------------------------------------
def _response_of_size(size: int) -> SyncResponse:
    """A SyncResponse of exactly `size` bytes, from envelopes with opaque payloads."""
    def build(last: int) -> SyncResponse:
        payloads = [b"p" * 100_000] * 4 + [b"q" * last]
        return SyncResponse(tuple(SignedEnvelope(p, OWNER.public_key, b"s" * 64)
                                  for p in payloads), b"")

    probe = 100_000
    last = probe + size - len(raw(build(probe)))
    msg = build(last)
    assert len(raw(msg)) == size and last >= 65_536
    return msg


def test_message_at_the_byte_limit_is_accepted_one_over_refused() -> None:
    at = _response_of_size(limits.MAX_MESSAGE_BYTES)
    assert decode_message(encode_message(at)) == at
    over = _response_of_size(limits.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(ProtocolError, match="at most 524288"):
        encode_message(over)
    with pytest.raises(ProtocolError, match="at most 524288"):
        decode_message(raw(over))


def _announcement_of_size(size: int) -> Any:
    """An announcement of exactly `size` bytes: a big spec, then description padding."""
    spec = fixed_spec(1_275, 50)
    base = announcement(statistical=(spec,), semantic=semantic(""))
    pad = size - len(raw(base)) - 2  # a str of 256..65535 chars has a 3-byte header, "" 1
    assert 256 <= pad <= 10_000
    ann = announcement(statistical=(spec,), semantic=semantic("d" * pad))
    assert len(raw(ann)) == size
    return ann


def test_signed_payload_at_the_limit_is_accepted_one_over_refused() -> None:
    at = _announcement_of_size(limits.MAX_SIGNED_PAYLOAD_BYTES)
    env = OWNER.sign(at)
    data = encode_envelope(env)
    assert len(data) == limits.MAX_ENVELOPE_BYTES
    assert verify(data) == at
    over = _announcement_of_size(limits.MAX_SIGNED_PAYLOAD_BYTES + 1)
    with pytest.raises(ProtocolError, match="at most 262144"):
        encode_message(over)
    with pytest.raises(ProtocolError, match="at most 262144"):
        decode_message(raw(over))


def test_envelope_at_the_limit_is_accepted_one_over_refused() -> None:
    at = SignedEnvelope(b"x" * limits.MAX_SIGNED_PAYLOAD_BYTES, OWNER.public_key, b"s" * 64)
    assert decode_envelope(encode_envelope(at)) == at
    wire = {"payload": b"x" * (limits.MAX_SIGNED_PAYLOAD_BYTES + 1),
            "public_key": OWNER.public_key, "signature": b"s" * 64}
    with pytest.raises(ProtocolError):
        decode_envelope(pack(wire))
    with pytest.raises(ProtocolError, match="payload"):
        SignedEnvelope(wire["payload"], OWNER.public_key, b"s" * 64)


# -- generic structure ------------------------------------------------------------------------
def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


STRUCTURE = [
    ("string bytes", limits.MAX_STRING_BYTES, lambda n: "s" * n),
    ("binary bytes", limits.MAX_BINARY_BYTES, lambda n: b"b" * n),
    ("list items", limits.MAX_LIST_ITEMS, lambda n: [0] * n),
    ("map entries", limits.MAX_MAP_ITEMS, lambda n: {f"k{i:03}": 0 for i in range(n)}),
    ("depth", limits.MAX_DEPTH, _nested),
]


@pytest.mark.parametrize(("limit", "make"), [s[1:] for s in STRUCTURE],
                         ids=[s[0] for s in STRUCTURE])
def test_structure_limit(limit: int, make: Callable[[int], Any]) -> None:
    value = make(limit)
    assert unpack(pack(value), max_bytes=BIG, what="t") == value
    with pytest.raises(ProtocolError):
        pack(make(limit + 1))
    import msgpack

    with pytest.raises(ProtocolError):
        unpack(msgpack.packb(make(limit + 1), use_bin_type=True), max_bytes=BIG, what="t")


def test_array_element_limit() -> None:
    n = limits.MAX_ARRAY_ELEMENTS
    got = array_from_wire(array_to_wire(np.ones(n), "float32", "a"), "a", dtype="float32", ndim=1)
    assert got.shape == (n,)
    over = {"data": b"\x00" * 4 * (n + 1), "dtype": "float32", "shape": [n + 1]}
    with pytest.raises(ProtocolError, match="elements"):
        array_from_wire(over, "a", dtype="float32", ndim=1)
    over2 = {"data": b"\x00" * 4 * (n + 2), "dtype": "float32", "shape": [2, n // 2 + 1]}
    with pytest.raises(ProtocolError, match="elements"):
        array_from_wire(over2, "a", dtype="float32", ndim=2)
    with pytest.raises(ProtocolError, match="elements"):
        array_to_wire(np.ones(n + 1), "float32", "a")
    with pytest.raises(ProtocolError, match="points"):
        announcement(statistical=(fixed_spec(1 + n // 8, 8),))


def test_the_deepest_valid_message_is_well_within_the_depth_limit() -> None:
    def depth(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        return 0

    from protocol.messages import Requirement

    full = replace(search_request(), requirement=Requirement(semantic(), fixed_spec()))
    deepest = max(depth(unpack(encode_message(m), max_bytes=BIG, what="t"))
                  for m in (announcement(), full, search_response(), error_reply()))
    assert deepest == 7 < limits.MAX_DEPTH
    assert QUERY_ID
