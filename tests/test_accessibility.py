"""axe-core (WCAG 2.1 A/AA and best practices) on every screen a teen or a counsellor sees.

Each scene (tests/scenes.py) is a real gateway and a real Chromium driven to one moment: the
widget embedded in the demo page on a phone (360x740), the console at 1280x800. A test fails
on any serious or critical violation and lists each rule, where it fails and how to fix it.
"""

from __future__ import annotations

import pytest

from tests.axe import ALL_IMPACTS, axe_violations, describe
from tests.browser import chromium
from tests.scenes import CONSOLE_SCENES, WIDGET_SCENES, console_scene, widget_scene

# The landmark rules the issue names: best practice ("moderate"), checked on their own below.
LANDMARK_RULES = ("region", "landmark-")


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def test_the_check_finds_what_it_is_meant_to_find(browser):
    """A guard on the harness: a nameless button and an image without alt must be reported."""
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    await page.set_content('<html lang="fr"><title>t</title><main><button></button><img src="x.png"></main></html>')
    found = {v["id"]: v for v in await axe_violations(page)}
    assert {"button-name", "image-alt"} <= set(found), found
    assert "button-name" in describe(list(found.values()), "a broken page")
    await page.context.close()


@pytest.mark.parametrize("scene", list(WIDGET_SCENES))
async def test_widget_on_the_demo_page_has_no_serious_accessibility_violation(browser, scene):
    async with widget_scene(browser, scene) as page:
        violations = await axe_violations(page)
        assert not violations, describe(violations, f"the widget ({scene}) on the demo page")


@pytest.mark.parametrize("scene", list(CONSOLE_SCENES))
async def test_console_view_has_no_serious_accessibility_violation(browser, scene):
    async with console_scene(browser, scene) as page:
        violations = await axe_violations(page)
        assert not violations, describe(violations, f"the console ({scene})")


@pytest.mark.parametrize("scene", ["launcher", "conversation"])
async def test_demo_page_with_the_widget_keeps_every_content_in_a_landmark(browser, scene):
    async with widget_scene(browser, scene) as page:
        found = await axe_violations(page, impacts=ALL_IMPACTS)
        landmarks = [v for v in found if v["id"].startswith(LANDMARK_RULES)]
        assert not landmarks, describe(landmarks, f"the demo page with the widget ({scene}), landmark rules")
