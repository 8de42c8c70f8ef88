"""The screenshots in docs/screens/, taken from the same scenes the accessibility tests check.

Run by scripts/screens (`scripts/screens widget-phone-queued` retakes only that one). Phone
shots at 360x740 and 200 % zoom are taken at device scale 2, so they stay crisp in the README.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.browser import chromium
from tests.scenes import DESKTOP, ZOOM_200, console_scene, widget_scene

SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
MAX_BYTES = 300_000  # a README image that stays light to clone and to load


@dataclass(frozen=True)
class Shot:
    name: str          # docs/screens/<name>.png
    side: str          # "widget" or "console"
    scene: str         # a key of WIDGET_SCENES or CONSOLE_SCENES
    viewport: dict | None = None
    scale: float = 1


SHOTS = (
    Shot("widget-phone-queued", "widget", "queued", scale=2),
    Shot("widget-phone-conversation", "widget", "conversation", scale=2),
    Shot("widget-phone-closed-line", "widget", "line_closed", scale=2),
    Shot("console-conversation", "console", "conversation", DESKTOP),
    Shot("console-zoom-200", "console", "conversation", ZOOM_200, scale=2),
    Shot("supervision", "console", "supervision", DESKTOP),
)


async def take(browser, shot: Shot) -> Path:
    scene = (widget_scene(browser, shot.scene, shot.scale) if shot.side == "widget"
             else console_scene(browser, shot.scene, shot.viewport, shot.scale))
    path = SCREENS / f"{shot.name}.png"
    async with scene as page:
        await page.mouse.move(0, 0)  # no hover effect left on the last button clicked
        await page.screenshot(path=str(path), type="png", animations="disabled", caret="hide")
    if path.stat().st_size > MAX_BYTES:
        raise RuntimeError(f"{path.name} is {path.stat().st_size} bytes (over {MAX_BYTES})")
    return path


async def main(names: list[str]) -> int:
    """Take the shots named (all by default); report each failure and go on with the others."""
    unknown = set(names) - {s.name for s in SHOTS}
    if unknown:
        print(f"Unknown screen(s): {', '.join(sorted(unknown))}. Known: {', '.join(s.name for s in SHOTS)}")
        return 2
    SCREENS.mkdir(parents=True, exist_ok=True)
    failed = 0
    async with chromium() as browser:
        for shot in SHOTS:
            if names and shot.name not in names:
                continue
            try:
                path = await take(browser, shot)
                print(f"{path.relative_to(SCREENS.parent.parent)}  {path.stat().st_size // 1024} KB")
            except Exception:  # one broken screen must not stop the others
                failed += 1
                print(f"FAILED {shot.name}:\n{traceback.format_exc(limit=3)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
