"""The store contract: every test runs against the memory and the Redis store alike.

The last section holds what only the Redis store promises: two processes sharing one Redis,
surviving a restart of the gateway, and saying so when Redis is down.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis

from gateway.domain.errors import StoreError
from gateway.domain.model import (
    Delivery,
    Author,
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    Presence,
    QueueEntry,
    Role,
)
from gateway.core.ports import ERASED_ALIAS, ERASED_SENDER_KEY, AssignOutcome, NewMessage, Reassignment, Store
from gateway.core.ports import Intake, MessageId, Stored
from gateway.domain.windows import SendWindow, send_window
from gateway.store.redis import RedisStore

T0 = 1_700_000_000.0
A_WINDOW = send_window(Channel.MESSENGER, T0)  # a reply's send window, as core.lines.ours decides it


def a_conversation(sender: str = "sender-a", *, priority: int = 0, queued_at: float = T0) -> Conversation:
    return Conversation(
        id=uuid.uuid4().hex,
        channel=Channel.WHATSAPP,
        sender_key=sender,
        alias=f"alias-{sender}",
        state=ConversationState.QUEUED,
        opened_at=queued_at,
        priority=priority,
        queued_at=queued_at,
    )


def a_counsellor(username: str, presence: Presence = Presence.AVAILABLE) -> Counsellor:
    return Counsellor(
        id=uuid.uuid4().hex,
        username=username,
        display_name=username.title(),
        password_hash="argon2$fake",
        presence=presence,
    )


async def queued(store: Store, *conversations: Conversation) -> list[Conversation]:
    for conversation in conversations:
        _, created = await store.create_or_get_active(conversation)
        assert created
    return list(conversations)


async def counsellors(store: Store, *names: str, presence: Presence = Presence.AVAILABLE) -> list[Counsellor]:
    added = [a_counsellor(name, presence) for name in names]
    for counsellor in added:
        await store.add_counsellor(counsellor)
    return added


async def assigned(store: Store, counsellor: Counsellor, *conversations: Conversation, at: float = T0) -> None:
    for conversation in conversations:
        assert await store.try_assign(conversation.id, counsellor.id, 99, at) is AssignOutcome.ASSIGNED


async def queue_ids(store: Store) -> list[str]:
    return [e.conversation_id for e in await store.queue()]


# --- inbound dedupe -------------------------------------------------------------------------


async def test_dedupe_lets_the_first_claim_through_and_refuses_the_second(store: Store) -> None:
    assert await store.claim_message_id("whatsapp", "wamid.1", ttl=60) is True
    assert await store.claim_message_id("whatsapp", "wamid.1", ttl=60) is False


async def test_dedupe_tells_channels_apart(store: Store) -> None:
    assert await store.claim_message_id("whatsapp", "id-1", ttl=60) is True
    assert await store.claim_message_id("messenger", "id-1", ttl=60) is True


# --- atomic intake: a message and the claim on its id are one step ---------------------------


def teen_id(value: str = "wamid.1") -> MessageId:
    return MessageId("whatsapp", f"sender-a:{value}", 60)


def teen_line(text: str = "il a mes photos", at: float = T0) -> NewMessage:
    return NewMessage(Author.TEEN, text, at)


async def test_intake_creates_a_conversation_with_its_first_line(store: Store) -> None:
    new = a_conversation()
    stored = await store.store_inbound(teen_id(), new.sender_key, teen_line(), new)
    assert (stored.outcome, stored.conversation_id, stored.seq, stored.created) == (Intake.STORED, new.id, 1, True)
    assert stored.conversation == new
    assert stored.message is not None and (stored.message.seq, stored.message.text) == (1, "il a mes photos")
    assert await queue_ids(store) == [new.id]
    assert await store.active_conversation_of(new.sender_key) == new
    assert [m.text for m in await store.messages(new.id)] == ["il a mes photos"]


async def test_a_duplicate_id_stores_nothing_and_says_where_the_first_went(store: Store) -> None:
    new = a_conversation()
    assert await store.stored_under(teen_id()) is None
    await store.store_inbound(teen_id(), new.sender_key, teen_line(), new)
    again = await store.store_inbound(teen_id(), new.sender_key, teen_line("il a mes photos"),
                                      a_conversation())
    assert again == Stored(Intake.DUPLICATE, new.id, 1) and again.duplicate
    assert await store.stored_under(teen_id()) == Stored(Intake.DUPLICATE, new.id, 1)
    assert len(await store.messages(new.id)) == 1
    assert await queue_ids(store) == [new.id]
    other_channel = MessageId("messenger", teen_id().value, 60)  # ids are per channel
    assert (await store.store_inbound(other_channel, new.sender_key, teen_line(), None)).seq == 2


async def test_intake_continues_the_senders_open_conversation(store: Store) -> None:
    [first] = await queued(store, a_conversation())
    stray = a_conversation()  # offered, but the sender has an open one: not stored
    stored = await store.store_inbound(teen_id("m2"), first.sender_key, teen_line("encore"), stray)
    assert (stored.outcome, stored.conversation_id, stored.seq, stored.created) == (Intake.STORED, first.id, 1, False)
    assert await store.get_conversation(stray.id) is None
    nothing = await store.store_inbound(teen_id("m3"), first.sender_key, None, None)  # an attachment alone
    assert (nothing.outcome, nothing.conversation_id, nothing.seq, nothing.message) == (Intake.STORED, first.id, 0,
                                                                                       None)
    assert await store.stored_under(teen_id("m3")) == Stored(Intake.DUPLICATE, first.id, 0)


async def test_intake_without_an_open_conversation_nor_a_new_one_claims_nothing(store: Store) -> None:
    [first] = await queued(store, a_conversation())
    await store.close_conversation(first.id, CloseReason.BY_TEEN, T0 + 1)
    gone = await store.store_inbound(teen_id(), first.sender_key, teen_line(), None)
    assert gone == Stored(Intake.NO_OPEN)
    assert await store.stored_under(teen_id()) is None and await store.messages(first.id) == []
    new = a_conversation()
    assert (await store.store_inbound(teen_id(), new.sender_key, teen_line(), new)).created


async def test_intake_keeps_a_closed_door_conversation_for_the_record(store: Store) -> None:
    night = a_conversation().close(CloseReason.OUT_OF_HOURS, T0)
    stored = await store.store_inbound(teen_id(), night.sender_key, teen_line("tu es là ?"), night)
    assert (stored.outcome, stored.created, stored.conversation) == (Intake.STORED, True, night)
    assert await queue_ids(store) == [] and await store.active_conversation_of(night.sender_key) is None
    assert await store.closed_before(T0 + 1, 10) == [night.id]
    assert [m.text for m in await store.messages(night.id)] == ["tu es là ?"]


async def test_concurrent_intakes_of_one_id_store_it_once(store: Store) -> None:
    attempts = [a_conversation() for _ in range(12)]
    results = await asyncio.gather(*(store.store_inbound(teen_id(), c.sender_key, teen_line(), c) for c in attempts))
    assert Counter(r.outcome for r in results) == {Intake.STORED: 1, Intake.DUPLICATE: 11}
    [first] = [r for r in results if r.outcome is Intake.STORED]
    assert {(r.conversation_id, r.seq) for r in results} == {(first.conversation_id, 1)}
    assert len(await store.messages(first.conversation_id)) == 1 and len(await store.queue()) == 1


async def test_a_reply_is_stored_once_and_only_while_it_is_the_counsellors(store: Store) -> None:
    [conversation] = await queued(store, replace(a_conversation(), channel=Channel.MESSENGER))
    ana, bea = await counsellors(store, "ana", "bea")
    await assigned(store, ana, conversation)
    reply_id = MessageId("console", f"{ana.id}:r-1", 60)
    line = NewMessage(Author.COUNSELLOR, "Je suis là.", T0, "Ana", window=A_WINDOW)
    stored = await store.store_reply(reply_id, conversation.id, ana.id, line)
    assert (stored.outcome, stored.seq) == (Intake.STORED, 1)
    assert stored.message is not None and stored.message.delivery is Delivery.PENDING
    assert await store.store_reply(reply_id, conversation.id, ana.id, line) == Stored(Intake.DUPLICATE,
                                                                                      conversation.id, 1)
    [job] = await store.claim_deliveries(now=T0, lease=30, limit=10)  # queued once, with its window
    assert (job.seq, job.window) == (1, A_WINDOW)
    theirs = await store.store_reply(MessageId("console", f"{bea.id}:r-1", 60), conversation.id, bea.id, line)
    assert theirs.outcome is Intake.REFUSED
    plain = await store.store_reply(None, conversation.id, ana.id, replace(line, window=None))
    assert (plain.outcome, plain.seq) == (Intake.STORED, 2)
    await store.close_conversation(conversation.id, CloseReason.BY_COUNSELLOR, T0 + 5)
    late = await store.store_reply(MessageId("console", f"{ana.id}:r-2", 60), conversation.id, ana.id, line)
    assert late.outcome is Intake.REFUSED and len(await store.messages(conversation.id)) == 2


async def test_concurrent_replies_with_one_client_id_store_it_once(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, conversation)
    reply_id = MessageId("console", f"{ana.id}:r-1", 60)
    line = NewMessage(Author.COUNSELLOR, "Je suis là.", T0, "Ana")
    results = await asyncio.gather(*(store.store_reply(reply_id, conversation.id, ana.id, line) for _ in range(8)))
    assert Counter(r.outcome for r in results) == {Intake.STORED: 1, Intake.DUPLICATE: 7}
    assert len(await store.messages(conversation.id)) == 1


async def test_a_housekeeping_claim_and_a_message_id_share_one_key_space(store: Store) -> None:
    """An id claimed the old way (a claim with no message) is still a duplicate, with nothing known."""
    assert await store.claim_message_id("whatsapp", teen_id().value, ttl=60)
    new = a_conversation()
    assert await store.store_inbound(teen_id(), new.sender_key, teen_line(), new) == Stored(Intake.DUPLICATE)
    assert await store.get_conversation(new.id) is None


async def test_two_processes_taking_one_message_store_it_once(make_store) -> None:
    prefix = f"intake-{uuid.uuid4().hex[:8]}"
    one, two = await make_store("redis", prefix=prefix), await make_store("redis", prefix=prefix)
    attempts = [a_conversation() for _ in range(20)]
    results = await asyncio.gather(*((one if i % 2 else two).store_inbound(teen_id(), c.sender_key, teen_line(), c)
                                     for i, c in enumerate(attempts)))
    assert Counter(r.outcome for r in results) == {Intake.STORED: 1, Intake.DUPLICATE: 19}
    [winner] = [r for r in results if r.created]
    assert winner.conversation_id in {c.id for c in attempts}
    assert {(r.conversation_id, r.seq) for r in results} == {(winner.conversation_id, 1)}
    [entry] = await two.queue()
    assert len(await one.messages(entry.conversation_id)) == 1


async def test_a_dispatcher_elsewhere_never_sees_a_conversation_without_its_first_line(make_store) -> None:
    """After every command the intake's process sends to Redis, another process runs a
    dispatcher round (assign whatever is queued): each conversation it takes holds its line."""
    prefix = f"first-{uuid.uuid4().hex[:8]}"
    intake, dispatcher = await make_store("redis", prefix=prefix), await make_store("redis", prefix=prefix)
    [ana] = await counsellors(dispatcher, "ana")
    taken: dict[str, int] = {}  # conversation id -> lines it held when assigned

    async def dispatcher_round() -> None:
        for entry in await dispatcher.queue():
            if await dispatcher.try_assign(entry.conversation_id, ana.id, 999, T0) is AssignOutcome.ASSIGNED:
                taken[entry.conversation_id] = len(await dispatcher.messages(entry.conversation_id))

    def send_then_dispatch(send):
        async def command(*args, **kwargs):
            reply = await send(*args, **kwargs)
            await dispatcher_round()
            return reply
        return command

    def pipelines_then_dispatch(make):  # the scripts go in pipelines (store/redis_batch): after each too
        def pipeline(*args, **kwargs):
            pipe = make(*args, **kwargs)
            pipe.execute = send_then_dispatch(pipe.execute)
            return pipe
        return pipeline

    for client in (v for v in vars(intake).values() if isinstance(v, aioredis.Redis)):  # every client it holds
        client.execute_command = send_then_dispatch(client.execute_command)
        client.pipeline = pipelines_then_dispatch(client.pipeline)
    teens = [a_conversation(f"s{i}") for i in range(3)]
    for i, c in enumerate(teens):
        await intake.store_inbound(MessageId("web", f"{c.sender_key}:m{i}", 60), c.sender_key,
                                   teen_line(f"bonjour {i}"), c)
    assert taken == {c.id: 1 for c in teens}


async def test_redis_dedupe_keys_say_where_the_message_went_and_never_its_id(make_store, redis_url: str) -> None:
    prefix = f"dk-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    new = a_conversation()
    await store.store_inbound(MessageId("whatsapp", "sender-a:wamid.SECRET", 60), new.sender_key, teen_line(), new)
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        [key] = [k for k in await client.keys(f"{prefix}:dedupe:*")]
        assert "SECRET" not in key and await client.get(key) == f"{new.id}|1"
        assert 0 < await client.ttl(key) <= 60
    finally:
        await client.aclose()


# --- conversations --------------------------------------------------------------------------


async def test_new_conversation_is_stored_active_and_queued(store: Store) -> None:
    conversation = a_conversation()
    result, created = await store.create_or_get_active(conversation)
    assert created and result == conversation
    assert await store.get_conversation(conversation.id) == conversation
    assert await store.active_conversation_of("sender-a") == conversation
    assert [e.conversation_id for e in await store.queue()] == [conversation.id]


async def test_create_or_get_active_returns_the_senders_open_conversation(store: Store) -> None:
    first = a_conversation()
    await store.create_or_get_active(first)
    second = a_conversation()
    result, created = await store.create_or_get_active(second)
    assert (result, created) == (first, False)
    assert await store.get_conversation(second.id) is None
    assert [e.conversation_id for e in await store.queue()] == [first.id]


async def test_every_conversation_field_round_trips(store: Store) -> None:
    conversation = a_conversation(priority=2, queued_at=T0 + 0.123456789)
    await store.create_or_get_active(conversation)
    counsellor = a_counsellor("ana")
    await store.add_counsellor(counsellor)
    await store.touch_teen(conversation.id, T0 + 1.5)
    await store.try_assign(conversation.id, counsellor.id, capacity=3, at=T0 + 2.25)
    closed = await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0 + 3.125)
    assert closed == Conversation(
        id=conversation.id,
        channel=Channel.WHATSAPP,
        sender_key="sender-a",
        alias="alias-sender-a",
        state=ConversationState.CLOSED,
        opened_at=T0 + 0.123456789,
        priority=2,
        counsellor_id=counsellor.id,
        queued_at=T0 + 0.123456789,
        assigned_at=T0 + 2.25,
        closed_at=T0 + 3.125,
        close_reason=CloseReason.BY_TEEN,
        last_teen_message_at=T0 + 1.5,
        waiting_since=T0 + 1.5,
    )
    assert await store.get_conversation(conversation.id) == closed


async def test_touch_teen_records_the_latest_message_time(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    await store.touch_teen(conversation.id, T0 + 7)
    stored = await store.get_conversation(conversation.id)
    assert stored is not None and stored.last_teen_message_at == T0 + 7


async def test_waiting_since_holds_the_oldest_unanswered_message_until_answered(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())

    async def waiting_since() -> float | None:
        stored = await store.get_conversation(conversation.id)
        assert stored is not None
        return stored.waiting_since

    assert await waiting_since() is None
    await store.touch_teen(conversation.id, T0 + 1)
    await store.touch_teen(conversation.id, T0 + 2)
    assert await waiting_since() == T0 + 1
    await store.mark_answered(conversation.id, T0 + 2.5)
    assert await waiting_since() is None
    await store.touch_teen(conversation.id, T0 + 3)
    assert await waiting_since() == T0 + 3


async def test_marking_an_unknown_conversation_answered_creates_nothing(store: Store) -> None:
    await store.mark_answered("nope", T0)
    assert await store.get_conversation("nope") is None


async def test_touch_teen_of_an_unknown_conversation_creates_nothing(store: Store) -> None:
    await store.touch_teen("nope", T0)
    assert await store.get_conversation("nope") is None


async def test_closed_conversation_is_kept_but_neither_queued_nor_active(store: Store) -> None:
    conversation = a_conversation().close(CloseReason.OUT_OF_HOURS, T0)
    await store.create_closed(conversation)
    assert await store.get_conversation(conversation.id) == conversation
    assert await store.queue() == []
    assert await store.active_conversation_of("sender-a") is None


async def test_every_triage_and_bookkeeping_field_round_trips(store: Store) -> None:
    conversation = replace(
        a_conversation(priority=3), priority_reason="idées noires", required_skill="psychologue",
        first_answer_at=T0 + 0.5, checked_at=T0 + 0.75, told_position=4, told_at=T0 + 0.875,
        last_answer_at=T0 + 0.625,
    )
    await queued(store, conversation)
    assert await store.get_conversation(conversation.id) == conversation
    assert await store.queue() == [QueueEntry(conversation.id, 3, T0, "psychologue")]
    closed = replace(a_conversation("s2"), required_skill="juriste", told_position=1).close(CloseReason.BY_TEEN, T0)
    await store.create_closed(closed)
    assert await store.get_conversation(closed.id) == closed


async def test_mark_answered_keeps_the_first_answer_and_restarts_the_inactivity_check(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    await store.touch_teen(conversation.id, T0 + 1)
    await store.set_marks(conversation.id, {"checked_at": T0 + 2})
    await store.mark_answered(conversation.id, T0 + 3)
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert (stored.first_answer_at, stored.waiting_since, stored.checked_at) == (T0 + 3, None, None)
    await store.touch_teen(conversation.id, T0 + 4)
    await store.set_marks(conversation.id, {"checked_at": T0 + 5})
    await store.mark_answered(conversation.id, T0 + 6)
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert (stored.first_answer_at, stored.waiting_since, stored.checked_at) == (T0 + 3, None, None)


async def test_set_marks_writes_and_erases_bookkeeping_fields(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    await store.set_marks(conversation.id, {"told_position": 3, "told_at": T0 + 1, "checked_at": T0 + 2,
                                            "last_answer_at": T0 + 0.5})
    assert await store.get_conversation(conversation.id) == replace(
        conversation, told_position=3, told_at=T0 + 1, checked_at=T0 + 2, last_answer_at=T0 + 0.5)
    await store.set_marks(conversation.id, {"told_position": None, "checked_at": None})
    assert await store.get_conversation(conversation.id) == replace(conversation, told_at=T0 + 1,
                                                                    last_answer_at=T0 + 0.5)


@pytest.mark.parametrize("marks", [{"priority": 9}, {"told_at": T0, "state": "closed"}, {"waiting_since": None}])
async def test_set_marks_refuses_a_field_that_is_not_bookkeeping(store: Store, marks: dict) -> None:
    [conversation] = await queued(store, a_conversation())
    with pytest.raises(ValueError):
        await store.set_marks(conversation.id, marks)
    with pytest.raises(ValueError):
        await store.set_marks("unknown", marks)
    assert await store.get_conversation(conversation.id) == conversation


async def test_set_marks_on_an_unknown_conversation_creates_nothing(store: Store) -> None:
    await store.set_marks("nope", {"told_at": T0, "told_position": 2})
    assert await store.get_conversation("nope") is None


# --- conversations since (the day's figures) ------------------------------------------------


async def test_conversations_since_lists_every_conversation_opened_at_or_after(store: Store) -> None:
    before = a_conversation("s1", queued_at=T0 - 0.001)
    at_boundary = a_conversation("s2", queued_at=T0)
    latest = a_conversation("s3", queued_at=T0 + 60)
    await queued(store, before, at_boundary, latest)
    closed = a_conversation("s4", queued_at=T0 + 30).close(CloseReason.OUT_OF_HOURS, T0 + 30)
    await store.create_closed(closed)
    _, created = await store.create_or_get_active(a_conversation("s2", queued_at=T0 + 90))  # refused: s2 has one
    assert not created
    await store.close_conversation(latest.id, CloseReason.BY_TEEN, T0 + 61)

    since = await store.conversations_since(T0)
    assert [c.id for c in since] == [at_boundary.id, closed.id, latest.id]
    assert since[2] == await store.get_conversation(latest.id)  # as it stands now, closed
    assert [c.id for c in await store.conversations_since(T0 + 60)] == [latest.id]
    assert await store.conversations_since(T0 + 60.000001) == []
    assert len(await store.conversations_since(0.0)) == 4


# --- the queue ------------------------------------------------------------------------------


async def test_queue_puts_higher_priority_first_then_longest_waiting(store: Store) -> None:
    late_urgent = a_conversation("s1", priority=1, queued_at=T0 + 30)
    early = a_conversation("s2", queued_at=T0 + 10)
    earlier_by_a_microsecond = a_conversation("s3", queued_at=T0 + 10 - 0.000001)
    early_urgent = a_conversation("s4", priority=1, queued_at=T0 + 20)
    latest = a_conversation("s5", queued_at=T0 + 40)
    await queued(store, late_urgent, early, earlier_by_a_microsecond, early_urgent, latest)
    entries = await store.queue()
    assert [e.conversation_id for e in entries] == [
        early_urgent.id,
        late_urgent.id,
        earlier_by_a_microsecond.id,
        early.id,
        latest.id,
    ]
    assert (entries[0].priority, entries[0].queued_at) == (1, T0 + 20)


# --- assignment -----------------------------------------------------------------------------


async def test_try_assign_assigns_a_queued_conversation(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana = a_counsellor("ana")
    await store.add_counsellor(ana)
    assert await store.try_assign(conversation.id, ana.id, capacity=3, at=T0 + 5) is AssignOutcome.ASSIGNED
    stored = await store.get_conversation(conversation.id)
    assert stored == conversation.assign(ana.id, T0 + 5)
    assert await store.queue() == []
    assert await store.conversations_of(ana.id) == [stored]
    counsellor = await store.get_counsellor(ana.id)
    assert counsellor is not None and counsellor.last_assigned_at == T0 + 5


async def test_second_try_assign_of_one_conversation_is_not_queued(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana, ben = a_counsellor("ana"), a_counsellor("ben")
    await store.add_counsellor(ana)
    await store.add_counsellor(ben)
    assert await store.try_assign(conversation.id, ana.id, 3, T0) is AssignOutcome.ASSIGNED
    assert await store.try_assign(conversation.id, ben.id, 3, T0 + 1) is AssignOutcome.NOT_QUEUED
    assert await store.loads() == {ana.id: 1, ben.id: 0}


async def test_try_assign_of_unknown_or_closed_conversation_is_not_queued(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana = a_counsellor("ana")
    await store.add_counsellor(ana)
    await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0)
    assert await store.try_assign(conversation.id, ana.id, 3, T0) is AssignOutcome.NOT_QUEUED
    assert await store.try_assign("unknown", ana.id, 3, T0) is AssignOutcome.NOT_QUEUED


@pytest.mark.parametrize("presence", [Presence.PAUSED, Presence.OFFLINE])
async def test_try_assign_to_a_counsellor_who_is_not_available_fails(store: Store, presence: Presence) -> None:
    [conversation] = await queued(store, a_conversation())
    ana = a_counsellor("ana", presence)
    await store.add_counsellor(ana)
    assert await store.try_assign(conversation.id, ana.id, 3, T0) is AssignOutcome.NOT_AVAILABLE
    assert await store.try_assign(conversation.id, "unknown", 3, T0) is AssignOutcome.NOT_AVAILABLE
    assert [e.conversation_id for e in await store.queue()] == [conversation.id]


async def test_try_assign_at_capacity_is_full(store: Store) -> None:
    first, second = await queued(store, a_conversation("s1"), a_conversation("s2"))
    ana = a_counsellor("ana")
    await store.add_counsellor(ana)
    assert await store.try_assign(first.id, ana.id, capacity=1, at=T0) is AssignOutcome.ASSIGNED
    assert await store.try_assign(second.id, ana.id, capacity=1, at=T0) is AssignOutcome.FULL
    assert [e.conversation_id for e in await store.queue()] == [second.id]


async def test_loads_count_open_conversations_per_counsellor(store: Store) -> None:
    a, b, c = await queued(store, a_conversation("s1"), a_conversation("s2"), a_conversation("s3"))
    ana, ben, cleo = a_counsellor("ana"), a_counsellor("ben"), a_counsellor("cleo")
    for counsellor in (ana, ben, cleo):
        await store.add_counsellor(counsellor)
    await store.try_assign(a.id, ana.id, 3, T0)
    await store.try_assign(b.id, ana.id, 3, T0 + 1)
    await store.try_assign(c.id, ben.id, 3, T0 + 2)
    assert await store.loads() == {ana.id: 2, ben.id: 1, cleo.id: 0}
    assert [x.id for x in await store.conversations_of(ana.id)] == [a.id, b.id]


# --- raising the priority (triage) ----------------------------------------------------------


async def test_a_raised_conversation_comes_before_older_ordinary_ones(store: Store) -> None:
    older = a_conversation("s1", queued_at=T0)
    urgent = a_conversation("s2", priority=2, queued_at=T0 + 1)
    latest = a_conversation("s3", queued_at=T0 + 2)
    await queued(store, older, urgent, latest)
    assert await store.raise_priority(latest.id, 2, "idées noires", "psychologue") is True
    assert await queue_ids(store) == [urgent.id, latest.id, older.id]
    assert (await store.queue())[1] == QueueEntry(latest.id, 2, T0 + 2, "psychologue")
    assert await store.get_conversation(latest.id) == replace(
        latest, priority=2, priority_reason="idées noires", required_skill="psychologue")


async def test_raise_priority_never_lowers(store: Store) -> None:
    first = replace(a_conversation("s1", priority=2), priority_reason="harcèlement", required_skill="juriste")
    [first, second] = await queued(store, first, a_conversation("s2", priority=1, queued_at=T0 - 1))
    assert await store.raise_priority(first.id, 2, "autre", None) is False
    assert await store.raise_priority(first.id, 1, "autre", None) is False
    assert await store.get_conversation(first.id) == first
    assert await queue_ids(store) == [first.id, second.id]


async def test_raise_priority_of_a_closed_or_unknown_conversation_is_refused(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    closed = await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0 + 1)
    assert await store.raise_priority(conversation.id, 5, "trop tard", None) is False
    assert await store.get_conversation(conversation.id) == closed
    assert await store.raise_priority("unknown", 5, "inconnue", None) is False
    assert await store.get_conversation("unknown") is None
    assert await store.queue() == []


async def test_an_assigned_conversation_is_raised_without_going_back_to_the_queue(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, conversation)
    assert await store.raise_priority(conversation.id, 1, "violences", None) is True
    stored = await store.get_conversation(conversation.id)
    assert stored == replace(conversation.assign(ana.id, T0), priority=1, priority_reason="violences")
    assert await store.queue() == []
    assert await store.loads() == {ana.id: 1}


# --- back to the queue ----------------------------------------------------------------------


async def test_requeue_puts_an_assigned_conversation_back_in_the_queue(store: Store) -> None:
    first, second = await queued(store, a_conversation("s1", queued_at=T0), a_conversation("s2", queued_at=T0 + 1))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, first, at=T0 + 5)
    moved = await store.requeue(first.id, ana.id, T0 + 0.5, "juriste")
    assert moved == first.assign(ana.id, T0 + 5).requeue(T0 + 0.5, "juriste")
    assert moved.counsellor_id is None and moved.state is ConversationState.QUEUED
    assert await store.get_conversation(first.id) == moved
    assert await store.queue() == [QueueEntry(first.id, 0, T0 + 0.5, "juriste"), QueueEntry(second.id, 0, T0 + 1)]
    assert await store.loads() == {ana.id: 0}
    assert await store.conversations_of(ana.id) == []


async def test_requeue_with_an_early_queued_at_puts_it_at_the_head(store: Store) -> None:
    first, second, mine = await queued(store, *(a_conversation(f"s{i}", queued_at=T0 + 10 * i) for i in (1, 2, 3)))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, mine)
    assert await store.requeue(mine.id, None, T0 + 10 - 0.001, None) is not None
    assert await queue_ids(store) == [mine.id, first.id, second.id]


async def test_requeue_keeps_the_priority_order(store: Store) -> None:
    urgent, ordinary = await queued(store, a_conversation("s1", priority=1, queued_at=T0 + 50),
                                    a_conversation("s2", queued_at=T0 + 10))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, ordinary)
    await store.requeue(ordinary.id, ana.id, T0, None)
    assert await queue_ids(store) == [urgent.id, ordinary.id]


async def test_requeue_without_a_skill_clears_the_required_one(store: Store) -> None:
    [conversation] = await queued(store, replace(a_conversation(), required_skill="psychologue"))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, conversation)
    moved = await store.requeue(conversation.id, ana.id, T0, None)
    assert moved is not None and moved.required_skill is None
    assert await store.queue() == [QueueEntry(conversation.id, 0, T0, None)]


async def test_requeue_refuses_a_queued_closed_or_unknown_conversation(store: Store) -> None:
    waiting, closing = await queued(store, a_conversation("s1"), a_conversation("s2"))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, closing)
    closed = await store.close_conversation(closing.id, CloseReason.BY_COUNSELLOR, T0 + 1)
    assert await store.requeue(waiting.id, None, T0 - 5, "juriste") is None
    assert await store.requeue(closing.id, None, T0 - 5, None) is None
    assert await store.requeue(closing.id, ana.id, T0 - 5, None) is None
    assert await store.requeue("unknown", None, T0 - 5, None) is None
    assert await store.get_conversation(waiting.id) == waiting
    assert await store.get_conversation(closing.id) == closed
    assert await store.get_conversation("unknown") is None
    assert await store.queue() == [QueueEntry(waiting.id, 0, T0)]


async def test_requeue_expecting_another_counsellor_leaves_it_alone(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana, ben = await counsellors(store, "ana", "ben")
    await assigned(store, ana, conversation)
    assert await store.requeue(conversation.id, ben.id, T0 - 5, None) is None
    assert await store.get_conversation(conversation.id) == conversation.assign(ana.id, T0)
    assert await store.loads() == {ana.id: 1, ben.id: 0}
    assert await store.queue() == []


# --- reassignment (transfer, supervisor's choice) -------------------------------------------


async def test_reassign_gives_a_queued_conversation_to_the_chosen_counsellor(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana, ben = await counsellors(store, "ana", "ben")
    assert await store.reassign(conversation.id, None, ben.id, 3, T0 + 5) is AssignOutcome.ASSIGNED
    assert await store.get_conversation(conversation.id) == conversation.assign(ben.id, T0 + 5)
    assert await store.queue() == []
    assert await store.loads() == {ana.id: 0, ben.id: 1}
    chosen = await store.get_counsellor(ben.id)
    assert chosen is not None and chosen.last_assigned_at == T0 + 5


async def test_reassign_moves_an_assigned_conversation_to_the_new_counsellor(store: Store) -> None:
    moving, staying = await queued(store, a_conversation("s1"), a_conversation("s2"))
    ana, ben = await counsellors(store, "ana", "ben")
    await assigned(store, ana, moving, staying, at=T0 + 1)
    assert await store.reassign(moving.id, ana.id, ben.id, 3, T0 + 9) is AssignOutcome.ASSIGNED
    moved = await store.get_conversation(moving.id)
    # Who handed it over is recorded (the console says "transférée"; routing reads it only when queued).
    assert moved == replace(moving.assign(ben.id, T0 + 9), handed_over_by=ana.id)
    assert await store.loads() == {ana.id: 1, ben.id: 1}
    assert [c.id for c in await store.conversations_of(ana.id)] == [staying.id]
    assert await store.conversations_of(ben.id) == [moved]
    chosen = await store.get_counsellor(ben.id)
    assert chosen is not None and chosen.last_assigned_at == T0 + 9
    # Without an expected owner, whoever has it now hands it on.
    assert await store.reassign(moving.id, None, ana.id, 3, T0 + 10) is AssignOutcome.ASSIGNED
    assert await store.loads() == {ana.id: 2, ben.id: 0}


async def test_reassign_refuses_the_wrong_owner_and_the_same_counsellor(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana, ben, cleo = await counsellors(store, "ana", "ben", "cleo")
    await assigned(store, ana, conversation)
    assert await store.reassign(conversation.id, ben.id, cleo.id, 3, T0 + 1) is AssignOutcome.NOT_QUEUED
    assert await store.reassign(conversation.id, ana.id, ana.id, 3, T0 + 1) is AssignOutcome.NOT_QUEUED
    assert await store.reassign(conversation.id, None, ana.id, 3, T0 + 1) is AssignOutcome.NOT_QUEUED
    assert await store.get_conversation(conversation.id) == conversation.assign(ana.id, T0)
    assert await store.loads() == {ana.id: 1, ben.id: 0, cleo.id: 0}


async def test_reassign_of_a_waiting_conversation_expecting_an_owner_is_refused(store: Store) -> None:
    # A queued conversation is nobody's: a transfer by a counsellor who lost it must not go through.
    [conversation] = await queued(store, a_conversation())
    ana, ben = await counsellors(store, "ana", "ben")
    assert await store.reassign(conversation.id, ana.id, ben.id, 3, T0) is AssignOutcome.NOT_QUEUED
    assert await queue_ids(store) == [conversation.id]


async def test_reassign_of_a_closed_or_unknown_conversation_is_not_queued(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    [ana] = await counsellors(store, "ana")
    await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0)
    assert await store.reassign(conversation.id, None, ana.id, 3, T0) is AssignOutcome.NOT_QUEUED
    assert await store.reassign("unknown", None, ana.id, 3, T0) is AssignOutcome.NOT_QUEUED
    assert await store.get_conversation("unknown") is None
    assert await store.loads() == {ana.id: 0}


@pytest.mark.parametrize("presence", [Presence.PAUSED, Presence.OFFLINE])
async def test_reassign_to_a_counsellor_who_is_not_available_fails(store: Store, presence: Presence) -> None:
    waiting, taken = await queued(store, a_conversation("s1"), a_conversation("s2"))
    [ana] = await counsellors(store, "ana")
    [ben] = await counsellors(store, "ben", presence=presence)
    await assigned(store, ana, taken)
    assert await store.reassign(taken.id, ana.id, ben.id, 3, T0 + 1) is AssignOutcome.NOT_AVAILABLE
    assert await store.reassign(taken.id, ana.id, "unknown", 3, T0 + 1) is AssignOutcome.NOT_AVAILABLE
    assert await store.reassign(waiting.id, None, ben.id, 3, T0 + 1) is AssignOutcome.NOT_AVAILABLE
    assert await store.get_conversation(taken.id) == taken.assign(ana.id, T0)
    assert await queue_ids(store) == [waiting.id]
    assert await store.loads() == {ana.id: 1, ben.id: 0}


async def test_reassign_to_a_full_counsellor_is_full(store: Store) -> None:
    mine, theirs, waiting = await queued(store, a_conversation("s1"), a_conversation("s2"), a_conversation("s3"))
    ana, ben = await counsellors(store, "ana", "ben")
    await assigned(store, ana, mine)
    await assigned(store, ben, theirs)
    assert await store.reassign(mine.id, ana.id, ben.id, 1, T0 + 1) is AssignOutcome.FULL
    assert await store.reassign(waiting.id, None, ben.id, 1, T0 + 1) is AssignOutcome.FULL
    assert await store.get_conversation(mine.id) == mine.assign(ana.id, T0)
    assert await store.loads() == {ana.id: 1, ben.id: 1}
    assert await queue_ids(store) == [waiting.id]


async def test_concurrent_handovers_of_one_conversation_have_exactly_one_winner(store: Store) -> None:
    conversation, other = await queued(store, a_conversation("s1"), a_conversation("s2"))
    ana, ben, cleo, dan = await counsellors(store, "ana", "ben", "cleo", "dan")
    await assigned(store, ana, conversation)
    await assigned(store, dan, other)  # dan is full at capacity 1
    targets = [ben, cleo, dan]
    from_ana, dispatches = [], []  # transfers and requeues expecting ana; the dispatcher's tries
    for i in range(60):
        target = targets[i % 3]
        if i % 4 == 0:
            dispatches.append(store.try_assign(conversation.id, target.id, 1, T0 + i))
        elif i % 4 == 3:
            from_ana.append(store.requeue(conversation.id, ana.id, T0 - 1, None))
        else:
            from_ana.append(store.reassign(conversation.id, ana.id, target.id, 1, T0 + i))
    outcomes = await asyncio.gather(*from_ana, *dispatches)
    ana_outcomes, dispatched = outcomes[:len(from_ana)], outcomes[len(from_ana):]
    wins = [o for o in ana_outcomes if o is AssignOutcome.ASSIGNED or isinstance(o, Conversation)]
    assert len(wins) == 1
    requeued = isinstance(wins[0], Conversation)
    # The dispatcher can only take it once it is back in the queue, and only once.
    assert dispatched.count(AssignOutcome.ASSIGNED) <= (1 if requeued else 0)
    loads = await store.loads()
    assert max(loads.values()) == 1 and loads[ana.id] == 0 and loads[dan.id] == 1
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    if stored.state is ConversationState.ASSIGNED:
        assert stored.counsellor_id in (ben.id, cleo.id) and await queue_ids(store) == []
        assert await store.conversations_of(stored.counsellor_id) == [stored]
        assert sum(loads.values()) == 2
    else:
        assert requeued and await queue_ids(store) == [conversation.id]
        assert sum(loads.values()) == 1


async def test_concurrent_handovers_to_one_counsellor_never_exceed_capacity(store: Store) -> None:
    waiting = await queued(store, *(a_conversation(f"w{i}", queued_at=T0 + i) for i in range(10)))
    held = await queued(store, *(a_conversation(f"h{i}", queued_at=T0 + 20 + i) for i in range(5)))
    ana, ben = await counsellors(store, "ana", "ben")
    await assigned(store, ana, *held)
    attempts = [store.try_assign(c.id, ben.id, 3, T0 + 50) for c in waiting]
    attempts += [store.reassign(c.id, ana.id, ben.id, 3, T0 + 50) for c in held]
    attempts += [store.reassign(c.id, None, ben.id, 3, T0 + 50) for c in waiting]
    outcomes = await asyncio.gather(*attempts)
    assert outcomes.count(AssignOutcome.ASSIGNED) == 3
    assert set(outcomes) <= {AssignOutcome.ASSIGNED, AssignOutcome.FULL, AssignOutcome.NOT_QUEUED}
    mine = await store.conversations_of(ben.id)
    moved_from_ana = sum(c.id in {h.id for h in held} for c in mine)
    assert await store.loads() == {ana.id: 5 - moved_from_ana, ben.id: 3}
    assert len(await store.queue()) == 10 - (3 - moved_from_ana)


# --- closing --------------------------------------------------------------------------------


async def test_close_takes_a_waiting_conversation_off_the_queue(store: Store) -> None:
    first, second = await queued(store, a_conversation("s1"), a_conversation("s2"))
    closed = await store.close_conversation(first.id, CloseReason.ABANDONED, T0 + 9)
    assert closed == first.close(CloseReason.ABANDONED, T0 + 9)
    assert [e.conversation_id for e in await store.queue()] == [second.id]


async def test_close_frees_the_counsellor_and_the_sender(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana = a_counsellor("ana")
    await store.add_counsellor(ana)
    await store.try_assign(conversation.id, ana.id, 3, T0)
    await store.close_conversation(conversation.id, CloseReason.BY_COUNSELLOR, T0 + 60)
    assert await store.loads() == {ana.id: 0}
    assert await store.conversations_of(ana.id) == []
    assert await store.active_conversation_of("sender-a") is None
    again = a_conversation()
    assert await store.create_or_get_active(again) == (again, True)
    assert await store.active_conversation_of("sender-a") == again


async def test_closing_twice_or_closing_the_unknown_returns_none(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    assert await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0) is not None
    assert await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0) is None
    assert await store.close_conversation("unknown", CloseReason.BY_TEEN, T0) is None


# --- retention: erasing a closed conversation -----------------------------------------------


async def a_meta_conversation_with_history(store: Store, sender: str = "sender-m") -> Conversation:
    """A Messenger conversation as the core builds it: platform ids, triage, a reply to deliver."""
    conversation = replace(a_conversation(sender), channel=Channel.MESSENGER, reply_to=f"psid-{sender}",
                           business_id="page-1", priority=2, priority_reason="il m'a dit « je vais le diffuser »",
                           required_skill="juriste")
    await queued(store, conversation)
    await store.touch_teen(conversation.id, T0 + 1, inbound_id=f"mid-{sender}")
    await store.append_message(conversation.id, NewMessage(Author.TEEN, "il a mes photos", T0 + 1))
    await store.append_message(conversation.id, NewMessage(Author.COUNSELLOR, "Je suis là.", T0 + 2, "Ana",
                                                           window=A_WINDOW))
    await store.link_provider_message("messenger", f"m_{sender}", conversation.id, 2, ttl=3600)
    return conversation


async def test_erasing_a_closed_conversation_removes_texts_and_ids_and_keeps_the_figures(store: Store) -> None:
    conversation = await a_meta_conversation_with_history(store)
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, conversation, at=T0 + 1.5)
    await store.mark_answered(conversation.id, T0 + 2)
    closed = await store.close_conversation(conversation.id, CloseReason.BY_COUNSELLOR, T0 + 60)
    assert closed is not None and closed.reply_to == "psid-sender-m"

    assert await store.erase_conversation(conversation.id, T0 + 90) is True

    assert await store.messages(conversation.id) == []
    assert await store.claim_deliveries(now=1e12, lease=30, limit=10) == []  # its pending reply too
    assert await store.find_provider_message("messenger", "m_sender-m") is None
    erased = await store.get_conversation(conversation.id)
    assert erased == replace(closed, sender_key=ERASED_SENDER_KEY, alias=ERASED_ALIAS, reply_to=None,
                             business_id=None, last_inbound_id=None, priority_reason=None, erased_at=T0 + 90)
    assert (erased.channel, erased.opened_at, erased.assigned_at, erased.first_answer_at, erased.closed_at,
            erased.close_reason, erased.priority, erased.required_skill) == (
        Channel.MESSENGER, T0, T0 + 1.5, T0 + 2, T0 + 60, CloseReason.BY_COUNSELLOR, 2, "juriste")
    assert await store.conversations_since(T0) == [erased]  # the day's figures still count it
    assert await store.closed_before(T0 + 10**9, limit=10) == []


async def test_an_open_or_unknown_conversation_is_not_erased(store: Store) -> None:
    waiting = await a_meta_conversation_with_history(store, "s1")
    talking = await a_meta_conversation_with_history(store, "s2")
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, talking)
    before = {c.id: await store.get_conversation(c.id) for c in (waiting, talking)}
    for conversation in (waiting, talking):
        assert await store.erase_conversation(conversation.id, T0 + 90) is False
        assert await store.get_conversation(conversation.id) == before[conversation.id]
        assert len(await store.messages(conversation.id)) == 2
    assert await store.erase_conversation("unknown", T0 + 90) is False
    assert await store.get_conversation("unknown") is None
    assert len(await store.claim_deliveries(now=1e12, lease=30, limit=10)) == 2


async def test_erasing_again_keeps_the_first_time_and_removes_what_came_late(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0 + 5)
    assert await store.erase_conversation(conversation.id, T0 + 10)
    await store.append_message(conversation.id, NewMessage(Author.SYSTEM, "arrivé trop tard", T0 + 11))
    assert await store.erase_conversation(conversation.id, T0 + 20)
    erased = await store.get_conversation(conversation.id)
    assert erased is not None and erased.erased_at == T0 + 10
    assert await store.messages(conversation.id) == []


async def test_erasing_one_conversation_leaves_the_others_alone(store: Store) -> None:
    gone = await a_meta_conversation_with_history(store, "s1")
    kept = await a_meta_conversation_with_history(store, "s2")
    await store.close_conversation(gone.id, CloseReason.BY_TEEN, T0 + 5)
    await store.close_conversation(kept.id, CloseReason.BY_TEEN, T0 + 6)
    kept_before = await store.get_conversation(kept.id)
    assert await store.erase_conversation(gone.id, T0 + 10)
    assert await store.get_conversation(kept.id) == kept_before
    assert [m.text for m in await store.messages(kept.id)] == ["il a mes photos", "Je suis là."]
    jobs = await store.claim_deliveries(now=1e12, lease=30, limit=10)
    assert [(j.conversation_id, j.seq) for j in jobs] == [(kept.id, 2)]
    assert await store.find_provider_message("messenger", "m_s1") is None
    assert await store.find_provider_message("messenger", "m_s2") == (kept.id, 2)
    assert await store.closed_before(T0 + 100, limit=10) == [kept.id]


async def test_closed_before_lists_closed_unerased_conversations_oldest_first(store: Store) -> None:
    late, early, at_cutoff, still_open, erased = await queued(
        store, *(a_conversation(f"s{i}", queued_at=T0 + i) for i in range(5)))
    await store.close_conversation(late.id, CloseReason.BY_TEEN, T0 + 30)
    await store.close_conversation(early.id, CloseReason.BY_TEEN, T0 + 10)
    await store.close_conversation(at_cutoff.id, CloseReason.BY_TEEN, T0 + 40)
    await store.close_conversation(erased.id, CloseReason.BY_TEEN, T0 + 5)
    await store.erase_conversation(erased.id, T0 + 6)
    out_of_hours = a_conversation("s9", queued_at=T0 + 20).close(CloseReason.OUT_OF_HOURS, T0 + 20)
    await store.create_closed(out_of_hours)

    assert await store.closed_before(T0 + 40, limit=10) == [early.id, out_of_hours.id, late.id]
    assert await store.closed_before(T0 + 40, limit=2) == [early.id, out_of_hours.id]
    assert await store.closed_before(T0 + 10, limit=10) == []
    assert await store.closed_before(T0 + 40, limit=0) == []
    assert still_open.id not in await store.closed_before(T0 + 10**9, limit=10)


async def test_a_delivery_state_for_a_message_that_is_not_stored_is_ignored(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    await store.append_message(conversation.id, NewMessage(Author.COUNSELLOR, "x", T0, window=A_WINDOW))
    await store.set_delivery(conversation.id, 2, Delivery.READ)
    await store.set_delivery("unknown", 1, Delivery.READ)
    assert [m.delivery for m in await store.messages(conversation.id)] == [Delivery.PENDING]
    assert await store.messages("unknown") == []


# --- messages -------------------------------------------------------------------------------


async def test_messages_are_numbered_1_2_3_per_conversation(store: Store) -> None:
    first, second = await queued(store, a_conversation("s1"), a_conversation("s2"))
    sent = [
        await store.append_message(first.id, NewMessage(Author.TEEN, "hello", T0 + 0.001)),
        await store.append_message(first.id, NewMessage(Author.COUNSELLOR, "hi, I'm Ana", T0 + 2, "Ana")),
        await store.append_message(first.id, NewMessage(Author.SYSTEM, "ünïcødé ✓", T0 + 3)),
    ]
    assert [m.seq for m in sent] == [1, 2, 3]
    assert (await store.append_message(second.id, NewMessage(Author.TEEN, "other", T0))).seq == 1
    assert await store.messages(first.id) == sent
    assert sent[1].author_name == "Ana" and sent[0].author_name is None


async def test_messages_after_seq_returns_only_later_ones(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    for i in range(1, 4):
        await store.append_message(conversation.id, NewMessage(Author.TEEN, f"m{i}", T0 + i))
    assert [m.text for m in await store.messages(conversation.id, after_seq=1)] == ["m2", "m3"]
    assert [m.seq for m in await store.messages(conversation.id, after_seq=2)] == [3]
    assert await store.messages(conversation.id, after_seq=3) == []
    assert await store.messages("unknown") == []


# --- counsellors ----------------------------------------------------------------------------


async def test_counsellor_is_found_by_id_and_by_username(store: Store) -> None:
    ana = Counsellor(
        id="c-ana", username="ana", display_name="Ana", password_hash="h", role=Role.SUPERVISOR,
        presence=Presence.PAUSED, max_conversations=4, last_assigned_at=T0,
        skills=frozenset({"psychologue", "juriste"}), presence_since=T0 - 0.25,
    )
    ben = a_counsellor("ben")
    await store.add_counsellor(ana)
    await store.add_counsellor(ben)
    assert await store.get_counsellor("c-ana") == ana
    assert await store.counsellor_by_username("ben") == ben
    assert await store.get_counsellor("unknown") is None
    assert await store.counsellor_by_username("unknown") is None
    assert sorted(c.username for c in await store.counsellors()) == ["ana", "ben"]


async def test_adding_a_taken_username_raises_value_error(store: Store) -> None:
    first = a_counsellor("ana")
    await store.add_counsellor(first)
    with pytest.raises(ValueError):
        await store.add_counsellor(a_counsellor("ana"))
    assert await store.counsellors() == [first]


async def test_presence_changes_are_stored(store: Store) -> None:
    ana = a_counsellor("ana", Presence.OFFLINE)
    await store.add_counsellor(ana)
    await store.set_presence(ana.id, Presence.AVAILABLE, T0)
    stored = await store.get_counsellor(ana.id)
    assert stored is not None and stored.presence is Presence.AVAILABLE
    await store.set_presence("unknown", Presence.AVAILABLE, T0)
    assert await store.get_counsellor("unknown") is None


async def test_presence_since_moves_only_when_the_presence_changes(store: Store) -> None:
    ana = a_counsellor("ana", Presence.OFFLINE)
    await store.add_counsellor(ana)

    async def presence() -> tuple[Presence, float]:
        stored = await store.get_counsellor(ana.id)
        assert stored is not None
        return stored.presence, stored.presence_since

    await store.set_presence(ana.id, Presence.AVAILABLE, T0)
    assert await presence() == (Presence.AVAILABLE, T0)
    await store.set_presence(ana.id, Presence.AVAILABLE, T0 + 5)
    assert await presence() == (Presence.AVAILABLE, T0)
    await store.set_presence(ana.id, Presence.OFFLINE, T0 + 9.5)
    assert await presence() == (Presence.OFFLINE, T0 + 9.5)


async def test_update_counsellor_changes_skills_capacity_and_role(store: Store) -> None:
    [ana] = await counsellors(store, "ana")
    updated = await store.update_counsellor(ana.id, skills=frozenset({"psychologue", "numerique"}),
                                            max_conversations=5, role=Role.SUPERVISOR)
    assert updated == replace(ana, skills=frozenset({"psychologue", "numerique"}), max_conversations=5,
                              role=Role.SUPERVISOR)
    assert await store.get_counsellor(ana.id) == updated
    role_only = await store.update_counsellor(ana.id, role=Role.ADMIN)
    assert role_only == replace(updated, role=Role.ADMIN)
    cleared = await store.update_counsellor(ana.id, skills=frozenset(), clear_max=True)
    assert cleared == replace(ana, role=Role.ADMIN)
    assert await store.get_counsellor(ana.id) == cleared
    assert await store.counsellor_by_username("ana") == cleared


async def test_updating_an_unknown_counsellor_returns_none_and_creates_nothing(store: Store) -> None:
    assert await store.update_counsellor("unknown", role=Role.ADMIN, skills=frozenset({"juriste"})) is None
    assert await store.get_counsellor("unknown") is None
    assert await store.counsellors() == []


@pytest.mark.parametrize("skills", [frozenset({"psy,juriste"}), frozenset({""})])
async def test_a_skill_that_cannot_be_stored_is_refused(store: Store, skills: frozenset[str]) -> None:
    [ana] = await counsellors(store, "ana")
    with pytest.raises(ValueError):
        await store.update_counsellor(ana.id, skills=skills)
    with pytest.raises(ValueError):
        await store.add_counsellor(replace(a_counsellor("ben"), skills=skills))
    assert await store.get_counsellor(ana.id) == ana
    assert await store.counsellor_by_username("ben") is None


# --- console sessions -----------------------------------------------------------------------


async def test_session_lives_until_deleted(store: Store) -> None:
    await store.create_session("token-hash", "c-ana", ttl=3600)
    assert await store.session_counsellor("token-hash") == "c-ana"
    await store.delete_session("token-hash")
    assert await store.session_counsellor("token-hash") is None
    assert await store.session_counsellor("never-issued") is None


async def test_sessions_and_dedupe_claims_expire_after_their_ttl(make_store, redis_url, monkeypatch) -> None:
    """No sleep: the memory store's monotonic time is moved past the TTL, and Redis says when
    it expired each key (keyspace notifications)."""
    import gateway.store.memory as memory_module

    monotonic = [1_000.0]
    monkeypatch.setattr(memory_module, "time", SimpleNamespace(monotonic=lambda: monotonic[0]))
    prefix = f"ttl-{uuid.uuid4().hex[:10]}"
    stores = [await make_store("memory"), await make_store("redis", prefix=prefix)]
    watcher = aioredis.from_url(redis_url, decode_responses=True)
    await watcher.config_set("notify-keyspace-events", "Ex")
    expiries = watcher.pubsub()
    await expiries.psubscribe("__keyevent@*__:expired")
    try:
        for store in stores:
            await store.create_session("token-hash", "c-ana", ttl=1)
            await store.claim_message_id("web", "client-1", ttl=1)
        monotonic[0] += 1.001
        expired: set[str] = set()
        async with asyncio.timeout(10):
            while len(expired) < 2:  # the session and the claim
                message = await expiries.get_message(ignore_subscribe_messages=True, timeout=10)
                if message and message["data"].startswith(f"{prefix}:"):
                    expired.add(message["data"])
    finally:
        await expiries.aclose()
        await watcher.aclose()
    for store in stores:
        assert await store.session_counsellor("token-hash") is None, store.kind
        assert await store.claim_message_id("web", "client-1", ttl=1) is True, store.kind


# --- Redis only: keys, concurrency, restarts, outages ---------------------------------------


async def test_redis_keys_carry_the_prefix_and_never_a_raw_provider_id(make_store, redis_url: str) -> None:
    prefix = f"keys-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    await store.claim_message_id("whatsapp", "wamid.SECRET", ttl=60)
    await store.create_session("token-hash", "c-ana", ttl=60)
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        keys = await client.keys("*")
        assert [k for k in keys if "SECRET" in k] == []
        dedupe = [k for k in keys if k.startswith(f"{prefix}:dedupe:")]
        assert len(dedupe) == 1 and 0 < await client.ttl(dedupe[0]) <= 60
        assert 0 < await client.ttl(f"{prefix}:session:token-hash") <= 60
    finally:
        await client.aclose()


async def test_redis_content_keys_get_their_ttl_at_close_and_go_at_erase(redis_url: str) -> None:
    prefix = f"ttl-{uuid.uuid4().hex[:8]}"
    store = RedisStore(redis_url, prefix=prefix, content_ttl=3 * 86400)
    await store.start()
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        [talk] = await queued(store, replace(a_conversation(), channel=Channel.MESSENGER, reply_to="psid-1"))
        await store.append_message(talk.id, NewMessage(Author.COUNSELLOR, "Je suis là.", T0, window=A_WINDOW))
        msgs, delivery = f"{prefix}:conv:{{{talk.id}}}:msgs", f"{prefix}:conv:{{{talk.id}}}:delivery"
        assert (await client.ttl(msgs), await client.ttl(delivery)) == (-1, -1)  # open: no TTL

        await store.close_conversation(talk.id, CloseReason.BY_TEEN, T0 + 5)
        assert 3 * 86400 - 5 <= await client.ttl(msgs) <= 3 * 86400
        assert 3 * 86400 - 5 <= await client.ttl(delivery) <= 3 * 86400
        assert await client.ttl(f"{prefix}:conv:{{{talk.id}}}") == -1  # the figures stay
        assert await client.zrange(f"{prefix}:closed", 0, -1, withscores=True) == [(talk.id, T0 + 5)]

        # Out of hours: stored closed first, its messages come after; they get the TTL too.
        night = a_conversation("s2").close(CloseReason.OUT_OF_HOURS, T0)
        await store.create_closed(night)
        await store.append_message(night.id, NewMessage(Author.TEEN, "tu es là ?", T0))
        assert 0 < await client.ttl(f"{prefix}:conv:{{{night.id}}}:msgs") <= 3 * 86400

        assert await store.erase_conversation(talk.id, T0 + 10)
        await store.set_delivery(talk.id, 1, Delivery.READ)  # a late receipt brings nothing back
        assert await client.exists(msgs, delivery) == 0
        assert await client.zrange(f"{prefix}:closed", 0, -1) == [night.id]
    finally:
        await client.aclose()
        await store.close()

async def test_redis_queue_scores_follow_raises_and_requeues(make_store, redis_url: str) -> None:
    # queue() re-sorts what it reads; the sorted set must still hold the order on its own.
    prefix = f"scores-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    first, second, third, fourth = await queued(store, *(a_conversation(f"s{i}", queued_at=T0 + i) for i in range(4)))
    [ana] = await counsellors(store, "ana")
    await assigned(store, ana, fourth)
    await store.raise_priority(third.id, 2, "danger", None)
    await store.raise_priority(fourth.id, 1, "harcèlement", None)  # while assigned: no score yet
    await store.requeue(fourth.id, ana.id, T0 - 1, "juriste")
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        scores = await client.zrange(f"{prefix}:queue", 0, -1, withscores=True)
        convs = await client.zrange(f"{prefix}:convs", 0, -1, withscores=True)
    finally:
        await client.aclose()
    assert [member for member, _ in scores] == await queue_ids(store) == [third.id, fourth.id, first.id, second.id]
    assert scores[0][1] == -2 * 10**13 + round((T0 + 2) * 1000)
    assert scores[1][1] == -1 * 10**13 + round((T0 - 1) * 1000)
    assert convs == [(c.id, c.opened_at) for c in (first, second, third, fourth)]


async def test_two_processes_racing_for_one_sender_get_one_conversation(make_store) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}"
    one = await make_store("redis", prefix=prefix)
    two = await make_store("redis", prefix=prefix)
    attempts = [a_conversation("same-sender") for _ in range(20)]
    results = await asyncio.gather(
        *((one if i % 2 else two).create_or_get_active(c) for i, c in enumerate(attempts))
    )
    assert sum(created for _, created in results) == 1
    assert len({conversation.id for conversation, _ in results}) == 1
    assert len(await one.queue()) == 1


async def test_redis_outbox_leaves_nothing_behind_a_finished_job(make_store, redis_url: str) -> None:
    """The job's attempts and window live beside the outbox: finishing it removes both."""
    prefix = f"outbox-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    await store.append_message("conv-fin", NewMessage(Author.COUNSELLOR, "x", T0, window=A_WINDOW))
    [job] = await store.claim_deliveries(now=T0, lease=30, limit=10)
    await store.retry_delivery(job, due_at=T0)
    [again] = await store.claim_deliveries(now=T0, lease=30, limit=10)
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        assert await client.hget(f"{prefix}:outbox:windows", "conv-fin|1") is not None
        await store.finish_delivery(again)
        assert await client.exists(f"{prefix}:outbox", f"{prefix}:outbox:attempts", f"{prefix}:outbox:windows") == 0
    finally:
        await client.aclose()


async def test_two_processes_never_assign_a_conversation_twice_nor_above_capacity(make_store) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}"
    one = await make_store("redis", prefix=prefix)
    two = await make_store("redis", prefix=prefix)
    conversations = await queued(one, *(a_conversation(f"s{i}", queued_at=T0 + i) for i in range(20)))
    counsellors = [a_counsellor(name) for name in ("ana", "ben", "cleo")]
    for counsellor in counsellors:
        await two.add_counsellor(counsellor)
    # Attempt i: conversation i % 20 to counsellor i % 3, so conversations 0-9 are tried
    # with all three counsellors: whatever the interleaving, exactly 3 x 3 get assigned.
    attempts = [(conversations[i % 20].id, counsellors[i % 3].id) for i in range(50)]
    outcomes = await asyncio.gather(
        *((one, two)[i % 2].try_assign(conv_id, c_id, 3, T0 + 100) for i, (conv_id, c_id) in enumerate(attempts))
    )
    assigned = Counter(conv_id for (conv_id, _), o in zip(attempts, outcomes) if o is AssignOutcome.ASSIGNED)
    assert max(assigned.values()) == 1
    assert len(assigned) == 9
    loads = await one.loads()
    assert sorted(loads.values()) == [3, 3, 3]
    owners = {c.id: c.counsellor_id for k in counsellors for c in await two.conversations_of(k.id)}
    assert set(owners) == set(assigned)
    assert len(await one.queue()) == 11


async def test_redis_data_survives_a_gateway_restart(make_store, redis_url: str) -> None:
    prefix = f"restart-{uuid.uuid4().hex[:8]}"
    before = RedisStore(redis_url, prefix=prefix)
    await before.start()
    [conversation] = await queued(before, a_conversation())
    ana = a_counsellor("ana")
    await before.add_counsellor(ana)
    await before.try_assign(conversation.id, ana.id, 3, T0)
    message = await before.append_message(conversation.id, NewMessage(Author.TEEN, "still there?", T0))
    await before.create_session("token-hash", ana.id, ttl=60)
    await before.close()

    after = await make_store("redis", prefix=prefix)
    assert await after.get_conversation(conversation.id) == conversation.assign(ana.id, T0)
    assert await after.active_conversation_of("sender-a") is not None
    assert await after.messages(conversation.id) == [message]
    assert await after.counsellor_by_username("ana") == await after.get_counsellor(ana.id)
    assert await after.loads() == {ana.id: 1}
    assert await after.session_counsellor("token-hash") == ana.id


async def test_ping_is_false_while_redis_is_down_and_true_once_it_is_back(make_store, redis_server) -> None:
    store = await make_store("redis")
    assert await store.ping() is True
    redis_server.stop()
    try:
        assert await store.ping() is False
        with pytest.raises(StoreError):
            await store.get_conversation("any")
    finally:
        redis_server.start()
    assert await store.ping() is True
    # The restarted server lost its script cache; the scripts load themselves again.
    [conversation] = await queued(store, a_conversation())
    assert await store.close_conversation(conversation.id, CloseReason.BY_TEEN, T0) is not None


async def test_a_refused_reply_claims_nothing_so_the_retry_gets_through(store: Store) -> None:
    """What the release of a failed claim did: the id is claimed only with its stored line."""
    [conversation] = await queued(store, a_conversation())
    [ana] = await counsellors(store, "ana")
    reply_id = MessageId("console", f"{ana.id}:r-1", 60)
    line = NewMessage(Author.COUNSELLOR, "Je suis là.", T0, "Ana")
    refused = await store.store_reply(reply_id, conversation.id, ana.id, line)  # still queued: not hers
    assert refused.outcome is Intake.REFUSED and refused.message is None
    assert await store.stored_under(reply_id) is None and await store.messages(conversation.id) == []
    await assigned(store, ana, conversation)
    stored = await store.store_reply(reply_id, conversation.id, ana.id, line)
    assert stored.outcome is Intake.STORED and stored.seq == 1


# --- outbound delivery (Messenger/WhatsApp outbox) ---------------------------------------------


async def test_a_message_to_deliver_is_stored_pending_and_queued_at_once(store: Store) -> None:
    stored = await store.append_message("conv-out", NewMessage(Author.COUNSELLOR, "Je suis là.", 100.0, "Camille",
                                                               window=A_WINDOW))
    assert stored.delivery is Delivery.PENDING
    assert (await store.messages("conv-out"))[0].delivery is Delivery.PENDING
    jobs = await store.claim_deliveries(now=100.0, lease=30, limit=10)
    assert [(j.conversation_id, j.seq, j.attempts) for j in jobs] == [("conv-out", stored.seq, 0)]


async def test_a_job_keeps_the_send_window_decided_when_it_was_queued(store: Store) -> None:
    tagged = SendWindow(free_until=T0 + 0.25, tagged_until=T0 + 7 * 86400.5)  # floats round-trip exactly
    await store.append_message("conv-win", NewMessage(Author.COUNSELLOR, "Je suis là.", T0, window=tagged))
    [job] = await store.claim_deliveries(now=T0, lease=30, limit=10)
    assert job.window == tagged
    await store.retry_delivery(job, due_at=T0 + 60)
    [again] = await store.claim_deliveries(now=T0 + 60, lease=30, limit=10)
    assert (again.attempts, again.window) == (1, tagged)


async def test_a_leased_job_is_not_claimed_twice_until_its_lease_ends(store: Store) -> None:
    await store.append_message("conv-lease", NewMessage(Author.SYSTEM, "x", 10.0, window=A_WINDOW))
    assert len(await store.claim_deliveries(now=10.0, lease=30, limit=10)) == 1
    assert await store.claim_deliveries(now=20.0, lease=30, limit=10) == []
    # The claiming process died: after the lease, another one gets it.
    assert len(await store.claim_deliveries(now=41.0, lease=30, limit=10)) == 1


async def test_retry_counts_attempts_and_finish_empties_the_outbox(store: Store) -> None:
    await store.append_message("conv-retry", NewMessage(Author.SYSTEM, "x", 10.0, window=A_WINDOW))
    [job] = await store.claim_deliveries(now=10.0, lease=30, limit=10)
    await store.retry_delivery(job, due_at=15.0)
    assert await store.claim_deliveries(now=14.0, lease=30, limit=10) == []
    [again] = await store.claim_deliveries(now=15.0, lease=30, limit=10)
    assert again.attempts == 1
    await store.finish_delivery(again)
    assert await store.claim_deliveries(now=1e9, lease=30, limit=10) == []


async def test_messages_not_to_deliver_stay_out_of_the_outbox(store: Store) -> None:
    plain = await store.append_message("conv-web", NewMessage(Author.COUNSELLOR, "x", 10.0))
    assert plain.delivery is None and (await store.messages("conv-web"))[0].delivery is None
    assert await store.claim_deliveries(now=1e9, lease=30, limit=10) == []


async def test_delivery_state_and_error_are_kept_per_message(store: Store) -> None:
    await store.append_message("conv-st", NewMessage(Author.TEEN, "salut", 1.0))
    await store.append_message("conv-st", NewMessage(Author.COUNSELLOR, "hello", 2.0, window=A_WINDOW))
    await store.set_delivery("conv-st", 2, Delivery.FAILED, "fenêtre de 24 h fermée")
    teen, ours = await store.messages("conv-st")
    assert teen.delivery is None
    assert (ours.delivery, ours.delivery_error) == (Delivery.FAILED, "fenêtre de 24 h fermée")
    assert [m.seq for m in await store.messages("conv-st", after_seq=1)] == [2]


async def test_a_platform_message_id_leads_back_to_our_message(store: Store) -> None:
    await store.link_provider_message("whatsapp", "wamid.ABC", "conv-p", 3, ttl=3600)
    assert await store.find_provider_message("whatsapp", "wamid.ABC") == ("conv-p", 3)
    assert await store.find_provider_message("messenger", "wamid.ABC") is None


# --- every move says who had it; a handover says who handed it over ----------------------------


async def test_hand_over_says_who_had_the_conversation_at_the_move(store: Store) -> None:
    waiting, held = await queued(store, a_conversation("s1"), a_conversation("s2"))
    ana, ben, cleo = await counsellors(store, "ana", "ben", "cleo")
    await assigned(store, ana, held)
    assert await store.hand_over(waiting.id, None, ben.id, 3, T0 + 1) == Reassignment(AssignOutcome.ASSIGNED, None)
    # The caller read it as queued; ana took it meanwhile: the move still says it was ana's.
    assert await store.hand_over(held.id, None, cleo.id, 3, T0 + 2) == Reassignment(AssignOutcome.ASSIGNED, ana.id)
    assert await store.hand_over(held.id, ana.id, ben.id, 3, T0 + 3) == Reassignment(AssignOutcome.NOT_QUEUED)
    assert await store.hand_over(held.id, cleo.id, cleo.id, 3, T0 + 3) == Reassignment(AssignOutcome.NOT_QUEUED)
    assert await store.hand_over(held.id, cleo.id, ben.id, 1, T0 + 3) == Reassignment(AssignOutcome.FULL)
    assert (await store.get_conversation(held.id)).counsellor_id == cleo.id


async def test_a_requeue_records_who_handed_it_over_and_a_plain_one_clears_it(store: Store) -> None:
    [conversation] = await queued(store, a_conversation())
    ana, ben = await counsellors(store, "ana", "ben")
    await assigned(store, ana, conversation)
    moved = await store.requeue(conversation.id, ana.id, T0 - 1, "juriste", handed_over_by=ana.id)
    assert moved == conversation.assign(ana.id, T0).requeue(T0 - 1, "juriste", ana.id)
    assert moved.handed_over_by == ana.id and await store.get_conversation(conversation.id) == moved
    assert await store.queue() == [QueueEntry(conversation.id, 0, T0 - 1, "juriste", handed_over_by=ana.id)]
    await assigned(store, ben, conversation, at=T0 + 1)
    assert (await store.get_conversation(conversation.id)).handed_over_by == ana.id  # kept while assigned
    again = await store.requeue(conversation.id, ben.id, T0 - 2, None)  # e.g. ben went offline
    assert again is not None and again.handed_over_by is None
    assert await store.queue() == [QueueEntry(conversation.id, 0, T0 - 2, None, None)]


async def test_a_console_hold_counts_for_other_holders_until_it_runs_out(store: Store) -> None:
    assert not await store.console_held_elsewhere("ana", "process-a", T0)
    await store.hold_console("ana", "process-b", T0 + 15)
    assert await store.console_held_elsewhere("ana", "process-a", T0 + 14.9)
    assert not await store.console_held_elsewhere("ana", "process-b", T0 + 1)  # its own hold does not count
    assert not await store.console_held_elsewhere("ben", "process-a", T0 + 1)
    assert not await store.console_held_elsewhere("ana", "process-a", T0 + 15)  # ran out
    await store.hold_console("ana", "process-b", T0 + 30)  # a heartbeat after it ran out holds again
    assert await store.console_held_elsewhere("ana", "process-a", T0 + 20)
    await store.release_console("ana", "process-b")
    await store.release_console("ana", "nobody")  # releasing what is not held is fine
    assert not await store.console_held_elsewhere("ana", "process-a", T0 + 20)


async def test_console_holds_are_shared_by_stores_on_one_redis(make_store) -> None:
    prefix = f"test-holds-{uuid.uuid4().hex[:8]}"
    here, there = await make_store("redis", prefix), await make_store("redis", prefix)
    await there.hold_console("ana", "process-b", T0 + 15)
    assert await here.console_held_elsewhere("ana", "process-a", T0 + 5)
    await there.release_console("ana", "process-b")
    assert not await here.console_held_elsewhere("ana", "process-a", T0 + 5)


async def test_a_stored_reply_marks_the_conversation_answered_in_the_same_step(store: Store) -> None:
    """No separate write after the reply: a crash between the two cannot leave a teen answered
    yet counted as waiting. A refused or duplicate reply marks nothing."""
    [ana, bao] = await counsellors(store, "ana", "bao")
    [conversation] = await queued(store, a_conversation())
    await assigned(store, ana, conversation, at=T0 + 1)
    await store.touch_teen(conversation.id, T0 + 2)
    await store.set_marks(conversation.id, {"checked_at": T0 + 2.5})
    refused = await store.store_reply(None, conversation.id, bao.id, NewMessage(Author.COUNSELLOR, "non", T0 + 3))
    assert refused.outcome is Intake.REFUSED
    still = await store.get_conversation(conversation.id)
    assert (still.waiting_since, still.first_answer_at, still.checked_at) == (T0 + 2, None, T0 + 2.5)
    claim = MessageId("console", "ana:c1", 3600)
    await store.store_reply(claim, conversation.id, ana.id, NewMessage(Author.COUNSELLOR, "Je suis là.", T0 + 4))
    answered = await store.get_conversation(conversation.id)
    assert (answered.waiting_since, answered.first_answer_at, answered.last_answer_at, answered.checked_at) == (
        None, T0 + 4, T0 + 4, None)
    await store.touch_teen(conversation.id, T0 + 5)
    again = await store.store_reply(claim, conversation.id, ana.id, NewMessage(Author.COUNSELLOR, "Je suis là.", T0 + 6))
    assert again.duplicate
    waiting = await store.get_conversation(conversation.id)
    assert (waiting.waiting_since, waiting.last_answer_at) == (T0 + 5, T0 + 4)
