"""An experiment's results as files: `docs/results/<name>.md` and `<name>.png`.

The markdown holds, in this order: how it was produced (command, machine, time),
the set-up, the zero-label table in the reference's shape with the reference's own
figures beneath ours, the labelled-data curve, the two targets stated as MET or
MISSED with the per-budget comparisons, and any tables the experiment adds. The
PNG has two panels: the share of the mean-to-best gap each zero-label method
closes (ours beside the reference's) and the labelled-data curve.

Tables are rendered by `benchmarks.common.print_table`, the printer every benchmark
uses, so a results file reads like the benchmarks' output.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import machine, print_table
from benchmarks.experiments.common import (
    HEADLINE,
    HEADLINE_NAMES,
    GapVerdict,
    LabelVerdict,
    Setting,
    gap_closed,
    gap_verdict,
    label_verdict,
    mean_of,
)
from benchmarks.reuse_birthdays import GAP_TARGET, LABEL_TARGET, ZERO_LABEL
from benchmarks.reuse_common import Scores

RESULTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "results"


@dataclass(frozen=True)
class Table:
    """An extra table an experiment adds to its report (after the targets)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    """What `write` produced: the two verdicts and the files."""

    name: str
    gap: GapVerdict
    labels: LabelVerdict
    files: tuple[Path, ...]


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_table(title, header, rows)
    return out.getvalue()


def fmt(value: float) -> str:
    return "·" if math.isnan(value) else f"{value:.4f}"


def headline_rows(setting: Setting, scores: Scores) -> list[list[str]]:
    ours = [mean_of(scores, m, 0) for m in HEADLINE]

    def shares(v: Sequence[float]) -> list[str]:
        return ["0 %", "100 %", *(f"{100 * gap_closed(v[0], v[1], x):.0f} %" for x in v[2:])]

    rows = [[f"ours: {setting.title}, {setting.metric}", *(fmt(v) for v in ours)],
            ["ours: gap closed", *shares(ours)]]
    if not setting.reference:  # a market of our own: no paper figure to set beside it
        return rows
    ref = [setting.reference[m] for m in HEADLINE]
    return [*rows, [f"reference: {setting.reference_data}, {setting.metric}",
                    *(f"{v:.3f}" for v in ref)],
            ["reference: gap closed", *shares(ref)]]


def curve_methods(setting: Setting) -> list[str]:
    return [*HEADLINE, *setting.labelled, *setting.user_only, *setting.constant]


def curve_rows(setting: Setting, scores: Scores) -> list[list[str]]:
    """Methods as rows, budgets as columns; zero-label methods only in column 0."""
    zero = {*HEADLINE, *setting.constant}
    rows = []
    for m in curve_methods(setting):
        cells = [mean_of(scores, m, b) if (b == 0) == (m in zero) else math.nan
                 for b in setting.budgets]
        rows.append([m, *(fmt(c) for c in cells)])
    return rows


def targets(gap: GapVerdict, labels: LabelVerdict) -> str:
    others = ", ".join(f"{m} {100 * s:.0f} %" for m, s in gap.shares.items()
                       if m != gap.best_method)
    lines = ["\n### Targets\n",
             f"- zero-label reuse closes >= {GAP_TARGET:.0%} of the gap from mean in market to "
             f"best in market: **{'MET' if gap.met else 'MISSED'}** (best: {gap.best_method} "
             f"{100 * gap.share:.0f} %; {others})",
             f"- reuse beats the user-only model up to >= {LABEL_TARGET} labels: "
             f"**{'MET' if labels.met else 'MISSED'}** ("
             + (f"wins at every budget up to {labels.upto} labels)" if labels.upto else
                "loses already at the smallest budget)")]
    lines += [f"  - {line}" for line in labels.lines]
    lines.append(f"- for comparison (not the target, which counts only the reusers that use "
                 f"the labels): the best zero-label method, {labels.zero_label_method}, beats "
                 + (f"the best user-only model at every budget up to "
                    f"{labels.zero_label_upto} labels" if labels.zero_label_upto else
                    "the best user-only model at no budget"))
    return "\n".join(lines) + "\n"


def markdown(setting: Setting, scores: Scores, gap: GapVerdict, labels: LabelVerdict,
             extra: Sequence[Table], seconds: float) -> str:
    unit = "lower is better" if setting.lower_is_better else "higher is better"
    parts = [f"# {setting.title}\n",
             f"`{setting.command}` (all experiments: `python -m benchmarks.experiments` or "
             f"`make experiments`) — {machine()}; BLAS/OpenMP limited to 1 thread; "
             f"{seconds:.0f} s. Deterministic: every split, model, RKME and label draw is "
             f"seeded.\n",
             setting.setup.strip() + "\n",
             f"{setting.metric}, {unit}, mean over users. \"gap closed\" = (mean in market - "
             f"method) / (mean in market - best in market)."
             + (f" The reference's figures are on its own data ({setting.reference_data}); "
                f"only the shape and the gap shares compare." if setting.reference else ""),
             table("Zero labels, in the reference's table shape",
                   ["", *HEADLINE_NAMES], headline_rows(setting, scores)),
             table(f"Labelled-data curve ({setting.metric}, {unit}; columns are label budgets)",
                   ["method", *(str(b) for b in setting.budgets)], curve_rows(setting, scores)),
             targets(gap, labels)]
    for t in extra:
        parts.append(table(t.title, t.header, t.rows) + (f"\n{t.note}\n" if t.note else ""))
    return "\n".join(parts)


def plot(setting: Setting, scores: Scores, gap: GapVerdict, path: Path) -> None:
    """Two panels: gap shares (ours beside the reference's) and the labelled curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8),
                                      gridspec_kw={"width_ratios": [1, 1.6]})
    ours = [100 * gap.shares[m] for m in ZERO_LABEL]
    xs = range(len(ZERO_LABEL))
    left.bar([x - 0.2 for x in xs], ours, 0.4, label="ours", color="tab:blue")
    if setting.reference:
        ref = [setting.reference[m] for m in HEADLINE]
        ref_shares = [100 * gap_closed(ref[0], ref[1], ref[i]) for i in range(2, 5)]
        left.bar([x + 0.2 for x in xs], ref_shares, 0.4,
                 label=f"reference ({setting.reference_data})", color="tab:gray")
    left.axhline(100 * GAP_TARGET, color="tab:red", ls="--", lw=1, label="target 80 %")
    left.axhline(100, color="black", lw=0.8)
    left.set_xticks(list(xs), list(HEADLINE_NAMES[2:]))
    left.set_ylabel("gap closed, mean → best in market (%)")
    left.set_title("Zero labels")
    bottom, top = left.get_ylim()
    left.set_ylim(bottom, bottom + 1.3 * (max(top, 100) - bottom))  # room for the legend
    left.legend(fontsize=7, loc="upper left", ncol=2)

    budgets = [b for b in setting.budgets if b > 0]
    styles = {"mean in market": ("gray", ":"), "best in market": ("black", "--")}
    palette = ("tab:purple", "tab:pink", "tab:olive", "tab:cyan", "teal", "darkgoldenrod")
    for i, m in enumerate([*HEADLINE, *setting.constant]):
        color, ls = styles.get(m, (palette[(i - 2) % len(palette)], "-."))
        right.axhline(mean_of(scores, m, 0), color=color, ls=ls, lw=1.2, label=f"{m} (0 labels)")
    labelled = setting.labelled
    for i, m in enumerate([*labelled, *setting.user_only]):
        reuse = m in labelled
        right.plot(budgets, [mean_of(scores, m, b) for b in budgets], marker="o" if reuse else "s",
                   lw=2 if reuse else 1.2, color=("tab:blue", "tab:green", "navy")[i] if reuse
                   else ("tab:red", "tab:orange", "tab:brown")[i - len(labelled)], label=m)
    right.set_xscale("log")
    right.set_xticks(budgets, [str(b) for b in budgets])
    right.set_xlabel("user's labels")
    right.set_ylabel(f"{setting.metric} ({'lower' if setting.lower_is_better else 'higher'} "
                     f"is better)")
    right.set_title("Labelled-data curve")
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(setting.title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def write(setting: Setting, scores: Scores, *, extra: Sequence[Table] = (), seconds: float,
          out_dir: Path = RESULTS_DIR) -> Outcome:
    """Write `<name>.md` and `<name>.png` under `out_dir`; return the verdicts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gap, labels = gap_verdict(setting, scores), label_verdict(setting, scores)
    md, png = out_dir / f"{setting.name}.md", out_dir / f"{setting.name}.png"
    md.write_text(markdown(setting, scores, gap, labels, extra, seconds))
    plot(setting, scores, gap, png)
    return Outcome(setting.name, gap, labels, (md, png))
