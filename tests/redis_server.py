"""A real, throwaway `redis-server` on a loopback port, for the store tests.

No persistence (`--save "" --appendonly no`): a stop loses the data, which is what the
outage tests want. `stop()` and `start()` again reuse the same port, so clients that hold
the URL reconnect to the new process.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.process_output import OutputWatch


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not on PATH; the store tests need a real one: "
                "run `apt-get install redis-server`"
            )
        self._binary = binary
        self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="gateway-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self._dir),
                "--logfile", "",  # to stdout, which the watch copies to redis.log
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output = OutputWatch(self._process, self._dir / "redis.log")
        try:
            output.wait_for("Ready to accept connections", timeout)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"redis-server on port {self.port} did not start: {exc}") from None
        if not self._answers_ping():
            self.stop()
            raise RuntimeError(f"redis-server did not answer PING on port {self.port}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
