"""A teen in danger, in a real Chromium (issue #11): the warm reply with 3114 reaches the
widget at once, danger split across two messages included, and the counsellor who takes the
conversation sees it raised. Messenger and WhatsApp get the same reply: tests/test_danger_reply.py."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from gateway.domain.message_templates import DEFAULT_MESSAGES
from tests.browser import chromium
from tests.harness import make_config, running_gateway
from tests.test_browser_widget_layout import open_panel, send, teen_page


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_danger_split_across_two_messages_gets_the_reply_with_3114_once(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, "j'ai envie", stored=1)
        system = page.locator('.w3018-msg[data-from="system"]')
        await expect(system).to_have_count(1)  # the ordinary queued notice
        await expect(system.first).not_to_contain_text("3114")
        await send(page, "de mourir", stored=2)
        danger = system.filter(has_text="3114")
        await expect(danger).to_have_count(1)
        await expect(danger).to_contain_text("prend très au sérieux")
        await send(page, "je veux mourir", stored=3)  # raised already: no second reply
        camille = await gw.on_duty("camille", "Camille")
        conversation = await camille.assigned()
        assert conversation["priority"] > 0 and "suicid" in conversation["priority_reason"].lower()
        await expect(page.locator("#w3018-status")).to_have_text("Camille est avec toi.")
        await expect(danger).to_have_count(1)
        await camille.close()


async def test_out_of_hours_danger_is_answered_with_3114_first(browser):
    from tests.scenes import SUNDAY_15H
    async with running_gateway(make_config(), at=SUNDAY_15H) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await page.fill("#w3018-input", "je veux en finir")
        await page.click("#w3018-send")
        answer = page.locator('.w3018-msg[data-from="system"]')
        await expect(answer).to_contain_text("3114")
        await expect(answer).to_contain_text(DEFAULT_MESSAGES["danger_closed"].split("(")[0].strip())
