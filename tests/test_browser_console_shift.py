"""A counsellor's shift in a real headless Chromium: the queue in the top bar, notifications,
leaving with conversations held, the list at a glance, 200 % zoom and axe-core.

Notifications and sound are browser APIs the test cannot hear or see: `window.Notification`
and `AudioContext` are replaced by recording stubs (page.add_init_script), the only fakes here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium
from tests.clients import Widget
from tests.harness import PASSWORD, make_config, running_gateway

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SECRET = "il a mes photos et menace de les envoyer à ma classe"

# Records what the page asks of the browser: desktop notifications and tones.
STUBS = """
window.__notes = []; window.__tones = 0; window.__permissionAsked = 0;
window.Notification = class {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body || '' }); }
  close() {}
  static requestPermission() { window.__permissionAsked += 1; window.Notification.permission = 'granted'; return Promise.resolve('granted'); }
};
window.Notification.permission = 'default';
window.AudioContext = class {
  constructor() { this.state = 'running'; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect() {} }; }
  createOscillator() {
    return { type: '', frequency: { value: 0 }, connect() {}, stop() {}, start() { window.__tones += 1; } };
  }
};
"""


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def open_console(browser, base: str, username: str, presence: str | None = "available",
                       viewport: dict | None = None, scale: float = 1, stubs: bool = False,
                       bypass_csp: bool = False) -> Page:
    """`bypass_csp`: only to inject axe-core, which the page's own policy rightly refuses."""
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800},
                                        device_scale_factor=scale, bypass_csp=bypass_csp)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    if stubs:
        await page.add_init_script(STUBS)
    await page.goto(f"{base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#presence")).to_be_enabled()
    if presence:
        await page.select_option("#presence", presence)
        await expect(page.locator("#presence")).to_have_value(presence)
    return page


async def teen_says(gw, text: str) -> Widget:
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    return teen


async def test_a_full_counsellor_still_sees_who_waits_and_that_one_is_raised(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("ines", "Inès", max_conversations=1)
        page = await open_console(browser, gw.http, "ines")
        summary = page.locator("#queue-summary")
        await expect(summary).to_contain_text("Personne en attente")
        held = await teen_says(gw, "on a piraté mon compte insta")
        await expect(page.locator("#conv-active .conv-item")).to_have_count(1)  # Inès is now full
        mocked = await teen_says(gw, "des gens se moquent de moi sur snap")
        await expect(page.locator("#queue-count")).to_have_text("1 en attente")
        await expect(summary).not_to_have_class(re.compile(r"\bis-raised\b"))
        danger = await teen_says(gw, "j'ai envie de mourir")

        await expect(page.locator("#queue-count")).to_have_text("2 en attente · 1 prioritaire")
        await expect(summary).to_have_class(re.compile(r"\bis-raised\b"))
        await expect(page.locator("#queue-oldest")).to_contain_text("la plus longue")
        assert page.errors == []
        for client in (held, mocked, danger):
            await client.close()


async def test_notifications_say_who_never_what_and_are_remembered(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille", stubs=True)
        toggle = page.locator("#notify-toggle")
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        first = await teen_says(gw, "bonjour")
        await expect(page.locator("#conv-active .conv-item")).to_have_count(1)
        assert await page.evaluate("window.__notes.length + window.__tones") == 0  # opt-in: off by default

        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate("window.__permissionAsked") == 1  # asked from the click

        gw.clock.advance(1)  # opened after the first one
        teen = await teen_says(gw, SECRET)
        items = page.locator("#conv-active .conv-item")
        await expect(items).to_have_count(2)
        alias = (await opened_in_order(gw))[1].alias
        await page.wait_for_function("window.__notes.length >= 1")
        notes = await page.evaluate("window.__notes")
        assert notes[0]["title"] == f"Nouvelle conversation — {alias}"
        assert await page.evaluate("window.__tones") >= 1

        # A new line in a conversation that is not on screen: who, never what.
        await teen.say(SECRET + " demain")
        await page.wait_for_function("window.__notes.some(n => n.title.startsWith('Nouveau message'))")
        notes = await page.evaluate("window.__notes")
        assert {"title": f"Nouveau message — {alias}", "body": "Console 3018"} in notes
        for note in notes:
            assert "photos" not in note["title"] + note["body"] and "bonjour" not in note["title"] + note["body"]

        await page.reload()
        await expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate("localStorage.getItem('3018.console.notify')") == "on"
        assert page.errors == []
        for client in (first, teen):
            await client.close()


async def opened_in_order(gw) -> list:
    """Every conversation, oldest first, read from the store."""
    return sorted(await gw.helpline.store.conversations_since(0), key=lambda c: c.opened_at)


async def test_logging_out_with_conversations_asks_first_then_hands_them_back(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille")
        teens = [await teen_says(gw, "bonjour"), await teen_says(gw, "on m'a volé mon compte")]
        await expect(page.locator("#conv-active .conv-item")).to_have_count(2)

        # "Hors ligne" first asks too, and the select keeps saying what the server says.
        await page.select_option("#presence", "offline")
        leave = page.locator("#leave-box")
        await expect(leave).to_be_visible()
        await expect(page.locator("#leave-confirm")).to_have_text("Passer hors ligne quand même")
        await expect(page.locator("#presence")).to_have_value("available")
        await page.click("#leave-cancel")
        await expect(leave).to_be_hidden()

        await page.click("#logout")
        await expect(leave).to_contain_text(
            "Vous avez 2 conversations en cours. Elles repartiront en tête de file et un·e collègue les reprendra ;"
            " les jeunes seront prévenus.")
        await expect(page.locator("#leave-confirm")).to_have_text("Se déconnecter quand même")
        await page.keyboard.press("Escape")
        await expect(leave).to_be_hidden()
        await expect(page.locator("#app")).to_be_visible()  # nothing happened
        assert len(await gw.helpline.store.queue()) == 0

        await page.click("#logout")
        await page.click("#leave-confirm")
        await expect(page.locator("#login")).to_be_visible()
        queued = {entry.conversation_id for entry in await gw.helpline.store.queue()}
        assert len(queued) == 2  # handed back to the head of the queue (server side)
        assert page.errors == []
        for teen in teens:
            await teen.close()


async def test_the_list_shows_the_last_line_a_growing_wait_and_todays_closed_ones(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille")
        teen = await teen_says(gw, "quelqu'un a volé mon compte")
        item = page.locator("#conv-active .conv-item")
        await expect(item).to_have_count(1)
        await expect(item).to_have_class(re.compile(r"\bwait-calm\b"))
        await teen.say("et il ne veut pas me le rendre, " + "vraiment " * 20)
        preview = item.locator(".conv-preview")
        await expect(preview).to_contain_text("et il ne veut pas me le rendre")
        assert len(await preview.inner_text()) <= 120
        assert await preview.evaluate("node => getComputedStyle(node).textOverflow") == "ellipsis"

        # The page counts from the server's clock: 4 minutes later (read at the next init), orange.
        gw.clock.advance(4 * 60)
        await page.reload()
        await expect(item).to_have_class(re.compile(r"\bwait-orange\b"))
        await expect(item.locator(".conv-wait")).to_contain_text("longue attente")
        await expect(preview).to_contain_text("et il ne veut pas me le rendre")  # from init's last_line
        gw.clock.advance(2 * 60)
        await page.reload()
        await expect(item).to_have_class(re.compile(r"\bwait-red\b"))
        await expect(item.locator(".conv-wait")).to_contain_text("très longue attente")

        await item.click()
        await page.fill("#reply-input", "Je suis là. On va regarder ça ensemble.")
        await page.click("#reply-send")
        await expect(preview).to_have_text("Vous : Je suis là. On va regarder ça ensemble.")
        await expect(item).not_to_have_class(re.compile(r"\bwait-"))
        await expect(item.locator(".conv-wait")).to_have_text("répondu")

        await page.click("#close-conversation")
        await page.click("#close-confirm")
        to_qualify = page.locator("#conv-qualify .conv-item")  # closed, not qualified yet (casework)
        await expect(to_qualify).to_have_count(1)
        await page.reload()  # today's closed conversations come back with init
        await expect(page.locator("#conv-qualify-title")).to_have_text("À qualifier")
        await expect(to_qualify).to_have_count(1)
        await expect(to_qualify.locator(".conv-preview")).to_have_text("Vous : Je suis là. On va regarder ça ensemble.")
        assert page.errors == []
        await teen.close()


async def assert_usable(page: Page, height: int) -> None:
    """The lines take at least 40 % of the height; the reply box and Envoyer are on screen."""
    log = await page.locator("#messages-log").bounding_box()
    assert log["height"] >= 0.4 * height, log
    for selector in ("#reply-input", "#reply-send"):
        box = await page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # nothing sticks out sideways


@pytest.mark.parametrize("viewport, scale", [
    ({"width": 640, "height": 400}, 2),     # 1280x800 at 200 % zoom
    ({"width": 1280, "height": 800}, 1),
    ({"width": 1920, "height": 1080}, 1),
])
async def test_the_thread_and_the_reply_box_fit_at_200_percent_and_on_large_screens(browser, viewport, scale):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille", viewport=viewport, scale=scale)
        teens = [await teen_says(gw, "j'ai envie de mourir"), await teen_says(gw, "bonjour")]
        await expect(page.locator("#conv-active .conv-item")).to_have_count(2)
        await page.locator("#conv-active .conv-item").first.click()
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_have_count(1)
        await assert_usable(page, viewport["height"])
        toggle = page.locator("#sidebar-toggle")
        if viewport["width"] < 760:  # narrow: the list folds into a toggle while a conversation is open
            await expect(page.locator("#conversations")).to_be_hidden()
            await toggle.click()
            await expect(toggle).to_have_attribute("aria-expanded", "true")
            await expect(page.locator("#conv-active .conv-item")).to_have_count(2)
            first_line = await page.locator('#messages .msg[data-from="teen"]').inner_text()
            await page.locator("#conv-active .conv-item").nth(1).click()
            await expect(page.locator("#conversations")).to_be_hidden()
            # the other conversation's history is in (measured before, the log is still empty)
            await expect(page.locator('#messages .msg[data-from="teen"]')).to_have_count(1)
            await expect(page.locator('#messages .msg[data-from="teen"]')).not_to_have_text(first_line)
            await assert_usable(page, viewport["height"])
        else:
            await expect(toggle).to_be_hidden()
            await expect(page.locator("#conversations")).to_be_visible()
        assert page.errors == []
        for teen in teens:
            await teen.close()


async def test_axe_finds_nothing_serious_on_a_busy_console(browser):
    assert AXE.exists(), "axe-core missing: npm install axe-core (node_modules/axe-core/axe.min.js)"
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille", bypass_csp=True)
        teens = [await teen_says(gw, "j'ai envie de mourir"), await teen_says(gw, "bonjour")]
        await expect(page.locator("#conv-active .conv-item")).to_have_count(2)
        await page.locator("#conv-active .conv-item").first.click()
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_have_count(1)
        await page.click("#logout")  # the confirmation is on screen too
        await expect(page.locator("#leave-box")).to_be_visible()
        await page.add_script_tag(path=str(AXE))
        violations = await page.evaluate("""async () => (await axe.run(document)).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert violations == []
        for teen in teens:
            await teen.close()


async def test_a_teen_who_left_is_said_so_and_closed_in_one_click(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille")
        stays = await teen_says(gw, "bonjour")
        gw.clock.advance(1)
        leaves = await teen_says(gw, "on se moque de moi")
        items = page.locator("#conv-active .conv-item")
        await expect(items).to_have_count(2)
        gone = (await opened_in_order(gw))[1]
        item = items.filter(has_text=gone.alias)
        await item.click()
        armed = gw.clock.sleepers
        await leaves.close()  # the tab is closed
        await gw.clock.wait_for_sleepers(armed + 1)  # the leave grace is armed
        gw.clock.advance(gw.helpline.config.widget_leave_seconds + 1)

        await expect(item.locator(".conv-wait")).to_have_text("a quitté le tchat")
        await expect(item).to_have_class(re.compile(r"\bis-left\b"))
        await expect(page.locator("#teen-left-note")).to_contain_text(f"{gone.alias} a quitté le tchat.")
        await expect(items.filter(has_text=gone.alias).locator(".conv-end")).to_have_count(1)
        await expect(items.locator(".conv-end")).to_have_count(1)  # the other teen is still there

        await item.get_by_role("button", name=f"Clore la conversation avec {gone.alias} (a quitté le tchat)").click()
        await expect(page.locator("#conv-qualify .conv-item")).to_have_count(1)  # no question asked
        await expect(page.locator("#conv-qualify .conv-item")).to_contain_text(gone.alias)
        assert not (await gw.helpline.store.get_conversation(gone.id)).is_open
        assert page.errors == []
        await stays.close()
