"""The helpline core: takes normalised messages in, keeps conversations, assigns them.

It talks to the store and the bus, never to a socket: adapters (widget, console,
Meta webhooks) call it and listen to the bus. Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace

from gateway.domain.clock import Clock, as_datetime
from gateway.domain.config import Config
from gateway.domain.errors import ProtocolError, StoreError
from gateway.domain.events import ConversationChanged, Event, MessageAdded, PresenceChanged, Seen, Typing
from gateway.domain.figures import WaitEstimate, estimate_wait
from gateway.domain.model import (
    Author,
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    CounsellorLoad,
    InboundMessage,
    Message,
    Presence,
)
from gateway.core.lines import ours
from gateway.domain.pseudonym import Pseudonyms
from gateway.domain.texts import CLOSE_MESSAGES, clean_text, position_text, wait_sentence
from gateway.domain.routing import plan_assignments
from gateway.domain.schedule import describe_opening
from gateway.domain.triage import TriageMatch
from gateway.core.ports import AssignOutcome, Bus, NewMessage, Store
from gateway.domain.windows import Window, window, window_view

log = logging.getLogger(__name__)

DISPATCH_TICK_SECONDS = 2.0  # safety net: re-plan even if a bus event was lost


@dataclass(frozen=True)
class Received:
    conversation: Conversation | None  # None for a duplicate (nobody needs it: not read)
    message: Message | None  # None for a duplicate, or an attachment without text
    duplicate: bool = False


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def console_view(c: Conversation, now: float) -> dict:
    """A conversation as a counsellor sees it: pseudonym and channel, nothing else about the person."""
    return {
        "id": c.id,
        "alias": c.alias,
        "channel": c.channel.value,
        "state": c.state.value,
        "opened_at": ms(c.opened_at),
        "waiting_since": ms(c.waiting_since),
        "last_message_at": ms(c.last_teen_message_at),
        "queued_at": ms(c.queued_at),
        "priority": c.priority,
        "priority_reason": c.priority_reason,
        "required_skill": c.required_skill,
        **window_view(c, now),
    }


class Helpline:
    """One helpline's rules over one store and one bus."""

    def __init__(self, config: Config, store: Store, bus: Bus, clock: Clock, pseudonyms: Pseudonyms):
        self.config = config
        self.store = store
        self.bus = bus
        self.clock = clock
        self.pseudonyms = pseudonyms
        self._kick = asyncio.Event()
        self._dispatcher: asyncio.Task | None = None
        self._stopping = False
        # Inputs of the wait estimate, refreshed by the dispatcher and the housekeeper.
        self.handling_seconds: list[float] = []
        self.active_capacity = 0

    # --- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self.bus.subscribe(self._on_event)
        self._dispatcher = asyncio.create_task(self._run_dispatcher(), name="dispatcher")
        self._kick.set()  # work left by a crashed process is picked up at once

    async def stop(self) -> None:
        self._stopping = True
        if self._dispatcher:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)

    def capacity_of(self, counsellor: Counsellor) -> int:
        """A counsellor's own capacity, else the config's default."""
        return counsellor.max_conversations or self.config.max_conversations_per_counsellor

    def kick(self) -> None:
        """Plan assignments again soon (a conversation waits, or a counsellor has room)."""
        self._kick.set()

    def reload(self, config: Config) -> None:
        """Apply a new, already validated configuration."""
        self.config = config
        self._kick.set()

    # --- the line -----------------------------------------------------------------
    def line_status(self) -> dict:
        """Open means "a new conversation is admitted now" (not in the last-admission minutes)."""
        now = as_datetime(self.clock.now())
        schedule = self.config.schedule
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

    def _out_of_hours_text(self) -> str:
        status = self.line_status()
        text = self.config.messages["out_of_hours"].format(
            next_opening=status["next_opening_text"] or "dès que possible")
        return f"{status['closure_message']}\n{text}" if status.get("closure_message") else text

    def wait_estimate(self, position: int) -> WaitEstimate:
        return estimate_wait(max(position, 1), self.handling_seconds, self.active_capacity)

    def queued_text(self, key: str, position: int) -> str:
        return self.config.messages[key].format(position=position_text(position),
                                                wait=wait_sentence(self.wait_estimate(position)))

    # --- teen side ------------------------------------------------------------------
    async def receive(self, inbound: InboundMessage) -> Received:
        """Store a teen's message (once), open or continue their conversation.

        Returns only once the message is stored: adapters acknowledge after this."""
        if inbound.attachments and not (inbound.text or "").strip():
            text = ""  # an attachment alone: noted below, nothing to clean
        else:
            text = clean_text(inbound.text, self.config.max_message_chars)
        dedupe_id = f"{inbound.sender_key}:{inbound.provider_message_id}"
        fresh = await self.store.claim_message_id(inbound.channel.value, dedupe_id, self.config.dedupe_ttl_seconds)
        if not fresh:
            return Received(None, None, duplicate=True)
        try:
            return await self._store_inbound(inbound, text)
        except BaseException:
            # Not stored, so not acknowledged: let the client's (or Meta's) retry through.
            await asyncio.shield(self.store.release_message_id(inbound.channel.value, dedupe_id))
            raise

    async def _store_inbound(self, inbound: InboundMessage, text: str) -> Received:
        now = self.clock.now()
        conversation = await self.store.active_conversation_of(inbound.sender_key)
        created = False
        match = self.config.triage.assess(text) if text else None
        if conversation is None:
            if await self.store.abuse_until(inbound.sender_key, now) is not None:
                return await self._answer_closed(inbound, text, now, CloseReason.BLOCKED,
                                                 self.config.messages["abuse_reply"])
            if not self.config.schedule.admits(as_datetime(now)):
                return await self._answer_closed(inbound, text, now, CloseReason.OUT_OF_HOURS,
                                                 self._out_of_hours_text())
            conversation, created = await self.store.create_or_get_active(
                self._new_conversation(inbound, now, match))
        message = None
        if text:
            message = await self.store.append_message(conversation.id, NewMessage(Author.TEEN, text, now))
        # Stored: from here a failure must not make the sender retry (that would duplicate it).
        # What is missed is caught up: the dispatcher's tick, the console's history on open.
        try:
            if message is not None:
                await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, message))
            await self.store.touch_teen(conversation.id, now,
                                        inbound.provider_message_id if inbound.channel is not Channel.WEB else None)
            if inbound.attachments:
                await self._note_attachments(conversation, inbound, now)
            if match is not None and (created or match.priority > conversation.priority):
                await self._raise(conversation, match, created, now)
            if created:
                await self._announce_queued(conversation)
        except Exception as exc:  # noqa: BLE001 - stored: the sender must not retry (a duplicate)
            log.warning("conversation %s: message stored, follow-up failed (%s)", conversation.id,
                        exc if isinstance(exc, StoreError) else type(exc).__name__)
            self._kick.set()
        return Received(conversation, message)

    async def _note_attachments(self, conversation: Conversation, inbound: InboundMessage, now: float) -> None:
        """Never downloaded nor shown: the counsellor learns the type, the teen why we don't look."""
        kinds = ", ".join(sorted({a.kind for a in inbound.attachments}))
        note = await self.store.append_message(conversation.id, NewMessage(
            Author.SYSTEM, f"Pièce jointe reçue ({kinds}) : non téléchargée, non affichée.", now))
        await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, note))
        if any(a.kind not in self.config.allowed_attachment_types for a in inbound.attachments):
            reply = await self.store.append_message(
                conversation.id, ours(conversation, Author.SYSTEM, self.config.messages["attachment_refused"], now))
            await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, reply))

    async def _raise(self, conversation: Conversation, match: TriageMatch, created: bool, now: float) -> None:
        """Triage found danger: counsellors see why; the dispatcher serves it first.

        Announced as state "raised" (the view keeps the real state): the console refreshes the
        row, the widget ignores it, metrics count it."""
        if not created:
            if not await self.store.raise_priority(conversation.id, match.priority, match.reason, match.skill):
                return
            self._kick.set()
        raised = await self.store.get_conversation(conversation.id)
        if raised is not None:
            await self.bus.publish(ConversationChanged(raised.id, "raised", raised.counsellor_id, None,
                                                       console_view(raised, now)))
        note = await self.store.append_message(conversation.id, NewMessage(
            Author.NOTE, f"Priorité relevée : {match.reason}", now))
        await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, note))
        log.info("conversation %s raised (rule %s)", conversation.id, match.rule)

    def _new_conversation(self, inbound: InboundMessage, now: float, match: TriageMatch | None = None) -> Conversation:
        return Conversation(
            id=uuid.uuid4().hex,
            channel=inbound.channel,
            sender_key=inbound.sender_key,
            alias=self.pseudonyms.alias(inbound.sender_key),
            state=ConversationState.QUEUED,
            opened_at=now,
            queued_at=now,
            last_teen_message_at=now,
            reply_to=inbound.reply_to,
            business_id=inbound.business_id,
            priority=match.priority if match else 0,
            priority_reason=match.reason if match else None,
            required_skill=match.skill if match else None,
        )

    async def _answer_closed(self, inbound: InboundMessage, text: str, now: float, reason: CloseReason,
                             answer: str) -> Received:
        """Not queued (out of hours, or a sender marked abusive): answered at once, kept for the
        record and the figures."""
        conversation = replace(self._new_conversation(inbound, now).close(reason, now), last_teen_message_at=now)
        await self.store.create_closed(conversation)
        message = await self.store.append_message(conversation.id, NewMessage(Author.TEEN, text or "(pièce jointe)", now))
        reply = await self.store.append_message(conversation.id, ours(conversation, Author.SYSTEM, answer, now))
        await self.bus.publish(MessageAdded(conversation.id, None, reply))
        log.info("conversation %s answered without queueing (%s)", conversation.id, reason.value)
        return Received(conversation, message)

    async def _announce_queued(self, conversation: Conversation) -> None:
        positions = await self.queue_positions()
        position = positions.get(conversation.id, len(positions) or 1)
        now = self.clock.now()
        notice = await self.store.append_message(
            conversation.id, ours(conversation, Author.SYSTEM, self.queued_text("queued", position), now))
        await self.store.set_marks(conversation.id, {"told_position": position, "told_at": now})
        await self.bus.publish(MessageAdded(conversation.id, None, notice))
        await self.bus.publish(ConversationChanged(conversation.id, "queued", None, None, console_view(conversation, now)))
        log.info("conversation %s queued (channel %s)", conversation.id, conversation.channel.value)
        self._kick.set()

    async def queue_positions(self) -> dict[str, int]:
        return {e.conversation_id: i for i, e in enumerate(await self.store.queue(), start=1)}

    async def teen_left(self, conversation_id: str, left_at: float) -> Conversation | None:
        """The teen closed the widget while waiting and did not come back: abandoned."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or conversation.state is not ConversationState.QUEUED:
            return None
        if (conversation.last_teen_message_at or 0) > left_at:
            return None  # they wrote again since (from another tab or process)
        return await self.close(conversation_id, CloseReason.ABANDONED)

    async def teen_typing(self, conversation: Conversation, active: bool) -> None:
        await self.bus.publish(Typing(conversation.id, conversation.counsellor_id, Author.TEEN, active))

    # --- counsellor side --------------------------------------------------------
    async def conversation_of(self, counsellor_id: str, conversation_id: object) -> Conversation:
        """The conversation if it is assigned to this counsellor; else a ProtocolError."""
        conversation = await self.store.get_conversation(conversation_id) if isinstance(conversation_id, str) else None
        if conversation is None or conversation.counsellor_id != counsellor_id:
            raise ProtocolError("not_yours", "Cette conversation n'est pas la vôtre.")
        return conversation

    async def reply(self, counsellor_id: str, conversation_id: object, text: object) -> Message:
        conversation = await self.conversation_of(counsellor_id, conversation_id)
        if conversation.state is not ConversationState.ASSIGNED:
            raise ProtocolError("closed", "Cette conversation est terminée.")
        clean = clean_text(text, self.config.max_message_chars)
        now = self.clock.now()
        if window(conversation.channel, conversation.last_teen_message_at, now) is Window.CLOSED:
            raise ProtocolError("window_closed", "Fenêtre fermée : ce jeune ne peut plus recevoir de message libre. "
                                                 "Il doit réécrire en premier.")
        counsellor = await self.store.get_counsellor(counsellor_id)
        name = counsellor.display_name if counsellor else None
        message = await self.store.append_message(conversation.id, ours(conversation, Author.COUNSELLOR, clean, now, name))
        await self.store.mark_answered(conversation.id, now)
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
        now = self.clock.now()
        notice = await self.store.append_message(closed.id, ours(closed, Author.SYSTEM, text, now))
        await self.bus.publish(MessageAdded(closed.id, closed.counsellor_id, notice))
        await self.bus.publish(
            ConversationChanged(closed.id, "closed", closed.counsellor_id, None, console_view(closed, now))
        )
        log.info("conversation %s closed (%s)", closed.id, reason.value)
        return closed

    async def set_presence(self, counsellor_id: str, presence: Presence) -> None:
        await self.store.set_presence(counsellor_id, presence, self.clock.now())
        await self.bus.publish(PresenceChanged(counsellor_id, presence.value))

    # --- dispatching ------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Re-plan whenever a conversation waits or a counsellor may have room (any process)."""
        if isinstance(event, (PresenceChanged, ConversationChanged)) and getattr(event, "state", "") != "assigned":
            self._kick.set()

    async def _run_dispatcher(self) -> None:
        while not self._stopping:
            try:  # asyncio.timeout, not wait_for: see DeliveryWorker._run
                async with asyncio.timeout(DISPATCH_TICK_SECONDS):
                    await self._kick.wait()
            except TimeoutError:
                pass
            self._kick.clear()
            try:
                await self.dispatch_once()
            except StoreError as exc:
                log.warning("dispatch skipped: %s", exc)
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any one bad round
                log.exception("dispatch round failed")

    async def dispatch_once(self) -> int:
        """One planning round: plan from a snapshot, apply each assignment atomically."""
        queue = await self.store.queue()
        if not queue:
            return 0
        counsellors = {c.id: c for c in await self.store.counsellors()}
        loads = await self.store.loads()
        candidates = [
            CounsellorLoad(c.id, c.presence, loads.get(c.id, 0), self.capacity_of(c), c.last_assigned_at, c.skills)
            for c in counsellors.values()
        ]
        self.active_capacity = sum(c.capacity for c in candidates if c.presence is Presence.AVAILABLE)
        assigned = 0
        for step in plan_assignments(queue, candidates, self.clock.now(), self.config.skill_wait_seconds):
            capacity = self.capacity_of(counsellors[step.counsellor_id])
            outcome = await self.store.try_assign(step.conversation_id, step.counsellor_id, capacity, self.clock.now())
            if outcome is AssignOutcome.ASSIGNED:
                assigned += 1
                await self._announce_assigned(step.conversation_id, counsellors[step.counsellor_id].display_name)
            else:
                self._kick.set()  # the snapshot went stale (another process): plan again
        return assigned

    async def _announce_assigned(self, conversation_id: str, counsellor_name: str) -> None:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            return
        now = self.clock.now()
        await self.bus.publish(
            ConversationChanged(conversation.id, "assigned", conversation.counsellor_id, counsellor_name,
                                console_view(conversation, now))
        )
        text = self.config.messages["assigned"].format(counsellor=counsellor_name)
        notice = await self.store.append_message(conversation.id, ours(conversation, Author.SYSTEM, text, now))
        await self.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, notice))
        log.info("conversation %s assigned", conversation.id)
