"""Store port: the webhook inbox (core/inbox.py), where a large Meta batch waits, parsed, until
a worker of any process has handled it.

A batch is opaque to the store (`payload`: the connector's encoding of its parsed events, which
hold texts and platform ids, never the raw body). It lives for seconds: `inbox_done` deletes it
once handled; `ttl` is only the safety net of a batch nobody can handle. `inbox_claim` leases in
the same step as it reads, so two processes never both start a batch while its lease runs; a
process that dies leaves its lease to expire, and another process claims the batch again.
Time is always the caller's clock (`now`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class InboxBatch:
    batch_id: str  # random, names nobody
    channel: str
    payload: str = field(repr=False)  # texts and platform ids: never in a log line
    claims: int = 1  # how many times it was claimed, this claim included (1: a first try)


class InboxRecords(ABC):
    """The store methods of the webhook inbox; each store implements them in its own module."""

    @abstractmethod
    async def inbox_put(self, batch: InboxBatch, now: float, ttl: int) -> None:
        """Keep the batch, due now, for at most `ttl` seconds: one write, durable when it returns
        (then `replicated()`, as for any acknowledged write)."""

    @abstractmethod
    async def inbox_claim(self, now: float, lease: float, limit: int) -> list[InboxBatch]:
        """Up to `limit` due batches (oldest first), each leased until `now + lease` in the same
        atomic step. A batch whose TTL ran out is dropped here."""

    @abstractmethod
    async def inbox_extend(self, batch_id: str, until: float) -> None:
        """Move the batch's lease (or its retry) to `until`; nothing if it is gone."""

    @abstractmethod
    async def inbox_done(self, batch_id: str) -> None:
        """Delete the handled batch (nothing if already gone)."""

    @abstractmethod
    async def inbox_depth(self) -> int:
        """How many batches wait or are being handled (a gauge)."""
