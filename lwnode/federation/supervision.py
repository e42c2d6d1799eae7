"""`Supervisor`: the node's background work, restarted when it fails, and named when down.

Before issue 14 a crashed gossip consumer or peer watcher was logged once and never
ran again, and a dead libp2p thread left ``/v1/health`` saying "ok". Every long-
running part of the peer layer now runs under a supervisor:

- `run(name, factory)` runs ``await factory()`` as a task; when it raises (or
  returns: these loops never end on their own) the cause is logged with its
  traceback, the part is reported down, and a new ``factory()`` starts after an
  exponential back-off (`backoff_min` doubling to `backoff_max`; reset once a run
  lasted `healthy_after` seconds);
- `watch(name, check, repair)` polls ``check()`` (the cause of a failure, or None)
  every `interval` seconds and, while it names a cause, calls ``await repair()``
  with the same back-off (e.g. a new libp2p thread when the old one ended).

`down()` maps each part that is down to why; ``/v1/health`` answers 503
"degraded" with it until every part is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("lwnode.supervision")


@dataclass
class _State:
    down_since: float | None = None
    cause: str = ""
    restarts: int = 0


class Supervisor:
    """Owns supervised tasks (see the module doc); `stop` cancels them all."""

    def __init__(self, *, backoff_min: float = 0.5, backoff_max: float = 30.0,
                 healthy_after: float = 60.0) -> None:
        if not 0 < backoff_min <= backoff_max:
            raise ValueError(f"Supervisor: need 0 < backoff_min {backoff_min} <= backoff_max "
                             f"{backoff_max}")
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.healthy_after = healthy_after
        self._states: dict[str, _State] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- what is down -------------------------------------------------------------------------
    def down(self) -> dict[str, str]:
        """Each part that is down now, with the cause."""
        return {name: s.cause for name, s in sorted(self._states.items())
                if s.down_since is not None}

    def restarts(self) -> dict[str, int]:
        """How often each part was restarted (or repaired) since the node started."""
        return {name: s.restarts for name, s in sorted(self._states.items())}

    def _mark_down(self, name: str, cause: str) -> None:
        state = self._states[name]
        if state.down_since is None:
            state.down_since = time.time()
        state.cause = cause[:500]

    def _mark_up(self, name: str) -> None:
        state = self._states[name]
        if state.down_since is not None:
            log.warning("%s is back after %.1f s", name, time.time() - state.down_since)
        state.down_since, state.cause = None, ""

    # -- running ------------------------------------------------------------------------------
    def run(self, name: str, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``factory()`` under supervision as part `name`."""
        self._start(name, self._keep_running(name, factory))

    def watch(self, name: str, check: Callable[[], str | None],
              repair: Callable[[], Awaitable[None]], *, interval: float = 0.5) -> None:
        """Poll `check`; while it names a cause, `repair` with back-off (part `name`)."""
        self._start(name, self._keep_healthy(name, check, repair, interval))

    def _start(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        if name in self._states:
            coro.close()
            raise ValueError(f"Supervisor: part {name!r} already runs")
        self._states[name] = _State()
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_running(self, name: str,
                            factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        delay = 0.0
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await factory()
                cause = "ended without an error"
                log.error("%s ended; restarting it", name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause = f"{type(exc).__name__}: {exc}"
                log.error("%s crashed; restarting it", name, exc_info=exc)
            if loop.time() - began >= self.healthy_after:
                delay = 0.0
            delay = self._next(delay)
            self._mark_down(name, cause)
            await asyncio.sleep(delay)
            self._states[name].restarts += 1
            self._mark_up(name)

    async def _keep_healthy(self, name: str, check: Callable[[], str | None],
                            repair: Callable[[], Awaitable[None]], interval: float) -> None:
        delay = 0.0
        while True:
            cause = check()
            if cause is None:
                self._mark_up(name)
                delay = 0.0
                await asyncio.sleep(interval)
                continue
            if self._states[name].down_since is None:
                log.error("%s is down (%s); restarting it", name, cause)
            self._mark_down(name, cause)
            delay = self._next(delay)
            await asyncio.sleep(delay)
            try:
                await repair()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("%s: restart failed (%s: %s); next try in %.1f s", name,
                          type(exc).__name__, exc, self._next(delay))
                self._mark_down(name, f"{cause}; restart failed: {type(exc).__name__}: {exc}")
            else:
                self._states[name].restarts += 1

    def _next(self, delay: float) -> float:
        return self.backoff_min if delay == 0 else min(delay * 2, self.backoff_max)

    async def stop(self) -> None:
        """Cancel every supervised task and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
