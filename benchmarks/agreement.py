"""Issue 16, zero labels: does agreement on the user's own rows pick better learnwares?

    python -m benchmarks.agreement [diamonds|ridership|survey|tabular|image ...] [--test]

Search ranks learnwares by how alike their inputs are to the user's (RKME, MMD); on
the held-out markets that ranks weakly by usefulness. A signal search cannot see,
yet needs no label: the learnwares' *predictions on the user's own unlabelled rows*
(which stay on the user's machine). Where the shortlist's members disagree, the one
far from the others' consensus is more often the one that is wrong for this user
(an old year on a drifting series, a state unlike the user's). This measures
data-free reuse rules built on that signal, per user, beside the three data-free
methods the experiments report (top-1 by search, JobSelector and Averaging on the
search's mixture, or its top match, with its weights).

**Protocol, written before any candidate was measured.**

- Markets and users: the held-out markets of `benchmarks.experiments` (diamonds,
  ridership, survey) and the older experiments' markets (tabular: Birthdays;
  image: MNIST class subsets), built and searched as `benchmarks.mixture_rule`
  builds them (same seeds, same requirement specs: `catalog.search(k=5,
  max_mixture=3)`). Users at even positions are the *tuning* half, at odd positions
  the *test* half (`heldout.half_of`). Without ``--test`` only the tuning users are
  scored; ``--test`` is run once, for the chosen candidate, after the choice.
- The shortlist S: the search's mixture members, then its top-5 single matches not
  already in (the learnwares the labelled reusers get, `reuse_common.picked`).
  The consensus c: the equal-weight average of S's outputs on the user's rows
  (regression: predictions; classification: class probabilities aligned by class
  name). Disagreement d_j of member j: RMSE between its output and c (regression),
  mean total-variation distance between its probability rows and c's
  (classification).
- Candidates (all data-free: they read the user's rows, never a label):
  1. ``agree top-1``: the member of least d_j (ties: search order);
  2. ``agree-weighted``: the average of S weighted by 1 / d_j^2 (a member with
     d_j = 0 gets all the weight);
  3. ``agreeing half``: the equal average of the ceil(|S| / 2) members of least d_j;
  4. ``shortlist avg``: the equal average of S (the consensus itself).
- The one criterion: the mean over the five markets of the share of the tuning
  half's mean-to-best gap closed by the *best data-free method* (the best of top-1,
  JobSelector, Averaging and the candidate, by the half's mean, as
  `common.gap_verdict` reports it); the candidate with the highest mean is chosen.
  Adding a method cannot lower a best-of, so "no market drops" holds by
  construction; what guards against a lucky pick is the candidate's *own* share,
  reported per market, and its per-user wins / losses against Averaging on the
  mixture (the best existing data-free method on most markets).
- Adoption: the chosen candidate goes into `engine.reuse` (and `lwnode reuse
  --method`) only if it raises the criterion on the tuning half; the test half is
  then run once and reported whatever it says. Search is not changed, so the
  search benchmark's recall is not touched.

**Tuning half** (x86_64, 2 shared cores, one BLAS thread; 51 s for the five markets).
Share of the half's mean-to-best gap closed, each method alone:

    market      top-1  job sel.  averaging | agree top-1  agree-wtd  agreeing half  shortlist avg
    diamonds     20.2      4.7      44.9   |     31.6        44.7        38.6           42.2
    ridership    35.4     14.7      47.1   |     57.0        47.9        32.6           45.4
    survey       12.6     -9.2     109.7   |     31.8       135.6       107.1          140.5
    tabular      82.6     78.2      98.1   |     76.9       112.5       105.2          112.6
    image        25.3    253.0     153.0   |     86.3       140.4        96.2          157.0

Best data-free with the candidate added, mean over the five markets (over the three
held-out ones): existing 110.6 % (67.2 %); agree top-1 112.5 (70.5); agree-weighted
118.8 (76.1); agreeing half 112.0 (67.2); **shortlist avg 119.6 (77.5), chosen**.
Its per-user wins / losses / ties against averaging on the mixture: diamonds 0/4/0,
ridership 2/2/0, survey 4/0/0, tabular 8/1/0, image 4/6/0. The agreement signal
itself (agree top-1) picks better than search's top-1 on ridership and image but
worse than averaging almost everywhere; weighting by it (agree-weighted) is about
the plain equal average of the shortlist, which won by the criterion.

**Test half, run once after the choice** (``--test``; 48 s). Each method alone:

    market      top-1  job sel.  averaging | agree top-1  agree-wtd  agreeing half  shortlist avg
    diamonds     17.8     36.0      90.7   |     77.8        84.5        90.3           83.1
    ridership    58.7     48.1      53.2   |     32.1        38.0        35.3           35.5
    survey      -34.4     23.7      59.9   |     39.5        72.4        91.8           76.0
    tabular      63.8     67.1      95.5   |     84.0       115.1       109.4          115.0
    image        52.9    294.4     195.6   |     68.0       123.1        86.3          154.0

Best data-free with the chosen candidate (shortlist avg) added: diamonds 90.7 %
(averaging, unchanged), ridership 58.7 % (top-1, unchanged), survey 59.9 -> 76.0 %,
tabular 95.5 -> 115.0 %, image 294.4 % (job selector, unchanged); mean over the three
held-out markets 69.8 -> 75.1 % (issue 16: >= 60 % on every market, >= 80 % on
average: both still missed, by ridership). Per user against averaging on the
mixture: diamonds 1/2/0 (G better; E, I worse), ridership 0/4/0, survey 3/0/1,
tabular 8/0/0, image 3/7/0. The candidates not chosen are printed too; "agreeing
half" did best on this half (80.4 % on the held-out three) but was not the choice of
the tuning half, and one look at a test half is no ground to switch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.heldout import half_of
from benchmarks.mixture_rule import SETUPS
from benchmarks.reuse_birthdays import gap_closed
from benchmarks.reuse_common import build_catalog, picked, private_default, score
from engine.learnware import Learnware
from engine.reuse import Averaging, JobSelector
from engine.search import Requirement

EXISTING = ("top-1", "job selector", "averaging")
CANDIDATES = ("agree top-1", "agree-weighted", "agreeing half", "shortlist avg")
MARKETS = ("diamonds", "ridership", "survey", "tabular", "image")


def outputs(members: list[Learnware], x: np.ndarray) -> tuple[Averaging, list[np.ndarray]]:
    """Each member's output on x, in the columns the equal `Averaging` of them uses."""
    avg = Averaging(members).fit()
    rows = avg._check_x(x).rows
    return avg, [avg._output(lw, rows) for lw in members]


def disagreement(outs: list[np.ndarray], classify: bool) -> np.ndarray:
    """d_j: each output's distance to the equal-weight consensus of all of them."""
    consensus = np.mean(outs, axis=0)
    if classify:
        return np.array([0.5 * float(np.abs(o - consensus).sum(axis=1).mean()) for o in outs])
    return np.array([float(np.sqrt(((o - consensus) ** 2).mean())) for o in outs])


def candidate_predictions(members: list[Learnware], x: np.ndarray, classify: bool
                          ) -> dict[str, np.ndarray]:
    avg, outs = outputs(members, x)
    d = disagreement(outs, classify)
    order = [int(i) for i in np.argsort(d, kind="stable")]

    def combine(weights: np.ndarray) -> np.ndarray:
        total = sum(w * o for w, o in zip(weights, outs, strict=True)) / weights.sum()
        return avg._decide(np.asarray(total))

    if d.min() <= 0.0:
        inverse = (d <= 0.0).astype(float)
    else:
        inverse = 1.0 / d ** 2
    half = np.zeros(len(members))
    half[order[:math.ceil(len(members) / 2)]] = 1.0
    top = np.zeros(len(members))
    top[order[0]] = 1.0
    return {"agree top-1": combine(top), "agree-weighted": combine(inverse),
            "agreeing half": combine(half), "shortlist avg": combine(np.ones(len(members)))}


@dataclass
class MarketResult:
    name: str
    task: str
    users: list[str] = field(default_factory=list)
    halves: list[str] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    def add(self, method: str, value: float) -> None:
        self.values.setdefault(method, []).append(value)

    def add_user(self, name: str, u: int, each: list[float]) -> None:
        """User `name` (position `u`) with every learnware's own score `each`."""
        self.users.append(name)
        self.halves.append(half_of(u))
        self.add("mean in market", float(np.mean(each)))
        self.add("best in market", (max if self.task == "classification" else min)(each))

    def rows(self, half: str) -> list[int]:
        return [i for i, h in enumerate(self.halves) if h == half]

    def mean(self, method: str, half: str) -> float:
        return float(np.mean([self.values[method][i] for i in self.rows(half)]))

    def share(self, method: str, half: str) -> float:
        return gap_closed(self.mean("mean in market", half), self.mean("best in market", half),
                          self.mean(method, half))

    def best_of(self, methods: tuple[str, ...], half: str) -> tuple[str, float]:
        shares = {m: self.share(m, half) for m in methods}
        top = max(shares, key=lambda m: -math.inf if math.isnan(shares[m]) else shares[m])
        return top, shares[top]

    def better(self, a: float, b: float) -> bool:
        return a > b + 1e-12 if self.task == "classification" else a < b - 1e-12


@dataclass(frozen=True)
class Searched:
    """One user's test rows and what search returned for their private requirement."""

    x_test: np.ndarray
    y_test: np.ndarray
    mix: list[Learnware]
    weights: np.ndarray
    shortlist: list[Learnware]
    top: Learnware


def measure_market(name: str, halves: tuple[str, ...],
                   per_user: Callable[[MarketResult, list[Searched]], None],
                   seed_offsets: Sequence[int] = (0,)) -> MarketResult:
    """Market `name`'s users of `halves`, one BLAS thread: each user's oracle scores
    (every learnware alone) go into the result, then the search on the user's private
    requirement (k = 5, mixtures of up to 3; one search for each of `seed_offsets`, the
    requirement spec's seed being the user's plus the offset), and `per_user` adds the
    methods' scores from the searches."""
    started = time.perf_counter()
    with threadpool_limits(1):
        setup = SETUPS[name]()
        catalog = build_catalog(setup.market)
        by_id = {lw.id: lw for lw in setup.market}
        out = MarketResult(name, setup.task)
        for u, (user, x_test, y_test, seed) in enumerate(setup.users):
            if half_of(u) not in halves:
                continue
            out.add_user(user, u, [score(setup.task, y_test, lw.model.predict(x_test))
                                   for lw in setup.market])
            searched = []
            for offset in seed_offsets:
                spec = private_default(x_test, N_POINTS, seed + offset)
                result = catalog.search(Requirement(spec=spec), k=5, max_mixture=3)
                searched.append(Searched(x_test, y_test, *picked(result, by_id)))
            per_user(out, searched)
    out.seconds = time.perf_counter() - started
    return out


def measure(name: str, halves: tuple[str, ...]) -> MarketResult:
    def per_user(out: MarketResult, searched: list[Searched]) -> None:
        [s] = searched
        out.add("top-1", score(out.task, s.y_test, s.top.model.predict(s.x_test)))
        out.add("job selector", score(out.task, s.y_test, JobSelector(
            s.mix, weights=s.weights).fit().predict(s.x_test)))
        out.add("averaging", score(out.task, s.y_test, Averaging(
            s.mix, weights=s.weights).fit().predict(s.x_test)))
        classify = out.task == "classification"
        for method, pred in candidate_predictions(s.shortlist, s.x_test, classify).items():
            out.add(method, score(out.task, s.y_test, pred))

    return measure_market(name, halves, per_user)


def gap_cell(r: MarketResult, prefix: str, methods: Sequence[str], best: float,
             half: str) -> str:
    """``"a/b/c best x%"``: each of ``prefix|method``'s share of `half`'s gap, then `best`."""
    each = "/".join(f"{100 * r.share(f'{prefix}|{m}', half):.0f}" for m in methods)
    return f"{each} best {100 * best:5.1f}%"


def user_table(results: list[MarketResult], half: str, columns: list[str], width: int = 15
               ) -> None:
    """One row per user of `half`: mean and best in market, then `columns`' scores."""
    metric = {"classification": "accuracy", "regression": "RMSE"}
    units = ", ".join(f"{r.name} {metric[r.task]}" for r in results)
    print(f"\n=== {half} half: per user ({units})")
    print(f"{'market':<10}{'user':<14}{'mean':>8}{'best':>8}"
          + "".join(f"{c.replace('|', ':')[:width - 1]:>{width}}" for c in columns))
    for r in results:
        for i in r.rows(half):
            print(f"{r.name:<10}{r.users[i][:12]:<14}{r.values['mean in market'][i]:8.4f}"
                  f"{r.values['best in market'][i]:8.4f}"
                  + "".join(f"{r.values[c][i]:{width}.4f}" for c in columns))


def report(results: list[MarketResult], half: str) -> None:
    methods = (*EXISTING, *CANDIDATES)
    user_table(results, half, list(methods))
    print(f"\n{half} half: share of the mean-to-best gap closed (by the half's means)")
    print(f"{'market':<10}" + "".join(f"{m[:14]:>15}" for m in methods)
          + f"{'best existing':>22}")
    for r in results:
        top, share = r.best_of(EXISTING, half)
        print(f"{r.name:<10}" + "".join(f"{100 * r.share(m, half):14.1f}%" for m in methods)
              + f"{top:>15} {100 * share:5.1f}%")
    print(f"\n{half} half: best data-free with the candidate added; the candidate's own "
          f"wins / losses / ties per user against averaging")
    print(f"{'market':<10}{'existing':>10}" + "".join(f"{c[:18]:>26}" for c in CANDIDATES))
    means = {c: [] for c in ("existing", *CANDIDATES)}
    for r in results:
        _, base = r.best_of(EXISTING, half)
        means["existing"].append(base)
        cells = []
        for c in CANDIDATES:
            _, share = r.best_of((*EXISTING, c), half)
            means[c].append(share)
            vals = [(r.values[c][i], r.values["averaging"][i]) for i in r.rows(half)]
            w = sum(r.better(a, b) for a, b in vals)
            lo = sum(r.better(b, a) for a, b in vals)
            cells.append(f"{100 * share:7.1f}% ({w}/{lo}/{len(vals) - w - lo})")
        print(f"{r.name:<10}{100 * base:9.1f}%" + "".join(f"{c:>26}" for c in cells))
    held = [i for i, r in enumerate(results) if r.name in ("diamonds", "ridership", "survey")]
    for label, idx in (("mean, all markets", range(len(results))),
                       ("mean, held-out three", held)):
        if not idx:
            continue
        print(f"{label:<20}" + "".join(
            f"{100 * np.mean([means[c][i] for i in idx]):>{10 if c == 'existing' else 26}.1f}"
            for c in ("existing", *CANDIDATES)))


def run(argv: list[str], measure: Callable[[str, tuple[str, ...]], MarketResult],
        report: Callable[[list[MarketResult], str], None]) -> int:
    """The command line of this script and `benchmarks.kernel_scaling`: markets by name
    (all without any), the tuning half, and with ``--test`` the test half too."""
    names = [a for a in argv if not a.startswith("--")] or list(MARKETS)
    if any(n not in MARKETS for n in names):
        print(f"expected some of {', '.join(MARKETS)}, got {names!r}", file=sys.stderr)
        return 2
    halves = ("tuning", "test") if "--test" in argv else ("tuning",)
    results = []
    for name in names:
        results.append(measure(name, halves))
        r = results[-1]
        print(f"{name}: {len(r.users)} users, {r.seconds:.0f} s{r.note}", file=sys.stderr)
    for half in halves:
        report(results, half)
    return 0


def main(argv: list[str]) -> int:
    return run(argv, measure, report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
