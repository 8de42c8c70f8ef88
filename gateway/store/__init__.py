"""Stores: `memory://` (embedded default) or `redis://host:port/db` (production)."""

from __future__ import annotations

from .base import AssignOutcome, NewMessage, Store


def open_store(url: str, prefix: str = "3018") -> Store:
    """The store a URL names. Raises ValueError on an unknown scheme."""
    if url == "memory://" or url.startswith("memory:"):
        from .memory import MemoryStore

        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url, prefix=prefix)
    raise ValueError(f"unknown store url scheme: {url.split(':', 1)[0]!r} (use memory:// or redis://)")


__all__ = ["AssignOutcome", "NewMessage", "Store", "open_store"]
