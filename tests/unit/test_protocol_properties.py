"""Property tests: hostile input into every decoder raises only `ProtocolError`.

Three sources of input: arbitrary bytes, arbitrary msgpack structures, and valid
messages with one part replaced, deleted or added (including signed payloads that
are re-signed, so verification reaches the payload decoder). Whatever a decoder
accepts must re-encode to the same bytes.

A few hundred examples run by default; ``pytest -m exhaustive`` runs >= 10,000.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol_samples import OWNER, SAMPLES, raw

from protocol.codec import (
    decode_envelope,
    decode_message,
    encode_envelope,
    encode_message,
    spec_from_wire,
)
from protocol.content import check_content_id
from protocol.errors import ProtocolError
from protocol.framing import frame_length
from protocol.messages import MESSAGE_TYPES, SignedEnvelope
from protocol.node_id import check_node_id
from protocol.signing import ENVELOPE_CONTEXT, verify
from protocol.sketch import decode_sketch, encode_sketch, sketch_from_wire
from protocol.sync import read_cursor
from protocol.versions import SCHEMA_VERSION, check_protocol_id
from protocol.wire import pack, unpack

DEFAULT = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EXHAUSTIVE = settings(DEFAULT, max_examples=10_000)

BYTE_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "decode_message": decode_message,
    **{f"decode_message[{name}]": partial(decode_message, expected=cls)
       for name, cls in MESSAGE_TYPES.items()},
    "decode_envelope": decode_envelope,
    "verify": verify,
    "read_cursor": read_cursor,
    "frame_length": frame_length,
    "decode_sketch": decode_sketch,
}
VALUE_DECODERS: dict[str, Callable[[Any], Any]] = {
    "spec_from_wire": spec_from_wire,
    "check_protocol_id": check_protocol_id,
    "check_content_id": check_content_id,
    "check_node_id": check_node_id,
    "sketch_from_wire": sketch_from_wire,
}


def feed(data: bytes) -> None:
    """Every byte decoder refuses with ProtocolError or accepts what re-encodes exactly."""
    for name, decode in BYTE_DECODERS.items():
        try:
            result = decode(data)
        except ProtocolError:
            continue
        if name.startswith("decode_message"):
            version = unpack(data, max_bytes=1 << 20, what="t")["version"]
            if version == list(SCHEMA_VERSION):  # a newer minor keeps only known fields
                assert encode_message(result) == data, name
        elif name == "decode_envelope":
            assert encode_envelope(result) == data
        elif name == "decode_sketch":
            assert encode_sketch(result) == data


def feed_value(value: Any) -> None:
    for decode in VALUE_DECODERS.values():
        try:
            decode(value)
        except ProtocolError:
            pass


# -- strategies ------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
           | st.binary(max_size=80))
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=30)

VALID_TREES = [unpack(encode_message(build()), max_bytes=1 << 20, what="t")
               for build in SAMPLES.values()]


def _collect_keys(tree: Any, out: set[str]) -> set[str]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.add(k)
            _collect_keys(v, out)
    elif isinstance(tree, list):
        for v in tree:
            _collect_keys(v, out)
    return out


KNOWN_KEYS = sorted(set().union(*(_collect_keys(t, set()) for t in VALID_TREES)))


@st.composite
def mutated(draw: st.DrawFn, tree: Any) -> Any:
    """`tree` with one node replaced, removed or added somewhere along a random path."""
    if isinstance(tree, dict) and tree and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(tree)))
        action = draw(st.sampled_from(["descend", "descend", "delete", "add"]))
        if action == "descend":
            return {**tree, key: draw(mutated(tree[key]))}
        if action == "delete":
            return {k: v for k, v in tree.items() if k != key}
        return {**tree, draw(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)): draw(trees)}
    if isinstance(tree, list) and tree and draw(st.integers(0, 3)):
        i = draw(st.integers(0, len(tree) - 1))
        action = draw(st.sampled_from(["descend", "descend", "delete", "repeat"]))
        if action == "descend":
            return [*tree[:i], draw(mutated(tree[i])), *tree[i + 1:]]
        if action == "delete":
            return tree[:i] + tree[i + 1:]
        return [*tree, tree[i]]
    return draw(trees | scalars | st.sampled_from(KNOWN_KEYS))


def encode_any(tree: Any) -> bytes:
    try:
        return pack(tree)
    except ProtocolError:  # deeper or bigger than the canonical packer allows
        return msgpack.packb(tree, use_bin_type=True)


def sign_raw(payload: bytes) -> bytes:
    return encode_envelope(SignedEnvelope(payload or b"\x00", OWNER.public_key,
                                          OWNER.sign_detached(payload or b"\x00",
                                                              ENVELOPE_CONTEXT)))


# -- properties ------------------------------------------------------------------------------
def check_bytes(data: bytes) -> None:
    feed(data)


def check_structure(tree: Any, single_float: bool) -> None:
    try:
        data = msgpack.packb(tree, use_bin_type=True, use_single_float=single_float)
    except OverflowError:  # a float beyond float32 range
        data = msgpack.packb(tree, use_bin_type=True)
    feed(data)
    feed_value(tree)


def check_mutation(data: st.DataObject) -> None:
    tree = data.draw(st.sampled_from(VALID_TREES))
    bad = encode_any(data.draw(mutated(tree)))
    feed(bad)
    feed(sign_raw(bad))
    body = tree["body"]
    for spec in body.get("statistical", []):
        feed_value(data.draw(mutated(spec)))


@DEFAULT
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    check_bytes(data)


@DEFAULT
@given(trees, st.booleans())
def test_arbitrary_msgpack_structures(tree: Any, single_float: bool) -> None:
    check_structure(tree, single_float)


@DEFAULT
@given(st.data())
def test_mutated_valid_messages(data: st.DataObject) -> None:
    check_mutation(data)


@pytest.mark.exhaustive
@pytest.mark.timeout(3600)
@EXHAUSTIVE
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_exhaustive(data: bytes) -> None:
    check_bytes(data)


@pytest.mark.exhaustive
@pytest.mark.timeout(3600)
@EXHAUSTIVE
@given(trees, st.booleans())
def test_arbitrary_msgpack_structures_exhaustive(tree: Any, single_float: bool) -> None:
    check_structure(tree, single_float)


@pytest.mark.exhaustive
@pytest.mark.timeout(3600)
@EXHAUSTIVE
@given(st.data())
def test_mutated_valid_messages_exhaustive(data: st.DataObject) -> None:
    check_mutation(data)


def test_valid_samples_pass_every_decoder_that_accepts_them() -> None:
    for build in SAMPLES.values():
        data = encode_message(build())
        feed(data)
        assert decode_message(data) == build()
        assert raw(build()) == data
