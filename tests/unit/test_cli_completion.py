"""`lwnode completion`: the scripts complete what the parser has (bash run for real)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lwnode.cli.commands import build_parser
from lwnode.cli.completion import bash_script, fish_script, zsh_script


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "lwnode.bash"
    path.write_text(bash_script(build_parser()))
    return path


def complete(script, line: str) -> list[str]:
    """What bash offers for `line` (the last word is the one being completed)."""
    words = line.split(" ")
    code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _lwnode; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return [w for w in out.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_subcommands_options_and_choices(script):
    assert complete(script, "lwnode s") == ["search", "spec", "show", "status"]
    assert complete(script, "lwnode spec ") == ["make"]
    assert complete(script, "lwnode cache c") == ["clear"]
    assert "--scenario" in complete(script, "lwnode list --s")
    assert complete(script, "lwnode list --sort s") == ["size"]
    assert complete(script, "lwnode search --data user.csv --k 3 --mi") == ["--mixture"]
    assert complete(script, "lwnode demo --data t") == ["tabular", "text"]


def test_zsh_and_fish_scripts_name_every_command():
    parser = build_parser()
    zsh, fish = zsh_script(parser), fish_script(parser)
    assert zsh.startswith("#compdef lwnode") and "bashcompinit" in zsh
    for command in ("list", "show", "withdraw", "status", "cache", "search", "completion"):
        assert f"-n __fish_use_subcommand -a {command} -d " in fish
    assert "__fish_seen_subcommand_from list' -l sort -xa 'id name organization size'" in fish
