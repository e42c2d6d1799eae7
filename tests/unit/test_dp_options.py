"""The DP options: one parser (`lwnode.userside.privacy.parse_dp`) for the command line's
``--epsilon --delta --gamma --bounds`` and the web page's fields of the same names, so
both take the same values and refuse the same ones with the same words."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lwnode.cli import main
from lwnode.cli.commands import _dp_options, build_parser
from lwnode.errors import InputError
from lwnode.userside.privacy import DEFAULT_DELTA, parse_dp

DP = {"epsilon": "1", "delta": "", "gamma": "0.5", "bounds": "-5,5"}


def _page(**fields: str) -> dict | None:
    values = {**dict.fromkeys(DP, ""), **fields}
    return parse_dp(*(values[f] for f in DP), name=lambda field: field)


def _cli(**fields: str) -> dict | None:
    argv = ["spec", "make", "rows.csv", "-o", "spec.json"]
    argv += [f"--{k}={v}" for k, v in fields.items() if v]
    return _dp_options(build_parser().parse_args(argv))


def test_no_epsilon_is_the_private_default_and_delta_defaults_as_documented(capsys):
    assert _page() is None and _cli() is None
    expected = {"epsilon": 1.0, "delta": DEFAULT_DELTA, "gamma": 0.5, "bounds": (-5.0, 5.0)}
    assert _page(**DP) == _cli(**DP) == expected
    with pytest.raises(SystemExit):
        build_parser().parse_args(["spec", "make", "--help"])
    assert DEFAULT_DELTA == 1e-5 and "delta (default 1e-5)" in capsys.readouterr().out


@pytest.mark.parametrize(("fields", "message"), [
    ({**DP, "epsilon": "0"}, "epsilon: expected a number in (0, 10], got 0.0"),
    ({**DP, "epsilon": "-1"}, "epsilon: expected a number in (0, 10], got -1.0"),
    ({**DP, "epsilon": "nan"}, "epsilon: expected a number in (0, 10], got nan"),
    # above 10 the accountant's calibration alone takes seconds to minutes (5 min at 1000)
    ({**DP, "epsilon": "1000"}, "epsilon: expected a number in (0, 10], got 1000.0"),
    ({**DP, "delta": "1"}, "delta: expected a number in (0, 1), got 1.0"),
    ({**DP, "gamma": "0"}, "gamma: expected a number in (0, 1e+200], got 0.0"),
    ({**DP, "gamma": "auto"}, "gamma: 'auto' would choose it from the rows (spending "
                              "privacy): leave gamma out for a public choice"),
    ({**DP, "bounds": "5,-5"}, "bounds: need finite low < high for every column"),
    ({**DP, "bounds": "-5"}, "bounds: expected LOW,HIGH, got '-5'"),
    ({**DP, "bounds": "-inf,5"}, "bounds: need finite low < high"),
    ({**DP, "epsilon": ""}, "gamma: only for differential privacy: give epsilon too, or "
                            "leave gamma out"),
    ({"delta": "1e-6"}, "delta: only for differential privacy"),
])
def test_both_refuse_the_same_values_with_the_same_words(fields, message):
    with pytest.raises(InputError) as page:
        _page(**fields)
    assert str(page.value).startswith(message)
    assert "--" not in str(page.value)  # the page's field names, not the command line's
    # argparse reads the numbers first (its own message for "lots"); the words are the same
    # with the command line's names
    with pytest.raises(InputError) as cli:
        _cli(**fields)
    assert str(cli.value) == _with_dashes(str(page.value))


def test_gamma_and_bounds_left_out_are_left_to_the_public_rules():
    assert _page(**{**DP, "gamma": "", "bounds": ""}) == _cli(epsilon="1") == {
        "epsilon": 1.0, "delta": DEFAULT_DELTA, "gamma": None, "bounds": None}


def test_a_word_instead_of_a_number_names_the_field_on_the_page():
    with pytest.raises(InputError, match=r"^epsilon: expected a number, got 'lots'$"):
        _page(**{**DP, "epsilon": "lots"})


def _with_dashes(message: str) -> str:
    for field in DP:
        message = message.replace(f"{field}:", f"--{field}:").replace(
            f" {field} ", f" --{field} ").replace(f"({field})", f"(--{field})").replace(
            f" {field},", f" --{field},")
    return message


def test_spec_make_with_epsilon_writes_a_dp_spec(tmp_path, capsys):
    rows = np.random.default_rng(3).normal(size=(150, 3))
    data = tmp_path / "rows.csv"
    data.write_text("a,b,c\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows))
    out = tmp_path / "spec.json"
    code = main(["spec", "make", str(data), "-o", str(out), "--epsilon", "2", "--gamma",
                 "0.5", "--bounds=-4,4", "--points", "20"])
    assert code == 0
    record = json.loads(out.read_text())["privacy"]
    assert (record["mechanism"], record["epsilon"], record["delta"]) == ("gaussian-rff", 2.0,
                                                                        1e-5)
    printed = " ".join(capsys.readouterr().out.split())  # wrapped to the width, where the
    assert "differentially private at epsilon 2, delta 1e-05" in printed  # tmp path ends


def _rows_csv(tmp_path, columns=3, n=150):
    rows = np.random.default_rng(3).normal(size=(n, columns))
    data = tmp_path / "rows.csv"
    header = ",".join(f"c{i}" for i in range(columns))
    data.write_text(header + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows))
    return data


def test_epsilon_alone_says_exactly_what_to_pass_with_the_public_gamma(tmp_path, capsys):
    data, out = _rows_csv(tmp_path, columns=17), tmp_path / "spec.json"
    code = main(["spec", "make", str(data), "-o", str(out), "--epsilon", "1"])
    err = " ".join(capsys.readouterr().err.split())
    assert code != 0 and not out.exists()
    assert ("--bounds: differential privacy (--epsilon) needs the range your 17 columns can "
            "take, as --bounds=LOW,HIGH (e.g. -3,3 for standardised columns") in err
    # the rule computed for this dimension, so that bounds are all the user has to add
    assert "--gamma can stay out: 2^-4, the data-free rule for 17 standardised columns" in err


def test_gamma_left_out_is_the_data_free_rule_and_is_said(tmp_path, capsys):
    data, out = _rows_csv(tmp_path), tmp_path / "spec.json"
    code = main(["spec", "make", str(data), "-o", str(out), "--epsilon", "2",
                 "--bounds=-4,4", "--points", "20"])
    assert code == 0
    spec = json.loads(out.read_text())
    assert spec["gamma"] == 0.25  # 2^round(log2(1/3)) = 2^-2
    assert (spec["privacy"]["mechanism"], spec["privacy"]["epsilon"]) == ("gaussian-rff", 2.0)
    err = " ".join(capsys.readouterr().err.split())
    assert ("differential privacy: gamma 2^-2 (public): the data-free rule for 3 standardised "
            "columns, 2^round(log2(1/3))") in err


def test_an_explicit_gamma_wins_and_nothing_is_chosen(tmp_path, capsys):
    data, out = _rows_csv(tmp_path), tmp_path / "spec.json"
    code = main(["spec", "make", str(data), "-o", str(out), "--epsilon", "2", "--gamma",
                 "0.5", "--bounds=-4,4", "--points", "20"])
    assert code == 0 and json.loads(out.read_text())["gamma"] == 0.5
    assert "differential privacy:" not in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--gamma", "0", "--bounds=-4,4"], "--gamma: expected a number in (0, 1e+200], got 0.0"),
    (["--bounds=4,-4"], "--bounds: need finite low < high for every column"),
    (["--gamma", "auto", "--bounds=-4,4"], "--gamma: 'auto' would choose it from the rows"),
])
def test_bad_dp_options_are_refused_before_any_fit(tmp_path, capsys, argv, message):
    data, out = _rows_csv(tmp_path), tmp_path / "spec.json"
    assert main(["spec", "make", str(data), "-o", str(out), "--epsilon", "1", *argv]) != 0
    assert message in " ".join(capsys.readouterr().err.split()) and not out.exists()


# -- bounds per column: the range each column declares in --semantic ----------------------------
RANGES = ('[input.columns]\nage = {{ description = "age in years", range = [0, 120] }}\n'
          'z = {{ description = "a standardised score"{z} }}\n'
          't = {{ description = "temperature, C", range = [1000, 1010] }}\n')


def _ranged_csv(tmp_path, n=200):
    rng = np.random.default_rng(5)
    x = np.c_[rng.uniform(0, 120, n), rng.normal(size=n), rng.uniform(1000, 1010, n)]
    data = tmp_path / "rows.csv"
    data.write_text("age,z,t\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in x))
    return data, x


def _points(path):
    return np.asarray(json.loads(path.read_text())["points"], dtype=float)


def test_spec_make_bounds_each_column_by_the_range_semantic_declares(tmp_path, capsys):
    data, _ = _ranged_csv(tmp_path)
    sem, out = tmp_path / "sem.toml", tmp_path / "spec.json"
    sem.write_text(RANGES.format(z=", range = [-4, 4]"))
    code = main(["spec", "make", str(data), "-o", str(out), "--semantic", str(sem),
                 "--epsilon", "1", "--gamma", "0.25", "--points", "20"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    points = _points(out)
    lo, hi = np.array([0, -4, 1000]), np.array([120, 4, 1010])
    assert ((points >= lo) & (points <= hi)).all()
    assert (f"differential privacy: bounds per column (public): the ranges {sem} declares for "
            "its 3 columns (age 0..120, z -4..4, t 1000..1010); --bounds=LOW,HIGH sets one "
            "range for all") in err
    # an explicit --bounds wins, and no rule is said
    code = main(["spec", "make", str(data), "-o", str(out), "--force", "--semantic", str(sem),
                 "--epsilon", "1", "--gamma", "0.25", "--bounds=-1,1", "--points", "20"])
    assert code == 0 and "differential privacy:" not in capsys.readouterr().err
    assert np.abs(_points(out)).max() <= 1


def test_columns_without_a_range_or_a_bad_range_are_refused_naming_them(tmp_path, capsys):
    data, _ = _ranged_csv(tmp_path)
    sem, out = tmp_path / "sem.toml", tmp_path / "spec.json"
    sem.write_text(RANGES.format(z=""))
    argv = ["spec", "make", str(data), "-o", str(out), "--semantic", str(sem), "--epsilon", "1",
            "--gamma", "0.25"]
    assert main(argv) != 0 and not out.exists()
    assert (f"--bounds: differential privacy (--epsilon) needs the range of every column; in "
            f"{sem}, 1 of the 3 columns declare no range: z: give each a range = [LOW, HIGH], "
            "or pass --bounds=LOW,HIGH for all") in " ".join(capsys.readouterr().err.split())
    sem.write_text(RANGES.format(z=", range = [4, -4]"))
    assert main(argv) != 0 and not out.exists()
    assert (f"{sem}: input.columns.z: range: low must be below high, got [4.0, -4.0]"
            in " ".join(capsys.readouterr().err.split()))


def test_pack_bounds_the_dp_spec_by_the_declared_ranges_and_keeps_them(tmp_path, capsys):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from engine.package import open_package

    data, x = _ranged_csv(tmp_path)
    model = tmp_path / "model.skops"
    sio.dump(LogisticRegression(max_iter=500).fit(x, np.where(x[:, 1] > 0, "hi", "lo")), model)
    sem, pkg = tmp_path / "sem.toml", tmp_path / "pkg.zip"
    sem.write_text('name = "ranged"\ndata_type = "table"\ntask_type = "classification"\n'
                   'library = "scikit_learn"\n' + RANGES.format(z=", range = [-4, 4]"))
    code = main(["pack", "--model", str(model), "--data", str(data), "--semantic", str(sem),
                 "-o", str(pkg), "--epsilon", "1", "--gamma", "0.25", "--points", "20"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "differential privacy: bounds per column (public): the ranges" in err
    package = open_package(pkg.read_bytes())
    points = package.spec.points_
    assert ((points >= [0, -4, 1000]) & (points <= [120, 4, 1010])).all()
    # the declaration travels with the learnware: the package's semantic spec keeps it
    assert package.semantic.input.ranges == ((0.0, 120.0), (-4.0, 4.0),
                                                      (1000.0, 1010.0))


def test_search_fits_within_the_declared_ranges_but_sends_no_range(tmp_path, monkeypatch):
    import lwnode.cli.commands as commands

    sent: list[dict] = []

    class Node:  # stands in for the user's node: what would search send it?
        def __init__(self, *args, **kwargs) -> None:
            pass

        def health(self) -> dict:
            return {}

        def search(self, body: dict) -> dict:
            sent.append(body)
            raise KeyboardInterrupt  # stop here: the body is what this test is about

    monkeypatch.setattr(commands, "_client", Node)
    data, _ = _ranged_csv(tmp_path)
    sem = tmp_path / "sem.toml"
    sem.write_text(RANGES.format(z=", range = [-4, 4]"))
    main(["search", "--data", str(data), "--semantic", str(sem), "--epsilon", "1",
          "--gamma", "0.25", "--points", "20"])
    (body,) = sent
    points = np.asarray(body["statistical"]["points"])
    assert ((points >= [0, -4, 1000]) & (points <= [120, 4, 1010])).all()
    # search matches columns by name and description; the ranges bound the fit only
    features = body["semantic"]["input"]["features"]
    assert [f["name"] for f in features] == ["age", "z", "t"]
    assert all("range" not in f for f in features)
