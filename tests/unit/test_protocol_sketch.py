"""The sketch's wire form: golden bytes, round trips, and refusal of hostile input.

A deliberate change of the sketch map's wire form needs a new sketch version (see
docs/protocol.md, section 4.3) and a new golden vector here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.search.sketch import Sketch, make_sketch
from engine.specification import spec_from_dict
from protocol import limits
from protocol.errors import ProtocolError
from protocol.sketch import decode_sketch, encode_sketch, sketch_from_wire, sketch_to_wire
from protocol.wire import pack

_CODES = np.array([-127, -90, -53, 127, 21, 58, 95, -123, -86, -49, -12, 25, 62, 99, -119, -82],
                  dtype=np.int8)
SAMPLE = Sketch(1, "table/d=3", 0.25, "int8", math.sqrt(2 / 16) / 127 / 2, _CODES.tobytes())
GOLDEN = ("86a5636f646573c41081a6cb7f153a5f85aacff4193e6389aea56474797065a4696e7438a567616d6d"
          "61cb3fd0000000000000a57363616c65cb3f56ce3adc37ab23a57370616365a97461626c652f643d33"
          "a776657273696f6e01")


def test_golden_bytes() -> None:
    assert encode_sketch(SAMPLE).hex() == GOLDEN
    assert decode_sketch(bytes.fromhex(GOLDEN)) == SAMPLE


@pytest.mark.parametrize("dtype", ["int8", "float16"])
@pytest.mark.parametrize("n_features", [16, 256, 1024])
def test_round_trip_of_real_sketches(dtype: str, n_features: int) -> None:
    rng = np.random.default_rng(n_features)
    spec = spec_from_dict({"type": "rkme_table", "format": 1, "space": "table/d=7",
                           "gamma": 0.125, "n_samples": 100, "points": rng.normal(size=(40, 7)),
                           "weights": rng.dirichlet(np.ones(40)), "params": {}})
    sketch = make_sketch(spec, n_features=n_features, dtype=dtype)
    data = encode_sketch(sketch)
    assert len(data) <= limits.MAX_SKETCH_BYTES
    assert decode_sketch(data) == sketch
    assert sketch_from_wire(sketch_to_wire(sketch)) == sketch


def _wire(**change: Any) -> dict[str, Any]:
    return {**sketch_to_wire(SAMPLE), **change}


@pytest.mark.parametrize("value,message", [
    (_wire(version=2), "version"),
    (_wire(dtype="float32"), "dtype"),
    (_wire(codes=b"\x00" * 15), "codes"),
    (_wire(codes="abc"), "codes"),
    (_wire(gamma=float("inf")), "gamma"),
    (_wire(gamma=1), "gamma"),
    (_wire(gamma=1e308), "gamma"),  # finite, but its random features overflow
    (_wire(extra=1), "unknown field"),
    ({k: v for k, v in _wire().items() if k != "space"}, "missing field space"),
    (_wire(dtype="float16", codes=b"\x00\x7e" * 8, scale=1.0), "codes"),  # NaN
    ([1, 2], "expected a map"),
])
def test_bad_maps_are_refused(value: object, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        sketch_from_wire(value)


def test_bad_bytes_are_refused() -> None:
    good = encode_sketch(SAMPLE)
    for data in (b"", good[:-1], good + b"\x00", b"\xc1", b"x" * (limits.MAX_SKETCH_BYTES + 1),
                 pack({**_wire(), "space": "t" * 3000})):
        with pytest.raises(ProtocolError):
            decode_sketch(data)
    with pytest.raises(ProtocolError):
        decode_sketch("not bytes")


PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        sketch = decode_sketch(data)
    except ProtocolError:
        return
    assert encode_sketch(sketch) == data


@PROPERTY
@given(key=st.sampled_from(sorted(_wire())),
       value=st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1)
       | st.floats() | st.text(max_size=40) | st.binary(max_size=2100))
def test_one_field_replaced_raises_only_protocol_errors(key: str, value: object) -> None:
    try:
        sketch = sketch_from_wire(_wire(**{key: value}))
    except ProtocolError:
        return
    assert sketch_to_wire(sketch)[key] == value
