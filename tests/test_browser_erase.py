"""Erasing on request in a real headless Chromium: a supervisor erases a teen's conversation
from the supervision tab, through a small confirmation form (never the browser's confirm());
the conversation is closed (the teen is told), its texts are gone from the store, and a
refusal is shown in the form.

The console page enforces `script-src 'self'; style-src 'self'`: the test fails on any
inline script, style or handler the browser refuses.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from gateway.domain.model import Role
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_supervision import open_console

EXPLANATION = ("La conversation sera close et son contenu effacé définitivement (demande du jeune). "
               "Les chiffres anonymes sont gardés.")


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_a_supervisor_erases_an_assigned_conversation_from_the_supervision_tab(browser):
    async with running_gateway(make_config()) as gw:
        camille = await gw.on_duty("camille", "Camille", max_conversations=1)
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await open_console(browser, gw.http, "sam", presence=None)
        page.on("dialog", lambda d: pytest.fail(f"unexpected browser dialog: {d.message}"))

        teen = await Widget.connect(gw.ws)
        await teen.say("MARQUEUR-EFFACEMENT je veux que tout soit supprimé")
        conversation = await camille.assigned()
        alias = conversation["alias"]
        other = await Widget.connect(gw.ws)  # Camille is full: this one waits, and is left alone
        await other.say("bonjour, je peux parler à quelqu'un ?")
        await other.state(lambda c: c["state"] == "queued")
        assert await gw.helpline.store.messages(conversation["id"])

        await page.click("#tab-supervision")
        queue_row = page.locator("#sup-queue-rows tr")
        await expect(queue_row).to_have_count(1)
        await expect(queue_row.get_by_role("button", name=re.compile("^Effacer .* \\(en file, n° 1\\)$"))).to_be_visible()
        camille_row = page.locator("#sup-team-rows tr").filter(has_text="Camille")
        erase = camille_row.get_by_role("button", name=f"Effacer {alias} (avec Camille)")
        await expect(erase).to_have_text("Effacer")

        # The form says what will happen; Annuler changes nothing and gives focus back.
        form = page.locator("#erase-form")
        await erase.click()
        await expect(form).to_be_visible()
        await expect(page.locator("#erase-title")).to_have_text(f"Effacer {alias} (avec Camille)")
        await expect(page.locator("#erase-explain")).to_have_text(EXPLANATION)
        await expect(page.locator("#erase-cancel")).to_be_focused()
        await page.click("#erase-cancel")
        await expect(form).to_be_hidden()
        await expect(erase).to_be_focused()
        assert await gw.helpline.store.messages(conversation["id"])
        assert (await gw.helpline.store.get_conversation(conversation["id"])).is_open

        # A refusal (here an unknown conversation) is shown in the form; nothing is erased.
        await erase.click()
        await form.evaluate("form => { form.dataset.conv = 'inconnu'; form.requestSubmit(); }")
        await expect(page.locator("#erase-error")).to_contain_text("Conversation inconnue")
        await expect(page.locator("#erase-send")).to_be_enabled()
        await expect(form).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(form).to_be_hidden()
        assert await gw.helpline.store.messages(conversation["id"])

        # Confirmed: closed (the teen is told), erased, and gone from the supervisor's view.
        await erase.click()
        await expect(page.locator("#erase-error")).to_be_hidden()
        await page.click("#erase-send")
        await expect(page.locator("#sup-notice")).to_have_text(
            f"{alias} : conversation close et effacée. Les chiffres anonymes sont gardés.")
        await expect(form).to_be_hidden()
        await teen.state(lambda c: c["state"] == "closed")
        await camille.next("conversation", where=lambda f: f["conversation"]["id"] == conversation["id"]
                           and f["conversation"]["state"] == "closed")
        assert await gw.helpline.store.messages(conversation["id"]) == []
        erased = await gw.helpline.store.get_conversation(conversation["id"])
        assert erased.erased_at is not None and erased.reply_to is None and "MARQUEUR" not in repr(erased)
        await expect(camille_row.locator(".sup-conv").filter(has_text=alias)).to_have_count(0)
        await expect(page.get_by_text("MARQUEUR-EFFACEMENT")).to_have_count(0)

        # The waiting teen was not touched (Camille, free again, now has them).
        other_id = (await camille.assigned())["id"]
        assert other_id != conversation["id"] and await gw.helpline.store.messages(other_id)

        assert page.csp_errors == []
        for client in (teen, other, camille):
            await client.close()
