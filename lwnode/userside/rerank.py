"""Label-aware search on the user's machine: the shortlist re-ranked by a few labels.

A search ranks learnwares by MMD², which compares *input* distributions; a user's
task can differ in how inputs map to outputs (issue 16: the search's top-1 sat 40 %
of the way down the true ranking). A user with labels can tell more: the user's own
side fetches the shortlist (`shortlist_ids`, bounded by ``--rerank``, verified by
`lwnode.userside.local.fetch_package`), and `rerank` scores each learnware alone and
the search's mixture on the labelled rows, by `engine.reuse.select.rank_by_labels`:
the MMD² order stands unless the labels separate two entries (a paired test, the
rule that chooses the default reuse method), so ten labels are never trusted blindly.

No label and no row leaves the machine: the packages come to the data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from engine.errors import ReuseError, SpecError
from engine.specification.semantic import InputSpec
from lwnode.errors import InputError

if TYPE_CHECKING:
    from lwnode.userside.tabular import Table

DEFAULT_RERANK = 5
MAX_RERANK = 10
"""At most this many single learnwares are fetched to re-rank (a fetch each)."""
MIXTURE = "mixture"
RERANK_Z = 1.645
"""How many standard errors of the per-row gain an entry must beat the one the MMD²
order puts first by to take its place (`engine.reuse.select.rank_by_labels`' `z`)."""
NOT_RERANKED = (
    "not re-ranked by your labels: every learnware of the shortlist takes other columns "
    "than yours, and re-ranking scores only those over your own columns (by name) on your "
    "labelled rows; lwnode reuse --labels fits learnwares over other columns on them")


def shortlist_ids(answer: Mapping[str, Any], n: int) -> list[str]:
    """The ids to fetch: the first `n` single hits over the user's columns, and the
    mixture's members (if none takes other columns)."""
    check_rerank(n)
    ids = [hit["id"] for hit in answer.get("single", []) if not hit.get("mapping")][:n]
    mixture = answer.get("mixture")
    if mixture and not _mixture_across(answer):
        ids += [i for i in mixture["ids"] if i not in ids]
    return ids


AVERAGE_SCORE_FLOOR = 0.5
"""A single hit joins the shortlist's equal average only with at least this share of
the best hit's score: one whose inputs barely overlap the user's is not another source
for the same task (the README's tour: a region of score 0.000 took accuracy from 0.97
to 0.75). On the five markets the average was measured on, every top-5 hit of every
user has at least 0.909 of the best score, so there it removes nothing."""


def average_ids(answer: Mapping[str, Any], n: int) -> list[str]:
    """The shortlist to average with no labels: `shortlist_ids`, less the single hits
    below `AVERAGE_SCORE_FLOOR` of the best one's score (the mixture's members stay:
    the mixture fits the user's data with them)."""
    ids = shortlist_ids(answer, n)
    single = answer.get("single", [])
    best = max((hit["score"] for hit in single), default=0.0)
    weak = {hit["id"] for hit in single if hit["score"] < AVERAGE_SCORE_FLOOR * best}
    mixture = answer.get("mixture") or {}
    return [i for i in ids if i not in weak or i in mixture.get("ids", ())]


def check_rerank(n: int) -> None:
    if not 1 <= n <= MAX_RERANK:
        raise InputError(f"--rerank: expected 1..{MAX_RERANK} learnwares, got {n}")


def _mixture_across(answer: Mapping[str, Any]) -> bool:
    mixture = answer.get("mixture") or {}
    across = {hit["id"] for hit in answer.get("single", []) if hit.get("mapping")}
    return any(i in across for i in mixture.get("ids", ()))


def rerank(answer: Mapping[str, Any], learnwares: Mapping[str, Any], x: NDArray[Any],
           labels: NDArray[Any], *, user_input: InputSpec | None = None, n: int = DEFAULT_RERANK
           ) -> dict[str, Any]:
    """The shortlist of `answer` (``POST /v1/search``'s JSON) ordered by the user's
    labels (`labels` of the first rows of `x`), as JSON (docs/operations.md, `search`).

    `learnwares`: the fetched learnwares by id (`shortlist_ids`). Each single hit is
    scored as its own predictions; the mixture as `lwnode reuse` would reuse it with
    no labels (`data_free_method`: routed or averaged, with its weights).
    """
    from engine.reuse.base import infer_task
    from engine.reuse.select import Candidate, rank_by_labels
    from lwnode.userside.local import data_free_method, in_their_order, new_reuser

    if len(labels) > len(x):
        raise InputError(f"--labels: {len(labels)} labels for {len(x)} rows")
    hits = [hit for hit in answer.get("single", []) if hit["id"] in learnwares][:n]
    search_rank = {hit["id"]: i for i, hit in enumerate(answer.get("single", []), 1)}
    mmd2 = {hit["id"]: hit["mmd2"] for hit in hits}
    names = {hit["id"]: hit["name"] for hit in hits}
    notes = [f"{hit['name']} takes other columns: not re-ranked"
             for hit in answer.get("single", [])[:n] if hit.get("mapping")]
    entries: list[tuple[str, Sequence[Any], Sequence[float] | None]] = [
        (hit["id"], [learnwares[hit["id"]]], None) for hit in hits]
    mixture = answer.get("mixture")
    if mixture and all(i in learnwares for i in mixture["ids"]):
        mmd2[MIXTURE] = mixture["mmd2"]
        names[MIXTURE] = "mixture of " + ", ".join(m["name"] for m in mixture["members"])
        at = next((i for i, (lid, _, _) in enumerate(entries)
                   if (mmd2[lid] is not None and mmd2[lid] > mixture["mmd2"])), len(entries))
        entries.insert(at, (MIXTURE, [learnwares[i] for i in mixture["ids"]],
                            mixture["weights"]))
    if not entries:  # the search's answer stands as it is; say why it was not re-ranked
        shortlist = answer.get("single", [])[:n]
        why = [NOT_RERANKED] if all(hit.get("mapping") for hit in shortlist) else \
            [*notes, "not re-ranked by your labels: no learnware of the shortlist could be "
             "scored here"]
        return {"metric": None, "n_labels": len(labels), "n_folds": 0, "moved": False,
                "ranking": [], "notes": why}

    everyone = [lw for _, lws, _ in entries for lw in lws]
    x, _ = in_their_order(everyone, x, user_input)

    def make(lws: Sequence[Any], weights: Sequence[float] | None) -> Any:
        method = data_free_method(lws, x, weights).method if weights else "average"
        return lambda: new_reuser(method, lws, weights)

    try:
        candidates = [Candidate(name, make(lws, w), False) for name, lws, w in entries]
    except (ReuseError, SpecError) as exc:
        raise InputError(str(exc)) from None
    try:
        ranking = rank_by_labels(candidates, x[:len(labels)], labels,
                                 task=infer_task(everyone), z=RERANK_Z)
    except (ReuseError, SpecError) as exc:
        raise InputError(str(exc)) from None
    return {"metric": ranking.metric, "n_labels": ranking.n_labels,
            "n_folds": ranking.n_folds, "moved": ranking.moved,
            "ranking": [{"id": e.name, "name": names[e.name], "value": _finite(e.value),
                         "spread": e.spread, "mmd2": mmd2[e.name],
                         "mmd2_rank": e.given_rank + 1, "search_rank": search_rank.get(e.name)}
                        for e in ranking.entries],
            "notes": notes + list(ranking.notes)}


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def rerank_packages(answer: Mapping[str, Any], packages: Mapping[str, str | os.PathLike[str]],
                    table: Table, labels: NDArray[Any], *, labels_name: str,
                    semantic: str | os.PathLike[str] | None = None,
                    data_name: str = "the data", n: int = DEFAULT_RERANK,
                    trusted_types: Sequence[str] = (),
                    unfetched: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`rerank` on fetched (verified) package files, `packages` by learnware id
    (`shortlist_ids`): a package that cannot be loaded here (e.g. a model that runs its
    own code) is left out with a note, as is one that could not be fetched
    (`unfetched`: id -> why); `semantic` names the user's columns (as ``--semantic``);
    a problem with the labels is named as `labels_name`."""
    from lwnode.userside.local import load_learnwares, read_semantic

    names = _names(answer)
    learnwares: dict[str, Any] = {}
    notes = [f"{names.get(lid) or lid.split(':', 1)[-1][:12]} not re-ranked: it could not "
             f"be fetched ({why})" for lid, why in (unfetched or {}).items()]
    for lid, path in packages.items():
        try:
            learnwares[lid] = load_learnwares([Path(path)], trusted_types=trusted_types)[0]
        except InputError as exc:
            notes.append(f"{names.get(lid) or lid.split(':', 1)[-1][:12]} not re-ranked: {exc}")
    user_input = (read_semantic(semantic, table=table, data_name=data_name).input
                  if table.values.ndim == 2 else None)
    try:
        out = rerank(answer, learnwares, table.values, labels, user_input=user_input, n=n)
    except InputError as exc:  # the engine calls the labels y
        if not str(exc).startswith("y: "):
            raise
        raise InputError(f"{labels_name}: {str(exc)[3:]}") from None
    return {**out, "notes": notes + out["notes"]}


def _names(answer: Mapping[str, Any]) -> dict[str, str | None]:
    members = (answer.get("mixture") or {}).get("members") or []
    return {m["id"]: m.get("name") for m in [*members, *answer.get("single", [])]
            if isinstance(m, Mapping) and "id" in m}


def why_this_order(reranked: Mapping[str, Any]) -> str | None:
    """Whether the labels moved the first place, and by what rule; None when nothing was
    ranked (the notes say why)."""
    ranking = reranked["ranking"]
    if not (ranking and reranked["n_folds"]):
        return None
    by_mmd = next(e for e in ranking if e["mmd2_rank"] == 1)
    top = ranking[0]
    if top is not by_mmd:
        return (f"your labels put {_called(top)} first: it beats {_called(by_mmd)} (first "
                f"by MMD²) by more than {RERANK_Z:g} standard errors of the per-row gain")
    if reranked["moved"]:  # the first stays; "the MMD² order is kept" would be untrue
        return (f"your labels keep {_called(top)} first, as MMD² does, and reorder the "
                "others: an entry takes a place from the one MMD² puts there only when it "
                f"beats it by more than {RERANK_Z:g} standard errors of the per-row gain")
    return ("your labels do not separate the shortlist's first from the others: the MMD² "
            "order is kept")


def _called(entry: Mapping[str, Any]) -> str:
    """An entry's name in a sentence ("the mixture of a, b"; a learnware by its name)."""
    return f"the {entry['name']}" if entry["id"] == MIXTURE else str(entry["name"])


def labels_first(reranked: Mapping[str, Any], answer: Mapping[str, Any]
                 ) -> tuple[list[str], list[float] | None] | None:
    """What to reuse: the labels' first entry as ids and weights (the mixture's members
    with its weights, or one learnware); None when nothing was ranked."""
    if not reranked["ranking"]:
        return None
    top = reranked["ranking"][0]
    mixture = answer.get("mixture")
    if top["id"] == MIXTURE and mixture:
        return list(mixture["ids"]), list(mixture["weights"])
    return [top["id"]], None
