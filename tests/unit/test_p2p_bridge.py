"""The trio thread bridge and the pure timing rules of the peer layer (no sockets)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from lwnode.federation.p2p.errors import NetworkClosed
from lwnode.federation.p2p.schedule import Backoff, Pacer
from lwnode.federation.p2p.trio_bridge import TrioThread

pytestmark = pytest.mark.timeout(30)


async def idle(nursery: trio.Nursery, ready) -> None:
    ready()
    await trio.sleep_forever()


@pytest.fixture
async def bridge():
    thread = TrioThread("test")
    await thread.start(idle)
    yield thread
    await thread.stop()


async def test_call_runs_in_the_trio_thread_and_returns(bridge):
    async def where(x: int) -> tuple[str, int]:
        await trio.sleep(0)
        return threading.current_thread().name, x * 2

    assert await bridge.call(where, 21) == ("test", 42)
    results = await asyncio.gather(*(bridge.call(where, i) for i in range(100)))
    assert [r[1] for r in results] == [2 * i for i in range(100)]


async def test_exceptions_cross_the_bridge_unchanged(bridge):
    async def fail() -> None:
        raise KeyError("lost")

    with pytest.raises(KeyError, match="lost"):
        await bridge.call(fail)


async def test_cancelling_the_caller_cancels_the_trio_job(bridge):
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    task = asyncio.ensure_future(bridge.call(forever))
    assert await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_trio_side_awaits_asyncio_and_cancels_it(bridge):
    loop_thread = threading.current_thread().name

    async def on_asyncio(x: int) -> tuple[str, int]:
        await asyncio.sleep(0)
        return threading.current_thread().name, x + 1

    async def from_trio() -> tuple[str, int]:
        return await bridge.run_in_asyncio(on_asyncio, 1)

    assert await bridge.call(from_trio) == (loop_thread, 2)

    hung = asyncio.Event()
    released = asyncio.Event()

    async def hang() -> None:
        hung.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            released.set()
            raise

    async def bounded() -> str:
        with trio.move_on_after(0.05):
            await bridge.run_in_asyncio(hang)
        return "timed out"

    assert await bridge.call(bounded) == "timed out"
    await asyncio.wait_for(released.wait(), 5)
    assert hung.is_set()


async def test_stop_fails_pending_and_later_calls(bridge):
    async def forever() -> None:
        await trio.sleep_forever()

    pending = asyncio.ensure_future(bridge.call(forever))
    await asyncio.sleep(0.05)
    await bridge.stop()
    with pytest.raises(NetworkClosed):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(NetworkClosed):
        await bridge.call(forever)
    await bridge.stop()  # idempotent


async def test_a_failing_setup_fails_start():
    async def broken(nursery: trio.Nursery, ready) -> None:
        raise OSError("port in use")

    thread = TrioThread("broken")
    with pytest.raises(OSError, match="port in use"):
        await thread.start(broken)
    with pytest.raises(NetworkClosed):
        await thread.call(trio.sleep, 0)


# -- pure timing rules ----------------------------------------------------------------------
def test_pacer_allows_a_burst_then_the_rate():
    pacer = Pacer(rate=100, burst=4)
    waits = [pacer.reserve(0.0) for _ in range(8)]
    assert waits[:4] == [0.0] * 4
    assert waits[4:] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    # After a quiet second the burst is available again.
    assert pacer.reserve(2.0) == 0.0


def test_pacer_sustained_rate_is_the_configured_rate():
    pacer = Pacer(rate=50, burst=1)
    now = 0.0
    for _ in range(100):
        now += pacer.reserve(now)
    assert now == pytest.approx(99 / 50)


def test_backoff_doubles_to_the_ceiling_and_resets():
    b = Backoff(floor=0.25, ceiling=2.0)
    assert b.due(0.0)
    delays = []
    for _ in range(6):
        b.failed(10.0)
        delays.append(b.delay)
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert not b.due(11.0) and b.due(12.0)
    b.succeeded()
    assert b.due(0.0) and b.delay == 0.0


def test_schedules_refuse_nonsense():
    with pytest.raises(ValueError):
        Pacer(rate=0, burst=1)
    with pytest.raises(ValueError):
        Pacer(rate=1, burst=0)
