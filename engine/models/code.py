"""`CodeModel`: a developer's own Python model, as files plus an entry point.

This is what a developer hands to `engine.package.build` when the model is not a
scikit-learn estimator or a torch network (the reference system's ``__init__.py``
models). It is never imported here: consumers run it with
`engine.sandbox.SandboxedModel`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from engine.errors import PackageError
from engine.package.names import check_entry_name
from engine.sandbox.runner import METHODS, check_entry_point

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class CodeModel:
    """Files (relative name -> bytes) and ``module:attr`` that builds the model.

    ``attr()`` must return an object with ``predict(X)`` (and ``predict_proba(X)`` if
    `methods` lists it). The files are placed in a directory that is first on
    ``sys.path``; the code can find its data files next to ``__file__``.
    """

    files: Mapping[str, bytes]
    entry_point: str
    methods: Sequence[str] = ("predict",)

    def __post_init__(self) -> None:
        check_entry_point(self.entry_point)
        if not self.files:
            raise PackageError("code model: no files")
        for name, data in self.files.items():
            check_entry_name(name)
            if not isinstance(data, bytes):
                raise PackageError(f"code model file {name!r}: expected bytes")
        module = self.entry_point.split(":")[0].replace(".", "/")
        if f"{module}.py" not in self.files and f"{module}/__init__.py" not in self.files:
            raise PackageError(f"code model: entry point module {module!r} is not among the "
                               "files")
        methods = tuple(self.methods)
        if "predict" not in methods or not set(methods) <= set(METHODS):
            raise PackageError(f"code model methods: {list(methods)} must include 'predict' "
                               f"and be among {list(METHODS)}")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str], entry_point: str,
                       methods: Sequence[str] = ("predict",)) -> CodeModel:
        """Read every regular file under `path` (symlinks and caches are skipped)."""
        root = Path(path)
        if not root.is_dir():
            raise PackageError(f"code model: {root} is not a directory")
        files: dict[str, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                                 and not (Path(dirpath) / d).is_symlink())
            for fname in sorted(filenames):
                full = Path(dirpath) / fname
                if full.is_symlink() or not full.is_file() or fname.endswith(".pyc"):
                    continue
                files[full.relative_to(root).as_posix()] = full.read_bytes()
        return cls(files, entry_point, methods)
