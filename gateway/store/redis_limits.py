"""The Redis store's part for ports_limits.LimitCounters (a mixin of RedisStore).

One sorted set of event times (ms, from the caller's clock) per counter and key, trimmed and
counted in one Lua script, so two processes hitting one key at once both count and neither
gets past the limit. Never more than `limit` members, always a TTL of one window (a lock: its
own length). Keys: `{prefix}:limit:{name}:{key}` (+ `:lock`), `key` an opaque keyed hash.
"""

from __future__ import annotations

import secrets

from gateway.store.redis_keys import RedisPart, redis_errors

# KEYS: the counter's sorted set. ARGV: now (ms), window (ms), limit, record ('1'/'0'), a
# unique member. The rule of domain/rate_limit.py SlidingWindowLog: an event `window` old has
# left; over the limit (lowered by a reload) the oldest go. Returns -1 when allowed (and
# counted if asked), else the ms until the oldest counted event leaves the window.
LIMIT_HIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count > limit then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - limit - 1)
  count = limit
end
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
return -1
"""

# KEYS: the failures' sorted set, the lock (its value: locked until, ms). ARGV: now (ms),
# window (ms), max failures, lockout (ms), a unique member. The rule of domain/login_guard.py:
# locked -> not extended; a lock over -> a fresh start; the max-th failure in the window locks.
# Returns the lock's wait in ms, else -1.
FAILURE_ADD = """
local now = tonumber(ARGV[1])
local locked = tonumber(redis.call('GET', KEYS[2]) or '0')
if locked > now then return locked - now end
if locked > 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[5])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], now + tonumber(ARGV[4]), 'PX', ARGV[4])
  return tonumber(ARGV[4])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
"""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _member(now_ms: int) -> str:
    return f"{now_ms}:{secrets.token_hex(4)}"  # two events in one ms are two members


class RedisLimitCounters(RedisPart):
    """limit_hit and the login failures; RedisStore provides the client and the scripts."""

    @redis_errors
    async def limit_hit(self, name: str, key: str, now: float, window_seconds: float, limit: int,
                        record: bool = True) -> float | None:
        if window_seconds <= 0 or limit < 1:
            raise ValueError("window must be > 0 and limit >= 1")
        now_ms, window_ms = _ms(now), max(1, _ms(window_seconds))
        wait = await self._s.limit_hit(keys=[self._keys.limit(name, key)],
                                       args=[now_ms, window_ms, int(limit), "1" if record else "0", _member(now_ms)])
        return None if int(wait) < 0 else int(wait) / 1000

    @redis_errors
    async def failure_wait(self, name: str, key: str, now: float) -> float | None:
        locked = await self._r.get(self._keys.limit_lock(name, key))
        if locked is None or int(locked) <= _ms(now):
            return None
        return (int(locked) - _ms(now)) / 1000

    @redis_errors
    async def failure_add(self, name: str, key: str, now: float, max_failures: int, window_seconds: float,
                          lockout_seconds: float) -> float | None:
        now_ms = _ms(now)
        wait = await self._s.failure_add(
            keys=[self._keys.limit(name, key), self._keys.limit_lock(name, key)],
            args=[now_ms, max(1, _ms(window_seconds)), int(max_failures), max(1, _ms(lockout_seconds)),
                  _member(now_ms)])
        return None if int(wait) < 0 else int(wait) / 1000

    @redis_errors
    async def failure_clear(self, name: str, key: str) -> None:
        await self._r.delete(self._keys.limit(name, key), self._keys.limit_lock(name, key))
