"""The Redis store: production state shared by every gateway process.

Key layout (all under f"{prefix}:"; `{…}` is a Cluster hash tag):
    dedupe:{sha256}            "1" with a TTL           claimed (channel, provider message id)
    conv:{id}                  hash                    one conversation's fields (redis_codec)
    conv:{id}:msgs             list of orjson          its history; RPUSH's new length is the seq
    convs                      sorted set of conv ids  every conversation, scored by opened_at
    closed                     sorted set of conv ids  closed, not yet erased, scored by closed_at
    abuse                      hash sender_key → "until|alias"  pseudonyms marked abusive (pruned when ended)
    active:{sender_key}        string → conv id        the sender's open conversation
    queue                      sorted set of conv ids  waiting conversations (see queue_score)
    counsellor:{id}            hash                    one counsellor's fields (skills comma-joined)
    counsellor:{id}:open       set of conv ids         their assigned, open conversations
    counsellors                set of counsellor ids
    username:{username}        string → counsellor id
    session:{token_hash}       string → counsellor id, with a TTL
    conv:{id}:delivery         hash seq → state|error  delivery of our Messenger/WhatsApp messages
    outbox                     sorted set "id|seq"     messages to send, scored by when they are due
    outbox:attempts            hash "id|seq" → n       attempts made so far
    outbox:windows             hash "id|seq" → "free_until|tagged_until"  the job's send window
    provider:{sha256}          string "id|seq", TTL    which message a platform message id is
    conv:{id}:links            set of provider keys    its provider keys, for the erase (same TTL)

Every state change that must not race is one Lua script (redis_scripts), so two gateway
processes never give one sender two conversations nor assign one conversation twice. The
create, assign, reassign, requeue and close scripts touch keys of several slots (the queue,
the sender's key, the counsellors' sets), and some build key names inside the script, so
Redis Cluster is not supported yet: a single Redis (or one behind Sentinel) is.

Where the teen's words and platform ids live, and how long (retention):
- Message texts: only in `conv:{id}:msgs`. Platform ids (PSID, phone number, our page or number
  id, the latest inbound message id): only in the `conv:{id}` hash (`reply_to`, `business_id`,
  `last_inbound_id`), which needs them to reply. Triage's `priority_reason` may quote the teen.
- No key name holds a platform id: dedupe and provider keys are SHA-256 digests, and only
  hold "1" or "id|seq", with their TTL. `active:{sender_key}` names the pseudonym (an HMAC of
  the platform id under the secret pseudonym key: without the key it leads nowhere, with it a
  second hash would not either); it exists only while the conversation is open (the close and
  erase scripts delete it).
- `erase_conversation` (the retention sweeper, or a supervisor's request) deletes the content
  keys and the conversation's provider keys, and blanks those fields, in one script; the hash
  keeps the figures, with no TTL. Dedupe keys stay until their TTL: they lead to no conversation.
- Safety net: when a conversation closes (or a message is added to a closed one), its content
  keys get a TTL of `content_ttl` (retention + 1 day): the texts never outlive the retention
  by more than a day, even if no sweeper runs. Redis 7.0 cannot expire single hash fields, so
  the ids in `conv:{id}` rely on the sweeper alone.

redis-py's own retries are off: a script whose reply was lost must not run a second time
behind the caller's back. Every Redis failure leaves as `StoreError` (retryable); the
caller decides. Shortcuts: the `convs` index and the aggregate hashes are never trimmed;
conversations stored before `convs` existed are not in it, and those closed before `closed`
existed are not in that one (the sweeper does not see them; their content keys have no TTL).
A message appended to an already erased conversation (a race with a late writer) is not
erased again by the sweeper; the TTL removes it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.domain.config import Config
from gateway.domain.errors import StoreError
from gateway.domain.model import CloseReason, Conversation, ConversationState, Counsellor, Delivery, Message, Presence
from gateway.domain.model import QueueEntry, Role
from . import redis_scripts as lua
from gateway.core.ports import (
    ERASED_ALIAS,
    ERASED_SENDER_KEY,
    AssignOutcome,
    DeliveryJob,
    NewMessage,
    Store,
    content_ttl_seconds,
)
from gateway.store.redis_codec import (
    check_priority,
    conversation_fields,
    counsellor_fields,
    encode_message,
    encode_window,
    flat,
    mark_values,
    pairs,
    parse_conversation,
    parse_counsellor,
    parse_message,
    parse_window,
    queue_score,
    skills_value,
    whole_ms,
    with_delivery,
)

T = TypeVar("T")
POOL_SIZE = 64
POOL_WAIT = 5.0


class _Keys:
    """Key names; see the module docstring."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self.conversation_ids = f"{prefix}:convs"
        self.closed = f"{prefix}:closed"
        self.abuse = f"{prefix}:abuse"
        self.counsellor_ids = f"{prefix}:counsellors"
        self.outbox = f"{prefix}:outbox"
        self.outbox_attempts = f"{prefix}:outbox:attempts"
        self.outbox_windows = f"{prefix}:outbox:windows"

    def dedupe(self, channel: str, provider_message_id: str) -> str:
        # Hashed: a provider id can be long and is nobody's business in a key listing.
        digest = hashlib.sha256(f"{channel}\x00{provider_message_id}".encode()).hexdigest()
        return f"{self.prefix}:dedupe:{digest}"

    def conversation(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}"

    def delivery(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:delivery"

    def provider(self, channel: str, provider_message_id: str) -> str:
        digest = hashlib.sha256(f"{channel}\x00{provider_message_id}".encode()).hexdigest()
        return f"{self.prefix}:provider:{digest}"

    def links(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:links"

    def messages(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:msgs"

    def active(self, sender_key: str) -> str:
        return f"{self.prefix}:active:{sender_key}"

    def counsellor(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}"

    def counsellor_open(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}:open"

    def username(self, username: str) -> str:
        return f"{self.prefix}:username:{username}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}:session:{token_hash}"


def _redis_errors(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The boundary: every Redis failure of a store call leaves as StoreError."""

    @functools.wraps(method)
    async def guarded(self: RedisStore, *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis store {method.__name__}: {exc}") from exc

    return guarded


class _Scripts:
    """The Lua scripts registered on one client (each re-loads itself after a NOSCRIPT)."""

    def __init__(self, client: aioredis.Redis) -> None:
        script = client.register_script
        self.create = script(lua.CREATE_OR_GET_ACTIVE)
        self.assign = script(lua.TRY_ASSIGN)
        self.reassign = script(lua.REASSIGN)
        self.requeue = script(lua.REQUEUE)
        self.raise_priority = script(lua.RAISE_PRIORITY)
        self.close = script(lua.CLOSE)
        self.erase = script(lua.ERASE)
        self.touch_teen = script(lua.TOUCH_TEEN)
        self.mark_answered = script(lua.MARK_ANSWERED)
        self.update_if_exists = script(lua.UPDATE_IF_EXISTS)
        self.set_presence = script(lua.SET_PRESENCE)
        self.add_counsellor = script(lua.ADD_COUNSELLOR)
        self.append = script(lua.APPEND)
        self.set_delivery = script(lua.SET_DELIVERY)
        self.claim_deliveries = script(lua.CLAIM_DELIVERIES)
        self.retry_delivery = script(lua.RETRY_DELIVERY)

    async def load(self, client: aioredis.Redis) -> None:
        """Load every script now, to fail fast at start."""
        for registered in vars(self).values():
            await client.script_load(registered.script)


class RedisStore(Store):
    kind = "redis"

    def __init__(self, url: str, prefix: str = Config.store_prefix,
                 content_ttl: int = content_ttl_seconds(Config.retention_days)) -> None:
        """`content_ttl`: seconds a closed conversation's messages and delivery states live at
        most (the retention's safety net; 0 = no TTL)."""
        self._url = url
        self._keys = _Keys(prefix)
        self._content_ttl = max(int(content_ttl), 0)
        self._redis: aioredis.Redis | None = None
        self._lua: _Scripts | None = None

    # --- lifecycle -------------------------------------------------------------
    @_redis_errors
    async def start(self) -> None:
        """Connect and load the scripts (fails fast with StoreError if Redis is down)."""
        # A blocking pool: under a burst, a caller waits for a free connection (up to
        # POOL_WAIT seconds) instead of failing at once, which dropped messages in the benchmark.
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            decode_responses=True,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            retry=Retry(NoBackoff(), 0),
        )
        client = aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it
        self._redis = client
        self._lua = _Scripts(client)
        await self._lua.load(client)

    async def close(self) -> None:
        if self._redis is not None:
            client, self._redis, self._lua = self._redis, None, None
            await client.aclose()

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreError("redis store is not started")
        return self._redis

    @property
    def _s(self) -> _Scripts:
        if self._lua is None:
            raise StoreError("redis store is not started")
        return self._lua

    async def _each(self, ids: Iterable[str], command: Callable[[Any, str], object]) -> list[Any]:
        """One pipelined round trip: `command(pipe, id)` for each id."""
        async with self._r.pipeline(transaction=False) as pipe:
            for item in ids:
                command(pipe, item)
            return await pipe.execute()

    async def _conversations(self, ids: Iterable[str]) -> list[Conversation]:
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.conversation(i)))
        return [parse_conversation(f) for f in rows if f]

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError, StoreError):
            return False

    # --- inbound dedupe ---------------------------------------------------------
    @_redis_errors
    async def claim_message_id(self, channel: str, provider_message_id: str, ttl: int) -> bool:
        key = self._keys.dedupe(channel, provider_message_id)
        return bool(await self._r.set(key, "1", nx=True, ex=ttl))

    @_redis_errors
    async def release_message_id(self, channel: str, provider_message_id: str) -> None:
        await self._r.delete(self._keys.dedupe(channel, provider_message_id))

    # --- conversations ----------------------------------------------------------
    @_redis_errors
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
            return conversation, True
        return parse_conversation(pairs(existing)), False

    @_redis_errors
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

    @_redis_errors
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        fields = await self._r.hgetall(self._keys.conversation(conversation_id))
        return parse_conversation(fields) if fields else None

    @_redis_errors
    async def active_conversation_of(self, sender_key: str) -> Conversation | None:
        conversation_id = await self._r.get(self._keys.active(sender_key))
        if conversation_id is None:
            return None
        conversation = await self.get_conversation(conversation_id)
        return conversation if conversation is not None and conversation.is_open else None

    @_redis_errors
    async def touch_teen(self, conversation_id: str, at: float, inbound_id: str | None = None) -> None:
        await self._s.touch_teen(keys=[self._keys.conversation(conversation_id)], args=[repr(at), inbound_id or ""])

    @_redis_errors
    async def mark_answered(self, conversation_id: str, at: float) -> None:
        await self._s.mark_answered(keys=[self._keys.conversation(conversation_id)], args=[repr(at)])

    @_redis_errors
    async def set_marks(self, conversation_id: str, marks: dict[str, float | int | None]) -> None:
        values = mark_values(marks)  # ValueError before any I/O
        if values:
            await self._s.update_if_exists(keys=[self._keys.conversation(conversation_id)], args=flat(values))

    @_redis_errors
    async def raise_priority(self, conversation_id: str, priority: int, reason: str,
                             required_skill: str | None) -> bool:
        check_priority(priority)
        raised = await self._s.raise_priority(
            keys=[self._keys.conversation(conversation_id), self._keys.queue],
            args=[conversation_id, priority, reason, required_skill or ""],
        )
        return bool(raised)

    @_redis_errors
    async def requeue(self, conversation_id: str, expected_counsellor_id: str | None, queued_at: float,
                      required_skill: str | None) -> Conversation | None:
        k = self._keys
        moved = await self._s.requeue(
            keys=[k.conversation(conversation_id), k.queue],
            args=[k.prefix, conversation_id, expected_counsellor_id or "", repr(queued_at),
                  whole_ms(queued_at), required_skill or ""],
        )
        return parse_conversation(pairs(moved)) if moved else None

    @_redis_errors
    async def reassign(self, conversation_id: str, expected_counsellor_id: str | None, to_counsellor_id: str,
                       capacity: int, at: float) -> AssignOutcome:
        k = self._keys
        outcome = await self._s.reassign(
            keys=[k.conversation(conversation_id), k.queue, k.counsellor(to_counsellor_id),
                  k.counsellor_open(to_counsellor_id)],
            args=[k.prefix, conversation_id, expected_counsellor_id or "", to_counsellor_id, capacity, repr(at)],
        )
        return AssignOutcome(outcome)

    @_redis_errors
    async def conversations_since(self, since: float) -> list[Conversation]:
        ids = await self._r.zrangebyscore(self._keys.conversation_ids, repr(since), "+inf")
        return await self._conversations(ids)

    @_redis_errors
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
    @_redis_errors
    async def erase_conversation(self, conversation_id: str, at: float) -> bool:
        k = self._keys
        erased = await self._s.erase(
            keys=[k.conversation(conversation_id), k.messages(conversation_id), k.delivery(conversation_id),
                  k.outbox, k.outbox_attempts, k.closed, k.links(conversation_id), k.outbox_windows],
            args=[k.prefix, conversation_id, repr(at), ERASED_SENDER_KEY, ERASED_ALIAS],
        )
        return bool(erased)

    @_redis_errors
    async def closed_before(self, before: float, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return await self._r.zrangebyscore(self._keys.closed, "-inf", f"({before!r}", start=0, num=limit)

    # --- messages ---------------------------------------------------------------
    @_redis_errors
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

    @_redis_errors
    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[Message]:
        start = max(after_seq, 0)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(self._keys.messages(conversation_id), start, -1)
            pipe.hgetall(self._keys.delivery(conversation_id))
            raw, deliveries = await pipe.execute()
        messages = [parse_message(conversation_id, start + i + 1, item) for i, item in enumerate(raw)]
        return [with_delivery(m, deliveries.get(str(m.seq))) for m in messages]

    # --- outbound delivery --------------------------------------------------------
    @_redis_errors
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        k = self._keys
        flat_jobs = await self._s.claim_deliveries(keys=[k.outbox, k.outbox_attempts, k.outbox_windows],
                                                   args=[repr(now), repr(now + lease), limit])
        jobs = []
        for member, attempts, window in zip(flat_jobs[::3], flat_jobs[1::3], flat_jobs[2::3]):
            conversation_id, seq = member.rsplit("|", 1)
            jobs.append(DeliveryJob(conversation_id, int(seq), int(attempts), parse_window(window)))
        return jobs

    @_redis_errors
    async def retry_delivery(self, job: DeliveryJob, due_at: float) -> None:
        await self._s.retry_delivery(keys=[self._keys.outbox, self._keys.outbox_attempts],
                                     args=[f"{job.conversation_id}|{job.seq}", repr(due_at), job.attempts + 1])

    @_redis_errors
    async def finish_delivery(self, job: DeliveryJob) -> None:
        member = f"{job.conversation_id}|{job.seq}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(self._keys.outbox, member)
            pipe.hdel(self._keys.outbox_attempts, member)
            pipe.hdel(self._keys.outbox_windows, member)
            await pipe.execute()

    @_redis_errors
    async def set_delivery(self, conversation_id: str, seq: int, state: Delivery, error: str | None = None) -> None:
        await self._s.set_delivery(keys=[self._keys.messages(conversation_id), self._keys.delivery(conversation_id)],
                                   args=[seq, f"{state.value}|{error or ''}"])

    @_redis_errors
    async def link_provider_message(
        self, channel: str, provider_message_id: str, conversation_id: str, seq: int, ttl: int
    ) -> None:
        key, links = self._keys.provider(channel, provider_message_id), self._keys.links(conversation_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(key, f"{conversation_id}|{seq}", ex=ttl)
            pipe.sadd(links, key)
            pipe.expire(links, ttl)
            await pipe.execute()

    @_redis_errors
    async def find_provider_message(self, channel: str, provider_message_id: str) -> tuple[str, int] | None:
        value = await self._r.get(self._keys.provider(channel, provider_message_id))
        if not value:
            return None
        conversation_id, seq = value.rsplit("|", 1)
        return conversation_id, int(seq)

    # --- queue and assignment ---------------------------------------------------
    @_redis_errors
    async def queue(self) -> list[QueueEntry]:
        ids = await self._r.zrange(self._keys.queue, 0, -1)
        fields = ["priority", "queued_at", "opened_at", "required_skill"]
        rows = await self._each(ids, lambda pipe, i: pipe.hmget(self._keys.conversation(i), fields))
        entries = [
            QueueEntry(conversation_id, int(priority or 0), float(queued_at or opened_at), skill or None)
            for conversation_id, (priority, queued_at, opened_at, skill) in zip(ids, rows)
            if opened_at is not None  # no hash (never stored): skip
        ]
        # The score orders by whole ms; this sort restores exact order within one ms.
        entries.sort(key=lambda e: (-e.priority, e.queued_at, e.conversation_id))
        return entries

    @_redis_errors
    async def try_assign(
        self, conversation_id: str, counsellor_id: str, capacity: int, at: float
    ) -> AssignOutcome:
        k = self._keys
        outcome = await self._s.assign(
            keys=[k.conversation(conversation_id), k.queue, k.counsellor(counsellor_id),
                  k.counsellor_open(counsellor_id)],
            args=[conversation_id, counsellor_id, capacity, repr(at)],
        )
        return AssignOutcome(outcome)

    @_redis_errors
    async def conversations_of(self, counsellor_id: str) -> list[Conversation]:
        ids = await self._r.smembers(self._keys.counsellor_open(counsellor_id))
        mine = await self._conversations(ids)
        mine = [c for c in mine if c.counsellor_id == counsellor_id and c.state is ConversationState.ASSIGNED]
        return sorted(mine, key=lambda c: c.assigned_at or 0)

    # --- counsellors ------------------------------------------------------------
    @_redis_errors
    async def add_counsellor(self, counsellor: Counsellor) -> None:
        k = self._keys
        added = await self._s.add_counsellor(
            keys=[k.username(counsellor.username), k.counsellor(counsellor.id), k.counsellor_ids],
            args=[counsellor.id, *flat(counsellor_fields(counsellor))],
        )
        if not added:
            raise ValueError(f"username {counsellor.username!r} is taken")

    @_redis_errors
    async def get_counsellor(self, counsellor_id: str) -> Counsellor | None:
        fields = await self._r.hgetall(self._keys.counsellor(counsellor_id))
        return parse_counsellor(fields) if fields else None

    @_redis_errors
    async def counsellor_by_username(self, username: str) -> Counsellor | None:
        counsellor_id = await self._r.get(self._keys.username(username))
        return await self.get_counsellor(counsellor_id) if counsellor_id else None

    @_redis_errors
    async def counsellors(self) -> list[Counsellor]:
        ids = await self._r.smembers(self._keys.counsellor_ids)
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.counsellor(i)))
        # A set has no order; by username is stable (the memory store keeps insertion order).
        return sorted((parse_counsellor(f) for f in rows if f), key=lambda c: c.username)

    @_redis_errors
    async def set_presence(self, counsellor_id: str, presence: Presence, at: float) -> None:
        await self._s.set_presence(keys=[self._keys.counsellor(counsellor_id)], args=[presence.value, repr(at)])

    @_redis_errors
    async def update_counsellor(self, counsellor_id: str, *, skills: frozenset[str] | None = None,
                                max_conversations: int | None = None, clear_max: bool = False,
                                role: Role | None = None) -> Counsellor | None:
        changes: dict[str, str] = {}  # "" deletes the field (see UPDATE_IF_EXISTS)
        if skills is not None:
            changes["skills"] = skills_value(skills)
        if clear_max and max_conversations is not None:
            raise ValueError("max_conversations and clear_max together")
        if clear_max or max_conversations is not None:
            changes["max_conversations"] = "" if clear_max else str(max_conversations)
        if role is not None:
            changes["role"] = role.value
        updated = await self._s.update_if_exists(keys=[self._keys.counsellor(counsellor_id)], args=flat(changes))
        return parse_counsellor(pairs(updated)) if updated else None

    @_redis_errors
    async def loads(self) -> dict[str, int]:
        ids = sorted(await self._r.smembers(self._keys.counsellor_ids))
        counts = await self._each(ids, lambda pipe, i: pipe.scard(self._keys.counsellor_open(i)))
        return dict(zip(ids, counts))

    # --- console sessions -------------------------------------------------------
    @_redis_errors
    async def create_session(self, token_hash: str, counsellor_id: str, ttl: int) -> None:
        await self._r.set(self._keys.session(token_hash), counsellor_id, ex=ttl)

    @_redis_errors
    async def session_counsellor(self, token_hash: str) -> str | None:
        return await self._r.get(self._keys.session(token_hash))

    @_redis_errors
    async def delete_session(self, token_hash: str) -> None:
        await self._r.delete(self._keys.session(token_hash))

    # --- abuse marks: one hash, sender key -> "until|alias" (a few entries; ended ones pruned) ---
    @_redis_errors
    async def mark_abusive(self, sender_key: str, alias: str, until: float) -> None:
        await self._r.hset(self._keys.abuse, sender_key, f"{until!r}|{alias}")

    @_redis_errors
    async def abuse_until(self, sender_key: str, now: float) -> float | None:
        raw = await self._r.hget(self._keys.abuse, sender_key)
        until = float(raw.partition("|")[0]) if raw else None
        return until if until is not None and until > now else None

    @_redis_errors
    async def abuse_marks(self, now: float) -> list[tuple[str, str, float]]:
        marks, ended = [], []
        for key, raw in (await self._r.hgetall(self._keys.abuse)).items():
            until, _, alias = raw.partition("|")
            (marks if float(until) > now else ended).append((key, alias, float(until)))
        if ended:
            await self._r.hdel(self._keys.abuse, *(key for key, _, _ in ended))
        return marks

    @_redis_errors
    async def lift_abuse(self, sender_key: str) -> bool:
        return bool(await self._r.hdel(self._keys.abuse, sender_key))
