"""The servers of one run: the gateway's config and accounts, the N gateway processes, the relay.

Each is a subprocess (bench/procs.py `Service`) with its log in the run's work directory.
`--loop` goes to every one of them, the relay included, so the floor runs on the same event
loop as the gateway it is compared with.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import yaml

from .load import PASSWORD, bounded
from .procs import Service, free_port

ROOT = Path(__file__).resolve().parent.parent
PSEUDONYM_KEY = "bench-only-pseudonym-key-0123456789abcdef"
MAX_PER_COUNSELLOR = 50  # the config's upper bound
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def line_status(base: str) -> dict:
    """/api/line (the public /healthz says only ok or unavailable since #14)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/line") as r:
            return await r.json()


def write_config(path: Path, redis_url: str) -> None:
    doc = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    doc.setdefault("store", {})["url"] = redis_url
    doc["store"]["prefix"] = "bench"
    doc["opening_hours"] = {day: ["00:00-24:00"] for day in DAYS}
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


def gateway_service(name: str, config: Path, port: int, loop: str, log: Path, env: dict[str, str]) -> Service:
    return Service(name, [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--host", "127.0.0.1",
                          "--port", str(port), "--loop", loop], log, env, ROOT)


def gateway_loop(log: Path) -> str:
    """The loop a gateway says it runs on (its "gateway listening … loop X" line)."""
    for line in log.read_text(errors="replace").splitlines():
        if "gateway listening on" in line and "loop " in line:
            return line.rsplit("loop ", 1)[1].rstrip(")")
    return "?"


async def start_gateways(config: Path, n: int, loop: str, workdir: Path,
                         env: dict[str, str]) -> tuple[list[Service], list[int]]:
    """N gateway processes on free ports, each waited for until /healthz answers ok."""
    ports = [free_port() for _ in range(n)]
    services = [gateway_service("gateway" if i == 0 else f"gateway-{i + 1}", config, port, loop,
                                workdir / ("gateway.log" if i == 0 else f"gateway-{i + 1}.log"), env)
                for i, port in enumerate(ports)]
    for service in services:
        service.start()
    for service, port in zip(services, ports):
        await service.wait_healthy(f"http://127.0.0.1:{port}/healthz")
    return services, ports


def relay_service(port: int, loop: str, log: Path, env: dict[str, str]) -> Service:
    return Service("relay", [sys.executable, "-m", "bench.relay", "--host", "127.0.0.1", "--port", str(port),
                             "--loop", loop], log, env, ROOT)
