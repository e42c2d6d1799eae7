"""Schema 1.3 on the wire: the summary topic and the specs protocol, the writer's version
kept on decoded messages, summaries as records and as search hits, and full specs by
content id (`spec_request` -> `spec_response`)."""

from __future__ import annotations

import dataclasses

import pytest
from test_protocol_samples import (
    OTHER,
    OWNER,
    announcement,
    column_mapping,
    raw,
    search_hit,
    search_request,
    spec_summary,
    sync_request,
    withdrawal,
)

from engine.hetero.mapping import ColumnMapping, ColumnPair
from protocol.codec import decode_message, encode_message
from protocol.content import content_id
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import SearchRequest, SyncRequest
from protocol.signing import verify, verify_hit
from protocol.sync import SequenceBook
from protocol.versions import (
    PROTOCOL_IDS,
    SCHEMA_VERSION,
    SPECS_PROTOCOL,
    SUMMARY_TOPIC,
    reads_summaries,
)


# -- versions ---------------------------------------------------------------------------------
def test_the_new_protocol_ids_carry_the_major_only() -> None:
    assert SCHEMA_VERSION == (1, 3)
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
