"""The memory store's part for ports_limits.LimitCounters (a mixin of MemoryStore)."""

from __future__ import annotations


class MemoryLimitCounters:
    def __init__(self) -> None:
        pass
