"""The supervision page's "Droits des jeunes" in a real headless Chromium (issue #14, item 7): a
supervisor finds a teen's conversation by pseudonym, downloads its export (txt and json: the
texts, never the internal note) and erases it after typing the pseudonym (the danger zone's
rule, shared with erase.js); on a 360×740 phone and at 200 % zoom the section is usable without
horizontal scrolling, with the page's CSP in force (any inline script or style the browser refuses
fails the test); axe-core finds no serious violation.
"""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from gateway.domain.model import Role
from tests.axe import axe_violations, describe
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import PASSWORD, make_config, running_gateway

TEEN_TEXT = "MARQUEUR-EXPORT quelqu'un a piraté mon compte"
REPLY_TEXT = "On va sécuriser ton compte ensemble."
NOTE_TEXT = "NOTE-INTERNE ne pas exporter"
SIZES = {"desktop": ({"width": 1280, "height": 800}, 1), "phone": ({"width": 360, "height": 740}, 2),
         "zoom200": ({"width": 640, "height": 400}, 2)}


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def open_page(browser, base: str, size: str, for_axe: bool = False):
    """The supervision page as Sam; `for_axe` bypasses the CSP only so that axe can be injected."""
    viewport, scale = SIZES[size]
    context = await browser.new_context(viewport=viewport, device_scale_factor=scale, bypass_csp=for_axe,
                                        accept_downloads=True)
    page = await context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("console", lambda m: page.js_errors.append(m.text) if "Content Security Policy" in m.text else None)
    answer = await page.request.post(f"{base}/api/console/login", data={"username": "sam", "password": PASSWORD},
                                     headers={"Origin": base})
    assert answer.ok, await answer.text()
    await page.goto(f"{base}/console/supervision")
    await expect(page.locator("#privacy-zone")).to_be_visible()
    return page


async def a_closed_chat(gw) -> dict:
    """Camille answers a widget teen, writes an internal note and closes the chat."""
    async with await gw.on_duty("camille", "Camille") as camille:
        teen = await Widget.connect(gw.ws)
        await teen.say(TEEN_TEXT)
        conversation = await camille.assigned()
        await camille.reply(conversation["id"], REPLY_TEXT)
        await camille.send({"type": "note", "conversation_id": conversation["id"], "text": NOTE_TEXT})
        await camille.message(conversation["id"], where=lambda m: m["from"] == "note")
        await camille.send({"type": "close", "conversation_id": conversation["id"]})
        await camille.next("conversation", where=lambda f: f["conversation"]["state"] == "closed")
        await teen.close()
    return conversation


async def download(page, button) -> str:
    async with page.expect_download() as waiting:
        await button.click()
    saved = await (await waiting.value).path()
    return saved.read_text(encoding="utf-8")


async def test_a_supervisor_finds_by_pseudonym_exports_and_erases(browser):
    async with running_gateway(make_config()) as gw:
        conversation = await a_closed_chat(gw)
        alias = conversation["alias"]
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await open_page(browser, gw.http, "desktop", for_axe=True)
        page.on("dialog", lambda d: pytest.fail(f"unexpected browser dialog: {d.message}"))

        await page.select_option("#privacy-by", "alias")
        await expect(page.locator("#privacy-id")).to_be_hidden()
        await page.fill("#privacy-alias", alias)
        await page.click("#privacy-search")
        result = page.locator(".privacy-result")
        await expect(result).to_have_count(1)
        await expect(result).to_contain_text(alias)
        await expect(result).to_contain_text("terminée")
        await expect(page.locator("#privacy-status")).to_contain_text("1 conversation")

        text = await download(page, result.get_by_role("button", name="Exporter en texte", exact=False))
        assert TEEN_TEXT in text and REPLY_TEXT in text and "Camille" in text and NOTE_TEXT not in text
        document = json.loads(await download(page, result.get_by_role("button", name="Exporter en JSON", exact=False)))
        assert [m["text"] for m in document["messages"] if m["from"] != "automatique"] == [TEEN_TEXT, REPLY_TEXT]

        violations = await axe_violations(page)
        assert not violations, describe(violations, "the supervision page with a search result")

        await result.get_by_role("button", name="Effacer", exact=False).click()
        send = page.locator("#privacy-erase-send")
        await expect(page.locator("#privacy-erase-alias")).to_have_text(f" « {alias} »")
        await expect(send).to_be_disabled()
        await page.fill("#privacy-erase-typed", "Jeune 0000")
        await expect(send).to_be_disabled()
        await page.locator("#privacy-erase-form").evaluate("form => form.requestSubmit()")
        assert await gw.helpline.store.messages(conversation["id"])  # nothing sent with the wrong pseudonym
        await page.fill("#privacy-erase-typed", alias.lower())
        await expect(send).to_be_enabled()
        await send.click()
        await expect(result).to_contain_text("effacée")
        await expect(result.get_by_role("button")).to_have_count(0)  # nothing left to export or erase
        await expect(page.locator("#sup-notice")).to_contain_text("effacée")
        assert await gw.helpline.store.messages(conversation["id"]) == []
        assert (await gw.helpline.store.get_conversation(conversation["id"])).erased_at is not None
        assert page.js_errors == []


@pytest.mark.parametrize("size", ["phone", "zoom200"])
async def test_the_rights_section_is_usable_on_a_phone_and_at_200_percent(browser, size):
    async with running_gateway(make_config()) as gw:
        conversation = await a_closed_chat(gw)
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await open_page(browser, gw.http, size)
        await page.select_option("#privacy-by", "alias")
        await page.fill("#privacy-alias", conversation["alias"])
        await page.locator("#privacy-search").click()
        result = page.locator(".privacy-result")
        await expect(result).to_have_count(1)
        await result.get_by_role("button", name="Effacer", exact=False).click()
        await expect(page.locator("#privacy-erase-typed")).to_be_focused()
        for node in ("#privacy-search", ".privacy-result", "#privacy-erase-send"):
            box = await page.locator(node).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size][0]["width"] + 1, (size, node)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), size
        assert page.js_errors == []
