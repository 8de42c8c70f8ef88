"""What one phase measured: the CPU of every process over it, and its receipts.

The CPU is read from /proc (bench/procs.py) for the servers and from `time.process_time()`
for this process (the load generator), so a figure limited by the client says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .load import Tally, perf
from .procs import cpu_seconds


def cpu_of(pid: int | tuple[int, ...]) -> float:
    """CPU seconds of a process, or summed over several (--processes N)."""
    return sum(cpu_seconds(p) for p in pid) if isinstance(pid, tuple) else cpu_seconds(pid)


class CpuMeter:
    """CPU used by each process (or group of processes) over a phase, as a fraction of one core."""

    def __init__(self, pids: dict[str, int | tuple[int, ...]]):
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
        self.seconds = {name: cpu[name] - self.c0[name] for name in self.pids}
        self.seconds["client"] = client - self.client0
        self.share = {name: used / wall for name, used in self.seconds.items()}

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
    rate: float | None = None  # fixed-rate phases: the rate asked for
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

    def cpu_ms_per_message(self, process: str) -> float | None:
        """CPU of `process` over the phase divided by the messages delivered in it."""
        if not self.tally.received or process not in self.cpu.seconds:
            return None
        return self.cpu.seconds[process] * 1000 / self.tally.received

    @property
    def client_bound(self) -> bool:
        return self.cpu.share.get("client", 0) >= 0.85


@dataclass
class Run:
    """All the results of one target's message phases."""

    target: str
    second_rate: float | None = None
    connect: dict = field(default_factory=dict)
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    crosstalk: list[str] = field(default_factory=list)

    def at_rate(self, rate: float) -> PhaseResult | None:
        """The fixed-rate phase run at `rate` msg/s, if any."""
        return next((p for p in self.phases.values() if p.rate == rate), None)


def kb_per_socket(idle: dict) -> float:
    """RSS added per open socket (the idle phase of bench/phases.py)."""
    return (idle["with_open"].get("VmRSS", 0) - idle["before"].get("VmRSS", 0)) / max(idle["opened"], 1)


def hellos_per_second(idle: dict) -> float:
    """Sockets opened (hello answered) per second of the opening window."""
    return idle["opened"] / max(idle["open_wall"], 1e-9)


@dataclass
class Results:
    """Everything one `python -m bench` run measured, for the closing tables."""

    args: object
    started: float
    runs: dict[str, Run] = field(default_factory=dict)
    idle: dict | None = None  # the gateway's idle sockets
    relay_idle: dict | None = None  # the relay's, same count, for the per-socket comparison
    burst: dict | None = None  # bench/burst.py
    hooks: dict | None = None  # bench/webhooks.py
    mem_after_messages: dict = field(default_factory=dict)  # the gateway's, after the message phases
    relay_mem: dict = field(default_factory=dict)
    final_mem: dict = field(default_factory=dict)
    gateway_alive: bool = False
    loop: str = "?"  # the gateway's event loop (--loop)
