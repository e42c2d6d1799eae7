"""An asyncio event loop on virtual time, for simulating a network in one process.

`VirtualTimeLoop.time()` is a virtual clock that moves only when the loop has nothing
to do: no callback ready, no executor job outstanding, no I/O event. Then it jumps to
the next timer (a link latency, a ``sleep``, an anti-entropy interval, a deadline) at
once. So CPU time spent by the simulated nodes, on the loop or in their thread pools,
takes no virtual time: a thousand nodes sharing two cores see the network's delays,
not the machine's load. What work costs in a real network has to be modelled
explicitly (`lwnode.federation.p2p.memory.InProcessHub`'s processing delay).

Executor jobs are waited for in real time before the clock moves (a node's store and
maths run in thread pools): a job finishing and its result being delivered happen at
the virtual instant it was submitted. A job whose awaiting future was cancelled stops
being waited for (its result is dropped, as on a real loop). With ``inline_jobs`` the
loop runs each job at once on its own thread instead, which is one valid order of
events (the job took no time) and spares a thread hand-off per job: the network
simulation's thousands of small store and decode jobs run ~1.5x faster so. It needs
jobs that never wait for the loop or for each other (lwnode's do not).

Why not `looptime` (PyPI): it is a pytest plugin that advances time after a number
of idle loop cycles (``noop_cycles``), a heuristic that can move the clock while a
thread-pool job is still running; here the loop counts its executor jobs and never
moves the clock while one is outstanding, in ~100 lines and no new dependency.

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(main())
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_REAL_WAIT = 1.0
"""Seconds of real time one select waits for an executor job before the loop looks again."""


class _VirtualSelector(selectors.BaseSelector):
    """The loop's selector, except that a wait for a timer advances the virtual clock
    instead of sleeping (when no I/O is ready and no executor job is outstanding)."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None
               ) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._inner.select(0)
        if self._loop.jobs:  # a thread is working: wait for it, in real time only
            return self._inner.select(_REAL_WAIT)
        events = self._inner.select(0)
        if events or timeout is None:
            # I/O ready; or nothing scheduled at all: only another thread can wake us
            return events or self._inner.select(None)
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `time` is virtual (module doc).

    Attributes
    ----------
    jobs
        Executor jobs submitted whose results the loop has not taken yet.
    jumps
        Times the clock moved, and `advanced`, the virtual seconds it moved in all.
    """

    def __init__(self, start: float = 0.0, *, inline_jobs: bool = False) -> None:
        super().__init__()
        self.inline_jobs = inline_jobs
        self._now = float(start)
        self.jobs = 0
        self.jumps = 0
        self.advanced = 0.0
        self._selector: selectors.BaseSelector = _VirtualSelector(self._selector, self)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (the selector does, when the loop would sleep)."""
        if seconds < 0:
            raise ValueError(f"seconds: expected >= 0, got {seconds}")
        self._now += seconds
        self.jumps += 1
        self.advanced += seconds

    def run_in_executor(self, executor: Executor | None, func: Callable[[Unpack[Ts]], T],
                        *args: Unpack[Ts]) -> asyncio.Future[T]:
        if self.inline_jobs:
            self._check_closed()
            done: asyncio.Future[T] = self.create_future()
            try:
                done.set_result(func(*args))
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                done.set_exception(exc)
            return done
        future = super().run_in_executor(executor, func, *args)
        self.jobs += 1
        future.add_done_callback(self._job_done)
        return future

    def _job_done(self, _: asyncio.Future[Any]) -> None:
        self.jobs -= 1


def run_virtual(main: Coroutine[Any, Any, T], *, inline_jobs: bool = False) -> T:
    """Run `main` to completion on a fresh `VirtualTimeLoop` (as `asyncio.run` does)."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(inline_jobs=inline_jobs)
                        ) as runner:
        return runner.run(main)
