"""A returning widget teen in real Chromium: the follow-up code at the end of a chat, typed into
the console next time, then the banner and the earlier exchange read-only (issue #12, item 6)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium
from tests.axe import axe_violations, describe
from tests.harness import PASSWORD, make_config, running_gateway
from tests.test_returning import qualify

CODE = re.compile(r"^[2-9A-HJKMNP-Z]{3}-[2-9A-HJKMNP-Z]{3}$")


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def open_widget(browser, base: str) -> Page:
    """A teen's tab (its own context: a new tab is a stranger); CSP bypassed for axe only."""
    page = await (await browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)).new_page()
    await page.goto(f"{base}/")
    await page.click("#w3018-launcher")
    await expect(page.locator("#w3018-panel")).to_be_visible()
    return page


async def open_console(browser, base: str, username: str) -> Page:
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    await page.goto(f"{base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()
    await page.select_option("#presence", "available")
    return page


async def teen_says(teen: Page, text: str) -> None:
    await teen.fill("#w3018-input", text)
    await teen.click("#w3018-send")
    await expect(teen.locator('.w3018-msg[data-from="teen"]').last).to_contain_text(text)


async def test_a_code_given_at_the_end_links_the_next_tab_and_shows_the_earlier_exchange(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        console = await open_console(browser, gw.http, "camille")

        teen = await open_widget(browser, gw.http)
        await teen_says(teen, "quelqu'un se fait passer pour moi sur insta")
        first = console.locator("#conv-active .conv-item").first
        await first.click()
        await console.fill("#reply-input", "On va voir ça ensemble.")
        await console.click("#reply-send")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text("ensemble")

        # The teen ends the chat: the code is offered, never imposed, and shown once asked.
        await teen.click("#w3018-end")
        await teen.click("#w3018-end-yes")
        await expect(teen.locator("#w3018-followup")).to_contain_text("C'est toi qui choisis")
        await expect(teen.locator("#w3018-followup-code")).to_have_count(0)
        await teen.click("#w3018-followup-ask")
        shown = teen.locator("#w3018-followup-code")
        await expect(shown).to_have_text(CODE)
        await expect(teen.locator("#w3018-followup")).to_contain_text("Si tu reviens, donne ce code")
        await expect(teen.locator("#w3018-followup-copy")).to_have_text("Copier")
        code = await shown.text_content()
        assert not (found := await axe_violations(teen)), describe(found, "the widget showing the code")
        [first_id] = [c.id for c in await gw.helpline.store.conversations_since(0) if not c.is_open]
        await qualify(gw, (await gw.helpline.store.counsellor_by_username("camille")).id, first_id,
                      {"caller": "jeune", "age_band": "13_14", "categories": ["usurpation_piratage"],
                       "outcomes": ["signalement_plateforme"], "platforms": ["instagram"]})

        # A new tab is a stranger, until the counsellor types the code the teen gives.
        new_tab = await open_widget(browser, gw.http)
        await teen_says(new_tab, "c'est encore moi, ça recommence")
        second = console.locator("#conv-active .conv-item", has_text="Jeune")
        await second.first.click()
        await expect(console.locator('#messages .msg[data-from="teen"]')).to_contain_text("ça recommence")
        await expect(console.locator("#earlier-show")).to_be_hidden()
        await console.click("#earlier-link-open")
        await console.fill("#earlier-code", "ZZZ-ZZZ")
        await console.click("#earlier-link-send")
        await expect(console.locator("#earlier-link-error")).to_contain_text("Code inconnu")
        await console.fill("#earlier-code", code.lower().replace("-", ""))
        await console.click("#earlier-link-send")

        banner = console.locator("#earlier-text")
        await expect(banner).to_have_text(re.compile(r"^2e contact — dernier le 24/11 : Usurpation"))
        await expect(banner).to_contain_text(" · Signalement à la plateforme · Instagram")
        await console.click("#earlier-show")
        await console.locator("#earlier-list button").first.click()
        earlier = console.locator("#earlier-messages")
        await expect(earlier.locator('.msg[data-from="teen"]')).to_contain_text("se fait passer pour moi")
        await expect(earlier).to_contain_text("On va voir ça ensemble.")
        await expect(console.locator("#earlier-status")).to_contain_text("lecture seule")
        assert not (found := await axe_violations(console)), describe(found, "the console's earlier exchange")
        # Read-only: the reply box still answers the teen of now, not the earlier exchange.
        assert await console.evaluate("document.querySelectorAll('#earlier-box textarea, #earlier-box input').length") == 0
