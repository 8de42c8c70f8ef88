"""Meta's messaging windows: when may we still write to a teen on Messenger or WhatsApp.

Pure logic. Messenger: free replies for 24 h after the teen's last message, then up to 7 days
with the HUMAN_AGENT tag. WhatsApp: free-form only within 24 h; after that only templates,
which the helpline does not use. (Meta platform docs, see shared/META.md.)
"""

from __future__ import annotations

from enum import Enum

from gateway.domain.model import Channel, Conversation

DAY = 24 * 3600.0
HUMAN_AGENT_LIMIT = 7 * DAY


class Window(str, Enum):
    OPEN = "open"
    HUMAN_AGENT = "human_agent"  # Messenger only: send with tag HUMAN_AGENT
    CLOSED = "closed"


def window(channel: Channel, last_teen_message_at: float | None, now: float) -> Window | None:
    """None for the web widget (no window)."""
    if channel is Channel.WEB:
        return None
    if last_teen_message_at is None:
        return Window.CLOSED
    age = now - last_teen_message_at
    if age < DAY:
        return Window.OPEN
    if channel is Channel.MESSENGER and age < HUMAN_AGENT_LIMIT:
        return Window.HUMAN_AGENT
    return Window.CLOSED


def window_view(conversation: Conversation, now: float) -> dict:
    """The console's fields for the window (empty for the widget)."""
    state = window(conversation.channel, conversation.last_teen_message_at, now)
    if state is None:
        return {}
    closes = conversation.last_teen_message_at + DAY if conversation.last_teen_message_at else None
    return {"window": state.value, "window_closes_at": int(closes * 1000) if closes else None}
