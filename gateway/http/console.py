"""The agent console's HTTP routes and WebSocket: login, presence, conversations, replies.

Protocol: docs/protocol.md ("Console"). The socket is authenticated by the session
cookie; every frame about a conversation is checked against its assigned counsellor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import WSMsgType, web

from gateway.core.accounts import authenticate, hash_token, open_session, session_counsellor
from gateway.core.helpline import Helpline, console_view
from gateway.domain.errors import AuthError, GatewayError, ProtocolError
from gateway.domain.events import ConversationChanged, DeliveryChanged, Event, MessageAdded, PresenceChanged, SessionEnded, Typing
from gateway.core import audit
from gateway.core.abuse import lift_abuse, mark_abusive
from gateway.core.handover import reassign, transfer
from gateway.core.retention import erase_on_request
from gateway.http.security import client_address_key, csrf_ok, too_many_requests
from gateway.domain.login_guard import LoginGuard, account_key
from gateway.http.metrics import METRICS
from gateway.domain.model import Author, CloseReason, Counsellor, Presence, Role
from gateway.core.supervision import snapshot
from gateway.http.sockets import SOCKETS, QueuedSender

log = logging.getLogger(__name__)

COOKIE = "gw_session"
CONSOLE_DIR = Path(__file__).resolve().parents[2] / "console"
OFFLINE_GRACE_SECONDS = 20.0  # a page reload must not flip a counsellor to "hors ligne"
MAX_FRAME_BYTES = 16 * 1024
SUPERVISION_SECONDS = 2.0
SESSION_CHECK_SECONDS = 30.0  # the supervisor view is a snapshot pushed this often (any process's changes)


@dataclass(eq=False)
class ConsoleSession:
    sender: QueuedSender
    counsellor_id: str
    token_hash: str
    supervisor: bool = False


class ConsoleHub:
    """This process's console sockets, by counsellor; fed by the bus."""

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self._by_counsellor: dict[str, set[ConsoleSession]] = {}
        self._feed: asyncio.Task | None = None
        self._closing = False  # see Housekeeper.stop: a cancel may come back as a StoreError
        helpline.bus.subscribe(self._on_event)

    def add(self, session: ConsoleSession) -> None:
        self._by_counsellor.setdefault(session.counsellor_id, set()).add(session)
        if session.supervisor and (self._feed is None or self._feed.done()):
            self._feed = asyncio.get_running_loop().create_task(self._supervision_feed())

    def _supervisors(self) -> list[ConsoleSession]:
        return [s for sessions in self._by_counsellor.values() for s in sessions if s.supervisor]

    async def _supervision_feed(self) -> None:
        """While a supervisor is connected here, push them the live picture every few seconds."""
        while self._supervisors() and not self._closing:
            try:
                frame = await snapshot(self.helpline)
            except GatewayError as exc:
                log.warning("supervision snapshot failed: %s", exc.code)
            else:
                for session in self._supervisors():
                    session.sender.send(frame)
            await asyncio.sleep(SUPERVISION_SECONDS)

    async def close(self) -> None:
        self._closing = True
        if self._feed:
            self._feed.cancel()
            await asyncio.gather(self._feed, return_exceptions=True)

    def remove(self, session: ConsoleSession) -> None:
        sessions = self._by_counsellor.get(session.counsellor_id)
        if sessions is None:
            return
        sessions.discard(session)
        if not sessions:
            del self._by_counsellor[session.counsellor_id]
            asyncio.get_running_loop().create_task(self._offline_after_grace(session.counsellor_id))

    async def _offline_after_grace(self, counsellor_id: str) -> None:
        await asyncio.sleep(OFFLINE_GRACE_SECONDS)
        if counsellor_id not in self._by_counsellor:
            try:
                await self.helpline.set_presence(counsellor_id, Presence.OFFLINE)
            except GatewayError:
                log.warning("could not mark a disconnected counsellor offline")

    def _send(self, counsellor_id: str | None, frame: dict) -> None:
        for session in self._by_counsellor.get(counsellor_id or "", ()):
            session.sender.send(frame)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MessageAdded) and event.message.author is not Author.COUNSELLOR:
            self._send(event.counsellor_id, {"type": "message", "conversation_id": event.conversation_id,
                                             "message": event.message.view()})
        elif isinstance(event, ConversationChanged):
            self._send(event.counsellor_id, {"type": "conversation", "conversation": event.view})
        elif isinstance(event, Typing) and event.by is Author.TEEN:
            self._send(event.counsellor_id, {"type": "typing", "conversation_id": event.conversation_id,
                                             "active": event.active})
        elif isinstance(event, DeliveryChanged):
            self._send(event.counsellor_id, {"type": "delivery", "conversation_id": event.conversation_id,
                                             "seq": event.seq, "delivery": event.delivery,
                                             "delivery_error": event.delivery_error})
        elif isinstance(event, PresenceChanged):
            self._send(event.counsellor_id, {"type": "presence", "presence": event.presence})
        elif isinstance(event, SessionEnded):
            for sessions in self._by_counsellor.values():
                for session in list(sessions):
                    if session.token_hash == event.token_hash:
                        asyncio.get_running_loop().create_task(session.sender.ws.close())


CONSOLE_HUB = web.AppKey("console_hub", ConsoleHub)
HELPLINE = web.AppKey("helpline", Helpline)
LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)
# Keys of client addresses for the login limits: random per process, never stored nor logged.
_ADDRESS_SECRET = secrets.token_bytes(32)
FORBIDDEN = {"error": "Requête refusée (origine inconnue)."}


def _cookie_secure(request: web.Request) -> bool:
    config = request.app[HELPLINE].config
    forwarded_https = config.trust_proxy and request.headers.get("X-Forwarded-Proto", "") == "https"
    return config.tls or request.secure or forwarded_https


async def current_counsellor(request: web.Request) -> Counsellor | None:
    return await session_counsellor(request.app[HELPLINE].store, request.cookies.get(COOKIE))


async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    if not csrf_ok(request, helpline.config.console_origins):
        return web.json_response(FORBIDDEN, status=403)
    try:
        body = orjson.loads(await request.read())
        username, password = str(body["username"])[:64], str(body["password"])[:256]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response({"error": "Requête invalide."}, status=400)
    guard, account = request.app[LOGIN_GUARD], account_key(username)
    address = client_address_key(request, _ADDRESS_SECRET, helpline.config.trust_proxy)
    wait = guard.check(account, address)
    if wait is not None:  # same answer whether the account exists or not
        return too_many_requests(wait, "Trop de tentatives. Réessayez dans quelques minutes.")
    try:
        counsellor = await authenticate(helpline.store, username, password)
    except AuthError:
        guard.failed(account, address)
        audit.record("login_refused", None, at=helpline.clock.now())
        return web.json_response({"error": "Identifiant ou mot de passe incorrect."}, status=401)
    guard.succeeded(account, address)
    token = await open_session(helpline.store, counsellor, helpline.config.session_hours)
    response = web.json_response({"me": counsellor.public()})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=_cookie_secure(request),
                        max_age=int(helpline.config.session_hours * 3600), path="/")
    audit.record("login", counsellor.id, at=helpline.clock.now())
    return response


async def logout(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    if not csrf_ok(request, helpline.config.console_origins):
        return web.json_response(FORBIDDEN, status=403)
    token = request.cookies.get(COOKIE)
    if token:
        who = await current_counsellor(request)
        audit.record("logout", who.id if who else None, at=helpline.clock.now())
        await helpline.store.delete_session(hash_token(token))
        await helpline.bus.publish(SessionEnded(hash_token(token)))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    counsellor = await current_counsellor(request)
    if counsellor is None:
        return web.json_response({"error": "Non connecté."}, status=401)
    return web.json_response({"me": counsellor.public()})


async def console_socket(request: web.Request) -> web.StreamResponse:
    if not csrf_ok(request, request.app[HELPLINE].config.console_origins):
        return web.json_response(FORBIDDEN, status=403)  # cross-site WebSocket hijacking
    counsellor = await current_counsellor(request)
    if counsellor is None:
        return web.json_response({"error": "Non connecté."}, status=401)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    metrics = request.app[METRICS]
    metrics.socket_opened("console")
    hub = request.app[CONSOLE_HUB]
    session = ConsoleSession(QueuedSender(ws, limit=1024), counsellor.id, hash_token(request.cookies[COOKIE]),
                             supervisor=counsellor.role in (Role.SUPERVISOR, Role.ADMIN))
    hub.add(session)
    try:
        await ConsoleConnection(request.app[HELPLINE], session).run(counsellor)
    finally:
        metrics.socket_closed("console")
        hub.remove(session)
        await session.sender.aclose()
    return ws


class ConsoleConnection:
    """Moves frames between one counsellor's socket and the core."""

    def __init__(self, helpline: Helpline, session: ConsoleSession):
        self.helpline = helpline
        self.session = session
        self.counsellor_id = session.counsellor_id

    async def run(self, counsellor: Counsellor) -> None:
        conversations = await self.helpline.store.conversations_of(self.counsellor_id)
        self.session.sender.send({
            "type": "init",
            "me": counsellor.public(),
            "conversations": [console_view(c, self.helpline.clock.now()) for c in conversations],
            "team": await self._team(),
            "server_time": int(self.helpline.clock.now() * 1000),
        })
        watch = asyncio.get_running_loop().create_task(self._close_when_session_ends())
        try:
            async for frame in self.session.sender.ws:
                if frame.type is not WSMsgType.TEXT:
                    break
                if not await self.helpline.store.session_counsellor(self.session.token_hash):
                    break  # expired or logged out elsewhere: no frame is acted on after that
                await self._handle(frame.data)
        finally:
            watch.cancel()

    async def _close_when_session_ends(self) -> None:
        """A session that expires closes its sockets, like a logout does (checked every 30 s)."""
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            try:
                alive = await self.helpline.store.session_counsellor(self.session.token_hash)
            except GatewayError:
                continue
            if not alive:
                await self.session.sender.ws.close(code=4401, message=b"session ended")
                return

    async def _handle(self, data: str) -> None:
        frame: dict = {}
        try:
            parsed = orjson.loads(data)
            if not isinstance(parsed, dict):
                raise ProtocolError("bad_frame", "Message illisible.")
            frame = parsed
            await self._dispatch(frame)
        except orjson.JSONDecodeError:
            self._error(ProtocolError("bad_frame", "Message illisible."), frame)
        except ProtocolError as exc:
            self._error(exc, frame)
        except GatewayError as exc:
            log.warning("console frame failed: %s", exc.code)
            self._error(ProtocolError("unavailable", "Le service est momentanément indisponible, réessayez."), frame)

    def _error(self, exc: ProtocolError, frame: dict) -> None:
        """The error names the refused frame's ids, so the page can mark the right line."""
        error = {"type": "error", "code": exc.code, "message": str(exc)}
        for key in ("client_id", "conversation_id"):
            if isinstance(frame.get(key), str):
                error[key] = frame[key][:64]
        self.session.sender.send(error)

    async def _reply(self, frame: dict) -> None:
        """Store and send a reply once, even if the page re-sends it after a reconnect."""
        conversation_id, client_id = frame.get("conversation_id"), frame.get("client_id")
        if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
            raise ProtocolError("bad_client_id", "Réponse sans identifiant.")
        conversation = await self.helpline.conversation_of(self.counsellor_id, conversation_id)
        fresh = await self.helpline.store.claim_message_id(
            "console", f"{self.counsellor_id}:{client_id}", self.helpline.config.dedupe_ttl_seconds)
        ack = {"type": "ack", "conversation_id": conversation.id, "client_id": client_id}
        if not fresh:
            self.session.sender.send({**ack, "message": None, "duplicate": True})
            return
        message = await self.helpline.reply(self.counsellor_id, conversation.id, frame.get("text"))
        self.session.sender.send({**ack, "message": message.view()})

    async def _team(self) -> list[dict]:
        """Colleagues, for transfers: name, skills, presence (no load, no conversations)."""
        return [{"id": c.id, "display_name": c.display_name, "skills": sorted(c.skills), "presence": c.presence.value}
                for c in await self.helpline.store.counsellors() if c.id != self.counsellor_id]

    async def _dispatch(self, frame: dict) -> None:
        kind = frame.get("type")
        conversation_id = frame.get("conversation_id")
        if kind == "presence":
            try:
                presence = Presence(frame.get("presence"))
            except ValueError as exc:
                raise ProtocolError("bad_presence", "Statut inconnu.") from exc
            await self.helpline.set_presence(self.counsellor_id, presence)
        elif kind == "open":
            conversation = await self.helpline.conversation_of(self.counsellor_id, conversation_id)
            messages = await self.helpline.store.messages(conversation.id)
            self.session.sender.send({"type": "history", "conversation_id": conversation.id,
                                      "messages": [m.view() for m in messages]})
            audit.record("open", self.counsellor_id, at=self.helpline.clock.now(), conversation_id=conversation.id)
            await self.helpline.seen(self.counsellor_id, conversation.id)
        elif kind == "reply":
            await self._reply(frame)
        elif kind == "typing":
            await self.helpline.counsellor_typing(self.counsellor_id, conversation_id, frame.get("active") is True)
        elif kind == "close":
            conversation = await self.helpline.conversation_of(self.counsellor_id, conversation_id)
            await self.helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)
        elif kind == "ping":
            ping_id = frame.get("id")
            self.session.sender.send({"type": "pong", "id": ping_id if isinstance(ping_id, str) and len(ping_id) <= 64 else None})
        elif kind == "team":
            self.session.sender.send({"type": "team", "team": await self._team()})
        elif kind == "transfer":
            done = await transfer(self.helpline, self.counsellor_id, conversation_id, to_counsellor=frame.get("to_counsellor"),
                                  to_skill=frame.get("to_skill"), note=frame.get("note"))
            audit.record("transfer", self.counsellor_id, at=self.helpline.clock.now(),
                         conversation_id=done.conversation_id, outcome=done.outcome)
            self.session.sender.send({"type": "transferred", "conversation_id": done.conversation_id,
                                      "outcome": done.outcome, "to": done.to_name})
        elif kind == "mark_abusive":
            until = await mark_abusive(self.helpline, self.counsellor_id, conversation_id, frame.get("hours"))
            self.session.sender.send({"type": "marked_abusive", "conversation_id": conversation_id,
                                      "until": int(until * 1000)})
        elif kind == "erase":
            await erase_on_request(self.helpline, self.counsellor_id, conversation_id)
            self.session.sender.send({"type": "erased", "conversation_id": conversation_id})
        elif kind == "lift_abuse":
            await lift_abuse(self.helpline, self.counsellor_id, frame.get("mark_id"))
            self.session.sender.send({"type": "abuse_lifted", "mark_id": frame.get("mark_id")})
        elif kind == "reassign":
            done = await reassign(self.helpline, self.counsellor_id, conversation_id, frame.get("to_counsellor"))
            audit.record("reassign", self.counsellor_id, at=self.helpline.clock.now(),
                         conversation_id=done.conversation_id)
            self.session.sender.send({"type": "reassigned", "conversation_id": done.conversation_id, "to": done.to_name})
        else:
            raise ProtocolError("unknown_type", "Action inconnue.")


def add_console_routes(app: web.Application) -> None:
    app.router.add_get("/console", console_page)
    app.router.add_static("/console/static/", CONSOLE_DIR, append_version=False)
    app.router.add_post("/api/console/login", login)
    app.router.add_post("/api/console/logout", logout)
    app.router.add_get("/api/console/me", me)
    app.router.add_get("/ws/console", console_socket)
