"""`WebJobs`: where the page's heavy work runs, away from the event loop.

=================  ==========================================================
runs               what
=================  ==========================================================
one thread         parsing the user's uploaded rows and fitting their RKME
                   (numpy; the same work ``lwnode spec make`` does)
worker processes   anything that loads or runs a model someone uploaded
                   (``python -m lwnode.http.web.worker``, one per job, killed at its
                   deadline; at most `workers` at once)
io threads         the page's files (uploads, results, the cache's eviction)
fetch threads      fetching packages into the page's cache, verified exactly
                   as ``lwnode fetch`` does (sha256 and the owner's signature),
                   bounded by ``[fetch]`` (`lwnode.userside.safefetch`); their own
                   ``[fetch] concurrent`` threads, so a stalled owner
                   holds a fetch slot at most until the fetch deadline and
                   never the io threads
=================  ==========================================================

Uploads and fetched packages live under `scratch` (the store's ``scratch/web``:
rebuildable, so it is emptied at every start and stop, and a node killed mid-upload
leaves nothing behind for long), or in a temporary directory when the store has no
folder. The package cache is bounded (`cache_bytes`), evicting the oldest packages
not in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lwnode.errors import Busy, JobFailed
from lwnode.userside.local import Fetched, fetch_from_details
from lwnode.userside.safefetch import FetchLimits

log = logging.getLogger("lwnode.web")
T = TypeVar("T")

CACHE_BYTES = 2 << 30
LOG_TAIL_BYTES = 2000


class WebJobs:
    """See the module doc.

    Parameters
    ----------
    trusted_types
        Extra types skops may load (the node's ``[checks] trusted_types``).
    timeout
        Seconds a worker process may run before it is killed.
    workers
        Worker processes at once.
    cache_bytes
        Bound of the fetched-package cache.
    scratch
        Folder for uploads and the cache (emptied at start and stop); None: a temp dir.
    fetch_limits
        Bounds of each fetch (`lwnode.userside.safefetch`).
    fetch_slots
        Fetches at once (``[fetch] concurrent``); one more waits up to
        ``fetch_limits.stall_seconds`` for a slot, then is refused as `Busy`.
    """

    def __init__(self, *, trusted_types: tuple[str, ...], timeout: float,
                 workers: int = 1, cache_bytes: int = CACHE_BYTES,
                 scratch: Path | None = None, fetch_limits: FetchLimits | None = None,
                 fetch_slots: int = 4) -> None:
        self.scratch = scratch
        self.base: Path | None = None
        self.uploads: Path | None = None
        self.trusted_types = trusted_types
        self.timeout = timeout
        self.workers = workers
        self.cache_bytes = cache_bytes
        self.cache: Path | None = None
        self._compute = ThreadPoolExecutor(1, thread_name_prefix="lwnode-web")
        self._io = ThreadPoolExecutor(2, thread_name_prefix="lwnode-web-io")
        self.fetch_limits = fetch_limits or FetchLimits(allow_loopback=True)
        self.fetch_slots = fetch_slots
        self._fetch_pool = ThreadPoolExecutor(fetch_slots, thread_name_prefix="lwnode-fetch")
        self._fetch_free: asyncio.Semaphore | None = None
        self._slots: asyncio.Semaphore | None = None
        self._fetching: dict[str, tuple[asyncio.Lock, Counter[str]]] = {}
        self._pinned: Counter[str] = Counter()

    async def start(self) -> None:
        self.base = await self.io(self._fresh_base)
        self.cache, self.uploads = self.base / "cache", self.base / "uploads"
        for folder in (self.cache, self.uploads):
            await self.io(folder.mkdir, 0o700)
        self._slots = asyncio.Semaphore(self.workers)
        self._fetch_free = asyncio.Semaphore(self.fetch_slots)

    def _fresh_base(self) -> Path:
        if self.scratch is None:
            return Path(tempfile.mkdtemp(prefix="lwnode-web-"))
        shutil.rmtree(self.scratch, ignore_errors=True)  # what a killed node left
        self.scratch.mkdir(mode=0o700, parents=True)
        return self.scratch

    async def stop(self) -> None:
        self._compute.shutdown(wait=True, cancel_futures=True)
        self._io.shutdown(wait=True, cancel_futures=True)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)  # bounded by the deadline
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._compute, functools.partial(fn, *args))

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(fn, *args))

    # -- fetching --------------------------------------------------------------------------
    async def fetch(self, learnware_id: str, details: dict[str, Any], node_url: str,
                    own_file: Path | None) -> Fetched:
        """Download (or find in the cache) a learnware's package, verified.

        `details` is the node's own answer about it (``GET /v1/learnwares/{id}``'s JSON,
        built in-process) and `own_file` the node's own copy when it hosts one: the
        page never asks its node over HTTP."""
        assert self.cache is not None, "WebJobs.start() was not called"
        entry = self._fetching.setdefault(learnware_id, (asyncio.Lock(), Counter()))
        lock, users = entry
        users["n"] += 1
        try:
            async with lock:  # one download of an id at a time (they share a .part file)
                async with self._fetch_slot():
                    loop = asyncio.get_running_loop()
                    fetched = await loop.run_in_executor(self._fetch_pool, functools.partial(
                        fetch_from_details, details, learnware_id, self.cache,
                        node_url=node_url, own_file=own_file, limits=self.fetch_limits,
                        keep_partial=False))
        finally:
            users["n"] -= 1
            if users["n"] == 0:  # nobody else wants this id now: forget its lock
                self._fetching.pop(learnware_id, None)
        await self.io(self._evict)
        return fetched

    @contextlib.asynccontextmanager
    async def _fetch_slot(self) -> AsyncIterator[None]:
        assert self._fetch_free is not None, "WebJobs.start() was not called"
        try:
            await asyncio.wait_for(self._fetch_free.acquire(), self.fetch_limits.stall_seconds)
        except TimeoutError:
            raise Busy(f"all {self.fetch_slots} fetch slots are busy; try again shortly"
                       ) from None
        try:
            yield
        finally:
            self._fetch_free.release()

    @contextlib.contextmanager
    def pinned(self, paths: list[Path]) -> Iterator[None]:
        """Keep these cached packages from eviction while a job reads them."""
        names = [p.name for p in paths]
        self._pinned.update(names)
        try:
            yield
        finally:
            self._pinned.subtract(names)
            self._pinned += Counter()  # drop zero counts

    def _evict(self) -> None:
        assert self.cache is not None
        files = sorted((p.stat().st_mtime, p) for p in self.cache.glob("*.zip"))
        total = sum(p.stat().st_size for _, p in files)
        for _, path in files:
            if total <= self.cache_bytes:
                break
            if self._pinned[path.name] == 0:
                total -= path.stat().st_size
                path.unlink(missing_ok=True)

    # -- worker processes -------------------------------------------------------------------
    async def run_worker(self, job: dict[str, Any], folder: Path) -> dict[str, Any]:
        """Run one `lwnode.http.web.worker` job in a new process; its answer, or `JobFailed`."""
        assert self._slots is not None, "WebJobs.start() was not called"
        job = {**job, "result": str(folder / "result.json"),
               "trusted_types": list(self.trusted_types)}
        job_path, log_path = folder / "job.json", folder / "worker.log"
        await self.io(job_path.write_text, json.dumps(job), "utf-8")
        async with self._slots:
            log_file = await self.io(open, log_path, "wb")
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "lwnode.http.web.worker", str(job_path),
                    stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file)
                try:
                    code = await asyncio.wait_for(proc.wait(), self.timeout)
                except BaseException:  # deadline, or the request was cancelled
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
                    raise
            except TimeoutError:
                raise JobFailed(504, "timeout", f"the {job['kind']} job did not finish within "
                                f"{self.timeout:g} s and was stopped") from None
            finally:
                await self.io(log_file.close)
        return await self.io(self._answer, job, code, log_path)

    @staticmethod
    def _answer(job: dict[str, Any], code: int, log_path: Path) -> dict[str, Any]:
        result = Path(job["result"])
        if not result.is_file():
            tail = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
            log.warning("a %s worker exited with status %s and no answer: %s", job["kind"],
                        code, tail)
            raise JobFailed(422, f"{job['kind']}_failed", f"the worker process died (exit "
                            f"status {code}) while loading or running a model")
        answer: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        if "error" in answer:
            err = answer["error"]
            raise JobFailed(int(err["status"]), str(err["code"]), str(err["message"]))
        return answer
