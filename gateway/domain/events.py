"""Events on the bus: what the core announces, for whichever process holds the sockets.

Frozen dataclasses with a wire form, so the Redis bus can carry them between processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Union

from gateway.domain.model import Author, Delivery, Message


@dataclass(frozen=True)
class MessageAdded:
    """A line was stored in a conversation (teen, counsellor or system)."""

    conversation_id: str
    counsellor_id: str | None
    message: Message
    name = "message.added"


@dataclass(frozen=True)
class ConversationChanged:
    """A conversation was queued, assigned or closed. `view` is the console's ConsoleConv."""

    conversation_id: str
    state: str
    counsellor_id: str | None
    counsellor_name: str | None
    view: dict[str, Any]
    name = "conversation.changed"


@dataclass(frozen=True)
class Typing:
    conversation_id: str
    counsellor_id: str | None
    by: Author
    active: bool
    name = "typing"


@dataclass(frozen=True)
class PresenceChanged:
    counsellor_id: str
    presence: str
    name = "counsellor.presence"


@dataclass(frozen=True)
class SessionEnded:
    """A console session ended (logout): every process closes the sockets it opened."""

    token_hash: str
    name = "session.ended"


@dataclass(frozen=True)
class DeliveryChanged:
    """One of our messages to a Messenger/WhatsApp teen moved (sent, delivered, read, failed)."""

    conversation_id: str
    counsellor_id: str | None
    seq: int
    delivery: str
    delivery_error: str | None
    name = "message.delivery"


@dataclass(frozen=True)
class Seen:
    """A counsellor saw the teen's latest messages: "seen" on the platforms that show it."""

    conversation_id: str
    name = "conversation.seen"


Event = Union[MessageAdded, ConversationChanged, Typing, PresenceChanged, SessionEnded, DeliveryChanged, Seen]
_BY_NAME = {cls.name: cls for cls in (MessageAdded, ConversationChanged, Typing, PresenceChanged, SessionEnded,
                                      DeliveryChanged, Seen)}


def to_wire(event: Event) -> dict[str, Any]:
    body = asdict(event)
    if isinstance(event, MessageAdded):
        m = event.message
        body["message"] = {**asdict(m), "author": m.author.value,
                           "delivery": m.delivery.value if m.delivery else None}
    if isinstance(event, Typing):
        body["by"] = event.by.value
    return {"name": event.name, "body": body}


def from_wire(wire: dict[str, Any]) -> Event:
    """Raises KeyError/TypeError/ValueError on a malformed event."""
    cls = _BY_NAME[wire["name"]]
    body = dict(wire["body"])
    if cls is MessageAdded:
        raw = dict(body["message"])
        raw["author"] = Author(raw["author"])
        raw["delivery"] = Delivery(raw["delivery"]) if raw.get("delivery") else None
        body["message"] = Message(**raw)
    if cls is Typing:
        body["by"] = Author(body["by"])
    return cls(**body)
