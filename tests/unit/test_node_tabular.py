"""Reading users' files: headers, numbers, labels, and errors that name line and column."""

from __future__ import annotations

import numpy as np
import pytest

from lwnode.errors import InputError
from lwnode.userside.tabular import read_labels, read_table, write_predictions


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("age,income\n30,1.5\n40,2e3\n")
    (tmp_path / "n.tsv").write_text("1\t2\n3\t4\n\n")
    with_header = read_table(tmp_path / "h.csv")
    assert with_header.columns == ("age", "income")
    assert np.array_equal(with_header.values, [[30, 1.5], [40, 2000]])
    plain = read_table(tmp_path / "n.tsv")
    assert plain.columns == () and plain.values.shape == (2, 2)


def test_npy_tables_and_images(tmp_path):
    np.save(tmp_path / "t.npy", np.arange(6).reshape(3, 2))
    np.save(tmp_path / "i.npy", np.zeros((4, 8, 8), dtype=np.uint8))
    assert read_table(tmp_path / "t.npy").values.dtype == np.float64
    assert read_table(tmp_path / "i.npy").values.shape == (4, 8, 8)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", "a,b\n1,2\n3,x\n", r"a.csv line 3, column 2 \('b'\): 'x' is not a finite number"),
    ("b.csv", "1,2\n3\n", "b.csv line 2: 1 values, expected 2"),
    ("c.csv", "1,nan\n", r"1 missing value\(s\), the first at line 1, column 2; drop those "
     r"rows, or fill them \(lwnode: --impute mean\|median\|zero"),
    ("c2.csv", "1,inf\n", "column 2: 'inf' is not a finite number"),
    ("g.csv", "a;b\n1;2\n", r"'1;2' is not a finite number \(columns are separated by "
     r"commas\)"),
    ("h.tsv", "a\tb\n1;5\t2\n", r"'1;5' is not a finite number \(columns are separated by "
     r"tabs in a \.tsv file\)"),
    ("i.csv", "a,b\n1,2\n3,x\n", r"'x' is not a finite number$"),
    ("d.csv", "", "no rows"),
    ("e.csv", "x,y\n", "a header row but no data rows"),
    ("f.xlsx", "1", "unsupported file type '.xlsx'"),
])
def test_bad_tables_name_the_place(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=message):
        read_table(tmp_path / name)


def test_bad_npy_and_missing_files(tmp_path):
    np.save(tmp_path / "o.npy", np.array(["a", "b"]))
    np.save(tmp_path / "v.npy", np.arange(3.0))
    with pytest.raises(InputError, match="expected numbers"):
        read_table(tmp_path / "o.npy")
    with pytest.raises(InputError, match="shape"):
        read_table(tmp_path / "v.npy")
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "gone.csv")


def test_labels_keep_their_kind(tmp_path):
    (tmp_path / "s.csv").write_text("label\npos\nneg\n")
    (tmp_path / "i.csv").write_text("1\n0\n2.0\n")
    (tmp_path / "f.csv").write_text("0.5\n1.25\n")
    (tmp_path / "bad.csv").write_text("1,2\n")
    assert read_labels(tmp_path / "s.csv").tolist() == ["pos", "neg"]
    assert read_labels(tmp_path / "i.csv").tolist() == [1, 0, 2]
    assert read_labels(tmp_path / "f.csv").tolist() == [0.5, 1.25]
    with pytest.raises(InputError, match="one label per line"):
        read_labels(tmp_path / "bad.csv")


def test_a_labels_header_is_skipped(tmp_path):
    # any name above numbers, and lwnode's own predictions file
    (tmp_path / "price.csv").write_text("price\n1.5\n-2\n")
    write_predictions(tmp_path / "pred.csv", np.array(["cat", "dog"]))
    (tmp_path / "names.csv").write_text("species\ncat\ndog\n")  # cannot be told apart
    assert read_labels(tmp_path / "price.csv").tolist() == [1.5, -2.0]
    assert read_labels(tmp_path / "pred.csv").tolist() == ["cat", "dog"]
    assert read_labels(tmp_path / "names.csv").tolist() == ["species", "cat", "dog"]


def test_predictions_are_written_one_per_line(tmp_path):
    write_predictions(tmp_path / "p.csv", np.array(["a", "b"]))
    write_predictions(tmp_path / "q.csv", np.array([[1.0, 2.0]]))
    assert (tmp_path / "p.csv").read_text().splitlines() == ["prediction", "a", "b"]
    assert (tmp_path / "q.csv").read_text().splitlines()[0] == "prediction_0,prediction_1"
    with pytest.raises(InputError, match="no such directory"):
        write_predictions(tmp_path / "nowhere" / "p.csv", np.array([1]))


def test_missing_values_are_filled_as_scikit_learn_users_expect(tmp_path):
    (tmp_path / "m.csv").write_text("a,b\n1,10\n,20\n3,NA\n5,?\n")
    with pytest.raises(InputError, match=r"3 missing value\(s\), the first at line 3, "
                                         r"column 1 \('a'\)"):
        read_table(tmp_path / "m.csv")
    mean = read_table(tmp_path / "m.csv", "mean")
    assert mean.columns == ("a", "b") and mean.imputed == 3
    assert np.array_equal(mean.values, [[1, 10], [3, 20], [3, 15], [5, 15]])
    median = read_table(tmp_path / "m.csv", "median").values
    assert np.array_equal(median[:, 1], [10, 20, 15, 15]) and median[1, 0] == 3
    assert np.array_equal(read_table(tmp_path / "m.csv", "zero").values[1:, :],
                          [[0, 20], [3, 0], [5, 0]])
    (tmp_path / "first.csv").write_text("1,,3\n4,5,6\n")  # a data row, not a header
    first = read_table(tmp_path / "first.csv", "mean")
    assert first.columns == () and first.values[0, 1] == 5
    np.save(tmp_path / "m.npy", np.array([[1.0, np.nan], [3.0, 4.0]]))
    with pytest.raises(InputError, match="--impute mean"):
        read_table(tmp_path / "m.npy")
    assert read_table(tmp_path / "m.npy", "median").values[0, 1] == 4
    (tmp_path / "empty_col.csv").write_text("a,b\n1,\n2,\n")
    with pytest.raises(InputError, match="column 2 has no value at all"):
        read_table(tmp_path / "empty_col.csv", "mean")
