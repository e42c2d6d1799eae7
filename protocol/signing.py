"""Node identity (Ed25519 keys, node ids) and signed envelopes.

Signing. An owner signs the canonical bytes of a record (`SpecAnnouncement`,
`SpecSummary` or `Withdrawal`: `RECORD_TYPES`) prefixed by a context string::

    signature = Ed25519_sign(key, ENVELOPE_CONTEXT + payload)

The context keeps a signature made for one purpose from being accepted for another
(`sign_detached` takes its own context for other uses, e.g. package manifests).

Verifying (`verify`) checks, in order: the envelope's shape, the signature over
the payload, that the payload is a valid signed record, and that the record's
`owner` is the node id of the signing key, so nobody can sign in another node's
name. Which owners to trust (pinned keys, trust on first use) is the node's policy.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.codec import decode_envelope, decode_message, encode_message
from protocol.errors import KeyFileError, ProtocolError, SignatureError
from protocol.messages import (
    RECORD_TYPES,
    Record,
    SearchHit,
    SignedEnvelope,
    SpecAnnouncement,
    SpecSummary,
)
from protocol.node_id import check_node_id, node_id_from_public_key

__all__ = [
    "ENVELOPE_CONTEXT",
    "Identity",
    "check_node_id",
    "node_id_from_public_key",
    "sign_detached",
    "verify",
    "verify_detached",
    "verify_hit",
]

ENVELOPE_CONTEXT = b"lwdock/envelope/1\x00"
"""Prefix of every signed envelope payload before signing."""

MAX_KEY_FILE_BYTES = 4096
SEED_BYTES = 32


class Identity:
    """A node's Ed25519 key pair and the node id derived from it.

    ``Identity.generate()`` for a new node, ``Identity.load(path)`` at start-up,
    ``identity.sign(record)`` to publish.
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyFileError(f"expected an Ed25519 private key, got "
                               f"{type(private_key).__name__}")
        self._key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.node_id: str = node_id_from_public_key(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        """A new random identity."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """The identity of a 32-byte seed (deterministic: for tests and test vectors)."""
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise KeyFileError(f"seed: expected {SEED_BYTES} bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the private key as unencrypted PKCS#8 PEM with file mode 0600.

        The file is created with mode 0600 from the start (never world-readable for a
        moment); with `overwrite`, a temporary file replaces the old one atomically.
        """
        pem = self._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp") if overwrite else target
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        if overwrite and tmp.exists():
            tmp.unlink()
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, pem)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        """Read a key written by `save`; refuse a file that others can read.

        Raises `KeyFileError` for a group- or world-accessible file, an encrypted or
        malformed PEM, or a key that is not Ed25519. A missing file raises
        `FileNotFoundError`.
        """
        p = Path(path)
        mode = p.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{p}: mode {stat.S_IMODE(mode):04o} lets others read the "
                               f"node key; run: chmod 600 {p}")
        data = p.read_bytes()
        if len(data) > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"{p}: {len(data)} bytes is not a key file")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{p}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{p}: a {type(key).__name__}, expected an Ed25519 key")
        return cls(key)

    def sign(self, record: Record) -> SignedEnvelope:
        """Sign a record of this node (its `owner` must be this node's id)."""
        if not isinstance(record, RECORD_TYPES):
            raise ProtocolError(f"only {', '.join(c.TYPE for c in RECORD_TYPES)} are signed, "
                                f"got {type(record).__name__}")
        if record.owner != self.node_id:
            raise ProtocolError(f"{record.TYPE}.owner: {record.owner} is not this node "
                                f"({self.node_id})")
        payload = encode_message(record)
        return SignedEnvelope(payload, self.public_key,
                              self._key.sign(ENVELOPE_CONTEXT + payload))

    def sign_detached(self, data: bytes, context: bytes) -> bytes:
        """A 64-byte signature of `context + data` (for anything that is not a record)."""
        return sign_detached(self._key, data, context)

    def __repr__(self) -> str:
        return f"Identity({self.node_id})"


def sign_detached(key: Ed25519PrivateKey, data: bytes, context: bytes) -> bytes:
    """Signature of ``context + data``; the context must be non-empty and end in NUL."""
    _check_context(context)
    return key.sign(context + data)


def verify_detached(public_key: bytes, data: bytes, signature: bytes, context: bytes) -> None:
    """Raise `SignatureError` unless `signature` is `public_key`'s over ``context + data``."""
    _check_context(context)
    _check_signature(public_key, context + data, signature)


def _check_context(context: bytes) -> None:
    if not isinstance(context, bytes) or not context.endswith(b"\x00") or len(context) < 2:
        raise ProtocolError("context: expected non-empty bytes ending in b'\\x00'")


def _check_signature(public_key: bytes, signed: bytes, signature: bytes) -> None:
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(signature, signed)
    except InvalidSignature:
        raise SignatureError("signature does not match the payload and public key") from None
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"unusable public key or signature ({exc})") from None


def verify(envelope: SignedEnvelope | bytes, expected: type[Any] | tuple[type[Any], ...] =
           RECORD_TYPES) -> Any:
    """Check a signed envelope and return its record.

    Parameters
    ----------
    envelope
        A `SignedEnvelope`, or its bytes as received (e.g. from the announce topic).
    expected
        The record class(es) accepted (default `RECORD_TYPES`: announcements, summaries
        and withdrawals; `SIGNED_TYPES` for what a 1.2 node accepts).

    Returns
    -------
    SpecAnnouncement, SpecSummary or Withdrawal
        The record, whose `owner` is proven to hold the signing key.

    Raises
    ------
    SignatureError
        Malformed envelope, bad signature, or a record whose owner is not the signer.
    ProtocolError
        A correctly signed payload that is not a valid record of an expected type
        (`UnsupportedVersionError` for an unknown major version).
    """
    env = envelope if isinstance(envelope, SignedEnvelope) else decode_envelope(envelope)
    _check_signature(env.public_key, ENVELOPE_CONTEXT + env.payload, env.signature)
    record = decode_message(env.payload, expected)
    signer = node_id_from_public_key(env.public_key)
    if getattr(record, "owner", None) != signer:
        raise SignatureError(f"{record.TYPE}.owner: {getattr(record, 'owner', None)} did not "
                             f"sign it (signer {signer})")
    return record


def verify_hit(hit: SearchHit) -> SpecAnnouncement | SpecSummary:
    """Verify a search hit's signed record and that the hit's fields agree with it.

    The hit's `announcement` envelope holds the owner's `SpecAnnouncement` or, since
    1.3, its `SpecSummary` (a 1.3 node answers a 1.2 asker with announcements only:
    `protocol.versions.reads_summaries`). Returns that record; raises
    `SignatureError` if the signature fails or the hit misstates the id, owner or
    size, or maps onto columns the record's semantic spec does not name.
    """
    if not isinstance(hit, SearchHit):
        raise ProtocolError(f"expected a SearchHit, got {type(hit).__name__}")
    ann: SpecAnnouncement | SpecSummary = verify(hit.announcement,
                                                 (SpecAnnouncement, SpecSummary))
    for name, claimed, signed in (("learnware_id", hit.learnware_id, ann.learnware_id),
                                  ("owner", hit.owner, ann.owner),
                                  ("size", hit.size, ann.package_size)):
        if claimed != signed:
            raise SignatureError(f"SearchHit.{name}: {claimed!r} differs from the signed "
                                 f"announcement ({signed!r})")
    if hit.mapping is not None:
        inp = ann.semantic.input
        named = tuple(f.name for f in inp.features) if inp is not None else ()
        if hit.mapping.learnware_columns != named:
            raise SignatureError("SearchHit.mapping: maps onto columns the signed "
                                 "announcement does not name")
    return ann
