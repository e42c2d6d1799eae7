"""`lwnode list / show / withdraw / status`: browse a node as people browse a model hub.

=============  ===========================================================
command        what it does
=============  ===========================================================
``list``       the learnwares a node knows (its own and its peers'): text
               search, the API's filters, sort, limit
``show``       one learnware as a card: what it does, the columns it
               expects, who offers it, its checks and its specification
``withdraw``   withdraw one of the node's own learnwares (needs the token)
``status``     which node, which organization, its health, the token, peers
=============  ===========================================================

Every command takes ``--json`` (stable keys, docs/operations.md "The command
line's JSON"); ids may be given as unique prefixes (6+ hex digits), as tables show
them. The caches of fetched packages are `lwnode.cli.cache`.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from lwnode.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_REFUSED,
    human_size,
    node_client,
    node_home,
    out_console,
    print_json,
    resolve_ids,
    short_id,
    token_source,
)

LIST_SCAN_LIMIT = 10_000
"""Listing entries `lwnode list` reads at most (pages of 1,000) to search and sort:
a bound on one command's work on a node with a very large catalog."""
LIST_PAGE = 1000
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda e: (str(e.get("name") or "").lower(), e["id"]),
    "organization": lambda e: (str(e.get("organization") or "").lower(),
                               str(e.get("name") or "").lower(), e["id"]),
    "size": lambda e: (-(e.get("size") or 0), e["id"]),
    "id": lambda e: e["id"],
}
FILTERS = ("owner", "name", "data_type", "task_type", "library", "license")


# -- list ---------------------------------------------------------------------------------
def _matches(entry: dict[str, Any], words: list[str]) -> bool:
    """Every word of the search text in the entry's name, organization, types or tags, or
    (6+ hex digits) starting its id: a short word is not looked for inside ids, where
    "1" or "ab" would match nearly every one."""
    haystack = " ".join(str(v) for v in (
        entry.get("name"), entry.get("organization"), entry.get("data_type"),
        entry.get("task_type"), entry.get("library"), entry.get("license"),
        *entry.get("scenarios", []))).lower()
    hexd = entry["id"].split(":", 1)[-1]
    return all(w in haystack or (len(w) >= 6 and hexd.startswith(w.removeprefix("sha256:")))
               for w in words)


def browse(client: Any, params: dict[str, str], scenarios: list[str], text: str,
           scan_limit: int = LIST_SCAN_LIMIT) -> tuple[list[dict[str, Any]], int, bool]:
    """The listing entries that pass the node's filters and the search `text`;
    returns (entries, entries scanned, whether the whole listing was read)."""
    words = text.lower().split()
    found: list[dict[str, Any]] = []
    scanned, cursor = 0, None
    while scanned < scan_limit:
        query: dict[str, Any] = {**params, "limit": str(min(LIST_PAGE, scan_limit - scanned))}
        if cursor:
            query["cursor"] = cursor
        if scenarios:
            query["scenario"] = scenarios
        page = client.listing(**query)
        scanned += len(page["items"])
        found.extend(e for e in page["items"] if _matches(e, words))
        cursor = page.get("next_cursor")
        if not cursor:
            return found, scanned, True
    return found, scanned, False


def _kind(entry: dict[str, Any]) -> str:
    return " ".join(v for v in (entry.get("data_type"), entry.get("task_type")) if v) or "?"


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    params = {key: str(getattr(args, key)) for key in FILTERS if getattr(args, key)}
    found, scanned, complete = browse(node_client(args), params, args.scenario or [],
                                      " ".join(args.text))
    found.sort(key=SORT_KEYS[args.sort])
    shown = found[:args.limit]
    if args.json:
        print_json({"items": shown, "matched": len(found), "scanned": scanned,
                    "complete": complete})
        return EXIT_OK
    console = out_console()
    if not shown:
        console.print("no learnware matches" + ("" if complete else
                      f" among the first {scanned} the node listed"), markup=False)
        return EXIT_OK
    table = Table(title=None, pad_edge=False, box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=3, overflow="fold")
    table.add_column("organization", ratio=2, overflow="fold")
    table.add_column("kind", ratio=2)
    table.add_column("size", justify="right", no_wrap=True)
    for e in shown:
        table.add_row(short_id(e["id"]), e.get("name") or "", e.get("organization") or "",
                      _kind(e), human_size(e.get("size")))
    console.print(table)
    more = f"{len(shown)} of {len(found)} shown (--limit)" if len(found) > len(shown) else \
        f"{len(found)} learnware(s)"
    if not complete:
        more += f"; only the first {scanned} the node listed were searched (narrow with filters)"
    console.print(f"{more}. One in full: lwnode show ID", markup=False, highlight=False)
    return EXIT_OK


# -- show ---------------------------------------------------------------------------------
def _spec_summary(spec: dict[str, Any]) -> dict[str, Any]:
    points = spec.get("points") or [[]]
    return {"type": spec.get("type"), "space": spec.get("space"),
            "points": int(spec.get("points_total", len(points))),
            "dimension": len(points[0]) if points and isinstance(points[0], list) else None,
            "n_samples": spec.get("n_samples"), "gamma": spec.get("gamma")}


def card(client: Any, learnware_id: str) -> dict[str, Any]:
    """One learnware in the card's JSON form (the keys `show --json` prints)."""
    details = client.details(learnware_id)
    spec = client.request("GET", f"/v1/learnwares/{quote(learnware_id)}/spec?max_points=1",
                          what="spec")
    semantic = details.get("semantic", {})
    inp = semantic.get("input") or {}
    offers = [{key: o.get(key) for key in ("owner", "organization", "name", "size",
                                           "sequence", "received_at", "package_urls")}
              for o in details.get("offers", [])]
    handles = sorted({f"{o['organization']}/{semantic.get('name', '')}" for o in offers
                      if o.get("organization")})
    return {"id": learnware_id, "short_id": short_id(learnware_id), "handles": handles,
            "semantic": semantic,
            "columns": [{"name": f.get("name", ""), "description": f.get("description", "")}
                        for f in inp.get("features") or []],
            "offers": offers, "hosted": details.get("hosted"),
            "package_url": details.get("package_url"),
            "statistical": [_spec_summary(s) for s in spec.get("statistical", [])]}


def _checks_line(hosted: dict[str, Any] | None) -> str:
    if not hosted:
        return "not hosted here (its owner's node ran the checks before announcing it)"
    report = hosted.get("report") or {}
    checks = report.get("checks") or []
    names = [str(c.get("name")) for c in checks if isinstance(c, dict) and c.get("name")]
    listed = f": {', '.join(names)}" if names else ""
    return (f"{hosted.get('status')} here; checks {report.get('status', '?')} "
            f"({len(checks)}{listed})")


def print_card(c: dict[str, Any], width: int) -> None:
    """The card as text lines that fit `width` columns."""
    sem = c["semantic"]
    label = 13

    def line(key: str, value: str) -> None:
        body = textwrap.wrap(value, max(20, width - label - 2)) or [""]
        print(f"  {key:<{label}}{body[0]}")
        for more in body[1:]:
            print(" " * (label + 2) + more)

    print(sem.get("name") or c["short_id"])
    print(f"  {c['id']}")  # whole, on its own line: people copy it
    line("short id", f"{c['short_id']} (give it, or any 6+ digits, wherever an id goes)")
    for handle in c["handles"]:
        line("handle", f"{handle} (also taken wherever an id goes, while it names one)")
    line("kind", " ".join(v for v in (sem.get("data_type"), sem.get("task_type")) if v) or "?")
    line("library", f"{sem.get('library') or 'not stated'}; licence "
         f"{sem.get('license') or 'not stated'}")
    if sem.get("scenarios"):
        line("scenarios", ", ".join(sem["scenarios"]))
    if sem.get("description"):
        line("description", sem["description"])
    out = sem.get("output") or {}
    if out:
        labels = out.get("labels") or []
        line("output", f"{out.get('dimension')} value(s)" + (
            f"; classes {', '.join(map(str, labels[:12]))}" + (" ..." if len(labels) > 12
                                                               else "") if labels else ""))
    for offer in c["offers"]:
        line("offered by", f"{offer.get('organization') or '?'} (node "
             f"{str(offer.get('owner'))[:16]}...), {human_size(offer.get('size'))}")
    line("checks", _checks_line(c["hosted"]))
    for s in c["statistical"]:
        line("statistical", f"{s['type']}: {s['points']} weighted points in {s['dimension']} "
             f"dimensions, summarising ~{s['n_samples']} training rows (not the rows; "
             "peers see the count rounded down to its leading digit)")
    dim = (sem.get("input") or {}).get("dimension")
    columns = c["columns"]
    if not columns:
        line("expects", f"{dim} unnamed columns, in the order it was trained on")
        return
    described = sum(1 for col in columns if col["description"].strip())
    line("expects", f"{len(columns)} columns, by name ({described} described); a CSV with "
         "these names in any order is reordered to match:")
    for col in columns:
        text = col["name"] + (f" — {col['description']}" if col["description"] else "")
        body = textwrap.wrap(text, max(20, width - label - 4)) or [""]
        print(" " * (label + 2) + "- " + body[0])
        for more in body[1:]:
            print(" " * (label + 4) + more)


def _cmd_show(args: argparse.Namespace) -> int:
    client = node_client(args)
    (learnware_id,) = resolve_ids(client, [args.id])
    c = card(client, learnware_id)
    if args.json:
        print_json(c)
        return EXIT_OK
    print_card(c, out_console().width)
    print(f"fetch it: lwnode fetch {c['short_id']} -o DIR")
    print(f"reuse it: lwnode reuse {c['short_id']} --data YOUR.csv -o predictions.csv")
    return EXIT_OK


# -- withdraw -----------------------------------------------------------------------------
def _cmd_withdraw(args: argparse.Namespace) -> int:
    client = node_client(args, auth=True)
    (learnware_id,) = resolve_ids(client, [args.id])
    answer = client.withdraw(learnware_id)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"withdrew {learnware_id}: its package is deleted here and a signed withdrawal "
          "tells the peers (they stop offering it)")
    return EXIT_OK


# -- status -------------------------------------------------------------------------------
def token_state(args: argparse.Namespace, client_url: str) -> dict[str, Any]:
    """Is there a token, and does the node take it? (``GET /v1/whoami``: 200 accepted,
    401 refused; it changes nothing.)"""
    from lwnode.client import NodeClient
    from lwnode.errors import RequestFailed

    token, where = token_source(args)
    if token is None:
        return {"present": False, "valid": None, "source": None, "problem": where}
    try:
        NodeClient(client_url, token, label="").whoami()
        valid = True
    except RequestFailed as exc:
        if exc.status != 401:
            raise
        valid = False
    return {"present": True, "valid": valid, "source": where, "problem": None}


def status_of(args: argparse.Namespace) -> dict[str, Any]:
    """The `status --json` form: node, organization, health, token, peers, counts."""
    from lwnode.errors import RequestFailed

    client = node_client(args)
    health = client.health()
    try:
        peers: list[dict[str, Any]] | None = client.peers().get("peers", [])
    except RequestFailed:  # a degraded node may not list them: still say what is known
        peers = None
    counts = health.get("counts", {})
    return {"node_url": client.url, "home": str(node_home(args).path),
            "status": health.get("status"), "down": health.get("down") or {},
            "organization": health.get("organization"), "node_id": health.get("node_id"),
            "version": health.get("version"), "protocol": health.get("protocol"),
            "token": token_state(args, client.url),
            "peers": {"connected": None, "known": None} if peers is None else {
                "connected": sum(1 for p in peers if p.get("connected")), "known": len(peers)},
            "learnwares": {"hosted": counts.get("hosted"), "known": counts.get("catalog")},
            "keeps": (health.get("replication") or {}).get("keeps", "every learnware"),
            "disk": _disk_of(health.get("replication") or {}),
            "uptime_seconds": health.get("uptime_seconds")}


def _disk_of(replication: dict[str, Any]) -> dict[str, Any]:
    return {"bytes": replication.get("disk_bytes"), "max_mb": replication.get("max_disk_mb"),
            "taking_new": replication.get("taking_new", True),
            "note": replication.get("note", "")}


def _disk_line(disk: dict[str, Any]) -> str:
    if disk["bytes"] is None:
        return "unknown (an older node)"
    line = f"{disk['bytes'] / 1e6:,.1f} MB of " + (
        f"{disk['max_mb']:,} MB ([replication] max_disk_mb)" if disk["max_mb"]
        else "no limit")
    if not disk["taking_new"]:
        return f"{line}; FULL: takes no new peers' learnwares ({disk['note']})"
    return f"{line}; narrowed: {disk['note']}" if disk["note"] else line


def _token_line(token: dict[str, Any]) -> str:
    if not token["present"]:
        return f"none ({token['problem']}); reading works, publish and withdraw need one"
    if token["valid"]:
        return f"accepted by the node (from {token['source']})"
    return (f"REFUSED by the node (from {token['source']}): give this node's token with "
            "--token, or its --home (exit 4)")


def _status_exit(s: dict[str, Any]) -> int:
    """1 for a degraded node, else 4 for a refused token (the exit of a refused
    request), else 0: scripts can check both without reading the text."""
    if s["status"] != "ok":
        return EXIT_FAILURE
    return EXIT_REFUSED if s["token"]["valid"] is False else EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    s = status_of(args)
    if args.json:
        print_json(s)
        return _status_exit(s)
    health = s["status"]
    if s["down"]:
        health += ": " + "; ".join(f"{part} ({why})" for part, why in s["down"].items())
    rows = [("node", f"{s['node_url']} (lwnode {s['version']}, protocol {s['protocol']})"),
            ("organization", s["organization"] or "(none set)"),
            ("node id", s["node_id"]), ("health", health),
            ("token", _token_line(s["token"])),
            ("peers", "unknown (the node could not list them)" if s["peers"]["known"] is None
             else f"{s['peers']['connected']} connected of {s['peers']['known']} known"),
            ("learnwares", f"{s['learnwares']['hosted']} hosted here, "
                           f"{s['learnwares']['known']} known in all"),
            ("keeps", f"peers' {s['keeps']} (routed search reaches the rest)"
             if s["keeps"] != "every learnware" else "every learnware peers offer"),
            ("disk", _disk_line(s["disk"])),
            ("home", s["home"])]
    width = out_console().width
    for key, value in rows:
        body = textwrap.wrap(str(value), max(20, width - 16)) or [""]
        print(f"{key:<14}{body[0]}")
        for more in body[1:]:
            print(" " * 14 + more)
    return _status_exit(s)


# -- parser -------------------------------------------------------------------------------
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value



def add_commands(sub: Any, make: Callable[..., argparse.ArgumentParser],
                 add_node: Callable[..., None]) -> None:
    """Register list, show, withdraw and status (`make` and `add_node` are the CLI's
    sub-parser and --node/--home helpers)."""
    from engine.specification.semantic import DataType, Library, License, TaskType

    p = make(sub, "list", "list and search the learnwares a node knows",
             "List the learnwares a node knows (its own and those its peers announced), "
             "filtered like the API (GET /v1/learnwares) and by search text (every word in "
             "the name, organization, kind, library, licence, scenarios or id).")
    p.add_argument("text", nargs="*", metavar="TEXT", help="words to search for")
    p.add_argument("--owner", metavar="NODE_ID", help="only this owner's (its node id)")
    p.add_argument("--name", help="only names containing this")
    for flag, values in (("--data-type", DataType), ("--task-type", TaskType),
                         ("--library", Library), ("--license", License)):
        choices = [v.value for v in values]  # listed in the help: the usage stays narrow
        p.add_argument(flag, choices=choices, metavar=flag[2:].replace("-", "_").upper(),
                       help=f"only this {flag[2:].replace('-', ' ')}: {', '.join(choices)}")
    p.add_argument("--scenario", action="append", metavar="TAG",
                   help="only those with this scenario tag (repeatable)")
    p.add_argument("--sort", choices=sorted(SORT_KEYS), default="name",
                   help="order (default name; size: largest first)")
    p.add_argument("--limit", type=_positive, default=20, metavar="N",
                   help="show at most this many (default 20)")
    p.add_argument("--json", action="store_true", help="print them as JSON")
    add_node(p)
    p.set_defaults(func=_cmd_list)

    p = make(sub, "show", "one learnware in full (a card, not raw JSON)",
             "Show one learnware: what it does, the columns it expects (by name), who offers "
             "it, its checks and a summary of its statistical specification.")
    p.add_argument("id", metavar="ID", help="its id, or a unique prefix (6+ hex digits)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    add_node(p)
    p.set_defaults(func=_cmd_show)

    p = make(sub, "withdraw", "withdraw one of the node's own learnwares",
             "Withdraw a learnware this node published: its package is deleted here and a "
             "signed withdrawal tells the peers. Needs the node's API token.")
    p.add_argument("id", metavar="ID", help="its id, or a unique prefix (6+ hex digits)")
    p.add_argument("--json", action="store_true", help="print the node's answer as JSON")
    add_node(p, token=True)
    p.set_defaults(func=_cmd_withdraw)

    p = make(sub, "status", "which node, organization, health, token and peers",
             "Which node the command line talks to, its organization and node id, its health "
             "(\"degraded\" names what is down; exit 1 then), whether the API token is there "
             "and accepted (a refused one: exit 4, after the status is printed), and its "
             "peers. Like 'whoami' in other tools.")
    p.add_argument("--json", action="store_true", help="print it as JSON")
    add_node(p, token=True)
    p.set_defaults(func=_cmd_status)

