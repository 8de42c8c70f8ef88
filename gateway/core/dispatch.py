"""The dispatcher: plans assignments from a snapshot and applies each one atomically.

It runs on `Periodic`: a round whenever an event may allow an assignment (a conversation
waits, a counsellor's presence or load changed), and every DISPATCH_TICK_SECONDS on the
clock as a safety net. With a ManualClock the tick only fires when a test moves time, so
every event that may allow an assignment must kick it (see `may_allow_assignment`).
Any process may dispatch: `try_assign` never assigns twice nor above capacity.

Two rules about teens who left (widget): a waiting teen whose tab is gone is not planned (they
come back within the grace, or the queue lets them go), and a conversation whose teen left
`queue.left_frees_place_minutes` ago stops counting against its counsellor's capacity:
`capacity_now` gives the counsellor one more place per such conversation, and `try_assign`
checks that capacity atomically in the store as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.core.lines import ours
from gateway.core.periodic import Periodic
from gateway.core.ports import AssignOutcome
from gateway.domain.events import (
    ConversationChanged, ConversationFacts, Event, HandedOver, PresenceChanged, PriorityRaised, TeenAway,
)
from gateway.domain.model import Author, ConversationState, Counsellor, CounsellorLoad, Presence
from gateway.domain.routing import plan_assignments

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

DISPATCH_TICK_SECONDS = 2.0  # safety net: re-plan even if a bus event was lost


def may_allow_assignment(event: Event) -> bool:
    """A conversation waits or a counsellor may have room: re-plan (events of any process)."""
    if isinstance(event, (PresenceChanged, PriorityRaised, TeenAway)):  # TeenAway: a waiting teen back
        return True
    return isinstance(event, (ConversationChanged, HandedOver)) and event.state is not ConversationState.ASSIGNED


async def capacity_now(helpline: Helpline, counsellor: Counsellor, load: int | None = None) -> int:
    """How many open conversations this counsellor may hold now: their capacity, plus one per
    conversation whose teen left long enough ago. Their conversations are read only when they
    are available and full (`load` known and below capacity: nothing to read), so a round
    costs nothing more in the common case; below capacity, the extra places count next round."""
    capacity = helpline.capacity_of(counsellor)
    if counsellor.presence is not Presence.AVAILABLE or (load is not None and load < capacity):
        return capacity
    after = helpline.config.left_frees_place_minutes * 60
    now = helpline.clock.now()
    return capacity + sum(1 for c in await helpline.store.conversations_of(counsellor.id) if c.frees_place(now, after))


class Dispatcher:
    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self.loop = Periodic("dispatcher", self.dispatch_once, DISPATCH_TICK_SECONDS, helpline.clock)

    def on_event(self, event: Event) -> None:
        if may_allow_assignment(event):
            self.loop.kick()

    async def dispatch_once(self) -> int:
        """One planning round: plan from a snapshot, apply each assignment atomically."""
        helpline, store = self.helpline, self.helpline.store
        queue = [e for e in await store.queue() if e.teen_away_since is None]  # a tab gone: not planned
        if not queue:
            return 0
        counsellors = {c.id: c for c in await store.counsellors() if not c.disabled}  # disabled: never planned
        loads = await store.loads()
        capacities = {c.id: await capacity_now(helpline, c, loads.get(c.id, 0)) for c in counsellors.values()}
        candidates = [
            CounsellorLoad(c.id, c.presence, loads.get(c.id, 0), capacities[c.id], c.last_assigned_at, c.skills)
            for c in counsellors.values()
        ]
        helpline.active_capacity = sum(helpline.capacity_of(c) for c in counsellors.values()
                                       if c.presence is Presence.AVAILABLE)
        assigned = 0
        now = helpline.clock.now()
        for step in plan_assignments(queue, candidates, now, helpline.config.skill_wait_seconds):
            counsellor = counsellors[step.counsellor_id]
            outcome = await store.try_assign(step.conversation_id, counsellor.id, capacities[counsellor.id],
                                             helpline.clock.now())
            if outcome is AssignOutcome.ASSIGNED:
                assigned += 1
                await self._announce_assigned(step.conversation_id, counsellor.id, counsellor.display_name)
            else:
                self.loop.kick()  # the snapshot went stale (another process): plan again
        return assigned

    async def _announce_assigned(self, conversation_id: str, counsellor_id: str, counsellor_name: str) -> None:
        helpline = self.helpline
        conversation = await helpline.store.get_conversation(conversation_id)
        if conversation is None or conversation.counsellor_id != counsellor_id:
            # Moved on already (a supervisor's reassignment): whoever moved it announced it, to
            # this counsellor too (HandedOver); an "assigned" now would contradict it.
            return
        now = helpline.clock.now()
        await helpline.bus.publish(ConversationChanged(ConversationFacts.of(conversation, counsellor_name)))
        text = helpline.config.messages["assigned"].format(counsellor=counsellor_name)
        await helpline.say(conversation, ours(conversation, Author.SYSTEM, text, now))
        log.info("conversation %s assigned", conversation.id)
