"""`lwnode demo --network`: a learnware dock network on this machine, end to end.

Several organizations each run a real node (store, HTTP API, libp2p peer layer) on
loopback, linked in a line so that announcements must be relayed; each publishes
digit classifiers trained on its own data (scikit-learn's bundled digits, so nothing
is downloaded). A user with only unlabelled rows and a handful of labels runs a node
of their own, waits until the network's specifications have reached it, searches
from it (only the RKME of their rows leaves their machine), fetches the matches from
the nodes that own them — verifying sha256 and each owner's signature — and reuses
them. The report compares every reuse method with a model trained on the user's few
labels and with "mean in market" / "best in market" (every learnware alone on the
user's rows, an oracle the user could not compute).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from engine.package import build_bytes
from engine.specification import InputSpec, OutputSpec, RKMETableSpec, SemanticSpec
from engine.vocabulary import DataType, Library, TaskType
from lwnode.client import NodeClient
from lwnode.cluster import local_cluster, wait_until
from lwnode.errors import InputError
from lwnode.jsonio import spec_json
from lwnode.local import fetch_package, reuse

USER_CLASSES = (2, 3, 7, 8)
DEVELOPERS = 10
SYNC_TIMEOUT = 60.0


@dataclass
class Market:
    """The developers' packages and, for the oracle baselines only, their models."""

    packages: list[bytes]
    owner_of: list[int]  # package index -> organization index
    tasks: dict[str, tuple[int, int]] = field(default_factory=dict)  # learnware id -> classes
    models: dict[str, Any] = field(default_factory=dict)


@dataclass
class NetworkDemoReport:
    organizations: list[str]
    search: dict[str, Any]
    tasks: dict[str, tuple[int, int]]
    accuracy: dict[str, float]
    n_labels: int
    seconds: dict[str, float]
    verified: list[str]


def _digits(seed: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    return x[order[:half]], y[order[:half]], x[order[half:]], y[order[half:]]


def build_market(x: NDArray[Any], y: NDArray[Any], n_orgs: int, quick: bool) -> Market:
    """Ten developers, each a classifier of two digits, spread over the organizations."""
    from sklearn.linear_model import LogisticRegression

    from protocol.content import content_id

    market = Market([], [])
    for i in range(DEVELOPERS):
        classes = (i, (i + 1) % DEVELOPERS)
        rows = np.isin(y, classes)
        model = LogisticRegression(max_iter=3000).fit(x[rows], y[rows])
        semantic = SemanticSpec(
            data_type=DataType.TABLE, task_type=TaskType.CLASSIFICATION,
            library=Library.SCIKIT_LEARN, name=f"digits {classes[0]} and {classes[1]}",
            description="8x8 handwritten digit images as 64 pixel intensities",
            input=InputSpec(64), output=OutputSpec(1, (), classes))
        spec = RKMETableSpec(n_points=30 if quick else 50, random_state=i).fit(x[rows])
        package = build_bytes(model, semantic, spec)
        lw_id = content_id(package)
        market.packages.append(package)
        market.owner_of.append(i % n_orgs)
        market.tasks[lw_id] = classes
        market.models[lw_id] = model
    return market


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


async def run_network_demo(*, n_orgs: int = 3, n_labels: int = 20, seed: int = 0,
                           quick: bool = False, keep: Path | None = None,
                           console: Console | None = None) -> NetworkDemoReport:
    """Run the whole flow; returns what the report prints (for tests)."""
    console = console or Console()
    if not 1 <= n_orgs <= 8:
        raise InputError(f"--orgs: expected 1..8 organizations, got {n_orgs}")
    if not 2 <= n_labels <= 200:
        raise InputError(f"--labels: expected 2..200 labelled rows, got {n_labels}")
    seconds: dict[str, float] = {}
    x_dev, y_dev, x_pool, y_pool = _digits(seed)
    began = time.perf_counter()
    with console.status("developers train their models and pack their learnwares..."):
        market = await asyncio.to_thread(build_market, x_dev, y_dev, n_orgs, quick)
    seconds["pack"] = time.perf_counter() - began

    user_rows = np.flatnonzero(np.isin(y_pool, USER_CLASSES))
    x_user, y_user = x_pool[user_rows], y_pool[user_rows]
    rng = np.random.default_rng(seed)
    labelled = rng.choice(len(x_user), n_labels, replace=False)

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
            return await _flow(console, nodes, organizations, market, x_user, y_user,
                               labelled, n_labels, root, seconds)
        finally:
            with console.status("stopping the nodes..."):
                await cluster.__aexit__(None, None, None)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


async def _flow(console: Console, nodes: list[Any], organizations: list[str], market: Market,
                x_user: NDArray[Any], y_user: NDArray[Any], labelled: NDArray[Any],
                n_labels: int, root: Path, seconds: dict[str, float]) -> NetworkDemoReport:
    user = nodes[-1]
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
        spec = await asyncio.to_thread(
            lambda: RKMETableSpec(n_points=50, random_state=0).fit(x_user))
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
    accuracy = await asyncio.to_thread(_reuse_all, paths, weights, market, chosen, x_user,
                                       y_user, labelled)
    seconds["reuse"] = time.perf_counter() - began
    return NetworkDemoReport(organizations, answer, market.tasks, accuracy, n_labels, seconds,
                             [f.learnware_id for f in fetched])


def _reuse_all(paths: list[Path], weights: list[float], market: Market, chosen: list[str],
               x: NDArray[Any], y: NDArray[Any], labelled: NDArray[Any]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    def acc(pred: NDArray[Any]) -> float:
        return float((np.asarray(pred).astype(int) == y).mean())

    out: dict[str, float] = {}
    out["job selector (no labels)"] = acc(reuse(paths, x, method="job-selector",
                                                weights=weights))
    out["averaging (no labels)"] = acc(reuse(paths, x, method="average", weights=weights))
    xl, yl = x[labelled], y[labelled]
    out["feature augment (few labels)"] = acc(_labelled(paths, x, labelled, yl,
                                                        "feature-augment"))
    out["ensemble pruning (few labels)"] = acc(_labelled(paths, x, labelled, yl,
                                                         "ensemble-pruning"))
    own = LogisticRegression(max_iter=3000).fit(xl, yl) if len(set(yl)) > 1 else None
    out["user-only model (few labels)"] = (acc(own.predict(x)) if own is not None
                                           else float((y == yl[0]).mean()))
    singles = [acc(model.predict(x)) for model in market.models.values()]
    out["mean in market"] = float(np.mean(singles))
    out["best in market"] = float(np.max(singles))
    return out


def _labelled(paths: list[Path], x: NDArray[Any], labelled: NDArray[Any], yl: NDArray[Any],
              method: str) -> NDArray[Any]:
    """Fit a labelled reuser on the labelled rows, predict all rows."""
    from engine.package import open_package
    from engine.reuse import EnsemblePruning, FeatureAugment

    learnwares = [open_package(p).learnware() for p in paths]
    cls = FeatureAugment if method == "feature-augment" else EnsemblePruning
    return np.asarray(cls(learnwares).fit(x[labelled], yl).predict(x))


def print_network_report(report: NetworkDemoReport, console: Console) -> None:
    answer = report.search
    orgs = ", ".join(report.organizations[:-1])
    console.print(f"\n[bold]Network[/]: {orgs} and the user's node, on 127.0.0.1 "
                  f"(libp2p gossip, HTTP downloads)")
    console.print(f"[bold]User task[/]: unlabelled digits of classes {list(USER_CLASSES)}; "
                  f"{report.n_labels} labels for the labelled methods; searched "
                  f"{answer['n_candidates']} learnwares"
                  + (" (partial: some peers missed the deadline)" if answer["partial"] else ""))
    table = Table(title="Top learnwares (score: higher is better)")
    for col in ("#", "learnware", "classes", "owner", "score", "MMD²"):
        table.add_column(col)
    for rank, hit in enumerate(answer["single"], 1):
        table.add_row(str(rank), hit["id"][:19] + "…", str(report.tasks.get(hit["id"], "?")),
                      hit["organization"], f"{hit['score']:.3f}", f"{hit['mmd2']:.4f}")
    console.print(table)
    mixture = answer["mixture"]
    if mixture:
        mix = Table(title=f"Best mixture across owners: score {mixture['score']:.3f}")
        for col in ("learnware", "classes", "owner", "weight"):
            mix.add_column(col)
        for member, w in zip(mixture["members"], mixture["weights"], strict=True):
            mix.add_row(member["id"][:19] + "…", str(report.tasks.get(member["id"], "?")),
                        member["organization"], f"{w:.3f}")
        console.print(mix)
    console.print(f"fetched and verified (sha256 + owner's signature): "
                  f"{len(report.verified)} package(s)")
    acc = Table(title="Reuse on the user's rows (accuracy)")
    acc.add_column("method")
    acc.add_column("accuracy", justify="right")
    for name, value in report.accuracy.items():
        acc.add_row(name, f"{value:.3f}")
    console.print(acc)
    console.print("Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
