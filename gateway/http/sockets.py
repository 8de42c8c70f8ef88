"""One bounded send queue and one writer task per WebSocket.

A slow or stuck client fills only its own queue; when it overflows, that client is
disconnected (it will reconnect and resync) and no other socket waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import orjson
from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)
SOCKETS = web.AppKey("sockets", weakref.WeakSet)  # every open socket of the app, closed at shutdown


class QueuedSender:
    def __init__(self, ws: web.WebSocketResponse, limit: int = 256):
        self.ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)
        self._writer: asyncio.Task | None = None

    def send(self, frame: dict) -> None:
        """Queue a frame without waiting. Never blocks the caller."""
        if self.ws.closed:
            return
        try:
            self._queue.put_nowait(orjson.dumps(frame).decode())
        except asyncio.QueueFull:
            log.warning("a client is too slow to read; disconnecting it")
            asyncio.get_running_loop().create_task(self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER))
            return
        if self._writer is None:
            # Started lazily: thousands of idle sockets need no writer task each.
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while not self._queue.empty():
                data = self._queue.get_nowait()
                if data is None or self.ws.closed:
                    return
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; its handler cleans up
        finally:
            self._writer = None
            if not self._queue.empty() and not self.ws.closed:
                self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
