"""`python -m bench [--quick] [--teens N] [--counsellors M] [--messages K] [--rate R]
[--rate-seconds T] [--idle S]` — see bench/__init__.py.

Phases, against one gateway process on a private Redis, then against the bare relay:
  burst teen→counsellor    every teen sends K messages without waiting for acks
  burst counsellor→teen    every console sends K replies per conversation, no waiting
  fixed rate               teens send R msg/s in total for T s: latency percentiles
and, on the gateway only, S idle widget sockets (hello only) for its memory.
Every figure comes with the CPU each process used meanwhile (% of one core), so a phase
limited by the load generator rather than the server says so.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from .load import (PASSWORD, ConsoleClient, GatewayTarget, Hub, RelayTarget, SpreadTarget, Tally, Target,
                   TeenClient,
                   bench_text, bounded, new_session, perf, quiesce)
from .burst import burst_phase
from .burst import refusals as burst_refusals
from .burst import report as burst_report
from .profile import Profiler, summary
from .procs import Service, cpu_seconds, free_port, memory_kb, raise_fd_limit
from . import webhooks

ROOT = Path(__file__).resolve().parent.parent
PSEUDONYM_KEY = "bench-only-pseudonym-key-0123456789abcdef"
MAX_PER_COUNSELLOR = 50  # the config's upper bound
UIDS = itertools.count(1)


# --- small helpers -------------------------------------------------------------------------


def mb(kb: int | None) -> str:
    return "?" if not kb else f"{kb / 1024:,.0f} MB"


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def rate_str(value: float) -> str:
    return f"{value:,.0f} msg/s"


def times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def say(text: str = "") -> None:
    print(text, flush=True)


def cpu_of(pid: int | tuple[int, ...]) -> float:
    """CPU seconds of a process, or summed over several (--processes N)."""
    return sum(cpu_seconds(p) for p in pid) if isinstance(pid, tuple) else cpu_seconds(pid)


class CpuMeter:
    """CPU used by each process (or group of processes) over a phase, as a fraction of one core."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def __enter__(self) -> "CpuMeter":
        self.last = None
        self.t0 = perf()
        self.c0 = {name: cpu_of(pid) for name, pid in self.pids.items()}
        self.client0 = time.process_time()
        return self

    def mark(self) -> None:
        """Now is the end of the useful window (e.g. the last delivery) unless marked again."""
        self.last = (perf(), {name: cpu_of(pid) for name, pid in self.pids.items()}, time.process_time())

    def __exit__(self, *exc) -> None:
        if getattr(self, "last", None) is None:
            self.mark()
        end, cpu, client = self.last
        wall = self.wall = max(end - self.t0, 1e-9)
        self.share = {name: (cpu[name] - self.c0[name]) / wall for name in self.pids}
        self.share["client"] = (client - self.client0) / wall

    def text(self) -> str:
        text = " · ".join(f"{name} {share:.0%}" for name, share in self.share.items())
        if self.wall < 1.0:  # /proc counts CPU in 10 ms ticks
            text += f"  (rough: a {self.wall * 1000:.0f} ms window, CPU is counted in 10 ms ticks)"
        return text

    def verdict(self, server: str) -> str:
        if self.wall < 0.5:
            return ""
        s = self.share
        notes = []
        if s.get("client", 0) >= 0.85:
            notes.append("CLIENT-BOUND: the load generator used a whole core")
        if s.get(server, 0) >= 0.85:
            notes.append(f"{server} used a whole core (one process = one core)")
        if sum(s.values()) >= 1.8:
            notes.append("the 2 cores were saturated")
        return "; ".join(notes)


@dataclass
class PhaseResult:
    name: str
    tally: Tally
    wall: float
    cpu: CpuMeter
    server_mem: dict[str, int]
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        t = self.tally
        if not t.received or t.first_send is None or t.last_recv is None:
            return 0.0
        return t.received / max(t.last_recv - t.first_send, 1e-9)

    @property
    def lost(self) -> int:
        return self.tally.expected - self.tally.received


@dataclass
class Run:
    """All the results of one target's message phases."""

    target: str
    second_rate: float | None = None
    connect: dict = field(default_factory=dict)
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    crosstalk: list[str] = field(default_factory=list)
    acks: dict[str, int] = field(default_factory=dict)


# --- the phases ----------------------------------------------------------------------------


def report_phase(target: str, server: str, p: PhaseResult) -> None:
    t = p.tally
    lost = f"lost {p.lost:,}" + (f", duplicates {t.duplicates:,}" if t.duplicates else "")
    window = (t.last_recv - t.first_send) if t.last_recv and t.first_send else 0.0
    say(f"  [{target}] {p.name}: sent {t.sent:,}, delivered {t.received:,} ({lost}) in {window:.2f} s"
        f" → {rate_str(p.throughput)}")
    extra = p.extra.get("line")
    if extra:
        say(f"      {extra}")
    if "acks" in p.extra:
        say(f"      acks {p.extra['acks']:,} of {t.sent:,}" + (f"; error frames {dict(p.extra['errors'])}"
                                                               if p.extra.get("errors") else ""))
        if p.extra.get("delivered_unacked"):
            say(f"      ! {p.extra['delivered_unacked']:,} messages reached the counsellor although the teen got an"
                f" error frame instead of an ack (a retry would show them twice)")
    say(f"      latency p50 {ms(t.percentile_ms(0.50))}  p90 {ms(t.percentile_ms(0.90))}"
        f"  p99 {ms(t.percentile_ms(0.99))}  max {ms(t.percentile_ms(1.0))}")
    say(f"      CPU (% of one core): {p.cpu.text()}")
    say(f"      {server} RSS {mb(p.server_mem.get('VmRSS'))} (peak {mb(p.server_mem.get('VmHWM'))})")
    verdict = p.cpu.verdict(server)
    if verdict:
        say(f"      note: {verdict}")


async def message_phases(target: Target, server_pid: int, pids: dict[str, int], args,
                         usernames: list[str], second_rate: float | str | None = None) -> Run:
    """Connect, assign, then the phases. `second_rate`: a rate for one more fixed-rate phase, or
    "auto": one at half the burst throughput if `args.rate` proved more than the server sustains."""
    hub = target.hub
    run = Run(target.name)
    n, m, k = args.teens, args.counsellors, args.messages
    server = target.name
    t0 = perf()

    consoles: list[ConsoleClient] = []
    for j in range(m):  # sequential: each gateway login hashes a password (argon2)
        consoles.append(await target.console(j, usernames[j]))
    if target.has_routing:
        for c in consoles:
            await c.ws.send_str('{"type":"presence","presence":"available"}')
        for c in consoles:
            await asyncio.wait_for(_until(lambda c=c: c.presence == "available", c.presence_changed), 10)
    results = await bounded((target.teen(i, i % m) for i in range(n)), 50)
    teens = [r for r in results if isinstance(r, TeenClient)]
    failures = [r for r in results if not isinstance(r, TeenClient)]
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} {server} widgets failed to connect: {failures[0]!r}")
    connected = perf() - t0
    mem = run.connect["mem_connected"] = memory_kb(server_pid)
    say(f"  [{server}] {m} consoles and {n} widgets connected in {connected:.1f} s;"
        f" {server} RSS {mb(mem.get('VmRSS'))}, peak so far {mb(mem.get('VmHWM'))}"
        + (" (the logins: argon2id verifies)" if target.has_routing else ""))

    if target.has_routing:
        t1 = perf()
        assigned_total = asyncio.Event()

        def count_assigned() -> None:
            if sum(len(c.conversations) for c in consoles) >= n:
                assigned_total.set()

        for c in consoles:
            c.on_assigned = count_assigned
        count_assigned()
        # 50 at a time: more in flight at once exhaust the gateway's Redis connection pool (the
        # bursts below show it); here every conversation must open.
        outcomes = await bounded((t.say_until_stored(f"bonjour, je suis le numéro {t.index}") for t in teens), 50)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} first messages could not be stored: {failed[0]!r}")
        retried = sum(outcomes, Counter())
        run.connect["first_retries"] = retried
        if retried:
            say(f"  [{server}] ! first messages (50 in flight at a time) needed retries: {dict(retried)}")
        try:
            await asyncio.wait_for(assigned_total.wait(), timeout=max(30.0, n / 10))
            await asyncio.wait_for(asyncio.gather(*(t.assigned.wait() for t in teens)), timeout=15)
        except TimeoutError:
            got = sum(len(c.conversations) for c in consoles)
            teens_ok = sum(t.assigned.is_set() for t in teens)
            raise RuntimeError(f"only {got}/{n} conversations reached a console and {teens_ok}/{n} widgets "
                               f"saw 'assigned' in time") from None
        loads = sorted(len(c.conversations) for c in consoles)
        run.connect["assign_s"] = perf() - t1
        say(f"  [{server}] {n} first messages → {n} conversations assigned in {perf() - t1:.2f} s"
            f" (per counsellor: {loads[0]}..{loads[-1]})")
    else:
        for c in consoles:
            c.conversations = [str(i) for i in range(n) if i % m == c.index]

    async def phase(key: str, name: str, tally: Tally, side: str, send) -> PhaseResult:
        """Run `send()`, then wait for the deliveries; CPU is counted up to the last delivery."""
        snap = Snapshot(hub, teens, consoles, side)
        with CpuMeter(pids) as cpu:
            start = perf()
            send_info = await send()
            send_done = perf() - start
            await tally.settle(args.stall, args.cap, refused=snap.refused, on_progress=cpu.mark)
            await quiesce(hub, tally, quiet=1.0, cap=args.cap, on_progress=cpu.mark)  # late ones count
            wall = perf() - start
        p = PhaseResult(name, tally, wall, cpu, memory_kb(server_pid))
        snap.finish(p, target.has_routing)
        p.extra["line"] = send_info or f"all {tally.sent:,} frames written by the clients in {send_done:.2f} s"
        run.phases[key] = p
        report_phase(server, server, p)
        return p

    # 1. burst teen → counsellor: every teen writes its K messages at once, acks not awaited
    tally_a = hub.tally("A", n * k)

    async def teen_burst(t: TeenClient) -> None:
        base = t.index * k
        for i in range(k):
            uid = base + i
            tally_a.mark_sent(perf())
            await t.send_message(bench_text("A", uid, t.index), f"a{uid}")

    async def send_a() -> None:
        await asyncio.gather(*(teen_burst(t) for t in teens))

    await phase("A", "burst teen→counsellor", tally_a, "widget", send_a)

    # 2. burst counsellor → teen: every console writes K replies per conversation at once
    tally_b = hub.tally("B", sum(len(c.conversations) for c in consoles) * k)

    async def console_burst(c: ConsoleClient) -> None:
        for _ in range(k):
            for conv in c.conversations:
                uid = next(UIDS)
                tally_b.mark_sent(perf())
                await c.send_reply(conv, bench_text("B", uid, conv), f"b{uid}")

    async def send_b() -> None:
        await asyncio.gather(*(console_burst(c) for c in consoles))

    await phase("B", "burst counsellor→teen", tally_b, "console", send_b)

    # 3. fixed rate teen → counsellor, round robin over the teens
    def fixed_rate(tag: str, rate: float, seconds: float):
        total = max(1, int(rate * seconds))
        tally = hub.tally(tag, total)

        async def send() -> str:
            start = perf()
            sent = 0
            while sent < total:
                due = min(total, int((perf() - start) * rate) + 1)
                while sent < due:
                    t = teens[sent % n]
                    uid = next(UIDS)
                    tally.mark_sent(perf())
                    await t.send_message(bench_text(tag, uid, t.index), f"{tag.lower()}{uid}")
                    sent += 1
                await asyncio.sleep(0.001)
            wall = perf() - start
            tally.achieved_rate = total / wall
            return f"send rate achieved {total / wall:,.0f} msg/s over {wall:.2f} s"

        return phase(tag, f"fixed rate {rate:,.0f} msg/s for {seconds:g} s (teen→counsellor)", tally, "widget",
                     send)

    await fixed_rate("R", args.rate, args.rate_seconds)
    if second_rate == "auto":
        second_rate = sustainable_rate(run, args)
        if second_rate:
            say(f"  [{server}] {args.rate:,.0f} msg/s is more than this {server} sustains: once more at"
                f" {second_rate:,.0f} msg/s (about half its burst throughput) for a steady-state latency")
    if second_rate:
        run.second_rate = second_rate
        await fixed_rate("S", second_rate, args.rate_seconds)

    # correctness: did each message reach the right person?
    if target.has_routing:
        for c in consoles:
            for conv, owners in c.owners.items():
                if len(owners) > 1:
                    run.crosstalk.append(f"console {c.index}: conversation {conv[:8]} carried texts of teens "
                                         f"{sorted(owners)[:5]}")
        owner_of = {}
        for t in teens:
            if len(t.owners) > 1:
                run.crosstalk.append(f"widget {t.index} received replies of conversations {sorted(t.owners)[:3]}")
            for conv in t.owners:
                if conv in owner_of and owner_of[conv] != t.index:
                    run.crosstalk.append(f"conversation {conv[:8]} replies reached widgets {owner_of[conv]} "
                                         f"and {t.index}")
                owner_of[conv] = t.index
        say(f"  [{server}] cross-talk (a text delivered to the wrong person): {len(run.crosstalk) or 'none'}")
        for line in run.crosstalk[:5]:
            say(f"      ! {line}")

    hub.shutting_down = True
    for client in [*teens, *consoles]:
        if client.task:
            client.task.cancel()
    await bounded((client.ws.close() for client in [*teens, *consoles]), 200)
    hub.shutting_down = False
    return run


def sustainable_rate(run: Run, args) -> float | None:
    """Half the burst throughput (a multiple of 50) if the fixed rate overloaded the server, else None."""
    r = run.phases["R"]
    overloaded = (r.lost > 0 or (r.tally.percentile_ms(0.99) or 0) > 1000
                  or (r.tally.achieved_rate or 0) < 0.95 * args.rate)
    if not overloaded:
        return None
    burst = min(run.phases["A"].throughput, run.phases["B"].throughput)
    return max(50.0, (burst / 2) // 50 * 50)


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


async def idle_phase(target: GatewayTarget, gateway: Service, pids: dict[str, int], s: int,
                     concurrency: int, cap: float) -> dict:
    hub = target.hub
    session = new_session()
    before = memory_kb(gateway.pid)
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
    await asyncio.sleep(2.0)  # let the gateway settle before reading its memory
    with_open = memory_kb(gateway.pid)
    still_open = sum(1 for t in idle if not t.ws.closed)
    client_rss = memory_kb(os.getpid())
    out = {
        "wanted": s, "opened": len(idle), "still_open": still_open, "errors": errors,
        "open_wall": open_wall, "cpu": cpu, "before": before, "with_open": with_open,
        "client_rss": client_rss,
    }
    hub.shutting_down = True
    for t in idle:
        t.task.cancel()
    await session.close()  # drops every connection at once
    await asyncio.sleep(3.0)
    hub.shutting_down = False
    out["after_close"] = memory_kb(gateway.pid)
    return out


# --- setup ---------------------------------------------------------------------------------


async def line_status(base: str) -> dict:
    """/api/line (the public /healthz says only ok or unavailable since #14)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/line") as r:
            return await r.json()


def write_config(path: Path, redis_url: str) -> None:
    doc = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    doc.setdefault("store", {})["url"] = redis_url
    doc["store"]["prefix"] = "bench"
    doc["opening_hours"] = {day: ["00:00-24:00"] for day in
                            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    doc.setdefault("routing", {})["max_conversations_per_counsellor"] = MAX_PER_COUNSELLOR
    doc["public_holidays"] = "open"
    doc["closures"] = []
    # Every simulated teen comes from 127.0.0.1: lift the per-address limits (not what is measured).
    doc.setdefault("limits", {}).update(widget_sockets_per_address=1_000_000, widget_connects_per_minute=1_000_000,
                                        widget_messages_per_minute=600, new_conversations_per_minute=100_000)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def create_accounts(usernames: list[str], config: Path, env: dict[str, str]) -> None:
    async def add(username: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "counsellor", "add", username,
            "--display-name", f"Conseil {username[-3:]}", "--password-stdin", "--config", str(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=env, cwd=ROOT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(f"{PASSWORD}\n".encode()), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"`gateway counsellor add {username}` timed out") from None
        if proc.returncode != 0:
            raise RuntimeError(f"`gateway counsellor add {username}` failed ({proc.returncode}):\n"
                               f"{out.decode(errors='replace')[-2000:]}")

    results = await bounded((add(u) for u in usernames), 2)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise failed[0]


def log_problems(path: Path) -> tuple[Counter[str], Counter[str], list[str]]:
    """Warning/error lines and tracebacks of a gateway log, grouped by message and by final exception."""
    problems: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    tracebacks: list[str] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return problems, exceptions, tracebacks
    i = 0
    while i < len(lines):
        line = lines[i]
        match = re.search(r"\b(WARNING|ERROR|CRITICAL)\b (.*)", line)
        if match:
            text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", match.group(2))
            problems[f"{match.group(1)} {text[:160]}"] += 1
        elif line.startswith("Traceback"):
            block = [line]
            i += 1
            while i < len(lines) and not re.match(r"\d{4}-\d\d-\d\d ", lines[i]):
                block.append(lines[i])
                i += 1
            final = next((b for b in reversed(block) if b.strip() and not b.startswith(" ")), block[-1])
            exceptions[final[:200]] += 1
            if len(tracebacks) < 1:
                tracebacks.append("\n".join(block[-30:]))
            continue
        i += 1
    return problems, exceptions, tracebacks


# --- the run -------------------------------------------------------------------------------


async def run(args) -> int:
    from tests.redis_server import RedisServer  # the repo's throwaway redis-server

    hub = Hub()
    workdir = Path(tempfile.mkdtemp(prefix="bench-3018-"))
    redis = RedisServer()
    gateway: Service | None = None
    relay: Service | None = None
    session = None
    runs: dict[str, Run] = {}
    idle: dict | None = None
    profiler: Profiler | None = None
    burst: dict | None = None
    hooks: dict | None = None  # the webhook phase (bench/webhooks.py)
    standin: Service | None = None
    extras: list[Service] = []  # --processes N: the other N-1 gateways on the same Redis
    started = perf()
    try:
        redis.start()
        config = workdir / "config.yaml"
        write_config(config, redis.url)
        env = dict(os.environ, GATEWAY_PSEUDONYM_KEY=PSEUDONYM_KEY, GATEWAY_STORE_URL=redis.url,
                   PYTHONUNBUFFERED="1")
        if args.webhook_batch > 0 or args.webhook_rate > 0:  # Meta on: the stand-in plays the Graph API
            standin, standin_url = webhooks.start_standin(workdir, env, ROOT)
            env.update(webhooks.SECRETS)
            webhooks.point_config(config, standin_url)
            await webhooks.wait_standin(standin_url)
        usernames = [f"bench{j:03d}" for j in range(args.counsellors)]
        t0 = perf()
        await create_accounts(usernames, config, env)
        say(f"[setup] redis-server on {redis.url} (pid {redis._process.pid}); "
            f"{len(usernames)} counsellor accounts created with the CLI in {perf() - t0:.1f} s")

        port = free_port()
        gateway = Service("gateway", [sys.executable, "-m", "gateway", "serve", "--config", str(config),
                                      "--host", "127.0.0.1", "--port", str(port)],
                          workdir / "gateway.log", env, ROOT)
        gateway.start()
        health = await gateway.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        line = await line_status(f"http://127.0.0.1:{port}")
        say(f"[setup] gateway pid {gateway.pid} on 127.0.0.1:{port}: /healthz {health.get('status')}, "
            f"line open: {line.get('open')}; RSS {mb(memory_kb(gateway.pid).get('VmRSS'))}")
        if not line.get("open"):
            raise RuntimeError("the line is closed although opening_hours is 00:00-24:00 every day")
        ports = [port]
        for i in range(2, args.processes + 1):
            ports.append(free_port())
            extras.append(Service(f"gateway-{i}", [sys.executable, "-m", "gateway", "serve", "--config", str(config),
                                                   "--host", "127.0.0.1", "--port", str(ports[-1])],
                                  workdir / f"gateway-{i}.log", env, ROOT))
            extras[-1].start()
        for extra, extra_port in zip(extras, ports[1:]):
            await extra.wait_healthy(f"http://127.0.0.1:{extra_port}/healthz")
        if extras:
            say(f"[setup] {args.processes} gateway processes on one Redis (pids "
                f"{', '.join(str(g.pid) for g in [gateway, *extras])}); clients spread round-robin, CPU summed")

        def gateway_target() -> Target:
            targets = [GatewayTarget(f"http://127.0.0.1:{p}", hub, session) for p in ports]
            return targets[0] if len(targets) == 1 else SpreadTarget(targets)

        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profiler = Profiler(gateway.pid, Path(args.profile) / "gateway.raw")
            say(f"[setup] py-spy samples the gateway into {profiler.out}")

        session = new_session()
        pids = {"gateway": (gateway.pid, *(g.pid for g in extras)), "redis": redis._process.pid}
        say(f"\n[gateway] {args.teens} teens, {args.counsellors} counsellors, {args.messages} messages each")
        runs["gateway"] = await message_phases(gateway_target(),
                                               gateway.pid, pids, args, usernames, second_rate="auto")
        gateway_mem_msgs = memory_kb(gateway.pid)
        second_rate = runs["gateway"].second_rate
        if args.burst > 0:
            say(f"\n[gateway] burst: {args.burst} teens open the widget and write their first line at once")
            with CpuMeter(pids) as cpu:
                burst = await burst_phase(gateway_target(), usernames[0],
                                          args.burst)
            say("\n".join(burst_report(burst)))
            say(f"      CPU (% of one core): {cpu.text()}")

        relay_port = free_port()
        relay = Service("relay", [sys.executable, "-m", "bench.relay", "--host", "127.0.0.1",
                                  "--port", str(relay_port)], workdir / "relay.log", env, ROOT)
        relay.start()
        await relay.wait_healthy(f"http://127.0.0.1:{relay_port}/healthz")
        say(f"\n[relay] bare aiohttp relay pid {relay.pid} on 127.0.0.1:{relay_port} (no store, no logic), "
            f"same load")
        runs["relay"] = await message_phases(RelayTarget(f"http://127.0.0.1:{relay_port}", hub, session),
                                             relay.pid, {"relay": relay.pid}, args, usernames,
                                             second_rate=second_rate)
        relay_mem = memory_kb(relay.pid)
        relay.stop()

        if args.idle > 0:
            say(f"\n[gateway] {args.idle:,} idle widget sockets (hello only), {args.idle_concurrency} "
                f"handshakes at a time")
            idle = await idle_phase(gateway_target(), gateway, pids,
                                    args.idle, args.idle_concurrency, args.idle_cap)
            per = ((idle["with_open"].get("VmRSS", 0) - idle["before"].get("VmRSS", 0)) / max(idle["opened"], 1))
            say(f"  opened {idle['opened']:,}/{idle['wanted']:,} in {idle['open_wall']:.1f} s"
                f" ({idle['opened'] / max(idle['open_wall'], 1e-9):,.0f}/s), {idle['still_open']:,} still open"
                f" after 2 s" + (f"; failures: {dict(idle['errors'])}" if idle["errors"] else ""))
            say(f"  CPU while opening (% of one core): {idle['cpu'].text()}")
            say(f"  gateway RSS {mb(idle['before'].get('VmRSS'))} before → {mb(idle['with_open'].get('VmRSS'))}"
                f" with them open ({per:,.1f} KB per socket), peak {mb(idle['with_open'].get('VmHWM'))};"
                f" {mb(idle['after_close'].get('VmRSS'))} 3 s after they closed")
            say(f"  (client process RSS with them open: {mb(idle['client_rss'].get('VmRSS'))})")

        final_mem = memory_kb(gateway.pid)
        if standin is not None:
            seconds = args.webhook_seconds or (1.0 if args.quick else 3.0)
            say(f"\n[gateway] webhooks: {args.webhook_rate:,.0f} single-event POSTs/s for {seconds:g} s, then "
                f"one {args.webhook_batch:,}-event WhatsApp POST")
            with CpuMeter({**pids, "standin": standin.pid}) as cpu:
                hooks = await webhooks.webhook_phase(f"http://127.0.0.1:{port}", args.webhook_batch,
                                                     args.webhook_rate, seconds)
            say("\n".join(f"  {label}: {value} {note}" for label, value, note in webhooks.report(hooks)))
            say(f"      CPU (% of one core): {cpu.text()}")
        gateway_alive = gateway.alive()
    finally:
        hub.shutting_down = True
        if session is not None:
            await session.close()
        if profiler is not None:
            profiler.stop()
        for service in (relay, gateway, standin, *extras):
            if service is not None:
                service.stop()
        redis.cleanup()

    # --- the report ------------------------------------------------------------------------
    problems, exceptions, tracebacks = log_problems(workdir / "gateway.log")
    for extra in extras:
        more = log_problems(extra.log)
        problems, exceptions, tracebacks = problems + more[0], exceptions + more[1], tracebacks + more[2]
    say("\n[gateway log] " + ("no warnings or errors" if not problems and not exceptions else
                              f"{sum(problems.values()):,} warning/error lines, "
                              f"{sum(exceptions.values()):,} tracebacks"))
    for text, count in problems.most_common(8):
        say(f"  {count:>6} × {text}")
    if exceptions:
        say("  tracebacks by final exception:")
        for text, count in exceptions.most_common(6):
            say(f"  {count:>6} × {text}")
        say("  the first one (last 30 lines):")
        say("    " + tracebacks[0].replace("\n", "\n    "))
    if profiler is not None:
        say("\n[profile] the gateway's CPU by function (py-spy; `python -m bench.profile FILE [FILTER]`"
            " reads it again, e.g. FILTER=_welcome for the hellos only)")
        say("\n".join(summary(profiler.out)))
    if hub.errors:
        say(f"[clients] error frames received: {dict(hub.errors)}")
    if hub.closed:
        say(f"[clients] sockets closed by a server while in use: {dict(hub.closed)}")

    g, r = runs["gateway"], runs["relay"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lines = [f"3018 Gateway benchmark — {args.processes} gateway process{'es' if args.processes > 1 else ''}, Redis store, {os.cpu_count()} cores "
             f"({args.teens} teens, {args.counsellors} counsellors, {args.messages} msgs each"
             + (", --quick" if args.quick else "") + ")"]

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"{label:<31}{value:<28}{note}".rstrip())

    for key, label in (("A", "teen→counsellor throughput"), ("B", "counsellor→teen throughput")):
        gp, rp = g.phases[key], r.phases[key]
        row(label, rate_str(gp.throughput),
            f"(relay {rate_str(rp.throughput)} → {times(gp.throughput / rp.throughput if rp.throughput else 0)})")
    for key in ("R", "S"):
        gp, rp = g.phases.get(key), r.phases.get(key)
        if gp is None or rp is None:
            continue
        g50, g99 = gp.tally.percentile_ms(0.5), gp.tally.percentile_ms(0.99)
        r50, r99 = rp.tally.percentile_ms(0.5), rp.tally.percentile_ms(0.99)
        ratio = (f" → {times(g50 / r50)} / {times(g99 / r99)}" if g50 and g99 and r50 and r99 else "")
        rate = args.rate if key == "R" else g.second_rate
        row(f"latency at {rate:,.0f} msg/s", f"p50 {ms(g50)}  p99 {ms(g99)}",
            f"(relay p50 {ms(r50)} p99 {ms(r99)}{ratio})")
        if gp.lost or (gp.tally.achieved_rate or rate) < 0.95 * rate:
            row("", f"({gp.tally.received:,} of {gp.tally.expected:,} delivered"
                    + (f"; only {gp.tally.achieved_rate:,.0f} msg/s could be sent"
                       if (gp.tally.achieved_rate or rate) < 0.95 * rate else "") + ")")
    g_lost = sum(p.lost for p in g.phases.values())
    g_total = sum(p.tally.expected for p in g.phases.values())
    g_dup = sum(p.tally.duplicates for p in g.phases.values())
    r_lost = sum(p.lost for p in r.phases.values())
    g_refused = sum(sum(p.extra.get("errors", Counter()).values()) for p in g.phases.values())
    first_retries = sum(g.connect.get("first_retries", Counter()).values())
    row("messages lost", f"{g_lost:,}" + (f" (+{g_dup:,} duplicates)" if g_dup else ""),
        f"(of {g_total:,}; relay {r_lost:,}; cross-talk {len(g.crosstalk)})")
    if g_refused or first_retries:
        unacked = sum(p.extra.get("delivered_unacked", 0) for p in g.phases.values())
        row("error frames 'unavailable'", f"{g_refused:,}",
            "(messages refused: see the gateway log above"
            + (f"; {unacked:,} of them reached the counsellor all the same" if unacked else "")
            + (f"; + {first_retries} first messages retried" if first_retries else "") + ")")
    for label, value, note in webhooks.report(hooks) if hooks is not None else ():
        row(label, value, note)
    if burst is not None:
        row(f"burst of {burst['n']} first lines", f"{burst_refusals(burst):,} refused or lost",
            f"(aim 0; all answered in {burst['wall']:.2f} s; console {burst['pings']['error frames']} error frames)")
    row("gateway peak RSS", mb(gateway_mem_msgs.get("VmHWM")),
        f"(reached at the argon2 logins: {mb(g.connect['mem_connected'].get('VmHWM'))}; RSS after the"
        f" message phases {mb(gateway_mem_msgs.get('VmRSS'))}; relay peak {mb(relay_mem.get('VmHWM'))})")
    if idle is not None:
        per = (idle["with_open"].get("VmRSS", 0) - idle["before"].get("VmRSS", 0)) / max(idle["opened"], 1)
        row(f"{idle['opened']:,} idle widget sockets", f"RSS {mb(idle['with_open'].get('VmRSS'))}",
            f"(+{per:,.1f} KB per socket; peak {mb(final_mem.get('VmHWM'))})")
    for key, label in (("A", "CPU, teen→counsellor burst"), ("B", "CPU, counsellor→teen burst")):
        cpu = g.phases[key].cpu.share
        rcpu = r.phases[key].cpu.share
        row(label, f"gateway {cpu.get('gateway', 0):.0%} redis {cpu.get('redis', 0):.0%}",
            f"client {cpu.get('client', 0):.0%} of one core (relay run: relay {rcpu.get('relay', 0):.0%},"
            f" client {rcpu.get('client', 0):.0%})")
    row("client process", f"CPU {usage.ru_utime + usage.ru_stime:,.1f} s",
        f"peak RSS {usage.ru_maxrss / 1024:,.0f} MB, wall {perf() - started:,.0f} s")
    say("\n" + "\n".join(lines))
    notes = []
    for name, run_ in runs.items():
        for key, p in run_.phases.items():
            if p.cpu.share.get("client", 0) >= 0.85:
                notes.append(f"{name} {p.name}: the client used {p.cpu.share['client']:.0%} of a core"
                             + (f" (over only {p.cpu.wall * 1000:.0f} ms)" if p.cpu.wall < 1 else ""))
    if notes:
        say("note: client-bound phases (the server could go faster than measured there; ratios to them"
            " flatter the gateway):")
        for n in notes:
            say(f"  - {n}")
    if not gateway_alive:
        say("WARNING: the gateway process had died before the end of the run")
    if args.keep_logs:
        say(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if (g_lost or g.crosstalk or not gateway_alive) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmark of the 3018 Gateway.")
    p.add_argument("--teens", type=int, help="N widget clients (default 200; --quick 20)")
    p.add_argument("--counsellors", type=int, help="M console clients (default 10; --quick 2)")
    p.add_argument("--messages", type=int, help="K messages per teen in the bursts (default 50; --quick 10)")
    p.add_argument("--rate", type=float, help="msg/s of the fixed-rate phase (default 1000; --quick 200)")
    p.add_argument("--rate-seconds", type=float, help="its length in seconds (default 10; --quick 2)")
    p.add_argument("--idle", type=int, help="S idle widget sockets (default 10000; --quick 200; 0 = skip)")
    p.add_argument("--idle-concurrency", type=int, default=100, help="handshakes in flight (default 100)")
    p.add_argument("--idle-cap", type=float, default=120, help="seconds allowed to open them (default 120)")
    p.add_argument("--stall", type=float, default=10, help="a phase ends after this many s without a delivery")
    p.add_argument("--cap", type=float, default=90, help="longest wait for a phase's deliveries (s)")
    p.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    p.add_argument("--processes", type=int, default=1,
                   help="N gateway processes on the one Redis, clients spread round-robin (default 1)")
    p.add_argument("--burst", type=int, default=200,
                   help="teens opening conversations at the same instant (default 200; 0 = skip)")
    p.add_argument("--webhook-batch", type=int, default=1000,
                   help="events in the one large WhatsApp POST (default 1000; 0 = skip)")
    p.add_argument("--webhook-rate", type=float, default=1000,
                   help="single-event webhooks/s for the ack latency (default 1000; 0 = skip)")
    p.add_argument("--webhook-seconds", type=float, help="its length in seconds (default 3; --quick 1)")
    p.add_argument("--profile", metavar="DIR", help="sample the gateway with py-spy into DIR/gateway.raw")
    p.add_argument("--keep-logs", action="store_true", help="keep the gateway and relay logs")
    args = p.parse_args(argv)
    defaults = (dict(teens=20, counsellors=2, messages=10, rate=200, rate_seconds=2, idle=200) if args.quick
                else dict(teens=200, counsellors=10, messages=50, rate=1000, rate_seconds=10, idle=10_000))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.teens < 1 or args.counsellors < 1 or args.messages < 1 or args.rate <= 0 or args.rate_seconds <= 0:
        p.error("teens, counsellors, messages, rate and rate-seconds must be positive")
    if args.teens > args.counsellors * MAX_PER_COUNSELLOR:
        p.error(f"--teens must be ≤ counsellors × {MAX_PER_COUNSELLOR} (each conversation must be assigned)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    needed = 2 * (args.idle + args.teens + args.counsellors) + 1024
    limit = raise_fd_limit(needed)  # before spawning: the gateway inherits it
    if limit < args.idle + args.teens + args.counsellors + 256:
        new_idle = max(0, limit - args.teens - args.counsellors - 512)
        say(f"note: the file descriptor limit is {limit}; idle sockets reduced from {args.idle} to {new_idle}")
        args.idle = new_idle
    try:
        code = asyncio.run(run(args))
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
