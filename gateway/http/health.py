"""The public read-only routes of a process: the widget demo page, /healthz, /api/line.

Thin: each renders what a core use case returns (gateway/core/status.py).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.core.status import ProcessStatus, health_report

PROCESS_STATUS = web.AppKey("process_status", ProcessStatus)
WIDGET_DIR = Path(__file__).resolve().parents[2] / "web_widget"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(await health_report(request.app[PROCESS_STATUS]))


async def line(request: web.Request) -> web.Response:
    return web.json_response(request.app[PROCESS_STATUS].helpline.line_status(),
                             headers={"Cache-Control": "no-store"})


async def home(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WIDGET_DIR / "index.html")


def add_health_routes(app: web.Application, status: ProcessStatus) -> None:
    app[PROCESS_STATUS] = status
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/line", line)
