"""The normalised message model and the conversation state machine.

Every channel's input becomes an `InboundMessage`; every conversation, whatever its
channel, is a `Conversation` moving through `ConversationState`. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from gateway.domain.errors import InvalidTransition


class Channel(str, Enum):
    WEB = "web"
    MESSENGER = "messenger"
    WHATSAPP = "whatsapp"


class ConversationState(str, Enum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class CloseReason(str, Enum):
    BY_COUNSELLOR = "by_counsellor"
    BY_TEEN = "by_teen"
    OUT_OF_HOURS = "out_of_hours"
    ABANDONED = "abandoned"  # the teen left while waiting (widget closed, or silent too long)
    LINE_CLOSING = "line_closing"  # still waiting when the line closed: told, counted
    INACTIVE = "inactive"  # the teen stayed silent after a gentle check
    ABUSE = "abuse"  # a counsellor marked the sender abusive
    BLOCKED = "blocked"  # a message from a sender marked abusive: answered, never queued


class Author(str, Enum):
    TEEN = "teen"
    COUNSELLOR = "counsellor"
    SYSTEM = "system"
    NOTE = "note"  # internal, between counsellors (e.g. a transfer note): never shown to the teen


class Presence(str, Enum):
    AVAILABLE = "available"
    PAUSED = "paused"
    OFFLINE = "offline"


class Delivery(str, Enum):
    """Where one of our messages to a teen on Messenger/WhatsApp stands."""

    PENDING = "pending"  # stored, not yet accepted by the platform
    SENT = "sent"  # accepted by the Graph API
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"  # not delivered, with a reason

    @property
    def rank(self) -> int:
        return _DELIVERY_RANK[self]

    def advance(self, to: "Delivery") -> "Delivery":
        """Receipts arrive out of order: a state only moves forward (failed ends it)."""
        if self is Delivery.FAILED or self is Delivery.READ:
            return self
        return to if to is Delivery.FAILED or to.rank > self.rank else self


_DELIVERY_RANK = {Delivery.PENDING: 0, Delivery.SENT: 1, Delivery.DELIVERED: 2, Delivery.READ: 3, Delivery.FAILED: 4}


class Role(str, Enum):
    COUNSELLOR = "counsellor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Attachment:
    kind: str  # image, audio, video, file, ...


@dataclass(frozen=True)
class InboundMessage:
    """One message from a teen, whatever the channel.

    `sender_key` is a keyed hash of the platform id (or of the widget's session token):
    a pseudonym, never the id itself. `provider_message_id` is what duplicates are
    recognised by (Meta's mid/wamid, the widget's client id).
    """

    channel: Channel
    sender_key: str
    provider_message_id: str
    text: str
    received_at: float
    attachments: tuple[Attachment, ...] = ()
    # Meta channels: where a reply goes (PSID / phone number, our page / number id). Kept out
    # of repr so that no log line of this object can ever carry them.
    reply_to: str | None = field(default=None, repr=False)
    business_id: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Message:
    """One stored line of a conversation, as both sides see it."""

    conversation_id: str
    seq: int
    author: Author
    text: str
    at: float
    author_name: str | None = None  # counsellor's display name; None for teen/system
    delivery: Delivery | None = None  # only for our messages on Messenger/WhatsApp
    delivery_error: str | None = None  # why it failed, in French, for the counsellor

    def view(self) -> dict:
        """The wire shape shared by the widget and the console."""
        view = {
            "seq": self.seq,
            "from": self.author.value,
            "author": self.author_name,
            "text": self.text,
            "at": int(self.at * 1000),
        }
        if self.delivery is not None:
            view["delivery"] = self.delivery.value
            view["delivery_error"] = self.delivery_error
        return view


# The allowed moves of a conversation. The Redis store's Lua scripts guard the same
# moves atomically; tests check both against this table.
TRANSITIONS: dict[ConversationState, frozenset[ConversationState]] = {
    ConversationState.QUEUED: frozenset({ConversationState.ASSIGNED, ConversationState.CLOSED}),
    # assigned -> queued: a transfer to nobody available, or a counsellor who disconnected
    # for good: back to the head of the queue, never into a void.
    ConversationState.ASSIGNED: frozenset({ConversationState.QUEUED, ConversationState.CLOSED}),
    ConversationState.CLOSED: frozenset(),
}


@dataclass(frozen=True)
class Conversation:
    """An anonymous conversation: counsellors know it by `alias` and `channel` only."""

    id: str
    channel: Channel
    sender_key: str
    alias: str
    state: ConversationState
    opened_at: float
    priority: int = 0
    counsellor_id: str | None = None
    queued_at: float | None = None
    assigned_at: float | None = None
    closed_at: float | None = None
    close_reason: CloseReason | None = None
    last_teen_message_at: float | None = None
    waiting_since: float | None = None  # the teen's oldest unanswered message
    # Messenger/WhatsApp only: where a reply goes. `reply_to` is the PSID or phone number,
    # kept here and nowhere else, never shown to a counsellor, erased with the conversation.
    reply_to: str | None = field(default=None, repr=False)
    business_id: str | None = field(default=None, repr=False)  # our page id / WhatsApp phone_number_id
    priority_reason: str | None = None  # why triage raised it, shown to counsellors
    required_skill: str | None = None  # e.g. "psychologue" (triage rule or transfer)
    first_answer_at: float | None = None  # first counsellor message (service figures)
    checked_at: float | None = None  # inactivity: when the gentle check was sent
    told_position: int | None = None  # Meta channels: the position last told (paced)
    told_at: float | None = None
    last_answer_at: float | None = None  # latest counsellor message (inactivity is counted from it)
    # Messenger/WhatsApp: the platform id of the teen's latest message, to mark it "seen".
    last_inbound_id: str | None = field(default=None, repr=False)
    erased_at: float | None = None  # retention: texts and platform ids erased then, figures kept
    # Who last handed it over to the queue (a transfer): the router gives it to anyone else with room first.
    handed_over_by: str | None = None
    # Widget only: when the teen's last socket closed (None: here, or never seen leaving), and
    # when the leave grace then ended without them (the console shows "a quitté le tchat").
    teen_away_since: float | None = None
    teen_left_at: float | None = None

    def _move(self, to: ConversationState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"conversation {self.id}: {self.state.value} -> {to.value}")

    def assign(self, counsellor_id: str, at: float) -> "Conversation":
        self._move(ConversationState.ASSIGNED)
        return replace(self, state=ConversationState.ASSIGNED, counsellor_id=counsellor_id, assigned_at=at)

    def requeue(self, queued_at: float, required_skill: str | None,
                handed_over_by: str | None = None) -> "Conversation":
        self._move(ConversationState.QUEUED)
        return replace(self, state=ConversationState.QUEUED, counsellor_id=None, queued_at=queued_at,
                       required_skill=required_skill, handed_over_by=handed_over_by)

    def close(self, reason: CloseReason, at: float) -> "Conversation":
        self._move(ConversationState.CLOSED)
        return replace(self, state=ConversationState.CLOSED, closed_at=at, close_reason=reason)

    @property
    def is_open(self) -> bool:
        return self.state is not ConversationState.CLOSED

    def teen_gone(self, now: float, grace: float) -> bool:
        """Away for `grace` seconds and silent since: the teen closed their tab for good."""
        away = self.teen_away_since
        return away is not None and now - away >= grace and (self.last_teen_message_at or 0) <= away

    def frees_place(self, now: float, after_seconds: float) -> bool:
        """The teen left `after_seconds` ago: it no longer counts against the counsellor's capacity
        (they close it with one click when they can; a waiting teen should not wait for that)."""
        return self.teen_left_at is not None and now - self.teen_left_at >= after_seconds


@dataclass(frozen=True)
class Counsellor:
    """A counsellor's account and live status. `max_conversations` None = the config's."""

    id: str
    username: str
    display_name: str
    password_hash: str
    role: Role = Role.COUNSELLOR
    presence: Presence = Presence.OFFLINE
    max_conversations: int | None = None
    last_assigned_at: float = 0.0
    skills: frozenset[str] = frozenset()  # e.g. psychologue, juriste, numerique
    presence_since: float = 0.0  # when the presence last changed (disconnect grace)
    care_until: float | None = None  # a care pause after a heavy conversation ends then (core/care.py)
    disabled: bool = False  # `counsellor disable`: no login, no assignment, kept offline (core/accounts.py)

    def public(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "presence": self.presence.value,
            "skills": sorted(self.skills),
            "care_until": None if self.care_until is None else int(self.care_until * 1000),
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class QueueEntry:
    """A waiting conversation as the router sees it."""

    conversation_id: str
    priority: int
    queued_at: float
    required_skill: str | None = None
    handed_over_by: str | None = None  # goes to them only when nobody else with room can take it
    teen_away_since: float | None = None  # widget teen's tab gone: not counted in positions, not dispatched


@dataclass(frozen=True)
class CounsellorLoad:
    """A counsellor as the router sees it."""

    counsellor_id: str
    presence: Presence
    open_conversations: int
    capacity: int
    last_assigned_at: float = 0.0
    skills: frozenset[str] = field(default_factory=frozenset)
