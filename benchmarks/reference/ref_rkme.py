"""Fit the reference RKME table specification on X and report its time.

Runs ONLY inside the reference venv. Usage::

    python ref_rkme.py IN.npz OUT.npz [--K 100] [--gamma 0.1] [--steps 3]
                       [--step-size 0.1] [--seed 0]

``IN.npz`` holds ``X`` (n x d). The fit is the reference's public entry point
``generate_rkme_table_spec`` with the reference defaults unless overridden, so its
own adjustments apply (K >= n becomes n*2//3; K*d is capped at 1,310,720). The
fitted reduced set is written to ``OUT.npz`` as ``z`` (K x d, float64), ``beta``
(K,) and ``gamma``, so the caller computes MMD(spec, data) with one formula for
both systems. stdout gets one JSON object: ``fit_seconds`` (wall time of the whole
fit), a per-phase breakdown (k-means init, beta QP solves, z gradient steps) and the
effective K.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from runner_common import claim_stdout, emit, env_info, load_npz, time_calls

PHASES = {"_init_z_by_kmeans": "kmeans", "_update_beta": "beta_qp", "_update_z": "z_step"}



def main() -> None:
    out = claim_stdout()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inp")
    parser.add_argument("out_npz")
    parser.add_argument("--K", type=int, default=100)
    parser.add_argument("--gamma", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from learnware.specification import RKMETableSpecification, generate_rkme_table_spec
    from learnware.utils import setup_seed

    x = load_npz(args.inp)["X"]
    totals: dict[str, float] = {}
    for name, phase in PHASES.items():
        time_calls(RKMETableSpecification, name, phase, totals)

    setup_seed(args.seed)
    start = time.perf_counter()
    spec = generate_rkme_table_spec(x, gamma=args.gamma, reduced_set_size=args.K,
                                    step_size=args.step_size, steps=args.steps, cuda_idx=-1)
    fit_seconds = time.perf_counter() - start

    z = spec.get_z().astype(np.float64)
    beta = spec.get_beta().astype(np.float64)
    np.savez(args.out_npz, z=z, beta=beta, gamma=np.float64(spec.gamma))
    emit(out, {
        "runner": "ref_rkme",
        "n": int(x.shape[0]),
        "d": int(np.prod(x.shape[1:])),
        "K_requested": args.K,
        "K_effective": int(z.shape[0]),
        "gamma": float(spec.gamma),
        "steps": args.steps,
        "step_size": args.step_size,
        "seed": args.seed,
        "fit_seconds": fit_seconds,
        "phase_seconds": totals,
        "beta_min": float(beta.min()),
        "beta_sum": float(beta.sum()),
        "env": env_info(),
    })


if __name__ == "__main__":
    main()
