"""Time the reference's statistical search over N learnware specs.

Runs ONLY inside the reference venv. Usage::

    python ref_search.py IN.npz [--max-search-num 5] [--search-method greedy]
                         [--repeats 3]

``IN.npz`` holds the N market specs in packed form (``z_flat``, ``beta_flat``,
``offsets``, see `runner_common`), the user's spec (``user_z``, ``user_beta``), the
market's kernel ``gamma`` and optionally ``user_gamma`` (default: ``gamma``).

The search is the reference market's own path: ``LearnwareMarket.search_learnware``
-> ``SeqCombinedSearcher`` (the fuzzy semantic searcher, which passes every
learnware for a table/classification user spec, then ``EasyStatSearcher``), the
same components ``instantiate_learnware_market(name="easy")`` wires up. Only the
database-backed organizer is replaced by an in-memory list, so setup (building the
learnware objects) is not timed, and neither is anything but the search call. Each
repeat times one full search (wall and process CPU time); ``EasyStatSearcher`` alone
is timed too.

stdout gets one JSON object: the times, the market's returned single results
(ids, scores, MMD^2 distances; at most ``max_search_num`` shown), the raw top-5 by
distance, and the greedy mixture (ids, weights, MMD^2 of the mixture, its score,
and whether the market returned it — it drops a mixture whose score rounds to the
best single score).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import runner_common as rc

USER_SEMANTIC = {
    "Data": {"Values": ["Table"], "Type": "Class"},
    "Task": {"Values": ["Classification"], "Type": "Class"},
}


def _build_market(learnwares: list[Any]) -> tuple[Any, Any]:
    """An "easy" market whose organizer is a plain in-memory list."""
    from learnware.market import (
        BaseOrganizer,
        EasyFuzzSemanticSearcher,
        EasyStatSearcher,
        LearnwareMarket,
        SeqCombinedSearcher,
    )

    class ListOrganizer(BaseOrganizer):
        def reload_market(self, rebuild: bool = False, **kwargs: Any) -> bool:
            return True

        def get_learnwares(self, top: int | None = None,
                           check_status: int | None = None) -> list[Any]:
            return learnwares if top is None else learnwares[:top]

        def __len__(self) -> int:
            return len(learnwares)

    organizer = ListOrganizer(market_id="bench")
    stat_searcher = EasyStatSearcher(organizer)
    searcher = SeqCombinedSearcher(organizer=organizer,
                                   semantic_searcher_list=[EasyFuzzSemanticSearcher(organizer)],
                                   stat_searcher_list=[stat_searcher])
    return LearnwareMarket(organizer=organizer, searcher=searcher, checker_list=[]), stat_searcher


def _summary(times: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    ms = [t * 1000.0 for t in times]
    out = {"first_ms": ms[0], "median_ms": statistics.median(ms), "min_ms": min(ms), "all_ms": ms}
    if cpu is not None:
        out["cpu_median_ms"] = statistics.median(c * 1000.0 for c in cpu)
    return out


def main() -> None:
    out = rc.claim_stdout()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inp")
    parser.add_argument("--max-search-num", type=int, default=5)
    parser.add_argument("--search-method", default="greedy", choices=["greedy", "auto"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from learnware.market import BaseUserInfo

    data = rc.load_npz(args.inp)
    gamma = float(data["gamma"])
    user_gamma = float(data["user_gamma"]) if "user_gamma" in data else gamma
    learnwares = [rc.make_learnware(i, rc.make_rkme(z, beta, gamma))
                  for i, (z, beta) in enumerate(rc.unpack_specs(data))]
    user_spec = rc.make_rkme(data["user_z"], data["user_beta"], user_gamma)
    user_info = BaseUserInfo(semantic_spec=USER_SEMANTIC,
                             stat_info={"RKMETableSpecification": user_spec})
    market, stat_searcher = _build_market(learnwares)
    captured: dict[str, Any] = {}
    for name in ("_search_by_rkme_spec_single", "_search_by_rkme_spec_mixture_greedy",
                 "_search_by_rkme_spec_mixture_auto"):
        rc.record_calls(stat_searcher, name, captured)

    market_times, market_cpu, stat_times = [], [], []
    result = None
    for _ in range(max(1, args.repeats)):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = market.search_learnware(user_info, max_search_num=args.max_search_num,
                                         search_method=args.search_method)
        market_times.append(time.perf_counter() - start)
        market_cpu.append(time.process_time() - cpu_start)
        start = time.perf_counter()
        stat_searcher(learnwares, user_info, args.max_search_num, args.search_method)
        stat_times.append(time.perf_counter() - start)
    assert result is not None

    singles = result.get_single_results()[: args.max_search_num]
    sorted_dists, sorted_lws = captured["_search_by_rkme_spec_single"]
    dist_by_id = {lw.id: d for d, lw in zip(sorted_dists, sorted_lws, strict=True)}
    mix_name = f"_search_by_rkme_spec_mixture_{args.search_method}"
    mix_dist, mix_weights, mix_lws = captured.get(mix_name, (None, [], []))
    multiples = result.get_multiple_results()
    rc.emit(out, {
        "runner": "ref_search",
        "n_specs": len(learnwares),
        "gamma": gamma,
        "user_gamma": user_gamma,
        "max_search_num": args.max_search_num,
        "search_method": args.search_method,
        "search": _summary(market_times, market_cpu),
        "stat_searcher_only": _summary(stat_times),
        "top5": {
            "ids": [int(item.learnware.id) for item in singles],
            "scores": [float(item.score) for item in singles],
            "mmd2": [float(dist_by_id[item.learnware.id]) for item in singles],
        },
        "top5_by_distance": {
            "ids": [int(lw.id) for lw in sorted_lws[:5]],
            "mmd2": [float(d) for d in sorted_dists[:5]],
        },
        "mixture": {
            "ids": [int(lw.id) for lw in mix_lws],
            "weights": [float(w) for w in mix_weights],
            "mmd2": None if mix_dist is None else float(mix_dist),
            "score": float(multiples[0].score) if multiples else None,
            "returned_by_market": bool(multiples),
        },
        "env": rc.env_info(),
    })


if __name__ == "__main__":
    main()
