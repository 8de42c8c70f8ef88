"""The Redis store's part for ports_privacy.PrivacyLookups (a mixin of RedisStore).

`{prefix}:erased:{sender_key}` — a sorted set of conversation ids erased on request, scored by
the receipt's end (the caller's clock); the key itself expires with its latest receipt, so
nothing outlives it even if nobody reads it again.
"""

from __future__ import annotations

import math

from gateway.store.redis_keys import RedisPart, redis_errors


class RedisPrivacyLookups(RedisPart):
    def _erasures_key(self, sender_key: str) -> str:
        return f"{self._keys.prefix}:erased:{sender_key}"

    @redis_errors
    async def remember_erasure(self, sender_key: str, conversation_id: str, until: float, now: float) -> None:
        if until <= now:
            return
        key = self._erasures_key(sender_key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {conversation_id: until})
            pipe.expire(key, math.ceil(until - now), gt=True)  # never shortens a longer receipt
            pipe.expire(key, math.ceil(until - now), nx=True)  # a new key has no TTL yet
            await pipe.execute()

    @redis_errors
    async def erasures_of_sender(self, sender_key: str, now: float) -> list[str]:
        key = self._erasures_key(sender_key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrange(key, 0, -1)
            _, ids = await pipe.execute()
        return list(ids)
