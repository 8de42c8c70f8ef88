"""Sending our messages to teens on Messenger and WhatsApp, durably.

A message is stored PENDING and queued in the store's outbox in one step, with the send
window decided then (`core.lines.ours`). This worker, in every process, leases due jobs,
sends them through the channel's sender (with the HUMAN_AGENT tag when the job's window says
so), and records the outcome: SENT (then DELIVERED/READ from receipts), a
retry later for a retryable failure (also after a restart: the job stays in the store),
or FAILED with a French reason the counsellor sees. Delivery states only move forward.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from gateway.core.periodic import Periodic
from gateway.domain.errors import DeliveryError, StoreError
from gateway.domain.events import DeliveryChanged, Event, MessageAdded, Seen, Typing
from gateway.domain.model import Author, Channel, Conversation, Delivery
from gateway.core.ports import Store
from gateway.core.ports import DeliveryJob
from gateway.domain.windows import Window, send_window

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a job claimed by a process that died is sent by another after this
BATCH = 50
MAX_ATTEMPTS = 8
TICK_SECONDS = 1.0  # safety net on the clock: a round even if a kick was lost
LINK_TTL = 8 * 24 * 3600  # receipts keep coming for a week (WhatsApp retries up to 7 days)
WINDOW_CLOSED = "non délivré : la fenêtre de 24 h est fermée (le jeune doit réécrire en premier)"
NO_CHANNEL = "non délivré : ce canal n'est pas configuré sur la passerelle"


class Sender(Protocol):
    """One platform's way to reach a teen (connectors/messenger.py, connectors/whatsapp.py)."""

    async def send_text(self, conversation: Conversation, text: str, *, human_agent: bool) -> list[str]:
        """Send; return the platform's message id(s). Raises DeliveryError."""


def retry_delay(attempt: int, kind: str, *, base: float = 1.0, cap: float = 60.0, rng=random.random) -> float:
    """Seconds before retry number `attempt` (0 = the first retry). Pure.

    Capped exponential with "equal jitter" (a draw in [ceiling/2, ceiling]), so retries
    spread out. The WhatsApp pair rate limit ("pair_rate", code 131056) follows Meta's own
    advice instead: 4^attempt seconds, capped, no jitter.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    exponent = min(attempt, 64)  # past this the cap has long won; keeps the float finite
    if kind == "pair_rate":
        return min(float(4**exponent), cap)
    ceiling = min(cap, base * 2.0**exponent)
    return ceiling / 2 + rng() * ceiling / 2


class DeliveryWorker:
    def __init__(self, helpline, senders: dict[Channel, Sender]):
        self.helpline = helpline
        self.store: Store = helpline.store
        self.senders = senders
        self.alerts: dict[str, str] = {}  # channel -> what an admin must fix (shown by /healthz)
        self._rounds = Periodic("delivery-worker", self._round, TICK_SECONDS, helpline.clock)
        helpline.bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MessageAdded) and event.message.delivery is Delivery.PENDING:
            self._rounds.kick()
        elif isinstance(event, Typing) and event.by is Author.COUNSELLOR and self._typing_senders():
            asyncio.get_running_loop().create_task(self._forward_typing(event))
        elif isinstance(event, Seen) and self.senders:
            asyncio.get_running_loop().create_task(self._forward_seen(event))

    def _typing_senders(self) -> bool:
        return any(hasattr(sender, "typing") for sender in self.senders.values())

    async def _forward_typing(self, event: Typing) -> None:
        """The counsellor's typing indicator, on platforms that show one (Messenger)."""
        try:
            conversation = await self.store.get_conversation(event.conversation_id)
        except StoreError:
            return
        sender = self.senders.get(conversation.channel) if conversation else None
        if sender is not None and hasattr(sender, "typing") and conversation.reply_to:
            await sender.typing(conversation, event.active)

    async def _forward_seen(self, event: Seen) -> None:
        """Messenger "mark_seen", WhatsApp blue ticks: best effort, never retried."""
        try:
            conversation = await self.store.get_conversation(event.conversation_id)
        except StoreError:
            return
        sender = self.senders.get(conversation.channel) if conversation else None
        if sender is not None and conversation.reply_to and conversation.is_open:
            await sender.seen(conversation)

    async def start(self) -> None:
        self._rounds.start()

    async def stop(self, grace: float = 0.0) -> None:
        """Sends under way finish within `grace`; a job still leased after it is left to its
        lease (LEASE_SECONDS), then another process sends it."""
        await self._rounds.stop(grace)

    async def _round(self) -> None:
        """Every due job, a batch at a time (Periodic logs and survives a failed round)."""
        started = self.helpline.clock.now()
        while await self.run_once() == BATCH and not self._rounds.stopping:
            pass
        if self.helpline.clock.now() - started >= TICK_SECONDS:
            # The clock passed a tick while this round ran (slow sends, or a test moving time
            # during a store call): jobs may have come due since the claim, so go again now
            # rather than a whole tick after this late end.
            self._rounds.kick()

    async def run_once(self) -> int:
        jobs = await self.store.claim_deliveries(self.helpline.clock.now(), LEASE_SECONDS, BATCH)
        await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _deliver(self, job: DeliveryJob) -> None:
        conversation = await self.store.get_conversation(job.conversation_id)
        found = await self.store.messages(job.conversation_id, after_seq=job.seq - 1)
        sender = self.senders.get(conversation.channel) if conversation else None
        if conversation is None or not found or sender is None or not conversation.reply_to:
            await self._give_up(job, conversation, NO_CHANNEL)
            return
        # The window was decided as the job was queued; only a job queued before windows were
        # stored with jobs (an upgrade mid-send) has none, and takes the conversation's.
        reach = job.window or send_window(conversation.channel, conversation.last_teen_message_at)
        state = reach.at(self.helpline.clock.now()) if reach else Window.OPEN
        if state is Window.CLOSED:
            await self._give_up(job, conversation, WINDOW_CLOSED)
            return
        try:
            ids = await sender.send_text(conversation, found[0].text, human_agent=state is Window.HUMAN_AGENT)
        except DeliveryError as exc:
            await self._failed(job, conversation, exc)
            return
        for provider_id in ids:
            await self.store.link_provider_message(conversation.channel.value, provider_id, conversation.id,
                                                   job.seq, LINK_TTL)
        await self.store.finish_delivery(job)
        await self.advance(conversation, job.seq, Delivery.SENT)

    async def _failed(self, job: DeliveryJob, conversation: Conversation, exc: DeliveryError) -> None:
        if exc.alert:
            self.alerts[conversation.channel.value] = exc.kind
            log.error("%s: platform refused our credentials (%s): an admin must renew them",
                      conversation.channel.value, exc.kind)
        if exc.retryable and job.attempts + 1 < MAX_ATTEMPTS:
            delay = retry_delay(job.attempts, exc.kind, cap=600.0 if exc.kind == "pair_rate" else 60.0)
            log.info("delivery on %s will be retried in %.1fs (%s)", conversation.channel.value, delay, exc.kind)
            await self.store.retry_delivery(job, self.helpline.clock.now() + delay)
            return
        await self._give_up(job, conversation, exc.reason)

    async def _give_up(self, job: DeliveryJob, conversation: Conversation | None, reason: str) -> None:
        await self.store.finish_delivery(job)
        if conversation is not None:
            await self.advance(conversation, job.seq, Delivery.FAILED, reason)
        log.info("delivery given up for conversation %s", job.conversation_id)

    async def advance(self, conversation: Conversation, seq: int, to: Delivery, error: str | None = None) -> None:
        """Move one message's state forward (never back) and tell its counsellor."""
        found = await self.store.messages(conversation.id, after_seq=seq - 1)
        if not found or found[0].seq != seq:
            return
        current = found[0].delivery or Delivery.PENDING
        new = current.advance(to)
        if new is current:
            return
        await self.store.set_delivery(conversation.id, seq, new, error if new is Delivery.FAILED else None)
        await self.helpline.bus.publish(DeliveryChanged(conversation.id, conversation.counsellor_id, seq, new,
                                                        error if new is Delivery.FAILED else None))

    # --- receipts from the platforms ------------------------------------------------
    async def receipt(self, channel: Channel, provider_message_id: str, to: Delivery, error: str | None = None) -> None:
        """A WhatsApp status for one of our messages."""
        found = await self.store.find_provider_message(channel.value, provider_message_id)
        if found is None:
            return  # not ours, or older than the link's TTL
        conversation = await self.store.get_conversation(found[0])
        if conversation is not None:
            await self.advance(conversation, found[1], to, error)

    async def watermark(self, sender_key: str, to: Delivery, watermark: float) -> None:
        """A Messenger delivery/read watermark: every message we sent up to then."""
        conversation = await self.store.active_conversation_of(sender_key)
        if conversation is None:
            return
        for message in await self.store.messages(conversation.id):
            if message.delivery in (Delivery.SENT, Delivery.DELIVERED) and message.at <= watermark:
                await self.advance(conversation, message.seq, to)
