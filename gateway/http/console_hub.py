"""This process's console sockets: fan-out of bus events, the supervision feed, the queue
summary every console gets, the session check.

Each socket's session decides what it accepts and renders its own payload at fan-out (Zulip's
`accepts_event` / `get_client_payload`): the core publishes facts, the console's view of them
is built here. Timers (the supervision feed every SUPERVISION_SECONDS, the queue summary on
every change and every QUEUE_SECONDS, the session check every SESSION_CHECK_SECONDS) run on the
helpline's clock through `Periodic`, whose kicks coalesce: a burst of events costs one read.
The offline grace is the core's (ConsolePresence): the hub only reports sockets opened and
closed, and a watcher's (the supervision page) not at all: it is not the counsellor's console.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.core.console_presence import ConsolePresence
from gateway.core.counsellor import session_alive
from gateway.core.helpline import Helpline
from gateway.core.periodic import Periodic
from gateway.core.seq_gate import SeqGate
from gateway.core.supervision import queue_summary, snapshot
from gateway.domain.errors import GatewayError
from gateway.domain.events import Barrier, Event, HandedOver, MessageAdded, SessionEnded
from gateway.http.console_frames import FEED_EVENTS, accepts, addressee, line_frame, payload
from gateway.http.sockets import QueuedSender

log = logging.getLogger(__name__)

SUPERVISION_SECONDS = 2.0  # the supervisor view is a snapshot pushed this often (any process's changes)
QUEUE_SECONDS = 30.0  # the queue summary is also re-read this often: a safety net, events push it at once
SESSION_CHECK_SECONDS = 30.0  # an expired session closes its sockets within this long
SESSION_ENDED = 4401  # close code: the page goes back to the login form


@dataclass(eq=False)
class ConsoleSession:
    """One open console socket: whose it is, which session opened it. A `watcher` (the supervision
    page, `?view=supervision`) gets the feeds but no conversation event, and holds no presence."""

    sender: QueuedSender
    counsellor_id: str
    token_hash: str
    supervisor: bool = False
    watcher: bool = False
    started: bool = False  # its `init` is out: the protocol's first frame, before any `queue`
    queue_sent: dict | None = field(default=None, repr=False)  # the last `queue` frame sent here
    lines: SeqGate | None = field(default=None, repr=False)  # per conversation, in seq order, no gap (hub.add)
    held: list[dict] = field(default_factory=list, repr=False)  # events that came while `init` was built

    def deliver(self, frame: dict) -> None:
        """An event's frame: sent, or held until the `init` is out. The session listens from
        before its `init` is read (nothing between the read and the listening is lost), so an
        event can come first; the page must still get `init` first (docs/protocol.md), then
        the events in their order, which only repeat or follow what the `init` shows."""
        if self.started:
            self.sender.send(frame)
        else:
            self.held.append(frame)

    def start(self) -> None:
        """The `init` was sent: what was held goes out now, in order, then everything as it comes."""
        self.started = True
        held, self.held = self.held, []
        for frame in held:
            self.sender.send(frame)


class ConsoleHub:
    """This process's console sockets, by counsellor; fed by the bus."""

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self.presence = ConsolePresence(helpline)
        self._by_counsellor: dict[str, set[ConsoleSession]] = {}
        self._pongs: dict[str, tuple[ConsoleSession, str | None]] = {}  # barrier token -> who pinged, ping id
        self._closed = False  # after close(), no timer starts again (events still come during shutdown)
        self._supervision = Periodic("console-supervision", self._push_supervision, SUPERVISION_SECONDS,
                                     helpline.clock)
        self._queue = Periodic("console-queue", self._push_queue, QUEUE_SECONDS, helpline.clock)
        self._session_check = Periodic("console-session-check", self._close_ended_sessions,
                                       SESSION_CHECK_SECONDS, helpline.clock)
        self._own_events: dict[type, Callable[[Any], None]] = {SessionEnded: self._session_ended,
                                                               Barrier: self._barrier_back}
        helpline.bus.subscribe(self._on_event)

    def sessions(self) -> list[ConsoleSession]:
        return [s for sessions in self._by_counsellor.values() for s in sessions]

    def add(self, session: ConsoleSession) -> None:
        session.lines = SeqGate(self.helpline, lambda cid, message: session.deliver(line_frame(cid, message)))
        self._by_counsellor.setdefault(session.counsellor_id, set()).add(session)
        if not session.watcher:
            self.presence.socket_opened(session.counsellor_id)
        if not self._closed:
            self._session_check.start()
        if session.supervisor:
            self.refresh_supervision()

    def remove(self, session: ConsoleSession) -> None:
        sessions = self._by_counsellor.get(session.counsellor_id)
        if sessions is None or session not in sessions:
            return
        sessions.discard(session)
        session.lines.close()
        if not sessions:
            del self._by_counsellor[session.counsellor_id]
        if not session.watcher:
            self.presence.socket_closed(session.counsellor_id)
        for token in [t for t, (s, _) in self._pongs.items() if s is session]:
            del self._pongs[token]

    async def close(self) -> None:
        self._closed = True
        await self._supervision.stop()
        await self._queue.stop()
        await self._session_check.stop()
        await self.presence.close()

    # --- timers -----------------------------------------------------------------------------------
    def refresh_supervision(self) -> None:
        """Push the supervisors here a fresh picture now (started on the first supervisor)."""
        _run_now(self._supervision, self._closed)

    def refresh_queue(self) -> None:
        """Push every console here the queue summary soon; kicks during a read make one more read.
        Called on queue events and by a connection once its `init` is out (ConsoleConnection.run)."""
        _run_now(self._queue, self._closed)

    def _supervisors(self) -> list[ConsoleSession]:
        return [s for s in self.sessions() if s.supervisor]

    async def _push_supervision(self) -> None:
        """One round of the feed: the live picture to every supervisor connected here."""
        if not self._supervisors():
            return
        try:
            frame = await snapshot(self.helpline)
        except GatewayError as exc:
            log.warning("supervision snapshot failed: %s", exc.code)
            return
        for session in self._supervisors():
            session.deliver(frame)

    async def _push_queue(self) -> None:
        """One read of the queue, to every session here whose last summary differs."""
        if not self._by_counsellor:
            return
        try:
            frame = await queue_summary(self.helpline)
        except GatewayError as exc:
            log.warning("queue summary failed: %s", exc.code)
            return
        for session in self.sessions():
            if session.started and session.queue_sent != frame:
                session.queue_sent = frame
                session.sender.send(frame)

    async def _close_ended_sessions(self) -> None:
        """A session that expires closes its sockets, like a logout does."""
        for token_hash in {s.token_hash for s in self.sessions()}:
            try:
                alive = await session_alive(self.helpline, token_hash)
            except GatewayError:
                continue  # the store is away: try again next round
            if not alive:
                self._close_sessions(token_hash, SESSION_ENDED, b"session ended")

    def _close_sessions(self, token_hash: str, code: int, message: bytes) -> None:
        loop = asyncio.get_running_loop()
        for session in self.sessions():
            if session.token_hash == token_hash:
                loop.create_task(session.sender.ws.close(code=code, message=message))

    # --- ping: a barrier through the bus ------------------------------------------------------------
    def barrier_for_pong(self, session: ConsoleSession, ping_id: str | None) -> Barrier:
        """A Barrier to publish: when it comes back here, `session` gets its pong, after every
        event this process received before it (the bus keeps one publisher's order)."""
        token = secrets.token_hex(16)
        self._pongs[token] = (session, ping_id)
        return Barrier(token)

    def drop_barrier(self, barrier: Barrier) -> None:
        """The barrier could not be published: no pong will come for it."""
        self._pongs.pop(barrier.token, None)

    # --- fan-out ------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Each session takes what it accepts, rendered for it; the hub's own events act here."""
        own = self._own_events.get(type(event))
        if own is not None:
            own(event)
            return
        frame = None  # rendered once, for however many of their sockets take it
        for session in list(self._by_counsellor.get(addressee(event), ())):  # only theirs can want it
            if not accepts(session, event):
                continue
            if isinstance(event, MessageAdded):
                session.lines.offer(event.conversation_id, event.message)
                continue
            if isinstance(event, HandedOver):  # no longer mine: if it comes back, it starts afresh
                session.lines.forget(event.conversation_id)
            if frame is None:
                frame = payload(event, self.helpline.clock.now())
            session.deliver(frame)
        if type(event) in FEED_EVENTS:
            if self._by_counsellor:
                self.refresh_queue()
            if self._supervisors():
                self.refresh_supervision()

    def _session_ended(self, event: SessionEnded) -> None:
        """Logged out on some process: this session's sockets here close too."""
        self._close_sessions(event.token_hash, 1000, b"")

    def _barrier_back(self, event: Barrier) -> None:
        """Our own ping's barrier came round: its pong goes out after everything before it.
        Another process's barrier is not ours to answer."""
        pinged = self._pongs.pop(event.token, None)
        if pinged is not None:
            session, ping_id = pinged
            session.sender.send({"type": "pong", "id": ping_id})


def _run_now(timer: Periodic, closed: bool) -> None:
    """A round of `timer` as soon as it can (started on first use); nothing once the hub closed."""
    if closed:
        return
    if timer.running:
        timer.kick()
    else:
        timer.start()
