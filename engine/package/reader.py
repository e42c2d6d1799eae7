"""Open a package: validate everything, then offer a typed view and a model loader.

Opening runs in stages, each a function the usability checks also call one by one
so they can say which stage failed: `read_package` (bytes, content id, archive
checks), `parse_manifest` (TOML, schema, the entries it names, no stray entries),
`check_consistent` (semantic spec complete, agrees with the model section),
`load_statistical` and `check_dimensions`. `open_package` runs them all.

Nothing is written to disk except by `Package.extract_to`, which writes into a
fresh temporary directory beside the destination and renames it into place, so a
failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from engine.errors import PackageError
from engine.learnware import Learnware, Model
from engine.models.formats import CODE, SKOPS, TORCH_STATE_DICT, TORCHSCRIPT
from engine.package.archive import content_id, read_archive
from engine.package.limits import PackageLimits
from engine.package.manifest import (
    INFO_FILES,
    MANIFEST_NAME,
    Manifest,
    check_consistent,
    shape_size,
)
from engine.package.statspec import spec_from_files
from engine.sandbox.limits import SandboxLimits
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec

Source = bytes | str | os.PathLike[str]


def read_package(source: Source, limits: PackageLimits | None = None
                 ) -> tuple[str, dict[str, bytes]]:
    """``(content_id, {name: bytes})`` of a package file or its bytes, archive-checked.

    The bytes are read once into memory (at most ``max_package_bytes``) so the id
    and the content cannot differ, whatever happens to the file meanwhile.
    """
    limits = limits or PackageLimits()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        try:
            with open(source, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise PackageError(f"package {os.fspath(source)!r}: not a regular file")
                data = f.read(limits.max_package_bytes + 1)
        except OSError as exc:
            raise PackageError(f"package {os.fspath(source)!r}: cannot read ({exc.strerror})"
                               ) from None
    if len(data) > limits.max_package_bytes:
        raise PackageError(f"package: more than the limit of {limits.max_package_bytes} bytes")
    return content_id(data), read_archive(data, limits)


def parse_manifest(entries: Mapping[str, bytes], limits: PackageLimits | None = None
                   ) -> Manifest:
    """Parse ``learnware.toml`` and check that the entries are exactly what it names."""
    limits = limits or PackageLimits()
    raw = entries.get(MANIFEST_NAME)
    if raw is None:
        raise PackageError(f"package: no {MANIFEST_NAME} at the top level")
    if len(raw) > limits.max_manifest_bytes:
        raise PackageError(f"{MANIFEST_NAME}: {len(raw)} bytes, more than "
                           f"{limits.max_manifest_bytes}")
    manifest = Manifest.from_toml(raw)
    for name in manifest.file_names():
        if name not in entries:
            raise PackageError(f"package: {name!r} is named in {MANIFEST_NAME} but missing")
    model = manifest.model
    if model.format == CODE:
        module = model.entry_point.split(":")[0].replace(".", "/")
        candidates = (f"{model.file}/{module}.py", f"{model.file}/{module}/__init__.py")
        if not any(c in entries for c in candidates):
            raise PackageError(f"package: entry point module {module!r} not found under "
                               f"{model.file + '/'!r}")
    known = set(manifest.file_names()) | set(INFO_FILES)
    stray = sorted(n for n in entries if n not in known and not model.owns(n))
    if stray:
        raise PackageError(f"package: unexpected entr{'y' if len(stray) == 1 else 'ies'} "
                           f"{', '.join(map(repr, stray[:5]))} (not named in {MANIFEST_NAME})")
    return manifest


def load_statistical(manifest: Manifest, entries: Mapping[str, bytes],
                     limits: PackageLimits | None = None) -> RKMESpec:
    sec = manifest.statistical
    spec = spec_from_files(entries[sec.meta], entries[sec.arrays], limits,
                           meta_name=sec.meta, npz_name=sec.arrays)
    if spec.kind != sec.type:
        raise PackageError(f"[statistical] type {sec.type!r} but {sec.meta} holds a "
                           f"{spec.kind!r} spec")
    return spec


def check_dimensions(manifest: Manifest, spec: RKMESpec) -> None:
    """A table spec's dimension must equal the model's input; other kinds live in a
    feature space of their own, which their `space` key already pins down."""
    if spec.kind != "rkme_table":
        return
    shape = manifest.model.input_shape
    if len(shape) != 1 or spec.dim_ != shape_size(shape):
        raise PackageError(f"statistical spec dimension {spec.dim_} disagrees with the "
                           f"model's input_shape {list(shape)}")


@dataclass(frozen=True)
class Package:
    """A validated package: content id, manifest, statistical spec and raw entries."""

    id: str
    manifest: Manifest
    spec: RKMESpec
    entries: Mapping[str, bytes]

    @property
    def semantic(self) -> SemanticSpec:
        return self.manifest.semantic

    def model_files(self) -> dict[str, bytes]:
        """The model's files; for code models, by name relative to the model directory."""
        model = self.manifest.model
        if model.format != CODE:
            return {model.file: self.entries[model.file]}
        prefix = model.file + "/"
        return {n[len(prefix):]: b for n, b in self.entries.items() if n.startswith(prefix)}

    def load_model(self, *, trusted_types: Iterable[str] = (), allow_code: bool = False,
                   sandbox_limits: SandboxLimits | None = None,
                   limits: PackageLimits | None = None) -> Model:
        """Load the model without running untrusted code in this process.

        Parameters
        ----------
        trusted_types
            skops types to trust beyond scikit-learn, numpy and scipy.
        allow_code
            Allow a code model; it then runs only in the sandbox, per call.
        sandbox_limits
            Limits of each sandboxed run.
        limits
            Caps for model files that are zips themselves.

        Raises
        ------
        ModelLoadError
            Unsafe format, untrusted type, code not allowed, corrupt file.
        """
        from engine.errors import ModelLoadError
        from engine.models import skops_io, torch_io
        from engine.sandbox.model import SandboxedModel

        m = self.manifest.model
        if m.format == CODE:
            if not allow_code:
                raise ModelLoadError("code model: this package runs its own Python code; "
                                     "pass allow_code=True to run it in the sandbox")
            return SandboxedModel.create(self.model_files(), m.entry_point,
                                         classes=m.labels or None, methods=m.methods,
                                         limits=sandbox_limits)
        data = self.entries[m.file]
        if m.format == SKOPS:
            return skops_io.load_sklearn(data, trusted=trusted_types, name=m.file,
                                         limits=limits)
        if m.format == TORCHSCRIPT:
            module = torch_io.load_torchscript(data, name=m.file, limits=limits)
        else:
            assert m.format == TORCH_STATE_DICT
            module = torch_io.load_state_dict(data, m.architecture, name=m.file, limits=limits)
        if m.labels:
            return torch_io.TorchClassifier(module, m.input_shape, m.labels, m.output_kind)
        return torch_io.TorchModel(module, m.input_shape, m.output_shape)

    def learnware(self, **load_options: object) -> Learnware:
        """The `Learnware` (id, specs, loaded model); options go to `load_model`."""
        return Learnware(self.id, self.semantic, self.spec,
                         self.load_model(**load_options))  # type: ignore[arg-type]

    def extract_to(self, dest: str | os.PathLike[str]) -> Path:
        """Write the entries under `dest` (which must not exist), all or nothing."""
        dest = Path(dest)
        if dest.exists() or dest.is_symlink():
            raise PackageError(f"extract: {dest} already exists")
        if not dest.parent.is_dir():
            raise PackageError(f"extract: {dest.parent} is not a directory")
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial",
                                    dir=dest.parent))
        try:
            for name, data in self.entries.items():
                target = tmp.joinpath(*name.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o644)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            tmp.chmod(0o755)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest


def open_package(source: Source, limits: PackageLimits | None = None) -> Package:
    """Read and fully validate a package (file path or bytes) into a `Package`.

    Raises
    ------
    PackageError
        Naming the entry, key or field at fault. The model is not loaded here.
    """
    pkg_id, entries = read_package(source, limits)
    manifest = parse_manifest(entries, limits)
    check_consistent(manifest)
    spec = load_statistical(manifest, entries, limits)
    check_dimensions(manifest, spec)
    return Package(pkg_id, manifest, spec, MappingProxyType(entries))


def extract(source: Source, dest: str | os.PathLike[str],
            limits: PackageLimits | None = None) -> Package:
    """Validate a package, then write its entries under `dest` (all or nothing)."""
    pkg = open_package(source, limits)
    pkg.extract_to(dest)
    return pkg
