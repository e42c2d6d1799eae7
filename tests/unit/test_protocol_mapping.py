"""`SearchHit.mapping` (schema 1.1): the column map of a heterogeneous match on the wire.

Optional and absent when unset (a hit without one is byte-identical to a 1.0 hit but
for the version), bounded, checked against the signed announcement by `verify_hit`,
and ignored by a 1.0 reader.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_protocol_samples import column_mapping, raw, search_hit, search_response

from engine.hetero.mapping import ColumnMapping, ColumnPair
from protocol import limits
from protocol.codec import decode_message, encode_message, to_wire
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import SearchResponse
from protocol.signing import verify_hit


def response_with_hit_body(hit: dict[str, Any]) -> bytes:
    message = search_response()
    body = to_wire(message)
    body["hits"] = [hit]
    return raw(message, body)


def test_a_mapping_travels_and_comes_back_equal() -> None:
    message = search_response()
    decoded = decode_message(encode_message(message), SearchResponse)
    assert decoded.hits[0].mapping == column_mapping()
    assert decoded.hits[0].mapping.missing == ()
    assert decoded.hits[0].mapping.unused == (1,)


def test_no_mapping_is_absent_on_the_wire_not_nil() -> None:
    assert "mapping" not in to_wire(search_hit())
    hit = {**to_wire(search_hit()), "mapping": None}
    with pytest.raises(ProtocolError):
        decode_message(response_with_hit_body(hit), SearchResponse)


def test_a_1_0_reader_ignores_the_field() -> None:
    """A node of an older minor reads newer messages leniently: here, a message of a
    newer minor than ours carrying an unknown hit field decodes to an ordinary hit."""
    hit = {**to_wire(search_hit()), "colour": "blue"}
    message = search_response()
    body = {**to_wire(message), "hits": [hit]}
    decoded = decode_message(raw(message, body, version=[1, 99]), SearchResponse)
    assert decoded.hits[0].mapping is None
    with pytest.raises(ProtocolError, match="unknown field"):
        decode_message(raw(message, body), SearchResponse)


@pytest.mark.parametrize(("change", "pattern"), [
    (lambda m: {**m, "pairs": [{"user": 9, "learnware": 0, "similarity": 0.5}]},
     "out of range"),
    (lambda m: {**m, "pairs": [{"user": 0, "learnware": 0, "similarity": 0.5},
                               {"user": 0, "learnware": 1, "similarity": 0.5}]},
     "one-to-one"),
    (lambda m: {**m, "missing": [1]}, "does not agree"),
    (lambda m: {**m, "user_columns": "abc"}, "list of column names"),
    (lambda m: {**m, "user_columns": [], "pairs": [], "missing": [0, 1], "unused": []},
     "user_columns"),
    (lambda m: {**m, "learnware_columns": ["x" * 201, "spend"]}, "learnware_columns"),
    (lambda m: {**m, "pairs": [{"user": 0, "learnware": 0, "similarity": 7.0},
                               {"user": 2, "learnware": 1, "similarity": 0.5}]},
     "similarity"),
    (lambda m: {**m, "secret": 1}, "unknown field"),
])
def test_a_bad_mapping_is_refused_naming_the_field(change: Any, pattern: str) -> None:
    hit = to_wire(search_hit(mapping=column_mapping()))
    hit["mapping"] = change(hit["mapping"])
    with pytest.raises(ProtocolError, match=pattern) as info:
        decode_message(response_with_hit_body(hit), SearchResponse)
    assert "hits[0]" in str(info.value)


def test_a_mapping_over_the_column_bound_is_refused() -> None:
    hit = to_wire(search_hit(mapping=column_mapping()))
    hit["mapping"]["user_columns"] = [str(i) for i in range(limits.MAX_MAPPED_COLUMNS + 1)]
    with pytest.raises(ProtocolError, match="at most"):
        decode_message(response_with_hit_body(hit), SearchResponse)


def test_verify_hit_refuses_a_mapping_onto_columns_the_owner_did_not_announce() -> None:
    assert verify_hit(search_hit(mapping=column_mapping())).learnware_id
    forged = ColumnMapping(("a", "b"), ("tenure", "income"), (ColumnPair(0, 0, 0.9),))
    with pytest.raises(SignatureError, match="mapping"):
        verify_hit(search_hit(mapping=forged))
