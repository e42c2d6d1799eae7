"""The virtual-time event loop (benchmarks/virtual_time.py): timers jump, CPU and
thread-pool work take no virtual time, and order and deadlines stay as on a real loop."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.virtual_time import VirtualTimeLoop, run_virtual


def test_an_hour_of_sleeps_takes_no_real_time_and_timers_fire_in_order():
    fired: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append((name, asyncio.get_running_loop().time()))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop) and loop.time() == 0.0
        await asyncio.gather(sleeper("c", 3600.0), sleeper("a", 0.02), sleeper("b", 30.0))
        return loop.time()

    began = time.perf_counter()
    end = run_virtual(main())
    assert time.perf_counter() - began < 5.0
    assert [name for name, _ in fired] == ["a", "b", "c"]
    assert [at for _, at in fired] == pytest.approx([0.02, 30.0, 3600.0], abs=1e-9)
    assert end == pytest.approx(3600.0, abs=1e-9)


@pytest.mark.parametrize("inline_jobs", [False, True])
def test_cpu_on_the_loop_and_in_threads_takes_no_virtual_time(inline_jobs: bool):
    def busy(seconds: float) -> str:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            pass
        return "done"

    async def main() -> tuple[float, float, str, str]:
        loop = asyncio.get_running_loop()
        busy(0.05)  # on the loop itself
        after_loop_work = loop.time()
        with ThreadPoolExecutor(1) as pool:
            # a thread's 0.3 s against a 0.1 s virtual deadline: the deadline does not
            # fire while the job runs, because the clock waits for the job
            got = await asyncio.wait_for(loop.run_in_executor(pool, busy, 0.3), 0.1)
            threaded = await asyncio.to_thread(busy, 0.05)
        return after_loop_work, loop.time(), got, threaded

    after_loop_work, after_threads, got, threaded = run_virtual(main(),
                                                                inline_jobs=inline_jobs)
    assert (after_loop_work, after_threads) == (0.0, 0.0)
    assert (got, threaded) == ("done", "done")


def test_an_inline_job_s_error_reaches_its_awaiter():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop) and loop.inline_jobs
        await loop.run_in_executor(None, int, "not a number")

    with pytest.raises(ValueError, match="not a number"):
        run_virtual(main(), inline_jobs=True)


def test_a_deadline_still_fires_in_virtual_time_and_a_cancelled_job_is_not_waited_for():
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        never = loop.create_future()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never, 1.5)
        at = loop.time()
        with ThreadPoolExecutor(1) as pool:
            job = loop.run_in_executor(pool, time.sleep, 0.2)
            job.cancel()
            await asyncio.sleep(10.0)  # jumps at once: the cancelled job is not waited for
            outstanding = loop.jobs
        return at, outstanding

    at, outstanding = run_virtual(main())
    assert at == pytest.approx(1.5, abs=1e-9)
    assert outstanding == 0


def test_time_moves_only_by_the_delays_asked_for():
    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        for _ in range(100):
            await asyncio.sleep(0.01)
            await asyncio.sleep(0)  # a yield is no delay
        return loop.time(), loop.jumps

    now, jumps = run_virtual(main())
    assert now == pytest.approx(1.0, abs=1e-9) and jumps == 100
    loop = VirtualTimeLoop()
    try:
        with pytest.raises(ValueError, match="seconds"):
            loop.advance(-1.0)
    finally:
        loop.close()
