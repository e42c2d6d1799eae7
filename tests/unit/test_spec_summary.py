"""Compact announcements (1.3): a summary names each full spec by content id and
carries its sketch; a full spec fetched from anyone is checked against the signed id."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_protocol_samples import OWNER, announcement, fixed_spec, spec_summary

from engine.search.sketch import make_sketch
from engine.specification import spec_from_dict
from protocol.codec import (
    decode_message,
    decode_spec,
    encode_message,
    encode_spec,
    spec_id,
)
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import SIGNED_TYPES, SpecAnnouncement, SpecRef, SpecSummary
from protocol.signing import verify
from protocol.summary import ref_of, summary_of


def big_spec(k: int = 8_000, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return spec_from_dict({
        "type": "rkme_table", "format": 1, "space": f"table/d={d}", "gamma": 0.1,
        "n_samples": 100_000, "points": rng.normal(size=(k, d)),
        "weights": rng.dirichlet(np.ones(k)), "params": {"n_points": k, "refine_steps": 0}})


def test_a_summary_is_a_few_hundred_bytes_whatever_the_spec_size():
    full = announcement(statistical=(big_spec(),))
    summary = summary_of(full)
    assert len(encode_message(full)) > 200_000  # 8,000 x 6 float32 points and weights
    assert len(encode_message(summary)) < 1_500
    assert [r.id for r in summary.specs] == [spec_id(s) for s in full.statistical]
    assert (summary.owner, summary.learnware_id, summary.sequence, summary.semantic) == (
        full.owner, full.learnware_id, full.sequence, full.semantic)
    assert summary.specs[0].points == 8_000 and summary.specs[0].type == "rkme_table"


def test_every_node_derives_the_same_summary_from_the_announcement_it_received():
    sent = announcement(statistical=(big_spec(500, 4, seed=1), fixed_spec()))
    received = decode_message(encode_message(sent), SpecAnnouncement)  # float32 on the wire
    assert encode_message(summary_of(received)) == encode_message(summary_of(sent))
    ref = summary_of(sent).specs[0]
    assert ref.sketch == make_sketch(received.statistical[0])
    assert ref.privacy == received.statistical[0].privacy_


def test_a_full_spec_is_accepted_only_with_the_signed_content_id():
    spec, other = big_spec(50, 4, seed=2), big_spec(50, 4, seed=3)
    ref = ref_of(spec)
    fetched = decode_spec(encode_spec(spec), ref.id)
    assert encode_spec(fetched) == encode_spec(spec)
    with pytest.raises(SignatureError, match="not the signed"):
        decode_spec(encode_spec(other), ref.id)  # a peer serving another spec
    tampered = bytearray(encode_spec(spec))
    tampered[-3] ^= 1
    with pytest.raises(SignatureError, match="not the signed"):
        decode_spec(bytes(tampered), ref.id)
    with pytest.raises(ProtocolError, match="expected bytes"):
        decode_spec("not bytes", ref.id)
    with pytest.raises(ProtocolError, match="at most 262144"):
        decode_spec(bytes(300_000), ref.id)  # refused by size, before it is hashed


def test_the_owner_signs_a_summary_and_nodes_accept_it_as_a_record():
    envelope = OWNER.sign(spec_summary())
    assert verify(envelope) == spec_summary()  # gossip and sync verify the default types
    assert verify(envelope, SpecSummary) == spec_summary()
    with pytest.raises(ProtocolError, match="expected spec_announcement, withdrawal"):
        verify(envelope, SIGNED_TYPES)  # what a 1.2 node accepts


@pytest.mark.parametrize("change, message", [
    ({"type": "rkme_audio"}, "SpecRef.type"),
    ({"points": 0}, "SpecRef.points"),
    ({"points": 10_001}, "SpecRef.points"),
    ({"id": "sha256:xyz"}, "SpecRef.id"),
    ({"privacy": {"mechanism": "none"}}, "SpecRef.privacy"),
])
def test_a_malformed_spec_ref_is_refused(change, message):
    ref = spec_summary().specs[0]
    with pytest.raises(ProtocolError, match=message):
        dataclasses.replace(ref, **change)


def test_a_summary_names_each_spec_once():
    ref = spec_summary().specs[0]
    with pytest.raises(ProtocolError, match="duplicate"):
        dataclasses.replace(spec_summary(), specs=(ref, ref))
    assert isinstance(ref, SpecRef)
