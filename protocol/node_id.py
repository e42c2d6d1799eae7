"""Node ids: a stable, printable name derived from a node's Ed25519 public key.

    node_id = "lwn1" + base32(sha256(b"lwdock-node-id/v1\\x00" + public_key)[:20]).lower()

`public_key` is the 32-byte raw Ed25519 key; base32 is RFC 4648 without padding, so
an id is always 36 characters of ``[a-z2-7]`` after the ``lwn1`` prefix (the ``1``
numbers the derivation). 160 bits keep forging an id by key search infeasible while
fitting in a file name or a log line. The libp2p peer id is a different thing (the
transport's identity); the node id names an organization's dock in this protocol.
"""

from __future__ import annotations

import base64
import hashlib
import re

from protocol.errors import ProtocolError

NODE_ID_PREFIX = "lwn1"
NODE_ID_CHARS = 36
_DOMAIN = b"lwdock-node-id/v1\x00"
_NODE_ID_RE = re.compile(r"lwn1[a-z2-7]{32}")
PUBLIC_KEY_BYTES = 32


def node_id_from_public_key(public_key: bytes) -> str:
    """The node id of a raw 32-byte Ed25519 public key."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise ProtocolError(f"public_key: expected {PUBLIC_KEY_BYTES} bytes")
    digest = hashlib.sha256(_DOMAIN + public_key).digest()[:20]
    return NODE_ID_PREFIX + base64.b32encode(digest).decode("ascii").lower()


def check_node_id(value: object, where: str = "node id") -> str:
    """Return `value` if it is a well-formed node id, else raise `ProtocolError`."""
    if not isinstance(value, str) or _NODE_ID_RE.fullmatch(value) is None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ProtocolError(f"{where}: {shown} is not a node id ('lwn1' + 32 characters "
                            "of a-z, 2-7)")
    return value
