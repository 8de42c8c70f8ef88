"""What the fault run starts and breaks: a private Redis with AOF, the gateway processes, a prober.

Redis runs with `appendonly yes` and `appendfsync always`: Redis answers a write only once it
is on disk, so its restart (even a crash) cannot lose what the gateway acknowledged, and every
loss the run counts is the gateway's, not the disk's. `everysec` (the usual production choice)
could lose up to a second of acknowledged writes on a crash of the Redis host, which this run
would wrongly charge to the gateway; at this load `always` costs nothing measurable.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from tests.process_output import OutputWatch
from tests.processes import ROOT, free_port, gateway_env

STOP_SECONDS = 15.0  # a SIGTERMed gateway that has not exited by then is killed (and counted)


class AofRedis:
    """One redis-server on a fixed loopback port whose data survives its restart (AOF)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: run scripts/setup --test (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        self.starts += 1
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", ""],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        watch = OutputWatch(self.process, self.dir / f"redis-{self.starts}.log")
        watch.wait_for("Ready to accept connections", timeout)

    def stop(self) -> None:
        """SIGTERM, as `systemctl restart redis` does (AOF already fsync'd on every write)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        self.stop()


class Gateway:
    """One `python -m gateway serve` slot: a fixed port, restarted in place after a fault.

    `generation` grows with each start, so a client can say which incarnation closed on it."""

    def __init__(self, name: str, config: Path, logs: Path) -> None:
        self.name = name
        self.config = config
        self.logs = logs
        self.port = free_port()
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.up = False  # what the "load balancer" (the clients' choice) knows

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until it listens ("Widget demo: …") and /healthz answers."""
        self.generation += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config), "--port", str(self.port)],
            cwd=ROOT, env=gateway_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        watch = OutputWatch(self.process, self.logs / f"{self.name}-{self.generation}.log")
        watch.wait_for(r"Widget demo: ", timeout)
        self.up = True

    def kill(self) -> None:
        """kill -9: no handler runs."""
        self.up = False
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def terminate(self) -> tuple[int | None, float]:
        """SIGTERM, as `docker stop` does: (exit code, seconds to exit); None = had to be killed."""
        self.up = False
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        return code, time.monotonic() - started

    def stop(self) -> None:
        self.up = False
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Prober:
    """Asks /healthz and /api/line of every gateway that is up, a few times a second.

    Counts HTTP 500s, and what /healthz said while Redis was known to be down."""

    def __init__(self, gateways: list[Gateway], every: float = 0.25) -> None:
        self.gateways = gateways
        self.every = every
        self.http_500 = 0
        self.statuses: Counter[str] = Counter()
        self.healthz_while_redis_down: Counter[int | str] = Counter()
        self.redis_down = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                for gateway in [g for g in self.gateways if g.up]:
                    for path in ("/healthz", "/api/line"):
                        await self._probe(http, gateway, path)
                await asyncio.sleep(self.every)

    async def _probe(self, http: aiohttp.ClientSession, gateway: Gateway, path: str) -> None:
        during_outage = self.redis_down  # as the request leaves: the answer may come after Redis is back
        try:
            async with http.get(f"{gateway.http}{path}") as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            status = 0  # no answer (a process going down, or stuck)
        self.statuses[f"{path} {status}"] += 1
        if status >= 500 and status != 503:
            self.http_500 += 1
        if path == "/healthz" and during_outage:
            self.healthz_while_redis_down[status or "no answer"] += 1
