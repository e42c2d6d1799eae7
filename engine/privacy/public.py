"""Public choices for the differentially private mode: a gamma and bounds no row chose.

The DP mode (`engine.privacy.dp`) needs the kernel width `gamma` and the `bounds` of
the synthetic points as *public* inputs: choosing them from the rows (as
`engine.kernel.auto_gamma` does for the other modes) would spend privacy that the
stated (epsilon, delta) does not account for. This module offers choices that read
nothing but public facts, so they cost no privacy:

- `market_gamma`: the convention of the market, i.e. the most common gamma among the
  specs of the comparison space that the user's node already knows. Those gammas are
  public (each travels in a signed spec or sketch). Matching them means the DP spec is
  compared under exactly the kernel the market's specs were fitted for (two specs of
  different gammas are compared under their geometric mean, `kernel.pair_gamma`).
- `dimension_gamma`: a data-free rule from the dimension, ``2^round(log2(1/s))`` with s
  the per-row variance the space's vectors have by convention: the dimension d for
  standardised columns (variance 1 each; this is the rule `benchmarks.privacy_bench`
  declares, and it lands where `auto_gamma` lands on standardised data: the 10th
  percentile of the squared distances is ~2d minus a few sqrt(d)), 1 for unit-norm
  vectors (text embeddings: their squared distances are at most 4 whatever d).
- `range_gamma`: the same rule for a table whose columns declare their ranges (below):
  s is the summed variance of uniform draws over each range, so that columns of ages
  and of incomes are not taken for standardised ones.
- `UNIT_NORM_BOUNDS`: every coordinate of a unit vector lies in [-1, 1], so text
  embeddings have public bounds by construction. Tables have none: their range is a
  fact about the columns only their owner can state.
- `declared_bounds`: that statement, per column: the ``range`` each `Feature` of a
  semantic spec's input declares (`engine.specification.semantic`), so that a column
  of ages and one of incomes each get their own box instead of one range for all.

A poor public choice costs utility, never privacy. Bounds are not estimated from the
rows under a share of epsilon: in this mechanism they enter only the post-processing
(where the synthetic points start and stay), so any public value is free, while a DP
estimate would take budget from the noisy mean (its noise scales with 1/epsilon) and
still needs a public range of candidates to search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from engine.errors import SpecError
from engine.hetero.features import shown_names
from engine.specification.semantic import InputSpec

UNIT_NORM_BOUNDS = (-1.0, 1.0)
"""Public bounds of unit-norm vectors (each coordinate of a unit vector is in [-1, 1])."""


def declared_bounds(inp: InputSpec | None
                    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Per-column bounds ``(lows, highs)`` from the ranges `inp`'s features declare, as
    `engine.privacy.dp.check_bounds` takes them; None when no feature declares one.

    Raises `SpecError` naming the columns without a range when only some declare one:
    a box needs every side, and guessing the missing ones would be a choice nobody
    stated.
    """
    if inp is None or not any(r is not None for r in inp.ranges):
        return None
    missing = [f.name for f in inp.features if f.range is None]
    if missing:
        raise SpecError(f"bounds: {len(missing)} of the {inp.dimension} columns declare no "
                        f"range: {shown_names(missing)}")
    return (tuple(r[0] for r in inp.ranges if r is not None),
            tuple(r[1] for r in inp.ranges if r is not None))


def dimension_gamma(dim: int, *, unit_norm: bool = False) -> float:
    """``2^round(log2(1/s))``: s = `dim` for standardised columns, 1 for unit vectors."""
    if dim < 1:
        raise ValueError(f"dim: expected a positive integer, got {dim}")
    scale = 1 if unit_norm else dim
    return float(2.0 ** round(math.log2(1.0 / scale)))


def range_gamma(lows: tuple[float, ...], highs: tuple[float, ...]) -> float:
    """``2^round(log2(1/s))`` with s the summed variance of uniform draws over each
    column's declared range, ``(high - low)^2 / 12``: the dimension rule's scale for
    columns that are not standardised, read from the owner's public statement."""
    scale = sum((hi - lo) ** 2 / 12.0 for lo, hi in zip(lows, highs, strict=True))
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"ranges: expected finite low < high, got {lows!r}..{highs!r}")
    return float(2.0 ** round(math.log2(1.0 / scale)))


def market_gamma(counts: Mapping[float, int], prefer: float | None = None) -> float | None:
    """The most common gamma of `counts` ({gamma: specs}); a tie goes to the gamma
    nearest `prefer` in log2 (the data-free rule), then to the smaller one. None when
    `counts` holds no usable gamma (finite, > 0, counted at least once)."""
    usable = {float(g): int(c) for g, c in counts.items()
              if math.isfinite(float(g)) and float(g) > 0 and int(c) > 0}
    if not usable:
        return None
    anchor = math.log2(prefer) if prefer is not None and prefer > 0 else 0.0
    return min(usable, key=lambda g: (-usable[g], abs(math.log2(g) - anchor), g))


def power_of_two(value: float) -> str:
    """``2^-4`` for 0.0625; the plain number for what is not a power of two."""
    exponent = math.log2(value)
    return f"2^{int(exponent)}" if exponent == int(exponent) else f"{value:g}"
