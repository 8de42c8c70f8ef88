"""Clocks: everything that depends on time takes one, so tests move time by hand."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: float | datetime):
        self._t = start.timestamp() if isinstance(start, datetime) else float(start)

    def now(self) -> float:
        return self._t

    def set(self, at: float | datetime) -> None:
        self._t = at.timestamp() if isinstance(at, datetime) else float(at)

    def advance(self, seconds: float) -> None:
        self._t += seconds


def as_datetime(ts: float) -> datetime:
    """An aware UTC datetime for an epoch timestamp."""
    return datetime.fromtimestamp(ts, tz=timezone.utc)
