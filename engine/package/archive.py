"""Zip archives: a deterministic writer and a reader that treats input as hostile.

Writer: entries sorted by name, every timestamp 1980-01-01 00:00:00, permissions
0644, Unix as the creating system, deflate at level 6, no comments or extra
fields: the same entries give the same bytes (with the same zlib), so the content
id of a package depends on its content only.

Reader: every entry is checked before any byte is used: safe name, no duplicates
(also after case folding, which would collide on macOS and Windows), regular
files and directories only (symlinks, devices and FIFOs are refused), no
encryption, stored or deflate only, and sizes and compression ratio measured while
decompressing against `PackageLimits`.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from collections.abc import Mapping

from engine.errors import PackageError
from engine.package.limits import PackageLimits
from engine.package.names import check_entry_name

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
COMPRESS_LEVEL = 6
_CHUNK = 1 << 16
_UNIX = 3


def content_id(data: bytes) -> str:
    """The content id of a package: ``sha256:<hex>`` of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(entries: Mapping[str, bytes], *, compress: bool = True) -> bytes:
    """Deterministic zip of `entries` (name -> bytes); names must be safe."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            check_entry_name(name)
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.create_system = _UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = method
            zf.writestr(info, bytes(entries[name]), compress_type=method,
                        compresslevel=COMPRESS_LEVEL if compress else None)
    return buf.getvalue()


def _check_info(info: zipfile.ZipInfo, what: str) -> bool:
    """Validate one entry's metadata; True if it is a directory entry."""
    name = info.filename
    is_dir = name.endswith("/")
    check_entry_name(name, allow_dir=True)
    if info.flag_bits & 0x1:
        raise PackageError(f"{what} entry {name!r}: encrypted entries are not supported")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackageError(f"{what} entry {name!r}: compression method {info.compress_type} "
                           "is not stored or deflate")
    mode = info.external_attr >> 16
    if info.create_system == _UNIX and mode:
        if stat.S_ISLNK(mode):
            raise PackageError(f"{what} entry {name!r}: symbolic links are not allowed")
        kind = stat.S_IFMT(mode)
        expected = stat.S_IFDIR if is_dir else stat.S_IFREG
        if kind not in (0, expected):
            raise PackageError(f"{what} entry {name!r}: not a regular file or directory "
                               f"(mode {oct(mode)})")
    return is_dir


def _check_names(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = name.rstrip("/").casefold()
        if key in seen:
            other = seen[key]
            why = "duplicate entry" if other == name else f"collides with {other!r} (case)"
            raise PackageError(f"{what} entry {name!r}: {why}")
        seen[key] = name
    files = {n for n in names if not n.endswith("/")}
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in files:
                raise PackageError(f"{what} entry {name!r}: {prefix!r} is both a file and a "
                                   "directory")


def read_archive(data: bytes, limits: PackageLimits | None = None, *,
                 what: str = "package") -> dict[str, bytes]:
    """Validate and decompress a zip held in memory; return ``{name: bytes}``.

    Directory entries are dropped (they carry no content). `what` names the
    archive in error messages ("package", "model file 'model/model.skops'").

    Raises
    ------
    PackageError
        Naming the entry and the problem: unsafe name, duplicate, link, bomb...
    """
    limits = limits or PackageLimits()
    if len(data) > limits.max_package_bytes:
        raise PackageError(f"{what}: {len(data)} bytes, more than the limit of "
                           f"{limits.max_package_bytes}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise PackageError(f"{what}: not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise PackageError(f"{what}: {len(infos)} entries, more than the limit of "
                               f"{limits.max_entries}")
        is_dir = [_check_info(info, what) for info in infos]
        _check_names([info.filename for info in infos], what)
        out: dict[str, bytes] = {}
        total = 0
        for info, directory in zip(infos, is_dir, strict=True):
            if directory:
                continue
            body, total = _read_entry(zf, info, limits, total, what)
            out[info.filename] = body
    return dict(sorted(out.items()))


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: PackageLimits,
                total: int, what: str) -> tuple[bytes, int]:
    """Decompress one entry in chunks, stopping at the first cap exceeded."""
    name = info.filename
    chunks: list[bytes] = []
    size = 0
    compressed = max(info.compress_size, 1)
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                size += len(chunk)
                total += len(chunk)
                if size > limits.max_entry_bytes:
                    raise PackageError(f"{what} entry {name!r}: more than "
                                       f"{limits.max_entry_bytes} bytes uncompressed")
                if total > limits.max_total_bytes:
                    raise PackageError(f"{what}: more than {limits.max_total_bytes} bytes "
                                       f"uncompressed in total (at entry {name!r})")
                if size > limits.ratio_floor_bytes and size > limits.max_ratio * compressed:
                    raise PackageError(f"{what} entry {name!r}: compression ratio above "
                                       f"{limits.max_ratio:g} (a zip bomb?)")
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        if isinstance(exc, PackageError):
            raise
        raise PackageError(f"{what} entry {name!r}: corrupt ({exc})") from None
    return b"".join(chunks), total
