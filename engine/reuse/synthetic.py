"""Synthetic region tasks whose right answer is known by construction.

A `Regions` object is a market in miniature: R Gaussian regions in d dimensions,
each with its own labelling function (argmax of a few random quadratic forms for
classification, one random quadratic for regression) and, for classification, its
own set of class names (region r uses labels ``r, r+1, ... r+k-1 mod n_labels``, so
neighbouring learnwares share some classes and not others). A learnware trained on
region r (`make_learnwares`) knows that region's function well; a user whose rows
come from one or more regions knows which region each row came from, so oracle
routing and the best possible reuse are computable.

Quadratic labels are deliberately out of reach of a linear model fitted on a few
hundred labels, and within reach of the degree-2 learnwares trained on thousands
of rows: the setting in which reuse is supposed to pay off.

Used by the reuse tests, the reuse benchmarks and the demo; pure and deterministic
under `random_state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import ReuseError
from engine.learnware import Learnware
from engine.params import Options, check_param
from engine.specification.rkme import RKMETableSpec
from engine.specification.semantic import InputSpec, OutputSpec, SemanticSpec
from engine.vocabulary import DataType, TaskType

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Regions:
    """R Gaussian regions with their labelling functions (see the module docstring)."""

    task: str
    centres: Array            # (R, d)
    scales: Array             # (R,)
    quad: Array               # (R, k, d, d) symmetric forms, k classes (1 for regression)
    lin: Array                # (R, k, d)
    labels: NDArray[np.int64]  # (R, k) class names of each region (classification)
    noise: float = 0.0        # std of Gaussian noise added to sampled regression targets

    @property
    def n_regions(self) -> int:
        return len(self.centres)

    @property
    def n_features(self) -> int:
        return int(self.centres.shape[1])

    def label(self, region: int, x: Array) -> NDArray[np.generic]:
        """Region `region`'s labelling function applied to rows x."""
        u = (x - self.centres[region]) / self.scales[region]
        scores = (np.einsum("ni,kij,nj->nk", u, self.quad[region], u) / self.n_features
                  + u @ self.lin[region].T)
        if self.task == "regression":
            return scores[:, 0] + float(region)
        return self.labels[region][np.argmax(scores, axis=1)]

    def log_density(self, x: Array) -> Array:
        """log N(x; centre_r, scale_r^2 I) of each row under each region, shape (n, R):
        with a mixture's proportions as priors, the Bayes-optimal routing."""
        d = self.n_features
        sq = ((x[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        var = self.scales ** 2
        return -0.5 * sq / var - 0.5 * d * np.log(2 * np.pi * var)

    def sample(self, region: int, n: int, rng: np.random.Generator
               ) -> tuple[Array, NDArray[np.generic]]:
        """n rows of one region and their labels (regression targets with noise)."""
        x = self.centres[region] + self.scales[region] * rng.standard_normal(
            (n, self.n_features))
        y = self.label(region, x)
        if self.task == "regression" and self.noise > 0:
            y = np.asarray(y, dtype=np.float64) + self.noise * rng.standard_normal(n)
        return x, y

    def sample_mixture(self, proportions: ArrayLike, n: int, rng: np.random.Generator
                       ) -> tuple[Array, NDArray[np.generic], NDArray[np.intp]]:
        """n rows drawn from the regions in the given proportions (length R, sums to 1),
        their labels, and the region each row came from (for oracle routing)."""
        p = np.asarray(proportions, dtype=np.float64)
        if p.shape != (self.n_regions,) or p.min() < 0 or not np.isclose(p.sum(), 1):
            raise ReuseError(f"proportions: expected {self.n_regions} non-negative numbers "
                             "summing to 1")
        counts = np.floor(p * n).astype(int)
        counts[np.argmax(p)] += n - counts.sum()
        parts = [self.sample(r, int(c), rng) for r, c in enumerate(counts) if c > 0]
        region = np.repeat(np.arange(self.n_regions), counts)
        x = np.vstack([px for px, _ in parts])
        y = np.concatenate([py for _, py in parts])
        order = rng.permutation(n)
        return x[order], y[order], region[order]


def make_regions(n_regions: int = 10, n_features: int = 10, *, task: str = "classification",
                 n_classes: int = 3, n_labels: int | None = None, spread: float = 2.0,
                 noise: float = 0.1, random_state: int | None = None) -> Regions:
    """Random regions: centres ~ N(0, spread^2 I), scales in [0.8, 1.2].

    `spread` sets how far apart regions are (pairwise centre distance about
    ``spread * sqrt(2 d)`` in units of a region's standard deviation); `n_labels` is
    the size of the global label set (default: `n_regions`, at least `n_classes`);
    `noise` is the standard deviation of the noise on sampled regression targets.
    """
    check_param("task", task, [Options(("classification", "regression"))], ReuseError)
    rng = np.random.default_rng(random_state)
    k = n_classes if task == "classification" else 1
    total = max(n_labels if n_labels is not None else n_regions, k)
    a = rng.standard_normal((n_regions, k, n_features, n_features))
    quad = (a + a.transpose(0, 1, 3, 2)) / 2.0
    lin = 0.5 * rng.standard_normal((n_regions, k, n_features))
    labels = (np.arange(n_regions)[:, None] + np.arange(k)[None, :]) % total
    return Regions(task=task,
                   centres=spread * rng.standard_normal((n_regions, n_features)),
                   scales=rng.uniform(0.8, 1.2, n_regions), quad=quad, lin=lin,
                   labels=labels.astype(np.int64), noise=float(noise))


def region_model(task: str) -> Any:
    """The degree-2 model a region's developer trains (a scikit-learn pipeline)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    last = (LogisticRegression(C=10.0, max_iter=2000) if task == "classification"
            else Ridge(alpha=1e-3))
    return make_pipeline(PolynomialFeatures(2, include_bias=False), StandardScaler(), last)


def make_learnwares(regions: Regions, n_train: int = 1000, *, n_points: int = 50,
                    random_state: int | None = None) -> list[Learnware]:
    """One learnware per region: a degree-2 model trained on n_train rows of it and
    the RKMETableSpec of those rows."""
    rng = np.random.default_rng(random_state)
    out = []
    for r in range(regions.n_regions):
        x, y = regions.sample(r, n_train, rng)
        model = region_model(regions.task).fit(x, y)
        spec = RKMETableSpec(n_points=n_points, random_state=int(rng.integers(2**31))).fit(x)
        labels = tuple(int(c) for c in regions.labels[r]) if regions.task == "classification" \
            else ()
        semantic = SemanticSpec(
            data_type=DataType.TABLE, task_type=TaskType(regions.task), name=f"region-{r}",
            input=InputSpec(regions.n_features),
            output=OutputSpec(len(labels) if labels else 1, labels=labels))
        out.append(Learnware(id=f"region-{r}", semantic=semantic, spec=spec, model=model))
    return out
