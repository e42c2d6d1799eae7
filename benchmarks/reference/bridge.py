"""Run the reference system (the ``learnware`` package) beside ours, on the same data.

Our benchmark scripts import this module; it never imports ``learnware`` itself.
The reference lives in its own venv (it pins libraries the project must not take);
each call writes the inputs to a temporary ``.npz``, runs one of the runner scripts
beside this file (``ref_rkme.py``, ``ref_search.py``, ``ref_job_selector.py``) with
that venv's Python, and parses the one JSON object the runner prints.

* The venv's Python is ``$LWDOCK_REFERENCE_PYTHON``, else ``/work/ref-venv/bin/python``.
  When it is missing every call returns a `RefResult` with ``status ==
  "unavailable"`` (and says why), so a benchmark still prints our side.
* The reference writes under ``~/.learnware`` on import, so the runner gets a fresh
  temporary ``HOME`` (and working directory), removed afterwards.
* ``threads`` sets ``OMP_NUM_THREADS`` (torch, LightGBM, BLAS) for the runner. On a
  shared machine pass ``threads=1`` for both systems: torch's 2-thread pool on a
  busy 2-core box made the reference's small-tensor search 3-20x slower and erratic.

Costs to know before calling: the reference's herding (``job_selector(...,
modes=("herding",))``, default ``herding_num=1000``) is cubic in the herded sample
count per learnware (~50 T^3 kernel entries for T = herding_num x mixture weight);
T = 600 took ~15 minutes on this machine. Use ``herding_num`` 100-200 for routine
runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

ENV_VAR = "LWDOCK_REFERENCE_PYTHON"
DEFAULT_PYTHON = "/work/ref-venv/bin/python"
RUNNER_DIR = Path(__file__).resolve().parent

Status = Literal["ok", "unavailable", "failed"]
SpecLike = Any  # an (points, weights) pair, or an object with ``points_`` and ``weights_``


@dataclass(frozen=True)
class RefResult:
    """What one reference run gave back.

    Attributes
    ----------
    status : "ok", "unavailable" (no reference venv) or "failed" (runner error/timeout)
    data : the runner's JSON object (empty unless ok)
    arrays : arrays the runner saved (``ref_rkme``: ``z``, ``beta``, ``gamma``)
    reason : why the run is not ok, with the runner's stderr tail when it failed
    wall_seconds : the whole subprocess, including interpreter and import start-up
    """

    status: Status
    data: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, NDArray[Any]] = field(default_factory=dict)
    reason: str = ""
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line for a benchmark's printout when the reference gave nothing."""
        return "reference: ok" if self.ok else f"reference {self.status}: {self.reason}"


def reference_python() -> Path:
    """The reference venv's interpreter (it may not exist; see `available`)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PYTHON)


def available() -> bool:
    """Whether the reference venv's interpreter exists and is executable."""
    python = reference_python()
    return python.is_file() and os.access(python, os.X_OK)


def run(runner: str, inputs: Mapping[str, ArrayLike], args: Sequence[str] = (), *,
        timeout: float | None = None, threads: int | None = None,
        output_npz: bool = False) -> RefResult:
    """Run ``<runner>.py`` on `inputs`; the generic call behind the helpers below.

    `args` follow the input path on the runner's command line. With `output_npz`
    the runner is also given an output path (second argument) whose arrays come
    back in `RefResult.arrays`.
    """
    if not available():
        return RefResult("unavailable", reason=f"no reference interpreter at "
                         f"{reference_python()} (set {ENV_VAR})")
    script = RUNNER_DIR / f"{runner}.py"
    if not script.is_file():
        raise FileNotFoundError(f"runner: no reference runner {script}")
    workdir = Path(tempfile.mkdtemp(prefix="lwdock-ref-"))
    try:
        in_path, out_path = workdir / "in.npz", workdir / "out.npz"
        arrays_in: dict[str, Any] = {k: np.asarray(v) for k, v in inputs.items()}
        np.savez(in_path, **arrays_in)
        home = workdir / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        if threads is not None:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(threads)
        cmd = [str(reference_python()), str(script), str(in_path)]
        cmd += [str(out_path)] if output_npz else []
        cmd += [str(a) for a in args]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return RefResult("failed", reason=f"{runner} timed out after {timeout} s",
                             wall_seconds=time.perf_counter() - start)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            return RefResult("failed", reason=f"{runner} exited {proc.returncode}:\n{tail}",
                             wall_seconds=wall)
        try:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError) as exc:
            return RefResult("failed", reason=f"{runner} printed no JSON ({exc}): "
                             f"{proc.stdout[-500:]!r}", wall_seconds=wall)
        arrays: dict[str, NDArray[Any]] = {}
        if output_npz:
            with np.load(out_path, allow_pickle=False) as saved:
                arrays = {k: saved[k] for k in saved.files}
        return RefResult("ok", data=data, arrays=arrays, wall_seconds=wall)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _pair(spec: SpecLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if hasattr(spec, "points_") and hasattr(spec, "weights_"):
        z, beta = spec.points_, spec.weights_
    else:
        z, beta = spec
    z = np.asarray(z, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64).reshape(-1)
    if z.ndim != 2 or len(z) != len(beta):
        raise ValueError(f"spec: expected points (K, d) and weights (K,), got {z.shape} "
                         f"and {beta.shape}")
    return z, beta


def pack_specs(specs: Sequence[SpecLike], prefix: str = "") -> dict[str, NDArray[Any]]:
    """Pack specs of possibly different sizes into the runners' flat arrays."""
    pairs = [_pair(s) for s in specs]
    if not pairs:
        raise ValueError("specs: expected at least one spec")
    sizes = [len(beta) for _, beta in pairs]
    return {
        prefix + "z_flat": np.concatenate([z for z, _ in pairs]),
        prefix + "beta_flat": np.concatenate([beta for _, beta in pairs]),
        prefix + "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    }


def rkme_fit(x: ArrayLike, *, K: int = 100, gamma: float = 0.1, steps: int = 3,
             step_size: float = 0.1, seed: int = 0, timeout: float | None = None,
             threads: int | None = None) -> RefResult:
    """Fit the reference RKME table spec on `x` (reference defaults unless given).

    ``data["fit_seconds"]`` is the fit alone (no start-up); ``arrays["z"]`` and
    ``arrays["beta"]`` are the fitted reduced set, for computing MMD(spec, x) on our
    side exactly as for our own spec. The reference casts `x` to float32 first.
    """
    args = ["--K", K, "--gamma", gamma, "--steps", steps, "--step-size", step_size,
            "--seed", seed]
    return run("ref_rkme", {"X": np.asarray(x, dtype=np.float64)}, [str(a) for a in args],
               timeout=timeout, threads=threads, output_npz=True)


def search(specs: Sequence[SpecLike], user: SpecLike, gamma: float, *,
           user_gamma: float | None = None, max_search_num: int = 5,
           search_method: Literal["greedy", "auto"] = "greedy", repeats: int = 3,
           timeout: float | None = None, threads: int | None = None) -> RefResult:
    """Time the reference market's statistical search of `user` among `specs`.

    Learnware ids are the positions in `specs`. ``data["search"]["median_ms"]`` (and
    ``first_ms``, ``min_ms``, ``all_ms``; ``cpu_median_ms`` in process CPU time) time
    ``LearnwareMarket.search_learnware``, which includes its greedy mixture;
    ``data["top5"]`` has the market's returned ids/scores/MMD^2 (only those with
    score >= 0.6, so possibly fewer than 5), ``data["top5_by_distance"]`` the raw
    nearest five, and ``data["mixture"]`` the greedy mixture's ids and weights.
    """
    z, beta = _pair(user)
    inputs: dict[str, Any] = {**pack_specs(specs), "user_z": z, "user_beta": beta,
                              "gamma": np.float64(gamma)}
    if user_gamma is not None:
        inputs["user_gamma"] = np.float64(user_gamma)
    args = ["--max-search-num", max_search_num, "--search-method", search_method,
            "--repeats", repeats]
    return run("ref_search", inputs, [str(a) for a in args], timeout=timeout, threads=threads)


def job_selector(specs: Sequence[SpecLike], gamma: float, x_user: ArrayLike,
                 y_user: ArrayLike, preds: ArrayLike, *,
                 modes: Sequence[Literal["herding", "no-herding"]] = ("herding", "no-herding"),
                 herding_num: int = 1000,
                 task: Literal["classification", "regression"] = "classification",
                 seed: int = 0, timeout: float | None = None,
                 threads: int | None = None) -> RefResult:
    """Run the reference ``JobSelectorReuser`` on the user's rows.

    `preds` is (n_learnwares, n_rows): each learnware's prediction for each row of
    `x_user`, computed on our side, so both systems reuse identical models.
    ``data["modes"][mode]`` has ``seconds``, ``phase_seconds`` (herding, lightgbm,
    selector_total), ``accuracy`` or ``rmse``, ``rows_per_learnware`` and, with
    herding, the reference's ``mixture_weights``. See the module note on herding cost.
    """
    x = np.asarray(x_user, dtype=np.float64)
    p = np.asarray(preds)
    if p.shape[:2] != (len(specs), len(x)):
        raise ValueError(f"preds: expected shape ({len(specs)}, {len(x)}), got {p.shape}")
    inputs: dict[str, Any] = {**pack_specs(specs), "gamma": np.float64(gamma), "X_user": x,
                              "y_user": np.asarray(y_user), "preds": p}
    args = ["--herding-num", herding_num, "--task", task, "--modes", ",".join(modes),
            "--seed", seed]
    return run("ref_job_selector", inputs, [str(a) for a in args], timeout=timeout,
               threads=threads)


if __name__ == "__main__":
    sys.stdout.write(f"reference interpreter: {reference_python()} "
                     f"({'found' if available() else 'missing'})\n")
