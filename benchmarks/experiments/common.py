"""What every experiment shares: its description, the user loop, and the two verdicts.

An experiment is a market of learnwares, a `Catalog` of them, and users with
unlabelled test rows and a pool of labels. Every user is scored by
`benchmarks.reuse_common.evaluate_user` (the protocol of the reuse benchmarks:
search with the RKME of the test rows; JobSelector and Averaging on the search's
mixture, or its top match; EnsemblePruning and FeatureAugment on the mixture plus
the top-5 matches; models trained on the labels only), so the experiments and the
benchmarks in docs/reuse.md measure the same thing.

The two targets of the issue are fixed here, before any result, and the same for
every experiment:

- *gap*: the best of the three zero-label methods (top-1, JobSelector, Averaging)
  closes >= 80 % of the gap from mean in market to best in market;
- *labels*: at every label budget up to >= 500, the better of the two labelled
  reusers (EnsemblePruning, FeatureAugment) beats the better of the user-only
  models, each chosen by its mean over users.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks.reuse_birthdays import (
    GAP_TARGET,
    LABEL_TARGET,
    REUSE_WITH_LABELS,
    ZERO_LABEL,
    gap_closed,
    mean_of,
)
from benchmarks.reuse_common import (
    Scores,
    SpecFit,
    User,
    evaluate_user,
    labels_only,
    private_default,
    search,
)
from engine.learnware import Learnware
from engine.search import Catalog

HEADLINE = ("mean in market", "best in market", *ZERO_LABEL)
HEADLINE_NAMES = ("mean in market", "best in market", "top-1", "job selector", "averaging")
N_POINTS = 100
BUDGETS = (0, 10, 50, 100, 200, 500)
CLASSIFIERS_ALONE = tuple(labels_only("classification"))


def reference_figures(*values: float) -> dict[str, float]:
    """The reference paper's five figures, in `HEADLINE` order, keyed by method."""
    return dict(zip(HEADLINE, values, strict=True))


@dataclass(frozen=True)
class Setting:
    """What an experiment is, for its report: names, metric, reference, methods.

    ``metric`` is "RMSE" or "error" (lower is better) or "accuracy" (higher is
    better). ``reference`` holds the reference paper's figures by `HEADLINE` name.
    ``constant`` lists extra methods that use no user labels (drawn as lines).
    ``labelled`` are the reusers that use the labels, drawn on the curve; the labels
    target pits the better of ``reusers`` (by its mean) against the user-only models.
    """

    name: str
    title: str
    metric: str
    reference_data: str
    reference: Mapping[str, float]
    user_only: tuple[str, ...]
    budgets: tuple[int, ...]
    command: str
    setup: str
    constant: tuple[str, ...] = ()
    labelled: tuple[str, ...] = REUSE_WITH_LABELS
    reusers: tuple[str, ...] = REUSE_WITH_LABELS

    @property
    def lower_is_better(self) -> bool:
        return self.metric != "accuracy"

    def better(self, a: float, b: float) -> bool:
        """Is `a` strictly better than `b` under this metric?"""
        return a < b if self.lower_is_better else a > b


@dataclass(frozen=True)
class GapVerdict:
    """The zero-label target: which method closes how much of the mean-to-best gap."""

    shares: dict[str, float]
    best_method: str

    @property
    def share(self) -> float:
        return self.shares[self.best_method]

    @property
    def met(self) -> bool:
        return self.share >= GAP_TARGET


@dataclass(frozen=True)
class LabelVerdict:
    """The labelled target: up to which budget reuse beats the user-only model."""

    upto: int
    lines: tuple[str, ...]
    zero_label_upto: int
    zero_label_method: str

    @property
    def met(self) -> bool:
        return self.upto >= LABEL_TARGET


def as_error(scores: Scores) -> Scores:
    """Accuracies turned into errors (1 - accuracy), as the reference reports CIFAR-10."""
    out = Scores("error")
    for method, per_budget in scores.values.items():
        for budget, values in per_budget.items():
            for v in values:
                out.add(method, budget, 1.0 - v)
    return out


def run_users(scores: Scores, market: Sequence[Learnware], catalog: Catalog,
              users: Sequence[User], budgets: Sequence[int], seed: int,
              fit_spec: SpecFit = private_default) -> list[list[str]]:
    """Evaluate every user (seed ``seed + u``); returns each user's search mixture as text.

    The mixture is the one `evaluate_user` reused: `search` is deterministic for a
    seed, so calling it again with the same seed returns the same learnwares.
    """
    by_id = {lw.id: lw for lw in market}
    mixtures = []
    for u, user in enumerate(users):
        evaluate_user(scores, market, catalog, user, budgets=budgets, n_points=N_POINTS,
                      seed=seed + u, fit_spec=fit_spec)
        mix, weights, _, _ = search(catalog, by_id, user.x_test, N_POINTS, seed + u, fit_spec)
        mixtures.append([user.name, " ".join(f"{lw.id}:{w:.2f}"
                                             for lw, w in zip(mix, weights, strict=True))])
    return mixtures


def gap_verdict(setting: Setting, scores: Scores) -> GapVerdict:
    mean, best = mean_of(scores, HEADLINE[0], 0), mean_of(scores, HEADLINE[1], 0)
    shares = {m: gap_closed(mean, best, mean_of(scores, m, 0)) for m in ZERO_LABEL}
    top = max(shares, key=lambda m: -math.inf if math.isnan(shares[m]) else shares[m])
    return GapVerdict(shares, top)


def label_verdict(setting: Setting, scores: Scores) -> LabelVerdict:
    """At each budget > 0: the better labelled reuser against the better user-only model.

    Each line also counts the users on which the reuser wins, pairing each user's
    two scores (a user where either method could not run counts as no win).
    """
    def pick(methods: Sequence[str], budget: int) -> str:
        vals = {m: mean_of(scores, m, budget) for m in methods}
        ok = [m for m in methods if not math.isnan(vals[m])]
        return min(ok, key=lambda m: vals[m] if setting.lower_is_better else -vals[m])

    def upto_for(method: str) -> int:
        upto = 0
        for b in (b for b in setting.budgets if b > 0):
            if not setting.better(mean_of(scores, method, 0),
                                  mean_of(scores, pick(setting.user_only, b), b)):
                break
            upto = b
        return upto

    zero = pick(ZERO_LABEL, 0)
    lines, upto, unbroken = [], 0, True
    for b in (b for b in setting.budgets if b > 0):
        reuse, alone = pick(setting.reusers, b), pick(setting.user_only, b)
        r, a = mean_of(scores, reuse, b), mean_of(scores, alone, b)
        paired = zip(scores.values[reuse][b], scores.values[alone][b], strict=True)
        wins = sum(setting.better(x, y) for x, y in paired)
        won = setting.better(r, a)
        lines.append(f"{b} labels: {reuse} {r:.4f} vs {alone} {a:.4f} -> "
                     f"{'reuse wins' if won else 'USER-ONLY WINS'} (better on {wins} of "
                     f"{len(scores.values[reuse][b])} users)")
        unbroken = unbroken and won
        if unbroken:
            upto = b
    return LabelVerdict(upto, tuple(lines), upto_for(zero), zero)


def per_user_rows(scores: Scores, mixtures: Sequence[Sequence[str]]) -> list[list[str]]:
    """One row per user: name, search mixture and the zero-label `HEADLINE` scores."""
    rows = []
    for i, (name, mix) in enumerate(mixtures):
        rows.append([name, mix, *(f"{scores.values[m][0][i]:.4f}" for m in HEADLINE)])
    return rows

