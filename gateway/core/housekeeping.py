"""The rules that time enforces: closing time, abandons, inactivity, disconnected counsellors,
paced queue positions on Messenger/WhatsApp, and the inputs of the wait estimate.

Two of them are safety nets behind a timer of one process, for when that process died: a
counsellor left offline still holding teens (the handback at offline did not happen), and a
widget teen marked away whose leave timer never ended (core/teen.py's LeaveTimers).

`sweep_once()` reads the injected clock once and applies every rule, so tests move a
ManualClock and call it, no sleeping; in a process it is the round of a `Periodic` every
`SWEEP_SECONDS` on the same clock. Every process sweeps; each action is either atomic in the
store (close, requeue) or claimed once through the store (a check, a position message), so two
processes never tell a teen the same thing twice.
"""

from __future__ import annotations

from gateway.domain.clock import as_datetime
from gateway.core.helpline import Helpline
from gateway.core.lines import ours
from gateway.core.periodic import Periodic
from gateway.domain.figures import position_update_due
from gateway.core.handover import hand_back_all
from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState, Counsellor, Presence

SWEEP_SECONDS = 5.0
# The leave timer of the process that saw the tab close normally ends the grace; the sweep acts
# only this much later, so that it never races a teen coming back right at the grace's end.
LEAVE_NET_SECONDS = 2 * SWEEP_SECONDS
HANDLING_WINDOW_SECONDS = 3 * 3600  # the wait estimate learns from the last 3 hours
HANDLING_SAMPLES = 50


class Housekeeper:
    """Sweeps every `SWEEP_SECONDS` on the helpline's clock (a test calls `sweep_once` itself)."""

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self._loop = Periodic("housekeeping", self.sweep_once, SWEEP_SECONDS, helpline.clock)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep_once(self) -> None:
        now = self.helpline.clock.now()
        team = await self.helpline.store.counsellors()  # read once per sweep
        await self.refresh_estimate_inputs(now, team)
        waiting = await self._queued()
        await self.close_queue_when_line_closed(now, waiting)
        await self.drop_silent_waiters(now, waiting)
        await self.requeue_from_disconnected(now, team)
        held = [c for counsellor in team for c in await self.helpline.store.conversations_of(counsellor.id)]
        await self.note_teens_left(now, waiting, held)
        await self.check_inactive(now, held)
        await self.tell_positions(now)  # reads the queue again: the steps above changed it

    async def _queued(self) -> list[Conversation]:
        entries = await self.helpline.store.queue()
        found = [await self.helpline.store.get_conversation(e.conversation_id) for e in entries]
        return [c for c in found if c is not None and c.state is ConversationState.QUEUED]

    async def _claim(self, what: str) -> bool:
        """Once across processes: the first caller wins (a dedupe key with a day's TTL)."""
        return await self.helpline.store.claim_message_id("housekeeping", what, 24 * 3600)

    async def refresh_estimate_inputs(self, now: float, team: list[Counsellor]) -> None:
        recent = await self.helpline.store.conversations_since(now - HANDLING_WINDOW_SECONDS)
        done = sorted((c for c in recent if c.closed_at and c.assigned_at), key=lambda c: c.closed_at or 0)
        self.helpline.handling_seconds = [c.closed_at - c.assigned_at for c in done[-HANDLING_SAMPLES:]]
        self.helpline.active_capacity = sum(self.helpline.capacity_of(c) for c in team
                                            if c.presence is Presence.AVAILABLE)

    async def close_queue_when_line_closed(self, now: float, waiting: list[Conversation]) -> None:
        """At closing time, teens still waiting are told (next opening, emergency numbers);
        conversations in progress go on until their counsellor closes them."""
        if self.helpline.config.schedule.is_open(as_datetime(now)):
            return
        for conversation in waiting:
            await self.helpline.close(conversation.id, CloseReason.LINE_CLOSING)

    async def drop_silent_waiters(self, now: float, waiting: list[Conversation]) -> None:
        """Messenger/WhatsApp: no message for N minutes while waiting = gone (counted as abandoned).
        The widget knows better (its socket): see core/teen.py's LeaveTimers."""
        limit = self.helpline.config.abandon_after_minutes * 60
        for conversation in waiting:  # close() is a no-op for one closed above
            if conversation.channel is Channel.WEB:
                continue
            last = conversation.last_teen_message_at or conversation.opened_at
            if now - last >= limit:
                await self.helpline.close(conversation.id, CloseReason.ABANDONED)

    async def requeue_from_disconnected(self, now: float, team: list[Counsellor]) -> None:
        """Safety net: going offline hands a counsellor's teens back at once (Helpline.set_presence);
        one still offline past the grace with teens (that process died first) has them handed back now."""
        grace = self.helpline.config.disconnect_grace_seconds
        for counsellor in team:
            if counsellor.presence is Presence.OFFLINE and now - counsellor.presence_since >= grace:
                await hand_back_all(self.helpline, counsellor.id)

    async def note_teens_left(self, now: float, waiting: list[Conversation], held: list[Conversation]) -> None:
        """Safety net for a leave timer that never ended (its process died): a widget teen away
        past the grace has left (waiting: abandoned; in a conversation: shown as left)."""
        grace = self.helpline.config.widget_leave_seconds + LEAVE_NET_SECONDS
        for c in [*waiting, *(c for c in held if c.teen_left_at is None)]:
            if c.teen_away_since is not None and c.teen_gone(now, grace):
                await self.helpline.teen_left(c.id, c.teen_away_since)

    async def check_inactive(self, now: float, held: list[Conversation]) -> None:
        """Teen silent after our answer: a gentle check, then a kind close."""
        config = self.helpline.config
        for c in held:
            if c.waiting_since is not None or c.last_answer_at is None:
                continue  # the teen waits for us, or we never answered: not the teen's silence
            silent_since = max(c.last_answer_at, c.last_teen_message_at or 0)
            if c.checked_at is None or c.checked_at < silent_since:
                if now - silent_since >= config.inactivity_check_minutes * 60 and \
                        await self._claim(f"check:{c.id}:{silent_since!r}"):
                    await self._say(c, config.messages["inactivity_check"], now)
                    await self.helpline.store.set_marks(c.id, {"checked_at": now})
            elif now - c.checked_at >= config.inactivity_close_minutes * 60:
                await self.helpline.close(c.id, CloseReason.INACTIVE)

    async def tell_positions(self, now: float) -> None:
        """Messenger/WhatsApp: the position when it changes meaningfully, never more than once
        per `position_update_seconds` (WhatsApp allows about one message per 6 s per user)."""
        interval = self.helpline.config.position_update_seconds
        queued = await self._queued()
        positions = await self.helpline.queue_positions()
        for c in queued:
            position = positions.get(c.id)
            if c.channel is Channel.WEB or position is None:
                continue  # the widget shows positions live
            if position_update_due(c.told_position, c.told_at, position, now, interval) and \
                    await self._claim(f"position:{c.id}:{position}:{c.told_at!r}"):
                await self._say(c, self.helpline.queued_text("position_update", position), now)
                await self.helpline.store.set_marks(c.id, {"told_position": position, "told_at": now})

    async def _say(self, conversation: Conversation, text: str, now: float) -> None:
        await self.helpline.say(conversation, ours(conversation, Author.SYSTEM, text, now))
