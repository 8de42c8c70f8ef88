"""The memory store's part for ports_inbox.InboxRecords (a mixin of MemoryStore): the waiting
batches of this process, each with its due time (a lease moves it) and its TTL."""

from __future__ import annotations

from dataclasses import replace

from gateway.core.ports_inbox import InboxBatch


class MemoryInbox:
    def __init__(self) -> None:
        # batch id -> (due or leased until, expires, batch); insertion order = arrival order
        self._inbox: dict[str, tuple[float, float, InboxBatch]] = {}

    async def inbox_put(self, batch: InboxBatch, now: float, ttl: int) -> None:
        self._inbox[batch.batch_id] = (now, now + ttl, replace(batch, claims=0))

    async def inbox_claim(self, now: float, lease: float, limit: int) -> list[InboxBatch]:
        for batch_id in [i for i, (_, expires, _) in self._inbox.items() if expires <= now]:
            del self._inbox[batch_id]
        order = {batch_id: n for n, batch_id in enumerate(self._inbox)}
        due = sorted((when, order[i], i) for i, (when, _, _) in self._inbox.items() if when <= now)
        claimed = []
        for _, _, batch_id in due[:limit]:
            _, expires, batch = self._inbox[batch_id]
            batch = replace(batch, claims=batch.claims + 1)
            self._inbox[batch.batch_id] = (now + lease, expires, batch)
            claimed.append(batch)
        return claimed

    async def inbox_extend(self, batch_id: str, until: float) -> None:
        if batch_id in self._inbox:
            _, expires, batch = self._inbox[batch_id]
            self._inbox[batch_id] = (until, expires, batch)

    async def inbox_done(self, batch_id: str) -> None:
        self._inbox.pop(batch_id, None)

    async def inbox_depth(self) -> int:
        return len(self._inbox)
