"""The Redis store's conversations, messages and outbox (a mixin of RedisStore, in redis.py).

Split from redis.py only to keep modules small: the key layout, the scripts and the error
boundary are the same (redis_keys, redis_scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


from gateway.core.ports import (
    ERASED_ALIAS,
    ERASED_SENDER_KEY,
    AssignOutcome,
    DeliveryJob,
    NewMessage,
    Reassignment,
)
from gateway.domain.model import (
    CloseReason,
    Conversation,
    ConversationState,
    Delivery,
    Message,
)
from gateway.store.redis_codec import (
    check_priority,
    conversation_fields,
    encode_message,
    encode_window,
    flat,
    mark_values,
    pairs,
    parse_conversation,
    parse_message,
    parse_window,
    queue_score,
    whole_ms,
    with_delivery,
)
from gateway.store.redis_keys import RedisPart, redis_errors


class RedisConversations(RedisPart):
    """Conversation, message and outbox methods; RedisStore provides the client and scripts."""

    async def _each(self, ids: Iterable[str], command: Callable[[Any, str], object]) -> list[Any]:
        """One pipelined round trip: `command(pipe, id)` for each id."""
        async with self._r.pipeline(transaction=False) as pipe:
            for item in ids:
                command(pipe, item)
            return await pipe.execute()

    async def _conversations(self, ids: Iterable[str]) -> list[Conversation]:
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.conversation(i)))
        return [parse_conversation(f) for f in rows if f]

    # --- inbound dedupe ---------------------------------------------------------
    @redis_errors
    async def claim_message_id(self, channel: str, provider_message_id: str, ttl: int) -> bool:
        key = self._keys.dedupe(channel, provider_message_id)
        return bool(await self._r.set(key, "1", nx=True, ex=ttl))

    # --- conversations ----------------------------------------------------------
    @redis_errors
    async def create_or_get_active(self, conversation: Conversation) -> tuple[Conversation, bool]:
        k = self._keys
        queued = conversation.state is ConversationState.QUEUED
        score = str(queue_score(conversation)) if queued else ""
        existing = await self._s.create(
            keys=[k.active(conversation.sender_key), k.conversation(conversation.id), k.queue, k.conversation_ids],
            args=[k.prefix, conversation.id, score, repr(conversation.opened_at),
                  *flat(conversation_fields(conversation))],
        )
        if existing is None:
            await self._index_by_sender(conversation)  # tests and tools only: the intake's script does it in-step
            return conversation, True
        return parse_conversation(pairs(existing)), False

    async def _index_by_sender(self, conversation: Conversation) -> None:
        """The sender's conversation index (returning teens), with its TTL (see STORE_INBOUND)."""
        index = self._keys.sender_conversations(conversation.sender_key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(index, {conversation.id: conversation.opened_at})
            if self._content_ttl:
                pipe.expire(index, self._content_ttl)
            await pipe.execute()

    @redis_errors
    async def create_closed(self, conversation: Conversation) -> None:
        k, c = self._keys, conversation
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(k.conversation(c.id), mapping=conversation_fields(c))
            pipe.zadd(k.conversation_ids, {c.id: c.opened_at})
            if c.state is ConversationState.CLOSED and c.erased_at is None:
                pipe.zadd(k.closed, {c.id: c.closed_at if c.closed_at is not None else c.opened_at})
                if self._content_ttl:  # usually no messages yet: APPEND sets the TTL then
                    pipe.expire(k.messages(c.id), self._content_ttl)
                    pipe.expire(k.delivery(c.id), self._content_ttl)
            await pipe.execute()
        if c.erased_at is None:
            await self._index_by_sender(c)

    @redis_errors
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        fields = await self._r.hgetall(self._keys.conversation(conversation_id))
        return parse_conversation(fields) if fields else None

    @redis_errors
    async def active_conversation_of(self, sender_key: str) -> Conversation | None:
        conversation_id = await self._r.get(self._keys.active(sender_key))
        if conversation_id is None:
            return None
        conversation = await self.get_conversation(conversation_id)
        return conversation if conversation is not None and conversation.is_open else None

    @redis_errors
    async def touch_teen(self, conversation_id: str, at: float, inbound_id: str | None = None) -> None:
        await self._s.touch_teen(keys=[self._keys.conversation(conversation_id)], args=[repr(at), inbound_id or ""])

    @redis_errors
    async def mark_answered(self, conversation_id: str, at: float) -> None:
        await self._s.mark_answered(keys=[self._keys.conversation(conversation_id)], args=[repr(at)])

    @redis_errors
    async def set_marks(self, conversation_id: str, marks: dict[str, float | int | None]) -> None:
        values = mark_values(marks)  # ValueError before any I/O
        if values:
            await self._s.update_if_exists(keys=[self._keys.conversation(conversation_id)], args=flat(values))

    @redis_errors
    async def raise_priority(self, conversation_id: str, priority: int, reason: str,
                             required_skill: str | None) -> bool:
        check_priority(priority)
        raised = await self._s.raise_priority(
            keys=[self._keys.conversation(conversation_id), self._keys.queue],
            args=[conversation_id, priority, reason, required_skill or ""],
        )
        return bool(raised)

    @redis_errors
    async def requeue(self, conversation_id: str, expected_counsellor_id: str | None, queued_at: float,
                      required_skill: str | None, handed_over_by: str | None = None) -> Conversation | None:
        k = self._keys
        moved = await self._s.requeue(
            keys=[k.conversation(conversation_id), k.queue],
            args=[k.prefix, conversation_id, expected_counsellor_id or "", repr(queued_at),
                  whole_ms(queued_at), required_skill or "", handed_over_by or ""],
        )
        return parse_conversation(pairs(moved)) if moved else None

    @redis_errors
    async def hand_over(self, conversation_id: str, expected_counsellor_id: str | None, to_counsellor_id: str,
                        capacity: int, at: float) -> Reassignment:
        k = self._keys
        outcome, previous_owner = await self._s.reassign(
            keys=[k.conversation(conversation_id), k.queue, k.counsellor(to_counsellor_id),
                  k.counsellor_open(to_counsellor_id)],
            args=[k.prefix, conversation_id, expected_counsellor_id or "", to_counsellor_id, capacity, repr(at)],
        )
        return Reassignment(AssignOutcome(outcome), previous_owner or None)

    @redis_errors
    async def conversations_since(self, since: float) -> list[Conversation]:
        ids = await self._r.zrangebyscore(self._keys.conversation_ids, repr(since), "+inf")
        return await self._conversations(ids)

    @redis_errors
    async def close_conversation(
        self, conversation_id: str, reason: CloseReason, at: float
    ) -> Conversation | None:
        k = self._keys
        closed = await self._s.close(
            keys=[k.conversation(conversation_id), k.queue, k.closed, k.messages(conversation_id),
                  k.delivery(conversation_id)],
            args=[k.prefix, conversation_id, reason.value, repr(at), self._content_ttl],
        )
        return parse_conversation(pairs(closed)) if closed else None

    # --- retention ----------------------------------------------------------------
    @redis_errors
    async def erase_conversation(self, conversation_id: str, at: float) -> bool:
        k = self._keys
        erased = await self._s.erase(
            keys=[k.conversation(conversation_id), k.messages(conversation_id), k.delivery(conversation_id),
                  k.outbox, k.outbox_attempts, k.closed, k.links(conversation_id), k.outbox_windows],
            args=[k.prefix, conversation_id, repr(at), ERASED_SENDER_KEY, ERASED_ALIAS],
        )
        return bool(erased)

    @redis_errors
    async def closed_before(self, before: float, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return await self._r.zrangebyscore(self._keys.closed, "-inf", f"({before!r}", start=0, num=limit)

    # --- messages ---------------------------------------------------------------
    @redis_errors
    async def append_message(self, conversation_id: str, message: NewMessage) -> Message:
        k = self._keys
        seq = int(await self._s.append(
            keys=[k.messages(conversation_id), k.delivery(conversation_id), k.outbox, k.conversation(conversation_id),
                  k.outbox_windows],
            args=[encode_message(message), encode_window(message.window) if message.window else "",
                  repr(message.at), conversation_id, self._content_ttl],
        ))
        return Message(conversation_id, seq, message.author, message.text, message.at, message.author_name,
                       delivery=Delivery.PENDING if message.deliver else None)

    @redis_errors
    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[Message]:
        start = max(after_seq, 0)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(self._keys.messages(conversation_id), start, -1)
            pipe.hgetall(self._keys.delivery(conversation_id))
            raw, deliveries = await pipe.execute()
        messages = [parse_message(conversation_id, start + i + 1, item) for i, item in enumerate(raw)]
        return [with_delivery(m, deliveries.get(str(m.seq))) for m in messages]

    # --- outbound delivery --------------------------------------------------------
    @redis_errors
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        k = self._keys
        flat_jobs = await self._s.claim_deliveries(keys=[k.outbox, k.outbox_attempts, k.outbox_windows],
                                                   args=[repr(now), repr(now + lease), limit])
        jobs = []
        for member, attempts, window in zip(flat_jobs[::3], flat_jobs[1::3], flat_jobs[2::3]):
            conversation_id, seq = member.rsplit("|", 1)
            jobs.append(DeliveryJob(conversation_id, int(seq), int(attempts), parse_window(window)))
        return jobs

    @redis_errors
    async def retry_delivery(self, job: DeliveryJob, due_at: float) -> None:
        await self._s.retry_delivery(keys=[self._keys.outbox, self._keys.outbox_attempts],
                                     args=[f"{job.conversation_id}|{job.seq}", repr(due_at), job.attempts + 1])

    @redis_errors
    async def finish_delivery(self, job: DeliveryJob) -> None:
        member = f"{job.conversation_id}|{job.seq}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(self._keys.outbox, member)
            pipe.hdel(self._keys.outbox_attempts, member)
            pipe.hdel(self._keys.outbox_windows, member)
            await pipe.execute()

    @redis_errors
    async def set_delivery(self, conversation_id: str, seq: int, state: Delivery, error: str | None = None) -> None:
        await self._s.set_delivery(keys=[self._keys.messages(conversation_id), self._keys.delivery(conversation_id)],
                                   args=[seq, f"{state.value}|{error or ''}"])

    @redis_errors
    async def link_provider_message(
        self, channel: str, provider_message_id: str, conversation_id: str, seq: int, ttl: int
    ) -> None:
        key, links = self._keys.provider(channel, provider_message_id), self._keys.links(conversation_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(key, f"{conversation_id}|{seq}", ex=ttl)
            pipe.sadd(links, key)
            pipe.expire(links, ttl)
            await pipe.execute()

    @redis_errors
    async def find_provider_message(self, channel: str, provider_message_id: str) -> tuple[str, int] | None:
        value = await self._r.get(self._keys.provider(channel, provider_message_id))
        if not value:
            return None
        conversation_id, seq = value.rsplit("|", 1)
        return conversation_id, int(seq)
