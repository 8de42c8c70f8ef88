"""The message phases, run the same way against the gateway and against the relay.

  burst teen→counsellor    every teen sends K messages without waiting for acks
  burst counsellor→teen    every console sends K replies per conversation, no waiting
  fixed rate               teens send R msg/s in total for T s: latency percentiles
  fixed rate at 200 msg/s  the CPU per message the issue's aim compares (if R is not 200)
and the idle sockets (hello only) for the memory of each socket and the hellos per second.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter

from .load import ConsoleClient, Hub, Tally, Target, TeenClient, bench_text, bounded, new_session, perf, quiesce
from .meter import CpuMeter, PhaseResult, Run
from .procs import memory_kb
from .report import mb, report_phase, say

CPU_AIM_RATE = 200.0  # issue #15: "gateway CPU per message at 200 msg/s ≤ 3× the relay's"
UIDS = itertools.count(1)


class Snapshot:
    """Acks and error frames received during one phase."""

    def __init__(self, hub: Hub, teens: list[TeenClient], consoles: list[ConsoleClient], side: str):
        self.hub, self.side, self.clients = hub, side, (teens if side == "widget" else consoles)
        self.errors = Counter(hub.errors)
        self.errors_total = sum(hub.errors.values())
        self.acks = sum(c.acks for c in self.clients)

    def refused(self) -> int:
        """Error frames received since the start: each refuses one message (no delivery to wait for)."""
        return sum(self.hub.errors.values()) - self.errors_total

    def finish(self, p: PhaseResult, has_acks: bool) -> None:
        if has_acks:
            p.extra["acks"] = sum(c.acks for c in self.clients) - self.acks
            if self.side == "widget":  # an ack per stored message: more deliveries than acks = refused yet stored
                p.extra["delivered_unacked"] = max(0, p.tally.received - p.extra["acks"])
        p.extra["errors"] = Counter(self.hub.errors) - self.errors


async def _until(predicate, event: asyncio.Event) -> None:
    while not predicate():
        event.clear()
        await event.wait()


class Session:
    """One target's connected clients and the phases run on them."""

    def __init__(self, target: Target, server_pid: int, pids: dict, args):
        self.target, self.server_pid, self.pids, self.args = target, server_pid, pids, args
        self.hub = target.hub
        self.run = Run(target.name)
        self.teens: list[TeenClient] = []
        self.consoles: list[ConsoleClient] = []

    async def connect(self, usernames: list[str]) -> None:
        target, n, m = self.target, self.args.teens, self.args.counsellors
        t0 = perf()
        for j in range(m):  # sequential: each gateway login hashes a password (argon2)
            self.consoles.append(await target.console(j, usernames[j]))
        if target.has_routing:
            for c in self.consoles:
                await c.ws.send_str('{"type":"presence","presence":"available"}')
            for c in self.consoles:
                await asyncio.wait_for(_until(lambda c=c: c.presence == "available", c.presence_changed), 10)
        results = await bounded((target.teen(i, i % m) for i in range(n)), 50)
        self.teens = [r for r in results if isinstance(r, TeenClient)]
        failures = [r for r in results if not isinstance(r, TeenClient)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {n} {target.name} widgets failed to connect: {failures[0]!r}")
        mem = self.run.connect["mem_connected"] = memory_kb(self.server_pid)
        say(f"  [{target.name}] {m} consoles and {n} widgets connected in {perf() - t0:.1f} s;"
            f" {target.name} RSS {mb(mem.get('VmRSS'))}, peak so far {mb(mem.get('VmHWM'))}"
            + (" (the logins: argon2id verifies)" if target.has_routing else ""))

    async def assign(self) -> None:
        """Every teen's first line, until each conversation is assigned (the relay: fixed pairs)."""
        n, consoles, server = self.args.teens, self.consoles, self.target.name
        if not self.target.has_routing:
            for c in consoles:
                c.conversations = [str(i) for i in range(n) if i % len(consoles) == c.index]
            return
        t1 = perf()
        assigned_total = asyncio.Event()

        def count_assigned() -> None:
            if sum(len(c.conversations) for c in consoles) >= n:
                assigned_total.set()

        for c in consoles:
            c.on_assigned = count_assigned
        count_assigned()
        # 50 at a time: here every conversation must open (the arrivals burst, bench/burst.py,
        # is where an unbounded crowd is measured).
        outcomes = await bounded((t.say_until_stored(f"bonjour, je suis le numéro {t.index}")
                                  for t in self.teens), 50)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} first messages could not be stored: {failed[0]!r}")
        retried = self.run.connect["first_retries"] = sum(outcomes, Counter())
        if retried:
            say(f"  [{server}] ! first messages (50 in flight at a time) needed retries: {dict(retried)}")
        try:
            await asyncio.wait_for(assigned_total.wait(), timeout=max(30.0, n / 10))
            await asyncio.wait_for(asyncio.gather(*(t.assigned.wait() for t in self.teens)), timeout=15)
        except TimeoutError:
            got = sum(len(c.conversations) for c in consoles)
            teens_ok = sum(t.assigned.is_set() for t in self.teens)
            raise RuntimeError(f"only {got}/{n} conversations reached a console and {teens_ok}/{n} widgets "
                               f"saw 'assigned' in time") from None
        loads = sorted(len(c.conversations) for c in consoles)
        self.run.connect["assign_s"] = perf() - t1
        say(f"  [{server}] {n} first messages → {n} conversations assigned in {perf() - t1:.2f} s"
            f" (per counsellor: {loads[0]}..{loads[-1]})")

    async def phase(self, key: str, name: str, tally: Tally, side: str, send,
                    rate: float | None = None) -> PhaseResult:
        """Run `send()`, then wait for the deliveries; CPU is counted up to the last delivery."""
        args, hub = self.args, self.hub
        snap = Snapshot(hub, self.teens, self.consoles, side)
        with CpuMeter(self.pids) as cpu:
            start = perf()
            send_info = await send()
            send_done = perf() - start
            await tally.settle(args.stall, args.cap, refused=snap.refused, on_progress=cpu.mark)
            await quiesce(hub, tally, quiet=1.0, cap=args.cap, on_progress=cpu.mark)  # late ones count
            wall = perf() - start
        p = PhaseResult(name, tally, wall, cpu, memory_kb(self.server_pid), rate=rate)
        snap.finish(p, self.target.has_routing)
        p.extra["line"] = send_info or f"all {tally.sent:,} frames written by the clients in {send_done:.2f} s"
        self.run.phases[key] = p
        report_phase(self.target.name, self.target.name, p)
        return p

    async def teen_burst(self) -> PhaseResult:
        """Every teen writes its K messages at once, acks not awaited."""
        k = self.args.messages
        tally = self.hub.tally("A", len(self.teens) * k)

        async def one(t: TeenClient) -> None:
            for i in range(k):
                uid = t.index * k + i
                tally.mark_sent(perf())
                await t.send_message(bench_text("A", uid, t.index), f"a{uid}")

        async def send() -> None:
            await asyncio.gather(*(one(t) for t in self.teens))

        return await self.phase("A", "burst teen→counsellor", tally, "widget", send)

    async def console_burst(self) -> PhaseResult:
        """Every console writes K replies per conversation at once."""
        k = self.args.messages
        tally = self.hub.tally("B", sum(len(c.conversations) for c in self.consoles) * k)

        async def one(c: ConsoleClient) -> None:
            for _ in range(k):
                for conv in c.conversations:
                    uid = next(UIDS)
                    tally.mark_sent(perf())
                    await c.send_reply(conv, bench_text("B", uid, conv), f"b{uid}")

        async def send() -> None:
            await asyncio.gather(*(one(c) for c in self.consoles))

        return await self.phase("B", "burst counsellor→teen", tally, "console", send)

    async def fixed_rate(self, tag: str, rate: float, seconds: float) -> PhaseResult:
        """Teen→counsellor at `rate` msg/s in total, round robin over the teens (open loop)."""
        total = max(1, int(rate * seconds))
        tally = self.hub.tally(tag, total)
        teens = self.teens

        async def send() -> str:
            start = perf()
            sent = 0
            while sent < total:
                due = min(total, int((perf() - start) * rate) + 1)
                while sent < due:
                    t = teens[sent % len(teens)]
                    uid = next(UIDS)
                    tally.mark_sent(perf())
                    await t.send_message(bench_text(tag, uid, t.index), f"{tag.lower()}{uid}")
                    sent += 1
                await asyncio.sleep(0.001)
            wall = perf() - start
            tally.achieved_rate = total / wall
            return f"send rate achieved {total / wall:,.0f} msg/s over {wall:.2f} s"

        return await self.phase(tag, f"fixed rate {rate:,.0f} msg/s for {seconds:g} s (teen→counsellor)",
                                tally, "widget", send, rate=rate)

    async def rates(self, second_rate: float | str | None) -> None:
        """The fixed-rate phases: `args.rate`; a second one (see `message_phases`); and one at
        CPU_AIM_RATE unless a phase already ran at it."""
        args, server = self.args, self.target.name
        await self.fixed_rate("R", args.rate, args.rate_seconds)
        if second_rate == "auto":
            second_rate = sustainable_rate(self.run, args)
            if second_rate:
                say(f"  [{server}] {args.rate:,.0f} msg/s is more than this {server} sustains: once more at"
                    f" {second_rate:,.0f} msg/s (about half its burst throughput) for a steady-state latency")
        if second_rate:
            self.run.second_rate = second_rate
            await self.fixed_rate("S", second_rate, args.rate_seconds)
        if self.run.at_rate(CPU_AIM_RATE) is None:
            await self.fixed_rate("C", CPU_AIM_RATE, args.rate_seconds)

    def check_crosstalk(self) -> None:
        """Did each message reach the right person? (the owner field of every bench text)"""
        if not self.target.has_routing:
            return
        crosstalk = self.run.crosstalk
        for c in self.consoles:
            for conv, owners in c.owners.items():
                if len(owners) > 1:
                    crosstalk.append(f"console {c.index}: conversation {conv[:8]} carried texts of teens "
                                     f"{sorted(owners)[:5]}")
        owner_of: dict[str, int] = {}
        for t in self.teens:
            if len(t.owners) > 1:
                crosstalk.append(f"widget {t.index} received replies of conversations {sorted(t.owners)[:3]}")
            for conv in t.owners:
                if conv in owner_of and owner_of[conv] != t.index:
                    crosstalk.append(f"conversation {conv[:8]} replies reached widgets {owner_of[conv]} "
                                     f"and {t.index}")
                owner_of[conv] = t.index
        say(f"  [{self.target.name}] cross-talk (a text delivered to the wrong person): {len(crosstalk) or 'none'}")
        for line in crosstalk[:5]:
            say(f"      ! {line}")

    async def close(self) -> None:
        self.hub.shutting_down = True
        clients = [*self.teens, *self.consoles]
        for client in clients:
            if client.task:
                client.task.cancel()
        await bounded((client.ws.close() for client in clients), 200)
        self.hub.shutting_down = False


async def message_phases(target: Target, server_pid: int, pids: dict, args,
                         usernames: list[str], second_rate: float | str | None = None) -> Run:
    """Connect, assign, then the phases. `second_rate`: a rate for one more fixed-rate phase, or
    "auto": one at half the burst throughput if `args.rate` proved more than the server sustains."""
    session = Session(target, server_pid, pids, args)
    await session.connect(usernames)
    await session.assign()
    await session.teen_burst()
    await session.console_burst()
    await session.rates(second_rate)
    session.check_crosstalk()
    await session.close()
    return session.run


def sustainable_rate(run: Run, args) -> float | None:
    """Half the burst throughput (a multiple of 50) if the fixed rate overloaded the server, else None."""
    r = run.phases["R"]
    overloaded = (r.lost > 0 or (r.tally.percentile_ms(0.99) or 0) > 1000
                  or (r.tally.achieved_rate or 0) < 0.95 * args.rate)
    if not overloaded:
        return None
    burst = min(run.phases["A"].throughput, run.phases["B"].throughput)
    return max(50.0, (burst / 2) // 50 * 50)


async def idle_phase(target: Target, server_pid: int, pids: dict, s: int, concurrency: int, cap: float) -> dict:
    """S widget sockets opened (hello → welcome) and left idle: hellos/s, then RSS per socket."""
    hub = target.hub
    session = new_session()
    before = memory_kb(server_pid)
    deadline = perf() + cap
    errors: Counter[str] = Counter()

    async def one(i: int):
        if perf() > deadline:
            errors["not attempted (time cap)"] += 1
            return None
        try:
            return await asyncio.wait_for(target.teen(10**6 + i, 0, session=session, kind="idle-widget"), 30)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors[type(exc).__name__] += 1
            return None

    with CpuMeter(pids) as cpu:
        start = perf()
        results = await bounded((one(i) for i in range(s)), concurrency)
        open_wall = perf() - start
    idle = [r for r in results if r is not None]
    await asyncio.sleep(2.0)  # let the server settle before reading its memory
    out = {"server": target.name, "wanted": s, "opened": len(idle), "errors": errors,
           "open_wall": open_wall, "cpu": cpu, "before": before, "with_open": memory_kb(server_pid),
           "still_open": sum(1 for t in idle if not t.ws.closed), "client_rss": memory_kb(os.getpid())}
    hub.shutting_down = True
    for t in idle:
        t.task.cancel()
    await session.close()  # drops every connection at once
    await asyncio.sleep(3.0)
    hub.shutting_down = False
    out["after_close"] = memory_kb(server_pid)
    return out

