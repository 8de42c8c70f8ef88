"""Slow clients are dropped (issue #14, item 3, HTTP side): a request head must arrive within
`http.request_head_seconds`, its body within `http.request_body_seconds`
(gateway/app/http_server.py). Real sockets on loopback against the runner `serve` uses; the
deadlines are set to 1 s, and the slow clients really trickle (the timeout is the feature)."""

from __future__ import annotations

import asyncio
import time

from aiohttp.web_protocol import RequestHandler

from gateway.app.http_server import GuardedRequestHandler, GuardedServer
from tests.clients import Widget
from tests.harness import make_config, running_gateway

DEADLINE = 1  # seconds, both head and body
SLACK = 4.0  # how long past the deadline a drop may take before the test fails
FAST_CONFIG = make_config(http={"request_head_seconds": DEADLINE, "request_body_seconds": DEADLINE})


async def connect(gw) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(gw.server.host, gw.server.port)


async def until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails after `within` s."""
    received = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float = 0.2) -> None:
    """One byte every `every` seconds until the server hangs up."""
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)
    except ConnectionError:
        pass


async def response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


def slow_drops(gw) -> int:
    return gw.helpline.security.counts[("slow_client", "http")]


async def head_deadline_passed(gw) -> None:
    """A condition, not a duration: a witness socket opened now and left silent has been
    dropped by the server, so the head deadline has run out for what was opened before it."""
    reader, writer = await connect(gw)
    assert await until_closed(reader, DEADLINE + SLACK) == b""
    writer.close()


async def test_a_trickled_request_head_is_answered_408_and_dropped_after_the_head_deadline():
    async with running_gateway(FAST_CONFIG) as gw:
        reader, writer = await connect(gw)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        dripping = asyncio.create_task(trickle(writer, b"X-Slow: " + b"a" * 200))
        received = await until_closed(reader, DEADLINE + SLACK)
        took = time.monotonic() - started
        dripping.cancel()
        writer.close()
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert took >= DEADLINE - 0.1, f"dropped before its deadline ({took:.2f} s)"
        assert slow_drops(gw) == 1


async def test_fifty_slow_header_sockets_are_all_dropped():
    async with running_gateway(FAST_CONFIG) as gw:
        clients = [await connect(gw) for _ in range(50)]
        for _, writer in clients:
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Part")
        received = await asyncio.gather(*(until_closed(reader, DEADLINE + SLACK) for reader, _ in clients))
        for _, writer in clients:
            writer.close()
        assert all(r.startswith(b"HTTP/1.1 408 ") for r in received)
        assert slow_drops(gw) == 50
        assert gw.server.runner.server.connections == [] or all(
            c.transport is None for c in gw.server.runner.server.connections)


async def test_a_socket_that_never_sends_a_byte_is_closed_without_an_answer():
    async with running_gateway(FAST_CONFIG) as gw:
        reader, writer = await connect(gw)
        assert await until_closed(reader, DEADLINE + SLACK) == b""
        writer.close()
        assert slow_drops(gw) == 1


async def test_a_trickled_body_is_answered_408_and_dropped_after_the_body_deadline():
    async with running_gateway(FAST_CONFIG) as gw:
        reader, writer = await connect(gw)
        origin = gw.http
        host = origin.removeprefix("http://")
        writer.write(f"POST /api/console/login HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{".encode())
        started = time.monotonic()
        dripping = asyncio.create_task(trickle(writer, b'"username": "' + b"a" * 300))
        received = await until_closed(reader, DEADLINE + SLACK)
        took = time.monotonic() - started
        dripping.cancel()
        writer.close()
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert took >= DEADLINE - 0.1
        assert slow_drops(gw) == 1


async def test_a_kept_alive_client_is_not_dropped_between_requests_nor_while_quick():
    """The head clock of a later request starts at its first byte, not at the end of the
    previous answer: a client idle past the head deadline between two requests keeps its
    connection. A head sent in two quick parts is fine."""
    async with running_gateway(FAST_CONFIG) as gw:
        reader, writer = await connect(gw)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await response(reader))[0] == 200
        await head_deadline_passed(gw)  # idle past the head deadline: the feature under test
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await writer.drain()
        writer.write(b"Host: localhost\r\n\r\n")
        assert (await response(reader))[0] == 200
        writer.close()
        assert slow_drops(gw) == 1  # the witness only


async def test_an_upgraded_websocket_left_idle_is_not_dropped_by_the_head_deadline():
    async with running_gateway(FAST_CONFIG) as gw:
        teen = await Widget.connect(gw.ws)
        await head_deadline_passed(gw)  # silent past the deadline: the feature under test
        await teen.barrier()  # still answered
        await teen.close()
        assert slow_drops(gw) == 1  # the witness only


async def test_guard_hooks_still_match_aiohttp():
    """What gateway/app/http_server.py relies on in aiohttp's internals (an upgrade that moves
    them fails here, not silently in production)."""
    slots = set(RequestHandler.__slots__)
    assert {"_messages", "_request_count", "_current_request", "_payload_parser", "_lingering_time",
            "_request_in_progress", "_force_close", "_close"} <= slots
    assert "handle_error" in RequestHandler.__dict__ and "data_received" in RequestHandler.__dict__
    async with running_gateway(FAST_CONFIG) as gw:
        server = gw.server.runner.server
        assert isinstance(server, GuardedServer)
        assert {"access_log", "keepalive_timeout"} <= set(server._kwargs)
        reader, writer = await connect(gw)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await response(reader))[0] == 200
        assert any(isinstance(c, GuardedRequestHandler) for c in server.connections)
        writer.close()
