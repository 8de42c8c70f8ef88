"""How the Redis store writes records into hashes and reads them back.

Explicit fields; floats by `repr` (the shortest string that reads back identical, so every
time round-trips exactly); None = the field is absent. Also the queue's sorted-set score.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState, Counsellor, Delivery
from gateway.domain.model import Message, Presence, Role
from gateway.core.ports import MARK_FIELDS, NewMessage
from gateway.domain.windows import SendWindow

MAX_PRIORITY = 899  # see queue_score


def opt_float(value: str | None) -> float | None:
    return float(value) if value else None


def opt_repr(value: float | None) -> str | None:
    return None if value is None else repr(value)


def flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def pairs(raw: list[str]) -> dict[str, str]:
    return dict(zip(raw[::2], raw[1::2]))


# --- conversations -------------------------------------------------------------------------------


def conversation_fields(c: Conversation) -> dict[str, str]:
    fields = {
        "id": c.id,
        "channel": c.channel.value,
        "sender_key": c.sender_key,
        "alias": c.alias,
        "state": c.state.value,
        "opened_at": repr(c.opened_at),
        "priority": str(c.priority),
        "counsellor_id": c.counsellor_id,
        "queued_at": opt_repr(c.queued_at),
        "assigned_at": opt_repr(c.assigned_at),
        "closed_at": opt_repr(c.closed_at),
        "close_reason": c.close_reason.value if c.close_reason else None,
        "last_teen_message_at": opt_repr(c.last_teen_message_at),
        "waiting_since": opt_repr(c.waiting_since),
        "reply_to": c.reply_to,
        "business_id": c.business_id,
        "last_inbound_id": c.last_inbound_id,
        "priority_reason": c.priority_reason,
        "required_skill": c.required_skill,
        "first_answer_at": opt_repr(c.first_answer_at),
        "checked_at": opt_repr(c.checked_at),
        "told_position": None if c.told_position is None else str(c.told_position),
        "told_at": opt_repr(c.told_at),
        "last_answer_at": opt_repr(c.last_answer_at),
        "erased_at": opt_repr(c.erased_at),
        "handed_over_by": c.handed_over_by,
        "teen_away_since": opt_repr(c.teen_away_since),
        "teen_left_at": opt_repr(c.teen_left_at),
    }
    return {k: v for k, v in fields.items() if v is not None}


def parse_conversation(f: dict[str, str]) -> Conversation:
    return Conversation(
        id=f["id"],
        channel=Channel(f["channel"]),
        sender_key=f["sender_key"],
        alias=f["alias"],
        state=ConversationState(f["state"]),
        opened_at=float(f["opened_at"]),
        priority=int(f.get("priority") or 0),
        counsellor_id=f.get("counsellor_id") or None,
        queued_at=opt_float(f.get("queued_at")),
        assigned_at=opt_float(f.get("assigned_at")),
        closed_at=opt_float(f.get("closed_at")),
        close_reason=CloseReason(f["close_reason"]) if f.get("close_reason") else None,
        last_teen_message_at=opt_float(f.get("last_teen_message_at")),
        waiting_since=opt_float(f.get("waiting_since")),
        reply_to=f.get("reply_to") or None,
        business_id=f.get("business_id") or None,
        last_inbound_id=f.get("last_inbound_id") or None,
        priority_reason=f.get("priority_reason") or None,
        required_skill=f.get("required_skill") or None,
        first_answer_at=opt_float(f.get("first_answer_at")),
        checked_at=opt_float(f.get("checked_at")),
        told_position=int(f["told_position"]) if f.get("told_position") else None,
        told_at=opt_float(f.get("told_at")),
        last_answer_at=opt_float(f.get("last_answer_at")),
        erased_at=opt_float(f.get("erased_at")),
        handed_over_by=f.get("handed_over_by") or None,
        teen_away_since=opt_float(f.get("teen_away_since")),
        teen_left_at=opt_float(f.get("teen_left_at")),
    )


def mark_values(marks: dict[str, float | int | None]) -> dict[str, str]:
    """`set_marks` arguments as hash values; "" erases (see redis_scripts.UPDATE_IF_EXISTS)."""
    unknown = set(marks) - MARK_FIELDS
    if unknown:
        raise ValueError(f"not a bookkeeping field: {', '.join(sorted(unknown))}")
    return {
        name: "" if value is None else str(int(value)) if name == "told_position" else repr(float(value))
        for name, value in marks.items()
    }


# --- the queue -----------------------------------------------------------------------------------


def whole_ms(at: float) -> int:
    return round(at * 1000)


def check_priority(priority: int) -> None:
    if abs(priority) > MAX_PRIORITY:
        raise ValueError(f"priority {priority} out of range (-{MAX_PRIORITY}..{MAX_PRIORITY})")


def queue_score(c: Conversation) -> int:
    """Priority desc, then arrival asc, as one score that a double holds exactly.

    Arrival in whole ms stays below 1e13 until the year 2286, and -priority * 1e13 + ms is an
    exact integer in a double while |score| < 2**53, i.e. |priority| < 900. Arrivals within
    one ms are put back in exact order by `queue()`. The requeue and raise-priority scripts
    compute the same score in Lua (see redis_scripts).
    """
    check_priority(c.priority)
    arrival = c.queued_at if c.queued_at is not None else c.opened_at
    return -c.priority * 10**13 + whole_ms(arrival)


# --- counsellors ---------------------------------------------------------------------------------


def skills_value(skills: frozenset[str]) -> str:
    """Comma-joined, sorted; "" for none. Refuses what would not read back the same."""
    for skill in skills:
        if not skill or "," in skill:
            raise ValueError(f"invalid skill {skill!r} (empty or with a comma)")
    return ",".join(sorted(skills))


def parse_skills(value: str | None) -> frozenset[str]:
    return frozenset(s for s in (value or "").split(",") if s)


def counsellor_fields(c: Counsellor) -> dict[str, str]:
    fields = {
        "id": c.id,
        "username": c.username,
        "display_name": c.display_name,
        "password_hash": c.password_hash,
        "role": c.role.value,
        "presence": c.presence.value,
        "last_assigned_at": repr(c.last_assigned_at),
        "max_conversations": None if c.max_conversations is None else str(c.max_conversations),
        "skills": skills_value(c.skills) or None,
        "presence_since": repr(c.presence_since),
        "care_until": None if c.care_until is None else repr(c.care_until),
        "disabled": "1" if c.disabled else None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def parse_counsellor(f: dict[str, str]) -> Counsellor:
    return Counsellor(
        id=f["id"],
        username=f["username"],
        display_name=f["display_name"],
        password_hash=f["password_hash"],
        role=Role(f["role"]),
        presence=Presence(f["presence"]),
        max_conversations=int(f["max_conversations"]) if f.get("max_conversations") else None,
        last_assigned_at=float(f.get("last_assigned_at") or 0.0),
        skills=parse_skills(f.get("skills")),
        presence_since=float(f.get("presence_since") or 0.0),
        care_until=float(f["care_until"]) if f.get("care_until") else None,
        disabled=f.get("disabled") == "1",
    )


# --- messages ------------------------------------------------------------------------------------


def encode_message(m: NewMessage) -> bytes:
    # orjson writes the shortest float that reads back identical, so `at` round-trips.
    return orjson.dumps({"author": m.author.value, "text": m.text, "at": m.at, "author_name": m.author_name})


def parse_message(conversation_id: str, seq: int, raw: str) -> Message:
    d = orjson.loads(raw)
    return Message(conversation_id, seq, Author(d["author"]), d["text"], d["at"], d.get("author_name"))


def with_delivery(m: Message, raw: str | None) -> Message:
    if not raw:
        return m
    state, _, error = raw.partition("|")
    return replace(m, delivery=Delivery(state), delivery_error=error or None)


# --- outbox ----------------------------------------------------------------------------------


def encode_window(window: SendWindow) -> str:
    """A job's send window as "free_until|tagged_until" (the outbox windows hash)."""
    return f"{window.free_until!r}|{window.tagged_until!r}"


def parse_window(raw: str | None) -> SendWindow | None:
    """None for a job queued before windows were stored (no field)."""
    if not raw:
        return None
    free_until, _, tagged_until = raw.partition("|")
    return SendWindow(float(free_until), float(tagged_until))
