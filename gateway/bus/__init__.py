"""Event buses: `local` (one process, pyee) and `redis` (a Redis Stream read by every process)."""

from gateway.bus.local import LocalBus
from gateway.bus.redis import RedisBus

__all__ = ["LocalBus", "RedisBus"]
