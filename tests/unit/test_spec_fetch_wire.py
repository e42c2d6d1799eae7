"""Schema 1.3 on the wire: the summary topic and the specs protocol, the writer's version
kept on decoded messages, summaries as records and as search hits, and full specs by
content id (`spec_request` -> `spec_response`)."""

from __future__ import annotations

import dataclasses

import pytest
from test_protocol_samples import raw, search_request, sync_request, withdrawal

from protocol.codec import decode_message, encode_message
from protocol.messages import SearchRequest, SyncRequest
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
