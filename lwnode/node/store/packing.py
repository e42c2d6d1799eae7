"""Records as the store keeps them: envelopes deflated, content ids as digests.

A node keeps every peer's signed record byte for byte (it re-gossips it and answers
anti-entropy with it), and at a million known learnwares those bytes are most of its
disk. An envelope is msgpack: the same keys and words in every record, content ids
in hex, the sketch's codes. Raw deflate with a preset dictionary of the keys and
words (`DICTIONARY`) takes a ~1,145-byte signed summary to ~660 bytes
(`benchmarks.disk_bytes`); the codes do not shrink, the hex ids halve.

Stored form: ``PACKED`` (0xC1, the one byte msgpack never uses, so no envelope starts
with it), a dictionary version byte, then the deflated envelope. Anything else is an
envelope kept as it is (schema 3 and earlier, or one that deflating would not make
smaller). `unpack` gives back exactly the bytes `pack` was given.

Learnware ids are kept as their 32 digest bytes (`stored_id`), not 71 characters of
text, in the records' row and key and in own learnwares' (78 bytes a record); text
that is not a content id is kept as it is (SQLite tells a BLOB from TEXT, so
`id_of` cannot mistake one for the other). Digests sort as their lowercase hex does,
so listings in id order are unchanged.
"""

from __future__ import annotations

import zlib

import msgpack

from lwnode.errors import StoreError
from protocol.content import CONTENT_ID_PREFIX, digest_of
from protocol.errors import ProtocolError

PACKED = 0xC1
VERSION = 1

_SUMMARY_SKELETON = {
    "body": {
        "created_at": 0, "learnware_id": "sha256:", "organization": "", "owner": "lwn1",
        "package_size": 10000,
        "package_urls": ["https://", "http://:8470/v1/learnwares/sha256:/package"],
        "semantic": {
            "data_type": "table", "description": "", "format": 1,
            "input": {"dimension": 10, "features": [
                {"description": "", "kind": "numeric", "name": "", "unit": ""}]},
            "library": "scikit_learn", "license": "apache_2.0", "name": "",
            "output": {"descriptions": [], "dimension": 1, "labels": []},
            "scenarios": [], "task_type": "classification"},
        "sequence": 1,
        "specs": [{"id": "sha256:", "points": 20,
                   "privacy": {"delta": None, "epsilon": None, "library": "lwdock",
                               "mechanism": "group-means", "min_rows_per_point": 5,
                               "version": "1"},
                   "sketch": {"codes": b"", "dtype": "int8", "gamma": 0.25, "scale": 0.001,
                              "space": "table/d=", "version": 1},
                   "type": "rkme_table"}]},
    "type": "spec_summary", "version": [1, 4]}
_WORDS = ["spec_announcement", "withdrawal", "regression", "pytorch", "text", "image",
          "rkme_text", "rkme_image", "gaussian-rff", "none", "mit", "other",
          "feature_extraction", "proprietary", "float16", "uint8", "text/384", "image/"]

DICTIONARY = (msgpack.packb(_WORDS) + msgpack.packb(_SUMMARY_SKELETON)
              + msgpack.packb({"payload": b"", "public_key": b"", "signature": b""}))
"""Version 1's preset dictionary (848 bytes; its sha256 is pinned by a test: stored
envelopes need it, so a change is a new `VERSION`, the old one kept for reading)."""


def pack(envelope: bytes) -> bytes:
    """The stored form of `envelope` (deflated, or as it is if that is not smaller)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=DICTIONARY)
    packed = bytes((PACKED, VERSION)) + packer.compress(envelope) + packer.flush()
    return packed if len(packed) < len(envelope) else bytes(envelope)


def unpack(stored: bytes) -> bytes:
    """The envelope `pack` stored as `stored`."""
    if not stored or stored[0] != PACKED:
        return bytes(stored)
    if len(stored) < 2 or stored[1] != VERSION:
        raise StoreError(f"a stored envelope packed with dictionary version "
                         f"{stored[1] if len(stored) > 1 else '?'}; this lwnode reads "
                         f"{VERSION}")
    unpacker = zlib.decompressobj(-15, zdict=DICTIONARY)
    try:
        return unpacker.decompress(stored[2:]) + unpacker.flush()
    except zlib.error as exc:
        raise StoreError(f"a stored envelope does not inflate: {exc}") from None


def stored_id(learnware_id: str) -> bytes | str:
    """A learnware id as the store keeps it: a content id's digest, else the text."""
    try:
        return digest_of(learnware_id)
    except ProtocolError:
        return learnware_id


def id_of(stored: bytes | str) -> str:
    """The learnware id `stored_id` kept as `stored`."""
    return CONTENT_ID_PREFIX + stored.hex() if isinstance(stored, bytes) else stored
