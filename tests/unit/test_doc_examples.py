"""The self-contained Python examples of the README and docs/hetero.md run as printed
(the other documents show fragments)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_examples(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    assert blocks, f"{document} has no python example"
    for i, block in enumerate(blocks):
        exec(compile(block, f"{document} example {i + 1}", "exec"), {"__name__": "__doc__"})


def test_the_readme_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the second one writes the tour's files
    run_examples("README.md")
    assert "Mixture(ids=('lw7', 'lw2')" in capsys.readouterr().out
    assert (tmp_path / "user.csv").is_file() and (tmp_path / "dev2.skops").is_file()


def test_the_hetero_example_finds_its_city_first(capsys):
    run_examples("docs/hetero.md")
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("city-a") for line in out[:3]), out
    assert out[-1].startswith("RMSE data-free")
