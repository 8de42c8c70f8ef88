"""In a real headless Chromium: the teen's post-chat question on the widget, and the
counsellor's care pause after a conversation triage raised for suicide (issue #12, items 8, 9)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from gateway.core.survey import helped
from gateway.domain.model import Presence, Role
from tests.browser import chromium
from tests.harness import make_config, running_gateway
from tests.test_browser_e2e import open_console, open_widget
from tests.test_browser_supervision import open_supervision


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def close_in_console(console) -> None:
    await console.click("#close-conversation")
    await console.click("#close-confirm")


async def test_the_teen_answers_the_post_chat_question_with_one_tap(browser):
    config = make_config(casework={"post_chat_question": True})
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille", "Camille")
        teen = await open_widget(browser, gw.http)
        await teen.fill("#w3018-input", "on m'insulte sur snap")
        await teen.click("#w3018-send")
        console = await open_console(browser, gw.http, "camille")
        await console.locator(".conv-item").first.click()
        await console.fill("#reply-input", "Je suis là, raconte-moi.")
        await console.click("#reply-send")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text("Je suis là")
        await close_in_console(console)

        survey = teen.locator("#w3018-survey")
        await expect(survey).to_contain_text("Est-ce que cet échange t'a aidé ?")
        await expect(survey.locator("button")).to_have_text(["Oui", "Un peu", "Pas vraiment"])
        await survey.get_by_role("button", name="Un peu").click()
        await expect(survey).to_contain_text("Merci pour ta réponse")
        await expect(survey.locator("button")).to_have_count(0)
        assert await helped(gw.helpline, gw.clock.now()) == {"oui": 0, "un_peu": 1, "non": 0}


async def test_a_care_pause_is_offered_after_a_suicidal_teen_and_shown_to_the_supervisor(browser):
    async with running_gateway(make_config(casework={"care_pause_minutes": 12})) as gw:
        await gw.add_counsellor("camille", "Camille")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        teen = await open_widget(browser, gw.http)
        await teen.fill("#w3018-input", "j'ai envie de mourir")
        await teen.click("#w3018-send")
        console = await open_console(browser, gw.http, "camille")
        await console.locator(".conv-item").first.click()
        await console.fill("#reply-input", "Je suis là. Tu es en sécurité en ce moment ?")
        await console.click("#reply-send")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text("Je suis là")
        await close_in_console(console)

        take = console.locator("#care-take")
        await expect(take).to_have_text("Prendre une pause de 12 minutes")
        await take.click()
        await expect(console.locator("#care-text")).to_have_text("Pause de soin : encore 12 minutes")
        await expect(console.locator("#presence")).to_have_value("paused")
        assert (await gw.helpline.store.counsellor_by_username("camille")).care_until is not None

        supervisor = await open_supervision(browser, gw.http, "sam")
        await expect(supervisor.locator('.sup-member[data-care="yes"]')).to_contain_text("pause de soin")

        gw.clock.advance(13 * 60)  # the pause is over: "Reprendre" is proposed, never automatic
        await console.clock.install()  # the page counts on its own clock: move it as far
        await console.clock.fast_forward("13:00")
        resume = console.locator("#care-resume")
        await expect(resume).to_be_visible(timeout=10_000)
        await expect(console.locator("#care-text")).to_have_text("Pause de soin terminée")
        assert (await gw.helpline.store.counsellor_by_username("camille")).presence is Presence.PAUSED
        await resume.click()
        await expect(console.locator("#presence")).to_have_value("available")
        await expect(console.locator("#care-bar")).to_be_hidden()
        assert supervisor.js_errors == [] and supervisor.csp_errors == []


async def test_a_care_pause_is_offered_once_a_heavy_category_is_qualified(browser):
    from tests.test_browser_casework import close_open_conversation, console_page, teen_with_counsellor, tick
    async with running_gateway(make_config(casework={"care_pause_minutes": 10})) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, _ = await teen_with_counsellor(gw, page, "il me fait du chantage avec une vidéo")
        await close_open_conversation(page)
        await expect(page.locator("#qualify-form")).to_be_visible()
        take = page.locator("#care-take")
        for field, value in (("caller", "jeune"), ("age_band", "15_17"), ("categories", "sextorsion"),
                             ("outcomes", "ecoute_conseil")):
            await tick(page, field, value).check()
        await page.click("#qualify-send")
        await expect(take).to_have_text("Prendre une pause de 10 minutes")
        await teen.close()

