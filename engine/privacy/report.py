"""The owner's privacy report: what a spec reveals, measured before it is published.

Computed on the owner's machine, from the owner's rows, by re-fitting the spec on a
part of them and attacking it with the rest held out:

- ``nearest_row_ratio``: the distance from the spec's closest point to any row, over
  the rows' median nearest-neighbour spacing (0 for a copied row; private points are
  far above the 0.05 the tests use as "a near-copy");
- ``rows_per_point``: the fewest and the median rows behind a point;
- ``auc_nearest_point`` and ``auc_kernel_density``: membership-inference AUC of the
  two attacks an adversary holding only the spec can run ("is this row in the
  data?" by the distance to the nearest point; by the spec's kernel density at the
  row), estimated as members = the rows the re-fit saw, non-members = the held-out
  half. 0.5 is chance. The density attack is not bound to the spec's own gamma: the
  attacker picks the kernel, so the report gives the strongest of `KDE_GAMMA_FACTORS`
  (a narrower kernel than the spec's tells members apart far better: a spec whose
  points are rows read 0.54 at its own gamma and 0.87 at the strongest, on digits). The
  largest of several estimates reads a little above chance even when nothing leaks.
  With fewer than `MIN_ROWS_FOR_AUC` rows the estimate would be noise, so it is left
  out (None).

The report describes the spec, it is not part of it: a receiver cannot check it, so
it is shown to the owner and stored in the package manifest for people, never
trusted by a node.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine import kernel

Array = NDArray[np.float64]

MIN_ROWS_FOR_AUC = 100
KDE_GAMMA_FACTORS = (1, 2, 4, 8, 16, 32, 64)
"""The kernels the density attack tries, as multiples of the spec's gamma (a wider
kernel than the spec's only blurs the density; at 64x it is near the nearest-point
attack's)."""
_MAX_ROWS = 2000
_BIG = float(2**53)

_FIELDS: dict[str, tuple[type, float, float]] = {
    "mechanism": (str, 0, 0), "min_rows_per_point": (int, 1, _BIG), "points": (int, 1, _BIG),
    "rows": (int, 1, _BIG), "nearest_row_ratio": (float, 0.0, _BIG),
    "fewest_rows_per_point": (int, 1, _BIG), "median_rows_per_point": (float, 1.0, _BIG),
    "auc_nearest_point": (float, 0.0, 1.0), "auc_kernel_density": (float, 0.0, 1.0)}
"""Each field's type and range, for reading a report back (`PrivacyReport.from_dict`)."""
_REQUIRED = ("mechanism", "min_rows_per_point", "points", "rows", "nearest_row_ratio")


@dataclass(frozen=True)
class PrivacyReport:
    """What one spec reveals about its rows (see the module docstring)."""

    mechanism: str
    min_rows_per_point: int
    points: int
    rows: int
    nearest_row_ratio: float
    fewest_rows_per_point: int | None
    median_rows_per_point: float | None
    auc_nearest_point: float | None
    auc_kernel_density: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_manifest(self) -> dict[str, Any]:
        """The report as a package's ``learnware.toml`` keeps it (``[privacy_report]``):
        the row count rounded like the spec's own (`coarse_count`: a package is
        public), fields without a value left out (TOML has no null)."""
        from engine.privacy.grouping import coarse_count

        out = {**self.to_dict(), "rows": coarse_count(self.rows)}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: object) -> PrivacyReport:
        """Read a stored report, checking every field (`ValueError` names the bad one)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a table, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        values: dict[str, Any] = {}
        for name, (kind, lo, hi) in _FIELDS.items():
            value = data.get(name)
            if value is None:
                if name in _REQUIRED:
                    raise ValueError(f"{name}: missing")
                values[name] = None
                continue
            if kind is str:
                if not isinstance(value, str) or not 0 < len(value) <= 64:
                    raise ValueError(f"{name}: expected a short string")
            elif isinstance(value, bool) or not isinstance(
                    value, (int, float) if kind is float else int):
                wanted = "a number" if kind is float else "an integer"
                raise ValueError(f"{name}: expected {wanted}")
            elif not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name}: {value!r} is outside {lo:g}..{hi:g}")
            values[name] = float(value) if kind is float else value
        return cls(**values)

    def summary(self) -> str:
        """One line for a terminal."""
        auc = ("membership AUC n/a (fewer than "
               f"{MIN_ROWS_FOR_AUC} rows)" if self.auc_nearest_point is None else
               f"membership AUC {self.auc_nearest_point:.2f} nearest point, "
               f"{self.auc_kernel_density:.2f} kernel density (0.5 = chance)")
        fewest = "" if self.fewest_rows_per_point is None else (
            f", >= {self.fewest_rows_per_point} rows per point")
        return (f"privacy: {self.mechanism}{fewest}; closest point to a row "
                f"{self.nearest_row_ratio:.2f} x the rows' spacing; {auc}")


def _spacing(rows: Array) -> float:
    d = kernel.sq_dists(rows, rows)
    np.fill_diagonal(d, np.inf)
    return float(np.median(np.sqrt(d.min(axis=1))))


def _auc(members: Array, others: Array) -> float:
    """P(score of a member > score of a non-member), ties half (Mann-Whitney)."""
    scores = np.concatenate([members, others])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tie = scores == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    n1, n0 = len(members), len(others)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def kde_aucs(spec: Any, members: Array, others: Array) -> dict[int, float]:
    """The kernel-density membership attack's AUC at each of `KDE_GAMMA_FACTORS`
    (factor -> AUC): a row's score is the spec's weighted density at it,
    sum_j beta_j exp(-f gamma |x - z_j|^2), with f times the spec's gamma; members
    should score higher. 1 is the spec's own kernel."""
    probe = np.vstack([members, others])
    n = len(members)
    out = {}
    for f in KDE_GAMMA_FACTORS:
        dens = kernel.gaussian(probe, spec.points_, spec.gamma_ * f) @ spec.weights_
        out[f] = _auc(dens[:n], dens[n:])
    return out


def strongest_kde_auc(spec: Any, members: Array, others: Array) -> float:
    """The density attack an attacker holding `spec` can run: the largest AUC over
    `KDE_GAMMA_FACTORS` (`kde_aucs`). What the report and `benchmarks.privacy_bench`'s
    "AUC kde*" give."""
    return max(kde_aucs(spec, members, others).values())


def privacy_report(spec: Any, x: Any, *, random_state: int = 0) -> PrivacyReport:
    """Measure what `spec` (fitted on `x`) reveals; `x` is what `spec.fit` took.

    The AUCs come from a re-fit with the spec's own settings on a random half of the
    rows (at most 1,000 per side), attacked with the other half.
    """
    rows = spec._to_vectors(x)
    rng = np.random.default_rng(random_state)
    sample = rows if len(rows) <= _MAX_ROWS else rows[rng.choice(len(rows), _MAX_ROWS,
                                                                    replace=False)]
    ratio = float(np.sqrt(kernel.sq_dists(spec.points_, sample).min())) / max(
        _spacing(sample), 1e-300)
    counts = getattr(spec, "rows_per_point_", None)
    auc_nn = auc_kde = None
    if len(sample) >= MIN_ROWS_FOR_AUC:
        perm = rng.permutation(len(sample))
        half = len(sample) // 2
        members, others = sample[perm[:half]], sample[perm[half:2 * half]]
        from engine.specification.rkme import RKMETableSpec

        # image and text specs are table RKMEs of their vectors: the twin is one too
        twin = RKMETableSpec(n_points=spec.n_points, gamma=spec.gamma,
                             refine_steps=spec.refine_steps, random_state=spec.random_state,
                             min_rows_per_point=spec.min_rows_per_point,
                             epsilon=spec.epsilon, delta=spec.delta,
                             bounds=spec.bounds).fit(members)
        probe = np.vstack([members, others])
        near = -kernel.sq_dists(probe, twin.points_).min(axis=1)
        auc_nn = _auc(near[:half], near[half:])
        auc_kde = strongest_kde_auc(twin, members, others)
    privacy = getattr(spec, "privacy_", None) or {}
    return PrivacyReport(
        mechanism=str(privacy.get("mechanism", "unstated")),
        min_rows_per_point=int(privacy.get("min_rows_per_point", 1)),
        points=len(spec.points_), rows=len(rows), nearest_row_ratio=round(ratio, 4),
        fewest_rows_per_point=None if counts is None else int(np.min(counts)),
        median_rows_per_point=None if counts is None else float(np.median(counts)),
        auc_nearest_point=None if auc_nn is None else round(auc_nn, 4),
        auc_kernel_density=None if auc_kde is None else round(auc_kde, 4))
