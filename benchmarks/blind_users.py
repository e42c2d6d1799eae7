"""Issue 16, a blind test: today's product on users no method was ever tuned or tested on.

    python -m benchmarks.blind_users                          # survey and MNIST, every budget
    python -m benchmarks.blind_users --markets image --budgets 500

Why: every rule in the product was chosen on the tuning halves of issue 16's markets
(`benchmarks.experiments.heldout.half_of`), and every test half has since been looked at
many times. This script adds users *after* the fixed lists, on two markets that have data
left over, and measures exactly today's product on them, once. Nothing is chosen here.

**The new users (fixed before any run; the existing users, learnwares, halves and seeds
are untouched).** The market is the experiment's own (`survey.build`,
`image.market_and_users`, called as they are); its existing users are checked
byte-identical to the lists every earlier figure used (`EXISTING`: sha256 of every
user's name and arrays, recorded on main before this script existed) and the run stops
if they differ. The new users come from their own random stream (`BLIND_SEED`), so no
existing user's draw moves:

- *survey* (`stevedata/TV16`): the states that are neither among the 24 learnware states
  nor the 8 users, with at least `SURVEY_MIN_ROWS` = 200 complete respondents: Utah 316,
  Arkansas 279, New Mexico 246, Nebraska 240, West Virginia 233, New Hampshire 231,
  Maine 216, Mississippi 210, Idaho 208 (9 users, largest first; the next, Delaware,
  has 154). Each state's respondents are permuted by `BLIND_SEED`'s generator (in that
  order); the first `SURVEY_POOL` = 100 are the pool labels are drawn from, the rest
  (108-216) the unlabelled test rows the user searches with and is scored on. So the
  budgets are 10, 50 and 100 (at 100 the user has its whole pool); 500 is out of reach.
- *MNIST* (the image experiment's 20 learnwares): `N_MNIST_BLIND` = 10 users drawn by
  `reuse_mnist.make_user` from a generator seeded with `BLIND_SEED` (the same users'
  images as the 20 existing users: 200 a digit, 6 digits a user, pool 500, test 700);
  a draw whose digit set equals an existing user's or an earlier new one's is skipped
  (a repeated task is not a new user). Budgets 10, 50, 100 and 500 (the whole pool).

User u of the extended list (new users after the existing ones: survey u = 8..16, MNIST
u = 20..29) searches and draws labels with the experiment's seed + u, as every user does.

**What is measured: today's product, no choices.** Per new user, with
`benchmarks.labels_target`'s functions (no second copy):

(a) zero labels: mean and best in market (each learnware alone on the user's test rows);
issue 16's zero-label measure, the best of top-1, the job selector and averaging on the
search's mixture (or top match), as `labels_target` reports it; and what a user gets by
default: `lwnode reuse` with no labels and no method (`data_free_method`: route or
average on the user's rows, `data_free_predictions`), and the shortlist's equal average
the CLI offers beside it (`rerank.average_ids` of the search's answer with
`DEFAULT_RERANK`, `Averaging` without weights). Share of the gap from mean to best in
market: per user, and the market's (the gap of the users' means, as docs/results).
(b) 10 labels: `labels_target.run_user`'s flow (search -> re-rank -> `select_method`), 5
draws per user (`labels_target.DRAWS`, `DRAW_STRIDE`); the market's share of the gap per
draw, its mean and spread across draws; per user, its share (min-max over draws).
(c) the flow (and default reuse) against the better user-only model (logistic regression
or random forest on the labels alone) at 10, 50, 100 and 500 where the pool allows:
margin = mean over users, signed so + is better, mean ± sd across draws; met when the
mean exceeds the sd; user x draw wins / losses (`labels_target.report_market`).

Issue 16's targets, reported whatever they say: zero labels >= 60 % on every market; 10
labels >= 85 %; beats the better user-only model by more than the spread at every
budget. There is no half here: every new user is reported.

**Run once**, in this order, one BLAS thread, `nice`: survey (every budget), then MNIST
at 10, 50 and 100, then MNIST at 500 as a separate invocation (`--markets image
--budgets 500`; its draws are the same ones a single run would make) if the clock allows
(deadline 02:25 UTC); if not, it is dropped and said so. Raw output:
docs/results/blind_users.md.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, print_table
from benchmarks.experiments.common import N_POINTS
from benchmarks.labels_target import (
    DRAWS,
    Market,
    UserRun,
    fmt,
    market,
    pct,
    report_market,
    run_user,
)
from benchmarks.rerank_birthdays import answer_of
from benchmarks.reuse_birthdays import gap_closed
from benchmarks.reuse_common import User, build_catalog, picked, ranked_search, score
from engine.learnware import Learnware
from engine.reuse import Averaging
from lwnode.userside.local import data_free_method, data_free_predictions
from lwnode.userside.rerank import DEFAULT_RERANK, average_ids

MARKETS = ("survey", "image")
BUDGETS = (10, 50, 100, 500)
BLIND_SEED = 16_016
SURVEY_MIN_ROWS = 200
SURVEY_POOL = 100
SURVEY_BUDGETS = (0, 10, 50, 100)
N_MNIST_BLIND = 10
EXISTING = {
    "survey": (8, "85a6aae0f3a0f35be90ca42597dafdc53dc6c60576113c94dcf0b1502e818262"),
    "image": (20, "b626015c15f3723a44d5c72bc60dd11092c63d2017e0d59a4757779490d3b7f7"),
}
"""market -> (how many existing users, sha256 of their names and arrays: `users_digest`
of the lists on main before this script)."""


def users_digest(users: Sequence[User]) -> str:
    d = hashlib.sha256()
    for u in users:
        d.update(u.name.encode())
        for a in (u.x_pool, u.y_pool, u.x_test, u.y_test):
            d.update(np.ascontiguousarray(a).tobytes())
    return d.hexdigest()


def survey_blind_states(state: np.ndarray, taken: Sequence[str]) -> list[str]:
    """The states not in `taken` (the learnware and user states) with at least
    `SURVEY_MIN_ROWS` respondents, largest first."""
    from benchmarks.experiments import survey

    return [s for s in survey.states_by_size(state)
            if s not in taken and np.sum(state == s) >= SURVEY_MIN_ROWS]


def survey_market_and_users() -> tuple[list[Learnware], list[User]]:
    """The survey experiment's learnwares and users, then the blind users."""
    from benchmarks.experiments import survey

    market_lws, users = survey.build()
    x, y, state, _ = survey.load()
    taken = [u.name for u in users] + [lw.id.removeprefix("vote-").replace("-", " ")
                                       for lw in market_lws]
    rng = np.random.default_rng(BLIND_SEED)
    for s in survey_blind_states(state, taken):
        rows = rng.permutation(np.flatnonzero(state == s))
        pool, test = rows[:SURVEY_POOL], rows[SURVEY_POOL:]
        users.append(User(s, x[pool], y[pool], x[test], y[test]))
    return market_lws, users


def image_market_and_users() -> tuple[list[Learnware], list[User]]:
    """The image experiment's learnwares and users, then `N_MNIST_BLIND` blind users
    with digit sets no earlier user has."""
    from benchmarks.experiments import image
    from benchmarks.reuse_mnist import load, make_user, split

    market_lws, users = image.market_and_users()
    x, y = load()
    _, user_rows = split(x, y)
    rng = np.random.default_rng(BLIND_SEED)
    seen = {u.name for u in users}
    n = len(users)
    while len(users) < n + N_MNIST_BLIND:
        user = make_user(x, y, user_rows, rng)
        if user.name not in seen:
            seen.add(user.name)
            users.append(user)
    return market_lws, users


BUILDS = {"survey": survey_market_and_users, "image": image_market_and_users}


def blind_market(name: str) -> Market:
    """`labels_target.market(name)` with the extended user list (survey: its pool of
    `SURVEY_POOL` allows budgets up to 100)."""
    m = market(name)
    budgets = SURVEY_BUDGETS if name == "survey" else m.budgets
    return Market(m.name, m.task, budgets, m.user_seed, BUILDS[name])


def zero_defaults(m: Market, market_lws: Sequence[Learnware], catalog: Any, user: User,
                  seed: int) -> dict[str, Any]:
    """What the product gives the user with no labels: `lwnode reuse`'s default (route
    or average) on the search's mixture or top match, and the CLI's shortlist average."""
    by_id = {lw.id: lw for lw in market_lws}
    result = ranked_search(catalog, user.x_test, N_POINTS, seed)
    mix, weights, _, _ = picked(result, by_id)
    choice = data_free_method(mix, user.x_test, list(weights))
    _, pred = data_free_predictions(choice, mix, user.x_test, list(weights))
    answer = answer_of(result, by_id)
    for hit, match in zip(answer["single"], result.single, strict=True):
        hit["score"] = match.score
    ids = average_ids(answer, DEFAULT_RERANK)
    avg = Averaging([by_id[i] for i in ids]).fit().predict(user.x_test)
    return {"default": score(m.task, user.y_test, pred), "method": choice.method,
            "confidence": choice.confidence, "shortlist": score(m.task, user.y_test, avg),
            "n_shortlist": len(ids)}


def report_zero(name: str, runs: Sequence[UserRun], extra: Sequence[dict[str, Any]]) -> None:
    """Zero labels, per user and for the market: issue 16's measure and the defaults."""
    methods = ("top-1", "job selector", "averaging")
    values = {z: [r.zero[z] for r in runs] for z in methods}
    values["default (route or average)"] = [e["default"] for e in extra]
    values["shortlist average"] = [e["shortlist"] for e in extra]
    mean = float(np.mean([r.mean for r in runs]))
    best = float(np.mean([r.best for r in runs]))
    shares = {k: gap_closed(mean, best, float(np.mean(v))) for k, v in values.items()}
    measure = max(methods, key=lambda z: shares[z])
    rows = []
    for i, (r, e) in enumerate(zip(runs, extra, strict=True)):
        rows.append([r.name, fmt(r.mean), fmt(r.best),
                     *(f"{fmt(v[i])} ({pct(gap_closed(r.mean, r.best, v[i]))})"
                       for v in values.values()),
                     f"{e['method']} ({e['confidence']:.3f})", str(e["n_shortlist"])])
    rows.append(["market (gap of the means)", fmt(mean), fmt(best),
                 *(f"{fmt(float(np.mean(v)))} ({pct(shares[k])})" for k, v in values.items()),
                 "", ""])
    rows.append(["mean of per-user shares", "", "",
                 *(pct(float(np.mean([gap_closed(r.mean, r.best, v[i])
                                      for i, r in enumerate(runs)])))
                   for v in values.values()), "", ""])
    print_table(f"{name}, blind users, zero labels (score; share of the gap closed)",
                ["user", "mean in market", "best in market", *values,
                 "default chose (router confidence)", "shortlist size"], rows)
    verdict = "MET" if shares[measure] >= 0.60 else "MISSED"
    print(f"\n{name}: issue 16's zero-label measure (best of top-1 / job selector / "
          f"averaging): {measure} {pct(shares[measure])} (target >= 60 %: {verdict}); "
          f"default {pct(shares['default (route or average)'])}, shortlist average "
          f"{pct(shares['shortlist average'])}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", nargs="+", default=list(MARKETS), choices=MARKETS)
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--draws", type=int, default=DRAWS)
    args = parser.parse_args(argv)
    started, cpu = time.perf_counter(), time.process_time()
    print(f"# Issue 16, blind users\n\n`python -m benchmarks.blind_users --markets "
          f"{' '.join(args.markets)} --budgets {' '.join(map(str, args.budgets))} --draws "
          f"{args.draws}`; {machine()}; one BLAS thread.", flush=True)
    with threadpool_limits(1):
        for name in args.markets:
            t0 = time.perf_counter()
            m = blind_market(name)
            market_lws, users = m.build()
            n_old, digest = EXISTING[name]
            if users_digest(users[:n_old]) != digest:
                raise SystemExit(f"{name}: the existing users changed; nothing measured")
            blind = list(range(n_old, len(users)))
            print(f"\n{name}: the {n_old} existing users are byte-identical (sha256 "
                  f"{digest[:12]}...); {len(blind)} blind users: "
                  + ", ".join(f"{users[u].name} ({len(users[u].y_pool)} pool + "
                              f"{len(users[u].y_test)} test)" for u in blind), flush=True)
            catalog = build_catalog(market_lws)
            budgets = [b for b in args.budgets if b in m.budgets]
            runs = [run_user(m, market_lws, catalog, users[u], m.user_seed + u, budgets,
                             args.draws) for u in blind]
            extra = [zero_defaults(m, market_lws, catalog, users[u], m.user_seed + u)
                     for u in blind]
            report_zero(name, runs, extra)
            report_market(m, runs, budgets, "blind", time.perf_counter() - t0)
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s "
          "CPU (markets' builds included)")


if __name__ == "__main__":
    main()
