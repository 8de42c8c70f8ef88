"""Stores: `memory://` (embedded default) or `redis://host:port/db` (production)."""

from __future__ import annotations

from gateway.core.ports import AssignOutcome, NewMessage, Store, content_ttl_seconds
from gateway.domain.config import Config


def open_store(url: str, prefix: str = Config.store_prefix, retention_days: int = Config.retention_days) -> Store:
    """The store a URL names. Raises ValueError on an unknown scheme.

    `retention_days` sets the Redis store's safety-net TTL on closed conversations' content
    (see RetentionSweeper for the erasing itself); the memory store keeps nothing past a restart.
    """
    if url == "memory://" or url.startswith("memory:"):
        from gateway.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from gateway.store.redis import RedisStore

        return RedisStore(url, prefix=prefix, content_ttl=content_ttl_seconds(retention_days))
    raise ValueError(f"unknown store url scheme: {url.split(':', 1)[0]!r} (use memory:// or redis://)")


__all__ = ["AssignOutcome", "NewMessage", "Store", "open_store"]
