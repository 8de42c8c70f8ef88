"""Store port: the counters behind the limits every gateway process shares (core/limits.py).

On Redis one counter is seen by every process, so N processes do not give a client N times
the limit; on the memory store they are this process's (there is only one). Keys are opaque
(keyed hashes made by the core), `name` is a short word ("conversations", "login_account"…);
time is always the caller's clock (`now`), never the server's, so tests move it by hand.
Every counter expires on its own: nothing outlives its window or lock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class LimitCounters(ABC):
    """The store methods for limits; each store implements them in its own module."""

    @abstractmethod
    async def limit_hit(self, name: str, key: str, now: float, window_seconds: float, limit: int,
                        record: bool = True) -> float | None:
        """Events of `key` in the sliding window ending at `now` (domain/rate_limit.py
        `SlidingWindowLog`): None when one more is allowed (and counted, if `record`), else
        the seconds until the oldest counted one leaves the window. Never more than `limit`
        events kept per key; a refused event is not counted."""

    @abstractmethod
    async def failure_wait(self, name: str, key: str, now: float) -> float | None:
        """Seconds left of the key's lock (domain/login_guard.py), else None."""

    @abstractmethod
    async def failure_add(self, name: str, key: str, now: float, max_failures: int, window_seconds: float,
                          lockout_seconds: float) -> float | None:
        """One failure: the `max_failures`-th within the window locks the key for
        `lockout_seconds` (not extended while locked). Returns the lock's wait, else None."""

    @abstractmethod
    async def failure_clear(self, name: str, key: str) -> None:
        """Forget the key's failures and lock (a successful login, an administrator's unlock)."""
