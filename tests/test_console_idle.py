"""The console socket's idle timeout (issue #14 item 3): a socket silent for
`console.idle_seconds` is closed with 1001 "idle" and counted (`idle_socket`); one that sends
the heartbeat the `init` frame asks for stays; the real page keeps its socket open past the
timeout by itself, and an idle close makes it reconnect, never log out. An idle close is a lost
socket, not a logout: the counsellor keeps their teen through the presence grace.

The idle timeout is set below the schema's minimum (10 s) through the Config dataclass, so
these tests wait a couple of real seconds: the feature is a timeout on the wall clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import pytest
import websockets
from playwright.async_api import expect

from tests.browser import chromium, console_login
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway

IDLE = 1.5  # seconds


def idle_config(idle: float = IDLE):
    return dataclasses.replace(make_config(), console_idle_seconds=idle)


def idle_closes(gw) -> int:
    return gw.helpline.security.counts[("idle_socket", "console_socket")]


async def raw_console(gw, cookie: str):
    """A console socket that sends nothing by itself (unlike the page)."""
    ws = await websockets.connect(f"{gw.ws}/ws/console", origin=gw.http, additional_headers={"Cookie": cookie})
    init = json.loads(await ws.recv())
    assert init["type"] == "init"
    return ws, init


def session_cookie(console: Console) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in console.http.cookie_jar)


async def test_a_silent_console_socket_is_closed_and_the_counsellor_keeps_their_teen(caplog):
    caplog.set_level(logging.WARNING, logger="gateway.security")
    async with running_gateway(idle_config()) as gw:
        console = await gw.on_duty("camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation = await console.assigned()
        ws, init = await raw_console(gw, session_cookie(console))
        assert init["heartbeat_seconds"] == 0.5  # a third of the idle timeout
        async with asyncio.timeout(IDLE * 4):  # closed by the server, not by us
            await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (1001, "idle")
        assert idle_closes(gw) >= 1  # the test's Console also fell silent meanwhile, maybe
        lines = [r.getMessage() for r in caplog.records if r.name == "gateway.security"]
        assert any('"event":"idle_socket"' in line for line in lines)
        assert not any("127.0.0.1" in line for line in lines)

        # Not a logout: the same session opens a socket again, the teen is still theirs.
        again, init = await raw_console(gw, session_cookie(console))
        assert [c["id"] for c in init["conversations"] if c["state"] == "assigned"] == [conversation["id"]]
        assert init["me"]["presence"] == "available"
        await again.close()
        await teen.close()
        await console.close()


async def test_a_console_that_sends_heartbeats_stays_open():
    async with running_gateway(idle_config()) as gw:
        await gw.add_counsellor("camille")
        console = await Console.login(gw.http, "camille", PASSWORD)
        period = console.init["heartbeat_seconds"]
        witness, _ = await raw_console(gw, session_cookie(console))  # silent: closed after one idle time
        closed = asyncio.ensure_future(witness.wait_closed())
        while not closed.done():  # heartbeats at the page's period until the idle time has surely passed
            await console.send({"type": "heartbeat"})
            await asyncio.wait([closed], timeout=period)
        assert (witness.close_code, idle_closes(gw)) == (1001, 1)
        await console.barrier()  # still open, and a heartbeat got no answer (nor an error)
        console.assert_none("error")
        assert idle_closes(gw) == 1  # the witness only
        await console.close()


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_the_page_keeps_its_socket_open_and_reconnects_after_an_idle_close(browser):
    async with running_gateway(idle_config()) as gw:
        await gw.add_counsellor("camille")
        page = await console_login(browser, gw.http, "camille")
        cookies = await page.context.cookies()
        witness, _ = await raw_console(gw, "; ".join(f"{c['name']}={c['value']}" for c in cookies))
        for _ in range(3):  # three idle timeouts: each witness, silent, is closed as idle
            async with asyncio.timeout(IDLE * 4):
                await witness.wait_closed()
            witness, _ = await raw_console(gw, "; ".join(f"{c['name']}={c['value']}" for c in cookies))
        await witness.close()
        assert idle_closes(gw) == 3  # the witnesses only: the page's own socket stayed open
        await expect(page.locator("#connection-banner")).to_be_hidden()

        # Its heartbeat stopped (a frozen tab): closed as idle, and the page comes back by itself.
        await page.evaluate("""() => {
            window.inits = 0;
            window.Console3018.on('init', () => { window.inits += 1; });
            clearInterval(window.Console3018.state.ws.heartbeatTimer);
        }""")
        await page.wait_for_function("window.inits >= 1", timeout=IDLE * 4 * 1000)  # a new socket's init
        assert idle_closes(gw) == 4  # the three witnesses, then the page's own
        await expect(page.locator("#app")).to_be_visible()  # still logged in, no login form
        await expect(page.locator("#connection-banner")).to_be_hidden()
        await page.context.close()
