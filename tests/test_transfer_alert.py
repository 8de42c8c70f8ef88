"""A colleague's transfer is announced as such: ConsoleConv's `transferred_from_colleague`
(docs/protocol.md "Console"), over real sockets on both stores, and the console's desktop
notification in a real headless Chromium ("Conversation transférée — Jeune N").
"""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import expect

from tests.browser import chromium
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway
from tests.test_browser_console_shift import open_console


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


async def colleague_id(console: Console, name: str) -> str:
    await console.send({"type": "team"})
    team = (await console.next("team"))["team"]
    return next(c["id"] for c in team if c["display_name"] == name)


async def test_a_conversation_a_colleague_sent_to_the_queue_says_it_was_transferred(store_url):
    config = make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("on me harcèle sur insta")
        fresh = await camille.assigned()
        assert fresh["transferred_from_colleague"] is False  # straight from the queue
        lea = await gw.on_duty("lea", "Léa", presence="paused")
        ben = await gw.on_duty("ben", "Ben")

        # Léa is paused: the head of the queue, then Ben (Camille handed it over) takes it.
        await camille.send({"type": "transfer", "conversation_id": fresh["id"],
                            "to_counsellor": await colleague_id(camille, "Léa")})
        assert (await camille.next("transferred"))["outcome"] == "queued"
        got = await ben.assigned()
        assert got["id"] == fresh["id"] and got["transferred_from_colleague"] is True
        gone = await camille.next("conversation", where=lambda f: f["conversation"]["state"] == "transferred")
        assert gone["conversation"]["transferred_from_colleague"] is False  # not "held" by Camille

        # A reload keeps saying it (init).
        again = await Console.login(gw.http, "ben", PASSWORD)
        held = next(c for c in again.init["conversations"] if c["id"] == fresh["id"])
        assert held["transferred_from_colleague"] is True
        for client in (teen, camille, lea, ben, again):
            await client.close()


async def test_a_direct_transfer_to_a_colleague_with_room_says_it_was_transferred(store_url):
    config = make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("on me harcèle sur insta")
        fresh = await camille.assigned()
        lea = await gw.on_duty("lea", "Léa")  # available, with room: the conversation goes straight to her
        await camille.send({"type": "transfer", "conversation_id": fresh["id"],
                            "to_counsellor": await colleague_id(camille, "Léa")})
        assert (await camille.next("transferred"))["outcome"] == "assigned"
        got = await lea.assigned()
        assert got["id"] == fresh["id"] and got["transferred_from_colleague"] is True
        for client in (teen, camille, lea):
            await client.close()


async def test_a_transfer_that_comes_back_to_its_sender_is_not_called_transferred(store_url):
    config = make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        fresh = await camille.assigned()
        lea = await gw.on_duty("lea", "Léa", presence="paused")
        await camille.send({"type": "transfer", "conversation_id": fresh["id"],
                            "to_counsellor": await colleague_id(camille, "Léa")})
        assert (await camille.next("transferred"))["outcome"] == "queued"
        # Nobody else has room: it comes back to Camille, who knows it already.
        back = await camille.next("conversation", where=lambda f: f["conversation"]["id"] == fresh["id"]
                                  and f["conversation"]["state"] == "assigned")
        assert back["conversation"]["transferred_from_colleague"] is False
        for client in (teen, camille, lea):
            await client.close()


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_the_console_notifies_a_transfer_as_a_transfer(browser):
    async with running_gateway(make_config()) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("il menace de publier mes photos")
        conversation = await camille.assigned()
        lea = await gw.on_duty("lea", "Léa", presence="paused")
        await gw.add_counsellor("ben", "Ben")
        page = await open_console(browser, gw.http, "ben", stubs=True)
        await page.locator("#notify-toggle").click()
        await expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")

        await camille.send({"type": "transfer", "conversation_id": conversation["id"],
                            "to_counsellor": await colleague_id(camille, "Léa")})
        await expect(page.locator("#conv-active .conv-item")).to_have_count(1)
        await page.wait_for_function("window.__notes.length >= 1")
        notes = await page.evaluate("window.__notes")
        assert notes[0]["title"] == f"Conversation transférée — {conversation['alias']}"
        assert not any(n["title"].startswith("Nouvelle conversation") for n in notes)
        assert page.errors == []
        for client in (teen, camille, lea):
            await client.close()
