"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright.

Playwright cannot download its own browser here, so we point it at the system one; a
missing browser fails loudly with the command that installs it (never a skip).
"""

from __future__ import annotations

import os
import shutil
from contextlib import asynccontextmanager

from playwright.async_api import async_playwright

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError("Chromium is missing: run `apt-get install chromium` (or scripts/setup --test)")
    return path


@asynccontextmanager
async def chromium():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def console_login(browser, base: str, username: str, *, available: bool = True, **context):
    """A console page logged in (and "Disponible" unless told otherwise). `bypass_csp` only so
    that axe-core can be injected (tests/axe.py); the page's own CSP is tested elsewhere."""
    from playwright.async_api import expect

    from tests.harness import PASSWORD

    page = await (await browser.new_context(bypass_csp=True, **context)).new_page()
    await page.goto(f"{base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()
    if available:
        await page.select_option("#presence", "available")
    return page
