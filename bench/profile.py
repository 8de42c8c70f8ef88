"""`--profile DIR`: the gateway process sampled by py-spy for the whole run, and a summary.

py-spy attaches to the running gateway (`py-spy record --pid`, no restart, no code change)
and writes collapsed stacks ("frame;frame;frame count" per line). `summary()` reads them
back: the share of samples in which a function is on the stack (inclusive) and at the top
(self). Idle samples (the event loop waiting in `select`/`epoll`) are left out with
`--idle` off, py-spy's default, so the shares are of the CPU the gateway actually used.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

OUR_CODE = ("(gateway/", "(connectors/")
RATE = 200  # samples per second: enough for a 1 % share over a few seconds, cheap to take


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    """py-spy sampling one process until `stop()` (SIGINT: py-spy writes its file and exits)."""

    def __init__(self, pid: int, out: Path):
        self.out = out
        self.log = out.with_suffix(".log")
        binary = py_spy()
        if binary is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE), "--nonblocking",
                 "-o", str(out)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def summary(raw: Path, top: int = 25, only: str = "") -> list[str]:
    """The `top` functions by inclusive share of the samples, with their self share; `only`: keep
    the stacks passing through a frame whose text contains it (e.g. "_welcome")."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    try:
        lines = raw.read_text(errors="replace").splitlines()
    except OSError:
        return [f"(no profile at {raw})"]
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if only and not any(only in f for f in frames):
            continue
        count = int(count_text)
        total += count
        for frame in set(frames):
            inclusive[_short(frame)] += count
        self_time[_short(frames[-1])] += count
    if not total:
        return ["(no samples)"]
    out = [f"{total:,} samples ({total / RATE:.1f} s of CPU)" + (f" through {only!r}" if only else ""),
           "  ours, by inclusive share (the function and what it calls):"]
    ours = [(f, c) for f, c in inclusive.most_common() if OUR_CODE[0] in f or OUR_CODE[1] in f]
    for frame, count in ours[:top]:
        out.append(f"  {count / total:6.1%} incl  {self_time[frame] / total:6.1%} self  {frame}")
    out.append("  anyone's, by self share (where the CPU is spent):")
    for frame, count in self_time.most_common(top):
        out.append(f"  {count / total:6.1%} self  {frame}")
    return out


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` → `func (module.py)`: one row per function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


if __name__ == "__main__":  # python -m bench.profile FILE.raw [FILTER]
    print("\n".join(summary(Path(sys.argv[1]), only=sys.argv[2] if len(sys.argv) > 2 else "")))
