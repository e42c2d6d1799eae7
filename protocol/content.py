"""Content ids: ``sha256:<64 lowercase hex>`` of exact bytes.

A learnware's id is the content id of its package archive, so anyone holding the
bytes can check them against the id without trusting where they came from. Files
and downloads are hashed in chunks (`ContentHasher`, `file_content_id`) so a large
package is never held in memory.
"""

from __future__ import annotations

import hashlib
import os
import re

from protocol.errors import ProtocolError

CONTENT_ID_PREFIX = "sha256:"
CONTENT_ID_CHARS = len(CONTENT_ID_PREFIX) + 64
DEFAULT_CHUNK_BYTES = 1 << 20
_CONTENT_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")


def content_id(data: bytes | bytearray | memoryview) -> str:
    """The content id of `data`."""
    return CONTENT_ID_PREFIX + hashlib.sha256(data).hexdigest()


def check_content_id(value: object, where: str = "content id") -> str:
    """Return `value` if it is a well-formed content id, else raise `ProtocolError`."""
    if not isinstance(value, str) or _CONTENT_ID_RE.fullmatch(value) is None:
        shown = repr(value) if len(repr(value)) <= 90 else repr(value)[:87] + "..."
        raise ProtocolError(f"{where}: {shown} is not 'sha256:' + 64 lowercase hex digits")
    return value


def digest_of(value: object, where: str = "content id") -> bytes:
    """The 32 raw digest bytes of a content id."""
    return bytes.fromhex(check_content_id(value, where)[len(CONTENT_ID_PREFIX):])


class ContentHasher:
    """Incremental content id of a byte stream (e.g. a package being downloaded).

    >>> h = ContentHasher(); h.update(b"ab"); h.update(b"c")
    >>> h.content_id() == content_id(b"abc"), h.size
    (True, 3)
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def content_id(self) -> str:
        return CONTENT_ID_PREFIX + self._hash.hexdigest()

    def matches(self, expected: str) -> bool:
        """True if the bytes so far have content id `expected` (which must be well formed)."""
        return self.content_id() == check_content_id(expected, "expected")


def file_content_id(path: str | os.PathLike[str], *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                    ) -> str:
    """Content id of a file, read in chunks of `chunk_bytes`."""
    if chunk_bytes < 1:
        raise ProtocolError(f"chunk_bytes: expected >= 1, got {chunk_bytes}")
    hasher = ContentHasher()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            hasher.update(chunk)
    return hasher.content_id()
