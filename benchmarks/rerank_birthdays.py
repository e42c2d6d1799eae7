"""Label-aware search on the Birthdays market: top-1 by MMD² against top-1 by a few labels.

    python -m benchmarks.rerank_birthdays            # --draws 5 --half test

The market and users of the tabular experiment (`benchmarks.experiments.tabular`):
34 developer states' forecasters, 17 user states, each searching with the RKME of
its 731 unlabelled rows of 1987-1988 (k = 5, mixtures of up to 3). With labels
drawn from the user's own 1970-1986 days (10 or 50; `--draws` draws per user and
budget), the shortlist — the top 5 singles and the mixture — is re-ranked by
`lwnode.userside.rerank.rerank`, the code `lwnode search --labels` runs. Scored:
RMSE on the user's 1987-1988 rows of what comes first in each order. A second table:
`lwnode reuse` of the search's mixture (or top match) by the default method, without
labels (the job selector) and with them (`select_method`: chosen out of fold).

Users are split before anything was measured: the even positions of the
experiment's user list (by size) are the tuning half, the odd ones the test half.
Nothing was tuned (the rule is the 1.645-SE test of `engine.reuse.select`); only
the test half is reported unless ``--half tuning`` or ``--half all``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from benchmarks.experiments.tabular import USER_SEED, market_and_users
from benchmarks.reuse_birthdays import N_POINTS, short
from benchmarks.reuse_common import TOP_K, build_catalog, private_default, score
from engine.learnware import Learnware
from engine.reuse import EnsemblePruning, JobSelector
from engine.search import Requirement
from lwnode.userside.local import select_method
from lwnode.userside.rerank import MIXTURE, rerank

BUDGETS = (10, 50)
COLUMNS = (0, *BUDGETS, *(-m for m in BUDGETS))
"""The default-reuse table's columns: 0 labels, each budget chosen out of fold, and
(negative) each budget by the old default, ensemble pruning."""
HALVES = {"tuning": 0, "test": 1}


def answer_of(result: Any, by_id: dict[str, Learnware]) -> dict[str, Any]:
    """The search result in the JSON shape of ``POST /v1/search``'s answer (the parts
    `rerank` reads)."""
    mixture = result.mixture
    return {"single": [{"id": m.id, "name": short(by_id[m.id]), "mmd2": m.mmd2,
                        "mapping": None} for m in result.single],
            "mixture": None if mixture is None else {
                "ids": list(mixture.ids), "weights": list(mixture.weights),
                "mmd2": mixture.mmd2,
                "members": [{"name": short(by_id[i])} for i in mixture.ids]}}


def predictor(entry_id: str, answer: dict[str, Any], by_id: dict[str, Learnware]) -> Any:
    if entry_id == MIXTURE:
        mix = answer["mixture"]
        return JobSelector([by_id[i] for i in mix["ids"]], weights=mix["weights"]).fit()
    return by_id[entry_id].model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5, help="label draws per user and budget")
    parser.add_argument("--half", choices=("test", "tuning", "all"), default="test")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with threadpool_limits(1):
        market, users = market_and_users()
        catalog = build_catalog(market)
        by_id = {lw.id: lw for lw in market}
        rows, sums = [], {}
        defaults: list[list[str]] = []
        default_sums: dict[int, list[float]] = {}
        chosen: dict[int, dict[str, int]] = {m: {} for m in BUDGETS}
        for u, user in enumerate(users):
            if args.half != "all" and u % 2 != HALVES[args.half]:
                continue
            spec = private_default(user.x_test, N_POINTS, USER_SEED + u)
            result = catalog.search(Requirement(spec=spec), k=TOP_K, max_mixture=3)
            answer = answer_of(result, by_id)
            shortlist = [h["id"] for h in answer["single"]] + (
                [MIXTURE] if answer["mixture"] else [])
            rmse = {e: score("regression", user.y_test,
                             predictor(e, answer, by_id).predict(user.x_test))
                    for e in shortlist}
            first_mmd = min(shortlist, key=lambda e: (
                answer["mixture"]["mmd2"] if e == MIXTURE else
                next(h["mmd2"] for h in answer["single"] if h["id"] == e)))
            row: dict[str, float] = {"top-1 single by MMD²": rmse[answer["single"][0]["id"]],
                                     "first by MMD² (mixture included)": rmse[first_mmd],
                                     "best of shortlist (oracle)": min(rmse.values())}
            moved: dict[int, int] = {}
            reused = answer["mixture"] or {"ids": [answer["single"][0]["id"]],
                                           "weights": [1.0]}
            lws = [by_id[i] for i in reused["ids"]]
            default = {0: rmse[MIXTURE] if answer["mixture"] else rmse[reused["ids"][0]]}
            for m in BUDGETS:
                values, chosen_rmse, old_rmse = [], [], []
                moved[m] = 0
                for draw in range(args.draws):
                    rng = np.random.default_rng(1000 * u + 10 * m + draw)
                    pick = rng.choice(len(user.x_pool), m, replace=False)
                    x, y = user.x_pool[pick], user.y_pool[pick]
                    out = rerank(answer, by_id, x, y, n=TOP_K)
                    values.append(rmse[out["ranking"][0]["id"]])
                    moved[m] += bool(out["moved"])
                    selection = select_method(lws, x, y, reused["weights"])
                    chosen_rmse.append(score("regression", user.y_test,
                                             selection.model.predict(user.x_test)))
                    chosen[m][selection.chosen] = chosen[m].get(selection.chosen, 0) + 1
                    old = EnsemblePruning(lws).fit(x, y)  # the default before issue 16
                    old_rmse.append(score("regression", user.y_test, old.predict(user.x_test)))
                row[f"top-1 by {m} labels"] = float(np.mean(values))
                default[m] = float(np.mean(chosen_rmse))
                default[-m] = float(np.mean(old_rmse))
            for key, value in row.items():
                sums.setdefault(key, []).append(value)
            rows.append([user.name, *(f"{v:.4f}" for v in row.values()),
                         *(f"{moved[m]}/{args.draws}" for m in BUDGETS)])
            defaults.append([user.name, *(f"{default[b]:.4f}" for b in COLUMNS)])
            for b in COLUMNS:
                default_sums.setdefault(b, []).append(default[b])
    header = ["user", *sums, *(f"moved ({m})" for m in BUDGETS)]
    mean_row = ["mean", *(f"{np.mean(v):.4f}" for v in sums.values()), "", ""]
    print_table(f"Birthdays, {args.half} users: RMSE on 1987-1988 of what comes first "
                f"(labels: mean over {args.draws} draws)", header, [*rows, mean_row])
    base = np.asarray(sums["top-1 single by MMD²"])
    first = np.asarray(sums["first by MMD² (mixture included)"])
    verdict = []
    for m in BUDGETS:
        got = np.asarray(sums[f"top-1 by {m} labels"])
        verdict.append([f"{m} labels", f"{int((got < base - 1e-9).sum())}/"
                        f"{int((got > base + 1e-9).sum())}",
                        f"{int((got < first - 1e-9).sum())}/{int((got > first + 1e-9).sum())}"])
    print_table("Per-user wins/losses of the labelled top-1", ["budget",
                "vs top-1 single by MMD² (better/worse)",
                "vs first by MMD², mixture included (better/worse)"], verdict)
    print_table(f"Birthdays, {args.half} users: `lwnode reuse` of the search's mixture "
                "(or top match) by the default method, RMSE on 1987-1988 (labels: mean over "
                f"{args.draws} draws)", ["user", "no labels (job selector)",
                                         *(f"{m} labels (chosen out of fold)" for m in BUDGETS),
                                         *(f"{m} labels, ensemble pruning (old default)"
                                           for m in BUDGETS)],
                [*defaults, ["mean", *(f"{np.mean(default_sums[b]):.4f}" for b in COLUMNS)]])
    zero = np.asarray(default_sums[0])
    print_table("Default with labels against without, per user (better/worse), and the "
                "methods chosen", ["budget", "better/worse", "old default better/worse",
                                   "chosen (draws)"],
                [[f"{m} labels", f"{int((np.asarray(default_sums[m]) < zero - 1e-9).sum())}/"
                  f"{int((np.asarray(default_sums[m]) > zero + 1e-9).sum())}",
                  f"{int((np.asarray(default_sums[-m]) < zero - 1e-9).sum())}/"
                  f"{int((np.asarray(default_sums[-m]) > zero + 1e-9).sum())}",
                  ", ".join(f"{k} {v}" for k, v in sorted(chosen[m].items()))]
                 for m in BUDGETS])
    print(f"\n{machine()}; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
