"""Small builders shared by the package, model, sandbox and check tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tomllib

from engine.package import build_bytes
from engine.package.toml_write import dumps
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec

LABELS = ("neg", "pos")


def semantic(task: str = "classification", dim: int = 3, out_dim: int = 1,
             labels: tuple[Any, ...] = LABELS) -> SemanticSpec:
    return SemanticSpec(data_type="table", task_type=task, name="demo learnware",
                        library="scikit_learn", input=InputSpec(dim),
                        output=OutputSpec(out_dim, labels=labels if task == "classification"
                                          else ()))


def data(dim: int = 3, n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    return x, np.where(x[:, 0] > 0, "pos", "neg")


def rkme(x: np.ndarray, k: int = 10) -> RKMETableSpec:
    spec = RKMETableSpec(n_points=k, refine_steps=0, random_state=0)
    spec.fit(x)
    return spec


def sklearn_package(dim: int = 3, seed: int = 0) -> bytes:
    from sklearn.linear_model import LogisticRegression

    x, y = data(dim, seed=seed)
    model = LogisticRegression().fit(x, y)
    return build_bytes(model, semantic(dim=dim), rkme(x))


def raw_zip(entries: Mapping[str, bytes], *, mode: Mapping[str, int] | None = None,
            method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip written with no checks at all (names, duplicates and modes as given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (mode or {}).get(name, 0o100644) << 16
            info.compress_type = method
            zf.writestr(info, body)
    return buf.getvalue()


def entries_of(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def with_entries(package: bytes, changes: Mapping[str, bytes | None]) -> bytes:
    """The package with entries replaced or added (``None`` removes)."""
    entries = entries_of(package)
    for name, body in changes.items():
        if body is None:
            entries.pop(name, None)
        else:
            entries[name] = body
    return raw_zip(entries)


def with_manifest(package: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    entries = entries_of(package)
    manifest = tomllib.loads(entries["learnware.toml"].decode())
    edit(manifest)
    entries["learnware.toml"] = dumps(manifest).encode()
    return raw_zip(entries)
