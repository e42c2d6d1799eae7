"""A semantic feature's declared ``range`` on the wire (schema 1.4): accepted in
announcements, summaries and requirements, signed with them, bounded (two finite
numbers, low below high) and refused otherwise; newer minors' semantic keys dropped."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_protocol_samples import OWNER, announcement, raw, search_request, semantic

from engine.specification.semantic import Feature, InputSpec
from protocol.codec import decode_message, encode_message, to_wire
from protocol.errors import ProtocolError
from protocol.signing import verify
from protocol.summary import summary_of
from protocol.versions import SCHEMA_MAJOR, SCHEMA_MINOR

RANGED = dataclasses.replace(semantic(), input=InputSpec(2, (
    Feature("tenure", "months as a customer", "month", range=(0, 600)),
    Feature("spend", "monthly spend", "EUR", range=(0, 1e4)))))


def _with_range(value: Any, version: list[int] | None = None, key: str = "range") -> bytes:
    """The sample announcement's bytes with its first feature's `key` set to `value`."""
    message = announcement(semantic=RANGED)
    body = to_wire(message)
    body["semantic"]["input"]["features"][0][key] = value
    return raw(message, body, version=version)


def test_an_announcement_with_ranges_round_trips_signed_and_summarised():
    ann = announcement(semantic=RANGED)
    data = encode_message(ann)
    assert b"\xa5range\x92\xcb" in data  # [low, high] as two 64-bit floats, canonical
    assert decode_message(data) == ann
    assert verify(OWNER.sign(ann)) == ann
    summary = summary_of(ann)
    assert decode_message(encode_message(summary)).semantic.input.ranges == (
        (0.0, 600.0), (0.0, 10000.0))
    # without ranges the bytes are those of 1.3 but for the version: left out when unset
    assert b"range" not in encode_message(announcement())


def test_a_requirement_may_declare_ranges_too():
    request = search_request()
    req = dataclasses.replace(request.requirement, semantic=RANGED)
    request = dataclasses.replace(request, requirement=req)
    assert decode_message(encode_message(request)) == request


@pytest.mark.parametrize(("value", "words"), [
    ([600.0, 0.0], "low must be below high"),
    ([0.0], "expected [low, high], two numbers"),
    ([0.0, 1.0, 2.0], "expected [low, high], two numbers"),
    (["0", "600"], "expected [low, high], two numbers"),
    ([float("nan"), 1.0], "low and high must be finite numbers"),
    ([0.0, float("inf")], "low and high must be finite numbers"),
    ("0,600", "expected [low, high], two numbers"),
    ({"low": 0.0}, "expected [low, high], two numbers"),
])
def test_a_hostile_range_is_refused_naming_the_field(value, words):
    with pytest.raises(ProtocolError) as refused:
        decode_message(_with_range(value))
    message = str(refused.value)
    assert message.startswith("spec_announcement.body.semantic: input.features: column "
                              "'tenure': range")
    assert words in message


def test_integers_are_not_the_normal_form_of_a_range():
    with pytest.raises(ProtocolError, match="not in normal form"):
        decode_message(_with_range([0, 600]))


def test_a_newer_minor_may_add_keys_inside_a_semantic_spec():
    newer = [SCHEMA_MAJOR, SCHEMA_MINOR + 1]
    got = decode_message(_with_range("ordinal", version=newer, key="scale"))
    assert got.semantic == RANGED  # the unknown key dropped, the range kept
    with pytest.raises(ProtocolError, match=r"unknown field\(s\) scale"):
        decode_message(_with_range("ordinal", key="scale"))  # this node's own minor: strict
