"""SIGTERM / SIGINT on a real `python -m gateway serve`: every socket is closed with 1012
(service restart, so clients reconnect at once to another process), the process exits 0
within its bound (gateway/app/server.py SHUTDOWN_SECONDS), and what was acked is stored."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest

from gateway.app.server import SHUTDOWN_SECONDS
from gateway.core.periodic import Periodic
from gateway.domain.clock import ManualClock
from gateway.domain.model import Author
from gateway.store.redis import RedisStore
from tests.clients import Console, Widget
from tests.processes import GatewayProcess, add_counsellor, write_config

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_closes_every_socket_with_1012_and_exits_0_with_acked_lines_stored(
        redis_url, tmp_path, signum):
    prefix = f"s{uuid.uuid4().hex[:10]}"
    config = write_config(tmp_path / "config.yaml", redis_url, prefix)
    add_counsellor(config, "camille", PASSWORD)
    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    try:
        console = await Console.login(gateway.http, "camille", PASSWORD)
        teen = await Widget.connect(gateway.ws)
        ack = await teen.say("je veux parler à quelqu'un")
        await console.barrier()
        mark = gateway.output.mark()
        signalled = time.monotonic()
        gateway.process.send_signal(signum)
        await asyncio.wait_for(asyncio.gather(teen.ws.wait_closed(), console.ws.wait_closed()), SHUTDOWN_SECONDS)
        assert (teen.ws.close_code, console.ws.close_code) == (1012, 1012)
        code = await asyncio.to_thread(gateway.process.wait, SHUTDOWN_SECONDS)
        assert code == 0
        assert time.monotonic() - signalled < SHUTDOWN_SECONDS
        await asyncio.to_thread(gateway.output.wait_for, r"gateway stopped", 5, mark)
        await teen.close()
        await console.close()
    finally:
        gateway.stop()

    store = RedisStore(redis_url, prefix=prefix)
    await store.start()
    try:
        (conversation,) = await store.conversations_since(0)
        teen_lines = [m for m in await store.messages(conversation.id) if m.author is Author.TEEN]
        assert [(m.seq, m.text) for m in teen_lines] == [(ack["message"]["seq"], "je veux parler à quelqu'un")]
    finally:
        await store.close()


async def test_a_client_that_never_answers_the_close_does_not_hold_the_exit(redis_url, tmp_path):
    """A peer that sends nothing and never answers our close frame (a frozen tab, a dead NAT)
    still gets the 1012 and does not hold the exit (close_sockets waits SOCKET_CLOSE_SECONDS
    at most for answers)."""
    config = write_config(tmp_path / "config.yaml", redis_url, f"s{uuid.uuid4().hex[:10]}")
    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write((f"GET /ws/widget HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\nOrigin: {gateway.http}\r\n\r\n").encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        mark = gateway.output.mark()
        signalled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(gateway.process.wait, SHUTDOWN_SECONDS) == 0
        assert time.monotonic() - signalled < SHUTDOWN_SECONDS
        await asyncio.to_thread(gateway.output.wait_for, r"1 socket\(s\) closed with 1012", 5, mark)
        close_frame = await reader.read(4)  # our close frame did go out: opcode 8, code 1012
        assert close_frame[0] == 0x88 and int.from_bytes(close_frame[2:4], "big") == 1012
        writer.close()
    finally:
        gateway.stop()


@pytest.mark.parametrize("grace", [0.0, 5.0])
async def test_a_worker_round_under_way_finishes_within_the_grace(grace):
    """The delivery worker stops with a grace (DELIVERY_GRACE_SECONDS): a send under way
    completes; without one it is cancelled (its job then waits for its lease to expire)."""
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def one_round() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    worker = Periodic("test-worker", one_round, 60.0, ManualClock(0))
    worker.start()
    await started.wait()
    stopping = asyncio.ensure_future(worker.stop(grace))
    while not worker.stopping:
        await asyncio.sleep(0)  # a yield, not a wait: stop() has begun
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ([True] if grace else [])
    assert not worker.running
