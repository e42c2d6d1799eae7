"""Hostile packages: each is refused with a PackageError naming the problem, and
extraction writes nothing anywhere."""

from __future__ import annotations

import os
import struct
import zipfile

import pytest
from package_helpers import (
    entries_of,
    raw_zip,
    sklearn_package,
    with_entries,
    with_manifest,
)

from engine.errors import PackageError
from engine.package import PackageLimits, extract, open_package
from engine.package.archive import read_archive


@pytest.fixture(scope="module")
def package() -> bytes:
    return sklearn_package()


def _refused(data: bytes, match: str, tmp_path, limits: PackageLimits | None = None) -> None:
    """Refused by open and by extract, and nothing is left in or beside tmp_path."""
    before = set(os.listdir(tmp_path))
    with pytest.raises(PackageError, match=match):
        open_package(data, limits)
    with pytest.raises(PackageError, match=match):
        extract(data, tmp_path / "dest", limits)
    assert set(os.listdir(tmp_path)) == before
    assert not (tmp_path.parent / "evil").exists()


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/tmp/evil", "a//b", "./a",
                                  "a\\..\\evil", "C:/evil", "a/\x00b"])
def test_unsafe_entry_names_are_refused(package: bytes, tmp_path, name: str) -> None:
    entries = entries_of(package)
    entries[name] = b"x"
    _refused(raw_zip(entries), "entry", tmp_path)


def test_symlink_entry_is_refused(package: bytes, tmp_path) -> None:
    entries = entries_of(package)
    entries["README.md"] = b"/etc/passwd"
    data = raw_zip(entries, mode={"README.md": 0o120777})
    _refused(data, "symbolic link", tmp_path)


def test_device_or_fifo_entry_is_refused(package: bytes, tmp_path) -> None:
    entries = entries_of(package)
    entries["README.md"] = b""
    _refused(raw_zip(entries, mode={"README.md": 0o010644}), "not a regular file", tmp_path)


def test_duplicate_names_are_refused(package: bytes, tmp_path) -> None:
    entries = list(entries_of(package).items())
    import io

    buf = io.BytesIO()
    with pytest.warns(UserWarning), zipfile.ZipFile(buf, "w") as zf:
        for name, body in [*entries, ("learnware.toml", b"format = 1\n")]:
            zf.writestr(name, body)
    _refused(buf.getvalue(), "duplicate entry", tmp_path)


def test_case_colliding_names_are_refused(package: bytes, tmp_path) -> None:
    entries = entries_of(package)
    entries["LEARNWARE.toml"] = b"format = 1\n"
    _refused(raw_zip(entries), "collides", tmp_path)


def test_file_and_directory_with_one_name_are_refused(tmp_path) -> None:
    with pytest.raises(PackageError, match="both a file and a directory"):
        read_archive(raw_zip({"a": b"1", "a/b": b"2"}))


def test_compression_ratio_bomb_is_refused(package: bytes, tmp_path) -> None:
    bomb = with_entries(package, {"README.md": None})
    entries = entries_of(bomb)
    entries["README.md"] = b"\0" * (8 << 20)
    _refused(raw_zip(entries), "compression ratio", tmp_path)


def test_entry_and_total_size_caps_hold(package: bytes, tmp_path) -> None:
    entries = entries_of(package)
    entries["README.md"] = os.urandom(64 << 10)
    data = raw_zip(entries)
    _refused(data, "README.md.*bytes uncompressed", tmp_path,
             PackageLimits(max_entry_bytes=32 << 10))
    _refused(data, "in total", tmp_path, PackageLimits(max_total_bytes=len(data) // 2))
    _refused(data, "entries, more than", tmp_path, PackageLimits(max_entries=3))
    _refused(data, "more than the limit of 1000 bytes", tmp_path,
             PackageLimits(max_package_bytes=1000))


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Overwrite the uncompressed size of `name` in its local and central headers."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04" + bytes(out[4:4]))
    while local >= 0:
        n = struct.unpack_from("<H", out, local + 26)[0]
        if bytes(out[local + 30:local + 30 + n]) == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", out, central + 28)[0]
        if bytes(out[central + 46:central + 46 + n]) == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_headers_that_understate_sizes_do_not_fool_the_reader(tmp_path) -> None:
    data = raw_zip({"README.md": os.urandom(200 << 10)})
    lying = _patch_sizes(data, b"README.md", 10)
    with pytest.raises(PackageError, match="corrupt"):
        read_archive(lying)
    overstating = _patch_sizes(data, b"README.md", 1 << 31)
    with pytest.raises(PackageError, match=r"README.md"):
        read_archive(overstating, PackageLimits(max_entry_bytes=100 << 10,
                                                max_total_bytes=10 << 30))


def test_encrypted_or_exotic_compression_is_refused() -> None:
    data = bytearray(raw_zip({"a": b"hello"}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 0x1)
    with pytest.raises(PackageError, match="encrypted"):
        read_archive(bytes(data))
    bz = raw_zip({"a": b"hello"}, method=zipfile.ZIP_BZIP2)
    with pytest.raises(PackageError, match="not stored or deflate"):
        read_archive(bz)


@pytest.mark.parametrize("junk", [b"", b"PK\x03\x04garbage", b"not a zip at all"])
def test_not_a_zip_is_refused(tmp_path, junk: bytes) -> None:
    _refused(junk, "not a readable zip", tmp_path)


def test_missing_or_malformed_manifest(package: bytes, tmp_path) -> None:
    _refused(with_entries(package, {"learnware.toml": None}), "no learnware.toml", tmp_path)
    _refused(with_entries(package, {"learnware.toml": b"format = [1,"}), "malformed TOML", tmp_path)
    _refused(with_entries(package, {"learnware.toml": b"\xff\xfe"}), "not UTF-8", tmp_path)
    _refused(with_manifest(package, lambda m: m.update(format=99)), "format: 99", tmp_path)
    _refused(with_manifest(package, lambda m: m.update(extra=1)), "unknown key", tmp_path)
    _refused(with_manifest(package, lambda m: m.pop("model")), "missing key 'model'", tmp_path)
    _refused(with_manifest(package, lambda m: m["model"].update(input_shape=[0])),
             "input_shape", tmp_path)
    _refused(with_manifest(package, lambda m: m["semantic"].update(task_type="poetry")),
             r"\[semantic\].*task_type", tmp_path)
    _refused(with_manifest(package, lambda m: m["semantic"].pop("name")),
             "missing required field", tmp_path)


def test_files_must_match_the_manifest(package: bytes, tmp_path) -> None:
    _refused(with_entries(package, {"model/model.skops": None}), "named in learnware.toml",
             tmp_path)
    _refused(with_entries(package, {"payload/run.sh": b"rm -rf /"}), "unexpected entry", tmp_path)
    _refused(with_entries(package, {"spec/statistical.json": b"{not json"}), "not valid JSON",
             tmp_path)
    _refused(with_entries(package, {"spec/statistical.json": b'{"a": {"__ndarray__": "zz"}}'}),
             "missing array", tmp_path)


def test_spec_dimension_disagreeing_with_model_is_refused(package: bytes, tmp_path) -> None:
    def widen(m: dict) -> None:
        m["model"]["input_shape"] = [4]
        m["semantic"]["input"]["dimension"] = 4

    _refused(with_manifest(package, widen), "statistical spec dimension 3 disagrees", tmp_path)
    _refused(with_manifest(package, lambda m: m["model"].update(input_shape=[4])),
             r"input.dimension 3 disagrees with \[model\] input_shape \[4\]", tmp_path)


def test_manifest_labels_must_match_semantic_labels(package: bytes, tmp_path) -> None:
    _refused(with_manifest(package, lambda m: m["model"].update(labels=["a", "b"])),
             "labels", tmp_path)


@pytest.mark.parametrize("fmt", ["pickle", "joblib"])
def test_pickle_formats_are_refused_with_the_conversion_hint(package: bytes, tmp_path,
                                                             fmt: str) -> None:
    _refused(with_manifest(package, lambda m: m["model"].update(format=fmt)),
             "skops.io.dump", tmp_path)


@pytest.mark.parametrize("nest", [b"a = " + b"[" * 5000 + b"]" * 5000,
                                  b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000])
def test_a_deeply_nested_manifest_is_a_package_error(package: bytes, tmp_path, nest) -> None:
    # tomllib recurses per level: this raised RecursionError (thousands of frames),
    # not a PackageError, and the check worker died as if a native loader crashed
    _refused(with_entries(package, {"learnware.toml": nest}), "nested deeper than", tmp_path)


def test_brackets_in_strings_and_comments_do_not_count_as_nesting() -> None:
    from engine.package.nesting import MAX_TOML_DEPTH, load_toml, toml_nesting

    deep = "[" * (MAX_TOML_DEPTH + 5)
    text = (f'a = "{deep}\\" {deep}"\nb = \'{deep}\'\nc = """\n{deep}\n"""\n'
            f"d = '''{deep}'''\n# {deep}\n[t]\ne = [[1], [2]]\n")
    assert toml_nesting(text) == 2
    assert load_toml(text, "x.toml")["t"]["e"] == [[1], [2]]
    with pytest.raises(PackageError, match=r"x.toml: nested deeper than 3"):
        load_toml("e = [[[[1]]]]", "x.toml", max_depth=3)
