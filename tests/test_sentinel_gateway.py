"""The gateway's store and bus on real Redis topologies: a restart of one redis-server, and a
Sentinel set (master, replica, three sentinels) whose master is killed -9. What was acknowledged
(`Store.replicated()` returned) is never lost; the clients recover by themselves."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import pytest

from gateway.app.server import build_parts
from gateway.bus import RedisBus
from gateway.core.ports import NewMessage, Store
from gateway.domain.errors import StoreError
from gateway.domain.events import Seen
from gateway.domain.model import Author, Channel, Conversation, ConversationState, Counsellor, Presence
from gateway.store import open_store
from gateway.store.redis_client import redis_client
from tests.harness import make_config
from tests.test_event_log import Listener

T = TypeVar("T")
T0 = 1_700_000_000.0


def a_conversation() -> Conversation:
    return Conversation(id=uuid.uuid4().hex, channel=Channel.WEB, sender_key=f"s-{uuid.uuid4().hex[:8]}",
                        alias="Renard 1", state=ConversationState.QUEUED, opened_at=T0, queued_at=T0)


def a_counsellor() -> Counsellor:
    name = f"c{uuid.uuid4().hex[:8]}"
    return Counsellor(id=uuid.uuid4().hex, username=name, display_name=name, password_hash="argon2$fake",
                      presence=Presence.AVAILABLE)


CLIENT_RETRY_PAUSE = 0.1  # how often a client re-sends after `unavailable` (a pace, not a wait)


async def until_stored(call: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
    """A failover surfaces as StoreError for a moment (a write is never retried behind the
    caller's back): the caller retries, as a client does after `unavailable`."""
    started = time.monotonic()
    while True:
        try:
            return await call()
        except StoreError:
            if time.monotonic() - started > within:
                raise
            await asyncio.sleep(CLIENT_RETRY_PAUSE)


async def started(opened: list, part):
    await part.start()
    opened.append(part)
    return part


# --- one redis-server, restarted ------------------------------------------------------------------
async def test_the_store_has_no_error_right_after_a_redis_restart(own_redis, opened) -> None:
    store: Store = await started(opened, open_store(own_redis.url, prefix=f"r{uuid.uuid4().hex[:8]}"))
    counsellors = [a_counsellor() for _ in range(8)]
    # Both pools (reads; scripts) hold several connections, all left stale by the restart.
    await asyncio.gather(*(store.add_counsellor(c) for c in counsellors))
    await asyncio.gather(*(store.get_counsellor(c.id) for c in counsellors))
    # The loop runs on during the restart, as in production (it sees the old connections close).
    await asyncio.to_thread(own_redis.stop)
    await asyncio.to_thread(own_redis.start)  # no persistence: the data is gone, not the clients
    await asyncio.gather(*(store.add_counsellor(c) for c in counsellors))  # scripts (reloaded)
    assert [c.id for c in await asyncio.gather(*(store.get_counsellor(c.id) for c in counsellors))] == [
        c.id for c in counsellors]


# --- Sentinel: failover, WAIT ----------------------------------------------------------------------
async def test_build_parts_opens_store_and_bus_on_a_sentinel_url(sentinels, opened) -> None:
    parts = build_parts(make_config(sentinels.url, prefix=f"s{uuid.uuid4().hex[:8]}"))
    assert parts.store.kind == "redis" and isinstance(parts.bus, RedisBus)
    await started(opened, parts.store)
    bus = await started(opened, parts.bus)
    listener = Listener(bus)
    counsellor = a_counsellor()
    await parts.store.add_counsellor(counsellor)
    await bus.publish(Seen("c1"))
    assert (await parts.store.get_counsellor(counsellor.id)).id == counsellor.id
    assert await listener.until(1) == [Seen("c1")]
    await parts.store.replicated()  # wait_replicas 0 (the default): no WAIT


async def test_nothing_acknowledged_is_lost_when_the_master_is_killed(sentinels, opened) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}"
    store: Store = await started(opened, open_store(sentinels.url, prefix=prefix, wait_replicas=1))
    connect = partial(redis_client, sentinels.url)
    sender, receiver = await started(opened, RedisBus(connect, prefix)), await started(opened, RedisBus(connect, prefix))
    listener = Listener(receiver)
    conversation, _ = await store.create_or_get_active(a_conversation())
    acknowledged = []
    for n in range(20):
        message = await store.append_message(conversation.id, NewMessage(Author.TEEN, f"ligne {n}", T0 + n))
        await store.replicated()  # what the core awaits right before an ack
        acknowledged.append(message.seq)
    await sender.publish(Seen("before"))
    await listener.until(1)

    sentinels.kill_master()
    sentinels.wait_for_promotion()

    history = await until_stored(lambda: store.messages(conversation.id))
    assert [m.seq for m in history] == acknowledged  # every acknowledged line survived
    later = await until_stored(lambda: store.append_message(conversation.id, NewMessage(Author.TEEN, "après", T0 + 99)))
    assert later.seq == len(acknowledged) + 1 and (await store.messages(conversation.id))[-1].text == "après"
    # The promoted replica has no replica of its own: an acknowledgement is refused, not faked.
    with pytest.raises(StoreError, match="0 of 1 replicas"):
        await store.replicated()
    await sender.publish(Seen("after"))  # the bus follows the new master and resumes its read
    assert await listener.until(2) == [Seen("before"), Seen("after")]


async def test_an_acknowledgement_waits_for_the_replica(sentinels, opened) -> None:
    store: Store = await started(opened, open_store(sentinels.url, prefix=f"s{uuid.uuid4().hex[:8]}",
                                                    wait_replicas=1))
    await store.add_counsellor(a_counsellor())
    await store.replicated()
    sentinels.pause_replica()
    try:
        await store.add_counsellor(a_counsellor())  # the master takes it…
        with pytest.raises(StoreError, match="0 of 1 replicas"):  # …but no replica holds it
            await store.replicated()
    finally:
        sentinels.resume_replica()
