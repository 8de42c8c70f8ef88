"""The bus's events: typed facts that cross processes intact, and never a platform id."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from functools import partial

import orjson
import pytest

from gateway.bus.redis import RedisBus
from gateway.domain.events import (
    EVENT_TYPES, Barrier, ConversationChanged, ConversationFacts, DeliveryChanged, HandedOver, MessageAdded,
    PresenceChanged, PriorityRaised, Seen, SessionEnded, TeenAway, Typing, from_wire, to_wire,
)
from gateway.domain.model import (
    Author, Channel, CloseReason, Conversation, ConversationState, Delivery, Message, Presence,
)
from gateway.store.redis_client import redis_client

CONVERSATION = Conversation(
    id="c1", channel=Channel.MESSENGER, sender_key="key-of-the-teen", alias="Renard 12",
    state=ConversationState.CLOSED, opened_at=1000.0, priority=2, counsellor_id="u1", queued_at=1001.0,
    assigned_at=1002.0, closed_at=1003.0, close_reason=CloseReason.ABUSE, last_teen_message_at=1002.5,
    waiting_since=1002.5, reply_to="PSID-1234567890", business_id="PAGE-42", priority_reason="danger",
    required_skill="psychologue", last_inbound_id="m_mid.1",
)
FACTS = ConversationFacts.of(CONVERSATION, "Camille")
SAMPLES = [
    MessageAdded("c1", "u1", Message("c1", 7, Author.COUNSELLOR, "salut", 1004.0, "Camille", Delivery.PENDING)),
    MessageAdded("c1", None, Message("c1", 8, Author.NOTE, "note interne", 1005.0)),
    ConversationChanged(FACTS),
    PriorityRaised(dataclasses.replace(FACTS, state=ConversationState.QUEUED, counsellor_id=None)),
    TeenAway(dataclasses.replace(FACTS, state=ConversationState.ASSIGNED, teen_away_since=1006.0)),
    HandedOver(dataclasses.replace(FACTS, state=ConversationState.QUEUED), "u0"),
    Typing("c1", "u1", Author.TEEN, True),
    PresenceChanged("u1", Presence.PAUSED),
    SessionEnded("f" * 64),
    DeliveryChanged("c1", "u1", 7, Delivery.FAILED, "non délivré"),
    Seen("c1"),
    Barrier(uuid.uuid4().hex),
]


def test_every_event_type_has_a_sample():
    assert {type(e) for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.name)
def test_each_event_survives_its_wire_form(event):
    wire = orjson.loads(orjson.dumps(to_wire(event)))  # what the Redis bus carries
    assert from_wire(wire) == event
    assert type(from_wire(wire)) is type(event)


def test_states_are_enums_and_still_compare_as_their_names():
    changed = from_wire(orjson.loads(orjson.dumps(to_wire(ConversationChanged(FACTS)))))
    assert changed.state is ConversationState.CLOSED and changed.state == "closed"
    assert changed.conversation.close_reason is CloseReason.ABUSE
    assert from_wire(to_wire(PresenceChanged("u1", Presence.PAUSED))).presence is Presence.PAUSED


def test_no_event_carries_a_platform_id():
    wire = orjson.dumps([to_wire(e) for e in SAMPLES])
    for secret in (CONVERSATION.reply_to, CONVERSATION.sender_key, CONVERSATION.business_id,
                   CONVERSATION.last_inbound_id):
        assert secret.encode() not in wire


def test_a_malformed_event_is_refused():
    for wire in ({"name": "nope", "body": {}}, {"name": "typing", "body": {"conversation_id": "c"}},
                 {"name": "counsellor.presence", "body": {"counsellor_id": "u", "presence": "asleep"}},
                 {"name": "conversation.changed", "body": {"conversation": "c1"}}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            from_wire(wire)


async def test_every_event_crosses_the_redis_bus_in_order(redis_url):
    prefix = f"ev{uuid.uuid4().hex[:8]}"
    connect = partial(redis_client, redis_url)
    sender, receiver = RedisBus(connect, prefix), RedisBus(connect, prefix)  # two processes' buses
    got: list = []
    done = asyncio.Event()

    def collect(event):
        got.append(event)
        if len(got) == len(SAMPLES):
            done.set()

    receiver.subscribe(collect)
    await sender.start()
    await receiver.start()
    try:
        for event in SAMPLES:
            await sender.publish(event)
        async with asyncio.timeout(5):
            await done.wait()
        assert got == SAMPLES
    finally:
        await receiver.close()
        await sender.close()
