"""The engine-level demo: ten developers' learnwares, one user, search and reuse.

Runs in-process on scikit-learn's bundled digits (no download, no network): each
developer trains a classifier on two digit classes and publishes its specification;
a user who has only unlabelled images of four digits builds a requirement, searches
the ten specs, and reuses the mixture it finds with a data-free job selector. The
report compares that with a model trained on the few labels the user could afford.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from engine.learnware import Learnware
from engine.reuse import JobSelector
from engine.search import Catalog, Requirement, SearchResult
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec
from engine.vocabulary import DataType, Library, TaskType
from lwnode.errors import InputError

DEVELOPERS = 10
USER_CLASSES = (2, 3, 7, 8)


@dataclass(frozen=True)
class DemoReport:
    """What the demo found, for the printed report and for tests."""

    result: SearchResult
    tasks: dict[str, tuple[int, int]]
    reuse_accuracy: float
    user_only_accuracy: float
    n_user_labels: int
    seconds: dict[str, float]


def developer_task(i: int) -> tuple[int, int]:
    return (i, (i + 1) % DEVELOPERS)


def run(seed: int = 0, n_user_labels: int = 8, console: Console | None = None) -> DemoReport:
    """Build the market, search it as the user, reuse, and return the report."""
    console = console or Console()
    if not 1 <= n_user_labels <= 200:
        raise InputError(f"--labels: expected 1..200 labelled rows, got {n_user_labels}")
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    dev_rows, user_rows = order[: len(x) // 2], order[len(x) // 2:]
    catalog = Catalog()
    learnwares: dict[str, Learnware] = {}
    tasks: dict[str, tuple[int, int]] = {}
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    with console.status("developers train models and build specifications..."):
        for i in range(DEVELOPERS):
            classes = developer_task(i)
            rows = dev_rows[np.isin(y[dev_rows], classes)]
            model = LogisticRegression(max_iter=2000).fit(x[rows], y[rows])
            semantic = SemanticSpec(
                data_type=DataType.TABLE, task_type=TaskType.CLASSIFICATION,
                library=Library.SCIKIT_LEARN, scenarios=("education",),
                name=f"digits {classes[0]} vs {classes[1]}",
                input=InputSpec(64), output=OutputSpec(1, (), tuple(int(c) for c in classes)))
            spec = RKMETableSpec(n_points=50, random_state=i).fit(x[rows])
            lw_id = f"dev{i:02d}"
            catalog.add(lw_id, semantic, spec)
            learnwares[lw_id] = Learnware(lw_id, semantic, spec, model)
            tasks[lw_id] = classes
    seconds["specs"] = time.perf_counter() - start

    user = user_rows[np.isin(y[user_rows], USER_CLASSES)]
    start = time.perf_counter()
    requirement = Requirement(
        semantic=SemanticSpec(data_type=DataType.TABLE, task_type=TaskType.CLASSIFICATION),
        spec=RKMETableSpec(n_points=50, random_state=seed).fit(x[user]))
    seconds["requirement"] = time.perf_counter() - start
    start = time.perf_counter()
    result = catalog.search(requirement, k=5, max_mixture=4)
    seconds["search"] = time.perf_counter() - start

    chosen = result.mixture.ids if result.mixture else (result.single[0].id,)
    weights = result.mixture.weights if result.mixture else (1.0,)
    start = time.perf_counter()
    reuser = JobSelector([learnwares[i] for i in chosen], weights=weights).fit(x[user])
    reuse_acc = float((reuser.predict(x[user]) == y[user]).mean())
    seconds["reuse"] = time.perf_counter() - start

    labelled = rng.choice(user, n_user_labels, replace=False)
    if len(np.unique(y[labelled])) > 1:
        own = LogisticRegression(max_iter=2000).fit(x[labelled], y[labelled])
        own_acc = float((own.predict(x[user]) == y[user]).mean())
    else:  # one class among the labels: the best a model can do is predict it
        own_acc = float((y[user] == y[labelled][0]).mean())
    return DemoReport(result, tasks, reuse_acc, own_acc, n_user_labels, seconds)


def engine_json(report: DemoReport) -> dict[str, Any]:
    """The report as ``lwnode demo --engine --json`` prints it (docs/operations.md)."""
    result, mixture = report.result, report.result.mixture
    return {"demo": "engine", "n_candidates": result.n_candidates, "exact": result.exact,
            "single": [{"id": m.id, "mmd2": m.mmd2, "score": m.score,
                        "classes": list(report.tasks[m.id])} for m in result.single],
            "mixture": None if mixture is None else {
                "ids": list(mixture.ids), "weights": list(mixture.weights),
                "mmd2": mixture.mmd2, "score": mixture.score},
            "scores": {"job selector (no labels)": report.reuse_accuracy,
                       "user-only model (few labels)": report.user_only_accuracy},
            "metric": "accuracy", "higher_is_better": True,
            "n_labels": report.n_user_labels, "seconds": report.seconds}


def print_report(report: DemoReport, console: Console) -> None:
    result = report.result
    console.print(f"\n[bold]User task[/]: unlabelled digits of classes {list(USER_CLASSES)} "
                  f"(searched {result.n_candidates} learnwares, "
                  f"{'exact scan' if result.exact else 'index shortlist'})")
    table = Table(title="Top learnwares by MMD² (lower is closer)")
    for col in ("rank", "learnware", "developer's classes", "MMD²", "score"):
        table.add_column(col, justify="right" if col in ("rank", "MMD²", "score") else "left")
    for rank, match in enumerate(result.single, 1):
        table.add_row(str(rank), match.id, str(report.tasks[match.id]),
                      f"{match.mmd2:.4f}", f"{match.score:.3f}")
    console.print(table)
    if result.mixture is not None:
        mix = Table(title=f"Best mixture: MMD² {result.mixture.mmd2:.4f}, "
                          f"score {result.mixture.score:.3f}")
        mix.add_column("learnware")
        mix.add_column("developer's classes")
        mix.add_column("weight", justify="right")
        for lw_id, w in zip(result.mixture.ids, result.mixture.weights, strict=True):
            mix.add_row(lw_id, str(report.tasks[lw_id]), f"{w:.3f}")
        console.print(mix)
    else:
        console.print("No mixture beats the best single learnware by the required margin.")
    acc = Table(title="Reuse on the user's task (accuracy on all the user's rows)")
    acc.add_column("method")
    acc.add_column("labels used", justify="right")
    acc.add_column("accuracy", justify="right")
    acc.add_row("job selector over the mixture (data-free)", "0", f"{report.reuse_accuracy:.3f}")
    acc.add_row("model trained on the user's own labels", str(report.n_user_labels),
                f"{report.user_only_accuracy:.3f}")
    console.print(acc)
    times = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.seconds.items())
    console.print(f"Time: {times}")
