"""Learnware packages: one deterministic zip with a `learnware.toml` manifest.

=================  ===============================================================
module             holds
=================  ===============================================================
``names.py``       `check_entry_name`: which entry names are safe
``limits.py``      `PackageLimits`: size, count and ratio caps for hostile input
``archive.py``     deterministic zip writer; streaming, capped, validating reader;
                   atomic extraction
``toml_write.py``  a small TOML writer for the manifest (checked by reading back)
``manifest.py``    `Manifest`, `ModelSection`: the typed, validated manifest
``statspec.py``    statistical spec <-> ``.json`` + ``.npz`` (no pickle)
``builder.py``     `build`: model + specs -> package file; `content_id`
``reader.py``      `open_package` -> `Package` (validated view, model loader)
=================  ===============================================================

See docs/packages.md for the format. Names are imported lazily so that importing
one submodule does not import the others (and never torch).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "PackageLimits": "engine.package.limits",
    "Manifest": "engine.package.manifest",
    "ModelSection": "engine.package.manifest",
    "build": "engine.package.builder",
    "build_bytes": "engine.package.builder",
    "content_id": "engine.package.archive",
    "extract": "engine.package.reader",
    "open_package": "engine.package.reader",
    "Package": "engine.package.reader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
