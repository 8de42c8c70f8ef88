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
from typing import TYPE_CHECKING, Protocol

from gateway.core import audit
from gateway.domain.clock import Clock
from gateway.domain.errors import ProtocolError, StoreError
from gateway.domain.model import CloseReason, Delivery, Role
from gateway.core.ports import DAY_SECONDS, Store

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

BATCH = 100  # conversations per store round trip of `closed_before`


class _HasStoreAndClock(Protocol):
    store: Store
    clock: Clock


class RetentionSweeper:
    """Erases, every `interval` seconds, each conversation closed more than `retention_days` ago.

    `retention.days` needs a restart (config_watch refuses it live): the Redis TTL of content
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
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        # Not the cancel alone: redis-py (seen with 8.1.0, cf. redis/redis-py#2028) can swallow
        # a cancellation that lands during a command, and the loop would go on forever.
        self._stopping = True
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.sweep_once()
            except StoreError as exc:
                log.warning("retention sweep skipped: %s", exc)
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round
                log.exception("retention sweep failed")
            if not self._stopping:
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
            if len(due) < self.batch or done == 0 or self._stopping:
                break
            await asyncio.sleep(0)  # the memory store never suspends: let the loop breathe
        if erased:
            log.info("retention: %d closed conversation(s) erased", erased)
        return erased


async def erase_now(helpline: _HasStoreAndClock, conversation_id: object) -> bool:
    """A supervisor's request: erase one conversation now. It must be closed already (the core
    closes it first); False when it is open or unknown (or the id is not even a string)."""
    if not isinstance(conversation_id, str) or not conversation_id:
        return False
    erased = await helpline.store.erase_conversation(conversation_id, helpline.clock.now())
    log.info("retention: erase on request %s", "done" if erased else "refused (open or unknown)")
    return erased

async def _let_the_closing_notice_go(helpline: "Helpline", conversation_id: str, wait: float = 10.0) -> None:
    """On Messenger/WhatsApp the closing notice waits in the outbox; erasing at once would drop
    it and the teen would never know. Wait (bounded) until no message of ours is still pending."""
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        messages = await helpline.store.messages(conversation_id)
        if not any(m.delivery is Delivery.PENDING for m in messages):
            return
        await asyncio.sleep(0.2)


async def erase_on_request(helpline: "Helpline", supervisor_id: str, conversation_id: object) -> None:
    """A supervisor erases one conversation at once (a teen's request): closed first if open
    (the teen is told, the counsellor's console closes it), then its texts and ids erased."""
    supervisor = await helpline.store.get_counsellor(supervisor_id)
    if supervisor is None or supervisor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise ProtocolError("forbidden", "Réservé aux superviseur·es.")
    conversation = await helpline.store.get_conversation(conversation_id) if isinstance(conversation_id, str) else None
    if conversation is None:
        raise ProtocolError("unknown_conversation", "Conversation inconnue.")
    if conversation.is_open:
        await helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)
        await _let_the_closing_notice_go(helpline, conversation.id)
    if not await erase_now(helpline, conversation.id):
        raise ProtocolError("not_erased", "La conversation n'a pas pu être effacée, réessayez.")
    audit.record("erase", supervisor_id, at=helpline.clock.now(), conversation_id=conversation.id)
