"""The screens people see, each driven to one moment in a real gateway and a real Chromium.

Shared by the accessibility tests (tests/test_accessibility.py: axe-core on each scene) and
the screenshots in the docs (tests/screens.py, run by scripts/screens), so the pictures show
exactly what is checked. The content is realistic and not sensitive: a teen whose Instagram
account was stolen, a counsellor called Camille.

Contexts bypass the page's CSP only so that axe-core can be injected (tests/axe.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from playwright.async_api import Browser, Page, expect

from gateway.domain.model import Role
from tests.clients import Widget, close_leftover_clients
from tests.harness import PARIS, PASSWORD, TUESDAY_10H, Running, make_config, running_gateway

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
ZOOM_200 = {"width": 640, "height": 400}  # 1280x800 at 200 % zoom (with device_scale_factor 2)
SUNDAY_15H = datetime(2026, 11, 29, 15, 0, tzinfo=PARIS)  # the line is closed on Sundays
EXIT_URL = "https://www.google.fr/"

TEEN_FIRST = ("Bonjour, quelqu'un a piraté mon compte Insta. Il a changé le mot de passe "
              "et il poste des trucs à ma place.")
CAMILLE_REPLY = ("Bonjour, ici Camille. Tu as bien fait de nous écrire, on va t'aider à récupérer "
                 "ton compte. Tu as encore accès à l'adresse mail liée à ce compte ?")
TEEN_SECOND = "Oui j'ai encore mon mail. Mais j'ai peur que mes potes croient que c'est moi qui poste."
OTHER_TEEN = "des gens de ma classe se moquent de moi sur snap"
RAISED_TEEN = "un mec me fait du chantage, il menace de diffuser mes photos"


async def new_page(browser: Browser, viewport: dict, scale: float = 1) -> Page:
    context = await browser.new_context(viewport=viewport, device_scale_factor=scale, bypass_csp=True,
                                        locale="fr-FR", timezone_id="Europe/Paris")
    page = await context.new_page()
    # The quick exit leaves for a real site, unreachable here: answer it locally.
    await page.route(f"{EXIT_URL}**", lambda route: route.fulfill(body="<h1>Google</h1>", content_type="text/html"))
    return page


# --------------------------------------------------------------------------- the widget


async def widget_page(browser: Browser, gw: Running, scale: float = 1) -> Page:
    """The demo page "/" on a phone, the widget loaded and closed."""
    page = await new_page(browser, PHONE, scale)
    await page.goto(f"{gw.http}/")
    await expect(page.locator("#w3018-launcher")).to_be_visible()
    return page


async def open_panel(page: Page) -> None:
    await page.click("#w3018-launcher")
    await expect(page.locator("#w3018-panel")).to_be_visible()
    await expect(page.locator("#w3018-line")).not_to_contain_text("On vérifie")


async def teen_writes(page: Page, text: str) -> None:
    await page.fill("#w3018-input", text)
    await page.click("#w3018-send")
    await expect(page.locator('.w3018-msg[data-from="teen"]').last).to_contain_text(text[:20])


async def widget_launcher(browser, gw, scale):
    return await widget_page(browser, gw, scale)


async def widget_open(browser, gw, scale):
    page = await widget_page(browser, gw, scale)
    await open_panel(page)
    return page


async def widget_queued(browser, gw, scale):
    page = await widget_open(browser, gw, scale)
    await teen_writes(page, TEEN_FIRST)
    await expect(page.locator("#w3018-status")).to_contain_text("file")
    return page


async def widget_conversation(browser, gw, scale):
    """Queued first, then Camille comes on duty, takes the teen and answers."""
    page = await widget_queued(browser, gw, scale)
    camille = await gw.on_duty("camille", "Camille")
    conversation = await camille.assigned()
    await camille.reply(conversation["id"], CAMILLE_REPLY)
    await expect(page.locator('.w3018-msg[data-from="counsellor"]')).to_contain_text("ici Camille")
    await expect(page.locator("#w3018-status")).to_contain_text("Camille")
    await teen_writes(page, TEEN_SECOND)
    return page


async def widget_ended(browser, gw, scale):
    """The teen ends the chat (Terminer, then Oui)."""
    page = await widget_conversation(browser, gw, scale)
    await page.click("#w3018-end")
    await expect(page.locator("#w3018-confirm")).to_be_visible()
    await page.click("#w3018-end-yes")
    await expect(page.locator('.w3018-msg[data-from="system"]').last).to_contain_text("terminé")
    return page


async def widget_line_closed(browser, gw, scale):
    """Sunday: the line says when it reopens, and answers a message with the numbers to call."""
    page = await widget_page(browser, gw, scale)
    await open_panel(page)
    await expect(page.locator("#w3018-line")).to_contain_text("demain à 9h")
    await teen_writes(page, "bonjour, vous êtes là ?")
    await expect(page.locator('.w3018-msg[data-from="system"]')).to_contain_text("119")
    return page


Scene = Callable[[Browser, Running, float], Awaitable[Page]]
# name → (when the gateway's clock starts, how to get there)
WIDGET_SCENES: dict[str, tuple[datetime, Scene]] = {
    "launcher": (TUESDAY_10H, widget_launcher),
    "open": (TUESDAY_10H, widget_open),
    "queued": (TUESDAY_10H, widget_queued),
    "conversation": (TUESDAY_10H, widget_conversation),
    "ended": (TUESDAY_10H, widget_ended),
    "line_closed": (SUNDAY_15H, widget_line_closed),
}


# --------------------------------------------------------------------------- the console


async def console_login_page(browser: Browser, gw: Running, viewport: dict = DESKTOP, scale: float = 1) -> Page:
    page = await new_page(browser, viewport, scale)
    await page.goto(f"{gw.http}/console")
    await expect(page.locator("#login-username")).to_be_visible()
    return page


async def log_in(page: Page, username: str) -> None:
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()


async def console_login(browser, gw, viewport, scale):
    return await console_login_page(browser, gw, viewport, scale)


async def console_conversation(browser, gw, viewport, scale):
    """Camille, available, with two teens; the Insta one open, answered and answering back."""
    await gw.add_counsellor("camille", "Camille")
    page = await console_login_page(browser, gw, viewport, scale)
    await log_in(page, "camille")
    await expect(page.locator("#presence")).to_be_enabled()
    await page.select_option("#presence", "available")
    insta, snap = await Widget.connect(gw.ws), await Widget.connect(gw.ws)
    await insta.say(TEEN_FIRST)
    await expect(page.locator(".conv-item")).to_have_count(1)
    insta_id = await page.locator(".conv-item").first.get_attribute("data-id")
    gw.clock.advance(90)
    await snap.say(OTHER_TEEN)
    await expect(page.locator(".conv-item")).to_have_count(2)
    await page.locator(f'.conv-item[data-id="{insta_id}"]').click()
    await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text("piraté mon compte")
    await page.fill("#reply-input", CAMILLE_REPLY)
    await page.click("#reply-send")
    await expect(page.locator('#messages .msg[data-from="counsellor"]')).to_contain_text("ici Camille")
    gw.clock.advance(40)
    await insta.say(TEEN_SECOND)
    await expect(page.locator('#messages .msg[data-from="teen"]').last).to_contain_text("mes potes")
    return page


async def supervision_page(browser, gw, viewport, scale):
    """A supervisor's /console/supervision: Camille busy, Inès paused, two teens waiting, one raised."""
    await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
    camille = await gw.on_duty("camille", "Camille", max_conversations=1)
    await gw.on_duty("ines", "Inès", presence="paused")
    insta = await Widget.connect(gw.ws)
    await insta.say(TEEN_FIRST)
    await camille.assigned()
    gw.clock.advance(60)
    await (await Widget.connect(gw.ws)).say(OTHER_TEEN)
    gw.clock.advance(45)
    await (await Widget.connect(gw.ws)).say(RAISED_TEEN)
    page = await console_login_page(browser, gw, viewport, scale)
    await log_in(page, "sam")
    response = await page.goto(f"{gw.http}/console/supervision")
    assert response is not None and response.ok, (
        f"GET /console/supervision answered {response and response.status}: the supervision page is missing")
    await expect(page.locator("#sup-queue-rows tr")).to_have_count(2)
    return page


ConsoleScene = Callable[[Browser, Running, dict, float], Awaitable[Page]]
CONSOLE_SCENES: dict[str, ConsoleScene] = {
    "login": console_login,
    "conversation": console_conversation,
    "supervision": supervision_page,
}


async def close_scene(browser: Browser) -> None:
    """Close the scene's pages and socket clients (teens, colleagues), even when it failed half-way."""
    for context in browser.contexts:
        await context.close()
    await close_leftover_clients()


@asynccontextmanager
async def widget_scene(browser: Browser, name: str, scale: float = 1) -> AsyncIterator[Page]:
    """A gateway and the widget on a phone at scene `name` (see WIDGET_SCENES)."""
    at, drive = WIDGET_SCENES[name]
    async with running_gateway(make_config(), at=at) as gw:
        try:
            page = await drive(browser, gw, scale)
            yield page
        finally:
            await close_scene(browser)


@asynccontextmanager
async def console_scene(browser: Browser, name: str, viewport: dict = DESKTOP,
                        scale: float = 1) -> AsyncIterator[Page]:
    """A gateway and a console page at scene `name` (see CONSOLE_SCENES)."""
    async with running_gateway(make_config()) as gw:
        try:
            page = await CONSOLE_SCENES[name](browser, gw, viewport, scale)
            yield page
        finally:
            await close_scene(browser)
