"""`lwnode demo`: a learnware dock network on this machine, end to end.

Several organizations each run a real node (store, HTTP API, libp2p peer layer) on
loopback, linked in a line so that announcements must be relayed; each publishes
learnwares trained on its own data — one of the offline data sets of
`lwnode.demo.data` (image: digits; tabular: births per US state; text: fine-food
reviews), so nothing is downloaded. A user with only unlabelled rows and a handful
of labels runs a node of their own, waits until the network's specifications have
reached it, searches from it (only the RKME of their rows leaves their machine),
fetches the matches from the nodes that own them — verifying sha256 and each owner's
signature — and reuses them. The report compares every reuse method with a model
trained on the user's few labels and with "mean in market" / "best in market" (every
learnware alone on the user's rows, an oracle the user could not compute).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from lwnode.client import NodeClient
from lwnode.demo import data as demo_data
from lwnode.demo.cluster import local_cluster
from lwnode.demo.data import DemoData
from lwnode.errors import InputError
from lwnode.federation.p2p.base import wait_until
from lwnode.http.jsonio import spec_json
from lwnode.userside.local import fetch_package, reuse

SYNC_TIMEOUT = 60.0


@dataclass
class NetworkDemoReport:
    data: str  # which data set (`demo_data.DATA_SETS`)
    title: str
    user_task: str
    organizations: list[str]
    search: dict[str, Any]
    tasks: dict[str, str]  # learnware id -> what it does (its semantic name)
    knows: dict[str, tuple[Any, ...]]  # learnware id -> the classes it predicts
    user_classes: tuple[Any, ...]  # the classes in the user's rows (empty: regression)
    metric: str  # "accuracy" (higher is better) or "RMSE" (lower is better)
    scores: dict[str, float]  # reuse method / baseline -> metric on the user's rows
    alone: dict[str, float]  # learnware id -> metric alone on the user's rows (oracle)
    n_labels: int
    seconds: dict[str, float]
    verified: list[str]

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"


async def _publish(http: aiohttp.ClientSession, url: str, token: str, package: bytes) -> str:
    async with http.post(f"{url}/v1/learnwares", data=package,
                         headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
        if r.status not in (200, 201):
            raise RuntimeError(f"publish on {url} failed: {body.get('message', body)}")
        return str(body["id"])


async def _known(http: aiohttp.ClientSession, url: str, ids: list[str]) -> bool:
    for lw_id in ids:
        async with http.get(f"{url}/v1/learnwares/{lw_id}") as r:
            await r.read()
            if r.status != 200:
                return False
    return True


async def run_network_demo(*, data: str = "image", n_orgs: int = 3, n_labels: int = 20,
                           seed: int = 0, quick: bool = False, keep: Path | None = None,
                           console: Console | None = None) -> NetworkDemoReport:
    """Run the whole flow on data set `data`; returns what the report prints (for tests)."""
    console = console or Console()
    if data not in demo_data.DATA_SETS:
        raise InputError(f"--data: expected one of {', '.join(demo_data.DATA_SETS)}, "
                         f"got {data!r}")
    if not 1 <= n_orgs <= 8:
        raise InputError(f"--orgs: expected 1..8 organizations, got {n_orgs}")
    if not 2 <= n_labels <= 200:
        raise InputError(f"--labels: expected 2..200 labelled rows, got {n_labels}")
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        what = "is not empty" if keep.is_dir() else "is not a folder"
        raise InputError(f"--keep: {keep} {what}; give a new or empty folder")
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    with console.status("developers train their models and pack their learnwares...") as st:
        dataset = await _build(data, n_orgs, seed, quick, st.update)
    seconds["pack"] = time.perf_counter() - began
    labelled = np.random.default_rng(seed).choice(len(dataset.x_pool), n_labels, replace=False)

    root = keep if keep is not None else Path(tempfile.mkdtemp(prefix="lwdock-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    organizations = [f"Org {chr(65 + i)}" for i in range(n_orgs)] + ["User"]
    try:
        began = time.perf_counter()
        with console.status(f"starting {n_orgs} organizations' nodes and the user's node..."):
            cluster = local_cluster(root, organizations)
            nodes = await cluster.__aenter__()
        seconds["start"] = time.perf_counter() - began
        try:
            return await _flow(console, nodes, organizations, dataset, labelled, root, seconds)
        finally:
            with console.status("stopping the nodes..."):
                await cluster.__aexit__(None, None, None)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


class _Stopped(Exception):
    """Raised in the builder's thread at its next progress step once the demo is cancelled."""


async def _build(data: str, n_orgs: int, seed: int, quick: bool,
                 show: Callable[[str], None]) -> DemoData:
    """Build the data set in a worker thread that stops at its next step on Ctrl-C.

    A thread cannot be interrupted, and `asyncio.run` waits for it before returning, so
    without this Ctrl-C during the text set's embedding would hang until it finished.
    """
    stop = threading.Event()

    def progress(text: str) -> None:
        if stop.is_set():
            raise _Stopped
        show(text)

    try:
        return await asyncio.to_thread(demo_data.build, data, n_orgs=n_orgs, seed=seed,
                                       quick=quick, progress=progress)
    except asyncio.CancelledError:
        stop.set()
        raise


async def _flow(console: Console, nodes: list[Any], organizations: list[str], dataset: DemoData,
                labelled: NDArray[Any], root: Path,
                seconds: dict[str, float]) -> NetworkDemoReport:
    user = nodes[-1]
    market = dataset.market
    async with aiohttp.ClientSession() as http:
        began = time.perf_counter()
        with console.status("organizations publish (usability checks run on each node)..."):
            ids = [await _publish(http, nodes[org].url, nodes[org].token, pkg)
                   for pkg, org in zip(market.packages, market.owner_of, strict=True)]
        seconds["publish"] = time.perf_counter() - began
        with console.status("specifications travel to the user's node (gossip + sync)..."):
            seconds["spread"] = await wait_until(lambda: _known(http, user.url, ids),
                                                 "the specifications on the user's node",
                                                 SYNC_TIMEOUT)
        began = time.perf_counter()
        spec = await asyncio.to_thread(dataset.fit_user_spec)
        body = {"statistical": spec_json(spec), "k": 5, "max_mixture": 3}
        async with http.post(f"{user.url}/v1/search", json=body) as r:
            answer = await r.json()
            if r.status != 200:
                raise RuntimeError(f"search failed: {answer.get('message', answer)}")
        seconds["search"] = time.perf_counter() - began

    chosen = (answer["mixture"]["ids"] if answer["mixture"]
              else [answer["single"][0]["id"]])
    weights = answer["mixture"]["weights"] if answer["mixture"] else [1.0]
    began = time.perf_counter()
    with console.status("fetching the matches from their owners and verifying them..."):
        client = NodeClient(user.url)
        fetched = [await asyncio.to_thread(fetch_package, client, lw_id, root / "fetched")
                   for lw_id in chosen]
    seconds["fetch"] = time.perf_counter() - began
    paths = [f.path for f in fetched]

    began = time.perf_counter()
    with console.status("reusing the matches on the user's rows..."):
        scores, alone = await asyncio.to_thread(_reuse_all, paths, weights, dataset, labelled)
    seconds["reuse"] = time.perf_counter() - began
    return NetworkDemoReport(dataset.name, dataset.title, dataset.user_task, organizations,
                             answer, market.tasks, market.knows, dataset.user_classes,
                             dataset.metric, scores, alone, len(labelled), seconds,
                             [f.learnware_id for f in fetched])


def _reuse_all(paths: list[Path], weights: list[float], d: DemoData, labelled: NDArray[Any]
               ) -> tuple[dict[str, float], dict[str, float]]:
    """Every reuse method and baseline on the user's rows; each learnware alone (oracle)."""
    x = d.x_user
    out: dict[str, float] = {}
    out["job selector (no labels)"] = d.score(reuse(paths, x, method="job-selector",
                                                    weights=weights))
    out["averaging (no labels)"] = d.score(reuse(paths, x, method="average", weights=weights))
    xl, yl = d.x_pool[labelled], d.y_pool[labelled]
    out["feature augment (few labels)"] = d.score(_labelled(paths, x, xl, yl,
                                                            "feature-augment"))
    out["ensemble pruning (few labels)"] = d.score(_labelled(paths, x, xl, yl,
                                                             "ensemble-pruning"))
    out["user-only model (few labels)"] = d.score(d.user_only(xl, yl))
    alone = {lw_id: d.score(model.predict(x)) for lw_id, model in d.market.models.items()}
    out["mean in market"] = float(np.mean(list(alone.values())))
    best = max if d.higher_is_better else min
    out["best in market"] = best(alone.values())
    return out, alone


def _labelled(paths: list[Path], x: NDArray[Any], xl: NDArray[Any], yl: NDArray[Any],
              method: str) -> NDArray[Any]:
    """Fit a labelled reuser on the labelled rows, predict the user's rows."""
    from engine.package import open_package
    from engine.reuse import EnsemblePruning, FeatureAugment

    learnwares = [open_package(p).learnware() for p in paths]
    cls = FeatureAugment if method == "feature-augment" else EnsemblePruning
    return np.asarray(cls(learnwares).fit(xl, yl).predict(x))


def network_json(report: NetworkDemoReport) -> dict[str, Any]:
    """The report as ``lwnode demo --json`` prints it (keys: docs/operations.md)."""
    return {"demo": "network", "data": report.data, "title": report.title,
            "user_task": report.user_task, "organizations": report.organizations[:-1],
            "n_labels": report.n_labels, "metric": report.metric,
            "higher_is_better": report.higher_is_better, "search": report.search,
            "tasks": report.tasks, "alone": report.alone, "scores": report.scores,
            "verified": report.verified, "seconds": report.seconds}


def print_network_report(report: NetworkDemoReport, console: Console) -> None:
    answer = report.search
    orgs = ", ".join(report.organizations[:-1])
    better = "higher" if report.higher_is_better else "lower"
    console.print(f"\n[bold]Network[/]: {orgs} and the user's node, on 127.0.0.1 "
                  f"(libp2p gossip, HTTP downloads)")
    console.print(f"[bold]Data[/]: {report.title}")
    console.print(f"[bold]User task[/]: {report.user_task}; {report.n_labels} labels for the "
                  f"labelled methods; searched {answer['n_candidates']} learnwares"
                  + (" (partial: some peers missed the deadline)" if answer["partial"] else ""))
    table = Table(title="Top learnwares (ranked by MMD², lower is closer; score 0..1, "
                        "higher is better, comparable across searches)",
                  caption=f"alone: its {report.metric} by itself on the user's rows (an oracle: "
                          "it needs the user's true labels)")
    for col in ("#", "learnware", "task", "owner", "score", "MMD²", "alone"):
        table.add_column(col)
    for rank, hit in enumerate(answer["single"], 1):
        table.add_row(str(rank), hit["id"][:19] + "…", _task(report, hit), hit["organization"],
                      f"{hit['score']:.3f}", f"{hit['mmd2']:.4f}", _alone(report, hit["id"]))
    console.print(table)
    mixture = answer["mixture"]
    if mixture:
        mix = Table(title=f"Best mixture across owners: score {mixture['score']:.3f}")
        for col in ("learnware", "task", "owner", "weight"):
            mix.add_column(col)
        for member, w in zip(mixture["members"], mixture["weights"], strict=True):
            mix.add_row(member["id"][:19] + "…", _task(report, member), member["organization"],
                        f"{w:.3f}")
        console.print(mix)
    console.print(f"fetched and verified (sha256 + owner's signature): "
                  f"{len(report.verified)} package(s)")
    scores = Table(title=f"Reuse on the user's rows ({report.metric}, {better} is better)",
                   min_width=60)
    scores.add_column("method")
    scores.add_column(report.metric, justify="right")
    for name, value in report.scores.items():
        scores.add_row(name, f"{value:.3f}" if report.higher_is_better else f"{value:.4f}")
    console.print(scores)
    console.print("Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))


def _task(report: NetworkDemoReport, hit: dict[str, Any]) -> str:
    """What a learnware does: its semantic name as the network reported it."""
    return str(hit.get("name") or report.tasks.get(hit["id"], "?"))


def _alone(report: NetworkDemoReport, lw_id: str) -> str:
    value = report.alone.get(lw_id)
    if value is None:
        return "?"
    return f"{value:.3f}" if report.higher_is_better else f"{value:.4f}"
