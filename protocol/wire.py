"""The byte layer: canonical msgpack and numeric arrays.

Canonical encoding (what is signed and hashed): msgpack with

- map keys that are strings, sorted by their UTF-8 bytes, each key once;
- integers in the shortest msgpack form (positive values as unsigned);
- every float as a 64-bit float (``0xcb``); strings as ``str``, bytes as ``bin``,
  both in the shortest length form; no extension types.

`unpack` accepts exactly these bytes: it decodes with msgpack's own bounds, then
re-encodes and compares, so any second spelling of the same value (an unsorted or
duplicated key, a wide integer, a 32-bit float, trailing bytes) is refused. This is
why ``pack(unpack(b)) == b`` holds for every accepted input.

Numeric arrays travel as the map ``{"data": bin, "dtype": str, "shape": [int...]}``
with C-order little-endian data and a dtype from `ARRAY_DTYPES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np
from numpy.typing import NDArray

from protocol import limits
from protocol.errors import ProtocolError

ARRAY_DTYPES: dict[str, str] = {"float32": "<f4", "float64": "<f8"}
"""Allowlist: wire dtype name -> numpy little-endian dtype."""

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1


def _canonical(value: Any, depth: int) -> Any:
    """Check a value is encodable and return it with maps in canonical key order."""
    if depth > limits.MAX_DEPTH and isinstance(value, list | dict):
        raise ProtocolError(f"maps and arrays nested deeper than {limits.MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ProtocolError(f"integer {value} does not fit in 64 bits")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        if len(value) > limits.MAX_STRING_BYTES or len(value.encode("utf-8", "surrogatepass")
                                                       ) > limits.MAX_STRING_BYTES:
            raise ProtocolError(f"string longer than {limits.MAX_STRING_BYTES} bytes")
        return value
    if isinstance(value, bytes):
        if len(value) > limits.MAX_BINARY_BYTES:
            raise ProtocolError(f"binary value of {len(value)} bytes, at most "
                                f"{limits.MAX_BINARY_BYTES}")
        return value
    if isinstance(value, list):
        if len(value) > limits.MAX_LIST_ITEMS:
            raise ProtocolError(f"list of {len(value)} items, at most {limits.MAX_LIST_ITEMS}")
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if len(value) > limits.MAX_MAP_ITEMS:
            raise ProtocolError(f"map of {len(value)} entries, at most {limits.MAX_MAP_ITEMS}")
        if not all(isinstance(k, str) for k in value):
            raise ProtocolError("map keys must be strings")
        return {k: _canonical(value[k], depth + 1) for k in sorted(value)}
    raise ProtocolError(f"a value of type {type(value).__name__} cannot be encoded")


def pack(value: Any) -> bytes:
    """Canonical msgpack bytes of a tree of None/bool/int/float/str/bytes/list/dict."""
    tree = _canonical(value, 1)
    try:
        return msgpack.packb(tree, use_bin_type=True, use_single_float=False,
                             strict_types=True)
    except (ValueError, TypeError, OverflowError) as exc:  # lone surrogates in a str
        raise ProtocolError(f"cannot encode: {exc}") from None


def unpack(data: object, *, max_bytes: int, what: str, canonical: bool = True) -> Any:
    """Decode canonical msgpack bytes of at most `max_bytes`; hostile input is fine.

    Raises `ProtocolError` naming `what` for oversize, malformed, out-of-bounds or
    non-canonical input. `canonical=False` skips the last check (re-encoding the value
    and comparing): only for bytes this node checked before, e.g. its own store's.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ProtocolError(f"{what}: {len(data)} bytes, at most {max_bytes} allowed")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True, timestamp=0,
            max_str_len=limits.MAX_STRING_BYTES,
            max_bin_len=limits.MAX_BINARY_BYTES, max_array_len=limits.MAX_LIST_ITEMS,
            max_map_len=limits.MAX_MAP_ITEMS, max_ext_len=0)
    except (ValueError, msgpack.UnpackException) as exc:  # incl. UnicodeDecodeError
        raise ProtocolError(f"{what}: not valid msgpack within limits "
                            f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if not canonical:
        return value
    try:
        again = pack(value)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: {exc}") from None
    if again != data:
        raise ProtocolError(f"{what}: not in canonical encoding (sorted unique string keys, "
                            "shortest integers, 64-bit floats)")
    return value


def encoded_size(value: Any) -> int:
    """Bytes of `pack(value)`."""
    return len(pack(value))


# -- numeric arrays ------------------------------------------------------------------------
def array_to_wire(array: NDArray[Any] | Sequence[float], dtype: str, where: str) -> dict[str, Any]:
    """Wire map of a finite float array, cast to `dtype` (a key of `ARRAY_DTYPES`)."""
    if dtype not in ARRAY_DTYPES:
        raise ProtocolError(f"{where}: dtype {dtype!r} is not one of {sorted(ARRAY_DTYPES)}")
    arr = np.ascontiguousarray(np.asarray(array, dtype=np.float64).astype(ARRAY_DTYPES[dtype]))
    if arr.size > limits.MAX_ARRAY_ELEMENTS or arr.ndim > limits.MAX_ARRAY_NDIM:
        raise ProtocolError(f"{where}: array of shape {arr.shape}, at most "
                            f"{limits.MAX_ARRAY_ELEMENTS} elements in {limits.MAX_ARRAY_NDIM} "
                            "dimensions")
    if not np.isfinite(arr).all():
        raise ProtocolError(f"{where}: NaN or infinite values (or too large for {dtype})")
    return {"data": arr.tobytes(order="C"), "dtype": dtype, "shape": list(arr.shape)}


def array_from_wire(value: object, where: str, *, dtype: str, ndim: int) -> NDArray[np.float64]:
    """Read a wire array of the given dtype and number of dimensions as float64."""
    if not isinstance(value, dict) or set(value) != {"data", "dtype", "shape"}:
        raise ProtocolError(f"{where}: expected a map with keys data, dtype, shape")
    wire_dtype = value["dtype"]
    if not isinstance(wire_dtype, str) or wire_dtype not in ARRAY_DTYPES:
        raise ProtocolError(f"{where}.dtype: {wire_dtype!r:.40} is not one of "
                            f"{sorted(ARRAY_DTYPES)}")
    if wire_dtype != dtype:
        raise ProtocolError(f"{where}.dtype: expected {dtype!r}, got {wire_dtype!r}")
    shape = value["shape"]
    if (not isinstance(shape, list) or len(shape) != ndim
            or not all(type(n) is int and n >= 1 for n in shape)):
        raise ProtocolError(f"{where}.shape: expected {ndim} integer(s) >= 1, got {shape!r:.80}")
    count = 1
    for n in shape:
        count *= n
    if count > limits.MAX_ARRAY_ELEMENTS:
        raise ProtocolError(f"{where}.shape: {shape} has {count} elements, at most "
                            f"{limits.MAX_ARRAY_ELEMENTS}")
    data = value["data"]
    itemsize = np.dtype(ARRAY_DTYPES[dtype]).itemsize
    if not isinstance(data, bytes) or len(data) != count * itemsize:
        size = len(data) if isinstance(data, bytes) else type(data).__name__
        raise ProtocolError(f"{where}.data: expected {count * itemsize} bytes for shape "
                            f"{shape}, got {size}")
    arr = np.frombuffer(data, dtype=ARRAY_DTYPES[dtype]).reshape(shape).astype(np.float64)
    if not np.isfinite(arr).all():
        raise ProtocolError(f"{where}.data: NaN or infinite values")
    return arr
