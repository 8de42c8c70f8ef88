"""Rate limits as pure logic: token buckets, one per key, and a cap on simultaneous sessions.

Nothing here reads a clock or does I/O: callers pass `now` (epoch seconds from their injected
clock), so tests move time by hand. Keys are opaque strings chosen by the caller: a widget
session's sender key, or `http_security.client_address_key()` (a keyed hash of the peer
address). No IP address is stored here, ever.

Two kinds of limit live here:
- per process (`TokenBucket`, `KeyedBuckets`, `ConcurrencyCap`): a teen's message rate, the
  simultaneous sockets per address. With N gateway processes a client may get up to N times
  these; acceptable, they keep one client from starving the others, not meter exactly.
- shared (`SlidingWindowLog`): the rule of the store's limit counters (`Store.limit_hit`),
  which the memory store runs as is and the Redis store mirrors in one Lua script, so new
  conversations, widget connects and logins per address hold across processes.

Choosing limits: many teens share one public IPv4 address (mobile carrier NAT, a school's
network), so limits keyed by address must stay loose; the tight ones belong to the session.
"""

from __future__ import annotations

import time

from collections import OrderedDict, deque


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


class SlidingWindowLog:
    """Per key, the times of its events inside a sliding window: at most `limit` events whose
    time is after `now - window` (an event exactly `window` old has left it).

    Bounded: per key never more than `limit` times are kept, and at most `max_keys` keys; a
    new key first drops keys whose every event left its window, then the least recently used
    one (which forgives it: bounded memory wins, as in `KeyedBuckets`). The Redis store's
    LIMIT_HIT script is the same rule on a sorted set (store/redis_limits.py).
    """

    def __init__(self, max_keys: int = 100_000):
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.max_keys = max_keys
        self._logs: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()  # key -> (times, window)

    def __len__(self) -> int:
        return len(self._logs)

    def hit(self, key: str, now: float, window: float, limit: int, record: bool = True) -> float | None:
        """None when one more event is allowed now (counted if `record`), else the seconds
        until the oldest counted event leaves the window. A refused event is not counted."""
        if window <= 0 or limit < 1:
            raise ValueError("window must be > 0 and limit >= 1")
        entry = self._logs.get(key)
        times = entry[0] if entry is not None else deque()
        while times and times[0] <= now - window:
            times.popleft()
        while len(times) > limit:  # the limit was lowered (live reload): keep the newest
            times.popleft()
        if len(times) >= limit:
            return times[0] + window - now
        if record:
            if entry is None:
                self._make_room(now)
            times.append(now)
            self._logs[key] = (times, window)
            self._logs.move_to_end(key)
        return None

    def forget(self, key: str) -> None:
        self._logs.pop(key, None)

    def _make_room(self, now: float) -> None:
        while self._logs:
            times, window = next(iter(self._logs.values()))
            if times and times[-1] > now - window:
                break
            self._logs.popitem(last=False)  # nothing left in its window: forgetting changes nothing
        if len(self._logs) >= self.max_keys:
            self._logs.popitem(last=False)


class _Monotonic:
    """Limits count real seconds, not the helpline's (injected, possibly frozen) business clock."""

    def now(self) -> float:
        return time.monotonic()


MONOTONIC = _Monotonic()
