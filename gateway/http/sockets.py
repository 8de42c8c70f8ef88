"""One bounded send queue and one writer task per WebSocket.

A slow or stuck client fills only its own queue; when it overflows, that client is
disconnected (it will reconnect and resync) and no other socket waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque

import orjson
from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)
SOCKETS = web.AppKey("sockets", weakref.WeakSet)  # every open socket of the app, closed at shutdown


class QueuedSender:
    """The frames waiting for one socket, and the task writing them while there are any.

    Both exist only while something waits: an idle socket (most of a busy evening's thousands)
    holds neither a queue nor a task, only this small object (the bench's idle-socket figure:
    an asyncio.Queue with its three deques was ~2 KB of each idle socket's cost)."""

    __slots__ = ("ws", "_limit", "_pending", "_writer")

    def __init__(self, ws: web.WebSocketResponse, limit: int = 256):
        self.ws = ws
        self._limit = limit
        self._pending: deque[str] | None = None
        self._writer: asyncio.Task | None = None

    def send(self, frame: dict) -> None:
        """Queue a frame without waiting. Never blocks the caller."""
        if self.ws.closed:
            return
        if self._pending is None:
            self._pending = deque()
        elif len(self._pending) >= self._limit:
            log.warning("a client is too slow to read; disconnecting it")
            asyncio.get_running_loop().create_task(self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER))
            return
        self._pending.append(orjson.dumps(frame).decode())
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                data = self._pending.popleft()
                if self.ws.closed:
                    return
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; its handler cleans up
        finally:
            self._writer = None
            if self._pending and not self.ws.closed:
                self._writer = asyncio.get_running_loop().create_task(self._drain())
            elif not self._pending:
                self._pending = None  # idle again: no deque kept

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
