"""Erasing on request in a real headless Chromium: a supervisor erases a teen's conversation
from the danger zone at the bottom of the supervision page (/console/supervision), apart from
every other action: pick the conversation, then type its pseudonym to enable the button (never
the browser's confirm()); the conversation is closed (the teen is told), its texts are gone
from the store, and a refusal is shown in the form.

The page enforces `script-src 'self'; style-src 'self'`: the test fails on any inline script,
style or handler the browser refuses.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from gateway.domain.model import Role
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_supervision import open_supervision

EXPLANATION = ("La conversation sera close et son contenu effacé définitivement (demande du jeune). "
               "Les chiffres anonymes sont gardés.")


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_a_supervisor_erases_a_conversation_only_after_typing_its_pseudonym(browser):
    async with running_gateway(make_config()) as gw:
        camille = await gw.on_duty("camille", "Camille", max_conversations=1)
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await open_supervision(browser, gw.http, "sam")
        page.on("dialog", lambda d: pytest.fail(f"unexpected browser dialog: {d.message}"))

        teen = await Widget.connect(gw.ws)
        await teen.say("MARQUEUR-EFFACEMENT je veux que tout soit supprimé")
        conversation = await camille.assigned()
        alias = conversation["alias"]
        other = await Widget.connect(gw.ws)  # Camille is full: this one waits, and is left alone
        await other.say("bonjour, je peux parler à quelqu'un ?")
        await other.state(lambda c: c["state"] == "queued")
        assert await gw.helpline.store.messages(conversation["id"])

        # No erase button beside "Réattribuer" any more: erasing lives in the danger zone only.
        await expect(page.locator("#sup-queue-rows tr")).to_have_count(1)
        camille_row = page.locator("#sup-team-rows tr").filter(has_text="Camille")
        await expect(camille_row.locator(".sup-conv")).to_contain_text(alias)
        await expect(page.locator("#sup-queue-rows, #sup-team-rows, #sup-watch-rows")
                     .get_by_role("button", name=re.compile("Effacer"))).to_have_count(0)
        zone = page.locator("#erase-zone")
        await expect(zone.get_by_role("heading")).to_have_text(
            "Zone sensible : effacer une conversation à la demande du jeune")
        await expect(page.locator("#erase-explain")).to_have_text(EXPLANATION)
        send = page.locator("#erase-send")
        await expect(send).to_be_disabled()

        # Picked, but the pseudonym not typed (or mistyped): the button stays disabled.
        await expect(page.locator("#erase-conv option")).to_have_count(3)  # the prompt, the waiting one, Camille's
        await page.select_option("#erase-conv", conversation["id"])
        await expect(page.locator("#erase-conv option:checked")).to_have_text(f"{alias} — avec Camille")
        await expect(page.locator("#erase-alias")).to_have_text(f" « {alias} »")
        await expect(send).to_be_disabled()
        await page.fill("#erase-typed", "Jeune 0000")
        await expect(send).to_be_disabled()
        await page.press("#erase-typed", "Enter")  # submitting anyway sends nothing
        await page.locator("#erase-form").evaluate("form => form.requestSubmit()")
        assert await gw.helpline.store.messages(conversation["id"])
        assert (await gw.helpline.store.get_conversation(conversation["id"])).is_open

        # A refusal (here an unknown conversation) is shown in the form; nothing is erased.
        await page.locator("#erase-conv").evaluate(
            "select => { const o = select.selectedOptions[0]; o.value = 'inconnu'; o.dataset.alias = 'Jeune 0000'; }")
        await page.fill("#erase-typed", "Jeune 0000")
        await send.click()
        await expect(page.locator("#erase-error")).to_contain_text("Conversation inconnue")
        assert await gw.helpline.store.messages(conversation["id"])

        # Picked again, typed right (case and spaces do not matter): erased.
        await page.select_option("#erase-conv", conversation["id"])
        await expect(page.locator("#erase-error")).to_be_hidden()
        await page.fill("#erase-typed", "  " + alias.lower() + " ")
        await expect(send).to_be_enabled()
        await send.click()
        await expect(page.locator("#sup-notice")).to_have_text(
            f"{alias} : conversation close et effacée. Les chiffres anonymes sont gardés.")
        await teen.state(lambda c: c["state"] == "closed")
        await camille.next("conversation", where=lambda f: f["conversation"]["id"] == conversation["id"]
                           and f["conversation"]["state"] == "closed")
        assert await gw.helpline.store.messages(conversation["id"]) == []
        erased = await gw.helpline.store.get_conversation(conversation["id"])
        assert erased.erased_at is not None and erased.reply_to is None and "MARQUEUR" not in repr(erased)
        await expect(page.locator("#erase-typed")).to_have_value("")
        await expect(send).to_be_disabled()
        await expect(page.locator("#erase-conv")).to_have_value("")
        await expect(camille_row.locator(".sup-conv").filter(has_text=alias)).to_have_count(0)
        await expect(page.get_by_text("MARQUEUR-EFFACEMENT")).to_have_count(0)

        # The waiting teen was not touched (Camille, free again, now has them).
        other_id = (await camille.assigned())["id"]
        assert other_id != conversation["id"] and await gw.helpline.store.messages(other_id)

        await zone.scroll_into_view_if_needed()
        assert page.csp_errors == [] and page.js_errors == []
        for client in (teen, other, camille):
            await client.close()
