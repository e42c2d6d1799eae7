"""Issue 16, zero labels: route (JobSelector) or average, chosen from the specs alone?

    python -m benchmarks.route_or_average [diamonds|ridership|survey|tabular|image ...] [--test]

The data-free default reuser is the `JobSelector`: it routes each row to the mixture
member of highest density at it. That is right when the user's rows mix the members'
tasks (MNIST class subsets: 253 % of the gap on the tuning half, against averaging's
153 %) and wrong when the members are near-equal alternatives over the same inputs
(survey's state models -9 % against 110 %, Birthdays' states 78 against 98, diamonds 5
against 45; `benchmarks.agreement`). With labels the default stays where it is unless
the labels beat it, so the wrong prior carries into the labelled flow. This measures
rules that choose between routing and averaging *without labels*, from the mixture's
specs and the user's own unlabelled rows: can the members' inputs be told apart?

**Protocol, written before any rule was measured.**

- Markets, users, search and halves: those of `benchmarks.agreement` (its docstring):
  diamonds, ridership, survey (held out), tabular (Birthdays) and image (MNIST); the
  search's mixture (or top match) with its weights; users at even positions are the
  tuning half, odd the test half (`heldout.half_of`). Without ``--test`` only the
  tuning users are scored; ``--test`` is run once, for the chosen rule, after the
  choice.
- Signals, per user, of the mixture members j (weight w_j > 0; a one-member mixture
  has nothing to choose, both methods are the same) and the user's rows u (at most
  `MAX_ROWS` of them, a fixed seed), all under one kernel, the geometric mean of the
  members' gammas, in the specs' space:
  1. ``gain`` = MMD^2(u, sum_j w_j mu_j) / min_j MMD^2(u, mu_j): how much better the
     weighted mixture explains the user's rows than its best member. A true mixture of
     tasks is explained far better by the mix (small), a set of alternatives barely
     (search admits a mixture at <= 0.9); route when gain < t, t in {0.2, 0.35, 0.5};
  2. ``separation`` = mean over pairs of MMD^2(mu_i, mu_j) / mean_j MMD^2(mu_j, u):
     members far from each other relative to their distance to the user's rows. For an
     equal mixture of k separate tasks this is about k (2 for alternatives that differ
     from the user's distribution by independent noise, less with a common shift);
     route when separation > t, t in {2, 2.5, 3};
  3. ``confidence`` = the mean over the user's rows of max_j p(j | x), the JobSelector's
     own routing posterior (`route_proba`, weights as priors): route when the router is
     sure, t in {0.8, 0.9, 0.95}.
- The one criterion: the mean over the five markets of the tuning half's share of the
  mean-to-best gap closed by the rule's choice (per user: the job selector's or
  averaging's predictions, as the rule says), by the half's means as
  `benchmarks.agreement` computes shares. Guard: no market's share more than 5 points
  below the job selector's (the current default). The rule and threshold with the
  highest mean that passes the guard and beats the job selector's mean is chosen
  (ties: the earlier in the order above); none passing, no test run.
- Adoption: the chosen rule is run once on the test half (``--test``) and reported
  whatever it says, per user (wins / losses against the job selector). It goes into
  the engine as the data-free default only if on the test half the mean share over
  the held-out three does not drop below the job selector's, and no market (MNIST
  above all) drops more than 5 points below the job selector's.

**Tuning half** (x86_64, 2 shared cores, one BLAS thread; 25 s for the five markets).
Share of the gap closed by the rule's choice (per rule, wins / losses / ties per user
against the job selector; users with a one-member mixture are ties):

    market     JS    avg |  gain <0.2 <0.35 <0.5 | sep. >2  >2.5   >3 | conf. >0.8 >0.9 >0.95
    diamonds    4.7  44.9 |     44.9  44.9  36.7 |   44.9  44.9  44.9 |   44.9  44.9  44.9 4/0/0
    ridership  14.7  47.1 |     47.1  47.1  47.1 |   47.1  47.1  47.1 |   14.7  47.1  47.1 3/0/1
    survey     -9.2 109.7 |    109.7 109.7 109.7 |  109.7 109.7 109.7 |   -9.2  -9.2 109.7 4/0/0
    tabular    78.2  98.1 |     98.1  98.1  98.1 |   89.6  98.1  98.1 |   86.6  98.1  98.1 5/1/3
    image     253.0 153.0 |    153.0 153.0 153.0 |  153.0 153.0 153.0 |  253.0 253.0 253.0 0/0/10
    mean       68.3  90.6 |     90.6  90.6  88.9 |   88.9  90.6  90.6 |   78.0  86.8 110.6

The MMD^2 signals do not tell MNIST's mixtures from the alternatives: MNIST's gain is
0.50-0.72 and its separation 1.10-1.74, inside the other markets' ranges (survey's
separation 0.39-0.58, Birthdays' 1.14-2.50), so every threshold averages MNIST too
and fails the guard there (-100 points). The router's confidence does: 0.996-0.998 on
every MNIST user, 0.54-0.57 on diamonds, 0.80-0.90 on ridership, 0.93 on survey,
0.64-0.84 on Birthdays. **Chosen: confidence > 0.95** (mean 110.6 %, every market at
the better of the two methods; the one per-user loss is Birthdays' UT, 0.1267 ->
0.1268). The margin to the nearest averaged user is small (survey 0.933 against 0.95).

**Test half, run once after the choice** (``--test``; 37 s for both halves). The rule's
choice per user against the job selector (RMSE for diamonds, ridership and Birthdays,
accuracy for survey and MNIST; "=": a one-learnware answer, or MNIST, routed as before):

    diamonds   E 0.1370 -> 0.1267, G 0.1828 -> 0.1331, I 0.2481 -> 0.1430      3/0/0
    ridership  2012 4.5105 -> 4.4807, 2014 4.1115 -> 3.8008, 2010 =, 2016 =    2/0/2
    survey     TX 0.8887 -> 0.9000, OH 0.8791 -> 0.8834, VA 0.8797 -> 0.8884,
               NJ = (0.8779, one learnware)                                     3/0/1
    tabular    RI 0.1676 -> 0.1647, NE 0.1331 -> 0.1306, WI 0.0856 -> 0.0827,
               IN 0.0822 -> 0.0790, PA 0.0613 -> 0.0569, DE, CT, SC =           5/0/3
    image      all 10 routed (confidence 0.994-0.998)                          0/0/10

Share of the gap closed, job selector -> the rule: diamonds 36.0 -> 90.7 %, ridership
48.1 -> 53.2 %, survey 23.7 -> 59.9 %, tabular 67.1 -> 95.5 %, image 294.4 -> 294.4 %;
mean 93.9 -> 118.8 %, held-out three 35.9 -> 68.0 %: the adoption conditions hold, and
`engine.reuse.job_selector.prefer_routing` (the confidence signal here is that module's
`JobSelector.confidence`) is the data-free default of `lwnode reuse` and the baseline
of its labelled choice (`lwnode.userside.local.data_free_method`; docs/reuse.md,
"Route or average").
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from benchmarks.agreement import MarketResult, Searched, measure_market, run, user_table
from benchmarks.reuse_common import score
from engine import kernel
from engine.reuse import Averaging, JobSelector

MAX_ROWS = 1000
SEED = 0
SIGNALS = ("gain", "separation", "confidence")
RULES: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("gain", "<", (0.2, 0.35, 0.5)),
    ("separation", ">", (2.0, 2.5, 3.0)),
    ("confidence", ">", (0.8, 0.9, 0.95)),
)
CHOSEN: tuple[str, float] | None = ("confidence", 0.95)
"""The rule the tuning half chose (signal, threshold), set after the tuning run."""


def signals(selector: JobSelector, x: ArrayLike) -> dict[str, float]:
    """The three signals of the module doc for a fitted, routing `selector` and the
    user's raw rows `x` (NaN when fewer than two members have weight)."""
    live = [j for j, w in enumerate(selector.weights_) if w > 0]
    if len(live) < 2 or not selector.routed_:
        return dict.fromkeys(SIGNALS, math.nan)
    specs = [selector.learnwares_[j].spec for j in live]
    w = np.asarray(selector.weights_)[live]
    w = w / w.sum()
    inputs = selector._check_x(x)
    rows = inputs.in_space(specs[0])
    if len(rows) > MAX_ROWS:
        rows = rows[np.random.default_rng(SEED).choice(len(rows), MAX_ROWS, replace=False)]
    g = float(np.exp(np.mean(np.log([s.gamma_ for s in specs]))))
    k = len(specs)
    gram = np.array([[kernel.mean_inner(a.points_, a.weights_, b.points_, b.weights_, g)
                      for b in specs] for a in specs])
    h = np.array([float(s.weights_ @ kernel.mean_embedding_on(s.points_, rows, g))
                  for s in specs])
    c = kernel.sample_self_inner(rows, g)
    single = np.maximum(np.diag(gram) - 2 * h + c, 0.0)
    mix = max(float(w @ gram @ w - 2 * w @ h + c), 0.0)
    pairs = [gram[i, i] + gram[j, j] - 2 * gram[i, j] for i in range(k) for j in range(i + 1, k)]
    return {"gain": mix / single.min() if single.min() > 0 else math.inf,
            "separation": float(np.mean(pairs)) / float(single.mean())
            if single.mean() > 0 else math.inf,
            "confidence": selector.confidence(x)}


def routes(signal: str, op: str, t: float, value: float) -> bool:
    """Does the rule (`signal` `op` `t`) route? NaN (nothing to choose) routes."""
    if math.isnan(value):
        return True
    return value < t if op == "<" else value > t


def rule_name(signal: str, op: str, t: float) -> str:
    return f"{signal}{op}{t:g}"


def measure(name: str, halves: tuple[str, ...]) -> MarketResult:
    def per_user(out: MarketResult, searched: list[Searched]) -> None:
        [s] = searched
        selector = JobSelector(s.mix, weights=s.weights).fit()
        routed = score(out.task, s.y_test, selector.predict(s.x_test))
        averaged = score(out.task, s.y_test, Averaging(s.mix, weights=s.weights).fit()
                         .predict(s.x_test))
        out.add("job selector", routed)
        out.add("averaging", averaged)
        sig = signals(selector, s.x_test)
        for signal in SIGNALS:
            out.add(signal, sig[signal])
        out.add("members", float(np.count_nonzero(np.asarray(s.weights) > 0)))
        for signal, op, grid in RULES:
            for t in grid:
                out.add(rule_name(signal, op, t),
                        routed if routes(signal, op, t, sig[signal]) else averaged)

    return measure_market(name, halves, per_user)


def rule_names() -> list[str]:
    return [rule_name(s, op, t) for s, op, grid in RULES for t in grid]


def wins(r: MarketResult, method: str, half: str, base: str = "job selector"
         ) -> tuple[int, int, int]:
    vals = [(r.values[method][i], r.values[base][i]) for i in r.rows(half)]
    w = sum(r.better(a, b) for a, b in vals)
    lo = sum(r.better(b, a) for a, b in vals)
    return w, lo, len(vals) - w - lo


def choose(results: Sequence[MarketResult], half: str) -> tuple[str | None, dict[str, float]]:
    """The protocol's choice on `half`: the best mean share passing the guard."""
    base = [r.share("job selector", half) for r in results]
    means = {m: float(np.mean([r.share(m, half) for r in results])) for m in rule_names()}
    best: str | None = None
    for m in rule_names():
        guard = all(r.share(m, half) >= b - 0.05 for r, b in zip(results, base, strict=True))
        if guard and means[m] > float(np.mean(base)) + 1e-12 and (
                best is None or means[m] > means[best] + 1e-12):
            best = m
    return best, means


def report(results: list[MarketResult], half: str) -> None:
    user_table(results, half, ["job selector", "averaging", *SIGNALS], width=13)
    names = rule_names()
    print(f"\n{half} half: share of the mean-to-best gap closed (by the half's means); "
          "per rule, its wins / losses / ties per user against the job selector")
    print(f"{'market':<10}{'job sel.':>9}{'averaging':>10}"
          + "".join(f"{n[:16]:>17}" for n in names))
    for r in results:
        cells = []
        for n in names:
            w, lo, t = wins(r, n, half)
            cells.append(f"{100 * r.share(n, half):6.1f}% {w}/{lo}/{t}")
        print(f"{r.name:<10}{100 * r.share('job selector', half):8.1f}%"
              f"{100 * r.share('averaging', half):9.1f}%" + "".join(f"{c:>17}" for c in cells))
    best, means = choose(results, half)
    held = [r for r in results if r.name in ("diamonds", "ridership", "survey")]
    for label, group in (("mean", results), ("held-out 3", held)):
        if not group:
            continue
        print(f"{label:<10}"
              f"{100 * np.mean([r.share('job selector', half) for r in group]):8.1f}%"
              f"{100 * np.mean([r.share('averaging', half) for r in group]):9.1f}%"
              + "".join(f"{100 * np.mean([r.share(n, half) for r in group]):16.1f}%"
                        for n in names))
    print(f"\n{half} half, by the protocol's criterion and guard: "
          f"{best or 'no rule passes'}"
          + (f" (mean {100 * means[best]:.1f} %)" if best else ""))
    if CHOSEN is not None:
        chosen = rule_name(CHOSEN[0], dict((s, op) for s, op, _ in RULES)[CHOSEN[0]],
                           CHOSEN[1])
        cells = []
        for r in results:
            w, lo, t = wins(r, chosen, half)
            cells.append(f"{r.name} {100 * r.share(chosen, half):.1f} % (job selector "
                         f"{100 * r.share('job selector', half):.1f} %, W/L/= {w}/{lo}/{t})")
        print(f"the tuning half's choice, {chosen}, on this half: " + ", ".join(cells))


def main(argv: list[str]) -> int:
    return run(argv, measure, report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
