"""Run the reference ``JobSelectorReuser`` with and without herding.

Runs ONLY inside the reference venv. Usage::

    python ref_job_selector.py IN.npz [--herding-num 1000] [--task classification]
                               [--modes herding,no-herding] [--seed 0]

``IN.npz`` holds the N learnwares' specs in packed form (``z_flat``, ``beta_flat``,
``offsets``, see `runner_common`) with their kernel ``gamma``, the user's rows
``X_user`` (n x d) and true targets ``y_user`` (n,), and ``preds`` (N x n): each
learnware's prediction for each user row, computed by the caller. Passing
predictions instead of models keeps both systems' learnwares *identical* (no
re-training in another scikit-learn version); each reference learnware gets a model
whose ``predict`` looks its rows up in ``preds``.

For each mode the runner times ``JobSelectorReuser.predict(X_user)`` — which trains
the reference's LightGBM job selector (on herded samples, or on the specs' reduced
sets without herding) and routes every row to one learnware — and reports accuracy
(classification) or RMSE (regression), how many rows went to each learnware, and
for herding the reference's mixture weights. stdout gets one JSON object.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import runner_common as rc

MODES = {"herding": True, "no-herding": False}


def _lookup_model(x_user: np.ndarray, preds: np.ndarray) -> Any:
    """A reference model answering from precomputed predictions, keyed by row bytes."""
    from learnware.model import BaseModel

    row_of = {row.tobytes(): i for i, row in enumerate(x_user)}

    class PrecomputedModel(BaseModel):
        def __init__(self) -> None:
            super().__init__(input_shape=x_user.shape[1:], output_shape=preds.shape[1:] or (1,))

        def predict(self, X: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(X, dtype=x_user.dtype)
            return preds[[row_of[row.tobytes()] for row in rows]]

    return PrecomputedModel()


def _quality(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    if task == "classification":
        return {"accuracy": float(np.mean(y_pred.astype(y_true.dtype) == y_true))}
    return {"rmse": float(np.sqrt(np.mean((y_pred.astype(np.float64) - y_true) ** 2)))}


def _run_mode(learnwares: list[Any], x_user: np.ndarray, use_herding: bool,
              herding_num: int, seed: int) -> dict[str, Any]:
    from learnware.reuse import JobSelectorReuser
    from learnware.specification import RKMETableSpecification
    from learnware.utils import setup_seed

    reuser = JobSelectorReuser(learnware_list=learnwares, herding_num=herding_num,
                               use_herding=use_herding)
    phases: dict[str, float] = {}
    seen: dict[str, Any] = {}
    rc.time_calls(reuser, "job_selector", "selector_total", phases)
    rc.time_calls(reuser, "_selector_grid_search", "lightgbm", phases)
    rc.record_calls(reuser, "_calculate_rkme_spec_mixture_weight", seen, "mixture")
    rc.record_calls(reuser, "job_selector", seen, "selection")
    herding = RKMETableSpecification.herding
    rc.time_calls(RKMETableSpecification, "herding", "herding", phases)
    try:
        setup_seed(seed)
        start = time.perf_counter()
        y_pred = reuser.predict(x_user)
        seconds = time.perf_counter() - start
    finally:
        RKMETableSpecification.herding = herding
    counts = np.bincount(np.asarray(seen["selection"], dtype=np.int64), minlength=len(learnwares))
    return {
        "seconds": seconds,
        "phase_seconds": phases,
        "rows_per_learnware": counts.tolist(),
        "mixture_weights": (None if "mixture" not in seen
                            else np.asarray(seen["mixture"], dtype=np.float64).tolist()),
        "y_pred": y_pred,
    }


def main() -> None:
    out = rc.claim_stdout()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inp")
    parser.add_argument("--herding-num", type=int, default=1000)
    parser.add_argument("--task", default="classification",
                        choices=["classification", "regression"])
    parser.add_argument("--modes", default="herding,no-herding")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = rc.load_npz(args.inp)
    gamma = float(data["gamma"])
    x_user = np.ascontiguousarray(data["X_user"], dtype=np.float64)
    y_user = np.asarray(data["y_user"])
    preds = np.asarray(data["preds"])
    specs = rc.unpack_specs(data)
    if preds.shape[:2] != (len(specs), len(x_user)):
        raise SystemExit(f"preds: expected shape ({len(specs)}, {len(x_user)}, ...), "
                         f"got {preds.shape}")
    learnwares = [rc.make_learnware(i, rc.make_rkme(z, beta, gamma),
                                    _lookup_model(x_user, preds[i]))
                  for i, (z, beta) in enumerate(specs)]

    results: dict[str, Any] = {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode not in MODES:
            raise SystemExit(f"--modes: unknown mode {mode!r}; expected {sorted(MODES)}")
        run = _run_mode(learnwares, x_user, MODES[mode], args.herding_num, args.seed)
        run.update(_quality(args.task, y_user, run.pop("y_pred")))
        results[mode] = run

    rc.emit(out, {
        "runner": "ref_job_selector",
        "n_learnwares": len(learnwares),
        "n_user": len(x_user),
        "gamma": gamma,
        "herding_num": args.herding_num,
        "task": args.task,
        "seed": args.seed,
        "single_learnware": [_quality(args.task, y_user, p) for p in preds],
        "modes": results,
        "env": rc.env_info(),
    })


if __name__ == "__main__":
    main()
