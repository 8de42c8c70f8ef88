"""How a counsellor sees a conversation on the console: pseudonym, channel, state, times.

Presentation, so it lives with the console, not in the core: the core's events carry
`ConversationFacts`; a stored `Conversation` has the same fields, and either renders here.
"""

from __future__ import annotations

from gateway.domain.events import ConversationFacts
from gateway.domain.model import Conversation, ConversationState, Message
from gateway.domain.windows import window_view

TRANSFERRED = "transferred"  # the state shown to the counsellor a conversation was handed away from
PREVIEW_CHARS = 120  # the list shows one line; the page cuts it again with an ellipsis


def line_preview(message: Message | None) -> dict | None:
    """The list item's one-line preview: who wrote the latest line and its start. Counsellors
    see notes in the thread anyway, so a note's start is fine here (never on the widget)."""
    if message is None:
        return None
    return {"from": message.author.value, "text": message.text[:PREVIEW_CHARS]}


def ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def transferred_from_colleague(c: Conversation | ConversationFacts, shown_state: str) -> bool:
    """Held now after a colleague sent it back to the queue: the holder's alert says "transférée",
    not "nouvelle". Not when it came back to the one who sent it (nobody else had room)."""
    held = shown_state == ConversationState.ASSIGNED.value
    return held and c.handed_over_by is not None and c.handed_over_by != c.counsellor_id


def console_view(c: Conversation | ConversationFacts, now: float, state: str | None = None) -> dict:
    """A conversation as a counsellor sees it: pseudonym and channel, nothing else about the person.
    `state` overrides the shown state (TRANSFERRED for the previous counsellor of a handover)."""
    shown_state = state or c.state.value
    return {
        "id": c.id,
        "alias": c.alias,
        "channel": c.channel.value,
        "state": shown_state,
        "transferred_from_colleague": transferred_from_colleague(c, shown_state),
        "opened_at": ms(c.opened_at),
        "waiting_since": ms(c.waiting_since),
        "last_message_at": ms(c.last_teen_message_at),
        "queued_at": ms(c.queued_at),
        "priority": c.priority,
        "priority_reason": c.priority_reason,
        "required_skill": c.required_skill,
        # Widget: the teen's tab closed then (null: here); `teen_left` once the grace ended without them.
        "teen_away_since": ms(c.teen_away_since),
        "teen_left": c.teen_left_at is not None,
        **window_view(c, now),
    }
