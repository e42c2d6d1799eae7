"""The search answer's tables, narrow enough for an 80-column terminal.

A full id is 71 characters: a table holding it needs ~150 columns, and on an
80-column terminal showed only a cut-off id column. Tables show the first 12 hex
digits (`lwnode.cli.common.short_id`, accepted back wherever an id goes), name the
node a learnware lives on by its host, wrap names and organizations, and draw no
vertical borders. ``--json`` keeps the full ids.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from lwnode.cli.common import short_id

RANKED_TITLE = ("Ranked learnwares (by MMD² to your data: lower is closer; score 0..1: "
                "higher is better, comparable across searches)")


def _table(title: str | None) -> Any:
    from rich.table import Table

    return Table(title=title, box=None, pad_edge=False, header_style="bold",
                 title_justify="left")


def where_lives(hit: dict[str, Any]) -> str:
    """"this node", else the owner's host:port (the URL's path adds nothing)."""
    if hit.get("local"):
        return "this node"
    parts = urlsplit(hit.get("package_url") or "")
    return parts.netloc or "?"


def ranked_table(answer: dict[str, Any]) -> Any:
    """The ranked single learnwares."""
    table = _table(RANKED_TITLE)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=3, overflow="fold")
    table.add_column("organization", ratio=2, overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("MMD²", justify="right", no_wrap=True)
    table.add_column("where", ratio=2, overflow="fold")
    for rank, hit in enumerate(answer["single"], 1):
        mmd2 = "" if hit["mmd2"] is None else f"{hit['mmd2']:.4f}"
        if hit.get("approximate"):  # a sketch estimate: the full spec did not arrive
            mmd2 = "≈" + mmd2
        mapping = hit.get("mapping")
        name = hit["name"] if mapping is None else (  # details under the table
            f"{hit['name']} ({len(mapping['pairs'])}/{len(mapping['learnware_columns'])} "
            "columns mapped)")
        table.add_row(str(rank), short_id(hit["id"]), name, hit["organization"],
                      f"{hit['score']:.3f}", mmd2, where_lives(hit))
    return table


def mixture_table(mixture: dict[str, Any]) -> Any:
    table = _table(f"Best mixture: score {mixture['score']:.3f}, MMD² {mixture['mmd2']:.4f}")
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=1, overflow="fold")
    table.add_column("weight", justify="right", no_wrap=True)
    for member, weight in zip(mixture["members"], mixture["weights"], strict=True):
        table.add_row(short_id(member["id"]), member["name"], f"{weight:.3f}")
    return table


def reuse_hint(ids: list[str], weights: list[float] | None, across: bool,
               labels: str | None = None, method: str | None = None) -> str:
    """The command that reuses what was found, by short ids, in lines of < 80 columns."""
    shown = [short_id(i) for i in ids]
    lines = [" ".join(shown[at:at + 4]) for at in range(0, len(shown), 4)]  # 4 a line
    lines[0] = "lwnode reuse " + lines[0]
    if weights:
        lines.append("--weights " + ",".join(f"{w:.3f}" for w in weights))
    if method:
        lines.append(f"--method {method}")
    lines.append("--data YOUR.csv " + ("--semantic YOUR.toml " if across else "")
                 + (f"--labels {labels} " if labels else "") + "-o predictions.csv")
    return "  " + " \\\n      ".join(lines)


def rerank_table(reranked: dict[str, Any]) -> Any:
    """The shortlist by the user's labels (`lwnode.userside.rerank`), with each entry's
    spread over the folds and its place in the search's table (# there; the mixture
    has none)."""
    metric = reranked["metric"]
    better = "higher" if metric == "accuracy" else "lower"
    folds = reranked["n_folds"]
    how = (f"± the spread over {folds} folds" if folds else "too few labels to rank by")
    table = _table(f"Ranked by your {reranked['n_labels']} labels ({metric} on them, "
                   f"{better} is better: the learnwares never saw them; {how})")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=3, overflow="fold")
    table.add_column(metric, justify="right", no_wrap=True)
    table.add_column("±", justify="right", no_wrap=True)
    table.add_column("search #", justify="right", no_wrap=True)
    for rank, entry in enumerate(reranked["ranking"], 1):
        value = "" if entry["value"] is None else f"{entry['value']:.3f}"
        lid = entry["id"] if entry["id"] == "mixture" else short_id(entry["id"])
        place = "mixture" if entry["search_rank"] is None else f"#{entry['search_rank']}"
        table.add_row(str(rank), lid, entry["name"], value, f"{entry['spread']:.3f}", place)
    return table
