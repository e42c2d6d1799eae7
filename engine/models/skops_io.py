"""scikit-learn estimators as skops files: deterministic dump, restricted load.

skops stores an object tree as JSON plus ``.npy`` members and rebuilds it without
unpickling; it can still construct any importable type the file names, so
`load_sklearn` first lists the file's types and refuses any outside scikit-learn,
numpy and scipy unless the caller names it in `trusted`.

skops names its members and ``__id__`` fields after ``id()`` of the objects and
stamps the current time, so the same estimator dumps to different bytes each run.
`dump_sklearn` renumbers both in document order and rewrites the zip
deterministically; the memo structure (which nodes share an id) is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engine.errors import ModelLoadError
from engine.models.formats import SKOPS, refuse_unsafe
from engine.package.archive import read_archive, write_archive
from engine.package.limits import PackageLimits

SAFE_ROOTS = frozenset({"sklearn", "numpy", "scipy"})
SCHEMA = "schema.json"
ZIP_MAGIC = b"PK\x03\x04"


def dump_sklearn(estimator: Any) -> bytes:
    """skops bytes of a fitted estimator; the same estimator gives the same bytes."""
    from skops import io as sio

    try:
        raw = sio.dumps(estimator)
    except Exception as exc:  # skops raises many types for unsupported objects
        raise ModelLoadError(f"cannot save {type(estimator).__name__} with skops: {exc}"
                             ) from None
    return canonical_skops(raw)


def canonical_skops(raw: bytes) -> bytes:
    """Renumber ``__id__`` and member names of a skops file in document order."""
    members = read_archive(raw, what="skops file")
    schema = json.loads(members[SCHEMA])
    ids: dict[int, int] = {}
    renamed: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    node[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and value in members:
                    suffix = value[value.rfind("."):] if "." in value else ""
                    node[key] = renamed.setdefault(value, f"{len(renamed)}{suffix}")
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    out = {new: members[old] for old, new in renamed.items()}
    leftover = set(members) - set(renamed) - {SCHEMA}
    out.update({name: members[name] for name in leftover})
    out[SCHEMA] = json.dumps(schema, indent=2).encode("utf-8")
    return write_archive(out, compress=False)


def untrusted_types(data: bytes, trusted: Iterable[str] = ()) -> list[str]:
    """Types named by the skops file that are outside scikit-learn/numpy/scipy and
    not in `trusted` (which holds fully qualified names, e.g. ``"collections.Counter"``)."""
    from skops import io as sio

    try:
        listed = sio.get_untrusted_types(data=data)
    except Exception as exc:  # hostile schema: any parser error is a refusal
        raise ModelLoadError(f"not a readable skops file ({type(exc).__name__}: {exc})"
                             ) from None
    allowed = set(trusted)
    return sorted(t for t in listed if t.split(".", 1)[0] not in SAFE_ROOTS and t not in allowed)


def load_sklearn(data: bytes, *, trusted: Iterable[str] = (), name: str = "model",
                 limits: PackageLimits | None = None) -> Any:
    """Load a skops file whose every type is trusted; never unpickles.

    Parameters
    ----------
    data
        The skops file's bytes.
    trusted
        Extra fully qualified type names the caller trusts (beyond scikit-learn,
        numpy and scipy, which are always trusted).
    name
        The file's name, for messages.
    limits
        Caps for the skops zip itself (it could be a zip bomb).
    """
    refuse_unsafe(name, SKOPS, data)
    if not data.startswith(ZIP_MAGIC):
        raise ModelLoadError(f"model file {name!r}: not a skops file (not a zip archive)")
    read_archive(data, limits, what=f"model file {name!r}")
    trusted = tuple(trusted)
    refused = untrusted_types(data, trusted)
    if refused:
        raise ModelLoadError(
            f"model file {name!r}: untrusted type(s) {', '.join(refused)}; only scikit-learn, "
            "numpy and scipy types load by default. If you trust them, pass "
            f"trusted_types={refused!r}")
    from skops import io as sio

    try:
        listed = sio.get_untrusted_types(data=data)
        return sio.loads(data, trusted=listed)
    except Exception as exc:  # hostile content: every failure is a refusal
        raise ModelLoadError(f"model file {name!r}: cannot be loaded "
                             f"({type(exc).__name__}: {exc})") from None
