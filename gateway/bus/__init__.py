"""Event buses: `local` (one process, pyee) and `redis` (pub/sub across processes)."""

from gateway.bus.local import LocalBus
from gateway.bus.redis import RedisBus

__all__ = ["LocalBus", "RedisBus"]
