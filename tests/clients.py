"""Independent clients for tests and the benchmark: a teen's widget and a counsellor's console.

They speak docs/protocol.md over real sockets with the `websockets` library and aiohttp,
knowing nothing of the gateway's code.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import websockets

TIMEOUT = 5.0


class FrameClient:
    """A WebSocket whose frames can be awaited by type; others wait in a buffer."""

    def __init__(self, ws):
        self.ws = ws
        self.buffer: list[dict] = []

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str, timeout: float = TIMEOUT, where=lambda f: True) -> dict:
        """The first frame of `kind` (matching `where`), from the buffer or the socket."""
        for i, frame in enumerate(self.buffer):
            if frame["type"] == kind and where(frame):
                return self.buffer.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == kind and where(frame):
                    return frame
                self.buffer.append(frame)

    async def nothing(self, kind: str, wait: float = 0.3, where=lambda f: True) -> bool:
        """True if no frame of `kind` arrives within `wait` seconds."""
        try:
            await self.next(kind, timeout=wait, where=where)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()


class Widget(FrameClient):
    """A teen's widget."""

    token: str | None = None
    welcome: dict

    @classmethod
    async def connect(cls, ws_base: str, token: str | None = None, last_seq: int = 0,
                      origin: str | None = "own") -> "Widget":
        """`origin` "own": the gateway's own page, as the demo page would (None: no Origin)."""
        if origin == "own":
            origin = ws_base.replace("ws://", "http://", 1)
        ws = await websockets.connect(f"{ws_base}/ws/widget", max_size=2**20, origin=origin)
        client = cls(ws)
        await client.send({"type": "hello", "token": token, "last_seq": last_seq})
        client.welcome = await client.next("welcome")
        client.token = client.welcome["token"]
        return client

    async def say(self, text: str, client_id: str | None = None) -> dict:
        """Send a message and return its ack."""
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return await self.next("ack", where=lambda f: f["client_id"] == client_id)

    async def message(self, where=lambda m: True, timeout: float = TIMEOUT) -> dict:
        frame = await self.next("message", timeout, where=lambda f: where(f["message"]))
        return frame["message"]

    async def state(self, where=lambda c: True, timeout: float = TIMEOUT) -> dict:
        frame = await self.next("state", timeout, where=lambda f: where(f["conversation"]))
        return frame["conversation"]


class Console(FrameClient):
    """A counsellor's console: logs in over HTTP, then opens the cookie-authenticated socket."""

    http: aiohttp.ClientSession
    init: dict

    @classmethod
    async def login(cls, http_base: str, username: str, password: str) -> "Console":
        http = aiohttp.ClientSession(base_url=http_base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with http.post("/api/console/login", json={"username": username, "password": password},
                             headers={"Origin": http_base}) as r:
            assert r.status == 200, await r.text()
        cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
        ws_base = http_base.replace("http://", "ws://")
        ws = await websockets.connect(f"{ws_base}/ws/console", additional_headers={"Cookie": cookie},
                                      max_size=2**22, origin=http_base)
        client = cls(ws)
        client.http = http
        client.init = await client.next("init")
        return client

    async def presence(self, value: str) -> None:
        await self.send({"type": "presence", "presence": value})
        await self.next("presence", where=lambda f: f["presence"] == value)

    async def assigned(self, timeout: float = TIMEOUT) -> dict:
        frame = await self.next("conversation", timeout, where=lambda f: f["conversation"]["state"] == "assigned")
        return frame["conversation"]

    async def reply(self, conversation_id: str, text: str) -> dict:
        client_id = uuid.uuid4().hex
        await self.send({"type": "reply", "conversation_id": conversation_id, "client_id": client_id,
                         "text": text})
        return await self.next("ack", where=lambda f: f["client_id"] == client_id)

    async def message(self, conversation_id: str, where=lambda m: True, timeout: float = TIMEOUT) -> dict:
        frame = await self.next("message", timeout, where=lambda f: f["conversation_id"] == conversation_id
                                and where(f["message"]))
        return frame["message"]

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
