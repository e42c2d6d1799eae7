"""The statistical spec inside a package: JSON for scalars, ``.npz`` for arrays.

`RKMESpec.to_dict()` gives plain values and numpy arrays. Arrays go into a
deterministic zip of ``.npy`` members (a valid ``.npz``) and are replaced in the
JSON by ``{"__ndarray__": "a0"}``; reading uses ``allow_pickle=False``, so neither
file can carry code. The npz is validated with the same hostile-input reader as
the package itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.errors import PackageError, SpecError
from engine.package.archive import read_archive, write_archive
from engine.package.limits import PackageLimits
from engine.specification import spec_from_dict
from engine.specification.rkme import RKMESpec

ARRAY_KEY = "__ndarray__"
MAX_JSON_DEPTH = 32


def spec_to_files(spec: RKMESpec) -> tuple[bytes, bytes]:
    """``(json_bytes, npz_bytes)`` for a fitted spec; deterministic."""
    arrays: dict[str, bytes] = {}

    def encode(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise PackageError("statistical spec: object arrays cannot be stored")
            name = f"a{len(arrays)}"
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(value), allow_pickle=False)
            arrays[f"{name}.npy"] = buf.getvalue()
            return {ARRAY_KEY: name}
        if isinstance(value, Mapping):
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [encode(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    meta = json.dumps(encode(spec.to_dict()), sort_keys=True, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")
    return meta, write_archive(arrays)


def _depth_ok(value: Any, depth: int = 0) -> bool:
    if depth > MAX_JSON_DEPTH:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth_ok(v, depth + 1) for v in value)
    return True


def spec_from_files(meta: bytes, npz: bytes, limits: PackageLimits | None = None,
                    *, meta_name: str = "spec/statistical.json",
                    npz_name: str = "spec/statistical.npz") -> RKMESpec:
    """Rebuild a spec from its two files; any problem is a `PackageError` naming the file."""
    limits = limits or PackageLimits()
    if len(meta) > limits.max_manifest_bytes:
        raise PackageError(f"{meta_name}: {len(meta)} bytes, more than "
                           f"{limits.max_manifest_bytes}")
    try:
        data = json.loads(meta.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PackageError(f"{meta_name}: not valid JSON ({exc})") from None
    if not _depth_ok(data):
        raise PackageError(f"{meta_name}: nested deeper than {MAX_JSON_DEPTH}")
    members = read_archive(npz, limits, what=npz_name)
    arrays: dict[str, np.ndarray] = {}
    for name, body in members.items():
        if not name.endswith(".npy") or "/" in name:
            raise PackageError(f"{npz_name}: unexpected member {name!r}")
        try:
            arrays[name[:-4]] = np.load(io.BytesIO(body), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise PackageError(f"{npz_name}: member {name!r} is not a plain .npy array "
                               f"({exc})") from None
    used: set[str] = set()

    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {ARRAY_KEY}:
                ref = value[ARRAY_KEY]
                if not isinstance(ref, str) or ref not in arrays:
                    raise PackageError(f"{meta_name}: reference to missing array {ref!r}")
                used.add(ref)
                return arrays[ref]
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    decoded = decode(data)
    if set(arrays) - used:
        raise PackageError(f"{npz_name}: unreferenced array(s) {sorted(set(arrays) - used)}")
    try:
        return spec_from_dict(decoded)
    except SpecError as exc:
        raise PackageError(f"{meta_name}: {exc}") from None
