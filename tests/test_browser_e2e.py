"""End to end in a real headless Chromium: the teen's widget and the counsellor's console."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium
from tests.harness import PASSWORD, make_config, running_gateway

EXIT_URL = "https://www.google.fr/"


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def open_widget(browser, base: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 360, "height": 740})).new_page()
    # The quick exit leaves for a real site, unreachable here: answer it locally.
    await page.route(f"{EXIT_URL}**", lambda route: route.fulfill(body="<h1>Google</h1>", content_type="text/html"))
    await page.goto(f"{base}/")
    await page.click("#w3018-launcher")
    await expect(page.locator("#w3018-panel")).to_be_visible()
    return page


async def open_console(browser, base: str, username: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()
    await page.select_option("#presence", "available")
    return page


async def test_teen_writes_counsellor_answers_reload_keeps_it_and_quick_exit_leaves(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        teen = await open_widget(browser, gw.http)
        await expect(teen.locator("#w3018-line")).to_have_text("Ouvert")
        await teen.fill("#w3018-input", "quelqu'un a volé mon compte insta")
        await teen.click("#w3018-send")
        await expect(teen.locator('.w3018-msg[data-from="teen"]')).to_contain_text("volé mon compte")
        await expect(teen.locator("#w3018-status")).to_contain_text("file")

        console = await open_console(browser, gw.http, "camille")
        item = console.locator(".conv-item").first
        await expect(item).to_contain_text("Jeune ")
        await item.click()
        await expect(console.locator('#messages .msg[data-from="teen"]')).to_contain_text("volé mon compte insta")
        await console.fill("#reply-input", "On va t'aider à le récupérer. Tu as encore accès à ton mail ?")
        await console.click("#reply-send")

        answer = teen.locator('.w3018-msg[data-from="counsellor"]')
        await expect(answer).to_contain_text("On va t'aider à le récupérer")
        await expect(teen.locator("#w3018-status")).to_contain_text("Camille")

        await teen.reload()
        await expect(teen.locator("#w3018-panel")).to_be_visible()
        await expect(teen.locator('.w3018-msg[data-from="teen"]')).to_contain_text("volé mon compte insta")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text("On va t'aider")

        await teen.click("#w3018-exit")
        await teen.wait_for_url(f"{EXIT_URL}**")
        assert await teen.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('3018')).length") == 0
        await teen.go_back()
        assert not teen.url.startswith(gw.http), "Back must not return to the helpline page"


async def test_html_in_messages_shows_as_text_on_both_sides(browser):
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>gras</b>'
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        teen = await open_widget(browser, gw.http)
        await teen.fill("#w3018-input", payload)
        await teen.click("#w3018-send")
        console = await open_console(browser, gw.http, "camille")
        await console.locator(".conv-item").first.click()
        seen = console.locator('#messages .msg[data-from="teen"]')
        await expect(seen).to_contain_text(payload)
        await console.fill("#reply-input", payload)
        await console.click("#reply-send")
        await expect(teen.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text(payload)
        for page in (teen, console):
            assert await page.evaluate("window.__pwned") is None
            assert await page.locator("img[src='x'], b:text('gras')").count() == 0


async def test_out_of_hours_widget_tells_when_the_line_reopens(browser):
    from datetime import datetime
    from tests.harness import PARIS
    async with running_gateway(make_config(), at=datetime(2026, 11, 29, 15, 0, tzinfo=PARIS)) as gw:  # Sunday
        teen = await open_widget(browser, gw.http)
        await expect(teen.locator("#w3018-line")).to_contain_text("demain à 9h")
        await teen.fill("#w3018-input", "allo ?")
        await teen.click("#w3018-send")
        reply = teen.locator('.w3018-msg[data-from="system"]')
        await expect(reply).to_contain_text("on rouvre demain à 9h")
        await expect(reply).to_contain_text("119")


async def test_console_shows_a_whatsapp_conversation_with_its_delivery_states(browser, monkeypatch):
    from meta_standin.server import StandIn
    from tests.test_meta_flow import PHONE, SECRETS
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    standin = StandIn(SECRETS["META_APP_SECRET"], SECRETS["MESSENGER_PAGE_TOKEN"], SECRETS["WHATSAPP_TOKEN"],
                      SECRETS["WHATSAPP_PHONE_NUMBER_ID"])
    await standin.start()
    try:
        async with running_gateway(make_config(meta={"graph_api_url": standin.url})) as gw:
            await gw.add_counsellor("camille", "Camille")
            console = await open_console(browser, gw.http, "camille")
            await standin.send_whatsapp_text(gw.http, PHONE, "j'ai reçu des menaces sur whatsapp")
            item = console.locator(".conv-item").first
            await expect(item).to_contain_text("WhatsApp")
            await item.click()
            await expect(console.locator("#window-status")).to_contain_text("Fenêtre de réponse")
            await console.fill("#reply-input", "Merci de nous écrire. Tu peux nous montrer un message ?")
            await console.click("#reply-send")
            mine = console.locator('#messages .msg[data-from="counsellor"]')
            await expect(mine).to_have_attribute("data-delivery", "sent")
            sent = await standin.wait_for_sent(lambda r: r.text == "Merci de nous écrire. Tu peux nous montrer un message ?")
            await standin.send_whatsapp_status(gw.http, sent.message_id, "delivered", PHONE)
            await expect(mine).to_have_attribute("data-delivery", "delivered")
            await standin.send_whatsapp_status(gw.http, sent.message_id, "read", PHONE)
            await expect(mine).to_have_attribute("data-delivery", "read")
            await expect(mine.locator(".delivery")).to_have_text("lu")

            standin.fail_next("whatsapp", 131047, when=lambda b: b["text"]["body"] == "Tu es là ?")
            await console.fill("#reply-input", "Tu es là ?")
            await console.click("#reply-send")
            failed = console.locator('#messages .msg[data-delivery="failed"]')
            await expect(failed).to_contain_text("Tu es là ?")
            await expect(failed.locator(".delivery")).to_contain_text("Non délivré")
            assert PHONE not in await console.content()
            await console.context.close()
    finally:
        await standin.stop()


async def test_both_pages_hold_the_message_limit_the_gateway_announces(browser):
    async with running_gateway(make_config(limits={"max_message_chars": 60})) as gw:
        await gw.add_counsellor("camille", "Camille")
        teen = await open_widget(browser, gw.http)
        box = teen.locator("#w3018-input")
        await expect(box).to_have_attribute("maxlength", "60")  # from `welcome.limits`
        await box.fill("a" * 53)
        await expect(teen.locator("#w3018-count")).to_have_text("")  # shown from 90 % on
        await box.fill("a" * 54)
        await expect(teen.locator("#w3018-count")).to_have_text("54 / 60")
        await box.fill("quelqu'un a volé mon compte insta")
        await teen.click("#w3018-send")

        console = await open_console(browser, gw.http, "camille")
        await console.locator(".conv-item").first.click()
        reply = console.locator("#reply-input")
        await expect(reply).to_have_attribute("maxlength", "60")  # from `init.limits`
        await reply.fill("b" * 12)
        await expect(console.locator("#reply-count")).to_have_text("12 / 60")
        await console.context.close()
        await teen.context.close()
