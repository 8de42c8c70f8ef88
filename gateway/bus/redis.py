"""The Redis pub/sub event bus: several processes on one Redis.

The Redis bus delivers every event, this process's own included, through Redis, so each
event reaches each process exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random

import orjson
import redis.asyncio as aioredis

from gateway.bus.local import LocalBus
from gateway.domain.errors import StoreError
from gateway.domain.events import Event, from_wire, to_wire

log = logging.getLogger(__name__)


class RedisBus(LocalBus):
    """Several processes: events go through one Redis pub/sub channel."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        self._url = url
        self._channel = f"{prefix}:events"
        self._client: aioredis.Redis | None = None
        self._listener: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
            self._url, max_connections=32, timeout=5.0))
        self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._client:
            await self._client.aclose()
        await super().close()

    async def publish(self, event: Event) -> None:
        """One event, in its wire form (domain/events.py's `to_wire`), to every process."""
        assert self._client is not None, "bus not started"
        try:
            await self._client.publish(self._channel, orjson.dumps(to_wire(event)))
        except (aioredis.RedisError, OSError) as exc:
            raise StoreError(f"event bus: {type(exc).__name__}") from exc

    async def _listen(self) -> None:
        """Subscribe, deliver, and resubscribe with capped jittered backoff if Redis drops."""
        attempt = 0
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._ready.set()
                    attempt = 0
                    async for raw in pubsub.listen():
                        if raw.get("type") == "message":
                            self._deliver(raw["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                attempt += 1
                delay = min(5.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning("event bus lost Redis (%s), retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)

    def _deliver(self, data: bytes) -> None:
        try:
            event = from_wire(orjson.loads(data))
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            log.warning("dropped a malformed event from the bus")
            return
        self._emitter.emit("event", event)

