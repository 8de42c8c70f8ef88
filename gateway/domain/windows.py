"""Meta's messaging windows: when may we still write to a teen on Messenger or WhatsApp.

Pure logic. Messenger: free replies for 24 h after the teen's last message, then up to 7 days
with the HUMAN_AGENT tag. WhatsApp: free-form only within 24 h; after that only templates,
which the helpline does not use. (Meta platform docs, see shared/META.md.)

The rule is written once, as a `SendWindow`: the instants, fixed by the teen's last message,
at which a message of ours needs the tag and then can no longer go out. The console's view,
the refusal of a late reply and the outbox (which stores the window with each job) all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gateway.domain.model import Channel, Conversation

DAY = 24 * 3600.0
HUMAN_AGENT_LIMIT = 7 * DAY


class Window(str, Enum):
    OPEN = "open"
    HUMAN_AGENT = "human_agent"  # Messenger only: send with tag HUMAN_AGENT
    CLOSED = "closed"


@dataclass(frozen=True)
class SendWindow:
    """When a message of ours may go out on a Meta platform, and how."""

    free_until: float  # a plain message before this instant
    tagged_until: float  # then, until this one, only with the HUMAN_AGENT tag (= free_until on WhatsApp)

    def at(self, now: float) -> Window:
        if now < self.free_until:
            return Window.OPEN
        if now < self.tagged_until:
            return Window.HUMAN_AGENT
        return Window.CLOSED


NEVER_OPEN = SendWindow(float("-inf"), float("-inf"))  # the teen has not written on the platform


def send_window(channel: Channel, last_teen_message_at: float | None) -> SendWindow | None:
    """None for the web widget (no window)."""
    if channel is Channel.WEB:
        return None
    if last_teen_message_at is None:
        return NEVER_OPEN
    free_until = last_teen_message_at + DAY
    tagged_until = last_teen_message_at + HUMAN_AGENT_LIMIT if channel is Channel.MESSENGER else free_until
    return SendWindow(free_until, tagged_until)


def window(channel: Channel, last_teen_message_at: float | None, now: float) -> Window | None:
    """Where the window stands at `now`; None for the web widget (no window)."""
    reach = send_window(channel, last_teen_message_at)
    return None if reach is None else reach.at(now)


def window_view(conversation: Conversation, now: float) -> dict:
    """The console's fields for the window (empty for the widget)."""
    reach = send_window(conversation.channel, conversation.last_teen_message_at)
    if reach is None:
        return {}
    closes = reach.free_until if conversation.last_teen_message_at else None  # the plain window's end
    return {"window": reach.at(now).value, "window_closes_at": int(closes * 1000) if closes else None}
