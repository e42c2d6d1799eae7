"""The command line's column matching by name and its search answer's rendering."""

from __future__ import annotations

from engine.hetero.features import column_difference, order_by_name, reordered
from engine.specification.semantic import InputSpec
from lwnode.cli import commands as cli
from lwnode.cli.tables import reuse_hint


def test_order_by_name_puts_the_users_columns_in_the_learnwares_order():
    user = InputSpec.from_columns(["temp", "Births_lag1", "weekday"])
    theirs = InputSpec.from_columns(["births_lag1", "weekday", "temp"],
                                    {"births_lag1": "a", "weekday": "b", "temp": "c"})
    permutation = order_by_name(user, [theirs])
    assert permutation == [1, 2, 0]
    names = [f.name for f in reordered(user, permutation).features]
    assert names == ["Births_lag1", "weekday", "temp"]
    assert order_by_name(user, [InputSpec.from_columns(["temp", "births_lag1", "weekday"])]
                         ) is None  # already in order
    assert order_by_name(user, [InputSpec.from_columns(["temp", "x", "weekday"])]) is None
    two_orders = [theirs, InputSpec.from_columns(["weekday", "temp", "births_lag1"])]
    assert order_by_name(user, two_orders) is None


def test_column_difference_names_missing_and_extra_columns():
    assert column_difference(["a", "b", "z"], ["a", "b", "c"]) == "missing c; extra z"
    assert column_difference(["b", "a"], ["a", "b"]) == "the same names in another order"


def test_notes_keep_square_brackets_and_lose_engine_words(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    answer = {"single": [{"id": "sha256:" + "ab" * 32, "name": "n", "organization": "o",
                          "score": 0.5, "mmd2": 0.1, "local": True, "package_url": "",
                          "mapping": None}],
              "mixture": None, "notes": [
                  "mixture dropped: it held learnwares over other columns of the same width",
                  "2 learnware(s) over other table columns were not compared: heterogeneous "
                  "search needs semantic.input.features with a description for every column"]}
    cli._print_answer(answer, {})
    out = capsys.readouterr().out
    assert '[input.columns] name = "description"' in out  # rich markup ate it before
    assert "mixture dropped" not in out and "semantic.input.features" not in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "lwnode reuse ababababab" in out


def test_reuse_hint_fits_80_columns_with_three_members():
    ids = ["sha256:" + c * 64 for c in "abc"]
    hint = reuse_hint(ids, [0.5, 0.25, 0.25], across=True)
    assert max(len(line) for line in hint.splitlines()) <= 80
    assert "--weights 0.500,0.250,0.250" in hint and "--semantic YOUR.toml" in hint
