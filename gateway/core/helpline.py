"""The helpline core: one object the adapters call, over one store, one bus and one clock.

It talks to the store and the bus, never to a socket: adapters (widget, console, Meta
webhooks) call it and listen to the bus. The use cases live in their own modules and are
reached through this facade: core/intake.py (a teen's message in), core/teen.py (the widget's
teen: resume, write, type, end, leaving), core/dispatch.py (assignments); the counsellor's
conversation operations are here, handovers in core/handover.py.
"""

from __future__ import annotations

import asyncio

import logging
from dataclasses import replace
from datetime import UTC, datetime

from gateway.core import casework, intake, survey, teen
from gateway.core.dispatch import Dispatcher
from gateway.core.handover import hand_back_all
from gateway.core.intake import Received
from gateway.core.lines import ours
from gateway.core.ports import Bus, MessageId, NewMessage, Store
from gateway.core.security_events import SecurityEvents
from gateway.core.shared_read import SharedRead
from gateway.domain.clock import Clock, as_datetime
from gateway.domain.config import Config
from gateway.domain.errors import ProtocolError
from gateway.domain.events import (
    Barrier, ConversationChanged, ConversationFacts, MessageAdded, PresenceChanged, Seen, TeenAway, Typing,
)
from gateway.domain.figures import WaitEstimate, estimate_wait
from gateway.domain.model import (
    Author, Channel, CloseReason, Conversation, ConversationState, Counsellor, InboundMessage, Message, Presence,
)
from gateway.domain.permissions import require_supervisor
from gateway.domain.pseudonym import Pseudonyms
from gateway.domain.schedule import Schedule, describe_opening
from gateway.domain.texts import CLOSE_MESSAGES, clean_text, position_text, wait_sentence

__all__ = ["Helpline", "Received", "ms"]

log = logging.getLogger(__name__)


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


class Helpline:
    """One helpline's rules over one store and one bus."""

    def __init__(self, config: Config, store: Store, bus: Bus, clock: Clock, pseudonyms: Pseudonyms):
        self.config = config
        self.store = store
        self.bus = bus
        self.clock = clock
        self.pseudonyms = pseudonyms
        self.dispatcher = Dispatcher(self)
        self.leave_timers = teen.LeaveTimers(self)
        self.teen_limits = teen.TeenLimits.from_config(config)
        self.security = SecurityEvents(clock)  # refusals: one JSON line and one counter each
        self._line_status: tuple | None = None  # (schedule, since, until, status): see line_status
        self._queue_positions = SharedRead(self._read_queue_positions)
        # Inputs of the wait estimate, refreshed by the dispatcher and the housekeeper.
        self.handling_seconds: list[float] = []
        self.active_capacity = 0

    # --- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self.bus.subscribe(self.dispatcher.on_event)
        self.dispatcher.loop.start()  # its first round picks up work left by a crashed process

    async def stop(self) -> None:
        await self.leave_timers.close()
        await self.dispatcher.loop.stop()

    def capacity_of(self, counsellor: Counsellor) -> int:
        """A counsellor's own capacity, else the config's default."""
        return counsellor.max_conversations or self.config.max_conversations_per_counsellor

    def kick(self) -> None:
        """Plan assignments again soon (a conversation waits, or a counsellor has room)."""
        self.dispatcher.loop.kick()

    def reload(self, config: Config) -> None:
        """Apply a new, already validated configuration."""
        self.config = config
        self.kick()

    async def dispatch_once(self) -> int:
        return await self.dispatcher.dispatch_once()

    async def say(self, conversation: Conversation, line: NewMessage) -> Message:
        """Store one line in a conversation and announce it to whoever has it now."""
        message = await self.store.append_message(conversation.id, line)
        await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, message))
        return message

    async def barrier(self, token: str) -> None:
        """Publish a Barrier: whoever gets this token back knows every event published before
        it has been delivered to its hubs (the widget's ping; the caller registers it first)."""
        await self.bus.publish(Barrier(token))

    async def supervisor(self, counsellor_id: str) -> Counsellor:
        """The account if it supervises (reassign, abuse lifts, erasure…); else `forbidden`."""
        return require_supervisor(await self.store.get_counsellor(counsellor_id))

    # --- the line -----------------------------------------------------------------
    def line_status(self) -> dict:
        """Open means "a new conversation is admitted now" (not in the last-admission minutes).

        Asked per widget connection and per /api/line: computed once per boundary of the
        schedule in force (`Schedule.status_until`); a reload brings a new schedule, so a new
        computation."""
        now = as_datetime(self.clock.now())
        schedule = self.config.schedule
        cached = self._line_status
        if cached is None or cached[0] is not schedule or not cached[1] <= now < cached[2]:
            until = schedule.status_until(now) or datetime.max.replace(tzinfo=UTC)
            cached = self._line_status = (schedule, now, until, self._line_status_at(schedule, now))
        return dict(cached[3])

    def admits(self, at: float) -> bool:
        """`Schedule.admits(at)`, from the line status's cache when `at` lies within its span: on
        an always-open schedule every new conversation recomputed the next closing over the
        whole calendar horizon (a quarter of a burst's CPU, issue #15)."""
        when = as_datetime(at)
        for _ in range(2):
            cached = self._line_status
            if cached is not None and cached[0] is self.config.schedule and cached[1] <= when < cached[2]:
                return cached[3]["open"]
            self.line_status()  # refreshed for now; `at` is usually now
        return self.config.schedule.admits(when)

    @staticmethod
    def _line_status_at(schedule: Schedule, now: datetime) -> dict:
        if schedule.admits(now):
            return {"open": True, "next_opening": None, "next_opening_text": None}
        opening = schedule.next_admission(now)
        closure = schedule.closure_on(now)
        status = {
            "open": False,
            "next_opening": opening.isoformat() if opening else None,
            "next_opening_text": describe_opening(opening, now) if opening else None,
        }
        if closure is not None and closure.message:
            status["closure_message"] = closure.message
        return status

    def next_opening_text(self) -> str:
        return self.line_status()["next_opening_text"] or "dès que possible"

    def out_of_hours_text(self, key: str = "out_of_hours") -> str:
        """The closed-door answer (`key`: out_of_hours, or danger_closed), after any closure's note."""
        status = self.line_status()
        text = self.config.messages[key].format(
            next_opening=status["next_opening_text"] or "dès que possible")
        return f"{status['closure_message']}\n{text}" if status.get("closure_message") else text

    def wait_estimate(self, position: int, capacity: int | None = None,
                      free_slots: int | None = None) -> WaitEstimate:
        """From the last refreshed capacity, unless the caller has just read it (and the free slots)."""
        return estimate_wait(max(position, 1), self.handling_seconds,
                             self.active_capacity if capacity is None else capacity, free_slots=free_slots)

    def queued_text(self, key: str, position: int, capacity: int | None = None,
                    free_slots: int | None = None) -> str:
        return self.config.messages[key].format(
            position=position_text(position), wait=wait_sentence(self.wait_estimate(position, capacity, free_slots)))

    async def queue_positions(self) -> dict[str, int]:
        """Each waiting conversation's place: 1 + the teens still there ahead of it. A widget teen
        whose tab is gone is not counted (the others' positions stay true) but keeps the place
        they would have, so a teen coming back within the grace reads it at once.

        Concurrent callers share one read of the queue that began after they called (SharedRead)."""
        return await self._queue_positions()

    async def _read_queue_positions(self) -> dict[str, int]:
        positions, present = {}, 0
        for entry in await self.store.queue():
            positions[entry.conversation_id] = present + 1
            if entry.teen_away_since is None:
                present += 1
        return positions

    # --- teen side ------------------------------------------------------------------
    async def receive(self, inbound: InboundMessage) -> Received:
        """Store a teen's message (once); returns only once stored: adapters acknowledge after."""
        return await intake.receive(self, inbound)

    async def receive_meta(self, channel: Channel, platform_id: str, provider_message_id: str, text: str,
                           timestamp: float, attachments: tuple[str, ...], business_id: str | None) -> None:
        await intake.receive_meta(self, channel, platform_id, provider_message_id, text, timestamp, attachments,
                                  business_id)

    def widget_sender_key(self, token: str) -> str:
        """The widget's pseudonym of a teen: a keyed hash of their tab's session token."""
        return self.pseudonyms.sender_key(Channel.WEB.value, token)

    async def teen_resume(self, sender_key: str, after_seq: int, listen: teen.Listen,
                          missing: tuple[int, ...] = ()) -> teen.Resumed:
        return await teen.resume(self, sender_key, after_seq, listen, missing)

    async def teen_write(self, sender_key: str, client_id: str, text: object, bound_conversation_id: str | None,
                         listen: teen.Listen, address_key: str | None = None) -> teen.Written:
        return await teen.write(self, self.teen_limits, sender_key, client_id, text, bound_conversation_id, listen,
                                address_key)

    async def teen_typing_in(self, sender_key: str, conversation_id: str | None, active: bool) -> None:
        await teen.typing(self, self.teen_limits, sender_key, conversation_id, active)

    async def teen_end(self, sender_key: str, conversation_id: str | None) -> None:
        await teen.end(self, sender_key, conversation_id)

    def teen_socket_gone(self, conversation_id: str, state: ConversationState | None) -> None:
        """The last socket of a conversation closed in this process: marked away, the leave timer starts."""
        self.leave_timers.gone(conversation_id, state)

    def teen_socket_back(self, conversation_id: str) -> None:
        """A socket of this conversation (re)opened here: the timer stops, the marks are cleared."""
        self.leave_timers.back(conversation_id)

    async def teen_away(self, conversation_id: str, since: float) -> None:
        """Mark an open widget conversation's teen away (tab closed), for every process and console."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is not None and conversation.is_open:
            await self._teen_marks(conversation, {"teen_away_since": since, "teen_left_at": None})

    async def teen_back(self, conversation_id: str) -> None:
        """The teen is back (a hello resumed the conversation, through any process): marks cleared."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is not None and conversation.is_open and \
                (conversation.teen_away_since is not None or conversation.teen_left_at is not None):
            await self._teen_marks(conversation, {"teen_away_since": None, "teen_left_at": None})

    async def teen_left(self, conversation_id: str, left_at: float) -> Conversation | None:
        """The leave grace since `left_at` is over and the teen did not come back (the store's mark
        says so, whichever process they came back through). Waiting: abandoned. In a
        conversation: marked left, and the counsellor's console shows it."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or not conversation.is_open or conversation.teen_away_since != left_at:
            return None  # back meanwhile, or gone again later (that departure's timer decides)
        if (conversation.last_teen_message_at or 0) > left_at:
            return None  # they wrote again since (from another tab or process)
        if conversation.state is ConversationState.QUEUED:
            return await self.close(conversation_id, CloseReason.ABANDONED)
        if conversation.teen_left_at is not None:
            return None  # marked already (another process's sweep)
        return await self._teen_marks(conversation, {"teen_left_at": self.clock.now()})

    async def _teen_marks(self, conversation: Conversation, marks: dict[str, float | None]) -> Conversation:
        """Write a teen's presence marks and tell consoles (TeenAway: the state is unchanged, the
        console re-renders the row, the queue's counts and positions are read again)."""
        await self.store.set_marks(conversation.id, marks)
        marked = await self.store.get_conversation(conversation.id) or replace(conversation, **marks)
        name = None
        if marked.counsellor_id:
            counsellor = await self.store.get_counsellor(marked.counsellor_id)
            name = counsellor.display_name if counsellor else None
        await self.bus.publish(TeenAway(ConversationFacts.of(marked, name)))
        return marked

    async def teen_typing(self, conversation: Conversation, active: bool) -> None:
        await self.bus.publish(Typing(conversation.id, conversation.counsellor_id, Author.TEEN, active))

    # --- counsellor side --------------------------------------------------------
    async def conversation_of(self, counsellor_id: str, conversation_id: object) -> Conversation:
        """The conversation if it is assigned to this counsellor; else a ProtocolError."""
        conversation = await self.store.get_conversation(conversation_id) if isinstance(conversation_id, str) else None
        if conversation is None or conversation.counsellor_id != counsellor_id:
            raise ProtocolError("not_yours", "Cette conversation n'est pas la vôtre.")
        return conversation

    async def reply(self, counsellor_id: str, conversation_id: object, text: object,
                    message_id: MessageId | None = None) -> Message | None:
        """A counsellor's line, stored only while the conversation is theirs (checked in the
        store step itself); with `message_id`, at most once (None: stored before)."""
        # Both reads at once (one round trip of waiting, not two); the store step checks again.
        conversation, counsellor = await asyncio.gather(self.conversation_of(counsellor_id, conversation_id),
                                                        self.store.get_counsellor(counsellor_id))
        if conversation.state is not ConversationState.ASSIGNED:
            raise ProtocolError("closed", "Cette conversation est terminée.")
        clean = clean_text(text, self.config.max_message_chars)
        now = self.clock.now()
        line = ours(conversation, Author.COUNSELLOR, clean, now)  # refuses a closed window, before any write
        line = replace(line, author_name=counsellor.display_name if counsellor else None)
        stored = await self.store.store_reply(message_id, conversation.id, counsellor_id, line)
        await self.store.replicated()  # acked (duplicates too) only once the replicas hold it
        if stored.duplicate:
            return None
        if stored.message is None:  # closed or handed over since it was read: say which
            conversation = await self.conversation_of(counsellor_id, conversation.id)
            raise ProtocolError("closed", "Cette conversation est terminée.")
        message = stored.message  # the store step marked the conversation answered
        if conversation.channel is not Channel.WEB:
            await self.bus.publish(Seen(conversation.id))
        await self.bus.publish(MessageAdded(conversation.id, counsellor_id, message))
        return message

    async def seen(self, counsellor_id: str, conversation_id: object) -> None:
        """The counsellor has the conversation in front of them (opened it, or answered)."""
        conversation = await self.conversation_of(counsellor_id, conversation_id)
        if conversation.channel is not Channel.WEB:
            await self.bus.publish(Seen(conversation.id))

    async def counsellor_typing(self, counsellor_id: str, conversation_id: object, active: bool) -> None:
        conversation = await self.conversation_of(counsellor_id, conversation_id)
        await self.bus.publish(Typing(conversation.id, counsellor_id, Author.COUNSELLOR, bool(active)))

    async def close(self, conversation_id: str, reason: CloseReason) -> Conversation | None:
        """Close once; the teen is told. None if it was already closed."""
        closed = await self.store.close_conversation(conversation_id, reason, self.clock.now())
        if closed is None:
            return None
        text = self.config.messages[CLOSE_MESSAGES.get(reason, "closed_by_counsellor")]
        if reason is CloseReason.LINE_CLOSING:
            text = text.format(next_opening=self.next_opening_text())
        await self.say(closed, ours(closed, Author.SYSTEM, text, self.clock.now()))
        await self.bus.publish(ConversationChanged(ConversationFacts.of(closed)))
        await casework.after_close(self, closed)  # qualified while assigned: the record gets the close
        await survey.after_close(self, closed)  # the post-chat question, when configured
        log.info("conversation %s closed (%s)", closed.id, reason.value)
        return closed

    async def set_presence(self, counsellor_id: str, presence: Presence, care_until: float | None = None) -> None:
        """Offline (by hand, at logout, or a console lost past its grace) hands every teen of theirs
        back to the head of the queue at once: nobody is left talking to an empty chair.
        `care_until`: a care pause (core/care.py); any other change of presence ends one."""
        await self.store.set_presence(counsellor_id, presence, self.clock.now())
        await self.store.set_care_until(counsellor_id, care_until)
        await self.bus.publish(PresenceChanged(counsellor_id, presence, care_until))
        if presence is Presence.OFFLINE:
            await hand_back_all(self, counsellor_id)
