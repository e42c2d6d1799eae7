"""Issue 16, 10 labels: does a wider shortlist for label-aware search close more of the gap?

    python -m benchmarks.labels_wide --half tuning             # every setting, tuning half
    python -m benchmarks.labels_wide --half test --settings W:S  # the chosen one, once

Label-aware search (`lwnode search --labels`, the web page's re-rank) fetches the
search's top ``--rerank`` singles (default 5) and the mixture's members and orders them
by the labels (`lwnode.userside.rerank.rerank`); `select_method` then reuses the labels'
first. On survey the shortlist's best entry closes 74 % of the gap (test half,
`benchmarks.labels_target`), so no choice from a shortlist of 5 reaches issue 16's 85 %
at 10 labels. The question: does a wider shortlist (10, 20 of the search's ranking,
still bounded, every entry fetched and verified in the product) raise the 10-label
figure, or do 10 labels' noise pick worse from more candidates? And should the re-rank
shrink towards the search's ranking?

**Protocol, written before any run of this script.**

- Markets, users, split, label draws, flow: exactly `benchmarks.labels_target`'s (its
  `built`, `first_of`, `reused`, `market_share`; the held-out markets diamonds,
  ridership, survey; Birthdays, ``tabular``; MNIST, ``image``; tuning half = even
  positions, test half = odd; 5 label draws per user, draw ``d`` seeded with the
  user's seed + ``DRAW_STRIDE * d``, so width 5 with the guard on *is* today's flow and
  reproduces `labels_target`'s figures). Budget: 10 labels (0 for reference). Each user
  searches once with k = 20 (the widest setting); the shortlist of width ``w`` is the
  first ``w`` singles of that ranking (the same as a search with k = w: checked per
  user) and the mixture, which does not depend on k.
- Settings, W:S: width W in {5, 10, 20} singles (fewer where the market has fewer
  learnwares: ridership has 8) x shrink S in {on, off}. *on*: today's rule,
  `engine.reuse.select.rank_by_labels` with z = `RERANK_Z` (1.645): walking down the
  MMD² order, an entry takes the first place only if its paired per-row gain over the
  entry MMD² puts there exceeds 1.645 standard errors (the cross-validated spread of the
  gain) — the choice shrinks to the search's ranking unless the labels separate them.
  *off*: z = 0, the best out-of-fold score on the labels wins (ties keep the MMD² order).
  Today's flow: 5:on.
- Criterion (tuning half only): the mean over the five markets of the 10-label share of
  the gap closed by the flow (the share per draw as `labels_target` defines it, mean over
  the 5 draws). A setting is *admissible* when no market's share is more than 5 points
  below today's flow (5:on) on the tuning half. Chosen: the admissible setting with the
  highest mean; within 1 point of it, the narrower width (fewer models fetched), then
  shrink on.
- Test half: run once, for the chosen setting and today's (5:on) beside it, whatever
  it says. The product's default (`DEFAULT_RERANK`, and `RERANK_Z` if the chosen shrink
  is off) changes only if the chosen setting is not today's and, on the test half, (1)
  its mean over the five markets is above today's flow, (2) no market is more than 5
  points below today's flow, and (3) over user x draw pairs it wins more often than it
  loses against today's flow.
- Reported per market and setting: the share (mean over draws, sd and min-max across
  draws), per-user wins / losses / ties against today's flow (user x draw), how often the
  labels moved the first and how often the labels' first is the shortlist's best entry;
  per user the mean score. And the *ceilings* per width, with no labels: the shortlist's
  best entry on the test rows (each single alone, the mixture as `rerank` scores it: the
  data-free default, route or average, with its weights) and the best of the data-free
  methods over the shortlist (those entries, the mixture by the job selector and by
  averaging, and the shortlist's equal average). The labelled methods `select_method`
  may choose (ensemble pruning, feature augment) can go above these ceilings. Cost per
  width: learnwares a user fetches (the singles and the mixture's members, distinct), and
  the re-rank's CPU seconds (scoring them on the labels; the product adds the fetches).
- The zero-label reference: the data-free default on the search's mixture or top match
  (what a user gets with no label) and issue 16's zero-label figure (the best of top-1,
  job selector and averaging).

*Amendment, written after the tuning run and before any test run:* the rule chose 5:on,
today's flow, so nothing changes in the product whatever the test half says. The test
half is run once with all six settings (``--half test``), for the record and for the
ceilings per width the brief asks for; its figures decide nothing.

**Results** (raw output in docs/results/labels_wide.md; the reading in docs/reuse.md,
"Issue 16's labelled targets, measured"). Tuning half (96 s of CPU): mean share 125.4 %
for 5:on; 10:on 124.1 % (Birthdays -6.3 points), 20:on 121.1 %, the "off" settings
101.7-114.8 %: the rule chose 5:on, the product is unchanged. Test half, once, all
settings (100 s of CPU): 5:on 117.7 %, 10:on 112.8 % (Birthdays 77.4 -> 49.4 %), 20:on
110.2 %, off 97.2-108.6 %. Survey's best entry at width 5 closes 85.5 % (the averaged
mixture counted as `rerank` scores it), yet the labels move its first in no draw.

Caveat carried over from `labels_target`: the re-rank sees the labelled rows only (the
product's router also sees the user's unlabelled rows), as in today's published figures.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.heldout import half_of
from benchmarks.labels_target import (
    DRAW_STRIDE,
    DRAWS,
    MARKETS,
    Market,
    Reused,
    built,
    first_of,
    market_share,
    reused,
)
from benchmarks.rerank_birthdays import answer_of
from benchmarks.reuse_common import TOP_K, User, label_draws, picked, ranked_search, score
from engine.learnware import Learnware
from lwnode.userside import rerank as rr
from lwnode.userside.local import data_free_method, new_reuser
from lwnode.userside.rerank import MIXTURE

WIDTHS = (5, 10, 20)
SHRINK = {"on": rr.RERANK_Z, "off": 0.0}
TODAY = (TOP_K, "on")
BUDGET = 10
GUARD_PTS = 0.05
TIE_PTS = 0.01

Setting = tuple[int, str]
R = TypeVar("R")
K = TypeVar("K")


def setting_name(s: Setting) -> str:
    return f"{s[0]}:{s[1]}"


def parse_setting(text: str) -> Setting:
    width, _, shrink = text.partition(":")
    if not width.isdigit() or shrink not in SHRINK:
        raise argparse.ArgumentTypeError(f"expected WIDTH:on|off, got {text!r}")
    return int(width), shrink


@dataclass
class Pick:
    """One setting's outcome on one label draw."""

    score: float  # the flow's score on the test rows
    chosen: str  # the method select_method chose
    moved: bool  # the labels put another entry first than the search's first
    at_best: bool  # the labels' first is the shortlist's best entry on the test rows


@dataclass
class UserWide:
    name: str
    mean: float
    best: float
    zero: dict[str, float]  # top-1, job selector, averaging, data-free default
    entry_ceiling: dict[int, float]  # width -> the shortlist's best entry
    method_ceiling: dict[int, float]  # width -> the best data-free method over it
    fetched: dict[int, int]  # width -> learnwares fetched
    cpu: dict[int, float] = field(default_factory=dict)  # width -> re-rank CPU s, all draws
    picks: dict[Setting, list[Pick]] = field(default_factory=dict)


def run_user(m: Market, market_lws: Sequence[Learnware], catalog: Any, user: User, seed: int,
             settings: Sequence[Setting], n_draws: int) -> UserWide:
    task = m.task
    better = max if task == "classification" else min
    by_id = {lw.id: lw for lw in market_lws}
    widest = max(w for w, _ in settings)
    result = ranked_search(catalog, user.x_test, N_POINTS, seed, k=widest)
    narrow = ranked_search(catalog, user.x_test, N_POINTS, seed, k=TOP_K)
    if [h.id for h in narrow.single] != [h.id for h in result.single[:TOP_K]] or \
            (narrow.mixture and narrow.mixture.ids) != (result.mixture and result.mixture.ids):
        raise RuntimeError(f"{user.name}: the k = {widest} search does not extend k = {TOP_K}")
    mix, weights, _, top = picked(result, by_id)
    answer = answer_of(result, by_id)
    default_ids = tuple(answer["mixture"]["ids"]) if answer["mixture"] else (top.id,)
    default_w = list(answer["mixture"]["weights"]) if answer["mixture"] else None

    def on_test(model: Any) -> float:
        return score(task, user.y_test, model.predict(user.x_test))

    w_mix = list(weights)
    default_method = data_free_method(mix, user.x_test, w_mix).method
    zero = {"top-1": on_test(top.model),
            "job selector": on_test(new_reuser("job-selector", mix, w_mix).fit()),
            "averaging": on_test(new_reuser("average", mix, w_mix).fit())}
    zero["data-free default"] = zero["job selector" if default_method == "job-selector"
                                     else "averaging"]
    singles = {h.id: on_test(by_id[h.id].model) for h in result.single}
    mixture_entry = [zero["data-free default"]] if answer["mixture"] else []
    mixture_methods = [zero["job selector"], zero["averaging"]] if answer["mixture"] else []
    entry_ceiling, method_ceiling, fetched = {}, {}, {}
    for w in sorted({w for w, _ in settings}):
        ids = [h.id for h in result.single[:w]]
        listed = ids + [i for i in (answer["mixture"] or {}).get("ids", []) if i not in ids]
        fetched[w] = len(listed)
        entries = [singles[i] for i in ids] + mixture_entry
        entry_ceiling[w] = better(entries)
        shortlist_avg = on_test(new_reuser("average", [by_id[i] for i in listed], None).fit())
        method_ceiling[w] = better([*entries, *mixture_methods, shortlist_avg])
    mean_all = float(np.mean([on_test(lw.model) for lw in market_lws]))
    best_all = better(on_test(lw.model) for lw in market_lws)
    out = UserWide(user.name, mean_all, best_all, zero, entry_ceiling, method_ceiling, fetched)
    entry_score = {**singles, MIXTURE: zero["data-free default"]}
    for d in range(n_draws):
        for budget, xl, yl in label_draws(user, m.budgets, seed + DRAW_STRIDE * d):
            if budget != BUDGET:
                continue
            cache: Reused = {}
            for w, shrink in settings:
                answer_w = {**answer, "single": answer["single"][:w]}
                rr.RERANK_Z = SHRINK[shrink]
                t0 = time.process_time()
                ranked = rr.rerank(answer_w, by_id, xl, yl, n=w)
                out.cpu[w] = out.cpu.get(w, 0.0) + time.process_time() - t0
                ids, wts, first = first_of(ranked, answer_w, default_ids, default_w, top.id)
                flow, chosen = reused(cache, by_id, ids, wts, xl, yl, user, task)
                out.picks.setdefault((w, shrink), []).append(Pick(
                    flow, chosen, ids != default_ids, entry_score[first] == entry_ceiling[w]))
    rr.RERANK_Z = SHRINK["on"]
    return out


def pct(x: float) -> str:
    return "·" if math.isnan(x) else f"{100 * x:.1f} %"


def draw_shares(runs: Sequence[UserWide], s: Setting) -> list[float]:
    """The market's share of the gap closed by setting `s`, per draw."""
    n = len(runs[0].picks[s])
    return [market_share(runs, [r.picks[s][d].score for r in runs])
            for d in range(n)]


def wlt(a: Sequence[float], b: Sequence[float], higher: bool) -> tuple[int, int, int]:
    sign = 1 if higher else -1
    won = sum(sign * (x - y) > 1e-12 for x, y in zip(a, b, strict=True))
    lost = sum(sign * (x - y) < -1e-12 for x, y in zip(a, b, strict=True))
    return won, lost, len(a) - won - lost


def report_market(m: Market, runs: Sequence[UserWide], settings: Sequence[Setting], half: str,
                  totals: dict[Setting, list[int]]) -> dict[Setting, float]:
    """Print the market's tables; return each setting's share (mean over draws); add its
    user x draw wins / losses / ties against today's flow to `totals`."""
    higher = m.task == "classification"
    widths = sorted({w for w, _ in settings})
    zero = {z: market_share(runs, [r.zero[z] for r in runs])
            for z in runs[0].zero}
    best_zero = max(("top-1", "job selector", "averaging"), key=lambda z: zero[z])
    rows = [["0 labels: data-free default", pct(zero["data-free default"]), "", "", "", ""],
            [f"0 labels: best data-free ({best_zero})", pct(zero[best_zero]), "", "", "", ""]]
    for w in widths:
        rows.append([f"ceiling, width {w}: best entry / best data-free method "
                     f"({np.mean([r.fetched[w] for r in runs]):.1f} fetched)",
                     f"{pct(market_share(runs, [r.entry_ceiling[w] for r in runs]))} / "
                     f"{pct(market_share(runs, [r.method_ceiling[w] for r in runs]))}",
                     "", "", "", ""])
    shares: dict[Setting, float] = {}
    today = [p.score for r in runs for p in r.picks[TODAY]] if TODAY in settings else None
    for s in settings:
        per_draw = draw_shares(runs, s)
        shares[s] = float(np.mean(per_draw))
        picks = [p for r in runs for p in r.picks[s]]
        vs = "·"
        if today is not None:
            counts = wlt([p.score for p in picks], today, higher)
            totals[s] = [a + b for a, b in zip(totals.get(s, [0, 0, 0]), counts, strict=True)]
            vs = "/".join(map(str, counts))
        rows.append([f"10 labels, flow {setting_name(s)}", pct(shares[s]),
                     f"± {100 * np.std(per_draw):.1f} pt ({100 * min(per_draw):.0f}-"
                     f"{100 * max(per_draw):.0f} %)", vs,
                     f"{sum(p.moved for p in picks)}/{len(picks)}",
                     f"{sum(p.at_best for p in picks)}/{len(picks)}"])
    print_table(f"{m.name}, {half} half ({len(runs)} users): share of the gap closed "
                f"(width:shrink; W/L/= over user x draw against today's flow "
                f"{setting_name(TODAY)})",
                ["what", "gap closed (mean over draws)", "spread across draws (sd, min-max)",
                 f"vs {setting_name(TODAY)} W/L/=", "labels moved the first",
                 "labels' first = shortlist's best"], rows)
    metric = "accuracy" if higher else "RMSE"
    header = ["user", "mean in market", "best in market", "data-free default",
              *(f"ceiling w{w}" for w in widths), *(setting_name(s) for s in settings),
              *(f"{setting_name(s)} vs {setting_name(TODAY)}" for s in settings
                if s != TODAY and TODAY in settings)]
    rows = []
    for r in runs:
        row = [r.name, f"{r.mean:.4f}", f"{r.best:.4f}", f"{r.zero['data-free default']:.4f}",
               *(f"{r.entry_ceiling[w]:.4f}" for w in widths),
               *(f"{np.mean([p.score for p in r.picks[s]]):.4f}" for s in settings)]
        if TODAY in settings:
            base = [p.score for p in r.picks[TODAY]]
            row += ["/".join(map(str, wlt([p.score for p in r.picks[s]], base, higher)))
                    for s in settings if s != TODAY]
        rows.append(row)
    print_table(f"{m.name}, {half} half, per user ({metric}, mean over draws; W/L/= over "
                "draws)", header, rows)
    rows = [[setting_name(s), ", ".join(f"{k} {v}" for k, v in sorted(
        _count(p.chosen for r in runs for p in r.picks[s]).items()))] for s in settings]
    draws = sum(len(r.picks[TODAY]) for r in runs) if TODAY in settings else math.nan
    rows += [[f"re-rank CPU, width {w}", f"{sum(r.cpu[w] for r in runs) / draws:.3f} s per "
              "user x draw (summed over the width's settings)"] for w in widths]
    print_table(f"{m.name}, {half} half: methods chosen on the labels' first; re-rank cost",
                ["setting", "counts over user x draw"], rows)
    return shares


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def choose(all_shares: dict[str, dict[Setting, float]], settings: Sequence[Setting]
           ) -> Setting | None:
    """The protocol's rule: admissible (no market more than 5 points below today's flow),
    then the best mean over markets; within 1 point, the narrower width, then shrink on."""
    admissible = [s for s in settings if all(sh[s] >= sh[TODAY] - GUARD_PTS
                                             for sh in all_shares.values())]
    if not admissible:
        return None
    mean = {s: float(np.mean([sh[s] for sh in all_shares.values()])) for s in admissible}
    top = max(mean.values())
    near = [s for s in admissible if mean[s] >= top - TIE_PTS]
    return min(near, key=lambda s: (s[0], s[1] != "on"))


def each_market(markets: Sequence[str], half: str,
                run: Callable[[Market, list[Learnware], Any, User, int], R],
                report: Callable[[Market, list[R]], dict[K, float]]
                ) -> dict[str, dict[K, float]]:
    """Per market of `markets` (built for the 10-label budget, one BLAS thread): `run`
    on each user of the `half`, with the user's seed, then `report` on those runs; its
    shares by market, and each market's time printed."""
    all_shares: dict[str, dict[K, float]] = {}
    with threadpool_limits(1):
        for name in markets:
            t0, c0 = time.perf_counter(), time.process_time()
            m, market_lws, users, catalog, _ = built(name, [BUDGET])
            runs = [run(m, market_lws, catalog, user, m.user_seed + u)
                    for u, user in enumerate(users) if half_of(u) == half]
            all_shares[name] = report(m, runs)
            print(f"\n{name}: {time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU", flush=True)
    return all_shares


def summary_rows(all_shares: dict[str, dict[K, float]], settings: Sequence[K], today: K,
                 totals: dict[K, list[int]], name: Callable[[K], str]) -> list[list[str]]:
    """The summary's rows: per setting its share on each market, their mean, its worst
    market against `today`'s, and its user x draw W/L/= against `today` (`totals`)."""
    rows = []
    for s in settings:
        vals = [all_shares[n][s] for n in all_shares]
        worst = min(v - all_shares[n][today] for v, n in zip(vals, all_shares, strict=True))
        rows.append([name(s), *(pct(v) for v in vals), pct(float(np.mean(vals))),
                     f"{100 * worst:+.1f} pt", "/".join(map(str, totals.get(s, ())))])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", nargs="+", default=list(MARKETS), choices=MARKETS)
    parser.add_argument("--half", choices=("test", "tuning"), default="tuning")
    parser.add_argument("--draws", type=int, default=DRAWS)
    parser.add_argument("--settings", nargs="+", type=parse_setting,
                        default=[(w, s) for w in WIDTHS for s in SHRINK],
                        help="WIDTH:on|off (today's flow, 5:on, is always run)")
    args = parser.parse_args(argv)
    settings = [TODAY, *(s for s in args.settings if s != TODAY)]
    started, cpu = time.perf_counter(), time.process_time()
    print(f"# Wider shortlist for label-aware search, {args.half} half\n\n`python -m "
          f"benchmarks.labels_wide --half {args.half} --draws {args.draws} --settings "
          f"{' '.join(map(setting_name, settings))} --markets {' '.join(args.markets)}`; "
          f"{machine()}; one BLAS thread; {BUDGET} labels.", flush=True)
    totals: dict[Setting, list[int]] = {}
    all_shares = each_market(
        args.markets, args.half,
        lambda m, lws, catalog, user, seed: run_user(m, lws, catalog, user, seed, settings,
                                                     args.draws),
        lambda m, runs: report_market(m, runs, settings, args.half, totals))
    rows = summary_rows(all_shares, settings, TODAY, totals, setting_name)
    print_table(f"Summary, {args.half} half: 10-label share of the gap closed by the flow "
                "(mean over draws)", ["width:shrink", *all_shares, "mean",
                                      f"worst market vs {setting_name(TODAY)}",
                                      f"user x draw W/L/= vs {setting_name(TODAY)}"], rows)
    if args.half == "tuning" and len(settings) > 1:
        pick = choose(all_shares, settings)
        print("\nchosen by the protocol's rule: "
              f"{'none admissible' if pick is None else setting_name(pick)}")
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
