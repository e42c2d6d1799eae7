"""The privacy sweep's `--draws`: how a DP mode's draws are summarised (pure functions on
fake draws), that only DP modes are drawn more than once, and that the plot reads the
summarised rows back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import privacy_sweep as ps
from benchmarks.privacy_sweep_plot import parse_cell, read_rows


def draw(best: float, nn: float | None = 0.5, kde: float | None = 0.5,
         hits: tuple[int, int] = (3, 6), figures: tuple[float, ...] | None = None,
         seconds: float = 10.0) -> ps.Draw:
    return ps.Draw(figures or (best + 0.1, best + 0.2, best), best, nn, kde, hits, 6, 100.0,
                   seconds)


def test_spread_is_mean_and_min_max_of_the_measured_values():
    s = ps.spread([0.5, None, 0.8, 0.6])
    assert s == ps.Spread(pytest.approx(0.6333333), 0.5, 0.8, 3)
    assert ps.spread([None, None]) is None
    assert ps.spread([0.25]).cell() == "0.2500"
    assert s.cell() == "0.6333 (0.5000–0.8000)"


def test_dp_row_reports_mean_and_range_over_draws():
    draws = (draw(0.40, 0.51, 0.49, (2, 6), (0.60, 0.50, 0.40), 30),
             draw(0.46, 0.53, 0.52, (5, 6), (0.50, 0.70, 0.46), 31),
             draw(0.52, 0.50, 0.55, (3, 5), (0.70, 0.60, 0.52), 29))
    row = ps.ModeResult("image (6/6)", "dp 1", draws, reference=0.17).row()
    assert row[:3] == ["image (6/6)", "dp 1", "100"]
    assert row[3:6] == ["0.6000", "0.6000", "0.4600"]  # per-method means
    assert row[6] == "0.4600 (0.4000–0.5200)"          # best: mean (min–max)
    assert row[7] == "+0.2900"                          # mean best - reference
    assert row[8] == "0.513 (0.500–0.530)"
    assert row[9] == "0.520 (0.490–0.550)"
    assert row[10:12] == ["3.3/6 (2–5)", "5.7/6 (5–6)"]
    assert row[12] == "90"                              # seconds of all draws


def test_one_draw_prints_the_row_as_before():
    row = ps.ModeResult("text (8/8)", "none", (draw(0.7064, 0.998, 0.552, (3, 7)),),
                        reference=0.7064).row()
    assert row[6:] == ["0.7064", "+0.0000", "0.998", "0.552", "3/6", "7/6", "10"]
    no_auc = ps.ModeResult("text (8/8)", "dp 2", (draw(0.7, None, None),), None).row()
    assert no_auc[7:10] == ["·", "·", "·"]


def test_draw_rows_are_one_per_draw():
    res = ps.ModeResult("text (8/16)", "dp 0.5", (draw(0.70), draw(0.72)), reference=0.71)
    rows = res.draw_rows()
    assert [r[1] for r in rows] == ["dp 0.5 #1", "dp 0.5 #2"]
    assert [r[6] for r in rows] == ["0.7000", "0.7200"]
    assert [r[7] for r in rows] == ["-0.0100", "+0.0100"]


def test_verdict_is_on_the_mean_and_counts_the_draws():
    res = ps.ModeResult("text (8/16)", "dp 1",
                        (draw(0.70, 0.50, 0.52), draw(0.73, 0.56, 0.50),
                         draw(0.71, 0.52, 0.51)), reference=0.70)
    (line,) = ps.verdicts([ps.ModeResult("text (8/16)", "dp 2", (draw(0.0),), 0.70), res])
    assert "within 0.02 of the non-private one: MET (+0.0133 on the mean of 3 draws" in line
    assert "+0.0000 to +0.0300; met in 2 of 3" in line
    assert "attack AUC <= 0.55: MET (0.527 (0.500–0.560), 0.510 (0.500–0.520); " \
           "both met in 2 of 3 draws)" in line
    missed = ps.ModeResult("image (6/6)", "dp 1", (draw(0.46, 0.56, 0.5),), reference=0.17)
    (line,) = ps.verdicts([missed])
    assert "MISSED (+0.2900); attack AUC <= 0.55: MISSED (0.560, 0.500)" in line
    assert "draws" not in line


def test_only_dp_modes_are_drawn_again(monkeypatch):
    calls: list[str] = []
    bests = iter([0.30, 0.35, 0.50, 0.60, 0.40])

    def fake_draw(name, setting, mode, *rest):
        calls.append(mode)
        return draw(next(bests))

    module = SimpleNamespace(SETTING=None)
    monkeypatch.setattr(ps, "importlib", SimpleNamespace(import_module=lambda name: module))
    monkeypatch.setattr(ps, "market_and_users", lambda mod, fit: ((["a", "b"], ["u"]), 7))
    monkeypatch.setattr(ps, "one_draw", fake_draw)
    results = ps.sweep_one("image", ["none", "default", "dp 1"], 2, 0, 0, draws=3)
    assert calls == ["none", "default", "dp 1", "dp 1", "dp 1"]
    assert [len(r.draws) for r in results] == [1, 1, 3]
    assert [r.reference for r in results] == [0.30, 0.30, 0.30]
    assert results[2].row()[6:8] == ["0.5000 (0.4000–0.6000)", "+0.2000"]


def test_plot_reads_means_ranges_and_draws(tmp_path: Path):
    assert parse_cell("0.1721") == (0.1721, None)
    assert parse_cell("0.4617 (0.4500–0.4700)") == (0.4617, (0.45, 0.47))
    res = [ps.ModeResult("image (20/20)", "none", (draw(0.13),), 0.13),
           ps.ModeResult("image (20/20)", "default", (draw(0.16),), 0.13),
           ps.ModeResult("image (20/20)", "dp 1", (draw(0.40), draw(0.50)), 0.13)]
    rows = [r.row() for r in res] + res[2].draw_rows()
    path = tmp_path / "sweep.md"
    path.write_text("\n".join("| " + " | ".join(r) + " |" for r in rows), encoding="utf-8")
    curve = read_rows([path])["image"]
    assert (curve.none, curve.default) == (0.13, 0.16)
    assert curve.dp == {1.0: 0.45}
    assert curve.dp_range == {1.0: (0.40, 0.50)}
    assert curve.dp_draws == {1.0: [0.40, 0.50]}
