"""Trusted-flagger notices in the console (issue #13), in a real Chromium against a real
gateway: from the open conversation a counsellor builds a notice with the teen (a refused
location is shown on its field, nothing stored), saves it as a draft, exports the printable
page (every Art. 16(2) element on it), records it sent, acknowledged and decided; a notice left
without an answer past the platform's delay shows "à relancer"."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from gateway.core import notices
from tests.axe import axe_violations, describe
from tests.browser import chromium, console_login
from tests.clients import Widget
from tests.harness import make_config, running_gateway

LOCATION = "https://discord.com/channels/111222333/444555666/777888999"
EXPLANATION = "Des photos intimes de la jeune sont diffusées sans son accord dans ce salon."
EVIDENCE = "Captures d'écran des messages, avec la date et le pseudonyme de l'auteur."


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def console_page(browser, base: str, username: str, **context) -> Page:
    return await console_login(browser, base, username, **context)


async def teen_with_counsellor(gw, page: Page) -> tuple[Widget, str]:
    teen = await Widget.connect(gw.ws)
    await teen.say("on a mis mes photos sur discord")
    item = page.locator("#conv-active .conv-item").first
    await expect(item).to_contain_text("Jeune ")
    conversation_id = await item.get_attribute("data-id")
    await item.locator(".conv-open").click()
    return teen, conversation_id


def notice_item(page: Page):
    return page.locator("#notice-list .notice-item").first


async def stored_notices(gw, conversation_id: str):
    return await gw.helpline.store.notices(conversation_id=conversation_id)


async def test_a_counsellor_creates_exports_sends_and_closes_a_notice(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)

        await page.click("#notice-open")
        await expect(page.locator("#notice-box")).to_be_visible()
        await expect(page.locator("#notice-empty")).to_be_visible()
        await page.click("#notice-new")
        await page.select_option("#notice-platform", "discord")
        await page.select_option("#notice-kind", "message")
        await page.select_option("#notice-offence", "226-2-1")
        await page.fill("#notice-locations", "https://discord.com/invite/abc")
        await page.fill("#notice-explanation", EXPLANATION)
        await page.fill("#notice-dates", "du 10 au 20 novembre 2026")
        await page.fill("#notice-evidence", EVIDENCE)
        await expect(page.locator("#notice-evidence-hint")).to_contain_text("jamais l’image elle-même")
        await page.click("#notice-save")  # consent not ticked: asked first, nothing sent
        await expect(page.locator("#notice-consent")).to_have_attribute("aria-invalid", "true")
        await page.check("#notice-consent")
        await page.click("#notice-save")  # the server refuses a Discord link that is not a message's
        await expect(page.locator("#notice-form-error")).to_contain_text("discord.com/channels")
        await expect(page.locator("#notice-locations")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#notice-locations")).to_be_focused()
        assert await stored_notices(gw, conversation_id) == []

        await page.fill("#notice-locations", LOCATION + "\n\n")
        violations = await axe_violations(page)
        assert not violations, describe(violations, "the notice form")
        await page.screenshot(path="/tmp/n4/notice-form-1280.png")
        await page.click("#notice-save")
        item = notice_item(page)
        await expect(item.locator(".notice-state")).to_have_text("Brouillon")
        await expect(page.locator("#notice-form")).to_be_hidden()
        [draft] = await stored_notices(gw, conversation_id)
        assert (draft.platform, draft.locations, draft.explanation, draft.state) == (
            "discord", (LOCATION,), EXPLANATION, "brouillon")

        await item.locator('[data-role="edit"]').click()  # a draft is edited with PATCH
        await expect(page.locator("#notice-locations")).to_have_value(LOCATION)
        await page.fill("#notice-dates", "du 10 au 21 novembre 2026")
        await page.click("#notice-save")
        await expect(page.locator("#notice-form")).to_be_hidden()
        [draft] = await stored_notices(gw, conversation_id)
        assert (draft.facts_dates, draft.evidence) == ("du 10 au 21 novembre 2026", EVIDENCE)

        async with page.context.expect_page() as opened:
            await item.locator('[data-role="export"]').click()
        export = await opened.value
        await expect(export.locator("h1")).to_contain_text("Discord")
        body = export.locator("body")
        for element in (EXPLANATION, LOCATION, "3018 — e-Enfance / 3018", "signalement@example.org",
                        "de bonne foi", "Discord Netherlands B.V.", "226-2-1", draft.dsa_category, EVIDENCE):
            await expect(body).to_contain_text(element)
        await export.close()

        await item.locator('[data-role="send"]').click()
        await page.fill("#notice-channel", "formulaire signaleur de confiance")
        await page.fill("#notice-ticket", "DSC-2026-4711")
        await page.click("#notice-step-save")
        await expect(item.locator(".notice-state")).to_have_text("Envoyé")
        await item.locator('[data-role="ack"]').click()
        await expect(item.locator(".notice-state")).to_have_text("Accusé de réception")
        await item.locator('[data-role="decide"]').click()
        await page.select_option("#notice-decision", "retire")
        await page.check("#notice-automated")
        await page.click("#notice-step-save")
        await expect(item.locator(".notice-state")).to_have_text("Décision reçue")
        await expect(item.locator('[data-role="appeal"]')).to_be_visible()
        await item.locator('[data-role="tell"]').click()  # the outcome, for the counsellor to send
        await expect(page.locator("#reply-input")).to_have_value(re.compile("^Discord a agi sur le contenu"))
        await expect(page.locator("#reply-input")).to_be_focused()
        [done] = await stored_notices(gw, conversation_id)
        assert (done.state, done.decision, done.automated, done.ticket_id, done.channel) == (
            "decision", "retire", True, "DSC-2026-4711", "formulaire signaleur de confiance")
        await teen.close()


async def test_a_notice_sent_without_answer_past_the_delay_is_marked_to_follow_up(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)
        me = (await page.evaluate("fetch('/api/console/me').then((r) => r.json())"))["me"]["id"]
        draft = await notices.create(gw.helpline, me, conversation_id, {
            "platform": "snapchat", "content_kind": "compte", "locations": ["https://www.snapchat.com/add/x"],
            "offence": "222-33-2-2", "explanation": EXPLANATION, "consent": True})
        await notices.update(gw.helpline, me, draft.id, {"state": "envoye"})
        await page.click("#notice-open")
        await expect(notice_item(page).locator(".notice-state")).to_have_text("Envoyé")
        await expect(page.locator("#notice-badge")).to_be_hidden()  # not late yet

        gw.clock.advance(49 * 3600)  # Snapchat's reminder: 48 h
        await page.click("#notice-hide")
        await page.click("#notice-open")
        await expect(notice_item(page).locator(".notice-overdue")).to_have_text("à relancer")
        await expect(page.locator("#notice-badge")).to_have_text("1 à relancer")
        await page.reload()  # the conversation list says it too
        await expect(page.locator(f'.conv-item[data-id="{conversation_id}"] .notice-relance')).to_be_visible()
        await teen.close()


async def test_the_notice_form_has_no_serious_accessibility_violation_at_200_percent_zoom(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille", viewport={"width": 640, "height": 400},
                                  device_scale_factor=2)
        teen = await Widget.connect(gw.ws)
        await teen.say("on a mis mes photos sur discord")
        toggle = page.locator("#sidebar-toggle")
        if await toggle.is_visible():
            await expect(page.locator("#conv-active .conv-item")).to_have_count(1)
        await page.locator("#conv-active .conv-item .conv-open").first.click()
        await page.click("#notice-open")
        await page.click("#notice-new")
        await expect(page.locator("#notice-platform")).to_be_focused()
        violations = await axe_violations(page)
        assert not violations, describe(violations, "the notice form at 200 % zoom")
        await page.screenshot(path="/tmp/n4/notice-form-200.png")
        await teen.close()
