"""The teen's widget in a real Chromium on the screens teens use (issue #11): the conversation
takes the room, the composer and the emergency numbers stay reachable (small phones, keyboard
open, 200 % zoom), one "Quitter vite" at a time, offline is visible, a reload lands on the
latest line, and hostile Unicode stays inside its bubble."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium
from tests.harness import make_config, running_gateway

EXIT_URL = "https://www.google.fr/"
FIRST = "Bonjour, quelqu'un a piraté mon compte Insta. Il a changé le mot de passe et il poste des trucs à ma place."
HEADER_AND_COMPOSER = ("#w3018-input", "#w3018-send", "#w3018-urgent", "#w3018-exit", ".w3018-minimise")
HANDED_BACK = "Ton écoutant·e a dû partir. Quelqu'un d'autre va te répondre, tu passes en premier."


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def teen_page(browser, base: str, width: int, height: int, scale: float = 1) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
    page = await context.new_page()
    await page.route(f"{EXIT_URL}**", lambda route: route.fulfill(body="<h1>Google</h1>", content_type="text/html"))
    await page.goto(f"{base}/")
    return page


async def open_panel(page: Page) -> None:
    await page.click("#w3018-launcher")
    await expect(page.locator("#w3018-panel")).to_be_visible()
    await expect(page.locator("#w3018-line")).not_to_have_text("On vérifie…")


async def send(page: Page, text: str, stored: int) -> None:
    """Type and send; wait until the teen's `stored`-th message is acked."""
    await page.fill("#w3018-input", text)
    await page.click("#w3018-send")
    await expect(page.locator('.w3018-msg[data-from="teen"][data-seq]')).to_have_count(stored)


async def box(page: Page, selector: str) -> dict:
    found = await page.locator(selector).bounding_box()
    assert found, f"{selector} is not rendered"
    return found


async def assert_inside_viewport(page: Page, *selectors: str) -> None:
    size = page.viewport_size
    for selector in selectors:
        b = await box(page, selector)
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= size["width"] + 0.5 \
            and b["y"] + b["height"] <= size["height"] + 0.5, f"{selector} leaves the {size} viewport: {b}"


# --------------------------------------------------------------------------- room for the conversation


@pytest.mark.parametrize(("width", "height", "share"), [(360, 740, 0.60), (320, 568, 0.50)])
async def test_the_message_list_takes_most_of_a_phone_screen_while_queued(browser, width, height, share):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, width, height)
        await open_panel(page)
        await send(page, FIRST, stored=1)
        await expect(page.locator("#w3018-status")).to_contain_text("file")
        assert (await box(page, "#w3018-panel"))["width"] == width  # full-screen on a phone
        listed = await box(page, "#w3018-messages")
        assert listed["height"] >= share * height, f"the list has {listed['height']} px of {height}"
        await expect(page.locator('.w3018-msg[data-from="teen"]')).to_be_in_viewport()  # not scrolled away
        await assert_inside_viewport(page, *HEADER_AND_COMPOSER)


async def test_at_200_percent_zoom_the_composer_stays_in_view_and_works_after_five_messages(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 640, 400, scale=2)  # 1280x800 at 200 %
        await open_panel(page)
        await assert_inside_viewport(page, "#w3018-input", "#w3018-send", "#w3018-exit")
        for n in range(1, 6):
            await send(page, f"message numéro {n} : {FIRST}", stored=n)
            await assert_inside_viewport(page, "#w3018-input", "#w3018-send", "#w3018-exit", "#w3018-urgent")
        await page.click("#w3018-urgent")  # even with the numbers open, the composer keeps its place
        await expect(page.locator('#w3018-urgences a[href="tel:3114"]')).to_be_visible()
        await assert_inside_viewport(page, "#w3018-input", "#w3018-send")


async def test_on_a_desktop_the_panel_floats_within_the_viewport(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 1280, 800)
        await open_panel(page)
        for n in range(1, 6):
            await send(page, f"{n}. {FIRST}", stored=n)
        panel = await box(page, "#w3018-panel")
        assert panel["width"] <= 420 and panel["height"] <= 800 - 32
        await assert_inside_viewport(page, "#w3018-panel", "#w3018-input", "#w3018-send")
        listed = await page.evaluate("() => { const m = document.getElementById('w3018-messages');"
                                     " return [m.scrollHeight, m.clientHeight]; }")
        assert listed[0] > listed[1], "five long messages overflow: only the list scrolls"


async def test_with_the_keyboard_open_the_composer_and_the_emergency_numbers_stay_visible(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, FIRST, stored=1)
        await page.focus("#w3018-input")
        await page.set_viewport_size({"width": 360, "height": 400})  # what a keyboard leaves
        await expect(page.locator("#w3018-panel")).to_have_js_property("offsetHeight", 400)
        await assert_inside_viewport(page, *HEADER_AND_COMPOSER)
        await page.click("#w3018-urgent")
        for number in ("3114", "17", "112", "119", "3018"):
            await expect(page.locator(f'#w3018-urgences a[href="tel:{number}"]')).to_be_in_viewport()
        await assert_inside_viewport(page, "#w3018-input", "#w3018-send")
        await page.click("#w3018-urgent")
        await expect(page.locator("#w3018-urgences")).to_be_hidden()


# --------------------------------------------------------------------------- quick exit, tab order


async def visible_quick_exits(page: Page) -> int:
    return await page.get_by_role("button", name="Quitter vite").filter(visible=True).count()


@pytest.mark.parametrize("width", [320, 360])
async def test_the_closed_widget_fits_a_small_phone_with_its_quick_exit(browser, width):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, width, 640)
        await expect(page.locator("#w3018-launcher")).to_be_visible()
        await assert_inside_viewport(page, "#w3018-launcher", "#w3018-exit-launcher")
        assert await visible_quick_exits(page) == 1


async def test_one_quick_exit_at_a_time_and_the_widget_is_first_in_the_tab_order(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 1280, 800)
        await expect(page.locator("#w3018-exit-launcher")).to_be_visible()
        assert await visible_quick_exits(page) == 1
        await page.keyboard.press("Tab")
        await expect(page.locator("#w3018-exit-launcher")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(page.locator("#w3018-launcher")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#w3018-exit")).to_be_visible()
        await expect(page.locator("#w3018-exit-launcher")).to_be_hidden()
        assert await visible_quick_exits(page) == 1
        await page.get_by_role("button", name="Réduire le tchat").click()
        await expect(page.locator("#w3018-exit-launcher")).to_be_visible()
        await expect(page.locator("#w3018-launcher")).to_be_focused()
        assert await visible_quick_exits(page) == 1
        await page.keyboard.press("Escape")
        await page.keyboard.press("Escape")
        await page.wait_for_url(f"{EXIT_URL}**")


# --------------------------------------------------------------------------- offline, reload


async def test_offline_shows_a_banner_with_the_waiting_messages_until_the_connection_is_back(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, FIRST, stored=1)
        banner = page.locator("#w3018-banner")
        await expect(banner).to_be_hidden()
        await page.context.set_offline(True)
        await expect(banner).to_be_visible()
        await expect(banner).to_have_attribute("role", "status")
        await expect(banner).to_contain_text("Tu es hors ligne. Tes messages partiront dès que la connexion revient.")
        for text in ("tu es là ?", "j'ai peur"):
            await page.fill("#w3018-input", text)
            await page.click("#w3018-send")
        await expect(banner).to_contain_text("2 messages en attente")
        await expect(page.locator(".w3018-pending")).to_have_count(2)
        await page.context.set_offline(False)
        await expect(banner).to_be_hidden()
        await expect(page.locator('.w3018-msg[data-from="teen"][data-seq]')).to_have_count(3)
        await expect(page.locator(".w3018-pending")).to_have_count(0)


async def test_after_a_reload_the_widget_shows_the_latest_line_not_the_top(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, FIRST, stored=1)
        camille = await gw.on_duty("camille", "Camille")
        conversation = await camille.assigned()
        for n in range(1, 16):
            await camille.reply(conversation["id"], f"Réponse {n} : on regarde ça ensemble, prends ton temps.")
        last = page.locator('.w3018-msg[data-from="counsellor"]').last
        await expect(last).to_contain_text("Réponse 15")
        # A slow network: the history arrives while the widget still waits for its stylesheet.
        styled = asyncio.Event()

        async def slow_stylesheet(route):
            await styled.wait()
            await route.continue_()

        await page.route("**/widget/widget.css", slow_stylesheet)
        await page.reload(wait_until="commit")
        await expect(page.locator('.w3018-msg[data-from="counsellor"]')).to_have_count(15)
        styled.set()
        await expect(page.locator("#w3018-panel")).to_be_visible()
        await expect(page.locator('.w3018-msg[data-from="counsellor"]').last).to_be_in_viewport()
        await expect(page.locator('.w3018-msg[data-from="teen"]').first).not_to_be_in_viewport()
        await camille.close()


# --------------------------------------------------------------------------- words


async def test_the_band_says_who_is_there_and_when_the_counsellor_had_to_leave(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await expect(page.locator("#w3018-line")).to_have_text("Ouvert")
        await send(page, FIRST, stored=1)
        status = page.locator("#w3018-status")
        await expect(status).to_contain_text("n° 1")
        await expect(status).not_to_contain_text("1re")
        await gw.add_counsellor("lea", "Léa")  # off duty: a transfer to her goes back to the queue
        camille = await gw.on_duty("camille", "Camille")
        conversation = await camille.assigned()
        await expect(status).to_have_text("Camille est avec toi.")
        await camille.presence("paused")  # or the queue would give it straight back to her
        await camille.send({"type": "team"})
        lea_id = next(c["id"] for c in (await camille.next("team"))["team"] if c["display_name"] == "Léa")
        await camille.send({"type": "transfer", "conversation_id": conversation["id"], "to_counsellor": lea_id})
        assert (await camille.next("transferred"))["outcome"] == "queued"
        await expect(status).to_have_text(HANDED_BACK)
        await camille.presence("available")  # the next assignment ends that sentence
        await expect(status).to_have_text("Camille est avec toi.")
        assert "conseiller" not in (await page.locator("#w3018-root").text_content()).lower()
        await camille.close()


async def test_a_chat_closed_while_the_line_is_closed_says_when_it_reopens_and_whom_to_call(browser):
    from tests.scenes import SUNDAY_15H
    async with running_gateway(make_config(), at=SUNDAY_15H) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await expect(page.locator("#w3018-line")).to_have_text("Fermé — réouverture demain à 9h")
        await page.fill("#w3018-input", "allo ?")
        await page.click("#w3018-send")
        await expect(page.locator('.w3018-msg[data-from="system"]')).to_contain_text("119")
        status = page.locator("#w3018-status")
        await expect(status).to_contain_text("demain à 9h")
        await expect(status).to_contain_text("3114")
        await expect(status).not_to_contain_text("quand tu veux")


async def test_a_wait_closed_at_closing_time_does_not_invite_to_write_again_at_once(browser):
    from tests.harness import TUESDAY_10H
    async with running_gateway(make_config(), at=TUESDAY_10H.replace(hour=19, minute=55)) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await expect(page.locator("#w3018-line")).to_have_text("Ouvert")
        await send(page, FIRST, stored=1)
        status = page.locator("#w3018-status")
        await expect(status).to_contain_text("file")
        gw.clock.advance(10 * 60)  # 20h05: closed
        await gw.housekeeper.sweep_once()
        await expect(status).to_contain_text("demain à 9h")
        await expect(status).to_contain_text("3114")
        await expect(status).not_to_contain_text("quand tu veux")
        await expect(page.locator("#w3018-line")).to_have_text("Fermé — réouverture demain à 9h")


# --------------------------------------------------------------------------- hostile Unicode


async def char_lefts(element) -> list[float]:
    """The x of each character of the element's text, as painted."""
    return await element.evaluate("""(el) => {
        const node = el.firstChild;
        return Array.from(node.textContent, (_, i) => {
            const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
            return r.getBoundingClientRect().left; });
    }""")


async def test_a_right_to_left_override_cannot_reverse_the_author_line_or_leave_its_bubble(browser):
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, "\u202eau secours, il me menace", stored=1)
        await send(page, "deuxième message", stored=2)
        bubbles = page.locator('.w3018-msg[data-from="teen"]')
        for nth in (0, 1):
            author = bubbles.nth(nth).locator(".w3018-author")
            await expect(author).to_have_text("Toi")
            lefts = await char_lefts(author)
            assert lefts == sorted(lefts) and lefts[0] < lefts[-1], f"'Toi' painted out of order: {lefts}"
        text = bubbles.first.locator(".w3018-text")
        await expect(text).to_have_attribute("dir", "auto")
        assert await text.evaluate("n => getComputedStyle(n).unicodeBidi") in ("isolate", "plaintext")
        reversed_text = await char_lefts(text)
        assert reversed_text != sorted(reversed_text), "the override does reorder its own text (as it may)"
        author_box, text_box = await bubbles.first.locator(".w3018-author").bounding_box(), await text.bounding_box()
        assert author_box["y"] + author_box["height"] <= text_box["y"] + 0.5
        next_lefts = await char_lefts(bubbles.nth(1).locator(".w3018-text"))
        assert next_lefts == sorted(next_lefts), "the override leaked into the next bubble"


async def test_stacked_combining_marks_are_clipped_to_their_bubble(browser):
    zalgo = "Z" + "\u0336\u0317\u0353\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a" * 12 + "algo"
    async with running_gateway(make_config()) as gw:
        page = await teen_page(browser, gw.http, 360, 740)
        await open_panel(page)
        await send(page, zalgo, stored=1)
        text = page.locator('.w3018-msg[data-from="teen"] .w3018-text')
        assert await text.evaluate("n => getComputedStyle(n).overflow") == "hidden"
        assert "paint" in await page.locator('.w3018-msg[data-from="teen"]').evaluate(
            "n => getComputedStyle(n).contain")
