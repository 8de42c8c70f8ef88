"""The Redis store's part for ports_accounts.AccountRecords (a mixin of RedisStore)."""

from __future__ import annotations

from gateway.store.redis_keys import RedisPart


class RedisAccountRecords(RedisPart):
    pass
