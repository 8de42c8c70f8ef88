"""A counsellor's presence across their console sockets, on every process: offline only once no
process has held a console of theirs for a while.

A page reload, a phone switching networks, a second tab closing or a console reconnecting to
another process must not flip a counsellor to "hors ligne" (which hands their teens back to the
head of the queue at once: Helpline.set_presence). Each process counts its own sockets and, by heartbeat,
tells the store which counsellors it holds a console of (`hold_console`, refreshed every
HEARTBEAT_SECONDS, lasting HOLD_SECONDS: a process that dies stops refreshing and its holds run
out). When the last socket of a counsellor here closes, this process releases its hold at once
and arms the offline grace; when the grace ends, it sets them offline only if no other process
holds a console of theirs. Timers sleep on the injected clock, so tests move time.

A process that dies (kill -9) with a counsellor's last console arms no grace: the heartbeat of
every other process that has had a console looks for counsellors not offline whom nobody holds
(`_sweep_orphans`): holds all run out, no socket here, no grace running here. Seen so twice,
`ORPHAN_CONFIRM_SECONDS` of *real* time apart, they are set offline (their teens handed back,
each told). Real time, not the helpline's clock: on a hand-moved test clock every jump past
HOLD_SECONDS makes holds look run out until the next beat renews them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter

from gateway.core.helpline import Helpline
from gateway.core.periodic import Periodic
from gateway.domain.errors import GatewayError
from gateway.domain.model import Presence
from gateway.domain.rate_limit import MONOTONIC

log = logging.getLogger(__name__)

OFFLINE_GRACE_SECONDS = 20.0  # a page reload must not flip a counsellor to "hors ligne"
HEARTBEAT_SECONDS = 5.0  # each process refreshes its holds this often…
HOLD_SECONDS = 15.0  # …each lasting this long: three heartbeats may be late before it runs out
ORPHAN_CONFIRM_SECONDS = 2 * HEARTBEAT_SECONDS  # real time between the two sightings of an orphan


class ConsolePresence:
    """Counts each counsellor's open console sockets here, holds them in the store by heartbeat,
    and arms the offline grace when none is left here."""

    def __init__(self, helpline: Helpline, grace_seconds: float = OFFLINE_GRACE_SECONDS):
        self.helpline = helpline
        self.grace_seconds = grace_seconds
        self.holder = uuid.uuid4().hex  # this process, in the store's holds
        self._open: Counter[str] = Counter()
        self._timers: dict[str, asyncio.Task] = {}
        self._armed_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._sleeping: set[str] = set()  # counsellors whose grace sleeps on the clock now
        self._beat_waiters: list[asyncio.Future[None]] = []
        self._releases: set[asyncio.Task] = set()
        self._heartbeat = Periodic("console-heartbeat", self.beat, HEARTBEAT_SECONDS, helpline.clock)
        self._closed = False  # shutting down: sockets closing now arm no grace
        self._orphans: dict[str, float] = {}  # counsellor id -> when (monotonic) first seen held by nobody

    def socket_opened(self, counsellor_id: str) -> None:
        """A socket of theirs is (back) open: held at once, a pending grace is called off."""
        self._open[counsellor_id] += 1
        timer = self._timers.pop(counsellor_id, None)
        self._sleeping.discard(counsellor_id)
        if timer is not None:
            timer.cancel()
        if self._closed:
            return
        if self._heartbeat.running:
            self._heartbeat.kick()
        else:
            self._heartbeat.start()  # its first round holds this one

    def socket_closed(self, counsellor_id: str) -> None:
        self._open[counsellor_id] -= 1
        if self._open[counsellor_id] > 0:
            return
        del self._open[counsellor_id]
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        release = loop.create_task(self._release(counsellor_id), name="console-release")
        self._releases.add(release)
        release.add_done_callback(self._releases.discard)
        if counsellor_id not in self._timers:
            self._timers[counsellor_id] = loop.create_task(
                self._offline_after_grace(counsellor_id), name="console-offline-grace")

    def connected(self, counsellor_id: str) -> bool:
        return self._open[counsellor_id] > 0

    def grace_pending(self, counsellor_id: str) -> bool:
        """Whether an offline grace is running for this counsellor."""
        return counsellor_id in self._timers

    def pending_grace(self, counsellor_id: str) -> asyncio.Task | None:
        """The running offline grace of this counsellor, if any (a test awaits its end)."""
        return self._timers.get(counsellor_id)

    async def grace_armed(self, counsellor_id: str) -> None:
        """Return once this counsellor's grace sleeps on the clock (a test may then move time)."""
        if counsellor_id in self._sleeping:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._armed_waiters.setdefault(counsellor_id, []).append(waiter)
        await waiter

    def next_beat(self) -> asyncio.Future[None]:
        """Done when the next heartbeat round has written its holds (a test awaits it)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._beat_waiters.append(waiter)
        return waiter

    async def beat(self) -> None:
        """One heartbeat: every counsellor with a socket open here is held until now + HOLD_SECONDS."""
        until = self.helpline.clock.now() + HOLD_SECONDS
        try:
            for counsellor_id in list(self._open):
                await self.helpline.store.hold_console(counsellor_id, self.holder, until)
                if not self.connected(counsellor_id):  # its last socket closed during this round
                    await self.helpline.store.release_console(counsellor_id, self.holder)
            await self._sweep_orphans()
        finally:
            waiters, self._beat_waiters = self._beat_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _sweep_orphans(self) -> None:
        """Counsellors left present by a process that died with their last console: offline once
        seen held by nobody twice, ORPHAN_CONFIRM_SECONDS of real time apart."""
        now, seen = self.helpline.clock.now(), MONOTONIC.now()
        for counsellor in await self.helpline.store.counsellors():
            cid = counsellor.id
            if (counsellor.presence is Presence.OFFLINE or self.connected(cid) or cid in self._timers
                    or await self.helpline.store.console_held_elsewhere(cid, self.holder, now)):
                self._orphans.pop(cid, None)
                continue
            first = self._orphans.setdefault(cid, seen)
            if seen - first >= ORPHAN_CONFIRM_SECONDS:
                del self._orphans[cid]
                log.info("a counsellor's consoles are held by no process: marked offline")
                await self.helpline.set_presence(cid, Presence.OFFLINE)

    async def _release(self, counsellor_id: str) -> None:
        """No socket of theirs here any more: other processes' graces stop counting this one."""
        try:
            await self.helpline.store.release_console(counsellor_id, self.holder)
        except GatewayError:
            return  # the store is away: the hold runs out by itself
        if self.connected(counsellor_id) and not self._closed:
            self._heartbeat.kick()  # a socket came back meanwhile: hold it again, whatever landed last

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
            if await self.helpline.store.console_held_elsewhere(counsellor_id, self.holder,
                                                                self.helpline.clock.now()):
                log.info("a counsellor's console is held by another process: not marked offline")
                return
            await self.helpline.set_presence(counsellor_id, Presence.OFFLINE)
        except GatewayError:
            log.warning("could not mark a disconnected counsellor offline")

    async def close(self) -> None:
        """Shutdown: pending graces are dropped (the next process start sees the stored presence);
        the holds of this process are released, so another process's grace does not wait for them."""
        self._closed = True
        await self._heartbeat.stop()
        held = {*self._open, *self._timers}
        await asyncio.gather(*self._releases, return_exceptions=True)
        timers = list(self._timers.values())
        self._timers.clear()
        self._sleeping.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        for counsellor_id in held:
            try:
                await self.helpline.store.release_console(counsellor_id, self.holder)
            except GatewayError:
                break  # the store is away: the holds run out by themselves
