"""The in-process event bus (pyee): one process, with the memory store.

Handlers are plain functions run on the event loop; they must not block (they hand
work to per-socket queues).
"""

from __future__ import annotations

import logging
from typing import Callable

from pyee import EventEmitter

from gateway.domain.events import Event

log = logging.getLogger(__name__)
Handler = Callable[[Event], None]


class LocalBus:
    """One process: publish calls the subscribers directly."""

    def __init__(self) -> None:
        self._emitter = EventEmitter()
        self._emitter.on("error", lambda exc: log.exception("event handler failed", exc_info=exc))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._emitter.remove_all_listeners("event")

    def subscribe(self, handler: Handler) -> None:
        self._emitter.on("event", handler)

    async def publish(self, event: Event) -> None:
        self._emitter.emit("event", event)
