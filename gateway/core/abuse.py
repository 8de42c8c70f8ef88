"""Abuse marks: a counsellor marks a pseudonym abusive for 24 h or 7 days; its new messages
get a short automatic reply (with the emergency numbers) and never enter the queue; a
supervisor can lift the mark. Marks are identified by an opaque id, never by the sender key.
"""

from __future__ import annotations

import hashlib

from gateway.core import audit
from gateway.core.helpline import Helpline, ms
from gateway.domain.errors import ProtocolError
from gateway.domain.model import CloseReason


ABUSE_HOURS = (24, 24 * 7)  # the durations a counsellor can choose


def mark_id(sender_key: str) -> str:
    return hashlib.sha256(f"abuse\x00{sender_key}".encode()).hexdigest()[:16]


async def mark_abusive(helpline: Helpline, counsellor_id: str, conversation_id: object, hours: object) -> float:
    """Mark the sender of one of my conversations and close it; returns when the mark ends."""
    if hours not in ABUSE_HOURS:
        raise ProtocolError("bad_duration", "Durée possible : 24 heures ou 7 jours.")
    conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    now = helpline.clock.now()
    until = now + hours * 3600
    await helpline.store.mark_abusive(conversation.sender_key, conversation.alias, until)
    await helpline.close(conversation.id, CloseReason.ABUSE)
    audit.record("abuse_mark", counsellor_id, at=now, conversation_id=conversation.id, hours=hours)
    return until


async def lift_abuse(helpline: Helpline, supervisor_id: str, mark: object) -> None:
    await helpline.supervisor(supervisor_id)
    now = helpline.clock.now()
    for sender_key, _, _ in await helpline.store.abuse_marks(now):
        if mark_id(sender_key) == mark:
            await helpline.store.lift_abuse(sender_key)
            audit.record("abuse_lift", supervisor_id, at=now)
            return
    raise ProtocolError("unknown_mark", "Ce signalement n'existe plus.")


async def marks_view(helpline: Helpline) -> list[dict]:
    """For supervisors: pseudonym and end of each mark in force."""
    marks = await helpline.store.abuse_marks(helpline.clock.now())
    return [{"id": mark_id(key), "alias": alias, "until": ms(until)} for key, alias, until in
            sorted(marks, key=lambda m: m[2])]

