"""The figure of docs/privacy.md from the privacy sweep's raw outputs.

    python -m benchmarks.privacy_sweep_plot docs/results/privacy_sweep_*.md
                                            [-o docs/images/privacy_sweep.png]

Reads the tables `benchmarks.privacy_sweep` prints (one file per run, kept as they
were printed) and draws one panel per experiment: the best zero-label figure of the
DP mode against epsilon, with the non-private fit ("none") and the private default as
horizontal lines and the issue's target at epsilon = 1 (within 0.02 of "none") as a
band. A run with `--draws N` prints a DP row as "mean (min-max)" and then every draw
("dp 1 #2"): the curve goes through the means, the bars span min to max, and each
draw is a dot. Nothing is re-measured here: the figure shows exactly the rows in the
files.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.privacy_sweep import TARGET_EPSILON, TARGET_GAP

EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""The issue's epsilons: always on the axis, so a missing row shows as a gap."""
AXES = {"tabular": ("Birthdays", "zero-label RMSE (lower is better)"),
        "image": ("MNIST", "zero-label error (lower is better)"),
        "text": ("fine-food reviews", "zero-label accuracy (higher is better)")}


@dataclass
class Curve:
    """One experiment's rows: its label, the two reference levels, and DP by epsilon."""

    label: str
    none: float | None = None
    default: float | None = None
    dp: dict[float, float] = field(default_factory=dict)
    """The DP rows' best zero-label figure (the mean over the draws) by epsilon."""
    dp_range: dict[float, tuple[float, float]] = field(default_factory=dict)
    """(min, max) over the draws, where the row states them."""
    dp_draws: dict[float, list[float]] = field(default_factory=dict)
    """Every draw's figure ("dp e #i" rows)."""


_CELL = re.compile(r"^([-+]?[0-9.]+)(?: \(([-+]?[0-9.]+)–([-+]?[0-9.]+)\))?$")


def parse_cell(cell: str) -> tuple[float, tuple[float, float] | None]:
    """A figure cell: "0.4617" -> (0.4617, None); "0.4617 (0.45–0.47)" -> (0.4617,
    (0.45, 0.47))."""
    match = _CELL.match(cell)
    if match is None:
        raise ValueError(f"not a figure: {cell!r}")
    low, high = match.group(2, 3)
    return float(match.group(1)), None if low is None else (float(low), float(high))


def read_rows(paths: Iterable[Path]) -> dict[str, Curve]:
    """Every table row of the files, by experiment (the best zero-label column)."""
    curves: dict[str, Curve] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 11 or not cells[1] or cells[1] == "mode" or cells[1][0] == "-":
                continue
            name, label = cells[0].split(" ", 1)[0], cells[0]
            curve = curves.setdefault(name, Curve(label))
            best, spread = parse_cell(cells[6])
            if cells[1] == "none":
                curve.none = best
            elif cells[1] == "default":
                curve.default = best
            elif cells[1].startswith("dp ") and "#" in cells[1]:
                eps = float(cells[1].removeprefix("dp ").split("#")[0])
                curve.dp_draws.setdefault(eps, []).append(best)
            elif cells[1].startswith("dp "):
                eps = float(cells[1].removeprefix("dp "))
                curve.dp[eps] = best
                if spread is not None:
                    curve.dp_range[eps] = spread
    return curves


def plot(curves: dict[str, Curve], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in AXES if n in curves]
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        curve, (title, ylabel) = curves[name], AXES[name]
        eps = sorted(curve.dp)
        draws = max((len(v) for v in curve.dp_draws.values()), default=1)
        ax.plot(eps, [curve.dp[e] for e in eps], "o-", color="tab:blue",
                label="DP, δ = 1e-5" + (f" (mean of {draws} draws, min–max)" if draws > 1
                                        else ""))
        bars = [e for e in eps if e in curve.dp_range]
        if bars:
            ax.errorbar(bars, [curve.dp[e] for e in bars],
                        yerr=[[curve.dp[e] - curve.dp_range[e][0] for e in bars],
                              [curve.dp_range[e][1] - curve.dp[e] for e in bars]],
                        fmt="none", ecolor="tab:blue", capsize=3, lw=1)
        for e, values in sorted(curve.dp_draws.items()):
            ax.plot([e] * len(values), values, ".", color="tab:blue", alpha=0.35, ms=4)
        if curve.none is not None:
            ax.axhline(curve.none, color="black", lw=1, label="no privacy")
            ax.axhspan(curve.none - TARGET_GAP, curve.none + TARGET_GAP, color="tab:green",
                       alpha=0.12, label=f"target at ε = {TARGET_EPSILON:g}: ± {TARGET_GAP}")
            ax.axvline(TARGET_EPSILON, color="tab:green", lw=0.8, ls=":")
        if curve.default is not None:
            ax.axhline(curve.default, color="tab:orange", lw=1, ls="--",
                       label="private default (m = 10)")
        ticks = sorted({*EPSILONS, *eps})
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{e:g}" for e in ticks])
        ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)
        ax.set_xlabel("ε")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} {curve.label.split(' ', 1)[1]}", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Zero-label reuse against ε (benchmarks.privacy_sweep)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("-o", "--output", default="docs/images/privacy_sweep.png")
    args = parser.parse_args(argv)
    plot(read_rows(args.files), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
