"""The Redis store's trusted-flagger notices (issue #13): a mixin of RedisStore.

Keys (see Keys): `notice:{id}` the notice (orjson, `Notice.record()`: its locations and texts
until `erase_notice_content` blanks them); `notices`, `notices:sent`, `notices:decided` the ids
scored by created_at, sent_at, decided_at (lists newest first, reports by period);
`notices:state:{state}` and `notices:conv:{conversation id}` sets (filters);
`notices:decision:{decision}` the decided ids scored by sent_at (the live refused share). A save reads the
state it replaces under WATCH and writes the record and every index in one MULTI: a notice is
never found under two states. Shortcut: the platform filter reads the records (a few thousand a
year at most).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from redis.exceptions import WatchError

from gateway.domain.notices import DECISIONS, STATES, Notice, erased
from gateway.store.redis_keys import RedisPart, redis_errors

WATCH_ATTEMPTS = 20  # a notice saved concurrently: read again, at most this often


class RedisNotices(RedisPart):
    """save_notice … erase_notice_content; RedisStore provides the client."""

    async def _replace_notice(self, notice: Notice, expected_unerased: bool = False) -> bool:
        """Write `notice` over the stored one in one transaction. `expected_unerased`: only if
        the stored one exists and is not erased yet (False otherwise)."""
        k = self._keys
        key = k.notice(notice.id)
        for _ in range(WATCH_ATTEMPTS):
            async with self._r.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    old_raw = await pipe.get(key)
                    old = orjson.loads(old_raw) if old_raw else None
                    if expected_unerased and (old is None or old.get("erased_at") is not None):
                        return False
                    if expected_unerased:  # erase what is stored, not a caller's possibly stale copy
                        notice = erased(Notice.from_record(old), notice.erased_at)  # type: ignore[arg-type]
                    pipe.multi()
                    if old is not None and old["state"] != notice.state:
                        pipe.srem(k.notices_of_state(old["state"]), notice.id)
                    pipe.set(key, orjson.dumps(notice.record()))
                    pipe.sadd(k.notices_of_state(notice.state), notice.id)
                    pipe.sadd(k.notices_of_conversation(notice.conversation_id), notice.id)
                    pipe.zadd(k.notices, {notice.id: notice.created_at})
                    if notice.sent_at is not None:
                        pipe.zadd(k.notices_sent, {notice.id: notice.sent_at})
                    if notice.decided_at is not None:
                        pipe.zadd(k.notices_decided, {notice.id: notice.decided_at})
                    if old is not None and old.get("decision") not in (None, notice.decision):
                        pipe.zrem(k.notices_of_decision(old["decision"]), notice.id)
                    if notice.decision is not None and notice.sent_at is not None:
                        pipe.zadd(k.notices_of_decision(notice.decision), {notice.id: notice.sent_at})
                    await pipe.execute()
                    return True
                except WatchError:
                    continue
        raise WatchError(f"one notice kept changing ({WATCH_ATTEMPTS} attempts)")

    async def _read_notices(self, ids: Iterable[str]) -> list[Notice]:
        ids = list(ids)
        if not ids:
            return []
        rows = await self._r.mget([self._keys.notice(notice_id) for notice_id in ids])
        return [Notice.from_record(orjson.loads(row)) for row in rows if row is not None]

    @redis_errors
    async def save_notice(self, notice: Notice) -> None:
        await self._replace_notice(notice)

    @redis_errors
    async def notice(self, notice_id: str) -> Notice | None:
        found = await self._read_notices([notice_id])
        return found[0] if found else None

    @redis_errors
    async def notices(self, state: str | None = None, platform: str | None = None,
                      conversation_id: str | None = None) -> list[Notice]:
        k = self._keys
        if state is not None and state not in STATES:
            return []
        ids = set(await self._r.zrange(k.notices, 0, -1))
        if state is not None:
            ids &= set(await self._r.smembers(k.notices_of_state(state)))
        if conversation_id is not None:
            ids &= set(await self._r.smembers(k.notices_of_conversation(conversation_id)))
        found = [n for n in await self._read_notices(sorted(ids))
                 if (platform is None or n.platform == platform)
                 and (state is None or n.state == state)]
        return sorted(found, key=lambda n: (n.created_at, n.id), reverse=True)

    @redis_errors
    async def notices_between(self, start: float, end: float) -> list[Notice]:
        k, ids = self._keys, set()
        for index in (k.notices, k.notices_sent, k.notices_decided):
            ids.update(await self._r.zrangebyscore(index, repr(start), f"({end!r}"))
        return sorted(await self._read_notices(sorted(ids)), key=lambda n: (n.created_at, n.id))

    @redis_errors
    async def notice_decision_counts(self, sent_since: float) -> dict[str, int]:
        async with self._r.pipeline(transaction=False) as pipe:
            for decision in DECISIONS:
                pipe.zcount(self._keys.notices_of_decision(decision), repr(sent_since), "+inf")
            counts = await pipe.execute()
        return {decision: n for decision, n in zip(DECISIONS, counts) if n}

    @redis_errors
    async def erase_notice_content(self, notice_id: str, at: float) -> bool:
        stored = await self.notice(notice_id)
        if stored is None or stored.erased_at is not None:
            return False
        return await self._replace_notice(erased(stored, at), expected_unerased=True)
