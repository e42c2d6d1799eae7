"""What every `lwnode` command shares: exit codes, consoles, the node's URL and client.

Separate from `lwnode.cli.commands` so that command groups in their own modules
(`lwnode.cli.browse`, ...) can use them without importing the parser, and so that
the command line can later be split into a package one group at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import LwdockError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130

DEFAULT_URL = "http://127.0.0.1:8470"
FALLBACK_WIDTH = 200
"""Width of output that goes to a file or pipe and no $COLUMNS says otherwise."""

SHORT_ID_HEX = 12
"""Hex digits of an id shown in tables: 48 bits, unique in any catalog a node holds,
and accepted back as a prefix wherever an id is (6 or more digits)."""


def command_typed(args: argparse.Namespace) -> str:
    """``lwnode search`` / ``lwnode spec make``: how errors name the command."""
    words = [getattr(args, "command", None), getattr(args, "spec_command", None),
             getattr(args, "cache_command", None)]
    return " ".join(["lwnode", *[w for w in words if w]])


def err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def out_console() -> Any:
    """The console for results: the terminal's width, else $COLUMNS, else wide (a file
    or pipe wants whole lines, not lines cut for a terminal nobody sees)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(highlight=False, width=FALLBACK_WIDTH)
    return console


def wrap(text: str, width: int, *, hang: int | None = None) -> list[str]:
    """`text` in lines of at most `width` columns: its leading spaces kept, later lines
    indented by `hang` (default: as far as the first line's text starts, or past the
    key of a "key  value" row); words longer than a line (URLs, ids) stay whole."""
    if hang is None:
        lead = re.match(r" *(?:\S+ {2,}(?=\S))?", text)
        hang = len(lead.group(0)) if lead else 0
    return textwrap.wrap(text, max(20, width), subsequent_indent=" " * hang,  # no "re-|ranked"
                         break_long_words=False, break_on_hyphens=False) or [""]


def say(text: str, *, hang: int | None = None) -> None:
    """Print a result line on stdout, wrapped to the results' width (`out_console`), as
    tables and cards are (`wrap`)."""
    width = out_console().width
    for line in text.splitlines() or [""]:
        print("\n".join(wrap(line, width, hang=hang)))


class WrappingHelpFormatter(argparse.HelpFormatter):
    """``--help`` with its description and epilog wrapped to the terminal, as argparse
    wraps the options: each line of them is a paragraph (its indent and a table row's
    hanging indent kept, `wrap`), so the hand-made layout of the exit-code table stays
    while no line is wider than the terminal."""

    def _split_lines(self, text: str, width: int) -> list[str]:  # the options' help
        return wrap(" ".join(text.split()), width, hang=0)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for paragraph in text.splitlines()
                         for line in wrap(paragraph, width - len(indent)))


def node_home(args: argparse.Namespace) -> Any:
    from lwnode.home import NodeHome, default_home

    return NodeHome(args.home) if getattr(args, "home", None) else NodeHome(default_home())


def node_url(args: argparse.Namespace) -> str:
    """--node, else $LWDOCK_NODE, else the running node of --home, else its config."""
    if getattr(args, "node", None):
        return str(args.node)
    if os.environ.get("LWDOCK_NODE"):
        return os.environ["LWDOCK_NODE"]
    home = node_home(args)
    running = home.read_url()
    if running:
        return str(running)
    if home.config_path.is_file():
        try:
            return str(home.config(env={}).public_url())
        except LwdockError:
            pass
    return DEFAULT_URL


def check_home(path: str) -> None:
    """Refuse a ``--home`` that is no node home (bad input): a typo must not fall back to
    whatever node answers on the default port."""
    from lwnode.errors import InputError

    home = Path(path)
    if not home.is_dir():
        what = "not a folder" if home.exists() else "no such node home"
        raise InputError(f"--home {path}: {what}; create one with: lwnode init --home {path}")


def token_source(args: argparse.Namespace) -> tuple[str | None, str]:
    """The API token and where it came from (for messages); (None, why not) when there
    is none. Flags beat the environment: --token, else api.token in an explicit --home
    (when it has one), else $LWDOCK_TOKEN, else api.token in $LWDOCK_HOME or ~/.lwdock."""
    from lwnode.errors import HomeError

    if getattr(args, "token", None):
        return str(args.token), "--token"
    home = node_home(args)
    explicit = bool(getattr(args, "home", None))
    if os.environ.get("LWDOCK_TOKEN") and not (explicit and home.token_path.exists()):
        return os.environ["LWDOCK_TOKEN"], "$LWDOCK_TOKEN"
    try:
        return home.token(), str(home.token_path)
    except HomeError as exc:
        return None, str(exc)


def node_client(args: argparse.Namespace, *, auth: bool = False) -> Any:
    """A client of the node; with `auth`, one that carries the token (a missing token is
    bad input, exit 2, with where it is looked for)."""
    from lwnode.client import NodeClient
    from lwnode.errors import InputError

    token = None
    if auth:
        token, where = token_source(args)
        if token is None:
            raise InputError(where)
    return NodeClient(node_url(args), token, label="")


def wrong_token_hint(args: argparse.Namespace) -> str:
    """What to do when the node refused the token, in the command line's terms (a
    command that sends none met a node whose reads need it: ``open_reads = false``)."""
    if not hasattr(args, "token"):
        return (f"the node at {node_url(args)} answers only with its API token ([http] "
                "open_reads = false): ask its operator, or use a node of your own")
    _, where = token_source(args)
    return (f"the node refused the API token from {where}: give the token of the node at "
            f"{node_url(args)} with --token, or that node's --home, whose api.token is read "
            "(--token, then --home, then $LWDOCK_TOKEN)")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def short_id(learnware_id: str) -> str:
    """``3f2a9c1b0d4e``: the first hex digits of an id, accepted back as a prefix."""
    return learnware_id.split(":", 1)[-1][:SHORT_ID_HEX]


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


_ID_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{6,64})")


def resolve_handle(client: Any, handle: str) -> str:
    """The id of the learnware called ``organization/name`` (compared without regard to
    case or surrounding spaces) in the node's listing; refused when none or several are.

    A handle is the command line's name for a learnware, read from the listing: the
    content id stays the verifiable truth. A node refuses a second active learnware of
    one name (`NodeService.publish`, 409 ``name_taken``), so a handle names one
    learnware per owner; two nodes that call themselves by one organization name can
    still share a handle, and then the ids are asked for."""
    from lwnode.errors import InputError, RequestFailed

    org, _, name = (part.strip().lower() for part in handle.partition("/"))
    if not org or not name:
        raise InputError(f"{handle!r}: a handle is organization/name, e.g. "
                         "\"Acme Research/region 0 classifier\"")
    found = [e for e in _named(client, name)
             if str(e.get("organization", "")).strip().lower() == org]
    ids = sorted({e["id"] for e in found})
    if not ids:
        raise RequestFailed(f"{handle}: no learnware known to the node has this organization "
                            "and name (lwnode list shows them)", 404, "not_found")
    if len(ids) > 1:
        raise InputError(f"{handle}: {len(ids)} learnwares have this organization and name "
                         f"({', '.join(short_id(i) for i in ids[:4])}); give one's id")
    return ids[0]


def _named(client: Any, name: str) -> list[dict[str, Any]]:
    """The listing entries called `name` (lower case, no surrounding spaces)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.listing(name=name[:200], limit="1000",
                              **({"cursor": cursor} if cursor else {}))
        found += [e for e in page["items"] if str(e.get("name", "")).strip().lower() == name]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def resolve_name(client: Any, name: str) -> str:
    """The id of the one learnware the node knows called `name` (without organization,
    compared as `resolve_handle` compares): refused, with their handles, when several
    are, and when none is."""
    from lwnode.errors import InputError, RequestFailed

    found = _named(client, name.strip().lower())
    ids = sorted({e["id"] for e in found})
    if not ids:
        raise RequestFailed(f"{name}: not an id, and no learnware known to the node is named "
                            "so (lwnode list shows them)", 404, "not_found")
    if len(ids) > 1:
        handles = sorted({f"{e.get('organization')}/{e.get('name')} ({short_id(e['id'])})"
                          for e in found})
        raise InputError(f"{name}: {len(ids)} learnwares known to the node have this name: "
                         f"{'; '.join(handles[:6])}; give one's handle (organization/name) "
                         "or id")
    return ids[0]


def resolve_ids(client: Any, ids: Sequence[str]) -> list[str]:
    """Full learnware ids; a unique prefix (6+ hex digits, like git) is expanded from the
    node's listing, which holds its own learnwares and those its peers announced; a
    handle ``organization/name`` is looked up there too (`resolve_handle`)."""
    from lwnode.errors import InputError, RequestFailed

    out: list[str] = []
    known: list[str] | None = None
    for original in ids:
        given = original
        if "/" in given:  # organization/name, as list and show print them
            out.append(resolve_handle(client, given))
            continue
        given = given.strip().lower()
        match = _ID_PREFIX.fullmatch(given)
        if re.fullmatch(r"(?:sha256:)?[0-9a-f]{1,5}", given):
            raise InputError(f"{given}: too short to pick a learnware; give 6 or more hex "
                             "digits of its id")
        if match is None and not given.startswith("sha256:"):
            out.append(resolve_name(client, original))  # a name, as list prints it
            continue
        if match is None or len(match.group(1)) == 64:
            # a full id (with or without "sha256:", as fetch names its files), or not
            # an id at all (fetch says why)
            out.append("sha256:" + match.group(1) if match else given)
            continue
        if known is None:
            known, cursor = [], None
            while True:
                params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
                page = client.listing(**params)
                known.extend(item["id"] for item in page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        hits = sorted({k for k in known if k.split(":", 1)[1].startswith(match.group(1))})
        if not hits:
            raise RequestFailed(f"{given}: no learnware known to the node has an id starting "
                                "with it (lwnode list shows them)", 404, "not_found")
        if len(hits) != 1:
            raise InputError(f"{given}: {len(hits)} learnwares known to the node have ids "
                             f"starting with it ({hits[0]}, ...); give more of the id")
        out.append(hits[0])
    return out
