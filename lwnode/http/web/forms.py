"""Reading the page's uploads: a bounded ``multipart/form-data`` body into a temp dir.

Every upload is hostile: the body is streamed (never held whole in memory), each
file is capped, the number of parts and the length of text fields are capped,
unknown field names are refused, and file names are reduced to a safe base name
with an allowed suffix. Files land in a fresh temporary directory that the caller
removes (`Form.close`); messages about a file name the user's file, never the
temp path (`Form.clean`).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from aiohttp import BodyPartReader, web

from lwnode.errors import BadRequest, TooLarge

MAX_PARTS = 16
MAX_FIELD_CHARS = 20_000
CHUNK_BYTES = 1 << 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
T = TypeVar("T")


@dataclass(frozen=True)
class FileField:
    """One file the form carried: where it is now and what the user called it."""

    name: str
    path: Path
    size: int


@dataclass
class Form:
    """Text fields and files of one upload, in `root` (a temp dir the form owns)."""

    root: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FileField] = field(default_factory=dict)

    def text(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default).strip()

    def clean(self, message: str) -> str:
        """`message` without this form's temp path (files are named as the user named them)."""
        for f in self.files.values():
            message = message.replace(str(f.path), f.name)
        return message.replace(str(self.root), "(upload)")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def safe_name(filename: str | None, suffixes: tuple[str, ...], what: str) -> str:
    """A base name safe to create, ending in one of `suffixes` (else `BadRequest`)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._")[-100:] or "upload"
    suffix = Path(base).suffix.lower()
    if suffix not in suffixes:
        raise BadRequest(f"{what}: unsupported file type {suffix or '(none)'!r} in "
                         f"{(filename or '')[:100]!r}; use {', '.join(suffixes)}")
    return base


async def read_form(request: web.Request, files: Mapping[str, tuple[tuple[str, ...], int]],
                    fields: tuple[str, ...], parent: Path | None = None) -> Form:
    """Stream a multipart body into a new `Form` (a new folder in `parent`).

    Parameters
    ----------
    files
        Allowed file fields: name -> (allowed suffixes, byte cap).
    fields
        Allowed text fields.
    """
    if not request.content_type.startswith("multipart/form-data"):
        raise BadRequest(f"body: expected multipart/form-data (a form with files), got "
                         f"{request.content_type or 'no content type'!r}"[:200])
    total_cap = sum(cap for _, cap in files.values()) + MAX_PARTS * MAX_FIELD_CHARS * 4
    if request.content_length is not None and request.content_length > total_cap:
        raise TooLarge(f"body: {request.content_length} bytes, at most {total_cap}")
    loop = asyncio.get_running_loop()
    root = Path(await loop.run_in_executor(
        None, lambda: tempfile.mkdtemp(prefix="form-", dir=parent)))
    form = Form(root)
    try:
        reader = await _parsed(request.multipart())
        for _ in range(MAX_PARTS + 1):
            part = await _parsed(reader.next())
            if part is None:
                return form
            if not isinstance(part, BodyPartReader):
                raise BadRequest("body: nested multipart parts are not accepted")
            name = part.name or ""
            if name in files:
                suffixes, cap = files[name]
                form.files[name] = await _save(part, form, name, suffixes, cap)
            elif name in fields:
                form.fields[name] = await _text(part, name)
            else:
                known = ", ".join([*files, *fields])
                raise BadRequest(f"form: unknown field {name[:60]!r} (known: {known})")
        raise BadRequest(f"form: more than {MAX_PARTS} parts")
    except BaseException:
        form.close()
        raise


async def _parsed(step: Awaitable[T]) -> T:
    """A step of aiohttp's multipart parser; its ``ValueError`` (no boundary, a broken
    part) is the client's malformed body, a `BadRequest` (any other is a bug: 500)."""
    try:
        return await step
    except ValueError as exc:
        raise BadRequest(f"body: malformed multipart/form-data ({exc})"[:300]) from None


async def _text(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await _parsed(part.read_chunk(CHUNK_BYTES)):
        data += chunk
        if len(data) > MAX_FIELD_CHARS * 4:
            raise TooLarge(f"{name}: more than {MAX_FIELD_CHARS} characters")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{name}: not UTF-8 text") from None
    if len(text) > MAX_FIELD_CHARS:
        raise TooLarge(f"{name}: more than {MAX_FIELD_CHARS} characters")
    return text


async def _save(part: BodyPartReader, form: Form, name: str, suffixes: tuple[str, ...],
                cap: int) -> FileField:
    if name in form.files:
        raise BadRequest(f"{name}: give one file")
    base = safe_name(part.filename, suffixes, name)
    folder = form.root / name
    folder.mkdir()
    path = folder / base
    loop = asyncio.get_running_loop()
    size = 0
    f = await loop.run_in_executor(None, open, path, "wb")
    try:
        while chunk := await _parsed(part.read_chunk(CHUNK_BYTES)):
            size += len(chunk)
            if size > cap:
                raise TooLarge(f"{name}: {base!r} is larger than this node's limit of "
                               f"{cap} bytes")
            await loop.run_in_executor(None, f.write, chunk)
    finally:
        await loop.run_in_executor(None, f.close)
    if size == 0:
        raise BadRequest(f"{name}: {base!r} is empty")
    return FileField(base, path, size)
