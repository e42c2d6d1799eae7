"""A new user's trial of the README's tour: each test is one of their findings (bad
options blamed on the node or on the data file, errors found only after seconds of
work, internal names in messages).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from cli_run import lwnode, served_node
from lwtesting import region_centres, region_files, region_rows

pytestmark = pytest.mark.timeout(180)

D = 5


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A developer's model and rows, a user's rows (200, as the README's), on disk."""
    d = tmp_path_factory.mktemp("new_user")
    centres = region_centres(2, D, seed=5)
    region_files(d, centres, 0, header="abcde")
    (d / "sem0.toml").write_text('name = "region classifier"\ndata_type = "table"\n'
                                 'task_type = "classification"\n')
    np.savetxt(d / "user.csv", region_rows(centres, 0, 200, seed=7), delimiter=",",
               header=",".join("abcde"), comments="")
    return d


@pytest.fixture(scope="module")
def node(work):
    with served_node(work, "New User Org") as (_, url):
        lwnode("pack", "--model", "dev0.skops", "--data", "dev0.csv", "--semantic",
               "sem0.toml", "-o", "dev0.zip", cwd=work, check=0)
        answer = json.loads(lwnode("publish", "dev0.zip", "--home", "home", "--json",
                                   cwd=work, check=0).stdout)
        yield url, answer["id"]


def test_search_options_out_of_the_nodes_range_are_bad_input_named_as_typed(work, node):
    url, _ = node
    with urllib.request.urlopen(f"{url}/v1/health") as answer:
        limits = json.load(answer)["limits"]
    cases = [(("--k", "0"), f"--k: 0 is outside 1..{limits['max_k']}"),
             (("--k", "999999"), f"--k: 999999 is outside 1..{limits['max_k']}"),
             (("--mixture", "1000000000"),
              f"--mixture: 1000000000 is outside 1..{limits['max_mixture']}"),
             (("--mixture", "0"), f"--mixture: 0 is outside 1..{limits['max_mixture']}"),
             (("--points", "99999999999"), "--points: 99999999999 is outside 1.."),
             (("--points", "0"), "--points: 0 is outside 1..")]
    for option, text in cases:
        proc = lwnode("search", "--data", "user.csv", "--home", "home", *option, cwd=work,
                      check=2)
        assert text in proc.stderr, (option, proc.stderr)
        assert "search: k:" not in proc.stderr and "max_mixture:" not in proc.stderr
        assert "n_points" not in proc.stderr and "HTTP" not in proc.stderr
        assert "user.csv" not in proc.stderr, proc.stderr  # not the data file's fault
    # the largest --points the node takes in a search is its own limit
    most = limits["max_requirement_points"]
    over = lwnode("search", "--data", "user.csv", "--home", "home", "--points", most + 1,
                  cwd=work, check=2)
    assert f"--points: {most + 1} is outside 1..{most}" in over.stderr, over.stderr
    lwnode("search", "--data", "user.csv", "--home", "home", "--k", limits["max_k"],
           "--mixture", limits["max_mixture"], cwd=work, check=0)


def test_fewer_points_than_asked_are_explained(work, node):
    text = lwnode("search", "--data", "user.csv", "--home", "home", "--points", "50",
                  cwd=work, check=0).stdout
    assert "sent the RKME of your data: 10 weighted points" in text, text
    assert "fewer than --points 50" in text and "at least 20 rows" in text, text
    for fewer in (("--points", "5"), ()):  # all it asked for; the default: none asked
        assert "fewer than --points" not in lwnode(
            "search", "--data", "user.csv", "--home", "home", *fewer, cwd=work,
            check=0).stdout
    helptext = lwnode("search", "--help", cwd=work, check=0).stdout
    assert "most points in the RKME" in " ".join(helptext.split())


def test_pack_checks_its_semantic_file_and_output_folder_before_any_work(work):
    (work / "junk.skops").write_bytes(b"not a model")  # loading it would fail: it is not
    (work / "typo.toml").write_text('name = "x"\ndata_type = "tabel"\n')
    for semantic, text in (("missing.toml", "missing.toml: no such file"),
                           ("typo.toml", "typo.toml: data_type: 'tabel' is not one of")):
        proc = lwnode("pack", "--model", "junk.skops", "--data", "dev0.csv", "--semantic",
                      semantic, "-o", "x.zip", cwd=work, check=2)
        assert text in proc.stderr, proc.stderr
    (work / "afile").write_text("")
    for out in ("nosuchfolder/x.zip", "afile/x.zip"):
        proc = lwnode("pack", "--model", "junk.skops", "--data", "dev0.csv", "--semantic",
                      "sem0.toml", "-o", out, cwd=work, check=2)
        folder = out.split("/")[0]
        assert f"-o {out}: the folder {folder} does not exist" in proc.stderr, proc.stderr
        assert ".partial" not in proc.stderr
    spec = lwnode("spec", "make", "user.csv", "-o", "nosuchfolder/s.json", cwd=work, check=2)
    assert "-o nosuchfolder/s.json: the folder nosuchfolder does not exist" in spec.stderr
    assert not (work / "nosuchfolder").exists()


def test_fetch_into_a_file_or_an_impossible_folder_says_what_to_do(work, node):
    _, learnware_id = node
    on_file = lwnode("fetch", learnware_id, "-o", "user.csv", "--home", "home", cwd=work,
                     check=2)
    assert "-o user.csv: a file, not a folder" in on_file.stderr, on_file.stderr
    assert "give another path" in on_file.stderr and "File exists" not in on_file.stderr
    (work / "locked").mkdir()
    (work / "locked" / "sub").write_text("")  # a file where a parent folder should be
    nested = lwnode("fetch", learnware_id, "-o", "locked/sub/pkgs", "--home", "home",
                    cwd=work, check=2)
    assert "-o locked/sub/pkgs: cannot create this folder" in nested.stderr, nested.stderr


def test_a_wrong_number_of_weights_is_refused_before_anything_is_fetched(work, node):
    _, learnware_id = node
    proc = lwnode("reuse", learnware_id, "--weights", "0.5,0.5", "--data", "user.csv",
                  "-o", "p.csv", "--no-cache", "--node", "http://127.0.0.1:9", cwd=work,
                  check=2)  # no node answers there: refused before asking
    assert "--weights: 2 weights for 1 learnware" in proc.stderr, proc.stderr


def test_pack_prints_what_it_wrote_as_json(work):
    from protocol.content import content_id

    proc = lwnode("pack", "--model", "dev0.skops", "--data", "dev0.csv", "--semantic",
                  "sem0.toml", "-o", "json.zip", "--points", "50", "--json", cwd=work, check=0)
    out = json.loads(proc.stdout)
    data = (work / "json.zip").read_bytes()
    assert out["output"] == "json.zip" and out["id"] == content_id(data)
    assert out["size"] == len(data) and out["name"] == "region classifier"
    assert out["task_type"] == "classification" and out["checked"] is True
    assert out["input"] == {"dimension": D, "named": D, "described": 0}
    stat = out["statistical"]
    assert (stat["type"], stat["points"], stat["dimension"], stat["rows"]) == \
        ("rkme_table", 15, D, 300)
    assert "no row is in it" in stat["privacy_note"]
    assert out["privacy"]["mechanism"] == "group-means"


ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """The README's tour: its script's files, a node with the three packages published."""
    d = tmp_path_factory.mktemp("tour")
    (script,) = [b for b in re.findall(r"^```python\n(.*?)^```$", README,
                                       flags=re.DOTALL | re.MULTILINE) if "user.csv" in b]
    (d / "make_example.py").write_text(script)
    subprocess.run([sys.executable, "make_example.py"], cwd=d, check=True, timeout=120)
    with served_node(d, "Acme Research"):
        for r in range(3):
            lwnode("pack", "--model", f"dev{r}.skops", "--data", f"dev{r}.csv", "--semantic",
                   f"sem{r}.toml", "-o", f"region{r}.zip", cwd=d, check=0)
            lwnode("publish", f"region{r}.zip", "--home", "home", cwd=d, check=0)
        yield d


def test_the_readmes_list_examples_find_what_they_say_in_the_tour(tour):
    examples = [" ".join(e.split()) for e in re.findall(r"`(lwnode\s+list\b[^`]*)`", README)]
    examples += re.findall(r"^\$ (lwnode list .*?)(?:\s+#.*)?$", README, flags=re.MULTILINE)
    assert len(examples) >= 2, examples
    for example in examples:
        args = shlex.split(example.replace("--home node", ""))[1:]
        proc = lwnode(*args, "--home", "home", cwd=tour, check=0)
        assert "learnware(s)" in proc.stdout and "No learnware" not in proc.stdout, \
            (example, proc.stdout)


def test_the_readmes_status_sample_has_the_lines_status_prints(tour):
    sample = README.split("$ lwnode status --home node\n", 1)[1].split("\n$ ", 1)[0]
    printed = lwnode("status", "--home", "home", cwd=tour, check=0).stdout
    labels = [line[:14].strip() for line in sample.splitlines()]
    assert labels == [line[:14].strip() for line in printed.splitlines()], (sample, printed)


def test_the_tour_writes_into_one_folder_that_git_ignores():
    assert "mkdir -p tour && cd tour" in README
    assert "/tour/" in (ROOT / ".gitignore").read_text().splitlines()


def test_small_wording_an_unknown_prefix_a_semicolon_csv_spec_make_data(work, node):
    prefix = lwnode("show", "abcdef0", "--home", "home", cwd=work, check=4)
    assert "no learnware known to the node has an id starting with it (lwnode list shows " \
           "them)" in prefix.stderr, prefix.stderr
    (work / "semi.csv").write_text("a;b;c;d;e\n1;2;3;4;5\n6;7;8;9;0\n")
    (work / "tabs.csv").write_text("1\t2\t3\t4\t5\n6\t7\t8\t9\t0\n")
    for name in ("semi.csv", "tabs.csv"):
        proc = lwnode("search", "--data", name, "--home", "home", cwd=work, check=2)
        assert "is not a finite number (columns are separated by commas)" in proc.stderr, \
            proc.stderr
    (work / "word.csv").write_text("1,2,3,4,5\n1,2,x,4,5\n")
    plain = lwnode("spec", "make", "word.csv", "-o", "w.json", cwd=work, check=2)
    assert "'x' is not a finite number" in plain.stderr and "commas" not in plain.stderr
    by_option = lwnode("spec", "make", "--data", "user.csv", "-o", "opt.json", cwd=work,
                       check=0)
    assert "wrote opt.json" in by_option.stdout
    lwnode("spec", "make", "user.csv", "-o", "pos.json", cwd=work, check=0)  # as before
    assert json.loads((work / "opt.json").read_text()) == \
        json.loads((work / "pos.json").read_text())
    both = lwnode("spec", "make", "user.csv", "--data", "user.csv", "-o", "b.json", cwd=work,
                  check=2)
    assert "give the data file once" in both.stderr, both.stderr
    neither = lwnode("spec", "make", "-o", "n.json", cwd=work, check=2)
    assert "--data" in neither.stderr, neither.stderr


def test_every_output_file_is_refused_when_it_exists_unless_force(work, node):
    """reuse -o, as pack -o and spec make -o: an existing file is refused before any
    work (here: before asking a node, which does not answer), in the same words, and
    replaced only with --force."""
    _, learnware_id = node
    (work / "old.csv").write_text("mine\n")
    reuse = ("reuse", learnware_id, "--data", "user.csv", "--no-cache", "-o", "old.csv")
    refused = lwnode(*reuse, "--node", "http://127.0.0.1:9", cwd=work, check=2)
    pack = lwnode("pack", "--model", "dev0.skops", "--data", "dev0.csv", "--semantic",
                  "sem0.toml", "-o", "old.csv", cwd=work, check=2)
    spec = lwnode("spec", "make", "user.csv", "-o", "old.csv", cwd=work, check=2)
    for proc in (refused, pack, spec):
        assert "old.csv exists (use --force to replace it)" in proc.stderr, proc.stderr
    assert (work / "old.csv").read_text() == "mine\n"
    helps = [" ".join(lwnode(*cmd, "--help", cwd=work, check=0).stdout.split())
             for cmd in (("reuse",), ("pack",), ("spec", "make"))]
    for text in helps:
        assert "(refused if it exists, unless --force)" in text, text
        assert "--force replace an existing output file" in text, text
    forced = lwnode(*reuse, "--home", "home", "--force", cwd=work, check=0)
    assert "wrote old.csv: 200 predictions" in " ".join(forced.stdout.split())
    lines = (work / "old.csv").read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 201
    assert [p.name for p in work.iterdir() if "partial" in p.name] == []


def test_a_failed_write_leaves_the_old_output_whole(work, node):
    """A write that fails half-way (here: the process may write no more than 100 bytes a
    file, so the 200 predictions do not fit) leaves the file that was there, not the
    first bytes of the new one, and no temporary file."""
    import resource
    import signal

    from cli_run import ENV

    _, learnware_id = node
    cache = ("--cache", "fsize_cache")  # fetched first, so the limited run writes no package
    lwnode("fetch", learnware_id, "-o", "fsize_cache", "--home", "home", cwd=work, check=0)
    (work / "kept.csv").write_text("prediction\n" + "7\n" * 300)
    before = (work / "kept.csv").read_text()

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    proc = subprocess.run(
        [sys.executable, "-m", "lwnode.cli", "reuse", learnware_id, "--data", "user.csv",
         *cache, "--home", "home", "-o", "kept.csv", "--force"], cwd=work, env=ENV,
        capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "-o kept.csv: cannot write it (File too large)" in proc.stderr, proc.stderr
    assert (work / "kept.csv").read_text() == before
    assert [p.name for p in work.iterdir() if "partial" in p.name] == []
