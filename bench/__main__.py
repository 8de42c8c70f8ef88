"""`python -m bench [--quick] [--teens N] [--counsellors M] [--messages K] [--rate R]
[--rate-seconds T] [--idle S] [--loop auto|uvloop|asyncio] …` — see bench/README.md.

One run: a private Redis, the gateway process(es) on it, the message phases (bench/phases.py)
on the gateway then on the bare relay, the arrivals burst (bench/burst.py), S idle sockets on
each, the webhooks (bench/webhooks.py); then the summary (bench/report.py) and the issue's
aims beside this run's figures (bench/aims.py). Every figure comes with the CPU each process
used meanwhile (% of one core), so a phase limited by the load generator says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import aims, webhooks
from .burst import burst_phase
from .burst import report as burst_report
from .gateways import (MAX_PER_COUNSELLOR, PSEUDONYM_KEY, ROOT, create_accounts, gateway_loop, line_status,
                       relay_service, start_gateways, write_config)
from .load import GatewayTarget, Hub, RelayTarget, SpreadTarget, Target, new_session, perf
from .meter import CpuMeter, Results
from .phases import idle_phase, message_phases
from .procs import Service, free_port, memory_kb, raise_fd_limit
from .profile import Profiler, summary as profile_summary
from .report import client_bound_notes, mb, report_idle, report_logs, say, summary


class Bench:
    """One run's servers, clients and results."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.hub = Hub()
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-3018-"))
        self.res = Results(args, perf())
        self.services: list[Service] = []  # stopped at the end, in this order
        self.gateways: list[Service] = []
        self.ports: list[int] = []
        self.standin: Service | None = None
        self.session = None
        self.profiler: Profiler | None = None

    def gateway_target(self) -> Target:
        targets = [GatewayTarget(f"http://127.0.0.1:{p}", self.hub, self.session) for p in self.ports]
        return targets[0] if len(targets) == 1 else SpreadTarget(targets)

    @property
    def pids(self) -> dict:
        return {"gateway": tuple(g.pid for g in self.gateways), "redis": self.redis._process.pid}

    async def setup(self, redis) -> None:
        """Config, the Meta stand-in (webhook phases on), the accounts, the gateway process(es)."""
        args, workdir = self.args, self.workdir
        self.redis = redis
        config = workdir / "config.yaml"
        write_config(config, redis.url)
        env = dict(os.environ, GATEWAY_PSEUDONYM_KEY=PSEUDONYM_KEY, GATEWAY_STORE_URL=redis.url,
                   PYTHONUNBUFFERED="1")
        if args.webhook_batch > 0 or args.webhook_rate > 0:  # Meta on: the stand-in plays the Graph API
            self.standin, standin_url = webhooks.start_standin(workdir, env, ROOT)
            self.services.append(self.standin)
            env.update(webhooks.SECRETS)
            webhooks.point_config(config, standin_url)
            await webhooks.wait_standin(standin_url)
        self.env = env
        self.usernames = [f"bench{j:03d}" for j in range(args.counsellors)]
        t0 = perf()
        await create_accounts(self.usernames, config, env)
        say(f"[setup] redis-server on {redis.url} (pid {redis._process.pid}); "
            f"{len(self.usernames)} counsellor accounts created with the CLI in {perf() - t0:.1f} s")
        self.gateways, self.ports = await start_gateways(config, args.processes, args.loop, workdir, env)
        self.services[:0] = self.gateways
        self.res.loop = gateway_loop(workdir / "gateway.log")
        first = self.gateways[0]
        line = await line_status(f"http://127.0.0.1:{self.ports[0]}")
        say(f"[setup] gateway pid {first.pid} on 127.0.0.1:{self.ports[0]} (--loop {args.loop}: runs on"
            f" {self.res.loop}): /healthz ok, line open: {line.get('open')};"
            f" RSS {mb(memory_kb(first.pid).get('VmRSS'))}")
        if not line.get("open"):
            raise RuntimeError("the line is closed although opening_hours is 00:00-24:00 every day")
        if len(self.gateways) > 1:
            say(f"[setup] {args.processes} gateway processes on one Redis (pids "
                f"{', '.join(str(g.pid) for g in self.gateways)}); clients spread round-robin, CPU summed")
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            self.profiler = Profiler(first.pid, Path(args.profile) / "gateway.raw")
            say(f"[setup] py-spy samples the gateway into {self.profiler.out}")
        self.session = new_session()

    async def gateway_messages(self) -> None:
        args, res = self.args, self.res
        say(f"\n[gateway] {args.teens} teens, {args.counsellors} counsellors, {args.messages} messages each")
        res.runs["gateway"] = await message_phases(self.gateway_target(), self.gateways[0].pid, self.pids, args,
                                                   self.usernames, second_rate="auto")
        res.mem_after_messages = memory_kb(self.gateways[0].pid)
        if args.burst > 0:
            say(f"\n[gateway] burst: {args.burst} teens open the widget and write their first line at once")
            with CpuMeter(self.pids) as cpu:
                res.burst = await burst_phase(self.gateway_target(), self.usernames[0], args.burst)
            say("\n".join(burst_report(res.burst)))
            say(f"      CPU (% of one core): {cpu.text()}")

    async def relay(self) -> None:
        """The same load on the bare relay, on the same loop; its idle sockets too."""
        args, res = self.args, self.res
        port = free_port()
        relay = relay_service(port, args.loop, self.workdir / "relay.log", self.env)
        self.services.insert(0, relay)
        relay.start()
        await relay.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        say(f"\n[relay] bare aiohttp relay pid {relay.pid} on 127.0.0.1:{port} (no store, no logic), same load")
        target = RelayTarget(f"http://127.0.0.1:{port}", self.hub, self.session)
        res.runs["relay"] = await message_phases(target, relay.pid, {"relay": relay.pid}, args, self.usernames,
                                                 second_rate=res.runs["gateway"].second_rate)
        res.relay_mem = memory_kb(relay.pid)
        if args.idle > 0:
            say(f"\n[relay] {args.idle:,} idle sockets (hello only), {args.idle_concurrency} handshakes at a time")
            res.relay_idle = await idle_phase(target, relay.pid, {"relay": relay.pid}, args.idle,
                                              args.idle_concurrency, args.idle_cap)
            report_idle(res.relay_idle)
        relay.stop()

    async def gateway_rest(self) -> None:
        """The gateway's idle sockets, then the webhooks."""
        args, res = self.args, self.res
        if args.idle > 0:
            say(f"\n[gateway] {args.idle:,} idle widget sockets (hello only), {args.idle_concurrency} "
                f"handshakes at a time")
            res.idle = await idle_phase(self.gateway_target(), self.gateways[0].pid, self.pids, args.idle,
                                        args.idle_concurrency, args.idle_cap)
            report_idle(res.idle)
        res.final_mem = memory_kb(self.gateways[0].pid)
        if self.standin is not None:
            seconds = args.webhook_seconds or (1.0 if args.quick else 3.0)
            say(f"\n[gateway] webhooks: {args.webhook_rate:,.0f} single-event POSTs/s for {seconds:g} s, then "
                f"one {args.webhook_batch:,}-event WhatsApp POST")
            with CpuMeter({**self.pids, "standin": self.standin.pid}) as cpu:
                res.hooks = await webhooks.webhook_phase(f"http://127.0.0.1:{self.ports[0]}", args.webhook_batch,
                                                         args.webhook_rate, seconds)
            say("\n".join(f"  {label}: {value} {note}" for label, value, note in webhooks.report(res.hooks)))
            say(f"      CPU (% of one core): {cpu.text()}")
        res.gateway_alive = all(g.alive() for g in self.gateways)

    async def close(self) -> None:
        self.hub.shutting_down = True
        if self.session is not None:
            await self.session.close()
        if self.profiler is not None:
            self.profiler.stop()
        for service in self.services:
            service.stop()

    def report(self) -> int:
        res = self.res
        report_logs([g.log for g in self.gateways])
        if self.profiler is not None:
            say("\n[profile] the gateway's CPU by function (py-spy; `python -m bench.profile FILE [FILTER]`"
                " reads it again, e.g. FILTER=_welcome for the hellos only)")
            say("\n".join(profile_summary(self.profiler.out)))
        if self.hub.errors:
            say(f"[clients] error frames received: {dict(self.hub.errors)}")
        if self.hub.closed:
            say(f"[clients] sockets closed by a server while in use: {dict(self.hub.closed)}")
        say("\n" + summary(res))
        for line in client_bound_notes(res):
            say(line)
        say("\n" + aims.table(res))
        if not res.gateway_alive:
            say("WARNING: a gateway process had died before the end of the run")
        if self.args.keep_logs:
            say(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        g = res.runs["gateway"]
        return 1 if (sum(p.lost for p in g.phases.values()) or g.crosstalk or not res.gateway_alive) else 0


async def run(args: argparse.Namespace) -> int:
    from tests.redis_server import RedisServer  # the repo's throwaway redis-server

    bench = Bench(args)
    redis = RedisServer()
    try:
        redis.start()
        await bench.setup(redis)
        await bench.gateway_messages()
        await bench.relay()
        await bench.gateway_rest()
    finally:
        await bench.close()
        redis.cleanup()
    return bench.report()


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
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="asyncio",
                   help="event loop of the gateway processes and the relay (`serve --loop`; default asyncio)")
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
