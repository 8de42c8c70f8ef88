"""Real gateway processes (`python -m gateway serve`) for multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

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
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(self.port)],
            cwd=ROOT, env=gateway_env(), stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.http}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not become healthy in time")

    def kill(self) -> None:
        """A crash, not a clean exit."""
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
