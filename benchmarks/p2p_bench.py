"""Peer-layer latency: request/response and gossip between local libp2p hosts.

    python -m benchmarks.p2p_bench [--requests 200] [--gossip 200]

Three `Libp2pNetwork` nodes A - B - C in this one process (a line: A and C are not
connected), each with its own trio thread, on 127.0.0.1. Measured: the asyncio ->
trio bridge round trip; request/response A -> B for several frame sizes (sequential
and 20 in flight); a two-hop request A -> B -> C (B's handler asks C, as routed
search does); gossip one-way latency to B (1 hop) and C (2 hops) at a paced rate;
and a burst at the pacer's limit, counting what arrives. The three nodes share one
GIL, so these are upper bounds for separate processes (docs/p2p.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import time

from benchmarks.common import machine, print_table, rss_mb
from lwnode.federation.p2p.base import P2PSettings
from lwnode.federation.p2p.libp2p_network import Libp2pNetwork

TOPIC = "/lwdock/bench/1.0.0"
ECHO = "/lwdock/bench-echo/1.0.0"
RELAY = "/lwdock/bench-relay/1.0.0"


def ms(values: list[float]) -> tuple[str, str, str]:
    """p50, p95 and max of seconds, as milliseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{statistics.median(ordered) * 1e3:.2f}", f"{p95 * 1e3:.2f}",
            f"{ordered[-1] * 1e3:.2f}")


async def echo(peer: str, data: bytes) -> bytes:
    return data


async def bench_bridge(node: Libp2pNetwork, n: int) -> list[float]:
    async def noop() -> None:
        return None

    times = []
    for _ in range(n):
        start = time.perf_counter()
        await node._bridge.call(noop)
        times.append(time.perf_counter() - start)
    return times


async def bench_requests(a: Libp2pNetwork, b: Libp2pNetwork, size: int, n: int,
                         protocol_id: str = ECHO) -> tuple[list[float], float]:
    """n sequential requests (each timed), then 20 at once (timed together)."""
    payload = os.urandom(size)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await a.request(b.node_id, protocol_id, payload, timeout=10)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    await asyncio.gather(*(a.request(b.node_id, protocol_id, payload, timeout=10)
                           for _ in range(20)))
    return times, time.perf_counter() - start


async def bench_gossip(a: Libp2pNetwork, queues: dict[str, asyncio.Queue], n: int,
                       rate: float) -> dict[str, list[float]]:
    """Publish n stamped 1 KB messages at `rate`/s; one-way latency at each receiver."""
    for q in queues.values():
        while not q.empty():
            q.get_nowait()
    latencies: dict[str, list[float]] = {name: [] for name in queues}

    async def receive(name: str, queue: asyncio.Queue) -> None:
        while len(latencies[name]) < n:
            message = await queue.get()
            if message.data.startswith(b"bench"):
                (sent,) = struct.unpack_from("!d", message.data, 5)
                latencies[name].append(time.perf_counter() - sent)

    receivers = [asyncio.ensure_future(receive(k, q)) for k, q in queues.items()]
    for _ in range(n):
        await a.publish(TOPIC, b"bench" + struct.pack("!d", time.perf_counter()) + bytes(1000))
        await asyncio.sleep(1 / rate)
    await asyncio.wait(receivers, timeout=5)
    for task in receivers:
        task.cancel()
    return latencies


async def bench_burst(a: Libp2pNetwork, queue: asyncio.Queue, n: int) -> tuple[int, float]:
    """Publish n messages as fast as the pacer lets; how many reach C, and how fast."""
    while not queue.empty():
        queue.get_nowait()
    start = time.perf_counter()
    for i in range(n):
        await a.publish(TOPIC, b"burst %d " % i + bytes(1000))
    received = 0
    deadline = time.perf_counter() + 5
    while received < n and time.perf_counter() < deadline:
        try:
            await asyncio.wait_for(queue.get(), max(0.01, deadline - time.perf_counter()))
            received += 1
        except TimeoutError:
            break
    return received, time.perf_counter() - start


async def main(requests: int, gossip: int) -> None:
    rss_before = rss_mb()
    nodes = [Libp2pNetwork(os.urandom(32), settings=P2PSettings(publish_rate=100.0))
             for _ in range(3)]
    a, b, c = nodes
    for node in nodes:
        node.set_handler(ECHO, echo)

    async def relay(peer: str, data: bytes) -> bytes:
        return await b.request(c.node_id, ECHO, data, timeout=10)

    b.set_handler(RELAY, relay)
    queues = {"B (1 hop)": await b.subscribe(TOPIC), "C (2 hops)": await c.subscribe(TOPIC)}
    await a.subscribe(TOPIC)
    start = time.perf_counter()
    for node in nodes:
        await node.start()
    started = time.perf_counter() - start
    try:
        start = time.perf_counter()
        await a.connect(b.listen_addrs[0])
        dial = time.perf_counter() - start
        await c.connect(b.listen_addrs[0])
        for _ in range(100):  # until the mesh carries A's messages to C
            await a.publish(TOPIC, b"warm-up")
            try:
                await asyncio.wait_for(queues["C (2 hops)"].get(), 0.1)
                break
            except TimeoutError:
                pass

        print(f"\n{machine()}; 3 nodes in one process; start {started * 1e3:.0f} ms for 3, "
              f"dial + Noise + yamux {dial * 1e3:.1f} ms")
        print_table("asyncio -> trio bridge round trip (µs)", ["p50", "p95", "max"],
                    [[f"{float(x) * 1e3:.0f}" for x in ms(await bench_bridge(a, 2000))]])

        rows = []
        for size in (1_000, 42_000, 256_000):
            times, burst = await bench_requests(a, b, size, requests)
            rows.append([f"{size:,}", "A -> B", *ms(times), f"{burst * 1e3:.1f}"])
        times, burst = await bench_requests(a, b, 42_000, requests, RELAY)
        rows.append(["42,000", "A -> B -> C", *ms(times), f"{burst * 1e3:.1f}"])
        print_table(f"request/response latency, ms ({requests} sequential; 20 concurrent)",
                    ["bytes each way", "path", "p50", "p95", "max", "20 in flight, total"],
                    rows)

        rows = []
        for rate in (20.0, 80.0):
            latencies = await bench_gossip(a, queues, gossip, rate)
            for name, values in latencies.items():
                rows.append([f"{rate:.0f}/s", name, f"{len(values)}/{gossip}",
                             *(ms(values) if values else ("-",) * 3)])
        print_table("gossip one-way latency, 1 KB messages, ms",
                    ["rate", "receiver", "delivered", "p50", "p95", "max"], rows)

        received, took = await bench_burst(a, queues["C (2 hops)"], 300)
        print_table("burst of 300 x 1 KB at the pacer's limit (100/s, burst 16)",
                    ["delivered at C", "seconds", "msgs/s"],
                    [[f"{received}/300", f"{took:.2f}", f"{received / took:.0f}"]])
        print(f"\nRSS: {rss_mb():.0f} MiB for the process with 3 nodes "
              f"(+{rss_mb() - rss_before:.0f} MiB over the interpreter with libp2p imported)")
    finally:
        for node in nodes:
            await node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--gossip", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.gossip))
