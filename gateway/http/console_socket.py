"""One counsellor's console socket: parse a frame, call one core use case, write what comes back.

Protocol: docs/protocol.md ("Console"). Every frame about a conversation is checked by the
core against its assigned counsellor; nothing is acted on once the session has ended.

Idle timeout: no frame from the page for `console.idle_seconds` and the socket is closed with
1001 "idle" (a security event `idle_socket`). The page sends a `heartbeat` every third of it
(`init.heartbeat_seconds`), so only a page that is gone (or a raw socket holding a slot) is
dropped. Closing is a lost socket, not a logout: the hub's presence grace applies and the page
reconnects (console/shared.js).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import WSCloseCode, WSMsgType

from gateway.core import care
from gateway.core.abuse import lift_abuse, mark_abusive
from gateway.core.casework import add_note, to_qualify
from gateway.core.counsellor import (
    console_start,
    open_conversation,
    reassign_conversation,
    reply_once,
    resume_conversations,
    session_alive,
    team_of,
    transfer_conversation,
)
from gateway.core.helpline import Helpline
from gateway.core.retention import erase_on_request
from gateway.core.returning import earlier_view, link_by_code, open_earlier
from gateway.domain.errors import GatewayError, ProtocolError, StoreError
from gateway.domain.model import CloseReason, Counsellor, Presence
from gateway.domain.rate_limit import MONOTONIC
from gateway.http.console_hub import ConsoleHub, ConsoleSession
from gateway.http.console_view import console_view, line_preview
from gateway.http.frame_schema import CONSOLE_FRAMES, read_frame

log = logging.getLogger(__name__)

MAX_ID = 64  # ids echoed back in errors and pongs are cut to this
# French for a counsellor, per refusal code of a frame's shape (frame_schema); "" for any other.
FRAME_ERRORS = {
    "": "Action refusée : message mal formé.", "bad_frame": "Message illisible.", "unknown_type": "Action inconnue.",
    "bad_conversation_id": "Conversation inconnue.", "bad_client_id": "Réponse sans identifiant.",
    "bad_text": "Texte illisible.", "bad_presence": "Statut inconnu.", "bad_target": "Destinataire inconnu.",
    "bad_duration": "Durée possible : 24 heures ou 7 jours.", "unknown_mark": "Ce signalement n'existe plus.",
    "bad_resume": "Reprise impossible : liste de conversations illisible.",
    "bad_code": "Code illisible : 6 caractères, par exemple 7K4-2QX.",
    "bad_note": "Note vide ou trop longue (1000 caractères maximum).",
}
UNAVAILABLE_TEXT = "Le service est momentanément indisponible, réessayez."


def team_view(team: list[Counsellor]) -> list[dict]:
    """Colleagues, for transfers: name, skills, presence (no load, no conversations)."""
    return [{"id": c.id, "display_name": c.display_name, "skills": sorted(c.skills), "presence": c.presence.value}
            for c in team]


def _short_id(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_ID else None


class ConsoleConnection:
    """Moves frames between one counsellor's socket and the core."""

    def __init__(self, helpline: Helpline, hub: ConsoleHub, session: ConsoleSession):
        self.helpline = helpline
        self.hub = hub
        self.session = session
        self.counsellor_id = session.counsellor_id
        self.send = session.sender.send
        self._last_frame = MONOTONIC.now()  # the idle timeout counts from the upgrade, then each frame
        self._handlers: dict[str, Callable[[dict], Awaitable[None]]] = {
            "presence": self._presence, "open": self._open, "reply": self._reply, "typing": self._typing,
            "close": self._close, "ping": self._ping, "team": self._team, "transfer": self._transfer,
            "mark_abusive": self._mark_abusive, "erase": self._erase, "lift_abuse": self._lift_abuse,
            "reassign": self._reassign, "resume": self._resume,
            "open_earlier": self._open_earlier, "link_earlier": self._link_earlier,
            "care_offer": self._care_offer, "care_pause": self._care_pause, "note": self._note,
            "heartbeat": self._heartbeat,
        }

    async def run(self, counsellor: Counsellor) -> None:
        start = await console_start(self.helpline, self.counsellor_id)
        unqualified = await to_qualify(self.helpline, self.counsellor_id)
        now = self.helpline.clock.now()
        self.send({
            "type": "init",
            "me": counsellor.public(),
            "conversations": [{**console_view(c, now), "last_line": line_preview(start.last_lines.get(c.id))}
                              for c in start.conversations],
            "team": team_view(start.team),
            "server_time": int(now * 1000),
            "limits": {"max_message_chars": self.helpline.config.max_message_chars},
            # Casework: my closed conversations still to qualify (any day), the reply box's `/` list.
            "to_qualify": [console_view(c, now) for c in unqualified],
            "casework": self.helpline.config.casework.console_view(),
            "heartbeat_seconds": heartbeat_seconds(self.helpline.config.console_idle_seconds),
        })
        self.session.start()  # the events held while the init was read follow it
        self.hub.refresh_queue()  # the queue summary follows the init, never before it
        while (frame := await self._next_frame()) is not None:
            try:
                alive = await session_alive(self.helpline, self.session.token_hash)
            except StoreError:  # the store is away: this frame is refused, the socket stays (helper J)
                ids = _frame_ids(frame.data)
                if ids.get("type") != "heartbeat":  # a heartbeat wants no answer, not even this one
                    self._error(ProtocolError("unavailable", UNAVAILABLE_TEXT), ids)
                continue
            if not alive:
                break  # expired or logged out elsewhere: no frame is acted on after that
            await self._handle(frame.data)

    async def _next_frame(self):
        """The page's next text frame; None once it closed, sent something else, or stayed silent
        past the idle timeout (then closed here). Wall time, like the widget's: a page's
        heartbeat runs in real time whatever clock the helpline runs on."""
        ws = self.session.sender.ws
        idle = self.helpline.config.console_idle_seconds  # read per frame: a reload applies at once
        try:
            async with asyncio.timeout(max(0.0, idle - (MONOTONIC.now() - self._last_frame))):
                frame = await ws.receive()
        except TimeoutError:
            self.helpline.security.record("idle_socket", "console_socket", seconds=int(idle))
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle")
            return None
        if frame.type is not WSMsgType.TEXT:
            return None
        self._last_frame = MONOTONIC.now()
        return frame

    async def _handle(self, data: str) -> None:
        frame: dict = {}
        try:
            parsed = orjson.loads(data)
            frame = parsed if isinstance(parsed, dict) else {}
            kind, _ = read_frame(CONSOLE_FRAMES, parsed, FRAME_ERRORS)  # every field, before any store call
            await self._handlers[kind](frame)
        except orjson.JSONDecodeError:
            self._error(ProtocolError("bad_frame", "Message illisible."), frame)
        except ProtocolError as exc:
            self._error(exc, frame)
        except GatewayError as exc:
            log.warning("console frame failed: %s", exc.code)
            self._error(ProtocolError("unavailable", UNAVAILABLE_TEXT), frame)

    def _error(self, exc: ProtocolError, frame: dict) -> None:
        """The error names the refused frame's ids, so the page can mark the right line."""
        error = {"type": "error", "code": exc.code, "message": str(exc)}
        for key in ("client_id", "conversation_id"):
            if isinstance(frame.get(key), str):
                error[key] = frame[key][:MAX_ID]
        self.send(error)

    # --- one handler per frame type ----------------------------------------------------------------
    async def _presence(self, frame: dict) -> None:
        try:
            presence = Presence(frame.get("presence"))
        except ValueError as exc:
            raise ProtocolError("bad_presence", "Statut inconnu.") from exc
        await self.helpline.set_presence(self.counsellor_id, presence)

    async def _open(self, frame: dict) -> None:
        conversation, messages = await open_conversation(self.helpline, self.counsellor_id,
                                                         frame.get("conversation_id"))
        self.send({"type": "history", "conversation_id": conversation.id, "messages": [m.view() for m in messages],
                   "earlier": await earlier_view(self.helpline, conversation)})
        self.session.lines.track(conversation.id, messages[-1].seq if messages else 0)

    async def _open_earlier(self, frame: dict) -> None:
        """A returning teen's earlier conversation, read-only (core/returning decides who may)."""
        messages = await open_earlier(self.helpline, self.counsellor_id, frame.get("conversation_id"),
                                      frame.get("earlier_id"))
        self.send({"type": "earlier_history", "conversation_id": frame.get("conversation_id"),
                   "earlier_id": frame.get("earlier_id"), "messages": [m.view() for m in messages]})

    async def _link_earlier(self, frame: dict) -> None:
        earlier = await link_by_code(self.helpline, self.counsellor_id, frame.get("conversation_id"),
                                     frame.get("code"))
        self.send({"type": "linked", "conversation_id": frame.get("conversation_id"), "earlier": earlier})

    async def _care_offer(self, frame: dict) -> None:
        """After a conversation is qualified: how long a care pause the console offers (0: none)."""
        minutes = await care.offer(self.helpline, self.counsellor_id, frame.get("conversation_id"))
        self.send({"type": "care_offer", "conversation_id": frame.get("conversation_id"), "minutes": minutes})

    async def _care_pause(self, frame: dict) -> None:
        """Paused with `care_until`; the `presence` frame that follows says so to every console of theirs."""
        until = await care.take(self.helpline, self.counsellor_id)
        self.send({"type": "care_pause", "care_until": int(until * 1000)})

    async def _resume(self, frame: dict) -> None:
        """After a reconnect: for each of my conversations the page names, the lines after the
        seq it has come as `message` frames, then `resumed` says where each now stands."""
        marks = frame["conversations"]
        lines = self.session.lines
        mine = await resume_conversations(self.helpline, self.counsellor_id, marks)
        for conversation_id in mine:
            lines.rewind(conversation_id, marks[conversation_id])
            await lines.catch_up(conversation_id)
        self.send({"type": "resumed", "conversations": {c: lines.mark_of(c) for c in mine}})

    async def _reply(self, frame: dict) -> None:
        client_id = frame.get("client_id")
        done = await reply_once(self.helpline, self.counsellor_id, frame.get("conversation_id"), client_id,
                                frame.get("text"))
        ack = {"type": "ack", "conversation_id": done.conversation_id, "client_id": client_id}
        if done.duplicate:
            self.send({**ack, "message": None, "duplicate": True})
        else:
            await self.session.lines.through(done.conversation_id, done.message)  # the lines before it first
            self.send({**ack, "message": done.message.view()})

    async def _typing(self, frame: dict) -> None:
        await self.helpline.counsellor_typing(self.counsellor_id, frame.get("conversation_id"),
                                              frame.get("active") is True)

    async def _close(self, frame: dict) -> None:
        conversation = await self.helpline.conversation_of(self.counsellor_id, frame.get("conversation_id"))
        await self.helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)

    async def _ping(self, frame: dict) -> None:
        """Pong only once a Barrier has gone round the bus: every event published before the
        ping is then on this socket before the pong (on the Redis bus too)."""
        barrier = self.hub.barrier_for_pong(self.session, _short_id(frame.get("id")))
        try:
            await self.helpline.bus.publish(barrier)
        except BaseException:
            self.hub.drop_barrier(barrier)
            raise

    async def _heartbeat(self, frame: dict) -> None:
        """The page is still there: nothing to answer (a `ping` would cost a bus round trip)."""

    async def _team(self, frame: dict) -> None:
        self.send({"type": "team", "team": team_view(await team_of(self.helpline, self.counsellor_id))})

    async def _transfer(self, frame: dict) -> None:
        done = await transfer_conversation(self.helpline, self.counsellor_id, frame.get("conversation_id"),
                                           to_counsellor=frame.get("to_counsellor"), to_skill=frame.get("to_skill"),
                                           note=frame.get("note"))
        self.send({"type": "transferred", "conversation_id": done.conversation_id, "outcome": done.outcome,
                   "to": done.to_name})

    async def _mark_abusive(self, frame: dict) -> None:
        conversation_id = frame.get("conversation_id")
        until = await mark_abusive(self.helpline, self.counsellor_id, conversation_id, frame.get("hours"))
        self.send({"type": "marked_abusive", "conversation_id": conversation_id, "until": int(until * 1000)})

    async def _erase(self, frame: dict) -> None:
        conversation_id = frame.get("conversation_id")
        await erase_on_request(self.helpline, self.counsellor_id, conversation_id)
        self.send({"type": "erased", "conversation_id": conversation_id})

    async def _lift_abuse(self, frame: dict) -> None:
        await lift_abuse(self.helpline, self.counsellor_id, frame.get("mark_id"))
        self.send({"type": "abuse_lifted", "mark_id": frame.get("mark_id")})
        self.hub.refresh_supervision()  # no bus event says so: the marks list changed here

    async def _reassign(self, frame: dict) -> None:
        done = await reassign_conversation(self.helpline, self.counsellor_id, frame.get("conversation_id"),
                                           frame.get("to_counsellor"))
        self.send({"type": "reassigned", "conversation_id": done.conversation_id, "to": done.to_name})

    async def _note(self, frame: dict) -> None:
        """An internal note: it comes back to the consoles as a `message` from "note" (bus);
        `noted` tells this page it is stored."""
        note = await add_note(self.helpline, self.counsellor_id, frame["conversation_id"], frame["text"])
        self.send({"type": "noted", "conversation_id": frame["conversation_id"], "seq": note.seq})


def heartbeat_seconds(idle_seconds: float) -> float:
    """How often the page says it is there: three times per idle timeout, so one late or lost
    heartbeat (a busy tab, a browser throttling timers) never closes a live console."""
    return round(idle_seconds / 3, 1)


def _frame_ids(data: object) -> dict:
    """The frame, if it is a JSON object (only its ids are echoed in an error), else {}."""
    try:
        parsed = orjson.loads(data) if isinstance(data, str) else None
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
