"""Rate limits as pure logic: token buckets, one per key, and a cap on simultaneous sessions.

Nothing here reads a clock or does I/O: callers pass `now` (epoch seconds from their injected
clock), so tests move time by hand. Keys are opaque strings chosen by the caller: a widget
session's sender key, or `http_security.client_address_key()` (a keyed hash of the peer
address). No IP address is stored here, ever.

Limits are per process: with N gateway processes behind a load balancer a client may get up
to N times the rate. Acceptable for flood protection (the aim is to keep one client from
starving the others, not to meter exactly).

Choosing limits: many teens share one public IPv4 address (mobile carrier NAT, a school's
network), so limits keyed by address must stay loose; the tight ones belong to the session.
"""

from __future__ import annotations

import time

from collections import OrderedDict


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; each action takes `cost` tokens.

    Starts full, so a newcomer may act `burst` times at once. A clock that steps backwards
    (NTP) refills nothing and does not punish: the bucket just restarts counting from `now`.
    """

    __slots__ = ("rate", "burst", "_tokens", "_last")

    def __init__(self, rate: float, burst: int):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def _level(self, now: float) -> float:
        if self._last is None:
            return self._tokens
        return min(float(self.burst), self._tokens + max(0.0, now - self._last) * self.rate)

    def take(self, now: float, cost: float = 1) -> bool:
        """Take `cost` tokens if there are that many; a refused action takes nothing."""
        self._tokens, self._last = self._level(now), now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1) -> float:
        """Seconds until `take(cost)` would succeed (0.0 if it would now). Changes nothing.

        A cost above `burst` can never succeed: the answer is then infinite.
        """
        if cost > self.burst:
            return float("inf")
        return max(0.0, (cost - self._level(now)) / self.rate)

    def is_full(self, now: float) -> bool:
        """Full again: this bucket behaves exactly like a new one, so it can be forgotten."""
        return self._level(now) >= self.burst


class KeyedBuckets:
    """One `TokenBucket` per key, at most `max_keys` of them (memory stays bounded).

    Eviction (LRU): when a new key arrives, the least recently used buckets that are full
    again are dropped (forgetting them changes nothing: a new bucket starts full); if the
    table is still at `max_keys`, the least recently used bucket is dropped anyway, which
    forgives that key's debt. So a flood of new keys can forgive an old key; bounded memory
    wins, and a flood of new keys gets each key's own burst whatever we keep.
    `prune(now)` drops every full bucket (call it from housekeeping if you like).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000):
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        TokenBucket(rate, burst)  # validates the parameters now, not at the first key
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is not None:
            self._buckets.move_to_end(key)
            return bucket
        self._make_room(now)
        bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket

    def _make_room(self, now: float) -> None:
        while self._buckets and next(iter(self._buckets.values())).is_full(now):
            self._buckets.popitem(last=False)  # forgetting a full bucket changes nothing
        if len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)  # forgives the least recently used key

    def take(self, key: str, now: float, cost: float = 1) -> bool:
        return self._bucket(key, now).take(now, cost)

    def retry_after(self, key: str, now: float, cost: float = 1) -> float:
        bucket = self._buckets.get(key) or TokenBucket(self.rate, self.burst)  # unknown: a full bucket
        return bucket.retry_after(now, cost)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def prune(self, now: float) -> int:
        """Drop every bucket that is full again; returns how many were dropped."""
        full = [key for key, bucket in self._buckets.items() if bucket.is_full(now)]
        for key in full:
            del self._buckets[key]
        return len(full)


class ConcurrencyCap:
    """At most `limit` simultaneous holders per key (e.g. open widget sockets per address).

    `acquire` says whether the caller may go ahead; only then must it `release`, once (use
    try/finally). Counts never go below zero and a key at zero is removed, so memory follows
    the number of open sessions.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        count = self._counts.get(key, 0)
        if count >= self.limit:
            return False
        self._counts[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._counts.get(key, 0)
        if count <= 1:
            self._counts.pop(key, None)
        else:
            self._counts[key] = count - 1

    def held(self, key: str) -> int:
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        """Keys currently holding at least one slot."""
        return len(self._counts)


class _Monotonic:
    """Limits count real seconds, not the helpline's (injected, possibly frozen) business clock."""

    def now(self) -> float:
        return time.monotonic()


MONOTONIC = _Monotonic()
