"""In a real Chromium: a passing outage needs no click, and a console that was away gets back
every line of every conversation it holds (issue #10, items 3 and 4)."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import expect

from connectors.web_widget import WIDGET_HUB
from gateway.domain.errors import StoreError
from gateway.domain.events import MessageAdded
from gateway.domain.model import Author
from gateway.http.console import CONSOLE_HUB
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_e2e import open_console, open_widget


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_the_widget_sends_again_by_itself_after_a_passing_outage(browser):
    async with running_gateway(make_config()) as gw:
        write, refused = gw.helpline.teen_write, []

        async def store_away_once(*args, **kwargs):
            if not refused:
                refused.append(True)
                raise StoreError("the store is away for a moment")
            return await write(*args, **kwargs)

        gw.helpline.teen_write = store_away_once
        teen = await open_widget(browser, gw.http)
        await teen.fill("#w3018-input", "tu es là ?")
        await teen.click("#w3018-send")
        await expect(teen.locator(".w3018-note").last).to_contain_text("on renvoie ton message tout seul")
        stored = teen.locator('.w3018-msg[data-from="teen"][data-seq="1"]')
        await expect(stored).to_contain_text("tu es là ?", timeout=10_000)  # no click: sent again by itself
        await expect(teen.locator(".w3018-retry")).to_have_count(0)
        assert refused
        conversation = (await gw.helpline.store.conversations_since(0))[0]
        lines = [m.text for m in await gw.helpline.store.messages(conversation.id) if m.author is Author.TEEN]
        assert lines == ["tu es là ?"]


async def test_a_console_back_from_a_cut_gets_the_lines_of_a_conversation_not_on_screen(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        console = await open_console(browser, gw.http, "camille")
        first, second = await Widget.connect(gw.ws), await Widget.connect(gw.ws)
        await first.say("premier jeune")
        await expect(console.locator(".conv-item")).to_have_count(1)
        first_id = await console.locator(".conv-item").first.get_attribute("data-id")
        await second.say("deuxième jeune")
        await expect(console.locator(".conv-item")).to_have_count(2)
        second_id = next(i for i in [await n.get_attribute("data-id") for n in await console.locator(".conv-item").all()]
                         if i != first_id)
        await console.locator(f'.conv-item[data-id="{first_id}"] .conv-open').click()
        live = (await second.say("tu es là ?"))["message"]["seq"]  # live: the unread badge counts it
        await console.wait_for_function("([id, seq]) => window.Console3018.state.marks.get(id) === seq",
                                        arg=[second_id, live])
        badge = console.locator(f'.conv-item[data-id="{second_id}"] .badge')
        unread = int(await badge.text_content())

        released = asyncio.Event()

        async def hold(route):  # the page's reconnect waits here until the line below is stored
            await released.wait()
            await route.continue_()

        await console.route("**/api/console/me", hold)
        for session in gw.server.app[CONSOLE_HUB].sessions():
            await session.sender.ws.close(code=1001)
        await expect(console.locator("#connection-banner")).to_be_visible()
        await second.say("pendant la coupure")  # stored; this console has no socket to hear it
        released.set()
        await expect(console.locator("#connection-banner")).to_be_hidden()
        await expect(badge).to_have_text(str(unread + 1))  # resumed: the line written during the cut
        await console.locator(f'.conv-item[data-id="{second_id}"] .conv-open').click()
        await expect(console.locator('#messages .msg[data-from="teen"]').last).to_contain_text("pendant la coupure")
        for teen in (first, second):
            await teen.close()


async def test_the_console_sends_a_reply_again_by_itself_after_a_passing_outage(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        console = await open_console(browser, gw.http, "camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("allô")
        await console.locator(".conv-item .conv-open").first.click()
        reply, refused = gw.helpline.reply, []

        async def store_away_once(*args, **kwargs):
            if not refused:
                refused.append(True)
                raise StoreError("the store is away for a moment")
            return await reply(*args, **kwargs)

        gw.helpline.reply = store_away_once
        await console.fill("#reply-input", "Je suis là.")
        await console.click("#reply-send")
        answer = await teen.message(lambda m: m["from"] == "counsellor", timeout=10)  # no click on "Renvoyer"
        assert answer["text"] == "Je suis là." and refused
        await expect(console.locator("#messages .msg.pending")).to_have_count(0)
        await expect(console.locator(".msg-retry")).to_have_count(0)
        await teen.close()


async def test_a_widget_back_from_a_cut_shows_the_reply_it_missed_past_a_note(browser):
    """The page's hello names its holes (a note's among them): the reply whose event was lost
    comes back in the welcome."""
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        console = await open_console(browser, gw.http, "camille")
        teen = await open_widget(browser, gw.http)
        hellos = []
        teen.on("websocket", lambda ws: ws.on("framesent", lambda data: hellos.append(json.loads(data))
                                              if '"hello"' in data else None))
        await teen.fill("#w3018-input", "j'ai envie de mourir")  # triage: an internal note follows
        await teen.click("#w3018-send")
        item = console.locator(".conv-item").first
        await item.click()
        note = console.locator('#messages .msg[data-from="note"]')
        await expect(note).to_have_count(1)
        note_seq = int(await note.get_attribute("data-seq"))
        await console.fill("#reply-input", "Je suis là, on t'écoute.")
        await console.click("#reply-send")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_have_count(1)
        publish = gw.helpline.bus.publish

        async def lose_the_reply(event):
            if not (isinstance(event, MessageAdded) and event.message.text == "Tu peux m'en dire plus ?"):
                await publish(event)

        gw.helpline.bus.publish = lose_the_reply
        await console.fill("#reply-input", "Tu peux m'en dire plus ?")
        await console.click("#reply-send")
        await expect(console.locator("#messages .msg.pending")).to_have_count(0)
        for sessions in list(gw.server.app[WIDGET_HUB]._by_conversation.values()):
            for session in list(sessions):
                await session.sender.ws.close(code=1012)
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_have_count(2)
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]').last).to_contain_text("m'en dire plus")
        assert note_seq in hellos[-1]["missing"] and hellos[-1]["last_seq"] > note_seq, hellos
