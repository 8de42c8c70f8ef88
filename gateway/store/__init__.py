"""Stores: `memory://` (embedded default) or Redis (production): `redis://host:port/db`,
`rediss://`, `unix://`, `redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]` or
`redis+cluster://HOST:PORT[,HOST:PORT…]`."""

from __future__ import annotations

from gateway.core.ports import AssignOutcome, NewMessage, Store, content_ttl_seconds
from gateway.domain.config import Config


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")


def open_store(url: str, prefix: str = Config.store_prefix, retention_days: int = Config.retention_days,
               wait_replicas: int = 0) -> Store:
    """The store a URL names. Raises ValueError on an unknown scheme, ConfigError naming
    `store.url` on a malformed Redis URL. `wait_replicas`: see `Store.replicated`.

    `retention_days` sets the Redis store's safety-net TTL on closed conversations' content
    (see RetentionSweeper for the erasing itself); the memory store keeps nothing past a restart.
    """
    if url == "memory://" or url.startswith("memory:"):
        from gateway.store.memory import MemoryStore

        return MemoryStore()
    if url.lower().startswith(REDIS_SCHEMES):
        from gateway.store.redis import RedisStore
        from gateway.store.redis_client import parse_store_url

        parse_store_url(url)  # a malformed URL is refused here, not at the first command
        return RedisStore(url, prefix=prefix, content_ttl=content_ttl_seconds(retention_days),
                          wait_replicas=wait_replicas)
    raise ValueError(f"unknown store url scheme: {url.split(':', 1)[0]!r} (use memory:// or redis://)")


__all__ = ["AssignOutcome", "NewMessage", "Store", "open_store"]
