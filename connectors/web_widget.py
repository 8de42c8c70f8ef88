"""The web widget's WebSocket: frames in, core calls; bus events out, frames to the teen.

Protocol: docs/protocol.md ("Widget"). The session token lives only in the teen's tab
(sessionStorage); the server keeps only its keyed hash, the sender key. What a teen may see,
how fast they may write and when a closed tab means leaving the queue: core/teen.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from gateway.core import limits as shared_limits
from gateway.core import survey
from gateway.core.helpline import Helpline
from gateway.core.returning import follow_up_code
from gateway.core.seq_gate import SeqGate
from gateway.core.teen import TeenStatus, shown_to_teen
from gateway.domain.errors import GatewayError, ProtocolError, StoreError
from gateway.domain.events import (
    Barrier, ConversationChanged, Event, HandedOver, MessageAdded, PriorityRaised, TeenAway, Typing,
)
from gateway.domain.model import Author, ConversationState, Message
from gateway.domain.texts import queue_sentence
from gateway.http.frame_schema import WIDGET_FRAMES, WIDGET_HELLO, read_frame
from gateway.http.security import request_address_key, request_origin_allowed, too_many_requests
from gateway.http.metrics import METRICS
from gateway.domain.rate_limit import MONOTONIC, ConcurrencyCap
from gateway.http.sockets import SOCKETS, QueuedSender

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
HELLO_TIMEOUT = 10.0
MAX_FRAME_BYTES = 16 * 1024
QUEUED, ASSIGNED, CLOSED = ConversationState.QUEUED, ConversationState.ASSIGNED, ConversationState.CLOSED
NOT_UNDERSTOOD = "Ce message n'a pas été compris."
# French for a teen, per refusal code of a frame's shape (frame_schema); "" for any other.
FRAME_ERRORS = {"": NOT_UNDERSTOOD, "bad_text": "Ton message n'a pas pu être lu.",
                "bad_hello": "La connexion n'a pas pu démarrer."}


@dataclass
class WidgetLimits:
    """The per-address limit of this process, checked before the upgrade: simultaneous sockets
    (an open socket lives in one process; see docs/security.md, "Known limits"). Connects and
    new conversations per address are shared by every process: core/limits.py. The per-teen
    limits (messages, typing) are the core's: core/teen.py's TeenLimits."""

    sockets: ConcurrencyCap  # per address key

    @classmethod
    def from_config(cls, config) -> "WidgetLimits":
        return cls(sockets=ConcurrencyCap(config.widget_sockets_per_address))


def sent_live(message: Message) -> bool:
    """What a widget socket's gate puts on the socket: what the teen sees (never a note), but
    not the teen's own lines, which come in acks (`WidgetSession.accepts`). A gap filled from the
    store while the ack of the teen's line is on its way (a raise's note overtaking it on the
    bus) would otherwise send that line twice."""
    return shown_to_teen(message) and message.author is not Author.TEEN


@dataclass(eq=False, slots=True)  # slots: thousands of idle sockets each hold one
class WidgetSession:
    """One open widget socket and what it already shows; decides what it accepts of the bus."""

    sender: QueuedSender
    sender_key: str
    conversation_id: str | None = None
    state: ConversationState | None = None
    counsellor: str | None = None
    position: int | None = None
    wait: str | None = None  # the estimated wait, as the teen reads it
    lines: SeqGate | None = field(default=None, repr=False)  # what it shows, in seq order, no gap
    changed_since_listen: bool = False  # a state event came after `listen` (see `show`)

    def accepts(self, event: Event) -> bool:
        """Of the events about its conversation: our lines (the gate counts a note without
        sending it; the teen's own lines come in acks), the counsellor typing, a new state it
        does not show yet."""
        if isinstance(event, MessageAdded):
            return event.message.author is not Author.TEEN
        if isinstance(event, Typing):
            return event.by is Author.COUNSELLOR
        if isinstance(event, ConversationChanged):
            name = event.conversation.counsellor_name if event.state is ASSIGNED else None
            return not (self.state is event.state and (event.state is not ASSIGNED or self.counsellor == name))
        return False  # a raise, a handover's previous counsellor, deliveries: the console's

    def payload(self, event: Event) -> dict:
        """This client's frame for an event it accepts other than a line (and what it now shows)."""
        if isinstance(event, Typing):
            return {"type": "typing", "active": event.active}
        self.state = event.state
        self.counsellor = event.conversation.counsellor_name if event.state is ASSIGNED else None
        self.position = None  # positions come from the refresher
        self.changed_since_listen = True
        return self.state_frame()

    def send_line(self, conversation_id: str, message: Message) -> None:
        """The gate's way out: one line, in its turn."""
        if conversation_id == self.conversation_id:
            self.sender.send({"type": "message", "message": message.view()})

    def show(self, status: TeenStatus) -> None:
        """The core's read of the conversation, made after `listen`. A state event that came
        since is not older than that read (each change is published after it is stored, so a
        state the read saw has its event delivered or still to come): then the event's state
        stays. Applying the read over it showed a teen "en attente" while Alix was answering,
        and hid the next real requeue as "not news"."""
        if not self.changed_since_listen:
            self.state, self.counsellor = status.state, status.counsellor_name
        self.position, self.wait = status.position, status.wait

    def state_frame(self) -> dict:
        return {"type": "state", "conversation": self.view()}

    def view(self) -> dict | None:
        """ConvView. `queue_text` is made here from the place and wait it shows, so the band
        follows each refresh in the words of the bubbles (the same as TeenStatus.queue_text)."""
        if self.conversation_id is None:
            return None
        queued = self.state is QUEUED and self.position is not None and self.wait is not None
        return {
            "state": self.state.value if self.state else None,
            "position": self.position if self.state is QUEUED else None,
            "wait": self.wait if self.state is QUEUED else None,
            "queue_text": queue_sentence(self.position, self.wait) if queued else None,
            "counsellor": self.counsellor,
        }


class WidgetHub:
    """The widget sockets of this process, by conversation; fed by the bus."""

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self.limits = WidgetLimits.from_config(helpline.config)
        self._by_conversation: dict[str, set[WidgetSession]] = {}
        self._pongs: dict[str, tuple[WidgetSession, str | None]] = {}  # barrier token -> who pinged
        self._positions_stale = False
        self._refresher: asyncio.Task | None = None
        helpline.bus.subscribe(self._on_event)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    def listen(self, session: WidgetSession, conversation_id: str, state: ConversationState) -> None:
        """From now on, this session gets the conversation's events (the core reads it after);
        an event of the state it was read in is not news."""
        self.unbind(session)
        if session.conversation_id is not None:
            session.lines.forget(session.conversation_id)
        session.conversation_id, session.state, session.counsellor = conversation_id, state, None
        session.changed_since_listen = False
        session.lines.hold(conversation_id)  # until the core's read says where the page stands
        self._by_conversation.setdefault(conversation_id, set()).add(session)
        self.helpline.teen_socket_back(conversation_id)

    def unbind(self, session: WidgetSession) -> None:
        if session.conversation_id is None:
            return
        peers = self._by_conversation.get(session.conversation_id)
        if peers is not None:
            peers.discard(session)
            if not peers:
                del self._by_conversation[session.conversation_id]

    def socket_closed(self, session: WidgetSession, restarting: bool = False) -> None:
        """The socket ended: forget it; if it was the conversation's last here, the core marks the
        teen away and its leave timer starts. Not when we closed it for a restart (1012): the
        page reconnects at once to another process, whose hello could land before our mark."""
        self.unbind(session)
        session.lines.close()
        for token in [t for t, (s, _) in self._pongs.items() if s is session]:
            del self._pongs[token]
        if session.conversation_id and not self._by_conversation.get(session.conversation_id) and not restarting:
            self.helpline.teen_socket_gone(session.conversation_id, session.state)

    async def ping(self, session: WidgetSession, ping_id: str | None) -> None:
        """Answer `pong` once a Barrier published now comes back through the bus: every event
        published before the ping reached us has then been queued to this socket."""
        token = uuid.uuid4().hex
        self._pongs[token] = (session, ping_id)  # before publishing: the local bus delivers at once
        try:
            await self.helpline.barrier(token)
        except BaseException:  # e.g. a StoreError (Redis away): answered as an error, no pong
            self._pongs.pop(token, None)
            raise

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Barrier):
            waiting = self._pongs.pop(event.token, None)
            if waiting is not None:
                waiting[0].sender.send({"type": "pong", "id": waiting[1]})
            return
        conversation_id = getattr(event, "conversation_id", None)
        for session in list(self._by_conversation.get(conversation_id, ())):
            if not session.accepts(event):
                continue
            if isinstance(event, MessageAdded):
                session.lines.offer(event.conversation_id, event.message)
            else:
                session.sender.send(session.payload(event))
                if session.state is CLOSED:
                    self.unbind(session)
                    if isinstance(event, ConversationChanged) and survey.asks_after(self.helpline.config,
                                                                                     event.conversation):
                        session.sender.send(survey.question_frame())
        if isinstance(event, (ConversationChanged, PriorityRaised, TeenAway, HandedOver)):
            self.refresh_positions_soon()  # the queue moved: new, assigned, raised, away, requeued or closed

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
                    if session.state is QUEUED and position is not None and \
                            (position, wait) != (session.position, session.wait):
                        session.position, session.wait = position, wait
                        session.sender.send(session.state_frame())


class WidgetConnection:
    """Moves frames between one teen's socket and the core."""

    __slots__ = ("hub", "helpline", "ws", "address_key", "session")

    def __init__(self, hub: WidgetHub, ws: web.WebSocketResponse, address_key: str | None = None):
        self.hub = hub
        self.helpline = hub.helpline
        self.ws = ws
        self.address_key = address_key  # the keyed hash of the page's address: new conversations per address
        self.session: WidgetSession | None = None

    async def run(self) -> None:
        sender = QueuedSender(self.ws)
        try:
            hello = await self._read_hello()
            await self._welcome(sender, hello)
            await self._frames()
        except ProtocolError as exc:
            sender.send({"type": "error", "code": exc.code, "message": str(exc)})
            await asyncio.sleep(0)  # let the error frame go out before closing
        except StoreError:  # the welcome could not be read: the page retries on 1013 (helper J)
            log.warning("widget socket closed: store unavailable")
            sender.send({"type": "error", "code": "unavailable", "message": "Petit souci technique, on réessaie…"})
            await asyncio.sleep(0)
            await self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"store unavailable")
        finally:
            if self.session:
                self.hub.socket_closed(self.session, restarting=self.ws.close_code == WSCloseCode.SERVICE_RESTART)
            await sender.aclose()

    async def _frames(self) -> None:
        """Idle timeout: counted from the page's last frame (pongs keep a socket alive, not busy);
        a page left open for hours is let go and reconnects if used."""
        last_frame = MONOTONIC.now()
        while True:
            idle_left = self.helpline.config.widget_idle_seconds - (MONOTONIC.now() - last_frame)
            try:
                async with asyncio.timeout(max(0.0, idle_left)):
                    frame = await self.ws.receive()
            except TimeoutError:
                self.helpline.security.record("idle_socket", "widget_socket",
                                              seconds=int(self.helpline.config.widget_idle_seconds))
                await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle")
                return
            if frame.type is not WSMsgType.TEXT:
                return
            last_frame = MONOTONIC.now()
            await self._handle_frame(frame.data)

    async def _read_hello(self) -> dict:
        """The first frame: a hello whose every field has its type and range (else refused and
        the socket closed, before any store call)."""
        try:
            frame = await self.ws.receive(timeout=HELLO_TIMEOUT)
        except asyncio.TimeoutError as exc:
            raise ProtocolError("hello_expected", "La connexion n'a pas pu démarrer.") from exc
        hello = _parse(frame.data) if frame.type is WSMsgType.TEXT else None
        if not hello or hello.get("type") != "hello":
            raise ProtocolError("hello_expected", "La connexion n'a pas pu démarrer.")
        return read_frame({"hello": WIDGET_HELLO}, hello, FRAME_ERRORS)[1] | {"token": hello.get("token")}

    async def _welcome(self, sender: QueuedSender, hello: dict) -> None:
        token = hello.get("token")
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            token = secrets.token_urlsafe(32)
        session = self.session = WidgetSession(sender, self.helpline.widget_sender_key(token))
        session.lines = SeqGate(self.helpline, session.send_line, sent_live)
        resumed = await self.helpline.teen_resume(session.sender_key, hello.get("last_seq", 0), self._listen,
                                                  tuple(hello.get("missing", ())))
        if resumed.status is not None:
            self._show(resumed.status)
        sender.send({
            "type": "welcome",
            "token": token,
            "line": self.helpline.line_status(),
            "limits": {"max_message_chars": self.helpline.config.max_message_chars},
            "conversation": session.view(),
            "messages": [m.view() for m in resumed.history],
        })
        if resumed.status is not None:  # after the welcome: lines held meanwhile go out now
            session.lines.track(resumed.status.conversation_id, resumed.through)

    def _listen(self, conversation_id: str, state: ConversationState) -> None:
        self.hub.listen(self.session, conversation_id, state)

    def _show(self, status: TeenStatus) -> None:
        self.session.show(status)
        if self.session.state is CLOSED:
            self.hub.unbind(self.session)

    async def _handle_frame(self, data: str) -> None:
        frame = _parse(data)
        session = self.session
        try:
            if frame is None:  # not a JSON object: as if of no known type (docs/protocol.md)
                raise ProtocolError("unknown_type", NOT_UNDERSTOOD)
            kind, fields = read_frame(WIDGET_FRAMES, frame, FRAME_ERRORS)
            if kind == "message":
                await self._on_message(fields["client_id"], fields["text"])
            elif kind == "typing":
                await self.helpline.teen_typing_in(session.sender_key, session.conversation_id, fields["active"])
            elif kind == "end":
                await self.helpline.teen_end(session.sender_key, session.conversation_id)
            elif kind == "follow_up_code":
                session.sender.send({"type": "follow_up_code",
                                     "code": await follow_up_code(self.helpline, session.sender_key)})
            elif kind == "survey_answer":  # thanked even when not counted (late, twice): nothing to fix for the teen
                await survey.answer(self.helpline, session.sender_key, session.conversation_id, fields["value"])
                session.sender.send({"type": "survey_thanks", "text": survey.THANKS})
            else:  # ping
                await self.hub.ping(session, ping_id(frame))
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

    async def _on_message(self, client_id: str, text: str) -> None:
        session = self.session
        written = await self.helpline.teen_write(session.sender_key, client_id, text,
                                                 session.conversation_id, self._listen, self.address_key)
        if written.duplicate:
            session.sender.send({"type": "ack", "client_id": client_id, "message": None, "duplicate": True})
            return
        conversation_id = written.message.conversation_id
        if written.status is not None:  # a conversation new to this page: it shows none of its lines
            self._show(written.status)
            session.sender.send(session.state_frame())
            session.lines.track(conversation_id, 0)
        await session.lines.through(conversation_id, written.message)  # lines before it first
        session.sender.send({"type": "ack", "client_id": client_id, "message": written.message.view()})
        for message in written.replies:
            session.lines.offer(conversation_id, message)


def ping_id(frame: dict) -> str | None:
    """The id a `pong` echoes: the ping's own, if it is a short string."""
    value = frame.get("id")
    return value if isinstance(value, str) and len(value) <= 64 else None


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
    limits (connection rate, shared by every process; simultaneous sockets, this process's).
    Addresses are keyed, never kept."""
    hub = request.app[WIDGET_HUB]
    helpline = hub.helpline
    address = request_address_key(request, helpline)
    if not request_origin_allowed(request, helpline.config.widget_origins):
        helpline.security.record("origin_refused", "widget_socket", address_key=address)
        return web.json_response({"error": "Origine non autorisée."}, status=403)
    wait = await shared_limits.widget_connect(helpline, address)
    if wait is not None:
        return too_many_requests(wait, "Trop de connexions. Réessaie dans quelques secondes.")
    if not hub.limits.sockets.acquire(address):
        helpline.security.record("rate_limited", "widget_socket", address_key=address, limit="widget_sockets")
        return too_many_requests(5, "Trop de connexions ouvertes depuis cette adresse.")
    metrics = request.app[METRICS]
    try:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        metrics.socket_opened("widget")
        try:
            await WidgetConnection(hub, ws, address).run()
        finally:
            metrics.socket_closed("widget")
        return ws
    finally:
        hub.limits.sockets.release(address)
