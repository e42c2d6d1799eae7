"""Issue 16 point 3: a bandwidth rule per kind of space (table vs image / text).

    python -m benchmarks.bandwidth_kind [image] [text] [conv] [--test C]
    python -m benchmarks.bandwidth_kind --recall C [--entries 1000] [--queries 20]
    python -m benchmarks.bandwidth_kind --privacy C

Today every spec, whatever its space, takes ``gamma = engine.kernel.auto_gamma(rows)``
(one over the 10th percentile of squared distances, snapped to a power of two) when
fitted with ``gamma="auto"``. Issue 16 measured on its held-out markets that a 4x
narrower kernel took image top-1 from 70 % to 98 % and text averaging from 25 % to
61 %, erratic on tables; `benchmarks.kernel_scaling` found the 4x narrower kernel
tied the mean over five markets (lost diamonds and ridership, won MNIST 253 -> 272 %),
because it applied one rule to every space. Here the rule is told apart by the spec's
own type, never by the user.

**Protocol, written and committed before any run.**

- Rule (candidates stated first, few): table specs keep today's `auto_gamma`; image
  and text specs (pixel / embedding spaces) take ``gamma = c x auto_gamma`` on the
  same rows, with c in {2, 4, 8}; c = 1 is today (the reference). The factor
  multiplies the snapped power of two, so gamma stays a power of two; both the
  learnwares' specs and the users' requirements get it (the rule is the spec's, so
  both sides of every comparison follow it; the catalog compares two specs under
  the geometric mean of their gammas, here c x today's pair gamma). `fit_rule`
  reproduces `RKMESpec.fit` exactly (same generator, consumed in the same order) with
  the factor applied, so c = 1 is today's private-default spec digit for digit.
- Tables are unchanged by construction: the rule leaves every table spec's gamma as
  it is, so the five table markets' figures (docs/benchmarks.md, docs/reuse.md) stand
  and are not re-run.
- Markets (criterion): ``image`` = the MNIST experiment (`benchmarks.experiments.image`:
  20 learnwares, 20 users; its specs are the 784-d RKME of pixels / 255, the pixel
  space the rule names) and ``text`` = the fine-food reviews experiment
  (`benchmarks.experiments.text`: 8 learnwares, 16 users; its learnwares hold the table
  RKME of the MiniLM embeddings, the points an `RKMETextSpec` holds, so the rule is
  applied to that space as the text spec would). Embeddings are read from the
  experiments' cache (``.bench-cache/minilm`` of the repository root; a worktree
  links it).
- Halves: users at even positions in the market's list are the tuning half, odd
  the test half (`benchmarks.experiments.heldout.half_of`, fixed before any result).
  Requirement of user u: seed ``USER_SEED + u`` as the experiments fit it.
- Methods (zero labels, as the experiments score them): top-1 by search, JobSelector
  and Averaging on the search's mixture (or its top match) with its weights
  (`catalog.search(k=5, max_mixture=3)`, `reuse_common.picked`).
- The one criterion: the mean over the two markets of the tuning half's best
  data-free share of the mean-to-best gap (best of top-1, job selector, averaging,
  by the half's means, `agreement.MarketResult.best_of`); guard: no market more than
  5 points below today's (c = 1). The c with the highest mean that passes the guard
  and beats today's mean is chosen; none: no test run and the measurement lands.
- Second guard, for the engine's image spec only: `RKMEImageSpec` lives in the 128-d
  ``conv-rf-v1`` feature space, not in pixels. Market ``conv`` is the MNIST market
  with every spec (learnwares and requirements) an `RKMEImageSpec` of the images
  (models unchanged, on pixels); JobSelector routes through the spec's `transform`,
  which wants images, not the experiment's flat rows, so there only top-1 and
  averaging are scored. It is not in the criterion; the chosen c is applied to
  `RKMEImageSpec` only if ``conv``'s tuning-half best share is not more than 5 points
  below c = 1 (else only text specs change).
- Test half: the chosen c and c = 1, run once (``--test C``), reported whatever it
  says, with per-user wins / losses / ties of each method against c = 1.
- Adoption in the engine: only if the test half's mean best share under c is at
  least today's and no market is more than 5 points below today's there, and the
  two checks below hold.
- Search recall (``--recall C``): the index (random-Fourier-feature shortlist, then
  exact re-rank) against the exact scan, recall@5 as `benchmarks.search_bench`
  measures it, on catalogs of image-like (MNIST pixels, 784-d) and text-like (review
  embeddings, 384-d) specs: ``--entries`` learnwares, each the private-default spec
  of 300 rows drawn from 4 random digits / topics in Dirichlet(1) proportions, and
  ``--queries`` requirements drawn the same way from the users' side, under c = 1
  and c. Must not drop.
- Privacy (``--privacy C``): the attacks of `benchmarks.privacy_bench` (membership
  AUC by nearest released point and by the spec's kernel density; the share of
  near-copy points) on the private default under c = 1 and c, for MNIST pixels,
  MNIST in the conv-rf-v1 space and the review embeddings, n = 250 and 1,000
  members against as many non-members (draw seed 7). "Worse" = either AUC or the
  near-copy share higher under c than under c = 1 by more than 0.02 (the spread the
  sweep's DP draws show) on any set.

**Results** (raw output: docs/results/bandwidth_kind.md). Best data-free share of the
gap, tuning half, c = 1 / 2 / 4 / 8: reviews 48.9 / 48.9 / 49.4 / 63.2 %, MNIST 253.0 /
257.4 / 261.6 / 271.2 %, mean 151.0 / 153.2 / 155.5 / 167.2 %; conv-rf-v1 182.5 / 188.6
/ 185.3 / 193.1 %. c = 8 chosen. Test half once, c = 1 -> 8: reviews 63.0 -> 80.4 %,
MNIST 294.4 -> 319.7 %, mean 178.7 -> 200.0 %, conv-rf-v1 189.9 -> 187.5 % (within its
guard). But recall@5 of the index falls 1.000 -> 0.640 (pixels) and 1.000 -> 0.740
(embeddings), and the KDE membership AUC at the spec's gamma rises 0.48-0.53 ->
0.54-0.59 on all six privacy cells (points unchanged: AUC nn and near-copies equal). Both
checks fail: not adopted, the engine unchanged. The attacker-gamma column of the
privacy table is a diagnostic added after the first privacy run (its other columns
are that run's): 0.56-0.65 from today's specs, 0.58-0.65 from c = 8's. Recall
diagnostics after the verdict: c = 4 keeps 0.990 / 1.000; c = 8 with 512 index
features (``--features 512``) 0.890 / 0.980.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from benchmarks.agreement import MarketResult, gap_cell
from benchmarks.experiments import image as image_exp
from benchmarks.experiments import text as text_exp
from benchmarks.experiments.common import N_POINTS
from benchmarks.experiments.embed_cache import cached_embeddings
from benchmarks.experiments.heldout import half_of
from benchmarks.reuse_common import SpecFit, User, build_catalog, picked, score
from engine import kernel
from engine.learnware import Learnware
from engine.reuse import Averaging, JobSelector
from engine.search import Catalog, Requirement
from engine.search.catalog import DEFAULT_INDEX_FEATURES
from engine.specification import RKMEImageSpec, RKMESpec, RKMETableSpec

CANDIDATES = (2, 4, 8)
TODAY = 1
GUARD = 0.05
PRIVACY_WORSE = 0.02
METHODS = ("top-1", "job selector", "averaging")
MARKETS = ("image", "text", "conv")
CRITERION = ("image", "text")


def fit_rule(spec: RKMESpec, x: Any, c: float) -> RKMESpec:
    """`RKMESpec.fit` with ``gamma = c x auto_gamma`` (same generator, same order)."""
    vectors = spec._to_vectors(x)
    rng = np.random.default_rng(spec.random_state)
    g = min(c * kernel.auto_gamma(vectors, rng), kernel.MAX_GAMMA)
    spec._fit_vectors(vectors, g, rng)
    return spec


def table_fit(c: float) -> SpecFit:
    """The private-default table spec under the rule with factor `c`."""
    def fit(x: np.ndarray, n_points: int, seed: int) -> RKMESpec:
        return fit_rule(RKMETableSpec(n_points=n_points, random_state=seed), x, c)
    return fit


def conv_fit(c: float) -> SpecFit:
    """The private-default image spec (conv-rf-v1 space) of flat 28 x 28 MNIST rows."""
    def fit(x: np.ndarray, n_points: int, seed: int) -> RKMESpec:
        return fit_rule(RKMEImageSpec(n_points=n_points, random_state=seed),
                        np.asarray(x).reshape(-1, 28, 28), c)
    return fit


def market(name: str, c: float) -> tuple[list[Learnware], list[User], SpecFit, int]:
    """(learnwares, users, requirement fit, user seed base) of market `name` under c."""
    if name == "text":
        lws, users = text_exp.market_and_users(table_fit(c))
        return lws, users, table_fit(c), text_exp.USER_SEED
    fit = conv_fit(c) if name == "conv" else table_fit(c)
    lws, users = image_exp.market_and_users(fit)
    return lws, users, fit, image_exp.USER_SEED


def measure(name: str, factors: tuple[float, ...], half: str) -> MarketResult:
    """Every user of `half` under each factor: columns ``"c|method"``."""
    out = MarketResult(name, "classification")
    started = time.perf_counter()
    with threadpool_limits(1):
        for c in factors:
            lws, users, fit, base = market(name, c)
            catalog = build_catalog(lws)
            by_id = {lw.id: lw for lw in lws}
            for u, user in enumerate(users):
                if half_of(u) != half:
                    continue
                if c == factors[0]:
                    out.add_user(user.name, u, [score("classification", user.y_test,
                                                      lw.model.predict(user.x_test))
                                                for lw in lws])
                spec = fit(user.x_test, N_POINTS, base + u)
                result = catalog.search(Requirement(spec=spec), k=5, max_mixture=3)
                mix, weights, _, top = picked(result, by_id)
                y, x = user.y_test, user.x_test
                xr = x.reshape(-1, 28, 28) if name == "conv" else x  # image reusers: images
                out.add(f"{c}|top-1", score("classification", y, top.model.predict(x)))
                out.add(f"{c}|averaging", score(
                    "classification", y, Averaging(mix, weights=weights).fit().predict(xr)))
                out.add(f"{c}|job selector", math.nan if name == "conv" else score(
                    "classification", y, JobSelector(mix, weights=weights).fit().predict(x)))
                out.add(f"{c}|gamma", float(spec.gamma_))
    out.seconds = time.perf_counter() - started
    return out


def best(r: MarketResult, c: float, half: str) -> float:
    methods = tuple(f"{c}|{m}" for m in METHODS if not (r.name == "conv"
                                                        and m == "job selector"))
    return r.best_of(methods, half)[1]


def report(results: list[MarketResult], factors: tuple[float, ...], half: str) -> None:
    print(f"\n=== {half} half: per user (accuracy; top-1 / job selector / averaging "
          "per c; requirement gamma)")
    for r in results:
        for i in r.rows(half):
            cells = " | ".join(
                "/".join(f"{r.values[f'{c}|{m}'][i]:.3f}" for m in METHODS)
                + f" g={r.values[f'{c}|gamma'][i]:g}" for c in factors)
            print(f"{r.name:<6}{r.users[i][:26]:<28} mean {r.values['mean in market'][i]:.3f}"
                  f" best {r.values['best in market'][i]:.3f} | {cells}")
    print(f"\n{half} half: share of the mean-to-best gap closed (top-1 / job selector / "
          "averaging) and the best of them, per factor c")
    print(f"{'market':<8}" + "".join(f"{'c = ' + str(c):>30}" for c in factors))
    bests: dict[float, list[float]] = {c: [] for c in factors}
    for r in results:
        shares = [gap_cell(r, str(c), METHODS, best(r, c, half), half) for c in factors]
        for c in factors:
            if r.name in CRITERION:
                bests[c].append(best(r, c, half))
        print(f"{r.name:<8}" + "".join(f"{cell:>30}" for cell in shares))
    if all(bests[c] for c in factors) and len(bests[factors[0]]) == len(CRITERION):
        print(f"{'mean':<8}" + "".join(f"{100 * np.mean(bests[c]):>29.1f}%" for c in factors))
    ref = factors[0]
    for c in factors[1:]:
        for r in results:
            drop = best(r, ref, half) - best(r, c, half)
            flag = "  GUARD" if drop > GUARD else ""
            wins = []
            for m in METHODS:
                a = [r.values[f"{c}|{m}"][i] for i in r.rows(half)]
                b = [r.values[f"{ref}|{m}"][i] for i in r.rows(half)]
                if any(math.isnan(v) for v in a):
                    continue
                w = sum(x > y + 1e-12 for x, y in zip(a, b, strict=True))
                lo = sum(x < y - 1e-12 for x, y in zip(a, b, strict=True))
                wins.append(f"{m} {w}/{lo}/{len(a) - w - lo}")
            print(f"c = {c} vs {ref}, {r.name}: best {-100 * drop:+.1f} pt{flag}; "
                  f"wins/losses/ties per user: {', '.join(wins)}")


# -- search recall on image- and text-like catalogs --------------------------------------
def recall_data() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """space -> (market rows, their group, users' rows, their group)."""
    from benchmarks.reuse_mnist import load, split

    x, y = load()
    m_rows, u_rows = split(x, y)
    mi = np.concatenate(list(m_rows.values()))
    ui = np.concatenate(list(u_rows.values()))
    out = {"image (784-d pixels)": (x[mi], y[mi], x[ui], y[ui])}
    texts, _ = text_exp.load_reviews()
    emb = cached_embeddings(texts)
    from sklearn.cluster import KMeans
    topics = KMeans(text_exp.N_TOPICS, random_state=text_exp.SEED, n_init=10).fit_predict(emb)
    perm = np.random.default_rng(3).permutation(len(emb))
    a, b = perm[: len(emb) // 2], perm[len(emb) // 2:]
    out["text (384-d embeddings)"] = (emb[a], topics[a], emb[b], topics[b])
    return out


def draw(x: np.ndarray, g: np.ndarray, rng: np.random.Generator, n: int = 300) -> np.ndarray:
    groups = rng.choice(np.unique(g), 4, replace=False)
    share = rng.dirichlet(np.ones(4))
    counts = np.maximum(1, np.round(share * n).astype(int))
    return np.vstack([x[rng.choice(np.flatnonzero(g == k), c, replace=True)]
                      for k, c in zip(groups, counts, strict=True)])


def recall(c: float, entries: int, queries: int, features: int) -> None:
    from benchmarks.search_bench import QUERY_SEMANTIC
    from engine.specification import SemanticSpec
    from engine.vocabulary import DataType, TaskType

    sem = SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.REGRESSION, name="x")
    with threadpool_limits(1):
        for space, (xm, gm, xu, gu) in recall_data().items():
            for factor in (TODAY, c):
                started = time.perf_counter()
                fit = table_fit(factor)
                rng = np.random.default_rng(11)
                catalog = Catalog(n_features=features)
                for i in range(entries):
                    catalog.add(f"lw{i}", sem, fit(draw(xm, gm, rng), N_POINTS, i))
                qs = [fit(draw(xu, gu, rng), N_POINTS, 10**6 + j) for j in range(queries)]
                hits, gammas = [], sorted({float(q.gamma_) for q in qs})
                for q in qs:
                    req = Requirement(semantic=QUERY_SEMANTIC, spec=q)
                    exact = [m.id for m in catalog.search(req, k=5, max_mixture=1,
                                                          exact=True).single]
                    index = [m.id for m in catalog.search(req, k=5, max_mixture=1).single]
                    hits.append(len(set(exact) & set(index)) / 5)
                print(f"{space:<26} c = {factor}: recall@5 {np.mean(hits):.3f} "
                      f"(min {np.min(hits):.1f}) over {queries} queries, {entries} entries, "
                      f"{features} index features; "
                      f"query gammas {gammas}; {time.perf_counter() - started:.0f} s",
                      flush=True)


# -- privacy: the attacks of benchmarks.privacy_bench --------------------------------------
ATTACKER_FACTORS = (1, 2, 4, 8, 16, 64)
"""The KDE attack's gammas in the diagnostic column: these multiples of the c = 1
spec's gamma, whatever gamma the attacked spec carries (an attacker is free to choose
the kernel it scores rows with; only the points and weights are the spec's)."""


def attacks(spec: RKMESpec, vec: Callable[[np.ndarray], np.ndarray], members: np.ndarray,
            others: np.ndarray, base_gamma: float) -> tuple[float, float, float, float]:
    """(AUC nn, AUC kde, near-copy share, AUC kde at the attacker's best gamma of
    `ATTACKER_FACTORS` x `base_gamma`) in the spec's own space."""
    vm, vo = vec(members), vec(others)
    rows = np.vstack([vm, vo])
    truth = np.r_[np.ones(len(vm)), np.zeros(len(vo))]
    d = kernel.sq_dists(rows, spec.points_).min(axis=1)
    dens = kernel.gaussian(rows, spec.points_, spec.gamma_) @ spec.weights_
    nn = kernel.sq_dists(vm, vm)
    np.fill_diagonal(nn, np.inf)
    spacing = float(np.median(np.sqrt(nn.min(axis=1))))
    near = np.sqrt(kernel.sq_dists(spec.points_, vm).min(axis=1))
    free = max(float(roc_auc_score(
        truth, kernel.gaussian(rows, spec.points_, f * base_gamma) @ spec.weights_))
        for f in ATTACKER_FACTORS)
    return (float(roc_auc_score(truth, -d)), float(roc_auc_score(truth, dens)),
            float((near < 0.05 * spacing).mean()), free)


def privacy(c: float) -> None:
    from benchmarks.reuse_mnist import load
    from engine.specification.image import image_features

    x, _ = load()
    texts, _ = text_exp.load_reviews()
    emb = cached_embeddings(texts)
    sets: dict[str, tuple[np.ndarray, Callable[[int], RKMESpec],
                          Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], Any]]] = {
        "MNIST pixels (784)": (x, lambda s: RKMETableSpec(n_points=N_POINTS,
                                                               random_state=s),
                               lambda v: v, lambda v: v),
        "MNIST conv-rf-v1 (128)": (x, lambda s: RKMEImageSpec(n_points=N_POINTS,
                                                                   random_state=s),
                                   lambda v: image_features(v.reshape(-1, 1, 28, 28)),
                                   lambda v: v.reshape(-1, 28, 28)),
        "reviews MiniLM (384)": (emb, lambda s: RKMETableSpec(n_points=N_POINTS,
                                                                   random_state=s),
                                 lambda v: v, lambda v: v)}
    print(f"{'set':<24}{'n':>6}{'c':>4}{'gamma':>10}{'K':>5}{'AUC nn':>9}{'AUC kde':>9}"
          f"{'near':>7}{'kde, attacker gamma':>21}")
    worse = []
    with threadpool_limits(1):
        for name, (data, make, vec, raw) in sets.items():
            for n in (250, 1000):
                perm = np.random.default_rng(7).permutation(len(data))
                members, others = data[perm[:n]], data[perm[n:2 * n]]
                got, base = {}, 0.0
                for factor in (TODAY, c):
                    spec = fit_rule(make(0), raw(members), factor)
                    base = base or float(spec.gamma_)
                    got[factor] = attacks(spec, vec, members, others, base)
                    print(f"{name:<24}{n:>6}{factor:>4}{spec.gamma_:>10.3g}"
                          f"{len(spec.points_):>5}" + "".join(f"{v:>9.3f}"[:9]
                                                              for v in got[factor][:2])
                          + f"{got[factor][2]:>7.3f}{got[factor][3]:>21.3f}", flush=True)
                if any(b - a > PRIVACY_WORSE
                       for a, b in zip(got[TODAY][:3], got[c][:3], strict=True)):
                    worse.append(f"{name} n={n}")
    print(f"worse under c = {c} (AUC nn, AUC kde or near up by > {PRIVACY_WORSE}): "
          f"{', '.join(worse) or 'none'}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("markets", nargs="*", help=f"some of {', '.join(MARKETS)} (all)")
    parser.add_argument("--test", type=int, help="the chosen c: run the test half once")
    parser.add_argument("--recall", type=int, help="search recall under c = 1 and C")
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--features", type=int, default=DEFAULT_INDEX_FEATURES,
                        help="the index's random features (a diagnostic; the default is "
                             "the catalog's)")
    parser.add_argument("--privacy", type=int, help="the privacy attacks under c = 1 and C")
    args = parser.parse_args(argv)
    if args.recall:
        recall(args.recall, args.entries, args.queries, args.features)
        return 0
    if args.privacy:
        privacy(args.privacy)
        return 0
    names = args.markets or list(MARKETS)
    if any(n not in MARKETS for n in names):
        parser.error(f"markets: expected some of {', '.join(MARKETS)}, got {names!r}")
    half = "test" if args.test else "tuning"
    factors = (TODAY, args.test) if args.test else (TODAY, *CANDIDATES)
    results = []
    for name in names:
        results.append(measure(name, factors, half))
        print(f"{name}: {len(results[-1].users)} users, {results[-1].seconds:.0f} s",
              file=sys.stderr, flush=True)
    report(results, factors, half)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
