"""`BlobDir`: package bytes on disk, named by their content id.

Layout under the root::

    tmp/<random>.part              uploads in progress (deleted at the next open)
    sha256/<2 hex>/<64 hex>        committed packages, read-only (0444)

A blob becomes visible only by `commit`: its bytes are hashed again from disk and
compared with the expected id, the file is fsynced, renamed into place, and the
directory is fsynced, so after `commit` returns the blob survives a crash or a
power cut, and a name under ``sha256/`` always holds exactly the bytes it names.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from lwnode.errors import StoreError

CHUNK_BYTES = 1 << 20
_PREFIX = "sha256:"


def _hex_of(content_id: str) -> str:
    if not content_id.startswith(_PREFIX) or len(content_id) != len(_PREFIX) + 64:
        raise StoreError(f"blob: {content_id!r} is not a content id")
    return content_id[len(_PREFIX):]


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Path) -> tuple[str, int]:
    """``(content id, size)`` of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
            size += len(chunk)
    return _PREFIX + h.hexdigest(), size


class BlobWriter:
    """An upload in progress: bytes go to a temporary file and into a running hash.

    Use as a context manager (or call `discard`) so an abandoned upload leaves
    nothing behind; `BlobDir.commit` takes it over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "xb")  # closed by close() or discard()
        self._hash = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def content_id(self) -> str:
        """Content id of the bytes written so far."""
        return _PREFIX + self._hash.hexdigest()

    def close(self) -> None:
        """Flush and fsync the file (it stays a temporary file until committed)."""
        if not self.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.closed = True

    def discard(self) -> None:
        """Drop the upload (idempotent)."""
        if not self.closed:
            self._file.close()
            self.closed = True
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class BlobDir:
    """Content-addressed package files under one root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.objects = self.root / "sha256"
        for d in (self.root, self.tmp, self.objects):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path_of(self, content_id: str) -> Path:
        hexd = _hex_of(content_id)
        return self.objects / hexd[:2] / hexd

    def exists(self, content_id: str) -> bool:
        return self.path_of(content_id).is_file()

    def writer(self) -> BlobWriter:
        """A new temporary file for an upload."""
        return BlobWriter(self.tmp / f"{secrets.token_hex(8)}.part")

    def commit(self, writer: BlobWriter, expected: str) -> Path:
        """Verify the written bytes against `expected` and make them visible.

        Raises `StoreError` (and discards the upload) if the bytes on disk do not
        have content id `expected`.
        """
        target = self.path_of(expected)
        writer.close()
        on_disk, size = hash_file(writer.path)
        if on_disk != expected or size != writer.size:
            writer.discard()
            raise StoreError(f"blob: the bytes on disk hash to {on_disk} ({size} bytes), "
                             f"expected {expected} ({writer.size} bytes)")
        target.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(writer.path, 0o444)
        os.replace(writer.path, target)
        fsync_dir(target.parent)
        return target

    def delete(self, content_id: str) -> None:
        path = self.path_of(content_id)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)

    def ids(self) -> Iterator[str]:
        """Content ids of every committed blob (by file name; see `verify`)."""
        for sub in sorted(self.objects.iterdir()):
            if not sub.is_dir():
                continue
            for f in sorted(sub.iterdir()):
                yield _PREFIX + f.name

    def temp_files(self) -> list[Path]:
        return sorted(self.tmp.iterdir())

    def stray_files(self) -> list[Path]:
        """Files under ``sha256/`` that are not well-named blobs."""
        out = []
        for sub in self.objects.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                out.append(sub)
                continue
            for f in sub.iterdir():
                if not (f.is_file() and len(f.name) == 64 and f.name.startswith(sub.name)
                        and all(c in "0123456789abcdef" for c in f.name)):
                    out.append(f)
        return sorted(out)

    def clear_temp(self) -> int:
        """Delete every leftover upload; returns how many."""
        files = self.temp_files()
        for f in files:
            f.unlink(missing_ok=True)
        if files:
            fsync_dir(self.tmp)
        return len(files)
