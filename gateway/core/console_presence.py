"""A counsellor's presence across their console sockets: offline once the last one has been gone a while.

A page reload, a phone switching networks or a second tab closing must not flip a counsellor
to "hors ligne" (which sends their teens back to the queue after `disconnect_grace_seconds`):
only when no socket of theirs has been open on this process for OFFLINE_GRACE_SECONDS does the
core mark them offline. The timer sleeps on the injected clock, so tests move time.

Per process, like the sockets it counts: a counsellor with one tab on each of two processes
who closes one is marked offline by that process after the grace (the other tab then shows
the change and can set "disponible" again). Shortcut accepted: consoles are few and sticky.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from gateway.core.helpline import Helpline
from gateway.domain.errors import GatewayError
from gateway.domain.model import Presence

log = logging.getLogger(__name__)

OFFLINE_GRACE_SECONDS = 20.0  # a page reload must not flip a counsellor to "hors ligne"


class ConsolePresence:
    """Counts each counsellor's open console sockets here; arms the offline grace when none is left."""

    def __init__(self, helpline: Helpline, grace_seconds: float = OFFLINE_GRACE_SECONDS):
        self.helpline = helpline
        self.grace_seconds = grace_seconds
        self._open: Counter[str] = Counter()
        self._timers: dict[str, asyncio.Task] = {}
        self._armed_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._sleeping: set[str] = set()  # counsellors whose grace sleeps on the clock now
        self._closed = False  # shutting down: sockets closing now arm no grace

    def socket_opened(self, counsellor_id: str) -> None:
        """A socket of theirs is (back) open: a pending grace is called off."""
        self._open[counsellor_id] += 1
        timer = self._timers.pop(counsellor_id, None)
        self._sleeping.discard(counsellor_id)
        if timer is not None:
            timer.cancel()

    def socket_closed(self, counsellor_id: str) -> None:
        self._open[counsellor_id] -= 1
        if self._open[counsellor_id] > 0:
            return
        del self._open[counsellor_id]
        if not self._closed and counsellor_id not in self._timers:
            self._timers[counsellor_id] = asyncio.get_running_loop().create_task(
                self._offline_after_grace(counsellor_id), name="console-offline-grace")

    def connected(self, counsellor_id: str) -> bool:
        return self._open[counsellor_id] > 0

    def grace_pending(self, counsellor_id: str) -> bool:
        """Whether an offline grace is running for this counsellor."""
        return counsellor_id in self._timers

    async def grace_armed(self, counsellor_id: str) -> None:
        """Return once this counsellor's grace sleeps on the clock (a test may then move time)."""
        if counsellor_id in self._sleeping:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._armed_waiters.setdefault(counsellor_id, []).append(waiter)
        await waiter

    async def _offline_after_grace(self, counsellor_id: str) -> None:
        for waiter in self._armed_waiters.pop(counsellor_id, []):
            if not waiter.done():  # woken after this step, in which the sleep below is registered
                waiter.set_result(None)
        mine = asyncio.current_task()
        self._sleeping.add(counsellor_id)
        try:
            await self.helpline.clock.sleep(self.grace_seconds)  # cancelled if a socket comes back
        finally:
            if self._timers.get(counsellor_id) is mine:
                del self._timers[counsellor_id]
                self._sleeping.discard(counsellor_id)
        try:
            await self.helpline.set_presence(counsellor_id, Presence.OFFLINE)
        except GatewayError:
            log.warning("could not mark a disconnected counsellor offline")

    async def close(self) -> None:
        """Shutdown: pending graces are dropped (the next process start sees the stored presence)."""
        self._closed = True
        timers = list(self._timers.values())
        self._timers.clear()
        self._sleeping.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
