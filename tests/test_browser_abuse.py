"""Abuse marks in a real headless Chromium: a counsellor marks a teen abusive through the
console, the teen's next message is answered automatically and never queued, a supervisor
sees the mark in the supervision tab and lifts it, and the teen is assigned again.

The console page enforces `script-src 'self'; style-src 'self'`: the test fails on any
inline script, style or handler the browser refuses.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from gateway.domain.model import CloseReason, Role
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_supervision import open_console, open_supervision

EXPLANATION = ("Ses nouveaux messages recevront une réponse automatique et n’entreront pas dans la file ; "
               "la conversation sera close.")
# The gateway's clock is Tuesday 24 November 2026, 10:00 in Paris: a 24-hour mark ends the next day.
UNTIL = "mercredi 25 novembre à 10:00"


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_a_counsellor_marks_a_teen_abusive_and_a_supervisor_lifts_it(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await open_console(browser, gw.http, "camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("message insultant")
        item = page.locator("#conv-active .conv-item")
        await expect(item).to_have_count(1)
        alias = (await page.locator("#conv-active .conv-name").inner_text()).strip()
        await item.click()
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text("message insultant")

        # The form: two durations, what happens in one line, a confirm button (no browser dialog).
        page.on("dialog", lambda d: pytest.fail(f"unexpected browser dialog: {d.message}"))
        await page.click("#abuse-open")
        form = page.locator("#abuse-form")
        await expect(form).to_be_visible()
        await expect(page.locator("#abuse-title")).to_have_text(f"Signaler {alias} comme abusif")
        await expect(page.locator("#abuse-explain")).to_have_text(EXPLANATION)
        await expect(page.get_by_label("24 heures")).to_be_checked()
        await expect(page.get_by_label("7 jours")).not_to_be_checked()
        assert await gw.helpline.store.abuse_marks(gw.clock.now()) == []

        # A refused duration says why in the form, and nothing changes.
        await page.locator("#abuse-hours-24").evaluate("input => { input.value = '3' }")
        await page.click("#abuse-send")
        await expect(page.locator("#abuse-error")).to_contain_text("24 heures ou 7 jours")
        await expect(page.locator("#abuse-send")).to_be_enabled()
        await page.locator("#abuse-hours-24").evaluate("input => { input.value = '24' }")

        await page.click("#abuse-send")
        notice = page.locator(".notice-info")
        await expect(notice).to_contain_text(f"{alias} est signalé comme abusif jusqu’au {UNTIL}")
        await expect(form).to_be_hidden()
        await expect(page.locator("#conv-closed-note")).to_be_visible()
        await expect(page.locator("#abuse-open")).to_be_hidden()
        await expect(page.locator("#conv-active .conv-item")).to_have_count(0)
        await expect(page.locator("#conv-qualify .conv-item")).to_have_count(1)  # closed, still to qualify
        await teen.state(lambda c: c["state"] == "closed")
        [conversation] = [c for c in await gw.helpline.store.conversations_since(0)]
        assert conversation.close_reason is CloseReason.ABUSE

        # The teen writes again: an automatic answer, no queue, nothing for the counsellor.
        teen.buffer.clear()  # frames of the conversation that was just closed
        await teen.say("encore moi")
        reply = await teen.message(lambda m: m["from"] == "system" and "ne peut pas te répondre" in m["text"])
        assert "119" in reply["text"]
        assert await gw.helpline.store.queue() == []
        await teen.barrier()  # the answer came: had it been queued, its state would be here
        teen.assert_none("state", where=lambda c: c["conversation"]["state"] in ("queued", "assigned"))
        await expect(page.locator("#conv-active .conv-item")).to_have_count(0)

        # The supervisor sees the mark (pseudonym and end only) and lifts it.
        sup = await open_supervision(browser, gw.http, "sam")  # its own page now (H6)
        rows = sup.locator("#sup-abuse-rows tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first.locator("th")).to_have_text(alias)
        await expect(rows.first.locator(".sup-until")).to_have_text(UNTIL)
        await expect(sup.locator("#sup-abuse-empty")).to_be_hidden()

        # A lift the server refuses (the mark is unknown) shows its reason; the mark stays.
        await rows.first.get_by_role("button").evaluate("b => { b.dataset.mark = 'inconnu'; b.click(); }")
        await expect(sup.locator("#sup-abuse-error")).to_contain_text("n'existe plus")
        await expect(rows).to_have_count(1)

        await rows.first.get_by_role("button", name=re.compile("Lever le signalement de " + re.escape(alias))).click()
        await expect(sup.locator("#sup-notice")).to_contain_text(f"{alias} : signalement levé")
        await expect(sup.locator("#sup-abuse-error")).to_be_hidden()
        await expect(rows).to_have_count(0)
        await expect(sup.locator("#sup-abuse-empty")).to_be_visible()
        assert await gw.helpline.store.abuse_marks(gw.clock.now()) == []
        # A later snapshot does not bring it back: move the feed's clock on, wait for the page
        # to show that snapshot's time, then look again.
        gw.clock.advance(60)
        later = await sup.evaluate("ms => new Date(ms).toLocaleTimeString('fr-FR')", int(gw.clock.now() * 1000))
        await expect(sup.locator("#sup-updated")).to_contain_text(later)
        await expect(rows).to_have_count(0)

        # Lifted: the teen's next message enters the queue and is assigned again.
        await teen.say("je suis désolé, j'ai vraiment besoin d'aide")
        assert (await teen.state(lambda c: c["state"] == "assigned"))["counsellor"] == "Camille"
        again = page.locator("#conv-active .conv-item")
        await expect(again).to_have_count(1)
        await expect(again).to_contain_text(alias)

        assert page.csp_errors == [] and sup.csp_errors == []
        await teen.close()
