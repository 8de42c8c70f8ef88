"""The Redis store: production state shared by every gateway process.

Key layout (all under f"{prefix}:"; `{…}` is a Cluster hash tag):
    dedupe:{sha256}            "id|seq" with a TTL      a claimed (channel, message id) and where its
                                                       message went ("1": a claim without a message)
    conv:{id}                  hash                    one conversation's fields (redis_codec)
    conv:{id}:msgs             list of orjson          its history; RPUSH's new length is the seq
    convs                      sorted set of conv ids  every conversation, scored by opened_at
    closed                     sorted set of conv ids  closed, not yet erased, scored by closed_at
    abuse                      hash sender_key → "until|alias"  pseudonyms marked abusive (pruned when ended)
    active:{sender_key}        string → conv id        the sender's open conversation
    queue                      sorted set of conv ids  waiting conversations (see queue_score)
    counsellor:{id}            hash                    one counsellor's fields (skills comma-joined)
    counsellor:{id}:open       set of conv ids         their assigned, open conversations
    counsellor:{id}:consoles   sorted set holder → until  processes holding a console of theirs (redis_consoles)
    counsellors                set of counsellor ids
    username:{username}        string → counsellor id
    session:{token_hash}       string → counsellor id, with a TTL
    counsellor:{id}:sessions   set of token hashes     their sessions, so a disable ends them all (redis_accounts)
    conv:{id}:delivery         hash seq → state|error  delivery of our Messenger/WhatsApp messages
    outbox                     sorted set "id|seq"     messages to send, scored by when they are due
    outbox:attempts            hash "id|seq" → n       attempts made so far
    outbox:windows             hash "id|seq" → "free_until|tagged_until"  the job's send window
    provider:{sha256}          string "id|seq", TTL    which message a platform message id is
    conv:{id}:links            set of provider keys    its provider keys, for the erase (same TTL)
    qual:{id}                  orjson                  a qualification record, anonymous (redis_casework)
    qual:{id}:summary          string                  its free summary: erased with the texts (ERASE)
    quals                      sorted set of conv ids  qualified conversations, scored by the close
    quals:uses:{field}:{value} set of conv ids         records using a value; quals:values lists the pairs
    notice:{id}                orjson                  a trusted-flagger notice (redis_notices); its locations
                                                       and texts blanked by erase_notice_content (retention)
    notices[:sent|:decided]    sorted sets of ids      notices by created_at, sent_at, decided_at
    notices:state:{s}, notices:conv:{id}  sets of ids  notices per state, per conversation
    notices:decision:{d}       sorted set of ids       decided notices by sent_at (live refused share)
    survey:{YYYY-MM-DD}        hash "channel:answer" → n  post-chat answers per day (no conversation id);
                                                       a conversation's one answer is a dedupe claim ("survey", id), 2-day TTL
    sender:{sender_key}:convs  sorted set of conv ids  the pseudonym's conversations by opened_at (returning
                                                       teens; TTL content_ttl, refreshed at create and close)
    sender:{sender_key}:links  set of sender keys      the same teen under other pseudonyms (a follow-up code)
    sender:{sender_key}:code   string → code hash      the widget teen's latest follow-up code (TTL)
    followup:{code_hash}       string → sender key     a follow-up code's keyed hash (TTL = retention)
    limit:{name}:{{key}}       sorted set of times     a shared limit's events in its window (redis_limits;
                                                       key: a keyed hash of an address or account; TTL = window)
    limit:{name}:{{key}}:lock  string → until (ms)     a login lock (TTL = the lockout)
    inbox:{prefix}[:{batch}]   sorted set + hashes      large webhook batches, parsed, until handled (redis_inbox; TTL 1 day)
    erased:{sender_key}        sorted set of conv ids  erasure receipts (redis_privacy): erased on request,
                                                       by receipt end (TTL ≤ the index's, retention + 1 day)

Every state change that must not race is one Lua script (redis_scripts), so two gateway
processes never give one sender two conversations nor assign one conversation twice. The
create, assign, reassign, requeue and close scripts touch several of the keys above (the
queue, the sender's key, the counsellors' sets), and some build key names inside the script.
On Redis Cluster (`redis+cluster://`) every name starts with `{prefix}` instead of `prefix`
(redis_client.keyspace_prefix): the helpline's whole keyspace is one hash tag, one slot, so
each script and MULTI stays atomic exactly as on a single Redis. The inner `{id}` tags are
then inert (Redis hashes the first `{…}` only); they are kept so a single Redis keeps its
existing key names.

Where the teen's words and platform ids live, and how long (retention):
- Message texts: only in `conv:{id}:msgs`. Platform ids (PSID, phone number, our page or number
  id, the latest inbound message id): only in the `conv:{id}` hash (`reply_to`, `business_id`,
  `last_inbound_id`), which needs them to reply. Triage's `priority_reason` may quote the teen.
- No key name holds a platform id: dedupe and provider keys are SHA-256 digests, and only
  hold "1" or "id|seq", with their TTL. `active:{sender_key}` names the pseudonym (an HMAC of
  the platform id under the secret pseudonym key: without the key it leads nowhere, with it a
  second hash would not either); it exists only while the conversation is open (the close and
  erase scripts delete it). The `sender:{sender_key}:*` keys (returning teens) name it too,
  each with a TTL of about the retention; ERASE prunes them (redis_senders).
- `erase_conversation` (the retention sweeper, or a supervisor's request) deletes the content
  keys and the conversation's provider keys, and blanks those fields, in one script; the hash
  keeps the figures, with no TTL. Dedupe keys stay until their TTL: a digest and
  "id|seq", they lead to the erased record only.
- Safety net: when a conversation closes (or a message is added to a closed one), its content
  keys get a TTL of `content_ttl` (retention + 1 day): the texts never outlive the retention
  by more than a day, even if no sweeper runs. Redis 7.0 cannot expire single hash fields, so
  the ids in `conv:{id}` rely on the sweeper alone.

Scripts are never retried by redis-py (a script whose reply was lost must not run a second
time behind the caller's back); reads and idempotent writes are (see `start`). Every Redis failure leaves as `StoreError` (retryable); the
caller decides. Shortcuts: the `convs` index and the aggregate hashes are never trimmed;
conversations stored before `convs` existed are not in it, and those closed before `closed`
existed are not in that one (the sweeper does not see them; their content keys have no TTL).
A message appended to an already erased conversation (a race with a late writer) is not
erased again by the sweeper; the TTL removes it.
"""


from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.core.ports import AssignOutcome, Store, content_ttl_seconds
from gateway.domain.config import Config
from gateway.domain.errors import ConfigError, StoreError
from gateway.domain.model import (
    Conversation,
    ConversationState,
    Counsellor,
    Presence,
    QueueEntry,
    Role,
)
from gateway.store.redis_client import keyspace_prefix, parse_store_url, redis_client, wait_for_replicas
from gateway.store.redis_codec import (
    counsellor_fields,
    flat,
    pairs,
    parse_counsellor,
    skills_value,
)
from gateway.store.redis_accounts import RedisAccountRecords
from gateway.store.redis_casework import RedisCasework
from gateway.store.redis_limits import RedisLimitCounters
from gateway.store.redis_privacy import RedisPrivacyLookups
from gateway.store.redis_inbox import RedisInbox
from gateway.store.redis_consoles import RedisConsoleHolds
from gateway.store.redis_conversations import RedisConversations
from gateway.store.redis_intake import RedisIntake
from gateway.store.redis_keys import Keys, redis_errors
from gateway.store.redis_notices import RedisNotices
from gateway.store.redis_scripts import Scripts
from gateway.store.redis_senders import RedisSenders

POOL_SIZE = 64
POOL_WAIT = 5.0
# How long an acknowledgement waits for the replicas (WAIT), below the 5 s socket timeout.
REPLICA_WAIT_MS = 2000


class RedisStore(RedisIntake, RedisConversations, RedisConsoleHolds, RedisSenders, RedisCasework, RedisNotices,
                 RedisLimitCounters, RedisAccountRecords, RedisPrivacyLookups, RedisInbox, Store):
    kind = "redis"

    def __init__(self, url: str, prefix: str = Config.store_prefix,
                 content_ttl: int = content_ttl_seconds(Config.retention_days), wait_replicas: int = 0) -> None:
        """`content_ttl`: seconds a closed conversation's messages and delivery states live at
        most (the retention's safety net; 0 = no TTL). `wait_replicas`: how many replicas must
        hold a write before `replicated()` returns (store.wait_replicas)."""
        self._url = url
        self._wait_replicas = max(int(wait_replicas), 0)
        target = parse_store_url(url)
        if target.cluster and self._wait_replicas:
            # WAIT counts the replicas of the connection's own node, and the mark that makes it
            # count every earlier write (a PUBLISH) is not replicated on a cluster.
            raise ConfigError("store.wait_replicas", "is not supported on redis+cluster:// yet; set it to 0 "
                                                     "(a cluster's replicas still take over when a master fails)")
        self._keys = Keys(keyspace_prefix(prefix, target))
        self._content_ttl = max(int(content_ttl), 0)
        self._redis: aioredis.Redis | None = None  # reads and idempotent writes (retried)
        self._writer: aioredis.Redis | None = None  # the Lua scripts (never retried)
        self._lua: Scripts | None = None

    # --- lifecycle -------------------------------------------------------------
    @redis_errors
    async def start(self) -> None:
        """Connect and load the scripts (fails fast with StoreError if Redis is down).

        Two clients from the one factory (store/redis_client.py: blocking pool, health checks,
        setup retried). Reads and the idempotent plain writes (SET, HSET, DEL…) retry their
        command: running one twice changes nothing. The Lua scripts do not (retry_attempts=0):
        a script whose reply was lost must not run again behind the caller's back — a second
        TRY_ASSIGN would answer `not_queued` for a conversation it just assigned, and nobody
        would announce it. Intake is keyed by message id, so the caller's own retry is safe."""
        options = dict(max_connections=POOL_SIZE, timeout=POOL_WAIT, decode_responses=True)
        self._redis = redis_client(self._url, **options)
        writer = self._writer = redis_client(self._url, **options, retry_attempts=0)
        self._lua = Scripts(writer)
        await self._lua.load(writer)

    async def close(self) -> None:
        if self._redis is not None:
            clients, self._redis, self._writer, self._lua = (self._redis, self._writer), None, None, None
            for client in clients:
                if client is not None:
                    await client.aclose()

    @redis_errors
    async def replicated(self) -> None:
        """Every write so far is on `wait_replicas` replicas, or StoreError (not acknowledged)."""
        if self._wait_replicas == 0:
            return
        held = await wait_for_replicas(self._r, self._wait_replicas, REPLICA_WAIT_MS)
        if held < self._wait_replicas:
            raise StoreError(f"only {held} of {self._wait_replicas} replicas hold the write")

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreError("redis store is not started")
        return self._redis

    @property
    def _s(self) -> Scripts:
        if self._lua is None:
            raise StoreError("redis store is not started")
        return self._lua

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError, StoreError):
            return False

    # --- queue and assignment ---------------------------------------------------
    @redis_errors
    async def queue(self) -> list[QueueEntry]:
        ids = await self._r.zrange(self._keys.queue, 0, -1)
        fields = ["priority", "queued_at", "opened_at", "required_skill", "handed_over_by", "teen_away_since"]
        rows = await self._each(ids, lambda pipe, i: pipe.hmget(self._keys.conversation(i), fields))
        entries = [
            QueueEntry(conversation_id, int(priority or 0), float(queued_at or opened_at), skill or None, by or None,
                       float(away) if away else None)
            for conversation_id, (priority, queued_at, opened_at, skill, by, away) in zip(ids, rows)
            if opened_at is not None  # no hash (never stored): skip
        ]
        # The score orders by whole ms; this sort restores exact order within one ms.
        entries.sort(key=lambda e: (-e.priority, e.queued_at, e.conversation_id))
        return entries

    @redis_errors
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

    @redis_errors
    async def conversations_of(self, counsellor_id: str) -> list[Conversation]:
        ids = await self._r.smembers(self._keys.counsellor_open(counsellor_id))
        mine = await self._conversations(ids)
        mine = [c for c in mine if c.counsellor_id == counsellor_id and c.state is ConversationState.ASSIGNED]
        return sorted(mine, key=lambda c: c.assigned_at or 0)

    # --- counsellors ------------------------------------------------------------
    @redis_errors
    async def add_counsellor(self, counsellor: Counsellor) -> None:
        k = self._keys
        added = await self._s.add_counsellor(
            keys=[k.username(counsellor.username), k.counsellor(counsellor.id), k.counsellor_ids],
            args=[counsellor.id, *flat(counsellor_fields(counsellor))],
        )
        if not added:
            raise ValueError(f"username {counsellor.username!r} is taken")

    @redis_errors
    async def get_counsellor(self, counsellor_id: str) -> Counsellor | None:
        fields = await self._r.hgetall(self._keys.counsellor(counsellor_id))
        return parse_counsellor(fields) if fields else None

    @redis_errors
    async def counsellor_by_username(self, username: str) -> Counsellor | None:
        counsellor_id = await self._r.get(self._keys.username(username))
        return await self.get_counsellor(counsellor_id) if counsellor_id else None

    @redis_errors
    async def counsellors(self) -> list[Counsellor]:
        ids = await self._r.smembers(self._keys.counsellor_ids)
        rows = await self._each(ids, lambda pipe, i: pipe.hgetall(self._keys.counsellor(i)))
        # A set has no order; by username is stable (the memory store keeps insertion order).
        return sorted((parse_counsellor(f) for f in rows if f), key=lambda c: c.username)

    @redis_errors
    async def set_presence(self, counsellor_id: str, presence: Presence, at: float) -> None:
        await self._s.set_presence(keys=[self._keys.counsellor(counsellor_id)], args=[presence.value, repr(at)])

    @redis_errors
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

    @redis_errors
    async def loads(self) -> dict[str, int]:
        ids = sorted(await self._r.smembers(self._keys.counsellor_ids))
        counts = await self._each(ids, lambda pipe, i: pipe.scard(self._keys.counsellor_open(i)))
        return dict(zip(ids, counts))

    @redis_errors
    async def set_care_until(self, counsellor_id: str, until: float | None) -> None:
        await self._s.update_if_exists(keys=[self._keys.counsellor(counsellor_id)],
                                       args=["care_until", "" if until is None else repr(until)])

    # --- the post-chat question: `survey:{day}` hash "channel:value" → count -------------
    @redis_errors
    async def count_survey_answer(self, conversation_id: str, day: str, channel: str, value: str,
                                  ttl: int) -> bool:
        counted = await self._s.survey_answer(keys=[self._keys.dedupe("survey", conversation_id),
                                                    f"{self._keys.prefix}:survey:{day}"],
                                              args=[max(int(ttl), 1), f"{channel}:{value}"])
        return bool(counted)

    @redis_errors
    async def survey_counts(self, day: str) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for field, count in (await self._r.hgetall(f"{self._keys.prefix}:survey:{day}")).items():
            channel, _, value = field.partition(":")
            counts.setdefault(channel, {})[value] = int(count)
        return counts

    # --- console sessions -------------------------------------------------------
    @redis_errors
    async def create_session(self, token_hash: str, counsellor_id: str, ttl: int) -> None:
        async with self._r.pipeline(transaction=False) as pipe:  # two slots: no MULTI
            pipe.set(self._keys.session(token_hash), counsellor_id, ex=ttl)
            self.index_session(pipe, token_hash, counsellor_id, ttl)  # redis_accounts: disable ends them all
            await pipe.execute()

    @redis_errors
    async def session_counsellor(self, token_hash: str) -> str | None:
        return await self._r.get(self._keys.session(token_hash))

    @redis_errors
    async def delete_session(self, token_hash: str) -> None:
        await self._r.delete(self._keys.session(token_hash))

    # --- abuse marks: one hash, sender key -> "until|alias" (a few entries; ended ones pruned) ---
    @redis_errors
    async def mark_abusive(self, sender_key: str, alias: str, until: float) -> None:
        await self._r.hset(self._keys.abuse, sender_key, f"{until!r}|{alias}")

    @redis_errors
    async def abuse_until(self, sender_key: str, now: float) -> float | None:
        raw = await self._r.hget(self._keys.abuse, sender_key)
        until = float(raw.partition("|")[0]) if raw else None
        return until if until is not None and until > now else None

    @redis_errors
    async def abuse_marks(self, now: float) -> list[tuple[str, str, float]]:
        marks, ended = [], []
        for key, raw in (await self._r.hgetall(self._keys.abuse)).items():
            until, _, alias = raw.partition("|")
            (marks if float(until) > now else ended).append((key, alias, float(until)))
        if ended:
            await self._r.hdel(self._keys.abuse, *(key for key, _, _ in ended))
        return marks

    @redis_errors
    async def lift_abuse(self, sender_key: str) -> bool:
        return bool(await self._r.hdel(self._keys.abuse, sender_key))
