"""Events on the bus: what the core announces, for whichever process holds the sockets.

Typed facts, never views: each hub decides per client what it accepts and renders that
client's payload at fan-out. No event carries a platform id (`Conversation.reply_to`,
`sender_key`): `ConversationFacts` is the part of a conversation a hub may know.
Frozen dataclasses with a wire form, so the Redis bus can carry them between processes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState, Delivery, Message, Presence


@dataclass(frozen=True)
class ConversationFacts:
    """A conversation as the hubs may know it: pseudonym, channel, state, times, triage."""

    id: str
    channel: Channel
    alias: str
    state: ConversationState
    opened_at: float
    counsellor_id: str | None = None
    counsellor_name: str | None = None  # the counsellor's display name, when assigned
    queued_at: float | None = None
    assigned_at: float | None = None
    closed_at: float | None = None
    close_reason: CloseReason | None = None
    last_teen_message_at: float | None = None
    waiting_since: float | None = None
    priority: int = 0
    priority_reason: str | None = None
    required_skill: str | None = None
    teen_away_since: float | None = None  # widget: the teen's tab closed then (None: here)
    teen_left_at: float | None = None  # …and the leave grace ended without them
    handed_over_by: str | None = None  # the counsellor who last sent it back to the queue (a transfer)

    @classmethod
    def of(cls, c: Conversation, counsellor_name: str | None = None) -> "ConversationFacts":
        return cls(id=c.id, channel=c.channel, alias=c.alias, state=c.state, opened_at=c.opened_at,
                   counsellor_id=c.counsellor_id, counsellor_name=counsellor_name, queued_at=c.queued_at,
                   assigned_at=c.assigned_at, closed_at=c.closed_at, close_reason=c.close_reason,
                   last_teen_message_at=c.last_teen_message_at, waiting_since=c.waiting_since,
                   priority=c.priority, priority_reason=c.priority_reason, required_skill=c.required_skill,
                   teen_away_since=c.teen_away_since, teen_left_at=c.teen_left_at,
                   handed_over_by=c.handed_over_by)


class _AboutConversation:
    """Shortcuts for events that carry `conversation: ConversationFacts`."""

    conversation: ConversationFacts

    @property
    def conversation_id(self) -> str:
        return self.conversation.id

    @property
    def state(self) -> ConversationState:
        return self.conversation.state

    @property
    def counsellor_id(self) -> str | None:
        return self.conversation.counsellor_id


@dataclass(frozen=True)
class MessageAdded:
    """A line was stored in a conversation (teen, counsellor, system or internal note).
    `counsellor_id` is who has the conversation now (None while queued)."""

    conversation_id: str
    counsellor_id: str | None
    message: Message
    name = "message.added"


@dataclass(frozen=True)
class ConversationChanged(_AboutConversation):
    """A conversation entered a state: queued (new, or back in the queue), assigned, closed."""

    conversation: ConversationFacts
    name = "conversation.changed"


@dataclass(frozen=True)
class PriorityRaised(_AboutConversation):
    """Triage raised a conversation (its state unchanged): priority, reason and skill are in
    `conversation`. Served first by the dispatcher; counsellors see why."""

    conversation: ConversationFacts
    name = "conversation.raised"


@dataclass(frozen=True)
class TeenAway(_AboutConversation):
    """A widget teen's tab went away, came back, or stayed away past the grace (the marks in
    `conversation`); the state is unchanged, so it is not a ConversationChanged: the widget
    and the metrics ignore it, the console re-renders the row and the queue is counted again."""

    conversation: ConversationFacts
    name = "conversation.teen_away"


@dataclass(frozen=True)
class HandedOver(_AboutConversation):
    """The conversation left `previous_counsellor_id` (a transfer, a reassignment, a counsellor
    disconnected for good). Followed by the ConversationChanged of where it is now."""

    conversation: ConversationFacts
    previous_counsellor_id: str
    name = "conversation.handed_over"


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
    presence: Presence
    care_until: float | None = None  # a care pause (core/care.py) runs until then
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
    delivery: Delivery
    delivery_error: str | None
    name = "message.delivery"


@dataclass(frozen=True)
class Seen:
    """A counsellor saw the teen's latest messages: "seen" on the platforms that show it."""

    conversation_id: str
    name = "conversation.seen"


@dataclass(frozen=True)
class Barrier:
    """A marker through the bus: when a process gets its own token back, every event it
    published before has been delivered to its hubs (the bus keeps one publisher's order)."""

    token: str
    name = "barrier"


Event = Union[MessageAdded, ConversationChanged, PriorityRaised, TeenAway, HandedOver, Typing, PresenceChanged, SessionEnded,
              DeliveryChanged, Seen, Barrier]
EVENT_TYPES = typing.get_args(Event)
_BY_NAME = {cls.name: cls for cls in EVENT_TYPES}


def to_wire(event: Event) -> dict[str, Any]:
    """JSON-ready: enums as their values, nested dataclasses as objects. Field by field, not
    `dataclasses.asdict` (a deep copy of every value): this runs once per event published."""
    return {"name": event.name, "body": _plain(event)}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    names = _FIELD_NAMES.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def from_wire(wire: dict[str, Any]) -> Event:
    """Raises KeyError/TypeError/ValueError on a malformed event."""
    return _build(_BY_NAME[wire["name"]], wire["body"])


def _build(cls: type, body: dict[str, Any]) -> Any:
    if not isinstance(body, dict):
        raise TypeError(f"{cls.__name__}: an object expected")
    decoders = _DECODERS.get(cls)
    if decoders is None:  # the type hints, read once per class: `get_type_hints` per event cost ~10 %
        decoders = _DECODERS[cls] = _decoders_of(cls)
    return cls(**{k: decode(v) for k, v in body.items() if (decode := decoders.get(k)) is not None})


_DECODERS: dict[type, dict[str, Callable[[Any], Any]]] = {}


def _decoders_of(cls: type) -> dict[str, Callable[[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(cls)}


def _decoder(hint: Any) -> Callable[[Any], Any]:
    """How a wire value goes back into the field's type (enums, nested dataclasses, optionals)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda value: None if value is None else hint(value)
    if dataclasses.is_dataclass(hint):
        return lambda value: None if value is None else _build(hint, value)
    return lambda value: value
