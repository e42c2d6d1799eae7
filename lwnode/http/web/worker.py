"""A one-shot worker process for the page's model work: ``python -m lwnode.http.web.worker JOB``.

Reusing learnwares, re-ranking a search's shortlist by the user's labels and packing a
developer's model all load and run a model
someone uploaded; like the usability checks (`lwnode.node.checker`), that happens in a
separate process, so a model that crashes, hangs or floods memory costs only this
process (`lwnode.http.web.jobs` kills it at its deadline). ``JOB`` is a JSON file:
``{"kind": "reuse" | "rerank" | "pack", "result": PATH, ...}``; the worker writes its answer
to ``result`` as JSON: the job's output, or ``{"error": {"status", "code",
"message"}}``. File descriptor 1 points at stderr, so nothing a model prints can
corrupt anything.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from lwnode.errors import JobFailed  # an answer for the user: HTTP status, code, message

__all__ = ["MODEL_SUFFIXES", "JobFailed", "main", "run"]

MODEL_SUFFIXES = (".skops", ".pt", ".pth", ".ts")




def _input_errors() -> tuple[type[BaseException], ...]:
    from engine.errors import ModelLoadError, PackageError, ReuseError, SpecError
    from lwnode.errors import InputError

    return (InputError, ReuseError, SpecError, PackageError, ModelLoadError)


COLUMNS_TOML = "a TOML under “Describe your columns”"
"""The page's optional columns TOML, in its words (the command line's ``--semantic``)."""
_PAGE_WORDS = (
    ("a --semantic TOML", COLUMNS_TOML),
    ("(chosen by itself when --method is left out)", "(chosen by itself by the method "
                                                      "“automatic”)"),
    ("lwnode reuse --labels fits", "Reuse with labels fits"),
    ("--method ", "method "), ("--labels", "labels"), ("--weights", "weights"))


def _in_page_words(message: str) -> str:
    """A message of `lwnode.userside.local` (written for the command line) in the page's words."""
    for cli_words, page_words in _PAGE_WORDS:
        message = message.replace(cli_words, page_words)
    return message


def reuse_job(job: dict[str, Any]) -> dict[str, Any]:
    """Predict the user's rows with fetched packages; score against a user-only model.

    ``job["semantic"]`` (optional) is the user's TOML describing their columns: with
    the header it lets learnwares over other columns be reused (method ``hetero``).
    """
    from engine.package import open_package
    from lwnode.errors import InputError
    from lwnode.http.jsonio import mapping_json
    from lwnode.http.web.scoring import reuse_rows
    from lwnode.userside.local import read_semantic
    from lwnode.userside.tabular import read_labels, read_table, write_predictions

    began = time.perf_counter()
    table = read_table(job["data"])  # rows, images (3-D / 4-D) or text embeddings
    user_input = read_semantic(job.get("semantic"), table=table,
                               data_name=job.get("data_name") or "the data").input
    labels = read_labels(job["labels"]) if job.get("labels") else None
    learnwares = []
    for path in job["packages"]:
        try:
            learnwares.append(open_package(path).learnware(
                trusted_types=tuple(job.get("trusted_types", ())), allow_code=False))
        except _input_errors() as exc:
            raise JobFailed(422, "cannot_load", f"{Path(path).stem[:12]}…: {exc} (learnwares "
                            "that run their own code are reused with the command line, "
                            "in a sandbox)") from None
    try:
        outcome = reuse_rows(learnwares, table.values, job.get("method"), labels=labels,
                             weights=job.get("weights"), user_input=user_input)
    except InputError as exc:
        raise InputError(_in_page_words(str(exc))) from None
    write_predictions(job["predictions"], outcome.predictions)
    score = outcome.score
    return {"method": outcome.method, "task": outcome.task,
            "mappings": [{"id": lid, **mapping_json(m)} for lid, m in outcome.mappings],
            "n_rows": len(table.values), "n_labels": outcome.n_labels,
            "notes": [_in_page_words(n) for n in outcome.notes],
            "score": None if score is None else {
                "metric": score.metric, "reuse": _finite(score.reuse),
                "user_only": _finite(score.user_only),
                "n_labels": score.n_labels, "protocol": score.protocol,
                "notes": list(score.notes)},
            "seconds": round(time.perf_counter() - began, 3)}


def rerank_job(job: dict[str, Any]) -> dict[str, Any]:
    """Order a search's shortlist by the user's labels, as ``lwnode search --labels`` does
    (`lwnode.userside.rerank.rerank_packages`); ``job["packages"]``: the fetched
    packages by learnware id, ``job["answer"]`` the search's answer."""
    from lwnode.errors import InputError
    from lwnode.userside.rerank import labels_first, rerank_packages, why_this_order
    from lwnode.userside.tabular import read_labels, read_table

    began = time.perf_counter()
    table = read_table(job["data"])
    labels = read_labels(job["labels"])
    answer = job["answer"]
    try:
        out = rerank_packages(answer, job["packages"], table, labels,
                              labels_name=job["labels"], semantic=job.get("semantic"),
                              data_name=job.get("data_name") or "the data", n=job["n"],
                              trusted_types=tuple(job.get("trusted_types", ())),
                              unfetched=job.get("unfetched"))
    except InputError as exc:
        raise InputError(_in_page_words(str(exc))) from None
    first = labels_first(out, answer)
    return {**out, "notes": [_in_page_words(n) for n in out["notes"]],
            "why": why_this_order(out),
            "reuse": None if first is None else {"ids": first[0], "weights": first[1]},
            "n_rows": len(table.values), "seconds": round(time.perf_counter() - began, 3)}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def pack_job(job: dict[str, Any]) -> dict[str, Any]:
    """Build a package from a model file, the developer's data and semantic fields;
    ``job["dp"]``: the DP settings (`lwnode.userside.privacy.parse_dp`) or None."""
    from engine.package import build_bytes
    from engine.package.toml_write import dumps
    from lwnode.errors import InputError
    from lwnode.userside.local import (
        dp_choices,
        load_model_file,
        make_spec,
        read_semantic,
        spec_privacy_report,
    )
    from lwnode.userside.privacy import privacy_note
    from lwnode.userside.tabular import read_table

    table = read_table(job["data"])
    model = load_model_file(job["model"], trusted_types=tuple(job.get("trusted_types", ())))
    toml_path = Path(job["package"]).with_name("semantic.toml")
    toml_path.write_text(dumps(job["semantic"]), encoding="utf-8")
    try:
        semantic = read_semantic(toml_path, table=table, model=model, complete=True)
    except InputError as exc:
        raise InputError(str(exc).replace(f"{toml_path}: ", "semantic spec: ")) from None
    data_type = semantic.data_type.value if semantic.data_type else None
    # the page's pack takes no columns TOML: its bounds are one range for all columns
    dp, chosen = dp_choices(table, data_type, job.get("dp"), name=lambda field: field,
                            declared_in=None)
    spec = make_spec(table, data_type=data_type, dp=dp)  # None: private default
    privacy = spec_privacy_report(spec, table)
    data = build_bytes(model, semantic, spec, trusted_types=tuple(job.get("trusted_types", ())),
                       privacy_report=privacy)
    Path(job["package"]).write_bytes(data)
    # the exact count is the developer's to see; the spec carries it only rounded
    return {"size": len(data), "name": semantic.name, "rows": len(table.values),
            "points": len(spec.points_), "privacy_report": privacy.to_dict(),
            "privacy": spec.privacy_, "privacy_note": privacy_note(spec), "dp_choices": chosen}


JOBS = {"reuse": reuse_job, "rerank": rerank_job, "pack": pack_job}


def run(job: dict[str, Any]) -> dict[str, Any]:
    """The worker's answer to `job` (never raises for bad input or a failing model)."""
    try:
        return JOBS[job["kind"]](job)
    except JobFailed as exc:
        return {"error": {"status": exc.status, "code": exc.code, "message": str(exc)}}
    except _input_errors() as exc:
        return {"error": {"status": 400, "code": "bad_input", "message": str(exc)}}
    except MemoryError:
        return {"error": {"status": 422, "code": "too_much", "message":
                          "the job ran out of memory; try fewer rows"}}
    except Exception as exc:  # the model's own code failed: its message, not a node bug
        what = {"reuse": "predicting", "rerank": "scoring"}.get(job["kind"], "packing")
        return {"error": {"status": 422, "code": f"{job['kind']}_failed",
                          "message": f"a model failed while {what}: "
                                     f"{type(exc).__name__}: {exc}"[:1000]}}


def main(argv: list[str]) -> int:
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        os.nice(5)  # searches first
    except OSError:
        pass
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    answer = run(job)
    tmp = Path(job["result"] + ".partial")
    tmp.write_text(json.dumps(answer, allow_nan=False, default=str), encoding="utf-8")
    os.replace(tmp, job["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
