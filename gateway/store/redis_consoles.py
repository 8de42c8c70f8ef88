"""The Redis store's console holds: which processes hold a console of a counsellor (a mixin of RedisStore).

Key: `counsellor:{id}:consoles`, a sorted set of holder (process) ids scored by the time, on the
gateway's clock, until which each hold counts. A process refreshes its holds by heartbeat; one
that dies stops refreshing and its hold runs out: readers drop holds that ran out. The key also
gets a long real-time expiry, only so that a counsellor nobody connects again leaves nothing.
"""

from __future__ import annotations


from gateway.store.redis_keys import RedisPart, redis_errors

GARBAGE_SECONDS = 24 * 3600  # real time: a clean-up for forgotten keys, never what decides presence


class RedisConsoleHolds(RedisPart):
    """hold_console / release_console / console_held_elsewhere; RedisStore provides the client."""

    def _consoles(self, counsellor_id: str) -> str:
        return f"{self._keys.counsellor(counsellor_id)}:consoles"

    @redis_errors
    async def hold_console(self, counsellor_id: str, holder: str, until: float) -> None:
        key = self._consoles(counsellor_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {holder: until})
            pipe.expire(key, GARBAGE_SECONDS)
            await pipe.execute()

    @redis_errors
    async def release_console(self, counsellor_id: str, holder: str) -> None:
        await self._r.zrem(self._consoles(counsellor_id), holder)

    @redis_errors
    async def console_held_elsewhere(self, counsellor_id: str, holder: str, now: float) -> bool:
        key = self._consoles(counsellor_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", repr(now))  # holds that ran out (until <= now)
            pipe.zrange(key, 0, -1)
            _, holders = await pipe.execute()
        return any(h != holder for h in holders)
