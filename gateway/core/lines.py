"""Our lines to a teen (system notices, counsellor replies) as the store takes them."""

from __future__ import annotations

from gateway.core.ports import NewMessage
from gateway.domain.model import Author, Channel, Conversation
from gateway.domain.windows import Window, window


def ours(conversation: Conversation, author: Author, text: str, at: float, name: str | None = None) -> NewMessage:
    """One of our messages; on Messenger/WhatsApp it is queued for sending as it is stored,
    unless the platform's window has closed (then it stays in the record only)."""
    reachable = window(conversation.channel, conversation.last_teen_message_at, at) is not Window.CLOSED
    return NewMessage(author, text, at, name, deliver=conversation.channel is not Channel.WEB and reachable)
