"""The read-only routes of a process (the widget demo page, /healthz, /healthz/details,
/api/line), and what every HTTP route answers while the store is away.

Thin: each renders what a core use case returns (gateway/core/status.py). `/healthz` is public
and says only ok/unavailable; `/healthz/details` answers a supervisor's or an admin's console
session, or `Authorization: Bearer <token>` where the token is the value of the environment
variable `http.health_token_env` names (read once at start; unset: no token access).
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from aiohttp import web

from gateway.core.status import ProcessStatus, health_report, liveness
from gateway.domain.errors import StoreError
from gateway.domain.permissions import supervises
from gateway.http.console import HELPLINE, current_counsellor
from gateway.http.security import Handler

log = logging.getLogger(__name__)

PROCESS_STATUS = web.AppKey("process_status", ProcessStatus)
HEALTH_TOKEN = web.AppKey("health_token", bytes)  # b"": token access off
NOT_AUTHORISED = {"error": "Connexion de superviseur·e ou jeton de supervision requis.", "code": "unauthorised"}
RESERVED = {"error": "Réservé aux superviseur·es et aux administrateur·ices.", "code": "forbidden"}
NO_STORE = {"Cache-Control": "no-store"}
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
    """Public liveness: 200 `{"status": "ok"}` while this process can serve, 503
    `{"status": "unavailable"}` while its store is unreachable (a load balancer then sends
    clients to another process). Nothing else: anyone may ask it."""
    health = await liveness(request.app[PROCESS_STATUS])
    return web.json_response(health.document, status=200 if health.serving else 503, headers=NO_STORE)


async def healthz_details(request: web.Request) -> web.Response:
    """The detailed status (store, channels, alerts, line, config, reasons), for supervisors
    and the monitoring token only; 503 with the document while the store is unreachable."""
    refused = await _details_refusal(request)
    if refused is not None:
        request.app[HELPLINE].security.record("health_refused", "health", status=refused[1])
        return web.json_response(refused[0], status=refused[1], headers=NO_STORE)
    health = await health_report(request.app[PROCESS_STATUS])
    return web.json_response(health.document, status=200 if health.serving else 503, headers=NO_STORE)


async def _details_refusal(request: web.Request) -> tuple[dict, int] | None:
    """None when the caller may read the details; else the French answer and its status.

    A bearer header is judged alone (a wrong token is 401 even with a session cookie): the
    monitoring system sends no cookie, and mixing both would hide a misconfigured token. The
    token is compared in constant time (hmac.compare_digest) on bytes of any length."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        expected = request.app[HEALTH_TOKEN]
        scheme, _, given = authorization.partition(" ")
        if expected and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        return NOT_AUTHORISED, 401
    counsellor = await current_counsellor(request)  # store away: 503 (store_outages), never the details
    if counsellor is None:
        return NOT_AUTHORISED, 401
    return None if supervises(counsellor) else (RESERVED, 403)


async def line(request: web.Request) -> web.Response:
    return web.json_response(request.app[PROCESS_STATUS].helpline.line_status(),
                             headers={"Cache-Control": "no-store"})


async def home(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WIDGET_DIR / "index.html")


def add_health_routes(app: web.Application, status: ProcessStatus) -> None:
    """Reads the monitoring token from the environment once (`http.health_token_env` is restart-only)."""
    app[PROCESS_STATUS] = status
    app[HEALTH_TOKEN] = os.environ.get(status.helpline.config.health_token_env, "").encode()
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/details", healthz_details)
    app.router.add_get("/api/line", line)
