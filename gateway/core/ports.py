"""The one async store interface; `memory` and `redis` implement it and pass one contract suite.

Atomicity is the store's job: `store_inbound` never gives one sender two open
conversations, `try_assign` never assigns a conversation twice nor above capacity, and a
message's id is claimed only together with the message it names (`store_inbound`,
`store_reply`): no crash can leave a claim without its message, so a retry is never
mistaken for a duplicate of something that was never stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from gateway.domain.model import (
    Author,
    CloseReason,
    Conversation,
    Counsellor,
    Delivery,
    Message,
    Presence,
    QueueEntry,
    Role,
)
from gateway.domain.casework import Qualification
from gateway.domain.notices import Notice
from gateway.domain.events import Event
from gateway.domain.windows import SendWindow
from gateway.core.ports_accounts import AccountRecords
from gateway.core.ports_limits import LimitCounters
from gateway.core.ports_privacy import PrivacyLookups
from gateway.core.ports_inbox import InboxRecords

# Bookkeeping fields `set_marks` may write (None erases). `teen_away_since` / `teen_left_at`: a
# widget teen's tab closed / the leave grace ended without them (times, not personal data).
MARK_FIELDS = frozenset({"checked_at", "told_position", "told_at", "last_answer_at", "teen_away_since",
                         "teen_left_at"})

# Retention: what an erased conversation keeps in place of its pseudonym and alias.
ERASED_SENDER_KEY = "erased"
ERASED_ALIAS = "Jeune effacé·e"
DAY_SECONDS = 24 * 3600


def content_ttl_seconds(retention_days: int) -> int:
    """The safety-net TTL of a closed conversation's content keys: the retention plus a day,
    so the sweeper (the primary mechanism) always comes first."""
    return (retention_days + 1) * DAY_SECONDS


class AssignOutcome(str, Enum):
    ASSIGNED = "assigned"
    NOT_QUEUED = "not_queued"  # someone else took it, or it closed
    NOT_AVAILABLE = "not_available"  # counsellor paused/offline meanwhile
    FULL = "full"  # counsellor reached capacity meanwhile


@dataclass(frozen=True)
class Reassignment:
    """What `hand_over` did, read in the same atomic step as the move: whoever had the
    conversation just before is told, even if it changed after the caller last read it."""

    outcome: AssignOutcome
    from_counsellor_id: str | None = None  # its owner just before the move (None: it was queued)


@dataclass(frozen=True)
class NewMessage:
    author: Author
    text: str
    at: float
    author_name: str | None = None
    # Messenger/WhatsApp: queue it for sending in the same atomic step, with the window it may
    # go out in (decided once, by `core.lines.ours`); None: kept in the record only.
    window: SendWindow | None = None

    @property
    def deliver(self) -> bool:
        return self.window is not None


@dataclass(frozen=True)
class MessageId:
    """The id a sender gave one message (a platform id, a widget's or console's client id),
    claimed with that message in one store step: stored at most once within `ttl` seconds."""

    scope: str  # the channel, or "console"
    value: str
    ttl: int


class Intake(str, Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # this id was stored before: nothing stored now
    NO_OPEN = "no_open"  # store_inbound without a new conversation, and the sender has none open
    REFUSED = "refused"  # store_reply: the conversation is not assigned to that counsellor (any more)


@dataclass(frozen=True)
class Stored:
    """What one atomic store step made of a message. Nothing was stored unless STORED."""

    outcome: Intake
    conversation_id: str | None = None  # where it went; for a duplicate, where the first went
    seq: int = 0  # its seq; for a duplicate, the first's (0: no line, or unknown for an old claim)
    message: Message | None = None  # STORED with a line
    conversation: Conversation | None = None  # store_inbound: the conversation as the step left it
    created: bool = False  # store_inbound: `conversation` was created by this step

    @property
    def duplicate(self) -> bool:
        return self.outcome is Intake.DUPLICATE


@dataclass(frozen=True)
class DeliveryJob:
    """One of our messages still to send to a teen on Messenger/WhatsApp, with its window.

    `window` is None only for a job queued before windows were stored with jobs (an upgrade
    with messages in flight); the worker then reads it from the conversation."""

    conversation_id: str
    seq: int
    attempts: int = 0
    window: SendWindow | None = None


class Store(LimitCounters, AccountRecords, PrivacyLookups, InboxRecords, ABC):
    """Everything that a restart must not lose."""

    kind: str = "abstract"

    # --- lifecycle -------------------------------------------------------------
    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect, load scripts."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers."""

    async def replicated(self) -> None:  # noqa: B027 - a single copy needs nothing
        """Called right before an acknowledgement: returns once every write so far is held by
        as many replicas as configured (store.wait_replicas), else raises StoreError, so a
        failover cannot lose what a client was told is stored. No-op on the memory store."""

    # --- once-only claims, and messages stored once -----------------------------
    @abstractmethod
    async def claim_message_id(self, channel: str, provider_message_id: str, ttl: int) -> bool:
        """True the first time a (channel, id) is seen within `ttl` seconds. For work that stores
        no message (housekeeping's once-only sweeps); a message's id is claimed only by
        `store_inbound` / `store_reply`, with the message (same key space)."""

    @abstractmethod
    async def stored_under(self, message_id: MessageId) -> Stored | None:
        """Read only: DUPLICATE (with where the first went, if known) when this id was stored."""

    @abstractmethod
    async def store_inbound(self, message_id: MessageId, sender_key: str, line: NewMessage | None,
                            new_conversation: Conversation | None) -> Stored:
        """A teen's message, in one step: claim its id and append `line` (None: nothing to append)
        to the sender's open conversation, or else create `new_conversation` with it.

        A new QUEUED conversation enters the queue with its first line already in its history
        (no dispatcher can see it without); a new CLOSED one (out of hours, a sender marked
        abusive) is kept for the record, like `create_closed`. DUPLICATE: nothing stored.
        NO_OPEN (the sender has no open conversation and `new_conversation` is None): nothing
        stored, nothing claimed."""

    @abstractmethod
    async def store_reply(self, message_id: MessageId | None, conversation_id: str, counsellor_id: str,
                          line: NewMessage) -> Stored:
        """A counsellor's line, in one step: stored (and queued for sending with its window) only
        while the conversation is assigned to `counsellor_id` (else REFUSED, nothing claimed),
        at most once per `message_id` (DUPLICATE: nothing stored), and the conversation marked
        answered at `line.at` (as `mark_answered`) with it."""

    # --- conversations ----------------------------------------------------------
    @abstractmethod
    async def create_or_get_active(self, conversation: Conversation) -> tuple[Conversation, bool]:
        """Store `conversation` unless its sender already has an open one (without a first
        line: the intake uses `store_inbound`; this one serves tests and tools).

        Returns (the sender's open conversation, created?). `conversation` must be QUEUED
        or ASSIGNED-free, i.e. state QUEUED; it is added to the queue when created.
        """

    @abstractmethod
    async def create_closed(self, conversation: Conversation) -> None:
        """Store an already-closed conversation (e.g. out of hours) for the record."""

    @abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    @abstractmethod
    async def active_conversation_of(self, sender_key: str) -> Conversation | None:
        """The sender's open conversation, if any."""

    @abstractmethod
    async def touch_teen(self, conversation_id: str, at: float, inbound_id: str | None = None) -> None:
        """Record the teen's latest message (and its platform id, to mark it seen); start
        `waiting_since` if it was unset."""

    @abstractmethod
    async def mark_answered(self, conversation_id: str, at: float) -> None:
        """A counsellor answered at `at`: clear `waiting_since`, set `first_answer_at` if unset,
        set `last_answer_at`, and clear `checked_at` (the inactivity check starts again)."""

    @abstractmethod
    async def set_marks(self, conversation_id: str, marks: dict[str, float | int | None]) -> None:
        """Bookkeeping fields of an existing conversation (names in MARK_FIELDS); None erases one.
        Unknown conversation: nothing happens."""

    @abstractmethod
    async def raise_priority(self, conversation_id: str, priority: int, reason: str,
                             required_skill: str | None) -> bool:
        """Raise (never lower) an open conversation's priority, with the reason and skill;
        re-orders the queue if it waits. False when not raised (already as high, closed, unknown)."""

    @abstractmethod
    async def requeue(self, conversation_id: str, expected_counsellor_id: str | None, queued_at: float,
                      required_skill: str | None, handed_over_by: str | None = None) -> Conversation | None:
        """Atomically move an assigned conversation back to the queue (assigned -> queued):
        off its counsellor's load, `counsellor_id` cleared, ordered by `queued_at` (the caller
        picks an early one to put it at the head), `required_skill` set (None clears it),
        `handed_over_by` set (a transfer: the router prefers anyone else; None clears it).
        With `expected_counsellor_id`, only if it is still that counsellor's. None if not moved."""

    @abstractmethod
    async def hand_over(self, conversation_id: str, expected_counsellor_id: str | None, to_counsellor_id: str,
                        capacity: int, at: float) -> Reassignment:
        """Atomically give a queued or assigned conversation to `to_counsellor_id` (a transfer,
        or a supervisor's choice): that counsellor must be available and below `capacity`.
        With `expected_counsellor_id`, an assigned conversation must still be theirs
        (else NOT_QUEUED). NOT_QUEUED too when closed, unknown, or already theirs.
        On success, `from_counsellor_id` is who had it at the move."""

    async def reassign(self, conversation_id: str, expected_counsellor_id: str | None, to_counsellor_id: str,
                       capacity: int, at: float) -> AssignOutcome:
        """`hand_over`, when only the outcome matters."""
        moved = await self.hand_over(conversation_id, expected_counsellor_id, to_counsellor_id, capacity, at)
        return moved.outcome

    @abstractmethod
    async def conversations_since(self, since: float) -> list[Conversation]:
        """Every conversation opened at or after `since` (any state), for the day's figures."""

    @abstractmethod
    async def close_conversation(
        self, conversation_id: str, reason: CloseReason, at: float
    ) -> Conversation | None:
        """Close it atomically: off the queue, off its counsellor's load, sender freed.
        It joins the conversations `closed_before` lists (retention).

        Returns the closed conversation, or None if it was already closed or unknown.
        """

    # --- retention: erase what was said and who said it, keep the figures ----------
    @abstractmethod
    async def erase_conversation(self, conversation_id: str, at: float) -> bool:
        """Erase a closed conversation's content and identifiers, at once and for good.

        Deletes its messages, their delivery states and any outbox job; in the record, drops
        `reply_to`, `business_id`, `last_inbound_id`, `priority_reason` (it may quote the
        teen) and replaces `sender_key` and `alias` by ERASED_SENDER_KEY and ERASED_ALIAS.
        Keeps what the figures need: channel, state, times, close reason, priority, skill,
        counsellor. Sets `erased_at` (the first erase's time is kept). Its qualification, if
        any, loses its summary (a text) and keeps the rest (casework's anonymous record).

        False when the conversation is unknown or still open (close it first); True when it
        is erased, also again (a second erase deletes whatever arrived late, e.g. a receipt).
        """

    @abstractmethod
    async def closed_before(self, before: float, limit: int) -> list[str]:
        """Ids of closed conversations not yet erased whose `closed_at` is before `before`,
        oldest first, at most `limit`."""

    # --- messages ---------------------------------------------------------------
    @abstractmethod
    async def append_message(self, conversation_id: str, message: NewMessage) -> Message:
        """Append and return it with its sequence number (1, 2, 3 … per conversation).

        With `message.window`, it is stored as PENDING and queued for sending with that
        window, at once (the job's `window` when claimed)."""

    @abstractmethod
    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[Message]:
        """Messages with seq > after_seq, in order."""

    # --- outbound delivery: stored before sent, retried after a restart ------------
    @abstractmethod
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        """Jobs due by `now`, each leased until now + lease: if the process dies mid-send,
        the job is due again when the lease ends and another process sends it."""

    @abstractmethod
    async def retry_delivery(self, job: DeliveryJob, due_at: float) -> None:
        """Try again at `due_at`, one attempt more."""

    @abstractmethod
    async def finish_delivery(self, job: DeliveryJob) -> None:
        """Sent or given up: the job leaves the outbox."""

    @abstractmethod
    async def set_delivery(self, conversation_id: str, seq: int, state: Delivery, error: str | None = None) -> None:
        """Record where a message stands (the caller decides whether the state may move)."""

    @abstractmethod
    async def link_provider_message(
        self, channel: str, provider_message_id: str, conversation_id: str, seq: int, ttl: int
    ) -> None:
        """Remember which message a platform id (mid, wamid) is, for its receipts."""

    @abstractmethod
    async def find_provider_message(self, channel: str, provider_message_id: str) -> tuple[str, int] | None:
        """(conversation id, seq) of a message we sent, or None."""

    # --- queue and assignment ---------------------------------------------------
    @abstractmethod
    async def queue(self) -> list[QueueEntry]:
        """Waiting conversations, highest priority first, then longest waiting; each entry carries
        its `teen_away_since` mark (positions and the dispatcher skip a teen whose tab is gone)."""

    @abstractmethod
    async def try_assign(
        self, conversation_id: str, counsellor_id: str, capacity: int, at: float
    ) -> AssignOutcome:
        """Atomically: conversation still queued, counsellor available and below capacity."""

    @abstractmethod
    async def conversations_of(self, counsellor_id: str) -> list[Conversation]:
        """The counsellor's open (assigned) conversations."""

    # --- counsellors ------------------------------------------------------------
    @abstractmethod
    async def add_counsellor(self, counsellor: Counsellor) -> None:
        """Create an account; raises ValueError if the username is taken."""

    @abstractmethod
    async def get_counsellor(self, counsellor_id: str) -> Counsellor | None: ...

    @abstractmethod
    async def counsellor_by_username(self, username: str) -> Counsellor | None: ...

    @abstractmethod
    async def counsellors(self) -> list[Counsellor]: ...

    @abstractmethod
    async def set_presence(self, counsellor_id: str, presence: Presence, at: float) -> None:
        """Set presence; `presence_since` moves to `at` only when the presence changes."""

    @abstractmethod
    async def update_counsellor(self, counsellor_id: str, *, skills: frozenset[str] | None = None,
                                max_conversations: int | None = None, clear_max: bool = False,
                                role: Role | None = None) -> Counsellor | None:
        """Change an account's skills, capacity override (clear_max: back to the config's) or role."""

    @abstractmethod
    async def loads(self) -> dict[str, int]:
        """Open conversations per counsellor id (0 for counsellors with none)."""

    @abstractmethod
    async def set_care_until(self, counsellor_id: str, until: float | None) -> None:
        """A care pause runs until `until` (None: none). Unknown counsellor: nothing happens."""

    # --- the post-chat question: anonymous counts (core/survey.py) ------------------
    @abstractmethod
    async def count_survey_answer(self, conversation_id: str, day: str, channel: str, value: str,
                                  ttl: int) -> bool:
        """In one step: claim the conversation's one answer (the claim lives `ttl` seconds, then
        nothing links the count to it) and add 1 to (day, channel, value). False: answered before."""

    @abstractmethod
    async def survey_counts(self, day: str) -> dict[str, dict[str, int]]:
        """That day's answers: channel -> value -> count (only what was counted)."""

    # --- consoles held, across processes (presence by heartbeat) ------------------
    @abstractmethod
    async def hold_console(self, counsellor_id: str, holder: str, until: float) -> None:
        """Process `holder` holds a console socket of this counsellor until `until` (a heartbeat
        refreshes it; a process that dies stops refreshing and its hold runs out)."""

    @abstractmethod
    async def release_console(self, counsellor_id: str, holder: str) -> None:
        """Process `holder` holds no console of theirs any more."""

    @abstractmethod
    async def console_held_elsewhere(self, counsellor_id: str, holder: str, now: float) -> bool:
        """Whether a process other than `holder` holds a console of theirs at `now`
        (holds that ran out are dropped)."""

    # --- console sessions -------------------------------------------------------
    @abstractmethod
    async def create_session(self, token_hash: str, counsellor_id: str, ttl: int) -> None: ...

    @abstractmethod
    async def session_counsellor(self, token_hash: str) -> str | None:
        """The counsellor id of a live session, or None (expired, logged out, unknown)."""

    @abstractmethod
    async def delete_session(self, token_hash: str) -> None: ...

    # --- abuse marks: a pseudonym whose new messages get a short reply and are not queued ---
    @abstractmethod
    async def mark_abusive(self, sender_key: str, alias: str, until: float) -> None:
        """Mark (or re-mark) a sender abusive until `until` (epoch seconds)."""

    @abstractmethod
    async def abuse_until(self, sender_key: str, now: float) -> float | None:
        """When the sender's mark ends, or None if not marked (or the mark has ended)."""

    @abstractmethod
    async def abuse_marks(self, now: float) -> list[tuple[str, str, float]]:
        """(sender key, alias, until) of every mark still in force; ended ones are dropped."""

    @abstractmethod
    async def lift_abuse(self, sender_key: str) -> bool:
        """Lift a mark; False if there was none."""

    # --- casework: qualification records, anonymous, kept `retention.case_years` (core/casework) ---
    @abstractmethod
    async def save_qualification(self, qualification: Qualification) -> None:
        """Store it in one step, replacing an earlier one of the same conversation; from then on
        the conversation is no longer among `unqualified_closed`, and its values count in
        `values_in_use` (those of the record it replaced no longer do)."""

    @abstractmethod
    async def qualification_of(self, conversation_id: str) -> Qualification | None: ...

    @abstractmethod
    async def qualifications_since(self, since: float) -> list[Qualification]:
        """Every record whose `ended_at` (the close, else the qualification) is at or after
        `since`, oldest first (reports)."""

    @abstractmethod
    async def values_in_use(self) -> dict[str, set[str]]:
        """Per list field (casework.LIST_FIELDS), the values stored records use (reload check)."""

    @abstractmethod
    async def delete_qualifications_closed_before(self, before: float) -> int:
        """Delete every record whose `ended_at` is before `before` (retention.case_years); how many."""

    @abstractmethod
    async def unqualified_closed(self, counsellor_id: str | None, limit: int) -> list[Conversation]:
        """Closed, not yet erased conversations that were held by `counsellor_id` (None: by anyone)
        when they closed and have no qualification, newest close first, at most `limit`."""

    # --- trusted-flagger notices (core/notices): personal data erased by `erase_notice_content` ---
    @abstractmethod
    async def save_notice(self, notice: Notice) -> None:
        """Store it whole, replacing the earlier version of the same id (indexes follow)."""

    @abstractmethod
    async def notice(self, notice_id: str) -> Notice | None: ...

    @abstractmethod
    async def notices(self, state: str | None = None, platform: str | None = None,
                      conversation_id: str | None = None) -> list[Notice]:
        """The notices matching every filter given, newest created first."""

    @abstractmethod
    async def notices_between(self, start: float, end: float) -> list[Notice]:
        """Notices created, sent or decided at or after `start` and before `end`, oldest created
        first (reports: each caller keeps those its rule counts, e.g. sent in the year)."""

    @abstractmethod
    async def notice_decision_counts(self, sent_since: float) -> dict[str, int]:
        """Per decision, how many notices sent at or after `sent_since` have it (cheap: the
        supervision view asks every few seconds)."""

    @abstractmethod
    async def erase_notice_content(self, notice_id: str, at: float) -> bool:
        """Blank its locations, explanation, facts dates, evidence and ticket id, set
        `erased_at` (notices.erased); the anonymous rest stays. False if unknown or already erased."""

    # --- returning teens: a pseudonym's earlier conversations, widget follow-up codes (core/returning) ---
    @abstractmethod
    async def conversations_of_sender(self, sender_key: str, limit: int) -> list[Conversation]:
        """The sender's conversations, any state, newest first (by opened_at), at most `limit`.
        Indexed where each conversation is created; `erase_conversation` takes it out (and, with
        the sender's last one, drops their follow-up code and links): no pseudonym link outlives
        the retention."""

    @abstractmethod
    async def save_follow_up_code(self, code_hash: str, sender_key: str, ttl: int) -> None:
        """Keep a widget teen's follow-up code (its keyed hash, never the code) → their sender key
        for `ttl` seconds; it replaces the sender's earlier code."""

    @abstractmethod
    async def sender_of_follow_up_code(self, code_hash: str) -> str | None:
        """The sender key a follow-up code was given to, or None (unknown, replaced, ended)."""

    @abstractmethod
    async def link_senders(self, sender_key: str, earlier: set[str], ttl: int) -> None:
        """Remember for `ttl` seconds that `sender_key` is the teen of each `earlier` sender key."""

    @abstractmethod
    async def linked_senders(self, sender_key: str) -> set[str]:
        """The sender keys linked to this one (empty when none)."""


class Bus(Protocol):
    """Where the core announces what happened; every process's hubs listen (gateway/bus/)."""

    def subscribe(self, handler: Callable[[Event], None]) -> None: ...

    async def publish(self, event: Event) -> None: ...
