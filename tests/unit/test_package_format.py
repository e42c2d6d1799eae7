"""Package format: round trip, deterministic bytes, content id, TOML writer, extraction."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile

import numpy as np
import pytest
import tomllib
from hypothesis import example, given, settings
from hypothesis import strategies as st
from package_helpers import data, rkme, semantic, sklearn_package, with_manifest
from sklearn.linear_model import LinearRegression, LogisticRegression

from engine.errors import PackageError
from engine.models import CodeModel
from engine.package import build, build_bytes, content_id, extract, open_package
from engine.package.archive import read_archive, write_archive
from engine.package.toml_write import dumps


@pytest.fixture(scope="module")
def package() -> bytes:
    return sklearn_package()


def test_round_trip_restores_specs_and_model(package: bytes, tmp_path) -> None:
    x, y = data()
    model = LogisticRegression().fit(x, y)
    spec = rkme(x)
    path = tmp_path / "lw.zip"
    pkg_id = build(path, model, semantic(), spec)

    pkg = open_package(path)
    assert pkg.id == pkg_id == content_id(path.read_bytes())
    assert pkg.semantic == semantic()
    np.testing.assert_array_equal(pkg.spec.points_, spec.points_)
    np.testing.assert_array_equal(pkg.spec.weights_, spec.weights_)
    assert pkg.spec.gamma_ == spec.gamma_ and pkg.spec.space == spec.space
    loaded = pkg.load_model()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    lw = pkg.learnware()
    assert lw.id == pkg_id and list(lw.classes()) == ["neg", "pos"]
    assert pkg.manifest.model.methods == ("predict", "predict_proba")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_same_inputs_same_id_and_one_byte_changes_it(package: bytes) -> None:
    again = sklearn_package()
    assert again == package
    assert content_id(again) == "sha256:" + hashlib.sha256(package).hexdigest()
    other = sklearn_package(seed=1)
    assert content_id(other) != content_id(package)
    flipped = bytearray(package)
    flipped[len(flipped) // 2] ^= 0x01
    assert content_id(bytes(flipped)) != content_id(package)


def test_archive_is_deterministic_in_its_metadata(package: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names[0] == "learnware.toml" or "learnware.toml" in names
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert write_archive({"b": b"2", "a": b"1"}) == write_archive({"a": b"1", "b": b"2"})


def test_regression_package_and_manifest_text(tmp_path) -> None:
    x, _ = data()
    target = np.column_stack([x @ [1.0, 2.0, 3.0], x[:, 0]])
    sem = semantic("regression", out_dim=2)
    pkg = open_package(build_bytes(LinearRegression().fit(x, target), sem, rkme(x),
                                   readme="# demo\n"))
    assert pkg.manifest.model.output_shape == (2,)
    assert pkg.manifest.model.methods == ("predict",)
    assert pkg.load_model().predict(x[:4]).shape == (4, 2)
    text = pkg.entries["learnware.toml"].decode()
    parsed = tomllib.loads(text)
    assert parsed["format"] == 1 and parsed["model"]["format"] == "sklearn-skops"
    assert parsed["requirements"]["packages"][0].startswith("scikit-learn==")
    assert pkg.entries["README.md"] == b"# demo\n"


def test_build_refuses_incomplete_or_inconsistent_input() -> None:
    x, y = data()
    model = LogisticRegression().fit(x, y)
    with pytest.raises(PackageError, match="missing required field"):
        build_bytes(model, semantic().__class__(name="x"), rkme(x))
    with pytest.raises(PackageError, match="classes_"):
        build_bytes(model, semantic(labels=("a", "b")), rkme(x))
    with pytest.raises(PackageError, match="dimension 3 disagrees"):
        build_bytes(LogisticRegression().fit(x[:, :2], y), semantic(dim=2), rkme(x))
    with pytest.raises(PackageError, match=r"cannot package a builtins.object"):
        build_bytes(object(), semantic(), rkme(x))


def test_build_is_atomic_and_leaves_no_partial_file(tmp_path) -> None:
    x, _ = data()
    with pytest.raises(PackageError):
        build(tmp_path / "bad.zip", object(), semantic(), rkme(x))
    assert list(tmp_path.iterdir()) == []


def test_extract_writes_all_entries_or_nothing(package: bytes, tmp_path) -> None:
    dest = tmp_path / "out"
    pkg = extract(package, dest)
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert written == set(pkg.entries)
    assert (dest / "learnware.toml").read_bytes() == pkg.entries["learnware.toml"]
    with pytest.raises(PackageError, match="already exists"):
        extract(package, dest)
    broken = with_manifest(package, lambda m: m["model"].update(format="onnx"))
    with pytest.raises(PackageError, match="onnx"):
        extract(broken, tmp_path / "never")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_code_model_package_round_trip(tmp_path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "net.py").write_text("class Model:\n    def predict(self, x):\n"
                                        "        return x.sum(axis=1)\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    os.symlink("/etc/passwd", src / "link")
    code = CodeModel.from_directory(src, "pkg.net:Model")
    assert sorted(code.files) == ["pkg/__init__.py", "pkg/net.py"]
    x, _ = data()
    pkg = open_package(build_bytes(code, semantic("regression"), rkme(x)))
    assert pkg.manifest.model.format == "code"
    assert pkg.manifest.model.entry_point == "pkg.net:Model"
    assert set(pkg.model_files()) == {"pkg/__init__.py", "pkg/net.py"}


_scalars = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=20),
                     st.floats(allow_nan=False))
_keys = st.text(min_size=1, max_size=10)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
@example({"0\n": {}, "0": []})  # "$" matched before the newline: the key was written bare
def test_toml_writer_round_trips_through_tomllib(doc: dict) -> None:
    assert tomllib.loads(dumps(doc)) == doc


def test_toml_writer_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(PackageError, match="null"):
        dumps({"a": [1, None]})
    with pytest.raises(PackageError, match="cannot store"):
        dumps({"a": object()})
    assert tomllib.loads(dumps({"a": None, "b": {"c": None, "d": 1}})) == {"b": {"d": 1}}


def test_reader_returns_entries_sorted_and_drops_directories() -> None:
    import package_helpers

    raw = package_helpers.raw_zip({"b/": b"", "b/x": b"1", "a": b"2"},
                                  mode={"b/": 0o040755})
    assert list(read_archive(raw)) == ["a", "b/x"]


def test_semantic_spec_with_every_field_survives_the_manifest() -> None:
    from engine.specification import Feature, InputSpec, OutputSpec, SemanticSpec

    x, _ = data()
    sem = SemanticSpec(
        data_type="table", task_type="regression", library="scikit_learn",
        scenarios=("Finance", "retail"), license="MIT", name='churn "v2" — 𝔘nicode',
        description="line one\nline two\ttab \\ backslash \x7f",
        input=InputSpec(3, tuple(Feature(f"f{i}", f"feature {i}", "kg", "float")
                                 for i in range(3))),
        output=OutputSpec(1, ("revenue",)))
    pkg = open_package(build_bytes(LinearRegression().fit(x, x[:, 0]), sem, rkme(x)))
    assert pkg.semantic == sem


def test_the_owners_privacy_report_is_kept_in_the_manifest_and_checked_on_reading() -> None:
    from engine.checks import check_package
    from engine.privacy import privacy_report

    x, y = data(n=300)
    spec = rkme(x)
    report = privacy_report(spec, x)
    assert report.rows == 300
    pkg_bytes = build_bytes(LogisticRegression().fit(x, y), semantic(), spec,
                            privacy_report=report)
    kept = open_package(pkg_bytes).manifest.privacy_report
    assert kept is not None and kept.rows == 300 // 100 * 100  # a package is public: rounded
    assert kept.auc_nearest_point == report.auc_nearest_point
    assert kept.nearest_row_ratio == report.nearest_row_ratio
    assert check_package(pkg_bytes).to_dict()["privacy_report"] == kept.to_manifest()
    # without one, the manifest has no [privacy_report] and the check report says None
    plain = build_bytes(LogisticRegression().fit(x, y), semantic(), spec)
    assert b"privacy_report" not in read_archive(plain)["learnware.toml"]
    assert check_package(plain).privacy_report is None

    for bad, word in [({"auc_nearest_point": 2.0}, "outside"), ({"rows": "many"}, "integer"),
                      ({"secret": 1}, "unknown")]:
        def edit(manifest, bad=bad):
            manifest["privacy_report"].update(bad)
        with pytest.raises(PackageError, match=f"privacy_report.*{word}"):
            open_package(with_manifest(pkg_bytes, edit))
