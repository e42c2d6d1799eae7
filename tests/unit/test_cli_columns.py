"""The command line's column matching by name and its search answer's rendering."""

from __future__ import annotations

from engine.hetero.features import column_difference, order_by_name, reordered
from engine.specification.semantic import InputSpec
from lwnode.cli import commands as cli
from lwnode.cli.common import short_id
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


def _hit(c, mapping=None):
    return {"id": "sha256:" + c * 64, "name": f"lw {c}", "organization": "o", "score": 0.5,
            "mmd2": 0.1, "local": True, "package_url": "", "mapping": mapping}


def test_search_hints_the_shortlist_average_beside_the_mixture(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    singles = [_hit(c) for c in "abcdef"]  # six hits: the shortlist takes the top 5
    mixture = {"ids": [singles[0]["id"], singles[5]["id"]], "weights": [0.6, 0.4],
               "score": 0.6, "mmd2": 0.05, "members": [singles[0], singles[5]]}
    cli._print_answer({"single": singles, "mixture": mixture, "notes": []}, {})
    out = capsys.readouterr().out
    hint = out[out.index("the equal average of the"):]
    assert "--method average" in hint and "--weights" not in hint
    for c in "abcdef":  # top 5 and the mixture's member from rank 6
        assert short_id("sha256:" + c * 64) in hint
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_the_shortlist_average_leaves_out_hits_that_do_not_fit_the_data(capsys, monkeypatch):
    """A hit under half the best score (the README's tour: a region of score 0.000)
    is not another source for the same task; a mixture's member stays whatever its
    score."""
    monkeypatch.setenv("COLUMNS", "80")
    singles = [_hit(c) for c in "abcd"]
    singles[2] = {**singles[2], "score": 0.249}  # under half of 0.5
    singles[3] = {**singles[3], "score": 0.1}
    mixture = {"ids": [singles[0]["id"], singles[3]["id"]], "weights": [0.6, 0.4],
               "score": 0.6, "mmd2": 0.05, "members": [singles[0], singles[3]]}
    cli._print_answer({"single": singles, "mixture": mixture, "notes": []}, {})
    out = capsys.readouterr().out
    hint = out[out.index("the equal average of the"):]
    assert all(short_id("sha256:" + c * 64) in hint for c in "abd")
    assert short_id("sha256:" + "c" * 64) not in hint
    # with c and d both weak and no mixture, a and b are what is left to average
    cli._print_answer({"single": singles, "mixture": None, "notes": []}, {})
    hint = capsys.readouterr().out.split("the equal average of the")[1]
    assert short_id("sha256:" + "b" * 64) in hint and short_id("sha256:" + "d" * 64) not in hint


def test_no_shortlist_hint_when_it_adds_nothing(capsys):
    across = {"pairs": [], "learnware_columns": [], "lines": []}
    for single, mixture in (([_hit("a")], None),  # one hit: the top-match hint says it
                            ([_hit("a"), _hit("b", across)], None)):  # b: other columns
        cli._print_answer({"single": single, "mixture": mixture, "notes": []}, {})
        out = capsys.readouterr().out
        assert "shortlist" not in out and "--method average" not in out
        assert "lwnode reuse " + short_id("sha256:" + "a" * 64) in out


def test_column_errors_name_the_file_and_what_was_written_there(tmp_path):
    """Header and TOML mistakes are told in the README's words ("header", "column",
    ``[input.columns]``) against the file that holds them, never by an internal path
    such as ``feature.name``."""
    import numpy as np
    import pytest

    from lwnode.errors import InputError
    from lwnode.userside.local import read_semantic
    from lwnode.userside.tabular import read_table

    rows = np.arange(12.0).reshape(4, 3)

    def csv(name: str, header: str) -> str:
        np.savetxt(tmp_path / name, rows, delimiter=",", header=header, comments="")
        return str(tmp_path / name)

    def error(data: str, toml: str | None = None) -> str:
        semantic = None
        if toml is not None:
            (tmp_path / "s.toml").write_text(toml)
            semantic = str(tmp_path / "s.toml")
        with pytest.raises(InputError) as caught:
            read_semantic(semantic, table=read_table(data), data_name=data)
        return str(caught.value)

    cases = [
        (error(csv("dup.csv", "a,a,b")),
         f"{tmp_path}/dup.csv: in its header, column 'a' appears twice; every column "
         "needs a name of its own (columns are matched by name)"),
        (error(csv("empty.csv", "a,,b")),
         f"{tmp_path}/empty.csv: in its header, column 2 has no name; every column needs "
         "a name of its own (columns are matched by name)"),
        (error(csv("long.csv", "a," + "x" * 250 + ",b")),
         f"{tmp_path}/long.csv: in its header, column 2's name: 250 characters, at most 200"),
        (error(csv("ok.csv", "a,b,c"), '[input.columns]\na = { unit = "' + "u" * 70 + '" }\n'),
         f"{tmp_path}/s.toml: input.columns.a: unit: 70 characters, at most 64"),
        (error(str(tmp_path / "ok.csv"), "[input.columns]\nb = { kind = 3 }\n"),
         f"{tmp_path}/s.toml: input.columns.b: kind: expected text, got a number (3)"),
        (error(str(tmp_path / "ok.csv"), '[[input.features]]\nname = "a"\ndescription = 7\n'
               '[[input.features]]\nname = "b"\n[[input.features]]\nname = "c"\n'),
         f"{tmp_path}/s.toml: input.features: column 'a': description: expected text, "
         "got a number (7)")]
    for message, expected in cases:
        assert message == expected, (message, expected)
        assert "feature." not in message
