"""Errors of the wire layer.

Every decoder in `protocol` raises only these (never `KeyError`, `TypeError`,
`IndexError` or a msgpack exception), so a node can wrap any peer input in one
``except ProtocolError``. They subclass `ValueError` because they are all caused by
bad input, and `LwdockError` so that one class catches every error of the project.
"""

from __future__ import annotations

from engine.errors import LwdockError


class ProtocolError(LwdockError, ValueError):
    """Bytes or a message that break the wire format; the text names the field."""


class UnsupportedVersionError(ProtocolError):
    """A message or protocol id of a major version this node does not speak."""


class SignatureError(ProtocolError):
    """A signed envelope that cannot be trusted: malformed, forged or mis-attributed."""


class KeyFileError(ProtocolError):
    """A node key file that is unreadable as an Ed25519 key, or readable by others."""
