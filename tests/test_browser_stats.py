"""The statistics page (issue #13 item 4) in a real Chromium against a real gateway: a
supervisor picks a period and sees SVG charts drawn from GET /api/reports/activity, each with
its table, with the counts of what was seeded through the real widget and console; a counsellor
is told the page is not for them; axe finds nothing serious at 1280x800 and at 200 % zoom."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from gateway.core import casework, notices
from gateway.domain.model import Role
from tests.axe import axe_violations, describe
from tests.browser import chromium, console_login
from tests.clients import Widget
from tests.harness import make_config, running_gateway

DAY = "2026-11-24"  # tests/harness.py TUESDAY_10H, the gateway's clock
QUALIFIED = {"caller": "jeune", "age_band": "13_14", "categories": ["cyberharcelement"],
             "platforms": ["snapchat"], "outcomes": ["ecoute_conseil"]}


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def logged_in(browser, base: str, username: str, **context) -> Page:
    """Logged in on the console, then on the statistics page; bypass_csp only for axe."""
    page = await console_login(browser, base, username, available=False, **context)
    await page.goto(f"{base}/console/stats?from={DAY}&to={DAY}")
    return page


async def seed(gw) -> list[Widget]:
    """Three web teens write at 10 h; Camille takes one, qualifies it and has a Discord notice
    removed two hours after sending it; two teens still wait."""
    camille = await gw.on_duty("camille", "Camille", max_conversations=1)
    teens = [await Widget.connect(gw.ws) for _ in range(3)]
    await teens[0].say("on m'insulte sur snap")
    conversation = await camille.assigned()
    for teen in teens[1:]:
        await teen.say("bonjour")
    counsellor_id = camille.init["me"]["id"]
    await casework.qualify(gw.helpline, counsellor_id, conversation["id"], QUALIFIED)
    notice = await notices.create(gw.helpline, counsellor_id, conversation["id"], {
        "platform": "discord", "content_kind": "message", "offence": "226-2-1", "consent": True,
        "locations": ["https://discord.com/channels/1/2/3"], "explanation": "Photos diffusées sans accord."})
    for move in ({"state": "envoye"}, {"state": "accuse_reception"}):
        await notices.update(gw.helpline, counsellor_id, notice.id, move)
    gw.clock.advance(2 * 3600)
    await notices.update(gw.helpline, counsellor_id, notice.id, {"state": "decision", "decision": "retire"})
    await camille.close()
    return teens


def bar(page: Page, chart: str, name: str, series: str | None = None):
    found = page.locator(f'[data-chart="{chart}"] svg rect[data-bar="{name}"]')
    return found if series is None else found.and_(page.locator(f'rect[data-series="{series}"]'))


async def test_a_supervisor_sees_the_seeded_counts_as_svg_charts_with_tables(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        teens = await seed(gw)
        page = await logged_in(browser, gw.http, "sam")

        await expect(page.locator("#stats-status")).to_contain_text("24 novembre 2026")
        await expect(page.locator("#period-from")).to_have_value(DAY)
        web_day = bar(page, "per-day", "24 nov.", "Tchat web")
        await expect(web_day).to_have_attribute("data-value", "3")
        await expect(bar(page, "per-hour", "10 h", "Tchat web")).to_have_attribute("data-value", "3")
        await expect(bar(page, "per-hour", "11 h")).to_have_count(0)  # nothing then: no bar drawn
        await expect(bar(page, "by-channel", "Tchat web")).to_have_attribute("data-value", "3")
        await expect(bar(page, "callers", "Jeune")).to_have_attribute("data-value", "1")
        await expect(page.locator('[data-chart="categories"] svg rect')).to_have_count(1)
        await expect(bar(page, "notices", "Discord", "Contenu retiré")).to_have_attribute("data-value", "1")
        await expect(page.locator('[data-chart="notices"] svg rect')).to_have_count(1)
        await expect(bar(page, "removal", "Discord")).to_have_attribute("data-value", "2")

        # Each chart has its table (screen readers): the same number, by row and column.
        table = page.locator('[data-chart="per-hour"] table')
        await expect(table).to_have_attribute("aria-labelledby", "chart-per-hour-title")
        row = table.locator("tbody tr", has=page.locator('th:text-is("10 h")'))
        await expect(row.locator("td").first).to_have_text("3")
        await expect(page.locator('[data-chart] svg[aria-hidden="true"]').first).to_be_attached()
        await expect(page.locator("#period-csv")).to_have_attribute(
            "href", f"/api/reports/activity?from={DAY}&to={DAY}&format=csv")

        violations = await axe_violations(page)
        assert not violations, describe(violations, "the statistics page at 1280x800")
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
        await page.screenshot(path="/tmp/n4/stats-1280.png", full_page=True)
        for teen in teens:
            await teen.close()


async def test_a_period_ending_before_it_starts_is_refused_beside_the_dates(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        page = await logged_in(browser, gw.http, "sam")
        await expect(page.locator("#stats-status")).to_contain_text("24 novembre 2026")
        await page.fill("#period-from", "2026-12-31")
        await page.fill("#period-to", "2026-01-01")
        await page.click("#period-show")
        await expect(page.locator("#period-error")).to_contain_text("début")
        await expect(page.locator("#period-from")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#period-from")).to_be_focused()


async def test_a_counsellor_is_told_the_page_is_reserved_and_sees_no_figure(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await logged_in(browser, gw.http, "camille")
        await expect(page.locator("#gate-reserved")).to_be_visible()
        await expect(page.locator("#app")).to_be_hidden()
        await expect(page.locator("svg")).to_have_count(0)


async def test_the_page_has_no_serious_accessibility_violation_at_200_percent_zoom(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        teens = await seed(gw)
        page = await logged_in(browser, gw.http, "sam", viewport={"width": 640, "height": 400},
                               device_scale_factor=2)
        await expect(bar(page, "by-channel", "Tchat web")).to_have_attribute("data-value", "3")
        violations = await axe_violations(page)
        assert not violations, describe(violations, "the statistics page at 200 % zoom")
        await page.screenshot(path="/tmp/n4/stats-200.png", full_page=True)
        for teen in teens:
            await teen.close()
