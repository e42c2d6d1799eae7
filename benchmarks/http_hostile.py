"""A node's HTTP server under hostile clients: do honest requests still get through?

    python -m benchmarks.http_hostile [--hostile 200] [--seconds 8]

One real ``lwnode run`` process on 127.0.0.1 (no peer layer), with ``[http]
header_timeout``, ``body_timeout`` and ``send_timeout`` shortened to 3 s so that a
run takes under a minute (defaults: 10, 30, 60 s). For each attack in turn, one
hostile client opens ``--hostile`` connections from the same address as the honest
client (below ``max_connections_per_ip``), while the honest client sends a health
check and a small search one after another for ``--seconds``. Reported: the honest
requests, their errors and latency percentiles; the sockets the node process held
at the end of the phase, before the hostile client let go (its listening socket and
the honest client's count too: a few); the node's log lines during the phase; its
RSS. Attacks:

- ``slow heads``: each connection drips a request head one byte every 0.5 s;
- ``stalled bodies``: a complete head announcing 100 kB, then 10 bytes, then nothing;
- ``unread answers``: 300 pipelined requests for the OpenAPI document (~30 kB
  each), never read, on a 4 KiB receive buffer;
- ``malformed``: requests with a broken header line, as fast as the node answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import numpy as np

from benchmarks.common import machine, print_table
from lwnode.home import NodeHome

SHORT_S = 3.0
HEAD = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def start_node(home: NodeHome, log_path: Path) -> subprocess.Popen[bytes]:
    env = {"PATH": "/usr/bin:/bin", "LWDOCK_LOG_ACCESS_LOG": "false",
           "LWDOCK_P2P_ENABLED": "false", "LWDOCK_HTTP_HEADER_TIMEOUT": str(SHORT_S),
           "LWDOCK_HTTP_BODY_TIMEOUT": str(SHORT_S), "LWDOCK_HTTP_SEND_TIMEOUT": str(SHORT_S),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    home.url_path.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lwnode.cli", "run", "--home",
                                 str(home.path), "--http", "127.0.0.1:0"],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
    while not home.url_path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the node exited during start-up: {log_path.read_text()}")
        time.sleep(0.05)
    return proc


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _open(port: int, rcvbuf: int | None = None
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def _hold(writer: asyncio.StreamWriter,
                send: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
    """Run `send` on a connection until the node drops it (or the phase ends)."""
    with contextlib.suppress(ConnectionError, OSError):
        await send(writer)


def node_sockets(pid: int) -> int:
    """Sockets the node process holds (its listening socket included)."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


async def slow_head(writer: asyncio.StreamWriter) -> None:
    for byte in HEAD * 100:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.5)


async def stalled_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                 b"application/json\r\nContent-Length: 100000\r\n\r\n{\"semantic\": ")
    await writer.drain()
    await asyncio.sleep(3600)


async def unread(writer: asyncio.StreamWriter) -> None:
    writer.write(b"GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 300)
    await writer.drain()
    await asyncio.sleep(3600)


async def _attack(port: int, kind: str, n: int, stop: asyncio.Event,
                  pid: int) -> int | None:
    """Hostile connections of `kind` until `stop`; the node's sockets at that moment."""
    if kind == "malformed":
        while not stop.is_set():
            with contextlib.suppress(ConnectionError, OSError):
                reader, writer = await _open(port)
                writer.write(HEAD + b"Bad Header\r\n\r\n")
                await reader.read()
                writer.close()
        return None
    send = {"slow heads": slow_head, "stalled bodies": stalled_body,
            "unread answers": unread}[kind]
    conns = [await _open(port, 4096 if kind == "unread answers" else None) for _ in range(n)]
    tasks = [asyncio.create_task(_hold(w, send)) for _, w in conns]
    await stop.wait()
    held = node_sockets(pid)  # before this side lets go
    for t in tasks:
        t.cancel()
    for _, w in conns:
        w.transport.abort()
    await asyncio.gather(*tasks, return_exceptions=True)
    return held


async def _honest(url: str, stop: asyncio.Event) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            for method, path, body in (("GET", "/v1/health", None),
                                       ("POST", "/v1/search", {"semantic": {
                                           "data_type": "table"}})):
                began = time.perf_counter()
                try:
                    async with http.request(method, url + path, json=body) as r:
                        await r.read()
                        errors += r.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                latencies.append(time.perf_counter() - began)
    return latencies, errors


async def phase(url: str, kind: str | None, n: int, seconds: float, pid: int
                ) -> tuple[list[float], int, int | None]:
    port = int(url.rsplit(":", 1)[1])
    stop = asyncio.Event()
    attack = asyncio.create_task(_attack(port, kind, n, stop, pid)) if kind else None
    await asyncio.sleep(0.5)  # the attack in place first
    honest = asyncio.create_task(_honest(url, stop))
    await asyncio.sleep(seconds)
    stop.set()
    latencies, errors = await honest
    held = await attack if attack is not None else node_sockets(pid)
    return latencies, errors, held


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hostile", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lwnode-hostile-") as tmp:
        home = NodeHome(Path(tmp) / "home")
        home.init("Hostile Bench Org")
        log_path = Path(tmp) / "node.log"
        proc = start_node(home, log_path)
        rows = []
        try:
            url = home.read_url() or ""
            for kind in (None, "slow heads", "stalled bodies", "unread answers", "malformed"):
                lines_before = len(log_path.read_text().splitlines())
                latencies, errors, held = asyncio.run(phase(url, kind, args.hostile,
                                                            args.seconds, proc.pid))
                lines = len(log_path.read_text().splitlines()) - lines_before
                ms = np.array(latencies) * 1000
                rows.append([kind or "none", "-" if kind in (None, "malformed") else
                             args.hostile, len(latencies), errors,
                             f"{np.percentile(ms, 50):.0f}", f"{np.percentile(ms, 95):.0f}",
                             f"{ms.max():.0f}", "-" if held is None else held,
                             lines, f"{rss_mb(proc.pid):.0f}"])
        finally:
            proc.terminate()
            proc.wait(10)
    title = (f"Honest requests under hostile clients ({machine()}; header/body/send "
             f"timeouts {SHORT_S:g} s, {args.seconds:g} s a phase)")
    print_table(title, ["attack", "hostile conns", "honest requests", "errors", "p50 ms",
                        "p95 ms", "max ms", "node sockets at end", "node log lines",
                        "node RSS MB"], rows)


if __name__ == "__main__":
    main()
