"""Retention: a closed conversation loses its texts and platform ids `retention.days` after
its close, or at once on a supervisor's request; the anonymous figures stay. Its qualification
(casework) loses its summary in the same erase, and the anonymous record itself goes
`retention.case_years` after the close (the same sweep). A trusted-flagger notice's locations
and texts go `notices.keep_days_after_close` after its appeal window (core/notices, same sweep).

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

from gateway.core import audit, casework, notices
from gateway.core.periodic import Periodic
from gateway.domain.clock import Clock
from gateway.domain.config import Config
from gateway.domain.errors import ProtocolError
from gateway.domain.model import CloseReason, Delivery
from gateway.domain.notices import NoticeOptions
from gateway.core.ports import DAY_SECONDS, ERASED_SENDER_KEY, Store, content_ttl_seconds

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

    def __init__(self, store: Store, clock: Clock, retention_days: int, interval: float = Config.retention_sweep_seconds,
                 batch: int = BATCH, case_years: int = Config.case_years,
                 notice_options: NoticeOptions = Config.notices) -> None:
        self.store = store
        self.clock = clock
        self.retention_days = retention_days
        self.case_years = case_years  # qualification records (casework), counted from the close
        self.notice_options = notice_options  # notices: appeal window and keep_days_after_close
        self.interval = interval
        self.batch = batch
        self._loop = Periodic("retention", self.sweep_once, interval, clock)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

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
            if len(due) < self.batch or done == 0 or self._loop.stopping:
                break
            await asyncio.sleep(0)  # the memory store never suspends: let the loop breathe
        if erased:
            log.info("retention: %d closed conversation(s) erased", erased)
        await casework.delete_old_records(self.store, now, self.case_years)
        await notices.erase_expired(self.store, self.notice_options, now)
        return erased


async def erase_now(helpline: _HasStoreAndClock, conversation_id: object) -> bool:
    """A supervisor's request: erase one conversation now. It must be closed already (the core
    closes it first); False when it is open or unknown (or the id is not even a string)."""
    if not isinstance(conversation_id, str) or not conversation_id:
        return False
    erased = await helpline.store.erase_conversation(conversation_id, helpline.clock.now())
    log.info("retention: erase on request %s", "done" if erased else "refused (open or unknown)")
    return erased

NOTICE_WAIT_SECONDS = 10.0  # how long an erase on request waits for the closing notice to leave
NOTICE_POLL_SECONDS = 0.2


async def _let_the_closing_notice_go(helpline: _HasStoreAndClock, conversation_id: str,
                                     wait: float = NOTICE_WAIT_SECONDS) -> None:
    """On Messenger/WhatsApp the closing notice waits in the outbox; erasing at once would drop
    it and the teen would never know. Wait (bounded) until no message of ours is still pending.

    Polls the store (the notice may leave from another process's delivery worker), sleeping on
    the helpline's clock: a test moves that clock rather than waiting for it.
    """
    deadline = helpline.clock.now() + wait
    while True:
        messages = await helpline.store.messages(conversation_id)
        if not any(m.delivery is Delivery.PENDING for m in messages):
            return
        if helpline.clock.now() >= deadline:
            log.info("retention: erase on request goes ahead with a notice still pending")
            return
        await helpline.clock.sleep(NOTICE_POLL_SECONDS)


async def erase_on_request(helpline: "Helpline", supervisor_id: str, conversation_id: object) -> None:
    """A supervisor erases one conversation at once (a teen's request): closed first if open
    (the teen is told, the counsellor's console closes it), then its texts and ids erased."""
    await helpline.supervisor(supervisor_id)
    await erase_requested(helpline, supervisor_id, conversation_id)


async def erase_requested(helpline: "Helpline", by: str, conversation_id: object) -> str:
    """The erase on request once the caller checked who asks (a supervisor's id, or "cli" for
    `python -m gateway privacy erase`); audited. Leaves an erasure receipt under the former
    sender key (core/privacy finds it), ending when retention would have dropped the index.
    Returns the conversation id."""
    conversation = await helpline.store.get_conversation(conversation_id) if isinstance(conversation_id, str) else None
    if conversation is None:
        raise ProtocolError("unknown_conversation", "Conversation inconnue.")
    if conversation.is_open:
        await helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)
        await _let_the_closing_notice_go(helpline, conversation.id)
    if not await erase_now(helpline, conversation.id):
        raise ProtocolError("not_erased", "La conversation n'a pas pu être effacée, réessayez.")
    now = helpline.clock.now()
    if conversation.sender_key != ERASED_SENDER_KEY:
        until = (conversation.closed_at or now) + content_ttl_seconds(helpline.config.retention_days)
        await helpline.store.remember_erasure(conversation.sender_key, conversation.id, until, now)
    audit.record("erase", by, at=now, conversation_id=conversation.id)
    return conversation.id
