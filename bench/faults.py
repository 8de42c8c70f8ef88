"""`python -m bench.faults [--small] [--sentinel] [--strict] [--json PATH] [--seed N] [--keep]`

The fault run (scripts/faults): N real gateway processes on one private Redis (AOF on, see
bench/faults_infra.py), teens and counsellors who behave as the pages do (bench/faults_clients.py),
and faults injected on a schedule while they talk: kill -9 of one process (restarted), SIGTERM
of another (restarted), a Redis restart (with `--sentinel`: a Sentinel failover instead, on a
master + replica + 3 sentinels), and 20% of the sockets cut. Then the store is read and a table
printed (bench/faults_audit.py). It is a measuring tool: exit 0 even when it finds losses;
`--strict` exits 1 unless lost, duplicated, seen-only-after-reload and double-assigned are all 0.

Sizes: the full run is 3 processes, 60 teens, 6 consoles, 40 messages each, every fault twice;
`--small` (2 processes, 6 teens, 2 consoles, 5 messages, each fault once) runs in the test suite.
Everything listens on loopback and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.faults_audit import not_zero, read_store, table, verdict
from bench.faults_clients import Counsellor, Record, Teen
from bench.faults_infra import AofRedis, Gateway, Prober
from bench.procs import raise_fd_limit
from tests.processes import add_counsellor, write_config

PASSWORD = "fault-run-password-not-a-secret"
PSEUDONYM_KEY = "fault-run-only-pseudonym-key-0123456789abcdef"
CUT_SHARE = 0.20


@dataclass(frozen=True)
class Size:
    processes: int
    teens: int
    consoles: int
    messages: int
    rounds: int  # how many times the whole fault schedule runs
    gap: float  # seconds of traffic between two faults
    outage: float  # seconds Redis (or a killed process) stays down


SMALL = Size(processes=2, teens=6, consoles=2, messages=5, rounds=1, gap=1.0, outage=1.5)
FULL = Size(processes=3, teens=60, consoles=6, messages=40, rounds=2, gap=5.0, outage=1.5)


def say(text: str = "") -> None:
    print(text, flush=True)


class Faults:
    """The schedule: each fault, then a gap of traffic; what happened is kept for the table."""

    def __init__(self, size: Size, gateways: list[Gateway], data, sentinel: bool, prober: Prober,
                 clients: list, rng: random.Random) -> None:
        self.size = size
        self.gateways = gateways
        self.data = data  # AofRedis or SentinelSet
        self.sentinel = sentinel
        self.prober = prober
        self.clients = clients
        self.rng = rng
        self.log: list[str] = []
        # (gateway, generation) -> when it got its signal: the closes after it are that fault's
        self.sigtermed: dict[tuple[str, int], float] = {}
        self.killed: dict[tuple[str, int], float] = {}
        self.sigterm_exits: list[tuple[int | None, float]] = []
        self.restart_failures = 0

    def note(self, text: str) -> None:
        self.log.append(text)
        say(f"  · {text}")

    async def run(self) -> None:
        for round_number in range(self.size.rounds):
            for fault in (self.kill_9, self.sigterm, self.redis, self.cut):
                await asyncio.sleep(self.size.gap)
                await fault(round_number)

    def _target(self, offset: int) -> Gateway:
        return self.gateways[offset % len(self.gateways)]

    async def _restart(self, gateway: Gateway) -> None:
        try:
            await asyncio.to_thread(gateway.start)
        except RuntimeError as exc:
            self.restart_failures += 1
            self.note(f"{gateway.name} did not come back: {str(exc)[:200]}")

    async def kill_9(self, round_number: int) -> None:
        gateway = self._target(round_number)
        self.killed[(gateway.name, gateway.generation)] = time.monotonic()
        await asyncio.to_thread(gateway.kill)
        self.note(f"kill -9 {gateway.name}")
        await asyncio.sleep(self.size.outage)
        await self._restart(gateway)
        self.note(f"{gateway.name} restarted")

    async def sigterm(self, round_number: int) -> None:
        gateway = self._target(round_number + 1)
        self.sigtermed[(gateway.name, gateway.generation)] = time.monotonic()
        code, seconds = await asyncio.to_thread(gateway.terminate)
        self.sigterm_exits.append((code, seconds))
        self.note(f"SIGTERM {gateway.name}: exit {code} after {seconds:.1f} s")
        await self._restart(gateway)
        self.note(f"{gateway.name} restarted")

    async def redis(self, round_number: int) -> None:
        if self.sentinel:
            await self._failover(round_number)
            return
        self.prober.redis_down = True
        started = time.monotonic()
        await asyncio.to_thread(self.data.stop)
        self.note("Redis stopped (SIGTERM)")
        await asyncio.sleep(self.size.outage)
        await asyncio.to_thread(self.data.start)
        self.prober.redis_down = False
        self.note(f"Redis back (AOF reloaded) after {time.monotonic() - started:.1f} s")

    async def _failover(self, round_number: int) -> None:
        if round_number > 0:
            self.note("Sentinel failover: done once only (the old master is not brought back)")
            return
        self.prober.redis_down = True
        started = time.monotonic()
        self.data.kill_master()
        self.note("Sentinel: master killed (kill -9)")
        port = await asyncio.to_thread(self.data.wait_for_promotion)
        self.prober.redis_down = False
        self.note(f"Sentinel: replica on port {port} promoted after {time.monotonic() - started:.1f} s")

    async def cut(self, round_number: int) -> None:
        connected = [c for c in self.clients if c.client is not None]
        chosen = self.rng.sample(connected, max(1, math.ceil(len(connected) * CUT_SHARE))) if connected else []
        cut = sum(client.cut() for client in chosen)
        self.note(f"cut {cut} of {len(connected)} sockets (no close frame)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the test suite's size: 2 processes, 6 teens, "
                        "2 consoles, 5 messages, each fault once")
    parser.add_argument("--sentinel", action="store_true",
                        help="run on a master + replica + 3 sentinels; the Redis fault becomes a failover")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 unless lost, duplicated, seen-only-after-reload, double-assigned are 0")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--seed", type=int, default=None, help="the random choices (sockets cut, pacing)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the Redis files")
    return parser.parse_args(argv)


class Run:
    """Everything one fault run starts, so that `stop()` can end all of it."""

    def __init__(self, size: Size, sentinel: bool, root: Path, rng: random.Random) -> None:
        self.size = size
        self.sentinel = sentinel
        self.root = root
        self.rng = rng
        self.prefix = f"faults{uuid.uuid4().hex[:8]}"
        self.data = None
        self.gateways: list[Gateway] = []
        self.prober: Prober | None = None
        self.teens: list[Teen] = []
        self.consoles: list[Counsellor] = []

    def start_data(self) -> str:
        if self.sentinel:
            from tests.redis_sentinel import SentinelSet  # only this mode needs it

            self.data = SentinelSet()
            self.data.start()
            return self.data.url
        self.data = AofRedis(self.root / "redis")
        self.data.start()
        return self.data.url

    async def start_gateways(self, url: str) -> Path:
        size = self.size
        capacity = min(50, math.ceil(size.teens / size.consoles) + 2)
        config = write_config(
            self.root / "config.yaml", url, self.prefix,
            routing={"max_conversations_per_counsellor": capacity},
            limits={"widget_messages_per_minute": 600, "widget_sockets_per_address": 100_000,
                    "widget_connects_per_minute": 1_000_000, "new_conversations_per_minute": 100_000},
        )
        await asyncio.gather(*(asyncio.to_thread(add_counsellor, config, f"conseil{j}", PASSWORD)
                               for j in range(size.consoles)))
        self.gateways = [Gateway(f"gw{i + 1}", config, self.root) for i in range(size.processes)]
        await asyncio.gather(*(asyncio.to_thread(g.start) for g in self.gateways))
        return config

    async def stop(self) -> None:
        for client in [*self.teens, *self.consoles]:
            await client.stop()
        if self.prober is not None:
            await self.prober.stop()
        await asyncio.gather(*(asyncio.to_thread(g.stop) for g in self.gateways))
        if self.data is not None:
            await asyncio.to_thread(self.data.cleanup)


async def settle(run: Run, deadline: float) -> None:
    """After the teens' last line: until every reply is answered (1 s quiet), then a barrier each."""
    quiet_since = None
    while time.monotonic() < deadline:
        if all(c.idle for c in run.consoles):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 1.0:
                break
        else:
            quiet_since = None
        await asyncio.sleep(0.1)
    await asyncio.gather(*(client.barrier() for client in [*run.teens, *run.consoles]))


async def traffic(run: Run, faults: Faults, deadline: float) -> None:
    size = run.size
    schedule_seconds = size.rounds * 4 * (size.gap + size.outage + 3.0)
    spacing = schedule_seconds / size.messages
    workers = [asyncio.create_task(c.run()) for c in run.consoles]
    try:
        await asyncio.gather(*(c.ensure() for c in run.consoles))
        teen_runs = asyncio.gather(*(t.run(size.messages, spacing) for t in run.teens))
        await asyncio.gather(teen_runs, faults.run())
        await settle(run, min(deadline, time.monotonic() + 30))
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def closes(record: Record, faults: Faults) -> dict:
    """Sockets that ended, by cause: SIGTERM (its close codes), kill -9, cut by us, or other."""
    sigterm: Counter[int] = Counter()
    other: Counter[int] = Counter()
    for close in record.closes:
        incarnation = (close.gateway, close.generation)
        if close.cut:
            continue
        if close.at >= faults.sigtermed.get(incarnation, float("inf")):
            sigterm[close.code] += 1
        elif close.at < faults.killed.get(incarnation, float("inf")):
            other[close.code] += 1
    return {"sigterm_close_codes": dict(sigterm), "other_closes": dict(other),
            "cut_sockets": sum(close.cut for close in record.closes)}


async def fault_run(size: Size, sentinel: bool, rng: random.Random, root: Path) -> dict:
    started = time.monotonic()
    run = Run(size, sentinel, root, rng)
    try:
        url = await asyncio.to_thread(run.start_data)
        await run.start_gateways(url)
        say(f"  {size.processes} gateways up on {'Sentinel' if sentinel else 'Redis (AOF, appendfsync always)'}"
            f" in {time.monotonic() - started:.1f} s")
        record = Record()
        deadline = time.monotonic() + 60 + size.rounds * size.messages * 6
        common = {"gateways": run.gateways, "record": record, "deadline": deadline}
        run.consoles = [Counsellor(j, f"conseil{j}", PASSWORD, rng=random.Random(rng.random()), **common)
                        for j in range(size.consoles)]
        run.teens = [Teen(i, rng=random.Random(rng.random()), **common) for i in range(size.teens)]
        run.prober = Prober(run.gateways)
        run.prober.start()
        faults = Faults(size, run.gateways, run.data, sentinel, run.prober, [*run.teens, *run.consoles], rng)
        await traffic(run, faults, deadline)
        stored = await read_store(url if not sentinel else run.data.url, run.prefix)
        result = verdict(stored, record, run.teens, run.consoles)
    finally:
        await run.stop()
    result.update(closes(record, faults))
    result["sigterm"] = {"close_codes": result.pop("sigterm_close_codes"),
                         "exit": [code for code, _ in faults.sigterm_exits],
                         "seconds": [round(s, 2) for _, s in faults.sigterm_exits]}
    result["healthz_while_redis_down"] = dict(run.prober.healthz_while_redis_down)
    result["http_500"] += run.prober.http_500
    result["restart_failures"] = faults.restart_failures
    result["faults"] = faults.log
    result["size"] = size.__dict__ | {"sentinel": sentinel}
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = SMALL if args.small else FULL
    os.environ.setdefault("GATEWAY_PSEUDONYM_KEY", PSEUDONYM_KEY)
    raise_fd_limit(4096)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    root = Path(tempfile.mkdtemp(prefix="gateway-faults-"))
    say(f"fault run: {size.processes} processes, {size.teens} teens, {size.consoles} consoles, "
        f"{size.messages} messages each, faults x{size.rounds}{' (Sentinel)' if args.sentinel else ''}; "
        f"seed {seed}; logs in {root}")
    try:
        result = asyncio.run(fault_run(size, args.sentinel, random.Random(seed), root))
    except BaseException:
        say(f"  the run itself failed: its logs are kept in {root}")
        raise
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    result["seed"] = seed
    say(table(result))
    say(f"  ({result['conversations']} conversations, {result['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    failed = not_zero(result)
    if failed:
        say(f"  not yet 0: {', '.join(failed)}")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
