"""The webhook inbox: a large Meta batch is stored parsed, acknowledged, then handled here.

Why: Meta expects a webhook's answer within seconds, retries, then disables the webhook; one
WhatsApp POST may carry a thousand events, and handling them one by one before the 200 took
20 s on memory and 78 s on Redis (issue #15). So a batch is kept in the store in one write
(`put`, then `replicated()`: acknowledged only once stored), and the worker of any process
claims it with a lease, handles its events through the connector's one dispatch (the same
code as the inline path of small batches), then deletes it.

Order: the events of one sender (a `handler.sender_of` group) are handled in the order
received, one after another; different senders run concurrently, `CONCURRENCY` at a time.
Batches are taken one at a time per process, oldest first; two processes may each hold one.

Crashes: a process that dies with a batch leaves its lease (`LEASE_SECONDS`, renewed while
the batch is being handled) to expire, and another process handles the whole batch again.
That is safe: a message is dropped by its id (`claim_message_id` inside intake), delivery
states only move forward, and a watermark replayed marks nothing that was not already marked.
A store failure mid-batch lets the batch be claimed again after `RETRY_SECONDS`; the events
done so far are then duplicates and dropped. Any other failure of one event is logged (its
type only: never an id nor a text) and that event skipped, so one bad event cannot hold the
batch forever; a batch nobody ever finishes is erased by its TTL (`TTL_SECONDS`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from gateway.core.periodic import Periodic
from gateway.core.ports_inbox import InboxBatch
from gateway.domain.errors import StoreError

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a batch claimed by a process that died is handled by another after this
TICK_SECONDS = 1.0  # other processes' batches are seen within this (a put kicks its own process)
RETRY_SECONDS = 2.0  # after a store failure mid-batch
TTL_SECONDS = 24 * 3600  # safety net only: a batch is deleted once handled (docs/privacy.md §1)
CONCURRENCY = 32  # senders handled at once within one batch (each takes a few store round trips)


class InboxHandler(Protocol):
    """What the connector gives the inbox: its encoding of parsed events and its one dispatch."""

    def decode(self, channel: str, payload: str) -> list[Any]:
        """The events of a payload the connector encoded."""

    def sender_of(self, event: Any) -> str:
        """The group whose events must be handled in order (a sender); never logged."""

    async def handle(self, channel: str, event: Any) -> None:
        """Handle one event, exactly as the inline path does."""


class Inbox:
    def __init__(self, helpline, handler: InboxHandler | None = None) -> None:
        self.store = helpline.store
        self.clock = helpline.clock
        self.handler = handler
        self.handled = 0  # batches finished by this process (tests and /healthz may read it)
        self._rounds = Periodic("inbox-worker", self._round, TICK_SECONDS, helpline.clock)

    def serve(self, handler: InboxHandler) -> None:
        self.handler = handler

    async def put(self, channel: str, payload: str) -> None:
        """Keep a batch for the worker: one store write. Raises StoreError (→ 503, Meta retries)."""
        batch = InboxBatch(secrets.token_hex(12), channel, payload)
        await self.store.inbox_put(batch, self.clock.now(), TTL_SECONDS)
        await self.store.replicated()  # acknowledged only once the replicas hold it
        self.kick()

    async def depth(self) -> int:
        """Batches stored, waiting or being handled, in the whole helpline (a gauge)."""
        return await self.store.inbox_depth()

    def kick(self) -> None:
        """Look for a due batch now (a put kicks its own process; others see it within a tick)."""
        self._rounds.kick()

    @property
    def rounds(self) -> int:
        """Rounds of this process's worker so far (tests wait on it)."""
        return self._rounds.rounds

    async def start(self) -> None:
        self._rounds.start()

    async def stop(self, grace: float = 0.0) -> None:
        """A batch under way may finish within `grace`; else its lease runs out and another
        process (or this one, restarted) handles it again."""
        await self._rounds.stop(grace)

    async def _round(self) -> None:
        while self.handler is not None and not self._rounds.stopping:
            batches = await self.store.inbox_claim(self.clock.now(), LEASE_SECONDS, 1)
            if not batches:
                return
            await self.handle(batches[0])

    async def handle(self, batch: InboxBatch) -> None:
        """Every event of a claimed batch, then the batch deleted (or left for a retry)."""
        if batch.claims > 1:
            log.info("inbox: a %s batch is handled again (claim %d)", batch.channel, batch.claims)
        try:
            events = self.handler.decode(batch.channel, batch.payload)
        except Exception as exc:  # noqa: BLE001 - a payload no process can read is of no use kept
            log.error("inbox: a %s batch could not be read (%s); dropped", batch.channel, type(exc).__name__)
            await self.store.inbox_done(batch.batch_id)
            return
        renewing = asyncio.ensure_future(self._renew(batch.batch_id))
        try:
            failed = await self._run_groups(batch.channel, by_sender(events, self.handler.sender_of))
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
        if failed:
            log.warning("inbox: a %s batch of %d events stopped (store failure or shutdown); retried in %.0f s",
                        batch.channel, len(events), RETRY_SECONDS)
            await self.store.inbox_extend(batch.batch_id, self.clock.now() + RETRY_SECONDS)
            return
        await self.store.inbox_done(batch.batch_id)
        self.handled += 1

    async def _run_groups(self, channel: str, groups: list[list[Any]]) -> bool:
        """Each group in order, CONCURRENCY groups at a time; True if a store failure stopped it."""
        waiting = deque(groups)
        failed = False

        async def drain() -> None:
            nonlocal failed
            while waiting and not failed and not self._rounds.stopping:
                for event in waiting.popleft():
                    try:
                        await self.handler.handle(channel, event)
                    except StoreError:
                        failed = True
                        return
                    except Exception as exc:  # noqa: BLE001 - one bad event must not hold the batch
                        log.error("inbox: a %s event failed (%s); skipped", channel, type(exc).__name__)

        await asyncio.gather(*(drain() for _ in range(min(CONCURRENCY, len(groups)))))
        return failed or bool(waiting)

    async def _renew(self, batch_id: str) -> None:
        """Keep the lease while the batch is being handled (a long batch outlives one lease)."""
        while True:
            await self.clock.sleep(LEASE_SECONDS / 3)
            try:
                await self.store.inbox_extend(batch_id, self.clock.now() + LEASE_SECONDS)
            except StoreError:
                pass  # the batch's own calls fail too; it will be retried


def by_sender(events: Iterable[Any], sender_of) -> list[list[Any]]:
    """The events grouped by sender, each group in the order received, groups by first arrival."""
    groups: dict[str, list[Any]] = {}
    for event in events:
        groups.setdefault(sender_of(event), []).append(event)
    return list(groups.values())
