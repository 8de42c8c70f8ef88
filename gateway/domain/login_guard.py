"""Console login throttling, the rules: too many failed logins lock an account, or an address.

Pure logic (no I/O, no clock of its own). Two counters, same rule (`FailureRule`): a key that
collects `max_failures` failures within `window_seconds` is locked for `lockout_seconds`; a
failure while locked does not extend the lock; when the lock ends the key starts afresh.
`LoginRules` holds the two rules (per account: 5, per address: 20, in 15 min).

Where the counts live: in the store (`Store.failure_add`…), so every gateway process sharing a
Redis sees the same failures (core/limits.py `LoginGuard` applies the rules through the port).
The memory store keeps them in a `FailureTable` below; the Redis store runs the same rule in
one Lua script (store/redis_limits.py). Keys are opaque keyed hashes from the core: never a
username nor an address.

Usernames that match no account are tracked exactly like real ones, so the answers (and
the lock) never tell whether an account exists; `accounts.authenticate` already takes as
long either way.

Trade-off to know: anyone who knows a username can lock that counsellor out for
`lockout_seconds` by failing on purpose (the classic lockout denial of service). An
administrator can lift it (`LoginGuard.unlock`); the lock is short and does not escalate.

Memory is bounded: a table keeps at most `max_keys` keys and, per key, only the last
`max_failures` timestamps. When a table is full, keys with nothing left to remember go
first, then the least recently failed key that is not locked; a flood of new usernames
therefore cannot push out a lock (unless every kept key is locked).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


def account_key(username: str) -> str:
    """The key of a login attempt's account: the username as typed, trimmed and case-folded,
    so "Alice" and "alice " share one counter (the core hashes it before it reaches a store)."""
    return username.strip().casefold()


@dataclass(frozen=True)
class FailureRule:
    max_failures: int
    window_seconds: float
    lockout_seconds: float

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        if self.window_seconds <= 0 or self.lockout_seconds <= 0:
            raise ValueError("window_seconds and lockout_seconds must be > 0")


@dataclass(frozen=True)
class LoginRules:
    """Per account: a password guessed slowly; per address: one address trying many accounts."""

    account: FailureRule = FailureRule(5, 900, 900)
    address: FailureRule = FailureRule(20, 900, 900)


@dataclass
class _Record:
    failures: deque[float]
    locked_until: float | None = None
    window: float = 0.0


@dataclass
class FailureTable:
    """The failures of many keys, bounded (see the module docstring); the memory store's counter."""

    max_keys: int = 10_000
    _records: OrderedDict[str, _Record] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if self.max_keys < 1:
            raise ValueError("max_keys must be >= 1")

    def wait(self, key: str, now: float) -> float | None:
        """Seconds left of the key's lock, else None."""
        record = self._records.get(key)
        if record is None or record.locked_until is None:
            return None
        if record.locked_until > now:
            return record.locked_until - now
        del self._records[key]  # the lock is over: a fresh start
        return None

    def fail(self, key: str, now: float, rule: FailureRule) -> float | None:
        """Count one failure; the lock's wait if the key is locked now (just or already)."""
        locked = self.wait(key, now)
        if locked is not None:
            return locked  # already locked; the lock is not extended
        record = self._records.get(key)
        if record is None:
            self._make_room(now)
            record = self._records[key] = _Record(deque(maxlen=rule.max_failures))
        else:
            self._records.move_to_end(key)
            if record.failures.maxlen != rule.max_failures:
                record.failures = deque(record.failures, maxlen=rule.max_failures)
        record.window = rule.window_seconds
        while record.failures and record.failures[0] <= now - rule.window_seconds:
            record.failures.popleft()
        record.failures.append(now)
        if len(record.failures) >= rule.max_failures:
            record.locked_until = now + rule.lockout_seconds
            return rule.lockout_seconds
        return None

    def clear(self, key: str) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _forgettable(self, record: _Record, now: float) -> bool:
        if record.locked_until is not None:
            return record.locked_until <= now
        return not record.failures or record.failures[-1] <= now - record.window

    def _make_room(self, now: float) -> None:
        while self._records and self._forgettable(next(iter(self._records.values())), now):
            self._records.popitem(last=False)
        if len(self._records) < self.max_keys:
            return
        victim = next((k for k, r in self._records.items() if r.locked_until is None or r.locked_until <= now), None)
        if victim is None:
            self._records.popitem(last=False)  # all locked: the oldest lock goes
        else:
            del self._records[victim]
