"""The Redis bus as a durable, replayable log: nothing a listener misses while it is cut off or
while Redis restarts, a publish that waits out an outage, one delivery per event (real
redis-server processes; a restart is a stop and a start on the same port)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from functools import partial

import orjson
import pytest
import redis.asyncio as aioredis

from gateway.bus.redis import RedisBus
from gateway.domain.errors import StoreError
from gateway.domain.events import Event, Seen, to_wire
from gateway.store.redis_client import redis_client


class Listener:
    """Collects a bus's events; `until(n)` waits for the n-th."""

    def __init__(self, bus: RedisBus) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()
        bus.subscribe(self._collect)

    def _collect(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def until(self, count: int, within: float = 10.0) -> list[Event]:
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events


def seen(count: int, start: int = 0) -> list[Seen]:
    return [Seen(f"c{n}") for n in range(start, start + count)]


@pytest.fixture
async def buses() -> AsyncIterator:
    """`make(url, prefix)` → a started bus (two on one prefix are two processes), closed after."""
    opened: list[RedisBus] = []

    async def make(url: str, prefix: str, **options) -> RedisBus:
        bus = RedisBus(partial(redis_client, url), prefix, **options)
        await bus.start()
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()


async def test_a_listener_cut_off_gets_what_was_published_meanwhile(redis_url, buses) -> None:
    prefix = f"log{uuid.uuid4().hex[:8]}"
    sender, receiver = await buses(redis_url, prefix), await buses(redis_url, prefix)
    listener = Listener(receiver)
    await sender.publish(Seen("before"))
    await listener.until(1)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        # Cut every blocked reader (ours is the only XREAD on this server now), then publish at
        # once: the listener is reconnecting while these go out. Pub/sub lost them.
        killed = 0
        for client in await admin.client_list():
            if client.get("cmd") == "xread":
                killed += await admin.client_kill_filter(_id=client["id"])
        assert killed >= 1
        for event in seen(20):
            await sender.publish(event)
    finally:
        await admin.aclose()
    assert await listener.until(21) == [Seen("before"), *seen(20)]


async def test_the_listener_resumes_after_a_redis_restart(own_redis, buses, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.bus.redis")
    prefix = f"log{uuid.uuid4().hex[:8]}"
    sender, receiver = await buses(own_redis.url, prefix), await buses(own_redis.url, prefix)
    listener = Listener(receiver)
    await sender.publish(Seen("before"))
    await listener.until(1)

    own_redis.stop()
    during = asyncio.create_task(sender.publish(Seen("during")))  # Redis is down: it waits
    await wait_for_log(caplog, "publish failed")
    assert not during.done()
    own_redis.start()
    await asyncio.wait_for(during, 10)  # published once Redis is back…
    for event in seen(5):  # …and these while the listener may still be reconnecting
        await sender.publish(event)

    assert await listener.until(7) == [Seen("before"), Seen("during"), *seen(5)]


async def test_a_bus_starts_at_the_tail_and_keeps_one_process_order(redis_url, buses) -> None:
    prefix = f"log{uuid.uuid4().hex[:8]}"
    sender = await buses(redis_url, prefix)
    await sender.publish(Seen("old"))  # before the receiver started: its clients resync from the store
    receiver = await buses(redis_url, prefix)
    listener = Listener(receiver)
    await asyncio.gather(*(sender.publish(e) for e in seen(30)))  # concurrent: any order among them
    await sender.publish(Seen("last"))  # awaited after all of them: read after all of them
    got = await listener.until(31)
    assert got[-1] == Seen("last") and sorted(e.conversation_id for e in got[:-1]) == sorted(
        e.conversation_id for e in seen(30))
    assert Seen("old") not in got


async def test_an_event_appended_twice_is_delivered_once(redis_url, buses) -> None:
    prefix = f"log{uuid.uuid4().hex[:8]}"
    receiver = await buses(redis_url, prefix)
    listener = Listener(receiver)
    admin = aioredis.Redis.from_url(redis_url)
    try:  # what a retried XADD whose first reply was lost leaves in the stream
        entry = {"id": uuid.uuid4().hex, "event": orjson.dumps(to_wire(Seen("twice")))}
        await admin.xadd(f"{prefix}:events", entry)
        await admin.xadd(f"{prefix}:events", entry)
        await admin.xadd(f"{prefix}:events", {"id": uuid.uuid4().hex, "event": orjson.dumps(to_wire(Seen("next")))})
    finally:
        await admin.aclose()
    await listener.until(2)
    sender = await buses(redis_url, prefix)
    await sender.publish(Seen("after"))
    assert await listener.until(3) == [Seen("twice"), Seen("next"), Seen("after")]


async def test_the_stream_is_bounded(redis_url, buses) -> None:
    prefix = f"log{uuid.uuid4().hex[:8]}"
    sender = await buses(redis_url, prefix, maxlen=100)
    for event in seen(1000):
        await sender.publish(event)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        assert await admin.xlen(f"{prefix}:events") < 300  # MAXLEN ~: trimmed by whole nodes
    finally:
        await admin.aclose()


async def test_closing_the_bus_ends_a_publish_waiting_for_redis(own_redis, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.bus.redis")
    bus = RedisBus(partial(redis_client, own_redis.url), f"log{uuid.uuid4().hex[:8]}")
    await bus.start()
    own_redis.stop()
    waiting = asyncio.create_task(bus.publish(Seen("never")))
    await wait_for_log(caplog, "publish failed")
    await bus.close()
    with pytest.raises(StoreError, match="closed"):
        await asyncio.wait_for(waiting, 5)


async def wait_for_log(caplog, text: str, within: float = 10.0) -> None:
    """A positive wait: until a log record containing `text` was emitted (no polling)."""
    if any(text in record.getMessage() for record in caplog.records):
        return
    seen = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                loop.call_soon_threadsafe(seen.set)

    watch = Watch()
    logging.getLogger().addHandler(watch)
    try:
        async with asyncio.timeout(within):
            await seen.wait()
    finally:
        logging.getLogger().removeHandler(watch)
