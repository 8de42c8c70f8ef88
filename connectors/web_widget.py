"""The web widget's WebSocket: frames in, core calls; bus events out, frames to the teen.

Protocol: docs/protocol.md ("Widget"). The session token lives only in the teen's tab
(sessionStorage); the server keeps only its keyed hash, the sender key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass, field

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from gateway.core.helpline import Helpline
from gateway.domain.errors import GatewayError, ProtocolError, StoreError
from gateway.domain.events import ConversationChanged, Event, MessageAdded, Typing
from gateway.domain.model import (
    Author, Channel, CloseReason, Conversation, ConversationState, InboundMessage, Message,
)
from gateway.http.security import client_address_key, request_origin_allowed, too_many_requests
from gateway.http.metrics import METRICS
from gateway.domain.rate_limit import MONOTONIC, ConcurrencyCap, KeyedBuckets
from gateway.http.sockets import SOCKETS, QueuedSender

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
HELLO_TIMEOUT = 10.0
MAX_FRAME_BYTES = 16 * 1024


@dataclass
class WidgetLimits:
    """Token buckets and caps of this process (see docs/security.md)."""

    connects: KeyedBuckets  # per address key
    sockets: ConcurrencyCap  # per address key
    messages: KeyedBuckets  # per teen (sender key)
    typing: KeyedBuckets  # per teen
    address_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_config(cls, config) -> "WidgetLimits":
        per_minute = config.widget_messages_per_minute
        return cls(
            connects=KeyedBuckets(config.widget_connects_per_minute / 60, max(5, config.widget_connects_per_minute // 4)),
            sockets=ConcurrencyCap(config.widget_sockets_per_address),
            messages=KeyedBuckets(per_minute / 60, max(3, per_minute // 2)),
            typing=KeyedBuckets(2.0, 10),
        )


@dataclass(eq=False)
class WidgetSession:
    """One open widget socket and what it already shows."""

    sender: QueuedSender
    sender_key: str
    conversation_id: str | None = None
    state: str | None = None
    counsellor: str | None = None
    position: int | None = None
    wait: str | None = None  # the estimated wait, as the teen reads it
    sent_seqs: set[int] = field(default_factory=set)

    def send_message(self, message: Message) -> None:
        if message.author is Author.NOTE:
            return  # counsellors' internal notes never reach the teen
        if message.seq not in self.sent_seqs:
            self.sent_seqs.add(message.seq)
            self.sender.send({"type": "message", "message": message.view()})

    def send_state(self) -> None:
        self.sender.send({"type": "state", "conversation": self.view()})

    def view(self) -> dict | None:
        if self.conversation_id is None:
            return None
        return {
            "state": self.state,
            "position": self.position if self.state == "queued" else None,
            "wait": self.wait if self.state == "queued" else None,
            "counsellor": self.counsellor,
        }


class WidgetHub:
    """The widget sockets of this process, by conversation; fed by the bus."""

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self.limits = WidgetLimits.from_config(helpline.config)
        self._by_conversation: dict[str, set[WidgetSession]] = {}
        self._positions_stale = False
        self._refresher: asyncio.Task | None = None
        self._leave_timers: set[asyncio.Task] = set()
        helpline.bus.subscribe(self._on_event)

    def teen_gone(self, session: WidgetSession) -> None:
        """The last socket of a waiting teen closed: unless they come back (a reload does, within
        seconds), they left the queue. Counted as abandoned by the core."""
        conversation_id = session.conversation_id
        if conversation_id is None or session.state != "queued" or self._by_conversation.get(conversation_id):
            return
        task = asyncio.get_running_loop().create_task(self._leave_after_grace(conversation_id))
        self._leave_timers.add(task)
        task.add_done_callback(self._leave_timers.discard)

    async def _leave_after_grace(self, conversation_id: str) -> None:
        left_at = self.helpline.clock.now()
        await asyncio.sleep(self.helpline.config.widget_leave_seconds)
        if self._by_conversation.get(conversation_id):
            return  # back (same process; see docs/architecture.md for several processes)
        try:
            await self.helpline.teen_left(conversation_id, left_at)
        except GatewayError as exc:
            log.warning("could not record a teen leaving the queue: %s", exc.code)

    async def close(self) -> None:
        for task in list(self._leave_timers):
            task.cancel()
        await asyncio.gather(*self._leave_timers, return_exceptions=True)

    def bind(self, session: WidgetSession, conversation: Conversation | None, counsellor: str | None) -> None:
        self.unbind(session)
        if conversation is None:
            return
        session.conversation_id = conversation.id
        session.state = conversation.state.value
        session.counsellor = counsellor
        session.sent_seqs.clear()
        if conversation.is_open:
            self._by_conversation.setdefault(conversation.id, set()).add(session)

    def unbind(self, session: WidgetSession) -> None:
        if session.conversation_id is None:
            return
        peers = self._by_conversation.get(session.conversation_id)
        if peers is not None:
            peers.discard(session)
            if not peers:
                del self._by_conversation[session.conversation_id]

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MessageAdded) and event.message.author is not Author.TEEN:
            for session in self._by_conversation.get(event.conversation_id, ()):
                session.send_message(event.message)
        elif isinstance(event, Typing) and event.by is Author.COUNSELLOR:
            for session in self._by_conversation.get(event.conversation_id, ()):
                session.sender.send({"type": "typing", "active": event.active})
        elif isinstance(event, ConversationChanged):
            self._on_conversation_changed(event)

    def _on_conversation_changed(self, event: ConversationChanged) -> None:
        if event.state not in ("queued", "assigned", "closed"):
            # "transferred" is for the old counsellor's console; a "raised" one moved ahead.
            self.refresh_positions_soon()
            return
        for session in list(self._by_conversation.get(event.conversation_id, ())):
            name = event.counsellor_name if event.state == "assigned" else None
            if session.state == event.state and (event.state != "assigned" or session.counsellor == name):
                continue  # already told (e.g. when it bound); positions come from the refresher
            session.state = event.state
            session.counsellor = name
            session.position = None
            session.send_state()
            if event.state == "closed":
                self.unbind(session)
        self.refresh_positions_soon()

    def refresh_positions_soon(self) -> None:
        """Coalesce bursts of queue changes into one read of the queue."""
        self._positions_stale = True
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_positions())

    async def _refresh_positions(self) -> None:
        while self._positions_stale:
            self._positions_stale = False
            if not self._by_conversation:
                return
            try:
                positions = await self.helpline.queue_positions()
            except StoreError:
                return
            for conversation_id, sessions in self._by_conversation.items():
                position = positions.get(conversation_id)
                wait = self.helpline.wait_estimate(position).text_fr() if position is not None else None
                for session in sessions:
                    if session.state == "queued" and position is not None and \
                            (position, wait) != (session.position, session.wait):
                        session.position, session.wait = position, wait
                        session.send_state()


class WidgetConnection:
    """Moves frames between one teen's socket and the core."""

    def __init__(self, hub: WidgetHub, ws: web.WebSocketResponse):
        self.hub = hub
        self.helpline = hub.helpline
        self.ws = ws
        self.session: WidgetSession | None = None

    async def run(self) -> None:
        sender = QueuedSender(self.ws)
        try:
            hello = await self._read_hello()
            await self._welcome(sender, hello)
            last_frame = MONOTONIC.now()
            while True:
                # Idle timeout: counted from the page's last frame (pongs keep a socket alive,
                # not busy); a page left open for hours is let go and reconnects if used.
                try:
                    async with asyncio.timeout(max(0.0, self.helpline.config.widget_idle_seconds - (MONOTONIC.now() - last_frame))):
                        frame = await self.ws.receive()
                except TimeoutError:
                    await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle")
                    break
                if frame.type is not WSMsgType.TEXT:
                    break
                last_frame = MONOTONIC.now()
                await self._handle_frame(frame.data)
        except ProtocolError as exc:
            sender.send({"type": "error", "code": exc.code, "message": str(exc)})
            await asyncio.sleep(0)  # let the error frame go out before closing
        finally:
            if self.session:
                self.hub.unbind(self.session)
                self.hub.teen_gone(self.session)
            await sender.aclose()

    async def _read_hello(self) -> dict:
        try:
            frame = await self.ws.receive(timeout=HELLO_TIMEOUT)
        except asyncio.TimeoutError as exc:
            raise ProtocolError("hello_expected", "La connexion n'a pas pu démarrer.") from exc
        hello = _parse(frame.data) if frame.type is WSMsgType.TEXT else None
        if not hello or hello.get("type") != "hello":
            raise ProtocolError("hello_expected", "La connexion n'a pas pu démarrer.")
        return hello

    async def _welcome(self, sender: QueuedSender, hello: dict) -> None:
        token = hello.get("token")
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            token = secrets.token_urlsafe(32)
        last_seq = hello.get("last_seq")
        last_seq = last_seq if isinstance(last_seq, int) and last_seq >= 0 else 0
        sender_key = self.helpline.pseudonyms.sender_key(Channel.WEB.value, token)
        self.session = WidgetSession(sender, sender_key)
        conversation = await self.helpline.store.active_conversation_of(sender_key)
        history: list[Message] = []
        if conversation is not None:
            await self._bind(conversation)
            history = await self.helpline.store.messages(conversation.id, after_seq=last_seq)
            self.session.sent_seqs.update(m.seq for m in history)
        sender.send({
            "type": "welcome",
            "token": token,
            "line": self.helpline.line_status(),
            "conversation": self.session.view(),
            "messages": [m.view() for m in history if m.author is not Author.NOTE],
        })

    async def _bind(self, conversation: Conversation) -> None:
        """Listen to the conversation first, then read it: no change can fall in between."""
        session = self.session
        self.hub.bind(session, conversation, None)
        conversation = await self.helpline.store.get_conversation(conversation.id) or conversation
        session.state = conversation.state.value
        if conversation.counsellor_id:
            profile = await self.helpline.store.get_counsellor(conversation.counsellor_id)
            session.counsellor = profile.display_name if profile else None
        if conversation.state is ConversationState.QUEUED:
            session.position = (await self.helpline.queue_positions()).get(conversation.id)
            if session.position is not None:
                session.wait = self.helpline.wait_estimate(session.position).text_fr()
        elif not conversation.is_open:
            self.hub.unbind(session)

    async def _handle_frame(self, data: str) -> None:
        frame = _parse(data)
        kind = frame.get("type") if frame else None
        try:
            if kind == "message":
                await self._on_message(frame)
            elif kind == "typing":
                await self._on_typing(frame)
            elif kind == "end":
                await self._on_end()
            elif kind == "ping":
                self.session.sender.send(pong(frame))
            else:
                raise ProtocolError("unknown_type", "Ce message n'a pas été compris.")
        except ProtocolError as exc:
            self._error(exc.code, str(exc), frame)
        except GatewayError as exc:
            # One line, no traceback: under overload a traceback per frame made things worse.
            log.warning("widget frame failed: %s", exc.code)
            self._error("unavailable", "Petit souci technique, ton message va être renvoyé.", frame)

    def _error(self, code: str, message: str, frame: dict | None) -> None:
        """The error names the refused message's client_id, so the page can mark the right line."""
        error = {"type": "error", "code": code, "message": message}
        if frame and isinstance(frame.get("client_id"), str):
            error["client_id"] = frame["client_id"][:64]
        self.session.sender.send(error)

    async def _on_message(self, frame: dict) -> None:
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id):
            raise ProtocolError("bad_client_id", "Ce message n'a pas été compris.")
        session = self.session
        if not self.hub.limits.messages.take(session.sender_key, MONOTONIC.now()):
            raise ProtocolError("slow_down", "Tu envoies beaucoup de messages d'un coup : attends quelques "
                                             "secondes, ton message n'est pas perdu.")
        inbound = InboundMessage(Channel.WEB, session.sender_key, client_id, frame.get("text"),
                                 self.helpline.clock.now())
        result = await self.helpline.receive(inbound)
        if result.duplicate:
            session.sender.send({"type": "ack", "client_id": client_id, "message": None, "duplicate": True})
            return
        if result.conversation.id != session.conversation_id:
            await self._bind(result.conversation)
            session.send_state()
        session.sent_seqs.add(result.message.seq)
        session.sender.send({"type": "ack", "client_id": client_id, "message": result.message.view()})
        # Automatic replies stored during receive() may have been published before we bound.
        for message in await self.helpline.store.messages(result.conversation.id, after_seq=result.message.seq):
            if message.author is not Author.TEEN:
                session.send_message(message)

    async def _on_typing(self, frame: dict) -> None:
        if not self.hub.limits.typing.take(self.session.sender_key, MONOTONIC.now()):
            return  # a flood of typing frames is dropped silently
        if self.session.conversation_id and self.session.state == "assigned":
            conversation = await self.helpline.store.get_conversation(self.session.conversation_id)
            if conversation is not None:
                await self.helpline.teen_typing(conversation, frame.get("active") is True)

    async def _on_end(self) -> None:
        if self.session.conversation_id and self.session.state in ("queued", "assigned"):
            await self.helpline.close(self.session.conversation_id, CloseReason.BY_TEEN)


def pong(frame: dict) -> dict:
    """The answer to a `ping`: sent after every frame queued before it (a barrier for clients)."""
    ping_id = frame.get("id")
    return {"type": "pong", "id": ping_id if isinstance(ping_id, str) and len(ping_id) <= 64 else None}


def _parse(data: object) -> dict | None:
    if not isinstance(data, str) or len(data) > MAX_FRAME_BYTES:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


WIDGET_HUB = web.AppKey("widget_hub", WidgetHub)


async def widget_socket(request: web.Request) -> web.StreamResponse:
    """Checks before the upgrade: the page's Origin (cross-site hijacking), then per-address
    limits (connection rate, simultaneous sockets). Addresses are keyed, never kept."""
    hub = request.app[WIDGET_HUB]
    config = hub.helpline.config
    if not request_origin_allowed(request, config.widget_origins):
        return web.json_response({"error": "Origine non autorisée."}, status=403)
    address = client_address_key(request, hub.limits.address_secret, config.trust_proxy)
    now = MONOTONIC.now()
    if not hub.limits.connects.take(address, now):
        return too_many_requests(hub.limits.connects.retry_after(address, now),
                                 "Trop de connexions. Réessaie dans quelques secondes.")
    if not hub.limits.sockets.acquire(address):
        return too_many_requests(5, "Trop de connexions ouvertes depuis cette adresse.")
    metrics = request.app[METRICS]
    try:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        metrics.socket_opened("widget")
        try:
            await WidgetConnection(hub, ws).run()
        finally:
            metrics.socket_closed("widget")
        return ws
    finally:
        hub.limits.sockets.release(address)
