"""What a supervisor watches: the queue, every counsellor's presence and load, today's figures,
what needs watching ("À surveiller"); and the queue summary every console gets.

Pseudonyms, channels, times and reasons only: no message text, no platform id.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from gateway.core import casework, notices, survey
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
from gateway.domain.model import CloseReason, Conversation, ConversationState, Counsellor, Presence, QueueEntry

SILENT_AFTER_SECONDS = 180.0  # a held teen unanswered this long is flagged "silent" (issue #11: 3 min)
AWAY = frozenset({Presence.OFFLINE, Presence.PAUSED})  # holding teens while away is flagged
# Strongest first: a teen whose counsellor is away, then one left unanswered, then one who left.
FLAG_ORDER = ("offline_holding", "silent", "teen_left")


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


async def _queued(helpline: Helpline) -> list[tuple[QueueEntry, Conversation]]:
    """The queue in order, each entry with its conversation (one that vanished meanwhile is left out)."""
    queue = await helpline.store.queue()
    found = await asyncio.gather(*(helpline.store.get_conversation(e.conversation_id) for e in queue))
    return [(entry, c) for entry, c in zip(queue, found) if c is not None]


def _waiting_from(c: Conversation) -> float:
    """When a waiting teen came: from arrival (a requeued conversation's queued_at moved to the head)."""
    return c.opened_at


async def queue_summary(helpline: Helpline) -> dict:
    """How many wait, how many of them were raised by triage, since when the first (every console).
    A teen whose tab is gone (within the leave grace) is not counted, as queue positions skip them."""
    queued = [(e, c) for e, c in await _queued(helpline) if e.teen_away_since is None]
    return {"type": "queue", "waiting": len(queued), "raised": sum(1 for e, _ in queued if e.priority > 0),
            "oldest_queued_at": ms(min((_waiting_from(c) for _, c in queued), default=None))}


def conversation_flags(counsellor: Counsellor, c: Conversation, now: float) -> list[str]:
    """Why a held conversation needs watching, strongest first (FLAG_ORDER); [] if it does not."""
    raised = {
        "offline_holding": counsellor.presence in AWAY,
        "silent": c.waiting_since is not None and now - c.waiting_since > SILENT_AFTER_SECONDS,
        "teen_left": c.teen_left_at is not None,  # the widget's leave grace ended without them
    }
    return [flag for flag in FLAG_ORDER if raised[flag]]


def watch_list(team: list[dict]) -> list[dict]:
    """The held conversations to watch, strongest first: a raised teen before an ordinary one,
    then by the strongest reason, then the longest unanswered."""
    items = [{"counsellor_id": m["id"], "display_name": m["display_name"], "presence": m["presence"],
              "presence_since": m["presence_since"], "conversation_id": c["id"], "alias": c["alias"],
              "channel": c["channel"], "priority": c["priority"], "priority_reason": c["priority_reason"],
              "waiting_since": c["waiting_since"], "reasons": c["flags"]}
             for m in team for c in m["conversations"] if c["flags"]]
    far_future = float("inf")
    items.sort(key=lambda i: (-(i["priority"] > 0), FLAG_ORDER.index(i["reasons"][0]),
                              i["waiting_since"] if i["waiting_since"] is not None else far_future))
    return items


def _held_view(counsellor: Counsellor, c: Conversation, now: float) -> dict:
    flags = conversation_flags(counsellor, c, now)
    return {"id": c.id, "alias": c.alias, "channel": c.channel.value, "priority": c.priority,
            "priority_reason": c.priority_reason, "assigned_at": ms(c.assigned_at),
            "waiting_since": ms(c.waiting_since), "teen_left": "teen_left" in flags, "flags": flags}


def member_view(helpline: Helpline, counsellor: Counsellor, load: int, held: list[Conversation],
                now: float) -> dict:
    """One counsellor as the supervisor sees them: presence, load, held conversations, flags."""
    conversations = [_held_view(counsellor, c, now) for c in held]
    return {**counsellor.public(), "load": load, "capacity": helpline.capacity_of(counsellor),
            "presence_since": ms(counsellor.presence_since) if counsellor.presence_since else None,
            "conversations": conversations,
            "offline_holding": counsellor.presence in AWAY and bool(held),
            "silent": any("silent" in c["flags"] for c in conversations)}


async def snapshot(helpline: Helpline) -> dict:
    """One consistent-enough picture for the supervisor view (read, never cached across days)."""
    store, now = helpline.store, helpline.clock.now()
    waiting = [{"id": c.id, "alias": c.alias, "channel": c.channel.value, "position": position,
                "queued_at": ms(_waiting_from(c)), "priority": c.priority,
                "priority_reason": c.priority_reason, "required_skill": c.required_skill}
               for position, (_, c) in enumerate(await _queued(helpline), start=1)]
    loads = await store.loads()
    team = [member_view(helpline, counsellor, loads.get(counsellor.id, 0), await store.conversations_of(counsellor.id),
                        now)
            for counsellor in await store.counsellors()]
    since = start_of_day(helpline, now)
    records = [record_of(c) for c in await store.conversations_since(since)
               if c.close_reason is not CloseReason.BLOCKED]  # marked abusive: not the helpline's figures
    return {"type": "supervision", "server_time": ms(now), "queue": waiting, "team": team, "watch": watch_list(team),
            "abuse": await marks_view(helpline), "to_qualify": await casework.to_qualify_count(helpline),
            "notices_overdue": len(await notices.overdue(helpline, now)),
            "refused_share": await notices.live_refused_share(helpline),
            "figures": day_figures(records, since, now).view() | {"helped": await survey.helped(helpline, now)},
            "line": helpline.line_status()}
