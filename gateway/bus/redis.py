"""The Redis event bus: a durable, replayable log (one Redis Stream) shared by every process.

Every process appends with XADD and reads the whole stream with XREAD BLOCK from the last id
it delivered — no consumer group, since every process must see every event. After a dropped
connection, a Redis restart or a Sentinel failover, the reader resumes from that id, so the
events published meanwhile are delivered late rather than lost. A process starts at the
stream's tail ("$" resolved to an id at start): its clients resync from the store when they
connect, and nothing published after `start()` returns is missed.

`publish` cannot be skipped after a store: it retries with capped jittered backoff until the
XADD succeeds, bounded only by `close()`. A retry whose first reply was lost may append the
event twice, so each entry carries a random id and the reader drops one it saw recently.
Publishing is batched: one sender task sends every event published meanwhile (so at least
those of one loop tick) in one pipeline of XADDs, one pipeline at a time, so one process's
order is kept (publish order = XADD order = read order), across retries too: a Barrier
published after an event comes back after it. (Shortcut: if Redis refused some XADDs of a
pipeline and took later ones — an error reply, not a lost connection — the refused ones come
after those when the pipeline is sent again.) A process's own events come back through Redis too, so each event
reaches each process exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.bus.local import LocalBus
from gateway.domain.errors import StoreError
from gateway.domain.events import Event, from_wire, to_wire

# Makes a Redis client from keyword options (max_connections, timeout, socket_timeout…): the
# composition root passes `partial(gateway.store.redis_client.redis_client, url)`, the one
# factory with the shared retry and health-check policy (the bus may not import the store).
ClientFactory = Callable[..., aioredis.Redis]
log = logging.getLogger(__name__)

# The stream is trimmed to about this many entries (XADD MAXLEN ~, trimmed by whole nodes, so
# cheap). At a few hundred events a second at peak that is minutes of history; a reader away
# longer (a process paused, a long partition) skips what was trimmed, and its clients resync
# from the store when they reconnect.
STREAM_MAXLEN = 100_000
# XREAD waits this long for new entries before asking again; the socket timeout exceeds it,
# so a quiet stream is not taken for a dead connection, and a dead one is noticed.
READ_BLOCK_MS = 2_000
READ_SOCKET_TIMEOUT = READ_BLOCK_MS / 1000 + 3.0
READ_BATCH = 500
# Backoff between failed XADDs or XREADs: 50 ms doubling, capped at 1 s, jittered (half fixed,
# half random), so a restarted Redis is used again within about a second.
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
# How many recent entry ids the reader remembers to drop a twice-appended event. A retried
# XADD lands within the outage that caused it; far fewer events than this happen meanwhile.
RECENT_EVENT_IDS = 20_000
# One pipeline at a time carries up to this many XADDs: the events published while the
# previous one was on the wire (under load, one round trip for hundreds of events).
PUBLISH_BATCH = 256
# close() lets an in-flight pipeline finish this long before cutting it short.
SENDER_DRAIN_SECONDS = 1.0
PUBLISH_POOL = 4  # one pipeline in flight; spares for a connection being replaced
POOL_WAIT = 5.0
STREAM_START = b"0-0"  # the id before any entry
STOP_ATTEMPTS, STOP_WAIT_SECONDS = 20, 0.1


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def _entry(event: Event) -> dict[str, str | bytes]:
    """A stream entry: the event's wire form and a random id (a resent copy is dropped)."""
    return {"id": uuid.uuid4().hex, "event": orjson.dumps(to_wire(event))}


class RecentIds:
    """A bounded memory of ids seen, oldest forgotten first."""

    def __init__(self, size: int = RECENT_EVENT_IDS) -> None:
        self._size = size
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def first_time(self, event_id: bytes) -> bool:
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class RedisBus(LocalBus):
    """Several processes: events go through one Redis Stream, `{prefix}:events`."""

    def __init__(self, connect: ClientFactory, prefix: str, maxlen: int = STREAM_MAXLEN) -> None:
        super().__init__()
        self._connect = connect
        self._stream = f"{prefix}:events"
        self._maxlen = maxlen
        self._publisher: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        self._listener: asyncio.Task | None = None
        self._closed = asyncio.Event()
        self._recent = RecentIds()
        self._outbox: list[tuple[dict, asyncio.Future]] = []  # published, not yet in the stream
        self._wake = asyncio.Event()  # set when the outbox gets an entry, or at close
        self._sender: asyncio.Task | None = None
        self.last_id: bytes = STREAM_START  # the last entry delivered (or the tail at start)

    async def start(self) -> None:
        """Connect and note the stream's tail; fails with StoreError if Redis is unreachable."""
        # XADD is retried by redis-py too: a twice-appended event is dropped by the reader.
        self._publisher = self._connect(max_connections=PUBLISH_POOL, timeout=POOL_WAIT)
        self._reader = self._connect(max_connections=1, timeout=POOL_WAIT, socket_timeout=READ_SOCKET_TIMEOUT)
        try:
            tail = await self._reader.xrevrange(self._stream, count=1)
        except (RedisError, OSError) as exc:
            raise StoreError(f"event bus: {type(exc).__name__}") from exc
        self.last_id = tail[0][0] if tail else STREAM_START
        self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")
        self._sender = asyncio.create_task(self._send_outbox(), name="redis-bus-publisher")

    async def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._sender:
            await self._stop_sender()
        if self._listener:
            await self._stop_listener()
        for client in (self._publisher, self._reader):
            if client is not None:
                await client.aclose()
        await super().close()

    async def _stop_sender(self) -> None:
        """Let the publisher finish what it is sending (bounded), then stop it: what is left
        fails with StoreError, as a publish retried past close() always has."""
        done, _ = await asyncio.wait([self._sender], timeout=SENDER_DRAIN_SECONDS)
        if not done:
            self._sender.cancel()
            await asyncio.wait([self._sender])

    async def _stop_listener(self) -> None:
        """Cancel the listener until it ends: redis-py 8.1 sometimes swallows a cancel that lands
        just after a blocking XREAD was sent (seen in tests), so one cancel is not enough."""
        for _ in range(STOP_ATTEMPTS):
            self._listener.cancel()
            done, _ = await asyncio.wait([self._listener], timeout=STOP_WAIT_SECONDS)
            if done:
                return
        log.error("event bus listener did not stop")

    async def publish(self, event: Event) -> None:
        """One event, in its wire form (domain/events.py's `to_wire`), to every process;
        retried until Redis takes it. Raises StoreError only once the bus is closed."""
        assert self._publisher is not None, "bus not started"
        if self._closed.is_set():
            raise StoreError("event bus: closed before the event was published")
        published = asyncio.get_running_loop().create_future()
        self._outbox.append((_entry(event), published))
        self._wake.set()
        await published

    async def _send_outbox(self) -> None:
        """The one publisher: the waiting entries, oldest first, in one pipeline of XADDs
        (at most PUBLISH_BATCH), one pipeline at a time, so XADD order is publish order. A
        failed pipeline is sent again whole after a backoff: what it appended before failing
        comes twice and the reader drops the copies. Waiters left at close get StoreError."""
        failures = 0
        try:
            while self._outbox or not self._closed.is_set():
                if not self._outbox:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = self._outbox[:PUBLISH_BATCH]
                try:
                    await self._xadd(batch)
                except (RedisError, OSError) as exc:
                    failures += 1
                    if failures == 1 or failures % 20 == 0:
                        log.warning("event bus: publish failed (%s), retrying", type(exc).__name__)
                    if self._closed.is_set():
                        return
                    await self._pause(backoff(failures))
                    continue
                except Exception as exc:  # noqa: BLE001 - a bug, not an outage: these fail, the rest go on
                    log.error("event bus: publish failed (%s), not retried", type(exc).__name__)
                    self._settle(len(batch), exc)
                    continue
                self._settle(len(batch), None)
                if failures:
                    log.info("event bus: published after %d failed attempts", failures)
                    failures = 0
        finally:
            self._fail_outbox()

    async def _xadd(self, batch: list[tuple[dict, asyncio.Future]]) -> None:
        """One pipeline of XADDs; a lone one without (the same round trip, less CPU)."""
        if len(batch) == 1:
            await self._publisher.xadd(self._stream, batch[0][0], maxlen=self._maxlen, approximate=True)
            return
        async with self._publisher.pipeline(transaction=False) as pipe:
            for entry, _ in batch:
                pipe.xadd(self._stream, entry, maxlen=self._maxlen, approximate=True)
            await pipe.execute()

    def _settle(self, count: int, error: Exception | None) -> None:
        """The first `count` entries have left the outbox: tell their publishers."""
        sent, self._outbox = self._outbox[:count], self._outbox[count:]
        for _, published in sent:
            if published.done():
                continue  # its publisher gave up waiting; the event went anyway
            if error is None:
                published.set_result(None)
            else:
                published.set_exception(error)

    def _fail_outbox(self) -> None:
        waiting, self._outbox = self._outbox, []
        for _, published in waiting:
            if not published.done():
                published.set_exception(StoreError("event bus: closed before the event was published"))

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short by `close()`."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            pass

    async def _listen(self) -> None:
        """Read from the last delivered id, for ever; a failure waits and reads from it again."""
        failures = 0
        while not self._closed.is_set():
            try:
                replies = await self._reader.xread({self._stream: self.last_id}, count=READ_BATCH,
                                                   block=READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: wait, then resume from last_id
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("event bus lost Redis (%s), resuming from the last event read",
                                type(exc).__name__)
                await asyncio.sleep(backoff(failures))
                continue
            if failures:
                log.info("event bus reading again after %d failed reads", failures)
                failures = 0
            for _stream, entries in replies or []:
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    self._deliver(fields)

    def _deliver(self, fields: dict) -> None:
        event_id = fields.get(b"id", b"")
        if event_id and not self._recent.first_time(event_id):
            return  # a retried XADD appended it twice
        try:
            event = from_wire(orjson.loads(fields[b"event"]))
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            log.warning("dropped a malformed event from the bus")
            return
        try:
            self._emitter.emit("event", event)
        except Exception:  # one failing handler must not stop the log
            log.exception("event handler failed on %s", event.name)
