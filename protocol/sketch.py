"""The wire form of a spec sketch (`engine.search.sketch.Sketch`).

A sketch travels as the canonical msgpack map

    {"codes": bin, "dtype": str, "gamma": float, "scale": float, "space": str,
     "version": int}

(docs/protocol.md, section 4.3). `sketch_to_wire` / `sketch_from_wire` convert the
map inside a message body; `encode_sketch` / `decode_sketch` the standalone bytes
(for a cache, or a field that carries the sketch as its own bytes). Decoding checks
the bounded size, every key, the dtype, the number of codes, finite values, the one
canonical int8 encoding and the sketch version, and raises only `ProtocolError`.
The sketch version is the engine's family of feature maps and quantisation, separate
from the schema version of the messages that carry it.
"""

from __future__ import annotations

from typing import Any

from engine.errors import SpecError
from engine.search.sketch import Sketch
from protocol import limits
from protocol.errors import ProtocolError
from protocol.validate import MapReader
from protocol.wire import pack, unpack

SKETCH_WIRE_KEYS = ("codes", "dtype", "gamma", "scale", "space", "version")


def sketch_to_wire(sketch: Sketch, where: str = "sketch") -> dict[str, Any]:
    """The wire map of a sketch."""
    if not isinstance(sketch, Sketch):
        raise ProtocolError(f"{where}: expected a Sketch, got {type(sketch).__name__}")
    return {"codes": sketch.codes, "dtype": sketch.dtype, "gamma": sketch.gamma,
            "scale": sketch.scale, "space": sketch.space, "version": sketch.version}


def sketch_from_wire(value: object, where: str = "sketch") -> Sketch:
    """Rebuild a sketch from its wire map; any defect is a `ProtocolError`.

    Unknown keys are refused whatever the enclosing message's minor: a new key
    would change what the codes mean, which is a new sketch version, not a field.
    """
    r = MapReader(value, where)
    fields = {key: r.take(key) for key in SKETCH_WIRE_KEYS}
    r.done()
    try:
        return Sketch(**fields)
    except SpecError as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def encode_sketch(sketch: Sketch) -> bytes:
    """Canonical bytes of a sketch's wire map."""
    data = pack(sketch_to_wire(sketch))
    if len(data) > limits.MAX_SKETCH_BYTES:
        raise ProtocolError(f"sketch: encodes to {len(data)} bytes, at most "
                            f"{limits.MAX_SKETCH_BYTES} allowed")
    return data


def decode_sketch(data: object) -> Sketch:
    """Decode and validate a sketch from untrusted bytes (at most `MAX_SKETCH_BYTES`)."""
    value = unpack(data, max_bytes=limits.MAX_SKETCH_BYTES, what="sketch")
    return sketch_from_wire(value)
