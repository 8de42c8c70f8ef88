"""Per socket, per conversation: lines go out in seq order, with no gap and never twice.

Events can come late or not at all (a process restarting, the bus re-subscribing), and a
socket's own acks can overtake the events of lines stored just before. So each socket keeps,
per conversation, a mark: the highest seq with every seq below it on the socket (or, for a
line this client never sees, counted as if it were: a teen never gets an internal note). A
line past a gap is held while the gap is filled from the store, then goes out after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.domain.errors import GatewayError
from gateway.domain.model import Message

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # a fill the store refused is tried again this much later (on the clock)

Emit = Callable[[str, Message], None]  # put one line of a conversation on the socket
Shown = Callable[[Message], bool]  # False: counted as sent, never sent (a note, for a teen)


@dataclass
class _Lane:
    """One conversation on one socket."""

    mark: int | None  # None: waiting for the client's starting point (held until `track`)
    first: int = 0  # the mark this socket started from: what it sent is above it
    above: set[int] = field(default_factory=set)  # sent above the mark, out of turn (an ack)
    held: dict[int, Message] = field(default_factory=dict)  # waiting for the gap below them
    filler: asyncio.Task | None = None


class SeqGate:
    """The lines one socket has been given, per conversation; `emit` puts a line on it."""

    __slots__ = ("helpline", "emit", "shown", "_lanes")

    def __init__(self, helpline: Helpline, emit: Emit, shown: Shown = lambda message: True):
        self.helpline = helpline
        self.emit = emit
        self.shown = shown
        self._lanes: dict[str, _Lane] = {}

    def mark_of(self, conversation_id: str) -> int | None:
        lane = self._lanes.get(conversation_id)
        return lane.mark if lane else None

    def hold(self, conversation_id: str) -> None:
        """Lines of this conversation wait until `track` says where the client stands."""
        self.forget(conversation_id)
        self._lanes[conversation_id] = _Lane(mark=None)

    def track(self, conversation_id: str, through: int) -> None:
        """The client has every line up to `through` (a history just sent): never sent again."""
        lane = self._lanes.setdefault(conversation_id, _Lane(mark=through, first=through))
        if lane.mark is None:
            lane.mark = lane.first = through
        self._done_through(lane, through)
        self._release(conversation_id, lane)

    def rewind(self, conversation_id: str, client_mark: int) -> None:
        """The client says it has every line up to `client_mark` (a console resuming): what this
        socket sent above it stays sent, the rest from there will be filled."""
        lane = self._lanes.get(conversation_id)
        if lane is None or lane.mark is None:
            self.track(conversation_id, client_mark)
            return
        if client_mark < lane.first:
            lane.above |= set(range(lane.first + 1, lane.mark + 1))
            lane.mark = lane.first = client_mark
        self._done_through(lane, client_mark)
        self._release(conversation_id, lane)

    def forget(self, conversation_id: str) -> None:
        lane = self._lanes.pop(conversation_id, None)
        if lane is not None and lane.filler is not None:
            lane.filler.cancel()

    def close(self) -> None:
        for conversation_id in list(self._lanes):
            self.forget(conversation_id)

    # --- lines in ----------------------------------------------------------------------------------
    def offer(self, conversation_id: str, message: Message) -> None:
        """A line from the bus: out now if it is next, held (and the gap filled) if it is not.
        The first line of a conversation this socket has not tracked starts its mark."""
        lane = self._lanes.get(conversation_id)
        if lane is None:
            lane = self._lanes[conversation_id] = _Lane(mark=message.seq - 1, first=message.seq - 1)
        if self._done(lane, message.seq):
            return
        if lane.mark is not None and message.seq == lane.mark + 1:
            self._send(conversation_id, lane, message)
            return
        lane.held[message.seq] = message
        self._fill_soon(conversation_id, lane)

    async def catch_up(self, conversation_id: str) -> None:
        """Fill now whatever the store has past the mark (a client resuming)."""
        lane = self._lanes.get(conversation_id)
        if lane is not None and lane.mark is not None:
            await self._fill(conversation_id, lane)
            self._fill_soon(conversation_id, lane)

    async def through(self, conversation_id: str, message: Message) -> None:
        """Before an ack carrying `message`: the lines below it go out first; it counts as sent.
        If the store cannot say what is below, the ack still goes (it is stored) and the gap
        is filled later."""
        lane = self._lanes.get(conversation_id)
        if lane is None or lane.mark is None:
            self.track(conversation_id, message.seq - 1 if lane is None else 0)
            lane = self._lanes[conversation_id]
        if not self._done(lane, message.seq) and message.seq > lane.mark + 1:
            try:
                await self._fill(conversation_id, lane, upto=message.seq - 1)
            except GatewayError as exc:
                log.warning("could not fill a gap before an ack: %s", exc.code)
        self._done_at(lane, message.seq)
        self._release(conversation_id, lane)
        self._fill_soon(conversation_id, lane)

    # --- the bookkeeping ---------------------------------------------------------------------------
    @staticmethod
    def _done(lane: _Lane, seq: int) -> bool:
        return lane.mark is not None and (seq <= lane.mark or seq in lane.above)

    @staticmethod
    def _done_at(lane: _Lane, seq: int) -> None:
        lane.above.add(seq)
        while lane.mark + 1 in lane.above:
            lane.mark += 1
            lane.above.discard(lane.mark)
        lane.above = {s for s in lane.above if s > lane.mark}

    @classmethod
    def _done_through(cls, lane: _Lane, through: int) -> None:
        lane.mark = max(lane.mark, through)
        cls._done_at(lane, lane.mark)

    def _send(self, conversation_id: str, lane: _Lane, message: Message) -> None:
        if self.shown(message):
            self.emit(conversation_id, message)
        self._done_at(lane, message.seq)
        self._release(conversation_id, lane)

    def _release(self, conversation_id: str, lane: _Lane) -> None:
        """Held lines that are now next go out; held ones already sent are dropped."""
        if lane.mark is None:
            return
        for seq in [s for s in lane.held if self._done(lane, s)]:
            del lane.held[seq]
        while lane.mark + 1 in lane.held:
            message = lane.held.pop(lane.mark + 1)
            if self.shown(message):
                self.emit(conversation_id, message)
            self._done_at(lane, message.seq)

    @staticmethod
    def _gap(lane: _Lane) -> bool:
        return lane.mark is not None and bool(lane.held or lane.above)

    async def _fill(self, conversation_id: str, lane: _Lane, upto: int | None = None) -> None:
        lines = await self.helpline.store.messages(conversation_id, after_seq=lane.mark)
        for message in lines:
            if upto is not None and message.seq > upto:
                break
            if not self._done(lane, message.seq) and message.seq == lane.mark + 1:
                self._send(conversation_id, lane, message)
        self._release(conversation_id, lane)

    def _fill_soon(self, conversation_id: str, lane: _Lane) -> None:
        if self._gap(lane) and (lane.filler is None or lane.filler.done()):
            lane.filler = asyncio.get_running_loop().create_task(self._filler(conversation_id, lane))

    async def _filler(self, conversation_id: str, lane: _Lane) -> None:
        """Fill until no gap is left; a store refusing (or lagging behind its own events) is
        asked again RETRY_SECONDS later, for as long as the socket lives."""
        try:
            while self._gap(lane) and self._lanes.get(conversation_id) is lane:
                try:
                    await self._fill(conversation_id, lane)
                except GatewayError as exc:
                    log.warning("could not fill a gap in a conversation: %s", exc.code)
                if self._gap(lane):
                    await self.helpline.clock.sleep(RETRY_SECONDS)
        finally:
            if lane.filler is asyncio.current_task():
                lane.filler = None
