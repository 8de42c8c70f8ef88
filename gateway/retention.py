"""Retention: a closed conversation loses its texts and platform ids `retention.days` after
its close, or at once on a supervisor's request; the anonymous figures stay.

Owns the sweeper that every process runs and the on-request erase. What an erase removes and
what it keeps is the store's `erase_conversation` (atomic and repeatable, so two processes
sweeping at once do no harm). On Redis the content keys also carry a TTL of the retention plus
a day, a safety net for the texts; the ids inside the conversation record rely on this sweeper
alone (see gateway/store/redis.py). Logs carry counts, never a conversation id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from .clock import Clock
from .errors import StoreError
from .store.base import DAY_SECONDS, Store

log = logging.getLogger(__name__)

BATCH = 100  # conversations per store round trip of `closed_before`


class _HasStoreAndClock(Protocol):
    store: Store
    clock: Clock


class RetentionSweeper:
    """Erases, every `interval` seconds, each conversation closed more than `retention_days` ago.

    `retention_days` may be changed on a live config reload; the Redis TTL of content closed
    before the change keeps the value the process started with.
    """

    def __init__(self, store: Store, clock: Clock, retention_days: int, interval: float = 3600.0,
                 batch: int = BATCH) -> None:
        self.store = store
        self.clock = clock
        self.retention_days = retention_days
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except StoreError as exc:
                log.warning("retention sweep skipped: %s", exc)
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round
                log.exception("retention sweep failed")
            await asyncio.sleep(self.interval)

    async def sweep_once(self) -> int:
        """Erase every conversation due, batch after batch; returns how many were erased."""
        now = self.clock.now()
        cutoff = now - self.retention_days * DAY_SECONDS
        erased = 0
        while True:
            due = await self.store.closed_before(cutoff, self.batch)
            done = 0
            for conversation_id in due:
                done += await self.store.erase_conversation(conversation_id, now)
            erased += done
            # A short batch is the last one; a batch where nothing could be erased would come
            # back identical, so it ends the sweep too rather than spin.
            if len(due) < self.batch or done == 0:
                break
            await asyncio.sleep(0)  # the memory store never suspends: let the loop breathe
        if erased:
            log.info("retention: %d closed conversation(s) erased", erased)
        return erased


async def erase_now(helpline: _HasStoreAndClock, conversation_id: str) -> bool:
    """A supervisor's request: erase one conversation now. It must be closed already (the core
    closes it first); False when it is open or unknown."""
    erased = await helpline.store.erase_conversation(conversation_id, helpline.clock.now())
    log.info("retention: erase on request %s", "done" if erased else "refused (open or unknown)")
    return erased
