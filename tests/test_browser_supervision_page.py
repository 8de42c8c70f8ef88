"""The supervision page (/console/supervision) in a real headless Chromium: who may see it,
what it flags first ("À surveiller"), and that it stays usable on a second screen and at 200%.

The page declares `script-src 'self'; style-src 'self'`: these tests fail on anything the
browser's CSP refused.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from gateway.core.supervision import SILENT_AFTER_SECONDS
from gateway.domain.model import Role
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import make_config, running_gateway
from tests.test_browser_supervision import SIZES, open_console, open_supervision

SUICIDE_REASON = "Prioritaire — Idées suicidaires (« envie de mourir »)"


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_the_page_is_reserved_to_supervisors_and_says_so(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        stranger = await open_supervision(browser, gw.http, None)
        await expect(stranger.locator("#gate-login")).to_be_visible()
        await expect(stranger.locator("#gate a")).to_have_attribute("href", "/console")

        page = await open_supervision(browser, gw.http, "camille")
        await expect(page.locator("#gate-reserved")).to_have_text(re.compile("^Réservé aux superviseur·es."))
        await expect(page.locator("#app")).to_be_hidden()
        await expect(page.locator("#sup-team-rows tr")).to_have_count(0)
        assert page.sockets == [] and stranger.sockets == []  # no data asked for
        assert page.csp_errors == [] and stranger.csp_errors == []
        assert page.js_errors == [] and stranger.js_errors == []


async def test_the_console_links_supervisors_to_the_page_in_a_new_tab(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        await gw.add_counsellor("camille", "Camille")
        console = await open_console(browser, gw.http, "sam", presence=None)
        link = console.get_by_role("link", name=re.compile("Supervision ↗"))
        await expect(link).to_have_attribute("href", "/console/supervision")
        await expect(link).to_have_attribute("target", "_blank")
        async with console.context.expect_page() as opened:
            await link.click()
        page = await opened.value
        await expect(page.locator("#sup-team-rows tr")).to_have_count(2)
        counsellor = await open_console(browser, gw.http, "camille", presence=None)
        await expect(counsellor.locator("#supervision-link")).to_be_hidden()
        assert console.csp_errors == [] and counsellor.csp_errors == []


async def test_an_away_counsellor_holding_a_raised_teen_comes_first_in_a_supervisors_watch_list(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        ines = await gw.on_duty("ines", "Inès", max_conversations=1)
        silent_teen = await Widget.connect(gw.ws)
        await silent_teen.say("je sais pas quoi faire, tout le monde a vu les photos")
        silent_alias = (await ines.assigned())["alias"]
        camille = await gw.on_duty("camille", "Camille")
        raised_teen = await Widget.connect(gw.ws)
        await raised_teen.say("j'ai envie de mourir")
        raised_alias = (await camille.assigned())["alias"]
        await camille.presence("paused")

        pages = {size: await open_supervision(browser, gw.http, "sam", size) for size in SIZES}
        page = pages["1280x800"]
        flags = page.locator("#sup-watch-rows > li")
        await expect(flags).to_have_count(1)
        await expect(flags.first).to_contain_text(raised_alias)
        await expect(flags.first).to_contain_text(SUICIDE_REASON)
        await expect(flags.first).to_contain_text("Tenue par Camille")
        await expect(flags.first.locator('[data-reason="offline_holding"]')).to_contain_text("Écoutant·e en pause depuis")
        await expect(page.locator("#sup-queue-empty")).to_have_text("Personne n’attend dans la file.")

        gw.clock.advance(SILENT_AFTER_SECONDS + 10)  # nobody has answered either teen
        await expect(flags).to_have_count(2)
        await expect(flags.nth(0)).to_contain_text(raised_alias)  # the raised teen whose écoutant·e is away
        await expect(flags.nth(0)).to_have_class(re.compile(r"\bis-raised\b"))
        await expect(flags.nth(1)).to_contain_text(silent_alias)
        await expect(flags.nth(1).locator('[data-reason="silent"]')).to_contain_text("Sans réponse depuis 3 min")
        await expect(page.locator("#sup-watch-count")).to_have_text("2")
        camille_row = page.locator("#sup-team-rows tr").filter(has_text="Camille")
        await expect(camille_row).to_have_class(re.compile(r"\bis-flagged\b"))
        await expect(camille_row).to_contain_text("tient 1 conversation")

        # Reassigning straight from the watch list: to Sam? No, Sam is offline; Inès is full.
        await flags.nth(0).get_by_role("button", name=re.compile("Réattribuer")).click()
        await expect(page.locator("#reassign-title")).to_contain_text(f"Réattribuer {raised_alias} (avec Camille)")
        await expect(page.locator("#reassign-to option")).to_have_text(["Personne n’est disponible avec de la place"])
        await page.keyboard.press("Escape")

        for size, shown in pages.items():
            await expect(shown.locator("#sup-watch-rows > li")).to_have_count(2)
            # Usable: nothing wider than the screen but the scrolling team table; the flags first.
            assert await shown.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), size
            watch_top = (await shown.locator(".sup-watch").bounding_box())["y"]
            assert watch_top < SIZES[size][0]["height"], size
            assert shown.csp_errors == [] and shown.js_errors == [], size
        for client in (silent_teen, raised_teen, ines, camille):
            await client.close()
