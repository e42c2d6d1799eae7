"""Codec: round trips, canonical form, versions, field errors, float32 precision."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from test_protocol_samples import (
    OTHER,
    OWNER,
    SAMPLES,
    announcement,
    fixed_spec,
    raw,
    search_request,
    search_response,
    signed_announcement,
    sync_response,
    withdrawal,
)

from engine.specification import RKMETableSpec, mmd2
from protocol import limits
from protocol.codec import (
    decode_envelope,
    decode_message,
    encode_envelope,
    encode_message,
    fit_prefix,
    spec_from_wire,
    spec_to_wire,
    to_wire,
)
from protocol.errors import ProtocolError, SignatureError, UnsupportedVersionError
from protocol.messages import (
    ErrorReply,
    SearchResponse,
    SignedEnvelope,
    SyncResponse,
    Withdrawal,
)
from protocol.versions import SCHEMA_MINOR
from protocol.wire import ARRAY_DTYPES, array_from_wire, array_to_wire, pack, unpack


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_message_type_round_trips(name: str) -> None:
    message = SAMPLES[name]()
    data = encode_message(message)
    decoded = decode_message(data)
    assert type(decoded) is type(message)
    assert decoded == message
    assert encode_message(decoded) == data


def test_decoded_spec_keeps_the_float32_rounded_values() -> None:
    spec = RKMETableSpec(n_points=5, random_state=0).fit(
        np.random.default_rng(0).normal(size=(60, 3)))
    ann = decode_message(encode_message(announcement(statistical=(spec,))))
    got = ann.statistical[0]
    np.testing.assert_array_equal(got.points_, spec.points_.astype(np.float32))
    assert got.gamma_ == spec.gamma_ and got.n_samples_ == spec.n_samples_
    assert got.space == spec.space


def test_image_spec_travels_with_its_params() -> None:
    from engine.specification import spec_from_dict
    from engine.specification.image import FEATURE_MAP, OUT_DIM, RKMEImageSpec

    spec = spec_from_dict({
        "type": "rkme_image", "format": 1, "space": f"image/{FEATURE_MAP}/c=3/d={OUT_DIM}",
        "gamma": 0.25, "n_samples": 40, "points": np.ones((2, OUT_DIM)) / 4,
        "weights": np.array([0.25, 0.75]),
        "params": {"n_points": 2, "refine_steps": 5, "channels": 3}})
    got = spec_from_wire(unpack(pack(spec_to_wire(spec)), max_bytes=1 << 20, what="spec"))
    assert isinstance(got, RKMEImageSpec) and got.space == spec.space
    assert got.channels_ == 3


def test_envelope_round_trips() -> None:
    env = signed_announcement()
    assert decode_envelope(encode_envelope(env)) == env


def test_expected_type_is_enforced() -> None:
    data = encode_message(withdrawal())
    assert decode_message(data, Withdrawal) == withdrawal()
    with pytest.raises(ProtocolError, match="expected error_reply, got withdrawal"):
        decode_message(data, ErrorReply)


# -- canonical form ---------------------------------------------------------------------------
def test_non_canonical_spellings_are_refused() -> None:
    good = encode_message(withdrawal())
    value = msgpack.unpackb(good)
    body = value["body"]
    unsorted = msgpack.packb({"version": value["version"], "type": value["type"], "body": body})
    wide_int = good.replace(b"\xa8sequence\x02", b"\xa8sequence\xd3" + (2).to_bytes(8, "big"))
    single = msgpack.packb({"body": {**body, "x": 1.5}, "type": "t", "version": [1, 0]},
                           use_single_float=True)
    for data in (unsorted, wide_int, single, good + b"\x00"):
        assert data != good
        with pytest.raises(ProtocolError):
            decode_message(data)
    assert decode_message(good) == withdrawal()


def test_checked_bytes_skip_only_the_canonical_comparison() -> None:
    """Bytes this node checked before (its store's rows): the canonical and normal
    forms are not compared again, the schema still is."""
    good = encode_message(withdrawal())
    value = msgpack.unpackb(good)
    unsorted = msgpack.packb({"version": value["version"], "type": value["type"],
                              "body": value["body"]})
    with pytest.raises(ProtocolError, match="canonical"):
        decode_message(unsorted)
    assert decode_message(unsorted, checked=True) == withdrawal()
    bad = msgpack.packb({**value, "body": {**value["body"], "sequence": 0}})
    with pytest.raises(ProtocolError, match="sequence"):
        decode_message(bad, checked=True)


def test_a_checked_spec_skips_only_the_id_and_canonical_checks() -> None:
    from protocol.codec import decode_spec, encode_spec
    from protocol.content import content_id

    data = encode_spec(fixed_spec())
    other = "sha256:" + "ab" * 32
    with pytest.raises(SignatureError):
        decode_spec(data, other)
    assert decode_spec(data, other, checked=True).space == fixed_spec().space
    broken = msgpack.packb({**msgpack.unpackb(data), "gamma": -1.0})
    with pytest.raises(ProtocolError):
        decode_spec(broken, content_id(broken), checked=True)


def test_duplicate_keys_are_refused() -> None:
    good = encode_message(ErrorReply("busy", "x"))
    # A fixmap of 4 entries with "type" twice: decodes as a 3-entry dict, re-encodes shorter.
    assert good[0] == 0x83
    dup = b"\x84" + good[1:] + b"\xa4type\xaberror_reply"
    with pytest.raises(ProtocolError, match="canonical"):
        decode_message(dup)


def test_semantic_spec_must_be_in_normal_form() -> None:
    ann = announcement()
    body = to_wire(ann)
    body["semantic"] = {**body["semantic"], "scenarios": ["retail", "business"]}
    with pytest.raises(ProtocolError, match="normal form"):
        decode_message(raw(ann, body))


def test_spec_array_must_be_float32() -> None:
    ann = announcement()
    body = to_wire(ann)
    spec = dict(body["statistical"][0])
    spec["points"] = array_to_wire(fixed_spec().points_, "float64", "points")
    body["statistical"] = [spec]
    with pytest.raises(ProtocolError, match=r"statistical\[0\]\.points\.dtype"):
        decode_message(raw(ann, body))


@pytest.mark.parametrize("bad", [
    {"dtype": "int64"},
    {"shape": [3]},
    {"shape": [3, 0]},
    {"data": b"\x00" * 7},
    {"data": np.full(6, np.nan, "<f4").tobytes()},
    {"extra": 1},
])
def test_array_defects_are_refused(bad: dict[str, object]) -> None:
    wire = {**array_to_wire(np.ones((3, 2)), "float32", "a"), **bad}
    with pytest.raises(ProtocolError, match="points"):
        array_from_wire(wire, "points", dtype="float32", ndim=2)


def test_array_dtypes_are_an_allowlist() -> None:
    assert set(ARRAY_DTYPES) == {"float32", "float64"}
    with pytest.raises(ProtocolError, match="dtype"):
        array_to_wire(np.ones(3), "int32", "a")


# -- versions ---------------------------------------------------------------------------------
def test_unknown_major_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"schema version 2\.0 is not supported"):
        decode_message(raw(withdrawal(), version=[2, 0]))


def test_newer_minor_may_add_fields() -> None:
    body = {**to_wire(withdrawal()), "reason": "superseded"}
    assert decode_message(raw(withdrawal(), body, version=[1, SCHEMA_MINOR + 1])) == withdrawal()
    with pytest.raises(ProtocolError, match="unknown field"):
        decode_message(raw(withdrawal(), body))


def test_unknown_message_type_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not a known message type"):
        decode_message(raw(withdrawal(), kind="gossip_v9"))


# -- field errors name the field ------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "pattern"), [
    ("owner", "lwn1short", "owner"),
    ("learnware_id", "sha256:XYZ", "learnware_id"),
    ("sequence", 0, "sequence"),
    ("sequence", True, "sequence"),
    ("created_at", -1, "created_at"),
    ("package_urls", ["ftp://x"], r"package_urls\[0\]"),
    ("package_urls", [], "package_urls"),
    ("statistical", [], "statistical"),
    ("statistical", [{"type": "rkme_table"}], r"statistical\[0\]"),
    ("semantic", {"name": 3}, "semantic"),
    ("organization", "", "organization"),
    ("package_size", 0, "package_size"),
])
def test_announcement_field_errors_name_the_field(field: str, value: object,
                                                   pattern: str) -> None:
    ann = announcement()
    with pytest.raises(ProtocolError, match=pattern):
        decode_message(raw(ann, {**to_wire(ann), field: value}))


def test_incomplete_semantic_spec_cannot_be_announced() -> None:
    from engine.specification import SemanticSpec

    with pytest.raises(ProtocolError, match=r"semantic.*missing required"):
        announcement(semantic=SemanticSpec(name="half"))


def test_hit_and_mixture_checks() -> None:
    resp = search_response()
    body = to_wire(resp)
    hit = body["hits"][0]
    for bad_hit, pattern in (({**hit, "score": 1.5}, "score"),
                             ({**hit, "mmd2": -0.5}, "mmd2"),
                             ({**hit, "mmd2": 1}, "mmd2"),
                             ({**hit, "announcement": {**hit["announcement"],
                                                       "public_key": b"k"}}, "public_key")):
        with pytest.raises(ProtocolError, match=pattern):
            decode_message(raw(resp, {**body, "hits": [bad_hit]}))
    mixture = {**body["mixture"], "weights": [0.5]}
    with pytest.raises(ProtocolError, match="weights"):
        decode_message(raw(resp, {**body, "mixture": mixture}))
    with pytest.raises(ProtocolError, match="not hits"):
        SearchResponse(resp.query_id, resp.responder, (), resp.mixture)
    with pytest.raises(ProtocolError, match="duplicate"):
        decode_message(raw(resp, {**body, "hits": [hit, hit]}))


def test_envelope_defects_in_a_response_are_signature_errors() -> None:
    resp = sync_response()
    body = to_wire(resp)
    body["records"] = [{**body["records"][0], "signature": b"\x00" * 63}]
    with pytest.raises(SignatureError, match=r"records\[0\]"):
        decode_message(raw(resp, body))


def test_search_request_requirement_may_be_semantic_only() -> None:
    req = search_request()
    from protocol.messages import Requirement, SearchRequest

    semantic_only = SearchRequest(req.query_id, Requirement(req.requirement.semantic), 3, 0, 0,
                                  (), 100)
    assert decode_message(encode_message(semantic_only)) == semantic_only
    assert decode_message(encode_message(semantic_only)) != req


# -- paging -------------------------------------------------------------------------------
def test_fit_prefix_pages_a_sync_response_to_the_byte_limit() -> None:
    env = signed_announcement()
    size = len(encode_envelope(env))
    records = [env] * 50
    limit = 10 * size + 20
    n = fit_prefix(lambda page: SyncResponse(page, b"c" * 8), records, max_bytes=limit)
    assert n == 9 or n == 10
    assert len(encode_message(SyncResponse(tuple(records[:n]), b"c" * 8))) <= limit
    assert len(encode_message(SyncResponse(tuple(records[:n + 1]), b"c" * 8))) > limit
    assert fit_prefix(lambda page: SyncResponse(page), records) == 50


def test_envelope_overhead_constant_is_exact() -> None:
    big = SignedEnvelope(b"\x01" * limits.MAX_SIGNED_PAYLOAD_BYTES, OWNER.public_key,
                         b"\x00" * 64)
    assert len(encode_envelope(big)) == limits.MAX_ENVELOPE_BYTES
    assert OTHER.public_key != OWNER.public_key


# -- float32 on the wire: measured effect on MMD^2 ----------------------------------------
def test_float32_wire_changes_mmd2_by_less_than_1e_6_relative() -> None:
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(load_wine().data)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    a = RKMETableSpec(n_points=20, random_state=0).fit(x[idx[:89]])
    b = RKMETableSpec(n_points=20, random_state=1).fit(x[idx[89:]] + 0.3)
    a32, b32 = (spec_from_wire(spec_to_wire(s)) for s in (a, b))
    exact = mmd2(a, b)
    assert abs(mmd2(a32, b32) - exact) <= 1e-6 * exact
    assert mmd2(a, a32) < 1e-12


def test_protocol_imports_no_node_network_or_torch_code() -> None:
    import subprocess
    import sys

    code = ("import sys, protocol.codec, protocol.signing, protocol.sync, protocol.framing; "
            "print(sorted(m for m in ('lwnode', 'aiohttp', 'libp2p', 'trio', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
