"""`JobSelector`: route each user row to the learnware whose task it belongs to.

When a user's data is a mixture of several learnwares' tasks (search returns a
mixture and its weights), no single learnware fits all rows; each row should go to
the learnware trained on rows like it. The selector is built from the learnwares'
RKME specifications alone — no user labels, no training data:

    p(j | x)  ∝  w_j * sum_k beta_jk * exp(-gamma * ||x - z_jk||^2)

a kernel density classifier whose components are the reduced sets (z_j, beta_j)
and whose priors are the mixture weights w_j.

Why not the spec's own kernel: an RKME's gamma comes from the median heuristic,
a kernel as wide as the whole data set (variance about d times a feature's). That
is right for comparing distributions but smooths each task's density so much that
neighbouring tasks blur into each other (routing accuracy near chance on
overlapping regions). The reduced set itself approximates the task's distribution
(as weighted samples), so the density is estimated from it with a density
bandwidth: Silverman's rule ``h = (4/(d+2))^(1/(d+4)) * n_eff^(-1/(d+4)) * sigma``
with ``n_eff = 1 / sum(beta^2)`` and sigma the per-feature spread of the points,
pooled over the learnwares so that all components share one kernel (a per-task
kernel needs a normaliser ``(gamma/pi)^(d/2)`` that in high dimensions swamps the
evidence when spreads differ slightly).

``density="gaussian"`` instead fits one Gaussian per learnware (weighted mean and
per-feature variance of its reduced set, floored at 1e-3 of the pooled mean
variance): exact when tasks are unimodal blobs, as in the synthetic regions, where
it reaches Bayes-optimal routing; wrong for multimodal tasks, hence not the default.

The reference (kernel herding of samples from each RKME, then LightGBM on them)
takes seconds to minutes; this needs one (n x K) kernel block per learnware.

Route or average (`route_choice`): routing is right when the user's rows mix the
learnwares' tasks, wrong when the learnwares are near-equal alternatives over the
same inputs (then each row goes to whichever is a hair denser there, and plain
averaging, an ensemble, is better). Data-free test: the router's own confidence on
the user's rows, the mean over rows of ``max_j p(j | x)``; route when it exceeds
`ROUTE_CONFIDENCE`. Chosen by `benchmarks.route_or_average` (users split into tuning
and test halves before measuring): MNIST class subsets 0.994-0.998 on every user,
held-out table markets of alternatives 0.54-0.93. The posteriors computed for the
choice (a `Routing`) are what the routed prediction then uses: the rows' kernel blocks
are computed once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp, softmax
from sklearn.utils.metaestimators import available_if

from engine import kernel
from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.params import Constraints, Interval, Options
from engine.reuse.averaging import weighted_mean
from engine.reuse.base import REGRESSION, Array, Reuser, _is_classifier
from engine.reuse.inputs import UserInputs
from engine.specification.rkme import RKMESpec


def _weighted_moments(spec: RKMESpec) -> tuple[Array, Array]:
    """Weighted mean and per-feature variance of a reduced set."""
    mean = spec.weights_ @ spec.points_
    return mean, spec.weights_ @ ((spec.points_ - mean) ** 2)


def silverman_bandwidth(specs: Sequence[RKMESpec]) -> float:
    """Pooled Silverman bandwidth of the specs' weighted reduced sets (see module doc).

    Falls back to the specs' own kernel width when every reduced set is one point.
    """
    d = specs[0].points_.shape[1]
    variances = [float(_weighted_moments(s)[1].mean()) for s in specs]
    n_effs = [1.0 / float(s.weights_ @ s.weights_) for s in specs]
    var = float(np.mean(variances))
    if var <= 0:
        return math.sqrt(1.0 / (2.0 * float(np.median([s.gamma_ for s in specs]))))
    n_eff = float(np.mean(n_effs))
    return (4.0 / (d + 2)) ** (1.0 / (d + 4)) * n_eff ** (-1.0 / (d + 4)) * math.sqrt(var)


def can_route(learnwares: Sequence[Learnware]) -> bool:
    """Can a `JobSelector` route among these learnwares? Every statistical spec must be
    fitted (a reduced set ``points_``/``weights_``) and all must live in one space
    (table, image or text: the user's raw inputs are mapped into it by the spec's own
    `transform`, see `engine.reuse.inputs`).

    The labelled reusers route only when this holds, and otherwise work as they
    would without routing; the `JobSelector` itself then averages, with a note.
    """
    return _why_not_route(learnwares) is None


def _why_not_route(learnwares: Sequence[Learnware]) -> str | None:
    specs = [lw.spec for lw in learnwares]
    if not specs:
        return "no learnwares"
    unfitted = [lw.id for lw in learnwares if not (hasattr(lw.spec, "points_")
                                                    and hasattr(lw.spec, "weights_"))]
    if unfitted:
        return f"the statistical spec of {unfitted[0]} is not fitted"
    spaces = {s.space for s in specs}
    if len(spaces) > 1:
        return f"their statistical specs live in different spaces {sorted(spaces)}"
    return None


ROUTE_CONFIDENCE = 0.95
"""Route (`JobSelector`) when the router's mean max posterior on the user's rows is
above this, else average (`route_choice`). `benchmarks.route_or_average`, tuning
half (grid 0.8 / 0.9 / 0.95, against two MMD^2 rules): mean share of the gap closed
over five markets 68.3 % (always route) -> 110.6 %; test half, run once: 93.9 % ->
118.8 %, 17 users better, 0 worse, MNIST routed on all 10."""


@dataclass(frozen=True)
class Routing:
    """The router's unnormalised log posteriors (`JobSelector.routing`) on the user's
    rows (`inputs`, validated): computed once, they give the route-or-average choice's
    confidence and, if it routes, the routed predictions (`JobSelector.predict`)."""

    inputs: UserInputs
    log_posterior: Array


@dataclass(frozen=True)
class RouteChoice:
    """`route_choice`'s answer: route or average, the router's `confidence` (NaN: nothing
    to choose), the fitted `selector` and its `routing` of the rows (None when nothing
    was to choose)."""

    route: bool
    confidence: float
    selector: JobSelector
    routing: Routing | None


def route_choice(learnwares: Sequence[Learnware], X: ArrayLike | UserInputs, *,
                 weights: ArrayLike | None = None) -> RouteChoice:
    """Should these learnwares' outputs on the user's rows `X` be routed or averaged?
    Data-free: reads the specs and the rows, never a label. Route when the router's
    confidence (`JobSelector.confidence`) exceeds `ROUTE_CONFIDENCE`, or when there is
    nothing to choose (fewer than two learnwares of positive weight, which routing
    serves as well as averaging, or learnwares that cannot be routed among, which the
    selector averages anyway). The routing computed for the choice is kept, so that
    routing the same rows afterwards (``selector.predict(routing)``) costs no second
    pass over the kernel blocks."""
    selector = JobSelector(learnwares, weights=weights).fit()
    if not selector.routed_ or np.count_nonzero(selector.weights_ > 0) < 2:
        return RouteChoice(True, math.nan, selector, None)
    routing = selector.routing(X)
    confidence = selector.confidence(routing)
    return RouteChoice(confidence > ROUTE_CONFIDENCE, confidence, selector, routing)


def prefer_routing(learnwares: Sequence[Learnware], X: ArrayLike | UserInputs, *,
                   weights: ArrayLike | None = None) -> tuple[bool, float]:
    """`route_choice`'s choice and the router's confidence (NaN: nothing to choose)."""
    choice = route_choice(learnwares, X, weights=weights)
    return choice.route, choice.confidence


class JobSelector(Reuser):
    """Data-free reuse by routing each row to one learnware (see the module doc).

    Parameters
    ----------
    learnwares : sequence of Learnware
        Their statistical specs must live in one space (e.g. all table specs of d).
    weights : array of shape (n_learnwares,), optional
        Mixture weights from search (priors of the router); None means uniform.
        A learnware of weight 0 receives no rows.
    bandwidth : "silverman" or float, default "silverman"
        Kernel standard deviation of the router's densities, in the spec space.
    density : {"kde", "gaussian"}, default "kde"
        Each task's density: a kernel density on its reduced set, or one Gaussian.

    Attributes
    ----------
    bandwidth_ : float
        The bandwidth used; ``gamma_ = 1 / (2 * bandwidth_**2)`` (NaN when not routing).
    routed_ : bool
        False when the learnwares cannot be routed among (`can_route`: specs of
        different spaces, or unfitted): the selector then predicts their weighted
        average, as `Averaging`, and says so in `notes_`.
    classes_, task_, weights_, learnwares_, n_features_in_, input_kind_, notes_ :
        see `Reuser`.
    """

    bandwidth_: float
    gamma_: float
    routed_: bool

    _parameter_constraints: ClassVar[Constraints] = {
        "bandwidth": [Options(("silverman",)), Interval(float, 0, None, closed="neither")],
        "density": [Options(("kde", "gaussian"))],
    }

    def __init__(self, learnwares: Sequence[Learnware] = (), *,
                 weights: ArrayLike | None = None, bandwidth: float | str = "silverman",
                 density: str = "kde") -> None:
        self.learnwares = learnwares
        self.weights = weights
        self.bandwidth = bandwidth
        self.density = density

    def fit(self, X: ArrayLike | None = None, y: object = None) -> JobSelector:
        """Validate the learnwares and build the router; returns self.

        Data-free: `X` is only checked for width when given, `y` is ignored.
        """
        self._validate_params()
        self._setup(self.learnwares, self.weights)
        specs = [lw.spec for lw in self.learnwares_]
        why_not = _why_not_route(self.learnwares_)
        self.routed_ = why_not is None
        if why_not is not None:
            self.bandwidth_ = self.gamma_ = float("nan")
            self._note(f"rows not routed: {why_not}; predicted the learnwares' weighted "
                       "average instead")
            if X is not None:
                self._check_x(X)
            return self
        h = (silverman_bandwidth(specs) if self.bandwidth == "silverman"
             else float(self.bandwidth))
        self.bandwidth_, self.gamma_ = h, 1.0 / (2.0 * h * h)
        self._gaussians = [_weighted_moments(s) for s in specs]
        floor = 1e-3 * float(np.mean([v.mean() for _, v in self._gaussians]))
        self._gaussians = [(m, np.maximum(v, max(floor, 1e-12))) for m, v in self._gaussians]
        if X is not None:
            self._check_x(X)
        return self

    def _log_posterior(self, x: UserInputs) -> Array:
        """Unnormalised log p(j | x) for each input and learnware, shape (n, J)."""
        if not self.routed_:
            raise ReuseError("learnwares: cannot be routed among (see notes_): "
                             + "; ".join(self.notes_))
        v = x.in_space(self.learnwares_[0].spec)
        out = np.empty((len(v), len(self.learnwares_)))
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        for j, lw in enumerate(self.learnwares_):
            if self.density == "gaussian":
                mean, var = self._gaussians[j]
                out[:, j] = (-0.5 * (((v - mean) ** 2) / var).sum(axis=1)
                             - 0.5 * float(np.log(var).sum()) + log_w[j])
                continue
            logk = -self.gamma_ * kernel.sq_dists(v, lw.spec.points_)
            out[:, j] = logsumexp(logk, b=lw.spec.weights_[None, :], axis=1) + log_w[j]
        return out

    def route_log_scores(self, X: ArrayLike | UserInputs) -> Array:
        """Unnormalised log p(j | x), shape (n, n_learnwares): the routing restricted to
        any subset of the learnwares is the argmax over that subset's columns."""
        return self._log_posterior(self._check_x(X))

    def routing(self, X: ArrayLike | UserInputs) -> Routing:
        """The rows `X` validated with their log posteriors, for `confidence` and
        `predict` to share (`route_choice`)."""
        inputs = self._check_x(X)
        return Routing(inputs, self._log_posterior(inputs))

    def _routed(self, X: ArrayLike | UserInputs | Routing) -> Routing:
        if not isinstance(X, Routing):
            return self.routing(X)
        self._check_fitted()
        if X.log_posterior.shape != (len(X.inputs.rows), len(self.learnwares_)):
            raise ReuseError(f"routing: posteriors of shape {X.log_posterior.shape} do not "
                             f"fit {len(self.learnwares_)} learnwares")
        return X

    def route_proba(self, X: ArrayLike | UserInputs | Routing) -> Array:
        """p(j | x): each row's posterior over `learnwares_`, shape (n, n_learnwares)."""
        return softmax(self._routed(X).log_posterior, axis=1)

    def confidence(self, X: ArrayLike | UserInputs | Routing) -> float:
        """The router's mean over the rows of ``max_j p(j | x)``: near 1 when the rows
        fall clearly into one learnware's region each, near ``1 / k`` when the
        learnwares cover the same inputs (`route_choice`). NaN when fewer than two
        learnwares have weight or they cannot be routed among."""
        if not self.routed_ or np.count_nonzero(self.weights_ > 0) < 2:
            return math.nan
        return float(self.route_proba(X).max(axis=1).mean())

    def route(self, X: ArrayLike | UserInputs | Routing) -> NDArray[np.intp]:
        """Index into `learnwares_` of the learnware each row is sent to."""
        return np.argmax(self._routed(X).log_posterior, axis=1)

    def _dispatch(self, X: ArrayLike | UserInputs | Routing, proba: bool) -> NDArray[Any]:
        if not self.routed_:
            inputs = X.inputs if isinstance(X, Routing) else self._check_x(X)
            live = [(lw, w) for lw, w in zip(self.learnwares_, self.weights_, strict=True)
                    if w > 0]
            mean = weighted_mean([self._output(lw, inputs.rows) for lw, _ in live],
                                 np.array([w for _, w in live]))
            return mean if proba or self.task_ == REGRESSION else np.argmax(mean, axis=1)
        routing = self._routed(X)
        route = np.argmax(routing.log_posterior, axis=1)
        x = routing.inputs.rows
        pieces: list[tuple[NDArray[np.intp], NDArray[Any]]] = []
        for j in np.unique(route):
            rows = np.flatnonzero(route == j)
            lw = self.learnwares_[j]
            if proba or self.task_ == REGRESSION:
                pieces.append((rows, self._output(lw, x[rows])))
            else:
                votes = self._output(lw, x[rows], "hard")
                pieces.append((rows, np.argmax(votes, axis=1)))
        first = pieces[0][1]
        if len({values.shape[1:] for _, values in pieces}) > 1:
            raise ReuseError("learnwares: outputs of different shapes cannot be combined")
        out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
        for rows, values in pieces:
            out[rows] = values
        return out

    def predict(self, X: ArrayLike | Routing) -> NDArray[Any]:
        """Each row's prediction by the learnware it is routed to (`X` may be a
        `routing` of the rows already computed: they are not routed again)."""
        self._check_fitted()
        if self.task_ == REGRESSION:
            return self._decide(self._dispatch(X, proba=False))
        return np.asarray(self.classes_[self._dispatch(X, proba=False)])

    @available_if(_is_classifier)
    def predict_proba(self, X: ArrayLike | Routing) -> Array:
        """Each row's probabilities from its learnware, aligned to `classes_`
        (a one-hot vote if that learnware has no predict_proba)."""
        self._check_fitted()
        return self._dispatch(X, proba=True)
