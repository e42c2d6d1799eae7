"""Length-prefixed frames for request/response streams (`/lwdock/sync`, `/lwdock/search`).

A frame is a 4-byte big-endian unsigned length followed by that many bytes of one
encoded message. The reader checks the length against its cap *before* reading the
body, so a peer cannot make a node buffer more than `MAX_MESSAGE_BYTES`. I/O stays
with the caller (the peer layer's read loop); these functions only do the bytes.
"""

from __future__ import annotations

from protocol import limits
from protocol.errors import ProtocolError

FRAME_HEADER_BYTES = 4


def encode_frame(payload: bytes, max_bytes: int = limits.MAX_MESSAGE_BYTES) -> bytes:
    """Header plus payload; refuses an empty or oversize payload."""
    if not isinstance(payload, bytes | bytearray):
        raise ProtocolError(f"frame: expected bytes, got {type(payload).__name__}")
    if not 1 <= len(payload) <= max_bytes:
        raise ProtocolError(f"frame: {len(payload)} bytes, expected 1..{max_bytes}")
    return len(payload).to_bytes(FRAME_HEADER_BYTES, "big") + bytes(payload)


def frame_length(header: bytes, max_bytes: int = limits.MAX_MESSAGE_BYTES) -> int:
    """Body length announced by a 4-byte header; raises before anything is buffered."""
    if not isinstance(header, bytes | bytearray) or len(header) != FRAME_HEADER_BYTES:
        raise ProtocolError(f"frame header: expected {FRAME_HEADER_BYTES} bytes")
    length = int.from_bytes(header, "big")
    if not 1 <= length <= max_bytes:
        raise ProtocolError(f"frame header: body of {length} bytes, expected 1..{max_bytes}")
    return length
