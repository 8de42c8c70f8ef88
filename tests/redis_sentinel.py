"""A throwaway Sentinel set on loopback ports: a master, one replica, three sentinels (quorum 2).

All from the Debian `redis-server` binary, each node in its own temp dir, no persistence.
Readiness is a positive wait on what each process prints (see tests/process_output.py): the
replica's "sync: Finished with success", then every sentinel's "+slave" for the replica and
"+sentinel" for each of the two others, so a failover can win its vote as soon as the master
dies. Short timings (`down-after-milliseconds` 1000, `failover-timeout` 3000) keep a failover
to a few seconds. `cleanup()` stops every process and removes the dirs, also after a failed start.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.process_output import OutputWatch

MASTER_NAME = "gateway"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together so none repeats)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


class _Node:
    """One redis-server process (data node or sentinel) and the watch on its output."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary = binary
        self.port = port
        self.dir = directory
        self.dir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None
        self.output: OutputWatch | None = None

    def start(self, args: list[str], ready: str, timeout: float) -> None:
        self.process = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir,
        )
        self.output = OutputWatch(self.process, self.dir / "redis.log")
        self.wait_for(ready, timeout)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        assert self.output is not None, f"node on port {self.port} was never started"
        try:
            return self.output.wait_for(pattern, timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"redis node on port {self.port}: {exc}") from None

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.kill()  # throwaway data: no need for a graceful shutdown
        process.wait(timeout=5)


class SentinelSet:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: run `apt-get install redis-server`")
        self._root = Path(tempfile.mkdtemp(prefix="gateway-sentinel-"))
        master, replica, *sentinels = _free_ports(5)
        self.master = _Node(binary, master, self._root / f"master-{master}")
        self.replica = _Node(binary, replica, self._root / f"replica-{replica}")
        self.sentinels = [_Node(binary, port, self._root / f"sentinel-{port}") for port in sentinels]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def start(self, timeout: float = 20.0) -> None:
        """Start every node and return once the sentinels know the replica and each other."""
        try:
            self.master.start(self._data_args(self.master), "Ready to accept connections", timeout)
            self.replica.start(
                [*self._data_args(self.replica), "--replicaof", "127.0.0.1", str(self.master.port)],
                r"MASTER <-> REPLICA sync: Finished with success", timeout,
            )
            for node in self.sentinels:
                config = node.dir / "sentinel.conf"
                config.write_text(self._sentinel_config(node))
                node.start([str(config), "--sentinel"], rf"\+monitor master {MASTER_NAME} ", timeout)
            for node in self.sentinels:
                node.wait_for(rf"\+slave slave 127\.0\.0\.1:{self.replica.port} ", timeout)
                for other in self.sentinels:
                    if other is not node:
                        node.wait_for(rf"\+sentinel sentinel \S+ 127\.0\.0\.1 {other.port} ", timeout)
        except BaseException:
            self.cleanup()
            raise

    def kill_master(self) -> None:
        """SIGKILL the master: no shutdown, no goodbye to the replica or the sentinels."""
        self.master.signal(signal.SIGKILL)

    def pause_replica(self) -> None:
        self.replica.signal(signal.SIGSTOP)

    def resume_replica(self) -> None:
        self.replica.signal(signal.SIGCONT)

    def wait_for_promotion(self, timeout: float = 20.0) -> int:
        """The port every sentinel names as the new master once the failover completed."""
        moved = rf"\+switch-master {MASTER_NAME} 127\.0\.0\.1 {self.master.port} 127\.0\.0\.1 (\d+)"
        ports = {int(node.wait_for(moved, timeout).group(1)) for node in self.sentinels}
        assert ports == {self.replica.port}, f"sentinels disagree on the new master: {ports}"
        return self.replica.port

    def cleanup(self) -> None:
        """Stop every process (resuming a paused one first) and remove the dirs."""
        self.resume_replica()
        for node in [*self.sentinels, self.replica, self.master]:
            node.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    @staticmethod
    def _data_args(node: _Node) -> list[str]:
        return [
            "--port", str(node.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(node.dir), "--logfile", "",
            "--repl-diskless-sync-delay", "0",  # the default waits 5 s for more replicas to join
        ]

    def _sentinel_config(self, node: _Node) -> str:
        # Sentinel rewrites its config file (ids, discovered peers): each gets its own copy.
        return "\n".join([
            f"port {node.port}",
            "bind 127.0.0.1",
            f"dir {node.dir}",
            'logfile ""',
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
            "",
        ])
