"""RKME fit time and quality against n and d, side by side with the reference.

    python -m benchmarks.spec_fit [--sizes 2000,10000,50000] [--dims 10,100] [--no-reference]

Both systems fit K=100 points under the reference's fixed kernel (gamma=0.1) on the
same clustered data (`benchmarks.common.clustered`), and both reduced sets are scored
by one formula: MMD^2(spec, data) with the data's self term computed once (exact up
to 10,000 rows, else on a fixed 10,000-row subsample — the same number for both, so
the comparison of the two columns is exact). Those two fits are non-private
(`min_rows_per_point=1`: the reference's job, like for like). Also timed, not
against the reference: our bandwidth rule (gamma="auto"), and what a spec that
leaves its owner costs — the private default (each point the mean of at least
`MIN_ROWS_PER_POINT` rows) and the DP mode at epsilon 1 (bounds declared from the
generator: every coordinate within +-6 of its cluster spread, a public fact about
`clustered`, not read from the rows) — each scored by the same MMD^2 at gamma 0.1.
"""

from __future__ import annotations

import argparse

from benchmarks.common import (
    clustered,
    data_self_term,
    machine,
    mmd2_to_data,
    print_table,
    timed,
)
from engine.specification import RKMETableSpec

K, GAMMA, DP_EPSILON, DP_DELTA = 100, 0.1, 1.0, 1e-5


def declared_bound(d: int) -> float:
    """A public bound on `clustered(n, d)`'s coordinates: centres ~N(0, 8/d) plus
    noise ~N(0, 2/d), so each coordinate has spread sqrt(10/d); six spreads."""
    return 6.0 * (10.0 / d) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,50000")
    parser.add_argument("--dims", default="10,100")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads for both systems (default 1: the fairest and "
                             "least noisy on a shared 2-core machine)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    from benchmarks.reference import bridge

    use_ref = not args.no_reference and bridge.available()
    RKMETableSpec(n_points=5).fit(clustered(100, 3))  # warm imports
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for d in (int(s) for s in args.dims.split(",")):
            x = clustered(n, d, seed=n + d)
            x_self, exact_self = data_self_term(x, GAMMA)
            # the non-private fit (min_rows_per_point=1): the reference's job, like for like
            secs, ours = timed(lambda x=x: RKMETableSpec(n_points=K, gamma=GAMMA,
                                                         random_state=0,
                                                         min_rows_per_point=1).fit(x))
            auto_secs, _ = timed(lambda x=x: RKMETableSpec(n_points=K, random_state=0,
                                                           min_rows_per_point=1).fit(x))
            ours_mmd = mmd2_to_data(ours.points_, ours.weights_, x, GAMMA, x_self)
            private_secs, private = timed(lambda x=x: RKMETableSpec(
                n_points=K, gamma=GAMMA, random_state=0).fit(x))
            bound = declared_bound(d)
            dp_secs, dp = timed(lambda x=x, b=bound: RKMETableSpec(
                n_points=K, gamma=GAMMA, random_state=0, epsilon=DP_EPSILON, delta=DP_DELTA,
                bounds=(-b, b)).fit(x))
            private_mmd, dp_mmd = (mmd2_to_data(s.points_, s.weights_, x, GAMMA, x_self)
                                   for s in (private, dp))
            ref_secs = ref_mmd = speedup = "n/a"
            if use_ref:
                ref = bridge.rkme_fit(x, K=K, gamma=GAMMA, timeout=3600, threads=args.threads)
                if ref.ok:
                    r_secs = float(ref.data["fit_seconds"])
                    ref_secs, speedup = f"{r_secs:.2f}", f"{r_secs / secs:.0f}x"
                    z, beta = ref.arrays["z"], ref.arrays["beta"].reshape(-1)
                    ref_mmd = f"{mmd2_to_data(z, beta, x, GAMMA, x_self):.5f}"
                else:
                    ref_secs = ref.status
            rows.append([f"{n:,}", d, f"{secs:.2f}", f"{auto_secs:.2f}", f"{ours_mmd:.5f}",
                         ref_secs, ref_mmd, speedup, f"{private_secs:.2f}",
                         f"{private_mmd:.5f}", len(private.points_), f"{dp_secs:.2f}",
                         f"{dp_mmd:.5f}", "exact" if exact_self else "10k rows"])
    print_table(f"RKME table spec fit, K={K}, gamma={GAMMA}, {args.threads} thread(s) "
                f"({machine()})",
                ["n", "d", "ours s", "ours (auto gamma) s", "ours MMD²", "reference s",
                 "reference MMD²", "speed-up", "private default s", "private MMD²",
                 "private K", f"DP ε={DP_EPSILON:g}, δ={DP_DELTA:g} s", "DP MMD²",
                 "data self term"], rows)


if __name__ == "__main__":
    main()
