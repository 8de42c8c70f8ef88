"""Frames awaiting their answer, in a real headless Chromium (console/requests.js): a request
the server refuses, and one whose answer is lost with the connection.

The console's WebSocket goes through Playwright's `route_web_socket`: every frame is passed
on to the real gateway unchanged except the one a test holds back, so what the page sees
is what the gateway answered (or the silence of a dropped connection).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_supervision import open_console


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def console_page(browser, base: str, username: str, page_frame, server_frame=None) -> Page:
    """A logged-in console whose socket frames pass through `page_frame(ws, server, text)`
    (page → gateway) and, if given, `server_frame(ws, text)` (gateway → page)."""
    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ws.on_message(lambda text: page_frame(ws, server, text))
        if server_frame:
            server.on_message(lambda text: server_frame(ws, text))

    return await open_console(browser, base, username, socket_route=route)


async def test_a_transfer_lost_with_the_connection_says_so_and_can_be_sent_again(browser):
    dropped: list[asyncio.Task] = []

    def page_frame(ws, server, text):
        if json.loads(text).get("type") == "transfer" and not dropped:
            # The connection drops before the gateway ever reads the transfer.
            dropped.append(asyncio.get_running_loop().create_task(ws.close()))
        else:
            server.send(text)

    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille", page_frame)
        teen = await Widget.connect(gw.ws)
        await teen.say("quelqu'un a volé mon compte insta")
        item = page.locator(".conv-item")
        await expect(item).to_have_count(1)
        await item.click()
        lea = await gw.on_duty("lea", "Léa")

        await page.click("#transfer-open")
        colleague = page.locator("#transfer-colleagues .colleague").filter(has_text="Léa")
        await colleague.locator("input").check()
        await page.click("#transfer-send")
        await expect(page.locator("#transfer-error")).to_contain_text("Connexion perdue : le transfert n’a peut-être pas abouti")
        await expect(page.locator("#transfer-send")).to_be_enabled()
        await expect(page.locator("#connection-banner")).to_be_hidden()  # back, with a fresh init
        await expect(item).to_have_count(1)
        store = gw.helpline.store
        camille = await store.counsellor_by_username("camille")
        assert len(await store.conversations_of(camille.id)) == 1  # nothing moved

        await page.click("#transfer-send")  # the same form, sent again: now it goes
        await expect(page.locator(".notice-info")).to_contain_text("transférée à Léa")
        await expect(item).to_have_count(0)
        await lea.assigned()
        assert page.csp_errors == []
        for client in (teen, lea):
            await client.close()


async def test_a_reply_the_gateway_refuses_is_offered_again_at_once(browser):
    def page_frame(ws, server, text):
        server.send(text)

    def server_frame(ws, text):
        frame = json.loads(text)
        if frame.get("type") == "init":
            frame.pop("limits", None)  # a page not told the limit: the gateway still holds it
            text = json.dumps(frame)
        ws.send(text)

    async with running_gateway(make_config(limits={"max_message_chars": 60})) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille", page_frame, server_frame)
        teen = await Widget.connect(gw.ws)
        await teen.say("on a piraté mon compte")
        await page.locator(".conv-item").click()
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text("piraté")

        await page.fill("#reply-input", "x" * 61)
        await page.click("#reply-send")
        refused = page.locator("#messages .msg.pending")
        await expect(refused).to_have_class("msg msg-counsellor pending failed")
        await expect(refused.locator(".msg-status")).to_have_text("non confirmé")
        await expect(refused.locator(".msg-retry")).to_be_visible()
        await expect(page.locator(".notice").last).to_contain_text("60 caractères")
        assert page.csp_errors == []
        await teen.close()
