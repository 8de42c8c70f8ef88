"""The memory store's part for ports_limits.LimitCounters (a mixin of MemoryStore): the pure
tables of domain/rate_limit.py and domain/login_guard.py, one per counter name, bounded."""

from __future__ import annotations

from gateway.domain.login_guard import FailureRule, FailureTable
from gateway.domain.rate_limit import SlidingWindowLog


class MemoryLimitCounters:
    def __init__(self) -> None:
        self._windows: dict[str, SlidingWindowLog] = {}
        self._failures: dict[str, FailureTable] = {}

    async def limit_hit(self, name: str, key: str, now: float, window_seconds: float, limit: int,
                        record: bool = True) -> float | None:
        log = self._windows.setdefault(name, SlidingWindowLog())
        return log.hit(key, now, window_seconds, limit, record)

    async def failure_wait(self, name: str, key: str, now: float) -> float | None:
        table = self._failures.get(name)
        return table.wait(key, now) if table is not None else None

    async def failure_add(self, name: str, key: str, now: float, max_failures: int, window_seconds: float,
                          lockout_seconds: float) -> float | None:
        table = self._failures.setdefault(name, FailureTable())
        return table.fail(key, now, FailureRule(max_failures, window_seconds, lockout_seconds))

    async def failure_clear(self, name: str, key: str) -> None:
        table = self._failures.get(name)
        if table is not None:
            table.clear(key)
