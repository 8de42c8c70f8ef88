"""The Redis store's part for ports_inbox.InboxRecords (a mixin of RedisStore).

Keys (one hash tag, the prefix, so every inbox key is in one Cluster slot):
    inbox:{prefix}        sorted set of batch ids, scored by when due (a lease moves it on)
    inbox:{prefix}:{id}   hash channel, payload, claims; TTL = the safety net (a day)
A batch is put in one MULTI (HSET + EXPIRE + ZADD: idempotent, so a retried command is
harmless) and claimed by INBOX_CLAIM, which reads, counts and leases in one script. An id
whose hash expired is dropped from the sorted set there. The payload holds texts and platform
ids for the seconds a batch waits: `inbox_done` deletes it (docs/privacy.md §1).
"""

from __future__ import annotations

from gateway.core.ports_inbox import InboxBatch
from gateway.store.redis_keys import RedisPart, redis_errors

# KEYS: the due sorted set. ARGV: the batch key prefix (mirrors RedisInbox._batch_key: same
# slot as KEYS[1]), now, lease end, limit. Returns id, channel, payload, claims quadruples.
INBOX_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(due) do
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'channel', 'payload')
  if not f[2] then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    local claims = redis.call('HINCRBY', key, 'claims', 1)
    table.insert(out, id)
    table.insert(out, f[1])
    table.insert(out, f[2])
    table.insert(out, claims)
  end
end
return out
"""


class RedisInbox(RedisPart):
    """The webhook inbox; RedisStore provides the client and the scripts."""

    @property
    def _inbox_key(self) -> str:
        return f"{self._keys.prefix}:inbox:{{{self._keys.prefix}}}"

    def _batch_key(self, batch_id: str) -> str:
        return f"{self._inbox_key}:{batch_id}"

    @redis_errors
    async def inbox_put(self, batch: InboxBatch, now: float, ttl: int) -> None:
        key = self._batch_key(batch.batch_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"channel": batch.channel, "payload": batch.payload, "claims": 0})
            pipe.expire(key, ttl)
            pipe.zadd(self._inbox_key, {batch.batch_id: now})
            await pipe.execute()

    @redis_errors
    async def inbox_claim(self, now: float, lease: float, limit: int) -> list[InboxBatch]:
        flat = await self._s.inbox_claim(keys=[self._inbox_key],
                                         args=[self._batch_key(""), repr(now), repr(now + lease), limit])
        return [InboxBatch(batch_id, channel, payload, int(claims))
                for batch_id, channel, payload, claims in zip(flat[::4], flat[1::4], flat[2::4], flat[3::4])]

    @redis_errors
    async def inbox_extend(self, batch_id: str, until: float) -> None:
        await self._r.zadd(self._inbox_key, {batch_id: until}, xx=True)

    @redis_errors
    async def inbox_done(self, batch_id: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zrem(self._inbox_key, batch_id)
            pipe.delete(self._batch_key(batch_id))
            await pipe.execute()

    @redis_errors
    async def inbox_depth(self) -> int:
        return int(await self._r.zcard(self._inbox_key))
