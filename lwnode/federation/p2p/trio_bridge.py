"""One trio loop in a daemon thread, bridged to the node's asyncio loop.

py-libp2p runs only on trio and the node's HTTP API (aiohttp) on asyncio. Each node
process runs libp2p in one trio thread (measured: ~50-60 µs per round trip across
the bridge, docs/p2p.md):

- asyncio -> trio: `TrioThread.call` puts a job on a bounded trio memory channel
  with `TrioToken.run_sync_soon`; a dispatcher task runs each job in the thread's
  nursery and completes a `concurrent.futures.Future`, which the caller awaits with
  `asyncio.wrap_future`. Cancelling the caller cancels the job's trio scope.
- trio -> asyncio: `TrioThread.run_in_asyncio` schedules a coroutine with
  `asyncio.run_coroutine_threadsafe` and waits for it on a trio event; cancelling
  the trio side cancels the asyncio task.

Every task of the thread lives in one nursery; `stop` cancels it and waits for the
thread to finish, so nothing outlives the network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from .errors import Busy, NetworkClosed

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Job:
    fn: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    future: cf.Future[Any] = field(default_factory=cf.Future)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class TrioThread:
    """Runs ``serve(nursery, ready)`` in ``trio.run`` on a daemon thread.

    `serve` sets up (e.g. starts a libp2p host), starts its background tasks in
    `nursery`, calls ``ready()`` and then waits until cancelled. `start` returns
    once `ready` was called (or raises what `serve` raised).
    """

    def __init__(self, name: str, *, max_pending: int = 1024) -> None:
        self.name = name
        self._max_pending = max_pending
        self._token: trio.lowlevel.TrioToken | None = None
        self._send: trio.MemorySendChannel[_Job] | None = None
        self._nursery: trio.Nursery | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: cf.Future[None] = cf.Future()
        self._finished: cf.Future[None] = cf.Future()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Started, ready and not yet finished."""
        return self._token is not None and not self._finished.done()

    @property
    def finished(self) -> bool:
        """The thread ran and ended (stopped or crashed)."""
        return self._finished.done()

    @property
    def error(self) -> BaseException | None:
        """What ended the thread, if it ended with an error (None while it runs)."""
        if not self._finished.done():
            return None
        return self._finished.exception()

    async def start(self, serve: Callable[[trio.Nursery, Callable[[], None]], Awaitable[None]],
                    timeout: float = 30.0) -> None:
        """Start the thread and wait until `serve` reports ready."""
        if self._thread is not None:
            raise NetworkClosed(f"{self.name}: the trio thread starts once")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(serve,), name=self.name,
                                        daemon=True)
        self._thread.start()
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._ready), timeout)
        except BaseException:
            await self.stop()
            raise

    def _run(self, serve: Callable[[trio.Nursery, Callable[[], None]], Awaitable[None]]) -> None:
        try:
            trio.run(self._main, serve)
        except BaseException as group:  # reported to whoever waits; the thread just ends
            exc = _unwrap(group)
            if not self._ready.done():
                self._ready.set_exception(exc)
            _settle(self._finished, exc=exc)
            if not isinstance(exc, Exception):
                log.error("%s: trio thread ended with %r", self.name, exc)
        else:
            if not self._ready.done():
                self._ready.set_exception(NetworkClosed(f"{self.name}: stopped before ready"))
            _settle(self._finished, None)

    async def _main(self, serve: Callable[[trio.Nursery, Callable[[], None]],
                                          Awaitable[None]]) -> None:
        send, receive = trio.open_memory_channel[_Job](self._max_pending)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery

                def ready() -> None:
                    self._send = send
                    self._token = trio.lowlevel.current_trio_token()
                    _settle(self._ready, None)

                nursery.start_soon(self._dispatch, receive, nursery)
                await serve(nursery, ready)
                nursery.cancel_scope.cancel()
        finally:
            # Calls that arrive from now on, or wait in the channel, fail at once.
            send.close()
            while True:
                try:
                    job = receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                _settle(job.future, exc=NetworkClosed(f"{self.name}: stopped"))

    async def _dispatch(self, receive: trio.MemoryReceiveChannel[_Job],
                        nursery: trio.Nursery) -> None:
        async for job in receive:
            nursery.start_soon(self._run_job, job)

    async def _run_job(self, job: _Job) -> None:
        if job.future.cancelled():
            return
        done, result = False, None
        try:
            with job.scope:
                result = await job.fn(*job.args)
                done = True
        except Exception as exc:
            _settle(job.future, exc=exc)
            return
        except BaseException:  # the whole thread is being cancelled: the caller must not hang
            _settle(job.future, exc=NetworkClosed(f"{self.name}: stopped"))
            raise
        if done:
            _settle(job.future, result)
        else:  # the caller cancelled (its future is already cancelled; this is a no-op)
            _settle(job.future, exc=NetworkClosed(f"{self.name}: call cancelled"))

    # -- asyncio side -------------------------------------------------------------------
    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the trio thread and return its result."""
        token = self._token
        if token is None or self._finished.done():
            raise NetworkClosed(f"{self.name}: not running")
        job = _Job(fn, args)

        def on_done(future: cf.Future[Any]) -> None:
            if future.cancelled():  # the caller gave up: cancel the job in trio
                self._soon(job.scope.cancel)

        job.future.add_done_callback(on_done)
        try:
            token.run_sync_soon(self._submit, job)
        except trio.RunFinishedError:
            raise NetworkClosed(f"{self.name}: not running") from None
        return await asyncio.wrap_future(job.future)

    def _submit(self, job: _Job) -> None:  # in the trio thread
        if self._send is None:
            _settle(job.future, exc=NetworkClosed(f"{self.name}: not running"))
            return
        try:
            self._send.send_nowait(job)
        except trio.WouldBlock:
            _settle(job.future, exc=Busy(f"{self.name}: {self._max_pending} calls pending"))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            _settle(job.future, exc=NetworkClosed(f"{self.name}: stopping"))

    def _soon(self, fn: Callable[[], object]) -> None:
        """Run a sync function in the trio thread if it still runs (thread-safe)."""
        token = self._token
        if token is None:
            return
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            pass

    def soon(self, fn: Callable[[], object]) -> None:
        """Public form of `_soon`: fire-and-forget a sync call in the trio thread."""
        self._soon(fn)

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything in the thread and wait for it to end (idempotent)."""
        if self._thread is None:
            return
        nursery = self._nursery
        if nursery is not None:
            self._soon(nursery.cancel_scope.cancel)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._finished)), timeout)
        except TimeoutError:
            log.error("%s: trio thread did not stop within %.1f s", self.name, timeout)
        except Exception:  # serve's failure was already reported by start or is moot now
            pass

    # -- trio side ----------------------------------------------------------------------
    async def run_in_asyncio(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """From the trio thread: ``await fn(*args)`` on the asyncio loop, return its result."""
        assert self._loop is not None

        async def run() -> T:
            return await fn(*args)

        coro = run()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise NetworkClosed(f"{self.name}: the asyncio loop is closed") from None
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def wake(_: cf.Future[T]) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        future.add_done_callback(wake)
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            raise
        return future.result()

    def to_asyncio_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """From the trio thread: call a sync `fn(*args)` on the asyncio loop (no wait)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody listens any more
            pass


def _unwrap(exc: BaseException) -> BaseException:
    """The one error inside trio's (nested) exception groups, or the group itself."""
    inner = getattr(exc, "exceptions", None)
    while inner is not None and len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _settle(future: cf.Future[Any], result: Any = None, *, exc: BaseException | None = None
            ) -> None:
    """Complete a future unless its waiter already cancelled it."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except cf.InvalidStateError:
        pass
