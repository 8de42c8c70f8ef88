"""The Redis store's qualification records (casework, issue #12): a mixin of RedisStore.

Keys (see Keys): `qual:{id}` the anonymous record (orjson, no text); `qual:{id}:summary` its
one free text, apart, so that the ERASE script deletes it with the conversation's texts (and,
when the conversation is closed, it carries the content TTL as a safety net); `quals` the
qualified conversation ids scored by `ended_at` (reports, retention.case_years);
`quals:uses:{field}:{value}` the ids whose record uses a value and `quals:values` the
"field|value" pairs ever used: what a config reload may not remove. Sets, not counters, so
that a transaction replayed after a lost reply changes nothing.

A replacement or deletion reads the record it replaces under WATCH and writes everything in
one MULTI: a qualification is stored whole or not at all, and the conversation leaves the
"to qualify" list in that same step (that list is computed from the record's existence).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from gateway.domain.casework import LIST_FIELDS, Qualification
from gateway.domain.model import Conversation, ConversationState
from gateway.store.redis_codec import parse_conversation
from gateway.store.redis_keys import RedisPart, redis_errors

DELETE_BATCH = 200  # records per round of `delete_qualifications_closed_before`
WATCH_ATTEMPTS = 20  # a record replaced concurrently: read again, at most this often


def _pairs(record: dict | None) -> set[tuple[str, str]]:
    """The (field, value) pairs a stored record uses."""
    if record is None:
        return set()
    pairs: set[tuple[str, str]] = set()
    for name in LIST_FIELDS:
        value = record.get(name)
        for one in value if isinstance(value, list) else ([] if value is None else [value]):
            pairs.add((name, one))
    return pairs


class RedisCasework(RedisPart):
    """save_qualification … unqualified_closed; RedisStore provides the client."""

    async def _replace(self, conversation_id: str, new: Qualification | None, closed: bool = False) -> bool:
        """Write `new` (None: delete) over the stored record in one transaction; False if
        there was nothing to delete."""
        k = self._keys
        key = k.qualification(conversation_id)
        for _ in range(WATCH_ATTEMPTS):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    old_raw = await pipe.get(key)
                    if new is None and old_raw is None:
                        return False
                    old = _pairs(orjson.loads(old_raw) if old_raw else None)
                    record = new.record() if new is not None else None
                    pipe.multi()
                    self._write(pipe, conversation_id, record, old, closed)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue
        raise WatchError(f"qualification of one conversation kept changing ({WATCH_ATTEMPTS} attempts)")

    def _write(self, pipe: Pipeline, conversation_id: str, record: dict | None, old: set[tuple[str, str]],
               closed: bool) -> None:
        k = self._keys
        key, summary_key = k.qualification(conversation_id), k.qualification_summary(conversation_id)
        new = _pairs(record)
        for name, value in old - new:
            pipe.srem(k.value_uses(name, value), conversation_id)
        for name, value in new - old:
            pipe.sadd(k.value_uses(name, value), conversation_id)
            pipe.sadd(k.qualification_values, f"{name}|{value}")
        if record is None:
            pipe.delete(key, summary_key)
            pipe.zrem(k.qualifications, conversation_id)
            return
        summary = record.pop("summary")
        pipe.set(key, orjson.dumps(record))
        if summary is None:
            pipe.delete(summary_key)
        else:
            pipe.set(summary_key, summary, ex=self._content_ttl if closed and self._content_ttl else None)
        ended = record["closed_at"] if record["closed_at"] is not None else record["qualified_at"]
        pipe.zadd(k.qualifications, {conversation_id: ended})

    @redis_errors
    async def save_qualification(self, qualification: Qualification) -> None:
        await self._replace(qualification.conversation_id, qualification, closed=qualification.closed_at is not None)

    async def _read(self, ids: Iterable[str]) -> list[Qualification]:
        k, ids = self._keys, list(ids)
        if not ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                pipe.get(k.qualification(conversation_id))
                pipe.get(k.qualification_summary(conversation_id))
            rows = await pipe.execute()
        found = []
        for record, summary in zip(rows[::2], rows[1::2]):
            if record is not None:
                found.append(Qualification.from_record({**orjson.loads(record), "summary": summary}))
        return found

    @redis_errors
    async def qualification_of(self, conversation_id: str) -> Qualification | None:
        found = await self._read([conversation_id])
        return found[0] if found else None

    @redis_errors
    async def qualifications_since(self, since: float) -> list[Qualification]:
        ids = await self._r.zrangebyscore(self._keys.qualifications, repr(since), "+inf")
        return await self._read(ids)

    @redis_errors
    async def values_in_use(self) -> dict[str, set[str]]:
        k = self._keys
        pairs = sorted(await self._r.smembers(k.qualification_values))
        async with self._r.pipeline(transaction=False) as pipe:
            for pair in pairs:
                name, _, value = pair.partition("|")
                pipe.scard(k.value_uses(name, value))
            counts = await pipe.execute()
        in_use: dict[str, set[str]] = {name: set() for name in LIST_FIELDS}
        for pair, count in zip(pairs, counts):
            name, _, value = pair.partition("|")
            if count and name in in_use:
                in_use[name].add(value)
        return in_use

    @redis_errors
    async def delete_qualifications_closed_before(self, before: float) -> int:
        deleted = 0
        while True:
            due = await self._r.zrangebyscore(self._keys.qualifications, "-inf", f"({before!r}",
                                              start=0, num=DELETE_BATCH)
            for conversation_id in due:
                deleted += await self._replace(conversation_id, None)
            if len(due) < DELETE_BATCH:
                return deleted

    @redis_errors
    async def unqualified_closed(self, counsellor_id: str | None, limit: int) -> list[Conversation]:
        """Reads the closed index (closed within the retention, not yet erased) newest first:
        which have a record, then the holder of those without, then those conversations."""
        k = self._keys
        if limit <= 0:
            return []
        ids = await self._r.zrevrange(k.closed, 0, -1)
        async with self._r.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                pipe.exists(k.qualification(conversation_id))
                pipe.hget(k.conversation(conversation_id), "counsellor_id")
            rows = await pipe.execute()
        wanted = [conversation_id for conversation_id, qualified, holder in zip(ids, rows[::2], rows[1::2])
                  if not qualified and holder and (counsellor_id is None or holder == counsellor_id)][:limit]
        async with self._r.pipeline(transaction=False) as pipe:
            for conversation_id in wanted:
                pipe.hgetall(k.conversation(conversation_id))
            found = await pipe.execute()
        conversations = [parse_conversation(fields) for fields in found if fields]
        return [c for c in conversations if c.state is ConversationState.CLOSED and c.erased_at is None]
