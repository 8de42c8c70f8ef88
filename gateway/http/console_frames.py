"""Which bus events a console session accepts, and the frame it gets for each (docs/protocol.md, "Console").

One entry per event type: who it is for, and its console payload. The core publishes facts;
this is the only place that turns them into console frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.domain.events import (
    ConversationChanged,
    DeliveryChanged,
    Event,
    HandedOver,
    MessageAdded,
    PresenceChanged,
    PriorityRaised,
    TeenAway,
    Typing,
)
from gateway.domain.model import Author, Message
from gateway.http.console_view import TRANSFERRED, console_view


class Session(Protocol):
    counsellor_id: str
    watcher: bool


@dataclass(frozen=True)
class Rendering:
    """For one event type: whether a counsellor's session wants it, and the frame it gets."""

    wanted: Callable[[Any, str], bool]
    frame: Callable[[Any, float], dict]
    # The one counsellor whose sessions may want it: the hub looks only at theirs.
    addressee: Callable[[Any], str | None] = lambda event: event.counsellor_id


def _for_assignee(event: Any, counsellor_id: str) -> bool:
    return event.counsellor_id == counsellor_id


def line_frame(conversation_id: str, message: Message) -> dict:
    """One line of a conversation, as a console gets it (live, or filling a gap)."""
    return {"type": "message", "conversation_id": conversation_id, "message": message.view()}


def _conversation(event: ConversationChanged | PriorityRaised, now: float) -> dict:
    return {"type": "conversation", "conversation": console_view(event.conversation, now)}


RENDERINGS: dict[type, Rendering] = {
    MessageAdded: Rendering(  # my own replies come back in the ack, not here
        lambda e, me: _for_assignee(e, me) and e.message.author is not Author.COUNSELLOR,
        lambda e, now: line_frame(e.conversation_id, e.message)),  # sent through the session's SeqGate
    ConversationChanged: Rendering(_for_assignee, _conversation),
    PriorityRaised: Rendering(_for_assignee, _conversation),  # the row shows why, the state is unchanged
    TeenAway: Rendering(_for_assignee, _conversation),  # the row says the teen left (or is back)
    HandedOver: Rendering(  # the one it left removes it; the new assignee gets its ConversationChanged
        lambda e, me: e.previous_counsellor_id == me,
        lambda e, now: {"type": "conversation", "conversation": console_view(e.conversation, now, TRANSFERRED)},
        lambda e: e.previous_counsellor_id),
    Typing: Rendering(
        lambda e, me: _for_assignee(e, me) and e.by is Author.TEEN,
        lambda e, now: {"type": "typing", "conversation_id": e.conversation_id, "active": e.active}),
    DeliveryChanged: Rendering(
        _for_assignee,
        lambda e, now: {"type": "delivery", "conversation_id": e.conversation_id, "seq": e.seq,
                        "delivery": e.delivery.value, "delivery_error": e.delivery_error}),
    PresenceChanged: Rendering(
        _for_assignee,
        lambda e, now: {"type": "presence", "presence": e.presence.value,
                        "care_until": None if e.care_until is None else int(e.care_until * 1000)}),
}

# Events that change what a supervisor sees (queue, team, load): the feed and every console's
# queue summary are refreshed at once.
FEED_EVENTS: frozenset[type] = frozenset({ConversationChanged, PriorityRaised, TeenAway, HandedOver, PresenceChanged})


def addressee(event: Event) -> str | None:
    """The counsellor whose sessions may accept it (None: nobody's, e.g. a queue-only event)."""
    rendering = RENDERINGS.get(type(event))
    return rendering.addressee(event) if rendering is not None else None


def accepts(session: Session, event: Event) -> bool:
    """A watcher (the supervision page) takes no conversation event: it has the feeds."""
    rendering = RENDERINGS.get(type(event))
    return not session.watcher and rendering is not None and rendering.wanted(event, session.counsellor_id)


def payload(event: Event, now: float) -> dict:
    return RENDERINGS[type(event)].frame(event, now)
