"""Clocks: everything that depends on time takes one, so tests move time by hand.

A clock tells the time and sleeps on its own time: `SystemClock.sleep` is `asyncio.sleep`,
`ManualClock.sleep` returns when a test moves the clock past the deadline. Every timer of
the gateway (worker rounds, grace periods) sleeps on the injected clock, never on
`asyncio.sleep` directly, so a test advances time instead of waiting for it: it awaits
`ManualClock.wait_for_sleepers()` (the timer is armed), then calls `advance()`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when a test moves it; its sleepers wake when it passes their deadline."""

    def __init__(self, start: float | datetime):
        self._t = start.timestamp() if isinstance(start, datetime) else float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties wake in the order they slept
        self._armed: list[tuple[int, asyncio.Future[None]]] = []  # tests waiting for N sleepers

    def now(self) -> float:
        return self._t

    def set(self, at: float | datetime) -> None:
        self._t = at.timestamp() if isinstance(at, datetime) else float(at)
        self._wake()

    def advance(self, seconds: float) -> None:
        self._t += seconds
        self._wake()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._t + seconds, next(self._order), waiter)
        heapq.heappush(self._sleepers, entry)
        self._tell_armed()
        try:
            await waiter
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter.cancelled():
                self._forget(entry)  # a worker kicked 1000 times leaves no 1000 dead entries

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (tests wait for a timer to be armed before moving time)."""
        return sum(1 for _, _, waiter in self._sleepers if not waiter.done())

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Return once at least `count` sleeps are pending: a timer is armed, time may move."""
        if self.sleepers >= count:
            return
        armed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._armed.append((count, armed))
        await armed

    def _tell_armed(self) -> None:
        pending = self.sleepers
        for count, armed in [w for w in self._armed if w[0] <= pending]:
            self._armed.remove((count, armed))
            if not armed.done():
                armed.set_result(None)

    def _forget(self, entry: tuple[float, int, asyncio.Future[None]]) -> None:
        try:
            self._sleepers.remove(entry)
        except ValueError:
            return  # already popped by _wake
        heapq.heapify(self._sleepers)

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._t:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)


def as_datetime(ts: float) -> datetime:
    """An aware UTC datetime for an epoch timestamp."""
    return datetime.fromtimestamp(ts, tz=timezone.utc)
