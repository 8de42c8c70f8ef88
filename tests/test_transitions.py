"""Every conversation state transition, against the table and against both stores.

`TRANSITIONS` in gateway/domain/model.py is the state machine; the memory store applies it
through `Conversation`'s methods and the Redis store re-states it in its Lua scripts
(gateway/store/redis_scripts.py). This table-driven test runs each operation from each state
on both stores: an allowed move succeeds and ends in the table's state (queue, loads and the
sender's open conversation agreeing), a refused one answers so and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from gateway.core.ports import AssignOutcome, Store
from gateway.domain.errors import InvalidTransition
from gateway.domain.model import (
    TRANSITIONS,
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    Presence,
)

QUEUED, ASSIGNED, CLOSED = ConversationState.QUEUED, ConversationState.ASSIGNED, ConversationState.CLOSED
T0 = 1_700_000_000.0
CAPACITY = 9


@dataclass
class Scene:
    store: Store
    conversation: Conversation
    owner: Counsellor  # who holds it once assigned
    other: Counsellor  # where a reassign sends it


def a_conversation(state: ConversationState = QUEUED) -> Conversation:
    return Conversation(id=uuid.uuid4().hex, channel=Channel.WEB, sender_key=f"sender-{uuid.uuid4().hex[:8]}",
                        alias="Jeune Hérisson", state=state, opened_at=T0, queued_at=T0,
                        closed_at=T0 if state is CLOSED else None,
                        close_reason=CloseReason.OUT_OF_HOURS if state is CLOSED else None)


def a_counsellor(username: str) -> Counsellor:
    return Counsellor(id=uuid.uuid4().hex, username=f"{username}-{uuid.uuid4().hex[:6]}",
                      display_name=username.title(), password_hash="argon2$fake", presence=Presence.AVAILABLE)


# --- how a conversation reaches each starting state (every path the gateway takes) ---------------

async def _queued(scene: Scene) -> None:
    _, created = await scene.store.create_or_get_active(scene.conversation)
    assert created


async def _assigned(scene: Scene) -> None:
    await _queued(scene)
    assert await scene.store.try_assign(scene.conversation.id, scene.owner.id, CAPACITY, T0 + 1) is AssignOutcome.ASSIGNED


async def _closed_while_queued(scene: Scene) -> None:
    await _queued(scene)
    assert await scene.store.close_conversation(scene.conversation.id, CloseReason.ABANDONED, T0 + 2)


async def _closed_while_assigned(scene: Scene) -> None:
    await _assigned(scene)
    assert await scene.store.close_conversation(scene.conversation.id, CloseReason.BY_COUNSELLOR, T0 + 2)


async def _closed_on_arrival(scene: Scene) -> None:  # out of hours: stored closed, for the record
    scene.conversation = a_conversation(CLOSED)
    await scene.store.create_closed(scene.conversation)


STARTS: dict[str, tuple[ConversationState, Callable[[Scene], Awaitable[None]]]] = {
    "queued": (QUEUED, _queued),
    "assigned": (ASSIGNED, _assigned),
    "closed while queued": (CLOSED, _closed_while_queued),
    "closed while assigned": (CLOSED, _closed_while_assigned),
    "closed on arrival": (CLOSED, _closed_on_arrival),
}


# --- the operations that move a conversation, each with the state it moves to --------------------

async def _assign(scene: Scene) -> bool:
    outcome = await scene.store.try_assign(scene.conversation.id, scene.other.id, CAPACITY, T0 + 3)
    assert outcome in (AssignOutcome.ASSIGNED, AssignOutcome.NOT_QUEUED)
    return outcome is AssignOutcome.ASSIGNED


async def _reassign(scene: Scene) -> bool:
    outcome = await scene.store.reassign(scene.conversation.id, None, scene.other.id, CAPACITY, T0 + 3)
    assert outcome in (AssignOutcome.ASSIGNED, AssignOutcome.NOT_QUEUED)
    return outcome is AssignOutcome.ASSIGNED


async def _requeue(scene: Scene) -> bool:
    return await scene.store.requeue(scene.conversation.id, None, T0 - 10, None) is not None


async def _close(scene: Scene) -> bool:
    return await scene.store.close_conversation(scene.conversation.id, CloseReason.BY_TEEN, T0 + 3) is not None


OPERATIONS: dict[str, tuple[ConversationState, Callable[[Scene], Awaitable[bool]]]] = {
    "assign": (ASSIGNED, _assign),  # the dispatcher
    "reassign": (ASSIGNED, _reassign),  # a transfer to a colleague, a supervisor's choice
    "requeue": (QUEUED, _requeue),  # a transfer to nobody available, a counsellor gone for good
    "close": (CLOSED, _close),
}

# The one change of an assigned conversation that is not a move of the state machine: a
# handover to another counsellor keeps it assigned (Store.reassign).
HANDOVERS = {(ASSIGNED, "reassign")}


def allowed(start: ConversationState, operation: str) -> bool:
    target, _ = OPERATIONS[operation]
    return target in TRANSITIONS[start] or (start, operation) in HANDOVERS


async def picture(scene: Scene) -> tuple:
    """Everything a transition touches: the record, the queue, the loads, the sender's open one."""
    store, conversation_id = scene.store, scene.conversation.id
    active = await store.active_conversation_of(scene.conversation.sender_key)
    loads = await store.loads()
    return (await store.get_conversation(conversation_id), [e.conversation_id for e in await store.queue()],
            loads.get(scene.owner.id, 0), loads.get(scene.other.id, 0), active.id if active else None)


def test_the_table_covers_every_state_and_the_starts_reach_each():
    assert set(TRANSITIONS) == set(ConversationState)
    assert {state for state, _ in STARTS.values()} == set(ConversationState)
    assert TRANSITIONS[CLOSED] == frozenset()  # closed is final


@pytest.mark.parametrize("start", list(STARTS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_the_conversation_model_follows_the_table(start, operation):
    state, _ = STARTS[start]
    target, _ = OPERATIONS[operation]
    conversation = a_conversation(state)
    move = {QUEUED: lambda: conversation.requeue(T0, None), ASSIGNED: lambda: conversation.assign("c", T0),
            CLOSED: lambda: conversation.close(CloseReason.BY_TEEN, T0)}[target]
    if target in TRANSITIONS[state]:
        assert move().state is target
    else:
        with pytest.raises(InvalidTransition):
            move()


@pytest.mark.parametrize("start", list(STARTS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_each_store_allows_exactly_the_tables_moves(store: Store, start: str, operation: str):
    owner, other = a_counsellor("camille"), a_counsellor("lea")
    for counsellor in (owner, other):
        await store.add_counsellor(counsellor)
    scene = Scene(store, a_conversation(), owner, other)
    state, reach = STARTS[start]
    target, run = OPERATIONS[operation]
    await reach(scene)
    before = await picture(scene)
    assert before[0].state is state

    moved = await run(scene)

    after = await picture(scene)
    if not allowed(state, operation):
        assert not moved, f"{store.kind}: {operation} from {start} must be refused"
        assert after == before, f"{store.kind}: a refused {operation} from {start} changed something"
        return
    assert moved, f"{store.kind}: {operation} from {start} must succeed"
    record, queue, owner_load, other_load, active = after
    assert record.state is target
    assert (scene.conversation.id in queue) is (target is QUEUED)
    holder = other.id if operation in ("assign", "reassign") else None
    assert record.counsellor_id == holder or target is CLOSED
    assert (owner_load, other_load) == (0, 1 if holder == other.id else 0)
    assert active == (scene.conversation.id if target is not CLOSED else None)


async def test_a_sender_with_an_open_conversation_gets_it_back_and_a_closed_one_starts_anew(store: Store):
    first = a_conversation()
    assert await store.create_or_get_active(first) == (first, True)
    again = Conversation(**{**first.__dict__, "id": uuid.uuid4().hex})
    existing, created = await store.create_or_get_active(again)
    assert (existing.id, created) == (first.id, False)
    assert await store.get_conversation(again.id) is None

    await store.close_conversation(first.id, CloseReason.BY_TEEN, T0 + 1)
    assert await store.create_or_get_active(again) == (again, True)
    assert (await store.get_conversation(first.id)).state is CLOSED
    assert [e.conversation_id for e in await store.queue()] == [again.id]
