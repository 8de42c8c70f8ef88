"""The public read-only routes of a process (the widget demo page, /healthz, /api/line), and
what every HTTP route answers while the store is away.

Thin: each renders what a core use case returns (gateway/core/status.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from gateway.core.status import ProcessStatus, health_report
from gateway.domain.errors import StoreError
from gateway.http.security import Handler

log = logging.getLogger(__name__)

PROCESS_STATUS = web.AppKey("process_status", ProcessStatus)
WIDGET_DIR = Path(__file__).resolve().parents[2] / "web_widget"
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = {"error": "Service momentanément indisponible, réessayez dans quelques secondes.",
               "code": "unavailable"}


@web.middleware
async def store_outages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place a StoreError becomes an HTTP answer: 503 with `Retry-After`, never a 500.

    Console login and the socket upgrades, /api/line, the Meta webhooks (Meta retries a 503;
    duplicates are dropped by message id). Put it after `security_headers`, which then adds
    its headers. A socket already upgraded cannot get a second answer: its handler answers
    frames with an `unavailable` error itself.
    """
    try:
        return await handler(request)
    except StoreError as exc:
        if request.writer is not None and request.writer.output_size > 0:
            raise
        route = request.match_info.route.resource
        log.warning("store unavailable: %s %s answered 503 (%s)", request.method,
                    route.canonical if route else "?", type(exc.__cause__ or exc).__name__)
        return web.json_response(UNAVAILABLE, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def healthz(request: web.Request) -> web.Response:
    """200 while this process can serve; 503 (with the reason) while its store is unreachable,
    so a load balancer sends clients to another process."""
    health = await health_report(request.app[PROCESS_STATUS])
    return web.json_response(health.document, status=200 if health.serving else 503,
                             headers={"Cache-Control": "no-store"})


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
