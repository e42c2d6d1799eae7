"""Small real things for tests and benchmarks: specs, signed rows, a crash child.

Nothing here is a mock: rows carry real Ed25519 signatures over real
announcements, so whatever a test stores can be decoded, verified and searched.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import selectors
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.specification import RKMETableSpec, SemanticSpec
from lwnode.node.records import sign_announcement, sign_withdrawal
from lwnode.node.store.base import RecordRow
from lwnode.node.store.sqlite import FileStore, SqliteStore
from protocol.messages import now_ms
from protocol.signing import Identity

PACKAGE_URL = "http://127.0.0.1:8470/v1/learnwares/{id}/package"


# -- waiting on a condition, never on the clock ----------------------------------------------
WAIT = 30.0
"""How long tests wait for something that normally takes milliseconds (a loaded CI
machine can be 50x slower than a quiet one; the wait ends as soon as it holds, so
patience costs nothing when the condition comes true)."""


async def until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> float:
    """`wait_until` with the tests' default patience; the seconds it took."""
    from lwnode.federation.p2p.base import wait_until

    return await wait_until(predicate, what, timeout)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> float:
    """The same for code outside an event loop (subprocesses, the browser)."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - began


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the loop would otherwise wait.

    A sleep or a timeout of t seconds advances `time()` by exactly t, at once; time
    spent computing counts as none. For tests of deadlines on pure coroutines (no
    threads: the clock would jump ahead of a thread's work): what they measure with
    `loop.time()` is the schedule, not the machine's load.
    """

    def __init__(self) -> None:
        self._now = 0.0
        loop = self

        class Selector(selectors.DefaultSelector):
            def select(self, timeout: float | None = None) -> Any:
                if timeout is None:  # nothing scheduled: wait for I/O as usual
                    return super().select(None)
                ready = super().select(0)
                if not ready and timeout > 0:
                    loop._now += timeout
                return ready

        super().__init__(Selector())

    def time(self) -> float:
        return self._now


def in_virtual_time(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run the async test `test` to completion in a fresh `VirtualTimeLoop`."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        loop = VirtualTimeLoop()
        try:
            return loop.run_until_complete(test(*args, **kwargs))
        finally:
            loop.close()

    return run


_LIMITS: list[Any] = []


def single_threaded_maths() -> None:
    """One thread for BLAS, OpenMP and torch in this test process and its children.

    On a shared 2-core machine the maths libraries' threads spin against each other and
    every other process. Measured under load 13-16: a 10,000-point spec's insert took
    17 s on two BLAS threads and 1.9 s on one; MiniLM encoded 260 reviews in 35 s on two
    torch threads and in 9 s on one. The variables reach libraries loaded later (scipy's
    BLAS, torch) and subprocesses; threadpoolctl the ones already loaded (numpy's).
    A value set by the caller is kept.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if not _LIMITS and os.environ["OPENBLAS_NUM_THREADS"] == "1":
        from threadpoolctl import threadpool_limits

        _LIMITS.append(threadpool_limits(1))


def tiny_spec(seed: int = 0, d: int = 4, n: int = 40, k: int = 5, loc: float = 0.0
              ) -> RKMETableSpec:
    """A fitted table RKME of `n` Gaussian rows around `loc` (fast: no refinement)."""
    x = np.random.default_rng(seed).normal(loc=loc, size=(n, d))
    spec = RKMETableSpec(n_points=k, refine_steps=0, random_state=seed,
                         min_rows_per_point=1).fit(x)
    assert isinstance(spec, RKMETableSpec)
    return spec


def tiny_semantic(name: str = "tiny regressor", d: int = 4, *, task: str = "regression",
                  scenarios: tuple[str, ...] = (), data_type: str = "table") -> SemanticSpec:
    labels = ["a", "b"] if task == "classification" else []
    return SemanticSpec.from_dict({
        "data_type": data_type, "task_type": task, "library": "scikit_learn",
        "scenarios": list(scenarios), "name": name, "input": {"dimension": d},
        "output": {"dimension": 1, "labels": labels}})


def content_of(i: int, size: int = 256) -> bytes:
    """Distinct package-like bytes number `i` (the store does not open packages)."""
    rng = random.Random(i)
    return f"package {i}\n".encode() + rng.randbytes(size)


def announcement_row(identity: Identity, learnware_id: str, sequence: int, *,
                     semantic: SemanticSpec | None = None, spec: RKMETableSpec | None = None,
                     size: int = 1000, organization: str = "test org") -> RecordRow:
    return sign_announcement(
        identity, learnware_id=learnware_id, organization=organization,
        semantic=semantic or tiny_semantic(), spec=spec or tiny_spec(),
        size=size, urls=(PACKAGE_URL.format(id=learnware_id),), sequence=sequence,
        now=now_ms())


def withdrawal_row(identity: Identity, learnware_id: str, sequence: int) -> RecordRow:
    return sign_withdrawal(identity, learnware_id=learnware_id, sequence=sequence, now=now_ms())


def publish_bytes(store: SqliteStore, identity: Identity, data: bytes, *,
                  semantic: SemanticSpec | None = None, spec: RKMETableSpec | None = None,
                  chunk: int = 64, organization: str = "test org") -> tuple[str, bool]:
    """Publish `data` the way the node does: chunked upload, then `add_own`."""
    writer = store.blob_writer()
    try:
        for start in range(0, len(data), chunk):
            writer.write(data[start:start + chunk])
        lid = writer.content_id()
        own, created = store.add_own(
            writer, identity.node_id, '{"status": "usable"}',
            lambda seq: announcement_row(identity, lid, seq, semantic=semantic, spec=spec,
                                         size=len(data), organization=organization), now_ms())
    finally:
        writer.discard()
    return own.learnware_id, created


def crash_child(root: str, seed: int, *, stop_mid_upload: bool = False) -> None:
    """Publish (and now and then withdraw) forever, until killed.

    The SIGKILL test runs this in a subprocess and kills it at a random moment; it
    prints ``ready`` once its imports are done so the moment is measured from there.
    With `stop_mid_upload` it instead stops half-way through an upload after a few
    publications and prints ``mid-upload``: a kill that surely lands there, whatever
    the machine's speed.
    """
    store = FileStore(root)
    identity = Identity.from_seed(b"\x07" * 32)
    spec = tiny_spec(seed, n=5, k=5)  # k == n: no k-means, so no scikit-learn import
    rng = random.Random(seed)
    published: list[str] = [o.learnware_id for o in store.list_own() if o.status == "active"]
    print("ready", flush=True)
    i = seed * 1_000_000
    stop_at = i + rng.randrange(1, 20) if stop_mid_upload else None
    while True:
        i += 1
        if i == stop_at:
            writer = store.blob_writer()
            data = content_of(i, 100_000)
            writer.write(data[:50_000])
            print("mid-upload", flush=True)
            time.sleep(3600)
        if published and rng.random() < (0.2 if len(published) < 40 else 0.6):
            lid = published.pop(rng.randrange(len(published)))
            store.withdraw_own(lid, functools.partial(withdrawal_row, identity, lid), now_ms())
        else:
            size = rng.choice((100, 5_000, 100_000))
            lid, _ = publish_bytes(store, identity, content_of(i, size), spec=spec,
                                   chunk=rng.choice((64, 4096, 65536)))
            published.append(lid)
        time.sleep(rng.random() * 0.002)


def crash_children(root: str) -> None:
    """Fork a `crash_child` of the store `root` for each line ``SEED [mid-upload]`` on
    stdin, the imports done once (a fresh interpreter spent 0.3-0.6 s importing them
    before each kill). Each child prints ``child PID``, then what `crash_child` prints;
    once the test has killed it, this prints ``reaped``."""
    for line in sys.stdin:
        seed, *mode = line.split()
        pid = os.fork()
        if pid == 0:  # the child: publish until killed, never back into this loop
            try:
                print(f"child {os.getpid()}", flush=True)
                crash_child(root, int(seed), stop_mid_upload=mode == ["mid-upload"])
            finally:
                os._exit(1)
        os.waitpid(pid, 0)
        print("reaped", flush=True)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "crash-children":
    os.nice(5)
    crash_children(sys.argv[2])


# -- real packages on synthetic regions ----------------------------------------------------
def region_centres(n: int, d: int, *, spread: float = 6.0, seed: int = 0) -> np.ndarray:
    """`n` well-separated centres in `d` dimensions: one task per centre."""
    return np.random.default_rng(seed).normal(size=(n, d)) * spread


def region_rows(centres: np.ndarray, region: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000 * region)
    return centres[region] + rng.normal(size=(n, centres.shape[1]))


def region_labels(centres: np.ndarray, region: int, x: np.ndarray) -> np.ndarray:
    """The task of region `region`: which side of a region-specific plane a row is on."""
    w = np.random.default_rng(region).normal(size=centres.shape[1])
    return np.where((x - centres[region]) @ w > 0, "pos", "neg")


def region_package(centres: np.ndarray, region: int, *, n: int = 300, seed: int = 0,
                   n_points: int = 20) -> bytes:
    """A real package: a logistic regression trained on region `region`, its RKME."""
    from sklearn.linear_model import LogisticRegression

    from engine.package import build_bytes

    x = region_rows(centres, region, n, seed)
    y = region_labels(centres, region, x)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    d = centres.shape[1]
    semantic = SemanticSpec.from_dict({
        "data_type": "table", "task_type": "classification", "library": "scikit_learn",
        "scenarios": ["retail"] if region % 2 else ["health"], "license": "mit",
        # one name per package a node may host together (a handle names one learnware)
        "name": f"region {region} classifier" + (f" (seed {seed})" if seed else ""),
        "description": f"trained on region {region}",
        "input": {"dimension": d}, "output": {"dimension": 1, "labels": ["neg", "pos"]}})
    spec = RKMETableSpec(n_points=n_points, random_state=seed).fit(x)
    data: bytes = build_bytes(model, semantic, spec)
    return data


def region_files(folder: str | os.PathLike[str], centres: np.ndarray, region: int, *,
                 n: int = 300, header: Sequence[str] = ()) -> None:
    """A developer's files as the command line takes them: ``dev<region>.csv`` (`n`
    rows of region `region`, `header` as its first line if given) and a logistic
    regression on them, ``dev<region>.skops``."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = region_rows(centres, region, n)
    np.savetxt(Path(folder) / f"dev{region}.csv", x, delimiter=",", header=",".join(header),
               comments="")
    sio.dump(LogisticRegression().fit(x, region_labels(centres, region, x)),
             Path(folder) / f"dev{region}.skops")


DECOY_NAMES = ("look-alike", "useful")


def decoy_market(n_user: int = 200, seed: int = 0
                 ) -> tuple[dict[str, bytes], np.ndarray, np.ndarray]:
    """A market where the learnware closest by MMD² is not the useful one.

    The user's rows are N(0, I) in 3 columns, labelled ``pos`` where column 0 is
    positive. "look-alike" was trained on rows drawn like the user's, but labels by
    column 1 (its RKME matches the user's data; its answers are a coin toss there);
    "useful" labels by column 0, as the user does, but was trained on rows shifted by
    2 in column 2 (its RKME is further away). Returns the two packages by name, the
    user's rows and labels.
    """
    from sklearn.linear_model import LogisticRegression

    from engine.package import build_bytes

    rng = np.random.default_rng(seed)
    packages = {}
    for name, column, shift in (("look-alike", 1, 0.0), ("useful", 0, 2.0)):
        x = rng.normal(size=(400, 3)) + np.array([0.0, 0.0, shift])
        model = LogisticRegression().fit(x, np.where(x[:, column] > 0, "pos", "neg"))
        semantic = SemanticSpec.from_dict({
            "data_type": "table", "task_type": "classification", "name": name,
            "input": {"dimension": 3}, "output": {"dimension": 1, "labels": ["neg", "pos"]}})
        packages[name] = build_bytes(model, semantic,
                                     RKMETableSpec(n_points=20, random_state=seed).fit(x))
    x_user = rng.normal(size=(n_user, 3))
    return packages, x_user, np.where(x_user[:, 0] > 0, "pos", "neg")


def spread_market(scales: Sequence[float] = (0.6, 0.65, 0.7, 0.75, 0.8, 1.5), d: int = 4,
                  seed: int = 0) -> tuple[dict[str, bytes], np.ndarray]:
    """Learnwares trained on N(0, scale² I) in `d` columns, and a user's rows from
    N(0, I): the tighter ones have the more concentrated embeddings, so the score
    (`engine.search.scoring`) and the MMD² order disagree for some neighbours.
    Returns the packages by name and the user's rows."""
    from sklearn.linear_model import LogisticRegression

    from engine.package import build_bytes

    packages = {}
    for i, scale in enumerate(scales):
        x = np.random.default_rng(seed + i).normal(size=(400, d)) * scale
        model = LogisticRegression().fit(x, np.where(x[:, 0] > 0, "pos", "neg"))
        name = f"spread {scale} (seed {seed + i})"
        semantic = SemanticSpec.from_dict({
            "data_type": "table", "task_type": "classification", "name": name,
            "input": {"dimension": d}, "output": {"dimension": 1, "labels": ["neg", "pos"]}})
        packages[name] = build_bytes(model, semantic,
                                     RKMETableSpec(n_points=20, random_state=0).fit(x))
    return packages, np.random.default_rng(seed + 100).normal(size=(200, d))


async def publish_package(service: Any, data: bytes) -> str:
    """Publish the package `data` through a running node's service, as an upload to
    ``POST /v1/learnwares`` does; returns its learnware id."""
    upload = await service.new_upload()
    await upload.write(data)
    result = await service.publish(upload)
    await upload.discard()
    return str(result.learnware.learnware_id)


HOUSING_DEVELOPERS = ("northwind", "acme", "globex")
"""The organizations of ``docs/examples/housing.py``; the first two model the user's city."""


def housing_packages(folder: str | os.PathLike[str], *, n_points: int = 40) -> dict[str, bytes]:
    """Write ``docs/examples/housing.py``'s files into `folder` (its `write_example`, in
    this process: ``test_cli_hetero`` runs the script as the README says) and pack each
    organization's model over its own described columns (as ``lwnode pack`` does)."""
    import importlib.util
    from pathlib import Path

    from engine.package import build_bytes
    from lwnode.userside.local import load_model_file, make_spec, read_semantic
    from lwnode.userside.tabular import read_table

    d = Path(folder)
    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "housing.py"
    spec = importlib.util.spec_from_file_location("housing_example", script)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.write_example(d)
    packages = {}
    for name in HOUSING_DEVELOPERS:
        table = read_table(d / f"{name}.csv")
        model = load_model_file(d / f"{name}.skops")
        semantic = read_semantic(d / f"{name}.toml", table=table, model=model, complete=True)
        packages[name] = build_bytes(model, semantic, make_spec(table, n_points=n_points))
    return packages


def with_manifest(package: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """`package` with its ``learnware.toml`` edited (to make a package a node must refuse)."""
    import tomllib

    from engine.package.archive import read_archive, write_archive
    from engine.package.toml_write import dumps

    entries = read_archive(package)
    manifest = tomllib.loads(entries["learnware.toml"].decode())
    edit(manifest)
    entries["learnware.toml"] = dumps(manifest).encode()
    return write_archive(entries)


# -- short texts for text learnwares ---------------------------------------------------------
TEXT_TOPICS = {
    "coffee": ("this coffee is rich and smooth, a great espresso roast",
               "the coffee tasted burnt and bitter, stale beans"),
    "cat food": ("my cat loves this food and finishes every bowl",
                 "our kitten refused this cat food and got sick"),
    "weather": ("sunny skies and a warm breeze all afternoon",
                "a cold storm with heavy rain and strong wind"),
}
"""Three topics, a good and a bad sentence each: the reusers' text markets in the tests."""
TEXT_VARIANTS = ("", "Honestly, ", "I think ", "Well, ", "In short: ", "Again, ", "Today ",
                 "Really, ", "Sadly or not, ", "As expected, ", "Frankly ", "Once more, ")
"""Prefixes that make each sentence into several texts of the same meaning."""
