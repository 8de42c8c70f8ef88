"""Console login throttling: too many failed logins lock an account, or an address, for a while.

Pure logic over an injected clock (no I/O). Two tables, same rule: a key that collects
`max_failures` failures within `window_seconds` is locked for `lockout_seconds`; when the
lock ends the key starts afresh. Keys are opaque strings from the caller:
`account_key(username)` and `http_security.client_address_key(request, secret)` (a keyed
hash; no IP address is stored here).

Usernames that match no account are tracked exactly like real ones, so the answers (and
the lock) never tell whether an account exists; `accounts.authenticate` already takes as
long either way.

Per process, in memory: with N gateway processes behind a load balancer an attacker gets up
to N times the limits (5 × N guesses per account per window). Accepted and documented: with
argon2id hashes and 10-character passwords that is still far from guessable, and it keeps
the login path free of store round trips. A Redis version would keep the same interface.

Trade-off to know: anyone who knows a username can lock that counsellor out for
`lockout_seconds` by failing on purpose (the classic lockout denial of service). `unlock()`
lets an administrator lift it; the lock is short and does not escalate.

Memory is bounded: each table keeps at most `max_keys` keys and, per key, only the last
`max_failures` timestamps. When a table is full, keys with nothing left to remember go
first, then the least recently failed key that is not locked; a flood of new usernames
therefore cannot push out a lock (unless every kept key is locked).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from gateway.domain.clock import Clock


def account_key(username: str) -> str:
    """The key of a login attempt's account: the username as typed, trimmed and case-folded,
    so "Alice" and "alice " share one counter."""
    return username.strip().casefold()


@dataclass
class _Record:
    failures: deque[float]
    locked_until: float | None = None


@dataclass
class _FailureTable:
    max_failures: int
    window: float
    lockout: float
    max_keys: int
    _records: OrderedDict[str, _Record] = field(default_factory=OrderedDict)

    def wait(self, key: str, now: float) -> float | None:
        record = self._records.get(key)
        if record is None or record.locked_until is None:
            return None
        if record.locked_until > now:
            return record.locked_until - now
        del self._records[key]  # the lock is over: a fresh start
        return None

    def fail(self, key: str, now: float) -> None:
        if self.wait(key, now) is not None:
            return  # already locked; the lock is not extended
        record = self._records.get(key)
        if record is None:
            self._make_room(now)
            record = self._records[key] = _Record(deque(maxlen=self.max_failures))
        else:
            self._records.move_to_end(key)
        while record.failures and record.failures[0] <= now - self.window:
            record.failures.popleft()
        record.failures.append(now)
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + self.lockout

    def clear(self, key: str) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _forgettable(self, record: _Record, now: float) -> bool:
        if record.locked_until is not None:
            return record.locked_until <= now
        return not record.failures or record.failures[-1] <= now - self.window

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


class LoginGuard:
    """Ask `check()` before verifying a password; report the outcome with `failed()` or
    `succeeded()`. While `check()` returns a wait, answer 429 without verifying anything."""

    def __init__(self, clock: Clock, max_failures_per_account: int = 5, max_failures_per_address: int = 20,
                 window_seconds: float = 900, lockout_seconds: float = 900, max_keys: int = 10_000):
        if min(max_failures_per_account, max_failures_per_address, max_keys) < 1:
            raise ValueError("limits and max_keys must be >= 1")
        if window_seconds <= 0 or lockout_seconds <= 0:
            raise ValueError("window_seconds and lockout_seconds must be > 0")
        self.clock = clock
        self._accounts = _FailureTable(max_failures_per_account, window_seconds, lockout_seconds, max_keys)
        self._addresses = _FailureTable(max_failures_per_address, window_seconds, lockout_seconds, max_keys)

    def check(self, account_key: str, address_key: str) -> float | None:
        """Seconds to wait if this attempt must be refused now, else None."""
        now = self.clock.now()
        waits = [w for w in (self._accounts.wait(account_key, now), self._addresses.wait(address_key, now))
                 if w is not None]
        return max(waits) if waits else None

    def failed(self, account_key: str, address_key: str) -> None:
        now = self.clock.now()
        self._accounts.fail(account_key, now)
        self._addresses.fail(address_key, now)

    def succeeded(self, account_key: str, address_key: str) -> None:
        """Clears the account's failures. The address keeps its count: otherwise one valid
        account would let its owner reset the address limit while guessing others."""
        self._accounts.clear(account_key)

    def unlock(self, account_key: str) -> None:
        """For an administrator: lift an account's lock now."""
        self._accounts.clear(account_key)

    def tracked(self) -> tuple[int, int]:
        """(accounts, addresses) currently remembered; for tests and /metrics."""
        return len(self._accounts), len(self._addresses)
