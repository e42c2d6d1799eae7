"""`lwnode completion bash|zsh|fish`: a shell completion script, made from the parser.

The script is generated from `lwnode.cli.commands.build_parser` each time, so it completes
exactly the commands, sub-commands, options and option choices the installed
`lwnode` has (no extra package, no Python run at each Tab press). Install:

.. code-block:: sh

    lwnode completion bash > ~/.local/share/bash-completion/completions/lwnode
    lwnode completion zsh  > ~/.zfunc/_lwnode     # zsh: via bashcompinit
    lwnode completion fish > ~/.config/fish/completions/lwnode.fish
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lwnode.cli.common import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Command:
    """One (sub-)command: its path of words, options, option choices, sub-commands."""

    words: tuple[str, ...]
    help: str = ""
    options: list[str] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)
    subcommands: list[str] = field(default_factory=list)


def _sub_action(parser: argparse.ArgumentParser) -> Any:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                None)


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = (),
             help_text: str = "") -> Iterator[Command]:
    """Every command of `parser`, depth first (the top level has ``words == ()``)."""
    cmd = Command(words, help_text)
    for action in parser._actions:
        for opt in action.option_strings:
            cmd.options.append(opt)
            if action.choices is not None and not isinstance(action,
                                                             argparse._SubParsersAction):
                cmd.choices[opt] = [str(c) for c in action.choices]
    sub = _sub_action(parser)
    helps = {a.dest: a.help or "" for a in sub._choices_actions} if sub else {}
    if sub is not None:
        cmd.subcommands = list(sub.choices)
    yield cmd
    if sub is not None:
        for name, child in sub.choices.items():
            yield from commands(child, (*words, name), helps.get(name, ""))


def bash_script(parser: argparse.ArgumentParser) -> str:
    cases = []
    for cmd in commands(parser):
        key = " ".join(cmd.words)
        choice_lines = "".join(
            f"            {shlex.quote(opt)}) choices={shlex.quote(' '.join(values))};;\n"
            for opt, values in cmd.choices.items())
        cases.append(
            f"        {shlex.quote(key)})\n"
            f"            subs={shlex.quote(' '.join(cmd.subcommands))}\n"
            f"            opts={shlex.quote(' '.join(cmd.options))}\n"
            f"            case \"$prev\" in\n{choice_lines}            esac;;\n")
    return f"""# bash completion for lwnode (made by: lwnode completion bash)
_lwnode() {{
    local cur prev path subs opts choices i w
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    path=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        [[ "$w" == -* ]] && continue
        case " $(_lwnode_subs "$path") " in
            *" $w "*) path="${{path:+$path }}$w";;
        esac
    done
    choices=""
    _lwnode_spec "$path"
    if [[ -n "$choices" ]]; then
        COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -n "$subs" ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
_lwnode_subs() {{ local subs opts choices prev=""; _lwnode_spec "$1"; echo "$subs"; }}
_lwnode_spec() {{
    case "$1" in
{''.join(cases)}    esac
}}
complete -o filenames -F _lwnode lwnode
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    return ("#compdef lwnode\n# zsh completion for lwnode (made by: lwnode completion zsh)\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser))


def fish_script(parser: argparse.ArgumentParser) -> str:
    lines = ["# fish completion for lwnode (made by: lwnode completion fish)",
             "complete -c lwnode -f"]
    for cmd in commands(parser):
        if cmd.words:
            parent = cmd.words[:-1]
            cond = ("__fish_use_subcommand" if not parent else
                    f"__fish_seen_subcommand_from {parent[-1]}")
            lines.append(f"complete -c lwnode -n {shlex.quote(cond)} -a {cmd.words[-1]} "
                         f"-d {shlex.quote(cmd.help)}")
        cond = ("__fish_use_subcommand" if not cmd.words else
                f"__fish_seen_subcommand_from {cmd.words[-1]}")
        for opt in cmd.options:
            flag = f"-l {opt[2:]}" if opt.startswith("--") else f"-s {opt[1:]}"
            values = cmd.choices.get(opt)
            extra = f" -xa {shlex.quote(' '.join(values))}" if values else ""
            lines.append(f"complete -c lwnode -n {shlex.quote(cond)} {flag}{extra}")
    return "\n".join(lines) + "\n"


SCRIPTS: dict[str, Callable[[argparse.ArgumentParser], str]] = {
    "bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def add_commands(sub: Any, make: Callable[..., argparse.ArgumentParser],
                 root: argparse.ArgumentParser) -> None:
    """Register ``completion``; its scripts describe `root`, read when the command runs
    (so every command group registered after this one is in them too)."""

    def _cmd_completion(args: argparse.Namespace) -> int:
        print(SCRIPTS[args.shell](root), end="")
        return EXIT_OK

    p = make(sub, "completion", "print a shell completion script (bash, zsh, fish)",
             "Print a completion script for your shell. bash: lwnode completion bash > "
             "~/.local/share/bash-completion/completions/lwnode; zsh: lwnode completion zsh "
             "> ~/.zfunc/_lwnode; fish: lwnode completion fish > "
             "~/.config/fish/completions/lwnode.fish")
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=_cmd_completion)
