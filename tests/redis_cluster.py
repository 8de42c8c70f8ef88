"""A throwaway Redis Cluster on loopback ports: three masters (optionally a replica each).

All from the Debian `redis-server` binary (`--cluster-enabled yes`), each node in its own
temp dir with no persistence, joined by `redis-cli --cluster create` (same package), which
splits the 16,384 slots over the masters. Readiness is positive, read from what each node
prints: "Cluster state changed: ok" on every node, and on each replica "MASTER <-> REPLICA
sync: Finished with success". Short `cluster-node-timeout` (1 s) keeps a failover to a few
seconds. `cleanup()` stops every process and removes the dirs, also after
a failed start.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.redis_sentinel import _Node

NODE_TIMEOUT_MS = 1000
MASTERS = 3
# A node also listens on its port + 10,000 (the cluster bus), so both must be free and the
# port at most 55,535: ports are drawn from below that, each checked with its bus port.
PORT_RANGE = (20_000, 55_000)
BUS_OFFSET = 10_000


def _free_node_ports(count: int) -> list[int]:
    """`count` ports each free together with its cluster-bus port (held open while drawing)."""
    chosen: list[int] = []
    with ExitStack() as stack:
        while len(chosen) < count:
            port = random.randint(*PORT_RANGE)
            if port in chosen or port + BUS_OFFSET in chosen:
                continue
            try:
                for candidate in (port, port + BUS_OFFSET):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            chosen.append(port)
    return chosen


def _cli(*args: str, timeout: float = 30.0) -> str:
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError("redis-cli is not on PATH: run `apt-get install redis-tools` (comes with redis-server)")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args[:3])}… failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return done.stdout


class RedisClusterSet:
    """`masters` masters and `replicas_each` replicas per master; `url` is the store URL."""

    def __init__(self, replicas_each: int = 0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: run `apt-get install redis-server`")
        self._root = Path(tempfile.mkdtemp(prefix="gateway-cluster-"))
        self.replicas_each = replicas_each
        ports = _free_node_ports(MASTERS * (1 + replicas_each))
        self.nodes = [_Node(binary, port, self._root / f"node-{port}") for port in ports]

    @property
    def url(self) -> str:
        # Two of the nodes: the client learns the rest from them (as a deployment would list a few).
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:2])

    def start(self, timeout: float = 30.0) -> None:
        try:
            for node in self.nodes:
                node.start(self._node_args(node), "Ready to accept connections", timeout)
            _cli("--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes),
                 "--cluster-replicas", str(self.replicas_each), "--cluster-yes")
            for node in self.nodes:
                node.wait_for("Cluster state changed: ok", timeout)
            for node in self.nodes:
                if self.role(node) == "slave":
                    node.wait_for(r"MASTER <-> REPLICA sync: Finished with success", timeout)
        except BaseException:
            self.cleanup()
            raise

    def _node_args(self, node: _Node) -> list[str]:
        return ["--port", str(node.port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--save", "", "--appendonly", "no", "--dir", str(node.dir), "--logfile", ""]

    def running_nodes(self) -> list[_Node]:
        return [node for node in self.nodes if node.process is not None and node.process.poll() is None]

    def role(self, node: _Node) -> str:
        """"master" or "slave", as the node says now."""
        return _cli("-p", str(node.port), "role", timeout=5).split()[0]

    def info(self, node: _Node) -> dict[str, str]:
        text = _cli("-p", str(node.port), "cluster", "info", timeout=5)
        return dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)

    def keyslot(self, key: str) -> int:
        return int(_cli("-p", str(self.running_nodes()[0].port), "cluster", "keyslot", key, timeout=5).strip())

    def keys_by_node(self) -> dict[int, list[str]]:
        """Every key on each running master (port → names), read node by node."""
        found: dict[int, list[str]] = {}
        for node in self.running_nodes():
            if self.role(node) == "master":
                found[node.port] = _cli("-p", str(node.port), "--scan", timeout=10).split()
        return found

    def master_of(self, key: str) -> _Node:
        """The node serving `key`'s slot now."""
        slot = self.keyslot(key)
        for line in _cli("-p", str(self.running_nodes()[0].port), "cluster", "nodes", timeout=5).splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                    return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no master serves slot {slot}")

    def replica_of(self, master: _Node) -> _Node:
        """A replica `master` has now (the create command chose the pairs)."""
        first = self._replication(master)["slave0"]  # ip=…,port=…,state=online,offset=…,lag=…
        port = int(dict(part.split("=", 1) for part in first.split(","))["port"])
        return next(node for node in self.nodes if node.port == port)

    def _replication(self, node: _Node) -> dict[str, str]:
        text = _cli("-p", str(node.port), "info", "replication", timeout=5)
        return dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)

    def replicated(self, master: _Node, key: str, timeout_ms: int = 15_000) -> None:
        """Every write `master` took before this call is on a replica: a mark written to `key`
        (a key of one of its slots) and `WAIT 1` on the same connection, which returns once a
        replica acknowledged the mark, hence everything before it in the replication stream."""
        binary = shutil.which("redis-cli")
        done = subprocess.run([binary, "-p", str(master.port)], input=f"SET {key} 1\nWAIT 1 {timeout_ms}\n",
                              capture_output=True, text=True, timeout=timeout_ms / 1000 + 5, check=True)
        acknowledged = done.stdout.split()[-1]
        if acknowledged != "1":
            raise RuntimeError(f"no replica of {master.port} acknowledged within {timeout_ms} ms ({done.stdout!r})")

    def wait_for_promotion(self, replica: _Node, timeout: float = 30.0) -> None:
        """`replica` says it won the election and serves its master's slots (clients then learn
        the new map from any node, following MOVED)."""
        replica.wait_for("Failover election won", timeout)
        replica.wait_for("after successful failover", timeout)  # "configEpoch set to N after …"

    def cleanup(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self._root, ignore_errors=True)
