"""No client address, token or query string in any log line, whatever the input (issue #14, item 1).

A real `python -m gateway serve` at DEBUG gets each malformed request of the black-box probe
list over a raw socket bound to a canary source address (127.13.37.42: loopback, so it is
the peer address aiohttp sees); every line the process wrote is then scanned for that
address, the canary token and the query string. Each probe must still get its 400 (or the
right status), and no answer may echo the request. aiohttp's own logging is what leaked
(`Error handling request from 127.0.0.1` + a traceback quoting the request line):
gateway/app/http_server.py replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import pytest
import aiohttp
from aiohttp import WSMsgType, web

from gateway.app.http_server import Guard, GatewayRunner, install_log_filter
from gateway.http.security import security_headers
from gateway.http.sockets import SOCKETS
from tests.harness import META_SECRETS, make_config, running_gateway
from tests.processes import GatewayProcess, write_config

CLIENT = "127.13.37.42"  # the canary address: our probes' source address, nowhere else
TOKEN = "CANARYtok3n7e2b9q"
QUERY = f"hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=42"
LONG = "A" * 9000  # over aiohttp's 8190-byte line and field limits

# (what the probe is, the bytes sent, the statuses it may get)
PROBES = [
    ("over-long URL", f"GET /webhooks/whatsapp?{QUERY}&pad={LONG} HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("over-long header", f"GET /?{QUERY} HTTP/1.1\r\nHost: x\r\nX-Pad: {TOKEN}{LONG}\r\n\r\n", {400}),
    ("header line without colon", f"GET /?{QUERY} HTTP/1.1\r\nHost: x\r\nNoColon{TOKEN}\r\n\r\n", {400}),
    ("two Content-Length", f"POST /webhooks/whatsapp?{QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                           f"Content-Length: 2\r\n\r\nab", {400}),
    ("bad method", f"G(ET /?{QUERY} HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("bad HTTP version", f"GET /?{QUERY} HTTP/9.Z\r\nHost: x\r\n\r\n", {400}),
    ("chunked garbage", f"POST /webhooks/whatsapp?{QUERY} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        f"\r\nZZ{TOKEN}\r\n{TOKEN}\r\n0\r\n\r\n", {400}),
    ("NUL in the request line", f"GET /?{QUERY}\x00{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("NUL in a header", f"GET /?{QUERY} HTTP/1.1\r\nHost: x\r\nX-A: {TOKEN}\x00x\r\n\r\n", {400}),
    ("wrong verify token", f"GET /webhooks/whatsapp?{QUERY} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
     {403}),
    ("WebSocket handshake without a key", f"GET /ws/widget?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Origin: http://127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          "Sec-WebSocket-Version: 13\r\n\r\n", {400, 403}),
]


async def probe(host: str, port: int, raw: bytes) -> bytes:
    """Send `raw` from the canary address; the answer, read until the server closes or one
    whole response (head and Content-Length body) is in."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(CLIENT, 0))
    try:
        writer.write(raw)
        await writer.drain()
        received = b""
        async with asyncio.timeout(10):
            while not _complete(received) and (chunk := await reader.read(65536)):
                received += chunk
        return received
    finally:
        writer.close()


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(found and lengths and len(body) >= int(lengths[0]))


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def leaks(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if CLIENT in line or TOKEN in line or "hub.verify_token" in line or "hub.challenge" in line]


async def test_malformed_requests_get_400_and_leave_no_address_token_or_query_in_the_process_log(
        tmp_path, monkeypatch):
    for name, value in META_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "DEBUG")
    config = write_config(tmp_path / "config.yaml", "memory://", "canary")
    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    answers = {}
    try:
        for name, raw, _ in PROBES:
            answers[name] = await probe("127.0.0.1", gateway.port, raw.encode("latin-1"))
    finally:
        gateway.stop()  # every line written and copied before the scan
    wrong = {name: status_of(answers[name]) for name, _, allowed in PROBES if status_of(answers[name]) not in allowed}
    assert not wrong, f"unexpected statuses: {wrong}"
    echoed = [name for name, answer in answers.items() if TOKEN.encode() in answer or b"hub." in answer]
    assert not echoed, f"answers echoing the request: {echoed}"
    log_text = gateway.log_path.read_text(encoding="utf-8", errors="replace")
    assert "malformed request refused" in log_text  # the scan reads the right log
    assert not leaks(log_text), "\n".join(leaks(log_text))
    assert "Traceback" not in log_text


# --- a handler failing after the WebSocket upgrade ---------------------------------------------
# No route of the gateway was found to raise after its upgrade (the widget and console loops
# catch GatewayError, ProtocolError and StoreError per frame); so the security middleware's
# path is driven here by an app of this test's own, on the production runner.


def _failing_socket_app() -> web.Application:
    async def failing_socket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        await ws.receive()
        raise RuntimeError(f"boom with {TOKEN} from {request.remote} at {request.query_string}")

    app = web.Application(middlewares=[security_headers(tls=False)])
    app[SOCKETS] = weakref.WeakSet()
    app.router.add_get("/ws/fails/{id}", failing_socket)
    return app


async def test_a_handler_error_after_the_upgrade_is_logged_with_the_route_only_and_closes_with_1011(caplog):
    caplog.set_level(logging.DEBUG)
    events: list[str] = []
    runner = GatewayRunner(_failing_socket_app(), Guard(5, 5, lambda kind, **_: events.append(kind)),
                           access_log=None)
    install_log_filter()
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            connector_url = f"http://127.0.0.1:{port}/ws/fails/{TOKEN}?{QUERY}"
            async with session.ws_connect(connector_url) as ws:
                await ws.send_str("anything")
                closing = await ws.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == 1011
    finally:
        await runner.cleanup()
    assert "unhandled error after the response started: GET /ws/fails/{id} (RuntimeError)" in caplog.text
    assert not leaks(caplog.text) and "127.0.0.1" not in caplog.text, caplog.text
    assert "boom" not in caplog.text


@pytest.mark.parametrize("name,raw,allowed", PROBES, ids=[p[0] for p in PROBES])
async def test_each_probe_in_process_logs_nothing_of_the_request_at_debug(caplog, monkeypatch, name, raw, allowed):
    """The same probes against the tests' in-process gateway (the same runner), every logger
    captured at DEBUG, tracebacks included."""
    caplog.set_level(logging.DEBUG)
    for key, value in META_SECRETS.items():
        monkeypatch.setenv(key, value)
    async with running_gateway(make_config()) as gw:
        answer = await probe(gw.server.host, gw.server.port, raw.encode("latin-1"))
        refused = gw.helpline.security.counts[("bad_request", "http")]
    assert status_of(answer) in allowed, answer[:200]
    assert not leaks(caplog.text), caplog.text
    assert refused == (1 if allowed == {400} else 0)  # one security event per malformed request


async def test_bad_chunked_encoding_after_the_handler_started_reading_is_answered_400_at_once(caplog):
    """aiohttp queues its 400 behind the request whose body is being read, so the handler
    waited for the rest of the body (for ever, or until the body deadline: 20 s here); it
    now gets the error at once."""
    caplog.set_level(logging.DEBUG)
    async with running_gateway(make_config()) as gw:
        reader, writer = await asyncio.open_connection(gw.server.host, gw.server.port, local_addr=(CLIENT, 0))
        host = gw.http.removeprefix("http://")
        writer.write(f"POST /api/console/login?{QUERY} HTTP/1.1\r\nHost: {host}\r\nOrigin: {gw.http}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".encode())
        await writer.drain()  # two writes: read by the server together or apart, the same answer
        writer.write(f"ZZ{TOKEN}\r\n".encode())
        answer = b""
        async with asyncio.timeout(5):  # far below the 20 s body deadline
            while chunk := await reader.read(65536):
                answer += chunk
        writer.close()
        assert gw.helpline.security.counts[("bad_request", "http")] == 1
        assert gw.helpline.security.counts[("slow_client", "http")] == 0
    assert status_of(answer) == 400 and TOKEN.encode() not in answer
    assert not leaks(caplog.text), caplog.text
