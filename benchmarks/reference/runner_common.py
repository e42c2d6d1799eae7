"""Plumbing shared by the reference runners (``ref_*.py``).

Runs ONLY inside the reference venv (the one with the ``learnware`` package), as a
sibling module of the runner scripts; the project and its tests never import it.
The runners talk to `bridge.py` through files: arrays in an ``.npz`` given on the
command line, one JSON object on stdout. Libraries inside the reference (LightGBM's
C++ logger, tqdm, stray prints) may write to stdout, which would corrupt that JSON,
so `claim_stdout` keeps file descriptor 1 for the result alone and points every
other writer at stderr.

Several learnware specs travel in one ``.npz`` in *packed* form, because their
reduced sets may differ in size: ``z_flat`` (sum K_i x d), ``beta_flat`` (sum K_i)
and ``offsets`` (N + 1), spec ``i`` being rows ``offsets[i]:offsets[i+1]``.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import numpy as np


def claim_stdout() -> TextIO:
    """Reserve the real stdout for the JSON result; send all other output to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(saved, "w")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def emit(out: TextIO, payload: dict[str, Any]) -> None:
    """Write `payload` as one JSON line on the reserved stdout."""
    json.dump(payload, out, default=_plain)
    out.write("\n")
    out.flush()


def time_calls(owner: Any, name: str, phase: str, totals: MutableMapping[str, float]) -> None:
    """Replace ``owner.name`` by a wrapper adding each call's wall time to ``totals[phase]``.

    Used to split a reference call into its phases without editing the reference;
    `owner` may be a class (all instances) or one object.
    """
    method = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[phase] = totals.get(phase, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def record_calls(owner: Any, name: str, store: MutableMapping[str, Any],
                 key: str | None = None) -> None:
    """Replace ``owner.name`` by a wrapper keeping its latest return value in ``store``.

    The reference drops some intermediate results (e.g. the mixture weights) before
    it returns; this reads them without editing the reference.
    """
    method = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        store[key or name] = result
        return result

    setattr(owner, name, wrapper)


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def unpack_specs(data: dict[str, np.ndarray],
                 prefix: str = "") -> list[tuple[np.ndarray, np.ndarray]]:
    """Split packed ``z_flat``/``beta_flat``/``offsets`` arrays into (z, beta) pairs."""
    z_flat = np.asarray(data[prefix + "z_flat"], dtype=np.float64)
    beta_flat = np.asarray(data[prefix + "beta_flat"], dtype=np.float64)
    offsets = np.asarray(data[prefix + "offsets"], dtype=np.int64)
    return [(z_flat[a:b], beta_flat[a:b]) for a, b in itertools.pairwise(offsets)]


def make_rkme(z: np.ndarray, beta: np.ndarray, gamma: float) -> Any:
    """A reference ``RKMETableSpecification`` holding the given points and weights.

    The reference keeps ``z`` and ``beta`` as float64 torch tensors on its device
    (CPU here); this is exactly the state ``RKMETableSpecification.load`` restores
    from a saved spec file.
    """
    import torch
    from learnware.specification import RKMETableSpecification

    spec = RKMETableSpecification(gamma=float(gamma), cuda_idx=-1)
    spec.z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float64))
    spec.beta = torch.from_numpy(np.ascontiguousarray(beta, dtype=np.float64))
    spec.num_points = len(beta)
    return spec


def make_learnware(idx: int, spec: Any, model: Any = None) -> Any:
    """A reference ``Learnware`` with a table semantic spec and one RKME table spec."""
    from learnware.learnware import Learnware
    from learnware.specification import Specification

    semantic = {
        "Data": {"Values": ["Table"], "Type": "Class"},
        "Task": {"Values": ["Classification"], "Type": "Class"},
        "Library": {"Values": ["Scikit-learn"], "Type": "Class"},
        "Scenario": {"Values": ["Business"], "Type": "Tag"},
        "Name": {"Values": f"learnware {idx}", "Type": "String"},
        "Description": {"Values": f"benchmark learnware {idx}", "Type": "String"},
    }
    specification = Specification(semantic_spec=semantic,
                                  stat_spec={"RKMETableSpecification": spec})
    return Learnware(id=str(idx), model=model, specification=specification,
                     learnware_dirpath=os.getcwd())


def env_info() -> dict[str, Any]:
    """Versions and thread count, so a timing can be read in context."""
    import learnware
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "learnware": learnware.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }
