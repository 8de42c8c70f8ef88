"""The in-memory store: the embedded default for a quick single-process run.

Nothing survives a restart. Each method runs without awaiting, so on one event loop
every operation is atomic, which is what the contract asks of the Redis store too.
"""

from __future__ import annotations

import time
from dataclasses import replace

from gateway.domain.casework import Qualification, in_use_of
from gateway.domain.errors import InvalidTransition
from gateway.domain.notices import Notice, erased
from gateway.domain.model import (
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    Delivery,
    Message,
    Presence,
    QueueEntry,
    Role,
)
from gateway.core.ports import (
    ERASED_ALIAS,
    ERASED_SENDER_KEY,
    MARK_FIELDS,
    AssignOutcome,
    DeliveryJob,
    Intake,
    MessageId,
    NewMessage,
    Reassignment,
    Store,
    Stored,
)
from gateway.store.memory_accounts import MemoryAccountRecords
from gateway.store.memory_limits import MemoryLimitCounters
from gateway.store.memory_privacy import MemoryPrivacyLookups
from gateway.store.memory_inbox import MemoryInbox


def _checked_skills(skills: frozenset[str]) -> frozenset[str]:
    """The Redis store keeps skills comma-joined: refuse here what it refuses, alike."""
    for skill in skills:
        if not skill or "," in skill:
            raise ValueError(f"invalid skill {skill!r} (empty or with a comma)")
    return frozenset(skills)


class MemoryStore(MemoryLimitCounters, MemoryAccountRecords, MemoryPrivacyLookups, MemoryInbox, Store):
    kind = "memory"

    def __init__(self) -> None:
        # (scope, id) -> (expires, where its message went: conversation id and seq, or None)
        self._dedupe: dict[tuple[str, str], tuple[float, tuple[str, int] | None]] = {}
        self._conversations: dict[str, Conversation] = {}
        self._active: dict[str, str] = {}  # sender_key -> conversation id
        self._messages: dict[str, list[Message]] = {}
        self._counsellors: dict[str, Counsellor] = {}
        self._usernames: dict[str, str] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._outbox: dict[tuple[str, int], tuple[float, DeliveryJob]] = {}  # (conv, seq) -> (due, job)
        self._abuse: dict[str, tuple[str, float]] = {}  # sender key -> (alias, until)
        self._survey: dict[str, dict[str, dict[str, int]]] = {}  # day -> channel -> answer -> count
        self._provider_ids: dict[tuple[str, str], tuple[str, int]] = {}
        self._consoles: dict[str, dict[str, float]] = {}  # counsellor id -> holder -> until
        self._qualifications: dict[str, Qualification] = {}  # conversation id -> record (casework)
        self._notices: dict[str, Notice] = {}  # notice id -> notice (trusted-flagger notices)
        # Returning teens (core/returning): sender key -> conversation ids (oldest first); code
        # hash -> (sender key, expires); sender key -> their code hash; sender key -> (linked, expires).
        self._by_sender: dict[str, list[str]] = {}
        self._codes: dict[str, tuple[str, float]] = {}
        self._code_of_sender: dict[str, str] = {}
        self._links: dict[str, tuple[set[str], float]] = {}
        MemoryLimitCounters.__init__(self)
        MemoryAccountRecords.__init__(self)
        MemoryPrivacyLookups.__init__(self)
        MemoryInbox.__init__(self)

    async def ping(self) -> bool:
        return True

    async def claim_message_id(self, channel: str, provider_message_id: str, ttl: int) -> bool:
        if self._claimed((channel, provider_message_id)) is not None:
            return False
        self._claim((channel, provider_message_id), ttl, None)
        return True

    def _claimed(self, key: tuple[str, str]) -> Stored | None:
        entry = self._dedupe.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        conversation_id, seq = entry[1] or (None, 0)
        return Stored(Intake.DUPLICATE, conversation_id, seq)

    def _claim(self, key: tuple[str, str], ttl: int, stored_at: tuple[str, int] | None) -> None:
        now = time.monotonic()
        self._dedupe[key] = (now + ttl, stored_at)
        if len(self._dedupe) > 100_000:  # bounded: drop expired entries now and then
            self._dedupe = {k: v for k, v in self._dedupe.items() if v[0] > now}

    async def stored_under(self, message_id: MessageId) -> Stored | None:
        return self._claimed((message_id.scope, message_id.value))

    # store_inbound and store_reply never await: each is one step on the event loop.
    async def store_inbound(self, message_id: MessageId, sender_key: str, line: NewMessage | None,
                            new_conversation: Conversation | None) -> Stored:
        key = (message_id.scope, message_id.value)
        first = self._claimed(key)
        if first is not None:
            return first
        open_id = self._active.get(sender_key)
        created = open_id is None
        if created:
            if new_conversation is None:
                return Stored(Intake.NO_OPEN)
            self._create(new_conversation)
            open_id = new_conversation.id
        message = self._append(open_id, line) if line is not None else None
        self._claim(key, message_id.ttl, (open_id, message.seq if message else 0))
        return Stored(Intake.STORED, open_id, message.seq if message else 0, message,
                      self._conversations[open_id], created)

    def _create(self, conversation: Conversation) -> None:
        self._conversations[conversation.id] = conversation
        self._messages.setdefault(conversation.id, [])
        if conversation.erased_at is None:
            self._by_sender.setdefault(conversation.sender_key, []).append(conversation.id)
        if conversation.is_open:
            self._active[conversation.sender_key] = conversation.id

    async def store_reply(self, message_id: MessageId | None, conversation_id: str, counsellor_id: str,
                          line: NewMessage) -> Stored:
        key = (message_id.scope, message_id.value) if message_id else None
        first = self._claimed(key) if key else None
        if first is not None:
            return first
        conversation = self._conversations.get(conversation_id)
        if (conversation is None or conversation.state is not ConversationState.ASSIGNED
                or conversation.counsellor_id != counsellor_id):
            return Stored(Intake.REFUSED, conversation_id)
        message = self._append(conversation_id, line)
        if key and message_id:
            self._claim(key, message_id.ttl, (conversation_id, message.seq))
        self._answered(conversation_id, line.at)
        return Stored(Intake.STORED, conversation_id, message.seq, message)

    async def create_or_get_active(self, conversation: Conversation) -> tuple[Conversation, bool]:
        existing_id = self._active.get(conversation.sender_key)
        if existing_id is not None:
            return self._conversations[existing_id], False
        self._create(conversation)
        return conversation, True

    async def create_closed(self, conversation: Conversation) -> None:
        self._create(conversation)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    async def active_conversation_of(self, sender_key: str) -> Conversation | None:
        conversation_id = self._active.get(sender_key)
        return self._conversations.get(conversation_id) if conversation_id else None

    async def touch_teen(self, conversation_id: str, at: float, inbound_id: str | None = None) -> None:
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            self._conversations[conversation_id] = replace(
                conversation, last_teen_message_at=at, waiting_since=conversation.waiting_since or at,
                last_inbound_id=inbound_id or conversation.last_inbound_id,
            )

    async def mark_answered(self, conversation_id: str, at: float) -> None:
        self._answered(conversation_id, at)

    def _answered(self, conversation_id: str, at: float) -> None:
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            self._conversations[conversation_id] = replace(
                conversation, waiting_since=None, checked_at=None, last_answer_at=at,
                first_answer_at=conversation.first_answer_at if conversation.first_answer_at is not None else at,
            )

    async def set_marks(self, conversation_id: str, marks: dict[str, float | int | None]) -> None:
        unknown = set(marks) - MARK_FIELDS
        if unknown:
            raise ValueError(f"not a bookkeeping field: {', '.join(sorted(unknown))}")
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            # Typed as the Redis store reads them back.
            typed = {name: None if value is None else int(value) if name == "told_position" else float(value)
                     for name, value in marks.items()}
            self._conversations[conversation_id] = replace(conversation, **typed)

    async def raise_priority(self, conversation_id: str, priority: int, reason: str,
                             required_skill: str | None) -> bool:
        conversation = self._conversations.get(conversation_id)
        if conversation is None or not conversation.is_open or priority <= conversation.priority:
            return False
        self._conversations[conversation_id] = replace(
            conversation, priority=priority, priority_reason=reason or None, required_skill=required_skill or None
        )
        return True

    async def requeue(self, conversation_id: str, expected_counsellor_id: str | None, queued_at: float,
                      required_skill: str | None, handed_over_by: str | None = None) -> Conversation | None:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return None
        if expected_counsellor_id is not None and conversation.counsellor_id != expected_counsellor_id:
            return None
        try:
            moved = conversation.requeue(queued_at, required_skill or None, handed_over_by or None)
        except InvalidTransition:  # only an assigned conversation goes back to the queue
            return None
        self._conversations[conversation_id] = moved
        return moved

    async def hand_over(self, conversation_id: str, expected_counsellor_id: str | None, to_counsellor_id: str,
                        capacity: int, at: float) -> Reassignment:
        conversation = self._conversations.get(conversation_id)
        if conversation is None or not conversation.is_open or conversation.counsellor_id == to_counsellor_id:
            return Reassignment(AssignOutcome.NOT_QUEUED)
        # An expected owner must own it now: a queued conversation is nobody's.
        if expected_counsellor_id is not None and conversation.counsellor_id != expected_counsellor_id:
            return Reassignment(AssignOutcome.NOT_QUEUED)
        outcome = self._can_take(to_counsellor_id, capacity)
        if outcome is not AssignOutcome.ASSIGNED:
            return Reassignment(outcome)
        if conversation.state is ConversationState.QUEUED:
            moved = conversation.assign(to_counsellor_id, at)
        else:  # assigned -> assigned: a handover, not a move of the state machine; who handed it over is kept
            moved = replace(conversation, counsellor_id=to_counsellor_id, assigned_at=at,
                            handed_over_by=conversation.counsellor_id)
        self._conversations[conversation_id] = moved
        self._counsellors[to_counsellor_id] = replace(self._counsellors[to_counsellor_id], last_assigned_at=at)
        return Reassignment(AssignOutcome.ASSIGNED, conversation.counsellor_id)

    async def conversations_since(self, since: float) -> list[Conversation]:
        recent = [c for c in self._conversations.values() if c.opened_at >= since]
        return sorted(recent, key=lambda c: (c.opened_at, c.id))

    async def close_conversation(
        self, conversation_id: str, reason: CloseReason, at: float
    ) -> Conversation | None:
        conversation = self._conversations.get(conversation_id)
        if conversation is None or not conversation.is_open:
            return None
        closed = conversation.close(reason, at)
        self._conversations[conversation_id] = closed
        if self._active.get(closed.sender_key) == conversation_id:
            del self._active[closed.sender_key]
        return closed

    async def erase_conversation(self, conversation_id: str, at: float) -> bool:
        conversation = self._conversations.get(conversation_id)
        if conversation is None or conversation.is_open:
            return False
        self._messages.pop(conversation_id, None)
        self._outbox = {key: job for key, job in self._outbox.items() if key[0] != conversation_id}
        # Unlike Redis (hashed keys with a TTL), this map holds platform message ids in clear.
        self._provider_ids = {key: link for key, link in self._provider_ids.items() if link[0] != conversation_id}
        if self._active.get(conversation.sender_key) == conversation_id:
            del self._active[conversation.sender_key]
        self._forget_sender_link(conversation.sender_key, conversation_id)
        qualification = self._qualifications.get(conversation_id)
        if qualification is not None:  # its summary is a text: it goes with the others
            self._qualifications[conversation_id] = replace(qualification, summary=None)
        self._conversations[conversation_id] = replace(
            conversation, sender_key=ERASED_SENDER_KEY, alias=ERASED_ALIAS, reply_to=None, business_id=None,
            last_inbound_id=None, priority_reason=None,
            erased_at=conversation.erased_at if conversation.erased_at is not None else at,
        )
        return True

    async def closed_before(self, before: float, limit: int) -> list[str]:
        due = sorted(
            (c.closed_at if c.closed_at is not None else c.opened_at, c.id)
            for c in self._conversations.values()
            if c.state is ConversationState.CLOSED and c.erased_at is None
        )
        return [conversation_id for closed_at, conversation_id in due if closed_at < before][:max(limit, 0)]

    async def append_message(self, conversation_id: str, message: NewMessage) -> Message:
        return self._append(conversation_id, message)

    def _append(self, conversation_id: str, message: NewMessage) -> Message:
        history = self._messages.setdefault(conversation_id, [])
        stored = Message(
            conversation_id=conversation_id,
            seq=len(history) + 1,
            author=message.author,
            text=message.text,
            at=message.at,
            author_name=message.author_name,
            delivery=Delivery.PENDING if message.deliver else None,
        )
        history.append(stored)
        if message.window is not None:
            job = DeliveryJob(conversation_id, stored.seq, 0, message.window)
            self._outbox[(conversation_id, stored.seq)] = (message.at, job)
        return stored

    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        due = sorted((when, key) for key, (when, _) in self._outbox.items() if when <= now)
        jobs = []
        for _, key in due[:limit]:
            job = self._outbox[key][1]
            self._outbox[key] = (now + lease, job)
            jobs.append(job)
        return jobs

    async def retry_delivery(self, job: DeliveryJob, due_at: float) -> None:
        key = (job.conversation_id, job.seq)
        if key in self._outbox:
            self._outbox[key] = (due_at, replace(self._outbox[key][1], attempts=job.attempts + 1))

    async def finish_delivery(self, job: DeliveryJob) -> None:
        self._outbox.pop((job.conversation_id, job.seq), None)

    async def set_delivery(self, conversation_id: str, seq: int, state: Delivery, error: str | None = None) -> None:
        history = self._messages.get(conversation_id, [])
        if 1 <= seq <= len(history):
            history[seq - 1] = replace(history[seq - 1], delivery=state, delivery_error=error)

    async def link_provider_message(
        self, channel: str, provider_message_id: str, conversation_id: str, seq: int, ttl: int
    ) -> None:
        self._provider_ids[(channel, provider_message_id)] = (conversation_id, seq)

    async def find_provider_message(self, channel: str, provider_message_id: str) -> tuple[str, int] | None:
        return self._provider_ids.get((channel, provider_message_id))

    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[Message]:
        return self._messages.get(conversation_id, [])[max(after_seq, 0):]

    async def queue(self) -> list[QueueEntry]:
        waiting = [c for c in self._conversations.values() if c.state is ConversationState.QUEUED]
        waiting.sort(key=lambda c: (-c.priority, c.queued_at or c.opened_at))
        return [QueueEntry(c.id, c.priority, c.queued_at or c.opened_at, c.required_skill, c.handed_over_by,
                           c.teen_away_since) for c in waiting]

    async def try_assign(
        self, conversation_id: str, counsellor_id: str, capacity: int, at: float
    ) -> AssignOutcome:
        conversation = self._conversations.get(conversation_id)
        if conversation is None or conversation.state is not ConversationState.QUEUED:
            return AssignOutcome.NOT_QUEUED
        outcome = self._can_take(counsellor_id, capacity)
        if outcome is not AssignOutcome.ASSIGNED:
            return outcome
        self._conversations[conversation_id] = conversation.assign(counsellor_id, at)
        self._counsellors[counsellor_id] = replace(self._counsellors[counsellor_id], last_assigned_at=at)
        return AssignOutcome.ASSIGNED

    def _can_take(self, counsellor_id: str, capacity: int) -> AssignOutcome:
        """ASSIGNED when the counsellor is available and below capacity, else why not."""
        counsellor = self._counsellors.get(counsellor_id)
        if counsellor is None or counsellor.presence is not Presence.AVAILABLE:
            return AssignOutcome.NOT_AVAILABLE
        if self._load_of(counsellor_id) >= capacity:
            return AssignOutcome.FULL
        return AssignOutcome.ASSIGNED

    def _load_of(self, counsellor_id: str) -> int:
        return sum(
            1
            for c in self._conversations.values()
            if c.counsellor_id == counsellor_id and c.state is ConversationState.ASSIGNED
        )

    async def conversations_of(self, counsellor_id: str) -> list[Conversation]:
        mine = [
            c
            for c in self._conversations.values()
            if c.counsellor_id == counsellor_id and c.state is ConversationState.ASSIGNED
        ]
        return sorted(mine, key=lambda c: c.assigned_at or 0)

    async def add_counsellor(self, counsellor: Counsellor) -> None:
        if counsellor.username in self._usernames:
            raise ValueError(f"username {counsellor.username!r} is taken")
        _checked_skills(counsellor.skills)
        self._counsellors[counsellor.id] = counsellor
        self._usernames[counsellor.username] = counsellor.id

    async def get_counsellor(self, counsellor_id: str) -> Counsellor | None:
        return self._counsellors.get(counsellor_id)

    async def counsellor_by_username(self, username: str) -> Counsellor | None:
        counsellor_id = self._usernames.get(username)
        return self._counsellors.get(counsellor_id) if counsellor_id else None

    async def counsellors(self) -> list[Counsellor]:
        return list(self._counsellors.values())

    async def set_presence(self, counsellor_id: str, presence: Presence, at: float) -> None:
        counsellor = self._counsellors.get(counsellor_id)
        if counsellor is not None and counsellor.presence is not presence:
            if counsellor.disabled and presence is not Presence.OFFLINE:
                return  # a disabled account stays offline (as the Redis script)
            self._counsellors[counsellor_id] = replace(counsellor, presence=presence, presence_since=at)

    async def update_counsellor(self, counsellor_id: str, *, skills: frozenset[str] | None = None,
                                max_conversations: int | None = None, clear_max: bool = False,
                                role: Role | None = None) -> Counsellor | None:
        changes: dict[str, object] = {}
        if skills is not None:
            changes["skills"] = _checked_skills(skills)
        if clear_max and max_conversations is not None:
            raise ValueError("max_conversations and clear_max together")
        if clear_max or max_conversations is not None:
            changes["max_conversations"] = max_conversations
        if role is not None:
            changes["role"] = role
        counsellor = self._counsellors.get(counsellor_id)
        if counsellor is None:
            return None
        self._counsellors[counsellor_id] = updated = replace(counsellor, **changes)
        return updated

    async def loads(self) -> dict[str, int]:
        counts = {counsellor_id: 0 for counsellor_id in self._counsellors}
        for c in self._conversations.values():
            if c.state is ConversationState.ASSIGNED and c.counsellor_id in counts:
                counts[c.counsellor_id] += 1
        return counts

    async def set_care_until(self, counsellor_id: str, until: float | None) -> None:
        counsellor = self._counsellors.get(counsellor_id)
        if counsellor is not None:
            self._counsellors[counsellor_id] = replace(counsellor, care_until=until)

    async def count_survey_answer(self, conversation_id: str, day: str, channel: str, value: str,
                                  ttl: int) -> bool:
        if self._claimed(("survey", conversation_id)) is not None:
            return False
        self._claim(("survey", conversation_id), ttl, None)
        per_channel = self._survey.setdefault(day, {}).setdefault(channel, {})
        per_channel[value] = per_channel.get(value, 0) + 1
        return True

    async def survey_counts(self, day: str) -> dict[str, dict[str, int]]:
        return {channel: dict(counts) for channel, counts in self._survey.get(day, {}).items()}

    # --- casework: qualification records ---------------------------------------------
    async def save_qualification(self, qualification: Qualification) -> None:
        self._qualifications[qualification.conversation_id] = qualification

    async def qualification_of(self, conversation_id: str) -> Qualification | None:
        return self._qualifications.get(conversation_id)

    async def qualifications_since(self, since: float) -> list[Qualification]:
        recent = [q for q in self._qualifications.values() if q.ended_at >= since]
        return sorted(recent, key=lambda q: (q.ended_at, q.conversation_id))

    async def values_in_use(self) -> dict[str, set[str]]:
        return in_use_of(self._qualifications.values())

    async def delete_qualifications_closed_before(self, before: float) -> int:
        due = [conversation_id for conversation_id, q in self._qualifications.items() if q.ended_at < before]
        for conversation_id in due:
            del self._qualifications[conversation_id]
        return len(due)

    # --- trusted-flagger notices ------------------------------------------------------
    async def save_notice(self, notice: Notice) -> None:
        self._notices[notice.id] = notice

    async def notice(self, notice_id: str) -> Notice | None:
        return self._notices.get(notice_id)

    async def notices(self, state: str | None = None, platform: str | None = None,
                      conversation_id: str | None = None) -> list[Notice]:
        found = [n for n in self._notices.values() if (state is None or n.state == state)
                 and (platform is None or n.platform == platform)
                 and (conversation_id is None or n.conversation_id == conversation_id)]
        return sorted(found, key=lambda n: (n.created_at, n.id), reverse=True)

    async def notices_between(self, start: float, end: float) -> list[Notice]:
        found = [n for n in self._notices.values()
                 if any(t is not None and start <= t < end for t in (n.created_at, n.sent_at, n.decided_at))]
        return sorted(found, key=lambda n: (n.created_at, n.id))

    async def notice_decision_counts(self, sent_since: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self._notices.values():
            if n.decision is not None and n.sent_at is not None and n.sent_at >= sent_since:
                counts[n.decision] = counts.get(n.decision, 0) + 1
        return counts

    async def erase_notice_content(self, notice_id: str, at: float) -> bool:
        notice = self._notices.get(notice_id)
        if notice is None or notice.erased_at is not None:
            return False
        self._notices[notice_id] = erased(notice, at)
        return True

    async def unqualified_closed(self, counsellor_id: str | None, limit: int) -> list[Conversation]:
        found = [c for c in self._conversations.values()
                 if c.state is ConversationState.CLOSED and c.erased_at is None and c.counsellor_id is not None
                 and (counsellor_id is None or c.counsellor_id == counsellor_id)
                 and c.id not in self._qualifications]
        found.sort(key=lambda c: (c.closed_at or c.opened_at, c.id), reverse=True)
        return found[:max(limit, 0)]

    async def hold_console(self, counsellor_id: str, holder: str, until: float) -> None:
        self._consoles.setdefault(counsellor_id, {})[holder] = until

    async def release_console(self, counsellor_id: str, holder: str) -> None:
        self._consoles.get(counsellor_id, {}).pop(holder, None)

    async def console_held_elsewhere(self, counsellor_id: str, holder: str, now: float) -> bool:
        holds = {h: until for h, until in self._consoles.get(counsellor_id, {}).items() if until > now}
        self._consoles[counsellor_id] = holds
        return any(h != holder for h in holds)

    async def create_session(self, token_hash: str, counsellor_id: str, ttl: int) -> None:
        self._sessions[token_hash] = (counsellor_id, time.monotonic() + ttl)

    async def session_counsellor(self, token_hash: str) -> str | None:
        entry = self._sessions.get(token_hash)
        if entry is None or entry[1] <= time.monotonic():
            self._sessions.pop(token_hash, None)
            return None
        return entry[0]

    async def delete_session(self, token_hash: str) -> None:
        self._sessions.pop(token_hash, None)

    async def mark_abusive(self, sender_key: str, alias: str, until: float) -> None:
        self._abuse[sender_key] = (alias, until)

    async def abuse_until(self, sender_key: str, now: float) -> float | None:
        mark = self._abuse.get(sender_key)
        return mark[1] if mark and mark[1] > now else None

    async def abuse_marks(self, now: float) -> list[tuple[str, str, float]]:
        self._abuse = {k: v for k, v in self._abuse.items() if v[1] > now}
        return [(key, alias, until) for key, (alias, until) in self._abuse.items()]

    async def lift_abuse(self, sender_key: str) -> bool:
        return self._abuse.pop(sender_key, None) is not None

    # --- returning teens (TTLs on time.monotonic, like the sessions: nothing outlives the process) ---
    async def conversations_of_sender(self, sender_key: str, limit: int) -> list[Conversation]:
        ids = self._by_sender.get(sender_key, [])
        theirs = [self._conversations[i] for i in ids if i in self._conversations]
        theirs.sort(key=lambda c: (c.opened_at, c.id), reverse=True)
        return theirs[:max(limit, 0)]

    def _forget_sender_link(self, sender_key: str, conversation_id: str) -> None:
        """At erase: the conversation leaves its sender's index; with the last one, the sender's
        code and links go too (what a code or a link pointed to is gone)."""
        ids = self._by_sender.get(sender_key)
        if ids is None:
            return
        if conversation_id in ids:
            ids.remove(conversation_id)
        if not ids:
            del self._by_sender[sender_key]
            self._codes.pop(self._code_of_sender.pop(sender_key, ""), None)
            self._links.pop(sender_key, None)

    async def save_follow_up_code(self, code_hash: str, sender_key: str, ttl: int) -> None:
        self._codes.pop(self._code_of_sender.get(sender_key, ""), None)
        self._codes[code_hash] = (sender_key, time.monotonic() + ttl)
        self._code_of_sender[sender_key] = code_hash

    async def sender_of_follow_up_code(self, code_hash: str) -> str | None:
        entry = self._codes.get(code_hash)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def link_senders(self, sender_key: str, earlier: set[str], ttl: int) -> None:
        linked, _ = self._links.get(sender_key, (set(), 0.0))
        self._links[sender_key] = (linked | set(earlier), time.monotonic() + ttl)

    async def linked_senders(self, sender_key: str) -> set[str]:
        entry = self._links.get(sender_key)
        if entry is None or entry[1] <= time.monotonic():
            return set()
        return set(entry[0])
