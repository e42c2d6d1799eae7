"""Schema 1.3 on the wire: the summary topic and the specs protocol, the writer's version
kept on decoded messages, summaries as records and as search hits, and full specs by
content id (`spec_request` -> `spec_response`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol_samples import (
    OTHER,
    OWNER,
    announcement,
    column_mapping,
    fixed_spec,
    raw,
    search_hit,
    search_request,
    spec_request,
    spec_response,
    spec_summary,
    sync_request,
    withdrawal,
)

from engine.hetero.mapping import ColumnMapping, ColumnPair
from protocol import limits
from protocol.codec import (
    decode_message,
    encode_message,
    encode_spec,
    encoded_message_size,
    spec_id,
)
from protocol.content import content_id
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import SearchRequest, SpecRequest, SpecResponse, SyncRequest
from protocol.signing import verify, verify_hit
from protocol.summary import pack_spec_response, specs_of_response
from protocol.sync import SequenceBook
from protocol.versions import (
    PROTOCOL_IDS,
    SCHEMA_VERSION,
    SPECS_PROTOCOL,
    SUMMARY_TOPIC,
    reads_summaries,
)
from protocol.wire import pack


# -- versions ---------------------------------------------------------------------------------
def test_the_new_protocol_ids_carry_the_major_only() -> None:
    assert SCHEMA_VERSION == (1, 4)
    assert SUMMARY_TOPIC == "/lwdock/summary/1.0.0"
    assert SPECS_PROTOCOL == "/lwdock/specs/1.0.0"
    assert {SUMMARY_TOPIC, SPECS_PROTOCOL} <= set(PROTOCOL_IDS)
    assert len(set(PROTOCOL_IDS)) == len(PROTOCOL_IDS)


@pytest.mark.parametrize("build", [search_request, sync_request], ids=["search", "sync"])
def test_a_decoded_request_keeps_the_version_its_writer_sent(build) -> None:
    old = decode_message(raw(build(), version=[1, 2]))
    assert old.version == (1, 2) and not reads_summaries(old.version)
    assert old == build()  # not a body field: equality ignores it
    assert encode_message(old) == encode_message(build())  # and the encoder writes ours
    new = decode_message(encode_message(build()))
    assert new.version == SCHEMA_VERSION and reads_summaries(new.version)
    assert decode_message(raw(build(), version=[1, 9])).version == (1, 9)


def test_a_message_built_here_or_copied_has_this_nodes_version() -> None:
    old: SearchRequest = decode_message(raw(search_request(), version=[1, 2]))
    forwarded = dataclasses.replace(old, ttl=old.ttl - 1)  # what this node writes on
    assert forwarded.version == SCHEMA_VERSION
    assert SyncRequest(sync_request().wants).version == SCHEMA_VERSION
    assert withdrawal().version == SCHEMA_VERSION


@pytest.mark.parametrize(("version", "reads"), [((1, 0), False), ((1, 2), False),
                                                ((1, 3), True), ((1, 4), True)])
def test_reads_summaries_from_1_3_on(version: tuple[int, int], reads: bool) -> None:
    assert reads_summaries(version) is reads


# -- summaries as records and as search hits ----------------------------------------------------
def test_verify_accepts_every_record_type_by_default() -> None:
    for record in (announcement(), spec_summary(), withdrawal()):
        assert verify(OWNER.sign(record)) == record


def test_a_summary_and_its_announcement_are_one_version_for_anti_entropy() -> None:
    with_announcement, with_summary = SequenceBook(), SequenceBook()
    assert with_announcement.accept(announcement()) and with_summary.accept(spec_summary())
    assert with_announcement.entries() == with_summary.entries()  # same fingerprints
    assert not with_announcement.accept(spec_summary())  # same sequence: a duplicate
    assert with_summary.accept(withdrawal())  # the next sequence supersedes either


def summary_hit(**over: object):
    return search_hit(announcement=OWNER.sign(spec_summary()), **over)


def test_verify_hit_accepts_a_summary_and_checks_it_like_an_announcement() -> None:
    assert verify_hit(summary_hit()) == spec_summary()
    assert verify_hit(summary_hit(mapping=column_mapping())) == spec_summary()
    for field, value in (("size", 999), ("owner", OTHER.node_id),
                         ("learnware_id", content_id(b"other"))):
        with pytest.raises(SignatureError, match=f"SearchHit.{field}"):
            verify_hit(summary_hit(**{field: value}))
    elsewhere = ColumnMapping(("a", "b"), ("tenure", "age"), (ColumnPair(0, 0, 0.5),))
    with pytest.raises(SignatureError, match=r"SearchHit\.mapping"):
        verify_hit(summary_hit(mapping=elsewhere))
    forged = OTHER.sign(dataclasses.replace(spec_summary(), owner=OTHER.node_id))
    with pytest.raises(SignatureError, match=r"SearchHit\.owner"):
        verify_hit(search_hit(announcement=forged))


def test_a_hit_carrying_a_withdrawal_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expected spec_announcement, spec_summary, got "
                                            "withdrawal"):
        verify_hit(search_hit(announcement=OWNER.sign(withdrawal())))


# -- spec_request -------------------------------------------------------------------------------
SPEC = fixed_spec()
SPEC_BYTES = encode_spec(SPEC)
SPEC_ID = spec_id(SPEC)


def test_spec_messages_round_trip() -> None:
    for message in (spec_request(), spec_response(), SpecResponse(()),
                    SpecRequest((SPEC_ID,), limits.MAX_SPEC_TTL)):
        data = encode_message(message)
        assert decode_message(data, type(message)) == message
        assert len(data) == encoded_message_size(message)


@pytest.mark.parametrize(("ids", "ttl", "error"), [
    ((), 0, r"SpecRequest\.ids: 0 items"),
    ((SPEC_ID, SPEC_ID), 0, r"SpecRequest\.ids: duplicate"),
    (("sha256:" + "A" * 64,), 0, r"SpecRequest\.ids\[0\]"),
    ((SPEC_ID, "lwn1" + "a" * 32), 0, r"SpecRequest\.ids\[1\]"),
    ((SPEC_ID,), -1, r"SpecRequest\.ttl: -1 is outside 0\.\.2"),
    ((SPEC_ID,), limits.MAX_SPEC_TTL + 1, r"SpecRequest\.ttl"),
    ((SPEC_ID,), True, r"SpecRequest\.ttl: expected an integer"),
    (SPEC_ID, 0, r"SpecRequest\.ids: expected a list"),
])
def test_a_malformed_spec_request_is_refused(ids: Any, ttl: Any, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        SpecRequest(ids, ttl)
    wire = {"ids": list(ids) if isinstance(ids, tuple) else ids, "ttl": ttl}
    with pytest.raises(ProtocolError, match=error):
        decode_message(raw(spec_request(), wire))


def test_a_spec_request_with_a_field_missing_or_added_is_refused() -> None:
    with pytest.raises(ProtocolError, match="missing field ttl"):
        decode_message(raw(spec_request(), {"ids": [SPEC_ID]}))
    with pytest.raises(ProtocolError, match="unknown field"):
        decode_message(raw(spec_request(), {"ids": [SPEC_ID], "ttl": 0, "hops": 1}))


# -- spec_response ------------------------------------------------------------------------------
@pytest.mark.parametrize(("item", "error"), [
    (b"", r"SpecResponse\.specs\[0\]: 0 bytes"),
    ("text", r"SpecResponse\.specs\[0\]: expected bytes"),
    (7, r"SpecResponse\.specs\[0\]: expected bytes"),
])
def test_a_malformed_spec_response_item_is_refused(item: Any, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        SpecResponse((item,))
    with pytest.raises(ProtocolError, match=error):
        decode_message(raw(spec_response(), {"specs": [item]}))


def test_an_item_of_max_spec_bytes_is_accepted_and_one_more_refused() -> None:
    at = SpecResponse((b"s" * limits.MAX_SPEC_BYTES,))
    assert decode_message(encode_message(at)) == at
    over = b"s" * (limits.MAX_SPEC_BYTES + 1)
    with pytest.raises(ProtocolError, match=r"SpecResponse\.specs\[0\]: 262145 bytes"):
        SpecResponse((over,))
    wire = msgpack.packb({"body": {"specs": [over]}, "type": "spec_response",
                          "version": list(SCHEMA_VERSION)}, use_bin_type=True)
    with pytest.raises(ProtocolError, match="not valid msgpack within limits"):
        decode_message(wire)  # the bound of any one bin binds first


def test_a_response_over_max_message_bytes_is_refused_both_ways() -> None:
    item = b"s" * (limits.MAX_MESSAGE_BYTES // 2)
    over = SpecResponse((item, item))
    with pytest.raises(ProtocolError, match="at most 524288"):
        encode_message(over)
    with pytest.raises(ProtocolError, match="at most 524288"):
        decode_message(raw(over))


def test_every_announceable_spec_fits_an_item_and_the_signed_payload_binds_first() -> None:
    largest = fixed_spec(1_275, 50)  # the spec of test_protocol_limits' at-limit announcement
    assert len(encode_message(announcement(statistical=(largest,)))) < \
        limits.MAX_SIGNED_PAYLOAD_BYTES
    assert pack_spec_response([encode_spec(largest)]).specs == (encode_spec(largest),)
    too_big = fixed_spec(10_000, 6)  # within the array limits: encode_spec makes it
    assert len(encode_spec(too_big)) > limits.MAX_SPEC_BYTES
    with pytest.raises(ProtocolError, match="at most 262144"):
        encode_message(announcement(statistical=(too_big,)))  # no owner can announce it


# -- the asker's check: specs_of_response ---------------------------------------------------------
def test_the_asker_keeps_exactly_the_specs_it_asked_for() -> None:
    other = fixed_spec(4, 3)
    junk = b"\x81\xa1a\x01"  # canonical msgpack, not a spec
    tampered = bytearray(SPEC_BYTES)
    tampered[-3] ^= 1
    response = SpecResponse((encode_spec(other), SPEC_BYTES, bytes(tampered), SPEC_BYTES,
                             junk))
    found, dropped = specs_of_response(response, [SPEC_ID, content_id(junk)])
    assert list(found) == [SPEC_ID] and encode_spec(found[SPEC_ID]) == SPEC_BYTES
    # not asked (other), hashing to no asked id (tampered), a repeat, not a spec (junk)
    assert dropped == 4
    assert specs_of_response(SpecResponse(()), [SPEC_ID]) == ({}, 0)


def test_the_asker_checks_its_own_arguments() -> None:
    with pytest.raises(ProtocolError, match=r"wanted\[1\]"):
        specs_of_response(spec_response(), [SPEC_ID, "not an id"])
    with pytest.raises(ProtocolError, match="expected a SpecResponse"):
        specs_of_response(spec_request(), [SPEC_ID])  # type: ignore[arg-type]


PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ITEMS = st.lists(st.sampled_from([SPEC_BYTES, encode_spec(fixed_spec(2, 2)), b"\x90", b"x"])
                 | st.binary(min_size=1, max_size=64), max_size=12)


@PROPERTY
@given(ITEMS, st.data())
def test_every_item_is_kept_or_dropped_and_kept_ones_hash_to_asked_ids(
        items: list[bytes], data: st.DataObject) -> None:
    ids = sorted({content_id(item) for item in items} | {SPEC_ID})
    wanted = data.draw(st.lists(st.sampled_from(ids), unique=True))
    found, dropped = specs_of_response(SpecResponse(tuple(items)), wanted)
    assert len(found) + dropped == len(items)
    assert set(found) <= set(wanted)
    for sid, spec in found.items():
        assert content_id(encode_spec(spec)) == sid


# -- the responder: pack_spec_response -------------------------------------------------------------
def test_the_responder_puts_in_as_many_as_fit() -> None:
    big = [encode_spec(fixed_spec(1_000, 50, gamma=g)) for g in (0.5, 0.25, 0.125)]  # 204 kB
    response = pack_spec_response([big[0], big[1], big[2], SPEC_BYTES, big[0]])
    assert response.specs == (big[0], big[1], SPEC_BYTES)  # the third big one would not fit
    assert len(encode_message(response)) <= limits.MAX_MESSAGE_BYTES
    many = [encode_spec(fixed_spec(2, 2, gamma=1.0 / (i + 1))) for i in range(70)]
    assert pack_spec_response(many).specs == tuple(many[:limits.MAX_SPEC_IDS])
    assert pack_spec_response([]) == SpecResponse(())


def test_the_responder_refuses_what_no_response_can_carry() -> None:
    with pytest.raises(ProtocolError, match=r"SpecResponse\.specs\[0\]"):
        pack_spec_response([encode_spec(fixed_spec(10_000, 6))])
    for bad in (0, limits.MAX_MESSAGE_BYTES + 1):
        with pytest.raises(ProtocolError, match="max_bytes"):
            pack_spec_response([SPEC_BYTES], max_bytes=bad)
    with pytest.raises(ProtocolError, match="even an empty response"):
        pack_spec_response([SPEC_BYTES], max_bytes=10)


@PROPERTY
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=80), st.integers(44, 3_000))
def test_a_packed_response_fits_and_nothing_left_out_would(items: list[bytes],
                                                            max_bytes: int) -> None:
    response = pack_spec_response(items, max_bytes=max_bytes)
    assert encoded_message_size(response) <= max_bytes
    assert len(set(response.specs)) == len(response.specs)
    rest = iter(items)
    assert all(item in rest for item in response.specs)  # in the given order
    if len(response.specs) < limits.MAX_SPEC_IDS:
        for item in set(items) - set(response.specs):
            assert encoded_message_size(SpecResponse((*response.specs, item))) > max_bytes
    assert decode_message(pack(  # and it is what goes on the wire
        {"body": {"specs": list(response.specs)}, "type": "spec_response",
         "version": list(SCHEMA_VERSION)})) == response
