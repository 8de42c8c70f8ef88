"""One helper for every worker loop of a process: dispatcher, delivery, housekeeping, retention…

A `Periodic` runs `round()` now and then every `every` seconds on the injected clock, or at
once when `kick()`ed. A failed round is logged (a `StoreError` as one line: Redis is away; any
other error with its traceback) and the loop goes on: no single bad round stops a worker.
`stop()` ends the loop: a flag as well as a cancel, because a cancellation that lands inside a
Redis call can come back as a connection error, which the loop would otherwise survive
(seen with redis-py 8.1.0, cf. redis/redis-py#2028).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.domain.clock import Clock
from gateway.domain.errors import StoreError

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, round: Callable[[], Awaitable[object]], every: float, clock: Clock):
        self.name = name
        self.every = every
        self._round = round
        self._clock = clock
        self._kicked = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self.rounds = 0  # completed rounds, failed ones included (tests and /healthz may read it)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def kick(self) -> None:
        """Run a round as soon as the current one (if any) ends."""
        self._kicked.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        """True once stop() was called: a long round (a batch loop) checks it between steps."""
        return self._stopping

    async def stop(self, grace: float = 0.0) -> None:
        """End the loop. With `grace` (seconds, a shutdown bound: wall time), a round under way
        may finish first (in-flight sends complete); it is cancelled once the grace is over."""
        self._stopping = True
        self._kicked.set()
        if self._task is not None:
            if grace > 0:
                await asyncio.wait((self._task,), timeout=grace)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._kicked.clear()
            started = self._clock.now()
            try:
                await self._round()
            except Exception as exc:  # noqa: BLE001 - a worker must outlive any one bad round
                if self._stopping:
                    return  # most likely the cancel of stop(), come back as a connection error
                if isinstance(exc, StoreError):
                    log.warning("%s round skipped: %s", self.name, exc)
                else:
                    log.exception("%s round failed", self.name)
            self.rounds += 1
            if not self._stopping:
                await self._pause(started + self.every - self._clock.now())

    async def _pause(self, seconds: float) -> None:
        """Until the period (counted from the round's start) has passed on the clock, or a kick.

        Counted from the start, not the end: time that passed during a round (a test moving a
        ManualClock while the round awaited Redis) is not lost, so the next round is not late."""
        if self._kicked.is_set() or seconds <= 0:
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        kicked = asyncio.ensure_future(self._kicked.wait())
        try:
            await asyncio.wait((sleeper, kicked), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            kicked.cancel()
            # Let both finish cancelling, so no task of ours outlives the loop (stop() awaits this).
            await asyncio.gather(sleeper, kicked, return_exceptions=True)
