"""The Redis store: production state shared by every gateway process.

Key layout (all under f"{prefix}:"; `{…}` is a Cluster hash tag):
    dedupe:{sha256}            "1" with a TTL           claimed (channel, provider message id)
    conv:{id}                  hash                    one conversation's fields
    conv:{id}:msgs             list of orjson          its history; RPUSH's new length is the seq
    active:{sender_key}        string → conv id        the sender's open conversation
    queue                      sorted set of conv ids  waiting conversations (see _queue_score)
    counsellor:{id}            hash                    one counsellor's fields
    counsellor:{id}:open       set of conv ids         their assigned, open conversations
    counsellors                set of counsellor ids
    username:{username}        string → counsellor id
    session:{token_hash}       string → counsellor id, with a TTL
    conv:{id}:delivery         hash seq → state|error  delivery of our Messenger/WhatsApp messages
    outbox                     sorted set "id|seq"     messages to send, scored by when they are due
    outbox:attempts            hash "id|seq" → n       attempts made so far
    provider:{sha256}          string "id|seq", TTL    which message a platform message id is

Every state change that must not race is one Lua script, so two gateway processes never
give one sender two conversations nor assign one conversation twice. The create, assign
and close scripts touch keys of several slots (the queue, the sender's key, the
counsellor's set), and create and close build key names inside the script, so Redis Cluster is not
supported yet: a single Redis (or one behind Sentinel) is.

redis-py's own retries are off: a script whose reply was lost must not run a second time
behind the caller's back. Every Redis failure leaves as `StoreError` (retryable); the
caller decides. Shortcut: the message list is never trimmed (no retention yet).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..errors import StoreError
from ..model import Author, Channel, CloseReason, Conversation, ConversationState, Counsellor, Delivery
from ..model import Message, Presence, QueueEntry, Role
from .base import AssignOutcome, DeliveryJob, NewMessage, Store

T = TypeVar("T")
POOL_SIZE = 64
POOL_WAIT = 5.0

# KEYS: active key, new conversation hash, queue. ARGV: prefix, id, queue score ("" = not
# queued), field/value pairs. Returns nil when it stored the new conversation, else the
# fields of the sender's open conversation. The key name built here mirrors _Keys.conversation.
_CREATE_OR_GET_ACTIVE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local key = ARGV[1] .. ':conv:{' .. existing .. '}'
  local state = redis.call('HGET', key, 'state')
  if state and state ~= 'closed' then return redis.call('HGETALL', key) end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
return false
"""

# KEYS: conversation hash, queue, counsellor hash, counsellor's open set.
# ARGV: conversation id, counsellor id, capacity, at. Returns an AssignOutcome value.
_TRY_ASSIGN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 'not_queued' end
if redis.call('HGET', KEYS[3], 'presence') ~= 'available' then return 'not_available' end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'assigned', 'counsellor_id', ARGV[2], 'assigned_at', ARGV[4])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[3], 'last_assigned_at', ARGV[4])
return 'assigned'
"""

# KEYS: conversation hash, queue. ARGV: prefix, conversation id, reason, at.
# Key names built here mirror _Keys.counsellor_open and _Keys.active.
_CLOSE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'counsellor_id', 'sender_key')
if not f[1] or f[1] == 'closed' then return false end
redis.call('HSET', KEYS[1], 'state', 'closed', 'close_reason', ARGV[3], 'closed_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[2])
if f[2] then redis.call('SREM', ARGV[1] .. ':counsellor:{' .. f[2] .. '}:open', ARGV[2]) end
local active = ARGV[1] .. ':active:' .. f[3]
if redis.call('GET', active) == ARGV[2] then redis.call('DEL', active) end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: username key, counsellor hash, counsellor id set. ARGV: id, field/value pairs.
_ADD_COUNSELLOR = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

# KEYS: conversation hash. ARGV: at. Starts `waiting_since` only if it was unset.
_TOUCH_TEEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_teen_message_at', ARGV[1])
redis.call('HSETNX', KEYS[1], 'waiting_since', ARGV[1])
return 1
"""

# KEYS: a hash. ARGV: field, value. Updates a known record, never creates a partial one.
_HSET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class _Keys:
    """Key names; see the module docstring."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self.counsellor_ids = f"{prefix}:counsellors"
        self.outbox = f"{prefix}:outbox"
        self.outbox_attempts = f"{prefix}:outbox:attempts"

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


# --- serialisation: explicit fields, floats by repr (exact round trip), None = absent ------


def _opt_float(value: str | None) -> float | None:
    return float(value) if value else None


def _opt_repr(value: float | None) -> str | None:
    return None if value is None else repr(value)


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _pairs(raw: list[str]) -> dict[str, str]:
    return dict(zip(raw[::2], raw[1::2]))


def _conversation_fields(c: Conversation) -> dict[str, str]:
    fields = {
        "id": c.id,
        "channel": c.channel.value,
        "sender_key": c.sender_key,
        "alias": c.alias,
        "state": c.state.value,
        "opened_at": repr(c.opened_at),
        "priority": str(c.priority),
        "counsellor_id": c.counsellor_id,
        "queued_at": _opt_repr(c.queued_at),
        "assigned_at": _opt_repr(c.assigned_at),
        "closed_at": _opt_repr(c.closed_at),
        "close_reason": c.close_reason.value if c.close_reason else None,
        "last_teen_message_at": _opt_repr(c.last_teen_message_at),
        "waiting_since": _opt_repr(c.waiting_since),
        "reply_to": c.reply_to,
        "business_id": c.business_id,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _parse_conversation(f: dict[str, str]) -> Conversation:
    return Conversation(
        id=f["id"],
        channel=Channel(f["channel"]),
        sender_key=f["sender_key"],
        alias=f["alias"],
        state=ConversationState(f["state"]),
        opened_at=float(f["opened_at"]),
        priority=int(f.get("priority") or 0),
        counsellor_id=f.get("counsellor_id") or None,
        queued_at=_opt_float(f.get("queued_at")),
        assigned_at=_opt_float(f.get("assigned_at")),
        closed_at=_opt_float(f.get("closed_at")),
        close_reason=CloseReason(f["close_reason"]) if f.get("close_reason") else None,
        last_teen_message_at=_opt_float(f.get("last_teen_message_at")),
        waiting_since=_opt_float(f.get("waiting_since")),
        reply_to=f.get("reply_to") or None,
        business_id=f.get("business_id") or None,
    )


def _counsellor_fields(c: Counsellor) -> dict[str, str]:
    fields = {
        "id": c.id,
        "username": c.username,
        "display_name": c.display_name,
        "password_hash": c.password_hash,
        "role": c.role.value,
        "presence": c.presence.value,
        "last_assigned_at": repr(c.last_assigned_at),
        "max_conversations": None if c.max_conversations is None else str(c.max_conversations),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _parse_counsellor(f: dict[str, str]) -> Counsellor:
    return Counsellor(
        id=f["id"],
        username=f["username"],
        display_name=f["display_name"],
        password_hash=f["password_hash"],
        role=Role(f["role"]),
        presence=Presence(f["presence"]),
        max_conversations=int(f["max_conversations"]) if f.get("max_conversations") else None,
        last_assigned_at=float(f.get("last_assigned_at") or 0.0),
    )


def _encode_message(m: NewMessage) -> bytes:
    # orjson writes the shortest float that reads back identical, so `at` round-trips.
    return orjson.dumps({"author": m.author.value, "text": m.text, "at": m.at, "author_name": m.author_name})


def _parse_message(conversation_id: str, seq: int, raw: str) -> Message:
    d = orjson.loads(raw)
    return Message(conversation_id, seq, Author(d["author"]), d["text"], d["at"], d.get("author_name"))


def _with_delivery(m: Message, raw: str | None) -> Message:
    if not raw:
        return m
    state, _, error = raw.partition("|")
    return replace(m, delivery=Delivery(state), delivery_error=error or None)


def _queue_score(c: Conversation) -> int:
    """Priority desc, then arrival asc, as one score that a double holds exactly.

    Arrival in whole ms stays below 1e13 until the year 2286, and -priority * 1e13 + ms is an
    exact integer in a double while |score| < 2**53, i.e. |priority| < 900. Arrivals within
    one ms are put back in exact order by `queue()`.
    """
    if abs(c.priority) >= 900:
        raise ValueError(f"priority {c.priority} out of range (-899..899)")
    arrival = c.queued_at if c.queued_at is not None else c.opened_at
    return -c.priority * 10**13 + round(arrival * 1000)


def _redis_errors(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The boundary: every Redis failure of a store call leaves as StoreError."""

    @functools.wraps(method)
    async def guarded(self: RedisStore, *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis store {method.__name__}: {exc}") from exc

    return guarded

# KEYS: messages list, delivery hash, outbox. ARGV: encoded message, "1" to deliver, due, id.
# Storing a message and queueing its sending is one step: a reply is never stored unsent.
_APPEND = """
local seq = redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], seq, 'pending|')
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4] .. '|' .. seq)
end
return seq
"""

# KEYS: outbox, attempts hash. ARGV: now, lease end, limit. Leases due jobs, returns
# member, attempts pairs.
_CLAIM_DELIVERIES = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
  table.insert(out, member)
  table.insert(out, redis.call('HGET', KEYS[2], member) or '0')
end
return out
"""

# KEYS: outbox, attempts hash. ARGV: member, due, attempts. Only a job still in the outbox.
_RETRY_DELIVERY = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


class RedisStore(Store):
    kind = "redis"

    def __init__(self, url: str, prefix: str = "3018") -> None:
        self._url = url
        self._keys = _Keys(prefix)
        self._redis: aioredis.Redis | None = None

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
        self._create = client.register_script(_CREATE_OR_GET_ACTIVE)
        self._assign = client.register_script(_TRY_ASSIGN)
        self._close = client.register_script(_CLOSE)
        self._add_counsellor = client.register_script(_ADD_COUNSELLOR)
        self._touch_teen = client.register_script(_TOUCH_TEEN)
        self._hset_if_exists = client.register_script(_HSET_IF_EXISTS)
        self._append = client.register_script(_APPEND)
        self._claim_deliveries = client.register_script(_CLAIM_DELIVERIES)
        self._retry_delivery = client.register_script(_RETRY_DELIVERY)
        # Loaded now to fail fast; after a Redis restart each script re-loads itself (NOSCRIPT).
        for source in (_CREATE_OR_GET_ACTIVE, _TRY_ASSIGN, _CLOSE, _ADD_COUNSELLOR, _TOUCH_TEEN, _HSET_IF_EXISTS,
                       _APPEND, _CLAIM_DELIVERIES, _RETRY_DELIVERY):
            await client.script_load(source)

    async def close(self) -> None:
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreError("redis store is not started")
        return self._redis

    async def _each(self, ids: Iterable[str], command: Callable[[Any, str], object]) -> list[Any]:
        """One pipelined round trip: `command(pipe, id)` for each id."""
        async with self._r.pipeline(transaction=False) as pipe:
            for item in ids:
                command(pipe, item)
            return await pipe.execute()

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
        score = str(_queue_score(conversation)) if queued else ""
        existing = await self._create(
            keys=[k.active(conversation.sender_key), k.conversation(conversation.id), k.queue],
            args=[k.prefix, conversation.id, score, *_flat(_conversation_fields(conversation))],
        )
        if existing is None:
            return conversation, True
        return _parse_conversation(_pairs(existing)), False

    @_redis_errors
    async def create_closed(self, conversation: Conversation) -> None:
        await self._r.hset(self._keys.conversation(conversation.id), mapping=_conversation_fields(conversation))

    @_redis_errors
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        fields = await self._r.hgetall(self._keys.conversation(conversation_id))
        return _parse_conversation(fields) if fields else None

    @_redis_errors
    async def active_conversation_of(self, sender_key: str) -> Conversation | None:
        conversation_id = await self._r.get(self._keys.active(sender_key))
        if conversation_id is None:
            return None
        conversation = await self.get_conversation(conversation_id)
        return conversation if conversation is not None and conversation.is_open else None

    @_redis_errors
    async def touch_teen(self, conversation_id: str, at: float) -> None:
        await self._touch_teen(keys=[self._keys.conversation(conversation_id)], args=[repr(at)])

    @_redis_errors
    async def mark_answered(self, conversation_id: str) -> None:
        await self._r.hdel(self._keys.conversation(conversation_id), "waiting_since")

    @_redis_errors
    async def close_conversation(
        self, conversation_id: str, reason: CloseReason, at: float
    ) -> Conversation | None:
        k = self._keys
        closed = await self._close(
            keys=[k.conversation(conversation_id), k.queue],
            args=[k.prefix, conversation_id, reason.value, repr(at)],
        )
        return _parse_conversation(_pairs(closed)) if closed else None

    # --- messages ---------------------------------------------------------------
    @_redis_errors
    async def append_message(self, conversation_id: str, message: NewMessage) -> Message:
        k = self._keys
        if message.deliver:
            seq = int(await self._append(
                keys=[k.messages(conversation_id), k.delivery(conversation_id), k.outbox],
                args=[_encode_message(message), "1", repr(message.at), conversation_id],
            ))
        else:
            seq = await self._r.rpush(k.messages(conversation_id), _encode_message(message))
        return Message(conversation_id, seq, message.author, message.text, message.at, message.author_name,
                       delivery=Delivery.PENDING if message.deliver else None)

    @_redis_errors
    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[Message]:
        start = max(after_seq, 0)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(self._keys.messages(conversation_id), start, -1)
            pipe.hgetall(self._keys.delivery(conversation_id))
            raw, deliveries = await pipe.execute()
        messages = [_parse_message(conversation_id, start + i + 1, item) for i, item in enumerate(raw)]
        return [_with_delivery(m, deliveries.get(str(m.seq))) for m in messages]

    # --- outbound delivery --------------------------------------------------------
    @_redis_errors
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        flat = await self._claim_deliveries(keys=[self._keys.outbox, self._keys.outbox_attempts],
                                            args=[repr(now), repr(now + lease), limit])
        jobs = []
        for member, attempts in zip(flat[::2], flat[1::2]):
            conversation_id, seq = member.rsplit("|", 1)
            jobs.append(DeliveryJob(conversation_id, int(seq), int(attempts)))
        return jobs

    @_redis_errors
    async def retry_delivery(self, job: DeliveryJob, due_at: float) -> None:
        await self._retry_delivery(keys=[self._keys.outbox, self._keys.outbox_attempts],
                                   args=[f"{job.conversation_id}|{job.seq}", repr(due_at), job.attempts + 1])

    @_redis_errors
    async def finish_delivery(self, job: DeliveryJob) -> None:
        member = f"{job.conversation_id}|{job.seq}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(self._keys.outbox, member)
            pipe.hdel(self._keys.outbox_attempts, member)
            await pipe.execute()

    @_redis_errors
    async def set_delivery(self, conversation_id: str, seq: int, state: Delivery, error: str | None = None) -> None:
        await self._r.hset(self._keys.delivery(conversation_id), str(seq), f"{state.value}|{error or ''}")

    @_redis_errors
    async def link_provider_message(
        self, channel: str, provider_message_id: str, conversation_id: str, seq: int, ttl: int
    ) -> None:
        await self._r.set(self._keys.provider(channel, provider_message_id), f"{conversation_id}|{seq}", ex=ttl)

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
        fields = ["priority", "queued_at", "opened_at"]
        rows = await self._each(ids, lambda pipe, i: pipe.hmget(self._keys.conversation(i), fields))
        entries = [
            QueueEntry(conversation_id, int(priority or 0), float(queued_at or opened_at))
            for conversation_id, (priority, queued_at, opened_at) in zip(ids, rows)
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
        outcome = await self._assign(
            keys=[k.conversation(conversation_id), k.queue, k.counsellor(counsellor_id), k.counsellor_open(counsellor_id)],
            args=[conversation_id, counsellor_id, capacity, repr(at)],
        )
        return AssignOutcome(outcome)

    @_redis_errors
    async def conversations_of(self, counsellor_id: str) -> list[Conversation]:
        ids = await self._r.smembers(self._keys.counsellor_open(counsellor_id))
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.conversation(i)))
        mine = [_parse_conversation(f) for f in rows if f]
        mine = [c for c in mine if c.counsellor_id == counsellor_id and c.state is ConversationState.ASSIGNED]
        return sorted(mine, key=lambda c: c.assigned_at or 0)

    # --- counsellors ------------------------------------------------------------
    @_redis_errors
    async def add_counsellor(self, counsellor: Counsellor) -> None:
        k = self._keys
        added = await self._add_counsellor(
            keys=[k.username(counsellor.username), k.counsellor(counsellor.id), k.counsellor_ids],
            args=[counsellor.id, *_flat(_counsellor_fields(counsellor))],
        )
        if not added:
            raise ValueError(f"username {counsellor.username!r} is taken")

    @_redis_errors
    async def get_counsellor(self, counsellor_id: str) -> Counsellor | None:
        fields = await self._r.hgetall(self._keys.counsellor(counsellor_id))
        return _parse_counsellor(fields) if fields else None

    @_redis_errors
    async def counsellor_by_username(self, username: str) -> Counsellor | None:
        counsellor_id = await self._r.get(self._keys.username(username))
        return await self.get_counsellor(counsellor_id) if counsellor_id else None

    @_redis_errors
    async def counsellors(self) -> list[Counsellor]:
        ids = await self._r.smembers(self._keys.counsellor_ids)
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.counsellor(i)))
        # A set has no order; by username is stable (the memory store keeps insertion order).
        return sorted((_parse_counsellor(f) for f in rows if f), key=lambda c: c.username)

    @_redis_errors
    async def set_presence(self, counsellor_id: str, presence: Presence) -> None:
        await self._hset_if_exists(keys=[self._keys.counsellor(counsellor_id)], args=["presence", presence.value])

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
