"""The node's HTTP server against hostile clients on raw sockets (`lwnode.http.server`).

Slow heads and stalled bodies are dropped, connections are capped (in all and per
address), and a malformed request is a 400 JSON error logged at INFO without a
traceback. The deadlines are set short here; each wait is bounded far above them,
so a test fails (never hangs) when a connection is not dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time

import pytest
import pytest_asyncio
from lwtesting import WAIT
from real_nodes import lone_node

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

HEAD_S = 0.5
BODY_S = 0.5
MIN_RATE = 1000  # bytes a second
SEND_S = 0.5
NOT_DROPPED_S = WAIT  # far above the deadlines: a connection still open by then is a bug
HEAD = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def node(tmp_path_factory):
    async with lone_node(tmp_path_factory.mktemp("server"), "Server Org", http={
            "header_timeout": HEAD_S, "body_timeout": BODY_S, "body_min_rate": MIN_RATE,
            "send_timeout": SEND_S, "idle_timeout": 30.0, "max_connections_per_ip": 3}
            ) as running:
        running.port = int(running.url.rsplit(":", 1)[1])
        yield running


@contextlib.asynccontextmanager
async def connection(node):
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _dropped(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded). A server
    that closes while the client's bytes are still unread makes the kernel send a reset
    (RFC 1122, 4.2.2.13): dropped as well, with whatever was in flight lost (b"")."""
    try:
        return await asyncio.wait_for(reader.read(), NOT_DROPPED_S)
    except ConnectionResetError:
        return b""


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), NOT_DROPPED_S)
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, json.loads(await reader.readexactly(length))


async def test_a_client_that_sends_nothing_is_dropped(node):
    async with connection(node) as (reader, _):
        assert await _dropped(reader) == b""


async def test_a_head_sent_a_byte_at_a_time_is_dropped(node):
    async with connection(node) as (reader, writer):
        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in HEAD:  # never the blank line that ends the head
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.05)

        dripping = asyncio.create_task(drip())
        try:
            assert await _dropped(reader) == b""
        finally:
            dripping.cancel()


async def test_a_stalled_body_is_dropped(node):
    async with connection(node) as (reader, writer):
        writer.write(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"sem")
        await writer.drain()
        await _dropped(reader)  # closed (the handler's 400 for a cut body may come first)


async def test_a_body_dripped_slower_than_the_least_rate_is_dropped(node):
    async with connection(node) as (reader, writer):
        writer.write(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")

        async def drip() -> None:  # ~100 bytes a second: never a stall, far below the rate
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b" " * 5)
                    await writer.drain()
                    await asyncio.sleep(0.05)

        dripping = asyncio.create_task(drip())
        try:
            await _dropped(reader)
        finally:
            dripping.cancel()


async def _unread_connection(node) -> asyncio.StreamWriter:
    """A client that pipelines requests for ~30 kB answers and never reads them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small, so buffers fill
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.port))
    _unread, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 300)
    await writer.drain()
    return writer


async def test_clients_that_leave_the_answer_unread_are_dropped_and_freed(node, caplog):
    writers = []
    try:
        with caplog.at_level(logging.INFO, logger="lwnode.http"):
            # as many as one address may hold: freed only if the node really lets go
            writers = [await _unread_connection(node) for _ in range(3)]
            end = time.monotonic() + NOT_DROPPED_S
            while not any("unread" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < end, "the unread connections were not dropped"
                await asyncio.sleep(0.05)
        status = 503
        while status == 503 and time.monotonic() < end:  # all three dropped: served again
            async with connection(node) as (reader, writer):
                writer.write(HEAD + b"\r\n")
                status = (await _response(reader))[0]
            await asyncio.sleep(0.05)
        assert status == 200
    finally:
        for writer in writers:
            writer.transport.abort()


async def test_a_kept_alive_connection_may_idle_between_requests(node):
    async with connection(node) as (reader, writer):
        for _ in range(2):
            writer.write(HEAD + b"\r\n")
            await writer.drain()
            status, body = await _response(reader)
            assert status == 200 and body["status"] == "ok"
            await asyncio.sleep(2 * HEAD_S)  # idle is not a slow head


async def test_connections_from_one_address_are_capped(node):
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(connection(node)) for _ in range(3)]
        for _, writer in held:  # each answered, and kept alive
            writer.write(HEAD + b"\r\n")
        for reader, _ in held:
            assert (await _response(reader))[0] == 200
        async with connection(node) as (reader, writer):
            writer.write(HEAD + b"\r\n")
            status, body = await _response(reader)
            assert status == 503 and body["code"] == "busy"
            assert await _dropped(reader) == b""
    async with connection(node) as (reader, writer):  # released: served again
        writer.write(HEAD + b"\r\n")
        assert (await _response(reader))[0] == 200


async def test_a_malformed_request_is_400_json_logged_at_info_without_traceback(node, caplog):
    with caplog.at_level(logging.INFO):
        async with connection(node) as (reader, writer):
            writer.write(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
            status, body = await _response(reader)
    assert status == 400 and body["code"] == "bad_request"
    records = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert records and all(r.levelno == logging.INFO and r.exc_info is None
                           and "\n" not in r.getMessage() for r in records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
