"""What a child process prints, copied to its log file and watched for a line.

A server started for a test says when it is ready (redis-server: "Ready to accept
connections", the gateway: "Widget demo: …" once its socket listens). Waiting for that line
is a positive wait: no polling, no fixed sleep. A thread drains the pipe so the child never
blocks on a full one.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path


class OutputWatch:
    def __init__(self, process: subprocess.Popen[bytes], log_path: Path):
        self._process = process
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._log = open(log_path, "ab")  # noqa: SIM115 - the copying thread closes it at EOF
        self._thread = threading.Thread(target=self._copy, name=f"output-{process.pid}", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            for raw in self._process.stdout:
                self._log.write(raw)
                self._log.flush()
                with self._changed:
                    self._lines.append(raw.decode(errors="replace"))
                    self._changed.notify_all()
        finally:
            self._log.close()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def mark(self) -> int:
        """Where the output stands now: `wait_for(…, after=mark)` looks only at later lines."""
        with self._changed:
            return len(self._lines)

    def wait_for(self, pattern: str, timeout: float = 10.0, after: int = 0) -> re.Match[str]:
        """The first printed line (from line `after` on) matching `pattern`, waiting for it;
        RuntimeError if the process ends (or `timeout` passes) without printing one."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next((m for m in map(regex.search, self._lines[after:]) if m), None)

        with self._changed:
            self._changed.wait_for(lambda: found() or self._ended, timeout)
            match = found()
        if match is None:
            raise RuntimeError(f"no line matching {pattern!r}; printed:\n{''.join(self._lines)[-2000:]}")
        return match

    def join(self, timeout: float = 5.0) -> None:
        """After the process ended: its last lines are in the log."""
        self._thread.join(timeout)
