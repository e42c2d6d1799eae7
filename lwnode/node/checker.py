"""`Checker`: the usability checks of an upload, away from the event loop.

`engine.checks.check_package` loads the model and runs it, which can take
seconds, can crash (a hostile file against a native loader), or hang. So by
default checks run in worker processes (``python -m lwnode.node.checkworker``, one
JSON line per request and per report, so nothing depends on how the node itself
was started); a crash or a hang costs only that worker, which is killed and
replaced. ``[checks] isolation = "thread"`` runs them in threads instead. Code
models go further, into the engine's sandbox, from inside the worker.

After a usable report the node reads the package once more (in a thread) for the
specs its announcement carries, and checks that it is still the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine.checks import CheckOptions, CheckReport, CheckResult, Status
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec

log = logging.getLogger("lwnode.checks")

WORKER_GRACE_SECONDS = 60.0
"""Beyond the model's time limit: worker start-up, imports and reading the package."""
MAX_REPORT_BYTES = 1 << 20


@dataclass(frozen=True)
class CheckOutcome:
    """The report, and for a usable package the specs its announcement carries."""

    report: CheckReport
    semantic: SemanticSpec | None = None
    spec: RKMESpec | None = None


def options_to_json(options: CheckOptions) -> dict[str, Any]:
    limits = options.package_limits
    return {"time_limit": options.time_limit, "allow_code": options.allow_code,
            "trusted_types": list(options.trusted_types),
            "max_package_bytes": None if limits is None else limits.max_package_bytes}


def options_from_json(data: dict[str, Any]) -> CheckOptions:
    from engine.package.limits import PackageLimits

    limits = (None if data["max_package_bytes"] is None
              else PackageLimits(max_package_bytes=data["max_package_bytes"]))
    return CheckOptions(time_limit=data["time_limit"], allow_code=data["allow_code"],
                        trusted_types=tuple(data["trusted_types"]), package_limits=limits)


def report_from_json(data: dict[str, Any]) -> CheckReport:
    from engine.privacy.report import PrivacyReport

    results = tuple(CheckResult(r["name"], Status(r["status"]), r["reason"], r["seconds"])
                    for r in data["checks"])
    privacy = data.get("privacy_report")
    if privacy is not None:  # read from the package in the worker: checked again here
        privacy = PrivacyReport.from_dict(privacy).to_manifest()
    return CheckReport(results, data.get("learnware_id"), privacy)


def _failed(check: str, reason: str) -> CheckOutcome:
    return CheckOutcome(CheckReport((CheckResult(check, Status.NONUSABLE, reason),)))


def _specs_of(path: str, report: CheckReport, options: CheckOptions) -> CheckOutcome:
    from engine.errors import PackageError
    from engine.package import open_package

    try:
        pkg = open_package(path, options.package_limits)
    except PackageError as exc:
        return _failed("archive", f"the package could not be read again: {exc}")
    if pkg.id != report.learnware_id:
        return _failed("archive", "the package changed while it was checked")
    return CheckOutcome(report, pkg.semantic, pkg.spec)


def check_in_thread(path: str, options: CheckOptions) -> CheckOutcome:
    from engine.checks import check_package

    report = check_package(path, options)
    return _specs_of(path, report, options) if report.ok else CheckOutcome(report)


class _Worker:
    """One ``lwnode.node.checkworker`` process: one request at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> _Worker:
        # Its own session: a Ctrl-C at the node's terminal reaches the node, which stops
        # the worker, instead of killing the worker mid-check (a traceback, and a good
        # package reported as crashing).
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lwnode.node.checkworker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=MAX_REPORT_BYTES, start_new_session=True)
        return cls(proc)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def check(self, path: str, options: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps({"path": path, "options": options}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise ConnectionError(f"check worker exited with status {await self.proc.wait()}")
        report: dict[str, Any] = json.loads(line)
        return report

    async def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()

    async def close(self) -> None:
        """Let the worker finish (end of input), or kill it if it does not."""
        if self.alive and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5.0)
            except TimeoutError:
                pass
        await self.kill()


class Checker:
    """Runs the checks of uploads; see the module doc.

    Parameters
    ----------
    options
        The engine's check options (time limit, code models, trusted types, limits).
    isolation
        ``"process"`` (worker processes) or ``"thread"``.
    workers
        How many checks run at once.
    """

    def __init__(self, options: CheckOptions, *, isolation: str = "process",
                 workers: int = 1) -> None:
        self.options = options
        self.isolation = isolation
        self.workers = workers
        self.timeout = options.time_limit + WORKER_GRACE_SECONDS
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._threads: ThreadPoolExecutor | None = None

    async def check(self, path: str | os.PathLike[str]) -> CheckOutcome:
        """Check one package file; never raises for a bad package."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        async with self._slots:
            if self.isolation == "thread":
                return await self._check_in_thread(os.fspath(path))
            return await self._check_in_worker(os.fspath(path))

    async def _check_in_thread(self, path: str) -> CheckOutcome:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="lwnode-check")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, check_in_thread, path, self.options)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            return _failed("predict", f"the checks did not finish within {self.timeout:g} s")

    async def _check_in_worker(self, path: str) -> CheckOutcome:
        worker = self._idle.pop() if self._idle else await _Worker.start()
        try:
            data = await asyncio.wait_for(worker.check(path, options_to_json(self.options)),
                                          self.timeout)
            if "internal_error" in data:
                self._idle.append(worker)  # it caught the exception and goes on
                log.error("the checks of %s raised an unexpected exception (a bug of the "
                          "checks, not of the package):\n%s", path, data["internal_error"])
                return _failed("internal", "the checks failed with an internal error of "
                               "this node (logged on the node); the package was not judged")
            report = report_from_json(data)
        except TimeoutError:
            log.warning("checks of %s took more than %.0f s; killing the worker", path,
                        self.timeout)
            await worker.kill()
            return _failed("predict", f"the checks did not finish within {self.timeout:g} s")
        except (ConnectionError, ValueError, KeyError, TypeError) as exc:
            log.warning("a check worker failed on %s (%s); starting a new one", path, exc)
            await worker.kill()
            return _failed("model_load", "the check worker died while loading or running the "
                           "model (a crash in native code?)")
        except BaseException:
            await worker.kill()
            raise
        self._idle.append(worker)
        if not report.ok:
            return CheckOutcome(report)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _specs_of, path, report, self.options)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:
            await worker.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
