"""The agent console's HTTP routes: the pages (console, supervision), login, logout, me, and the
socket's upgrade (`?view=supervision`: the supervision page's watcher socket).

Protocol: docs/protocol.md ("Console"). The socket is authenticated by the session cookie;
its frames are handled by console_socket.ConsoleConnection, its events by console_hub.ConsoleHub.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
from aiohttp import WSCloseCode, web

from gateway.core.accounts import hash_token
from gateway.core.counsellor import counsellor_of_session, log_in, log_out
from gateway.domain.permissions import supervises
from gateway.core.helpline import Helpline
from gateway.domain.errors import AuthError, ProtocolError, StoreError
from gateway.core.limits import LoginGuard
from gateway.domain.model import Counsellor
from gateway.http.console_hub import ConsoleHub, ConsoleSession
from gateway.http.console_socket import ConsoleConnection
from gateway.http.metrics import METRICS
from gateway.http.security import csrf_ok, request_address_key, too_many_requests
from gateway.http.sockets import SOCKETS, QueuedSender

log = logging.getLogger(__name__)
COOKIE = "gw_session"
# Behind TLS the cookie carries the `__Host-` prefix: browsers then only accept it Secure, with
# Path=/ and no Domain, so a sibling host or a plain-http page cannot plant or shadow it (RFC 6265bis §4.1.3.2).
HOST_COOKIE = "__Host-gw_session"
CONSOLE_DIR = Path(__file__).resolve().parents[2] / "console"
MAX_FRAME_BYTES = 16 * 1024

CONSOLE_HUB = web.AppKey("console_hub", ConsoleHub)
HELPLINE = web.AppKey("helpline", Helpline)
LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)
FORBIDDEN = {"error": "Requête refusée (origine inconnue)."}
RESERVED = {"error": "Réservé aux superviseur·es."}
WATCH_VIEW = "supervision"  # /ws/console?view=supervision
# What the supervision page may send: a supervisor's actions and the barrier; nothing of a chat.
WATCHER_FRAMES = frozenset({"reassign", "erase", "lift_abuse", "ping", "heartbeat"})
STORE_AWAY_FRAME = {"type": "error", "code": "unavailable",
                    "message": "Le service est momentanément indisponible, reconnexion…"}


def _cookie_secure(request: web.Request) -> bool:
    config = request.app[HELPLINE].config
    forwarded_https = config.trust_proxy and request.headers.get("X-Forwarded-Proto", "") == "https"
    return config.tls or request.secure or forwarded_https


def cookie_name(request: web.Request) -> str:
    """The session cookie's name for this gateway: `__Host-gw_session` when `http.tls` is on."""
    return HOST_COOKIE if request.app[HELPLINE].config.tls else COOKIE


def session_token(request: web.Request) -> str | None:
    """The one reader of the session cookie (login API, socket upgrade, the JSON APIs)."""
    return request.cookies.get(cookie_name(request))


def csrf_refused(request: web.Request, where: str = "console_api") -> web.Response | None:
    """None when the request comes from the console's origin; else the 403, recorded as a
    security event (no address: its keyed hash only)."""
    helpline = request.app[HELPLINE]
    if csrf_ok(request, helpline.config.console_origins):
        return None
    kind = "origin_refused" if where == "console_socket" else "csrf_refused"
    helpline.security.record(kind, where, address_key=_address_key(request))
    return web.json_response(FORBIDDEN, status=403)


def _address_key(request: web.Request) -> str:
    """The same in every process (the shared login limits): security.request_address_key."""
    return request_address_key(request, request.app[HELPLINE])


async def current_counsellor(request: web.Request) -> Counsellor | None:
    return await counsellor_of_session(request.app[HELPLINE], session_token(request))


async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def supervision_page(request: web.Request) -> web.FileResponse:
    """Served to anyone, like /console: the page asks /me and shows data to supervisors only
    (the socket refuses the others)."""
    return web.FileResponse(CONSOLE_DIR / "supervision.html", headers={"Cache-Control": "no-store"})


async def stats_page(request: web.Request) -> web.FileResponse:
    """The statistics page (issue #13): served like supervision; the figures come from
    /api/reports/activity, which answers supervisors and admins only."""
    return web.FileResponse(CONSOLE_DIR / "stats.html", headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    if (refused := csrf_refused(request, "console_login")) is not None:
        return refused
    try:
        body = orjson.loads(await request.read())
        username, password = str(body["username"])[:64], str(body["password"])[:256]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response({"error": "Requête invalide."}, status=400)
    address = _address_key(request)
    try:
        done = await log_in(helpline, request.app[LOGIN_GUARD], username, password, address)
    except AuthError:
        return web.json_response({"error": "Identifiant ou mot de passe incorrect."}, status=401)
    if done.retry_after is not None:  # same answer whether the account exists or not
        return too_many_requests(done.retry_after, "Trop de tentatives. Réessayez dans quelques minutes.")
    response = web.json_response({"me": done.counsellor.public()})
    response.set_cookie(cookie_name(request), done.token, httponly=True, samesite="Strict", secure=_cookie_secure(request),
                        max_age=int(helpline.config.session_hours * 3600), path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    if (refused := csrf_refused(request, "console_login")) is not None:
        return refused
    token = session_token(request)
    if token:
        await log_out(helpline, token)
    response = web.Response(status=204)
    response.del_cookie(cookie_name(request), path="/", secure=_cookie_secure(request))
    return response


async def me(request: web.Request) -> web.Response:
    counsellor = await current_counsellor(request)
    if counsellor is None:
        return web.json_response({"error": "Non connecté."}, status=401)
    return web.json_response({"me": counsellor.public()})


async def console_socket(request: web.Request) -> web.StreamResponse:
    if (refused := csrf_refused(request, "console_socket")) is not None:
        return refused  # cross-site WebSocket hijacking
    view = request.query.get("view")
    if view not in (None, WATCH_VIEW):
        return web.json_response({"error": "Vue inconnue."}, status=400)
    counsellor = await current_counsellor(request)
    if counsellor is None:
        return web.json_response({"error": "Non connecté."}, status=401)
    watcher = view == WATCH_VIEW
    if watcher and not supervises(counsellor):
        return web.json_response(RESERVED, status=403)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    metrics = request.app[METRICS]
    metrics.socket_opened("console")
    hub = request.app[CONSOLE_HUB]
    session = ConsoleSession(QueuedSender(ws, limit=1024), counsellor.id, hash_token(session_token(request) or ""),
                             supervisor=supervises(counsellor), watcher=watcher)
    hub.add(session)
    connection = (WatcherConnection if watcher else ConsoleConnection)(request.app[HELPLINE], hub, session)
    try:
        await connection.run(counsellor)
    except StoreError:
        await _store_away(ws)
    finally:
        metrics.socket_closed("console")
        hub.remove(session)
        await session.sender.aclose()
    return ws


class WatcherConnection(ConsoleConnection):
    """The supervision page's socket: the same frames, minus those of a counsellor's own chat
    (replying, presence, opening…), which are refused with a reason instead."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in self._handlers.keys() - WATCHER_FRAMES:
            self._handlers[kind] = _not_on_supervision_page


async def _not_on_supervision_page(frame: dict) -> None:
    raise ProtocolError("not_here", "Cette action se fait depuis la console des conversations.")


async def _store_away(ws: web.WebSocketResponse) -> None:
    """The opening snapshot could not be read (the store is away): say so and close with 1013
    "try again later"; the page reconnects (docs/protocol.md). Anything later is answered
    per frame by ConsoleConnection, the socket staying open."""
    log.warning("console socket closed: store unavailable")
    if not ws.closed:
        try:
            await ws.send_str(orjson.dumps(STORE_AWAY_FRAME).decode())
        except (ConnectionError, RuntimeError):
            pass
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"store unavailable")


def add_console_routes(app: web.Application) -> None:
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/supervision", supervision_page)
    app.router.add_get("/console/stats", stats_page)
    app.router.add_static("/console/static/", CONSOLE_DIR, append_version=False)
    app.router.add_post("/api/console/login", login)
    app.router.add_post("/api/console/logout", logout)
    app.router.add_get("/api/console/me", me)
    app.router.add_get("/ws/console", console_socket)
