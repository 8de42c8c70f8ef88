"""Real gateway processes (`python -m gateway serve`) for multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from tests.process_output import OutputWatch

ROOT = Path(__file__).resolve().parent.parent
ALWAYS_OPEN = {day: ["00:00-24:00"] for day in
               ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, store_url: str, prefix: str, **extra) -> Path:
    doc = {"store": {"url": store_url, "prefix": prefix}, "opening_hours": ALWAYS_OPEN, "public_holidays": "open",
           **extra}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def gateway_env() -> dict[str, str]:
    return {**os.environ, "GATEWAY_PSEUDONYM_KEY": os.environ["GATEWAY_PSEUDONYM_KEY"], "PYTHONUNBUFFERED": "1"}


def add_counsellor(config: Path, username: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "gateway", "counsellor", "add", username, "--display-name", username.title(),
         "--password-stdin", "--config", str(config)],
        input=password + "\n", text=True, check=True, cwd=ROOT, env=gateway_env(), capture_output=True,
    )


class GatewayProcess:
    def __init__(self, config: Path, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        log_path.write_bytes(b"")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(self.port)],
            cwd=ROOT, env=gateway_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.output = OutputWatch(self.process, log_path)
        self._wait_healthy()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _wait_healthy(self, timeout: float = 20.0) -> None:
        """The gateway prints "Widget demo: …" once it listens (after the demo login, if any)."""
        try:
            self.output.wait_for(r"Widget demo: ", timeout)
        except RuntimeError:
            self.stop()
            raise
        with urllib.request.urlopen(f"{self.http}/healthz", timeout=5) as response:
            assert response.status == 200, response.status

    def kill(self) -> None:
        """A crash, not a clean exit."""
        self.process.kill()
        self.process.wait(10)
        self.output.join()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.output.join()
