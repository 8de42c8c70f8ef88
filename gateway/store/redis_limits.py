"""The Redis store's part for ports_limits.LimitCounters (a mixin of RedisStore)."""

from __future__ import annotations

from gateway.store.redis_keys import RedisPart


class RedisLimitCounters(RedisPart):
    pass
