"""The `privacy` record: stated in every spec, carried on the wire, signed with it."""

import numpy as np
import pytest
from test_protocol_samples import OWNER, announcement, search_request

from engine.errors import SpecError
from engine.privacy import check_privacy_record, privacy_record
from engine.specification import RKMETableSpec, spec_from_dict
from protocol.codec import decode_message, encode_envelope, spec_from_wire, spec_to_wire
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import SignedEnvelope
from protocol.signing import verify
from protocol.wire import pack, unpack

ROWS = np.random.default_rng(0).normal(size=(300, 4))


def test_every_fitted_spec_states_how_it_was_made_private():
    spec = RKMETableSpec(random_state=0).fit(ROWS)
    assert spec.to_dict()["privacy"] == {
        "mechanism": "group-means", "min_rows_per_point": 10, "epsilon": None, "delta": None,
        "library": "lwdock", "version": spec.privacy_["version"]}
    exact = RKMETableSpec(random_state=0, min_rows_per_point=1).fit(ROWS)
    assert exact.to_dict()["privacy"]["mechanism"] == "none"
    back = spec_from_wire(spec_to_wire(spec))
    assert back.privacy_ == spec.privacy_ and back.min_rows_per_point == 10


def test_a_spec_without_the_record_still_reads_and_states_nothing():
    data = RKMETableSpec(random_state=0).fit(ROWS).to_dict()
    del data["privacy"]
    assert spec_from_dict(data).privacy_ is None
    assert "privacy" not in spec_from_dict(data).to_dict()


@pytest.mark.parametrize("change", [
    {"mechanism": "trust-me"}, {"min_rows_per_point": 0}, {"min_rows_per_point": True},
    {"mechanism": "none"},  # 'none' with m = 10 is a contradiction
    {"epsilon": 1.0},  # epsilon without a DP mechanism
    {"library": ""}, {"extra": 1}])
def test_a_hostile_record_is_refused(change):
    good = privacy_record("group-means", 10)
    with pytest.raises(SpecError):
        check_privacy_record({**good, **change})
    data = RKMETableSpec(random_state=0).fit(ROWS).to_dict()
    data["privacy"] = {**good, **change}
    with pytest.raises(ProtocolError):
        spec_from_wire(spec_to_wire_raw(data))


def spec_to_wire_raw(data: dict) -> dict:
    from protocol.codec import SPEC_ARRAY_DTYPE, array_to_wire

    out = dict(data)
    out["points"] = array_to_wire(data["points"], SPEC_ARRAY_DTYPE, "points")
    out["weights"] = array_to_wire(data["weights"], SPEC_ARRAY_DTYPE, "weights")
    return out


def test_tampering_with_the_privacy_record_breaks_the_signature():
    spec = RKMETableSpec(random_state=0).fit(ROWS)
    signed = encode_envelope(OWNER.sign(announcement(statistical=(spec,))))
    record = verify(signed)
    assert record.statistical[0].privacy_["min_rows_per_point"] == 10
    env = unpack(signed, max_bytes=1 << 24, what="envelope")
    payload = bytes(env["payload"])
    stated = b"\xb2min_rows_per_point\x0a"
    assert payload.count(stated) == 1
    forged = payload.replace(stated, b"\xb2min_rows_per_point\x64")  # claim m = 100
    assert decode_message(forged).statistical[0].privacy_["min_rows_per_point"] == 100
    tampered = pack({**env, "payload": forged})
    with pytest.raises(SignatureError):
        verify(tampered)
    with pytest.raises(SignatureError):
        verify(SignedEnvelope(forged, bytes(env["public_key"]), bytes(env["signature"])))


def test_a_newer_minor_may_add_keys_to_a_spec_map():
    """From 1.2 on, a key a newer minor adds inside a spec map is dropped, not refused."""
    from protocol.codec import encode_message
    from protocol.versions import SCHEMA_MAJOR, SCHEMA_MINOR

    spec = RKMETableSpec(random_state=0).fit(ROWS)
    wire = unpack(encode_message(search_request()), max_bytes=1 << 24, what="message")
    wire["body"]["requirement"]["spec"] = {**spec_to_wire(spec), "sketch": b"\x00"}
    with pytest.raises(ProtocolError, match="sketch"):
        decode_message(pack(wire))  # this node's own minor: strict
    wire["version"] = [SCHEMA_MAJOR, SCHEMA_MINOR + 1]
    got = decode_message(pack(wire))
    assert got.requirement.spec.privacy_ == spec.privacy_
