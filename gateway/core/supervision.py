"""What a supervisor watches: the queue, every counsellor's presence and load, today's figures.

Pseudonyms, channels, times and reasons only: no message text, no platform id.
"""

from __future__ import annotations

from datetime import datetime

from gateway.core.abuse import marks_view
from gateway.core.helpline import Helpline, ms
from gateway.domain.figures import (
    ABANDONED,
    ANSWERED,
    CLOSED_WHILE_QUEUED,
    OUT_OF_HOURS,
    ConversationRecord,
    day_figures,
)
from gateway.domain.model import CloseReason, Conversation, ConversationState


def record_of(c: Conversation) -> ConversationRecord:
    """A conversation as an anonymous figure: channel, times, outcome."""
    outcome = None
    if c.close_reason is CloseReason.OUT_OF_HOURS:
        outcome = OUT_OF_HOURS
    elif c.state is ConversationState.CLOSED:
        if c.assigned_at is not None:
            outcome = ANSWERED
        elif c.close_reason is CloseReason.LINE_CLOSING:
            outcome = CLOSED_WHILE_QUEUED
        else:
            outcome = ABANDONED  # ended by the teen, or gone silent, while waiting
    return ConversationRecord(
        channel=c.channel.value,
        queued_at=c.opened_at,  # from arrival: a requeued conversation's queued_at moved to the head
        assigned_at=c.assigned_at,
        first_answer_at=c.first_answer_at,
        closed_at=c.closed_at,
        outcome=outcome,
        priority=c.priority,
    )


def start_of_day(helpline: Helpline, now: float) -> float:
    tz = helpline.config.schedule.weekly.tz
    local = datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


async def snapshot_for(helpline: Helpline, counsellor_id: str) -> dict:
    """The supervision picture, for a supervisor or an admin only (else `forbidden`)."""
    await helpline.supervisor(counsellor_id)
    return await snapshot(helpline)


async def snapshot(helpline: Helpline) -> dict:
    """One consistent-enough picture for the supervisor view (read, never cached across days)."""
    store, now = helpline.store, helpline.clock.now()
    queue = await store.queue()
    waiting = []
    for position, entry in enumerate(queue, start=1):
        c = await store.get_conversation(entry.conversation_id)
        if c is None:
            continue
        waiting.append({"id": c.id, "alias": c.alias, "channel": c.channel.value, "position": position,
                        "queued_at": ms(c.opened_at), "priority": c.priority,
                        "priority_reason": c.priority_reason, "required_skill": c.required_skill})
    loads = await store.loads()
    team = []
    for counsellor in await store.counsellors():
        mine = await store.conversations_of(counsellor.id)
        team.append({**counsellor.public(), "load": loads.get(counsellor.id, 0),
                     "capacity": helpline.capacity_of(counsellor),
                     "presence_since": ms(counsellor.presence_since) if counsellor.presence_since else None,
                     "conversations": [{"id": c.id, "alias": c.alias, "channel": c.channel.value,
                                        "priority": c.priority, "assigned_at": ms(c.assigned_at)} for c in mine]})
    since = start_of_day(helpline, now)
    records = [record_of(c) for c in await store.conversations_since(since)
               if c.close_reason is not CloseReason.BLOCKED]  # marked abusive: not the helpline's figures
    return {"type": "supervision", "server_time": ms(now), "queue": waiting, "team": team,
            "abuse": await marks_view(helpline),
            "figures": day_figures(records, since, now).view(), "line": helpline.line_status()}
