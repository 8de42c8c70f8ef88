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


# Every client still open, so that a test which fails half-way leaks no socket: the autouse
# fixture `close_leftover_sockets` (conftest.py) closes what a test left open.
OPEN_CLIENTS: set[FrameClient] = set()


class FrameClient:
    """A WebSocket whose frames can be awaited by type; others wait in a buffer.

    Absence is checked after a barrier, never by waiting: `await barrier()` sends a ping and
    waits for its pong, and the gateway answers a ping only once every event published before
    it is on this socket (docs/protocol.md). So `assert_none(kind)` after a barrier is certain.
    """

    def __init__(self, ws):
        self.ws = ws
        self.buffer: list[dict] = []
        self.settled = False  # a barrier has passed since our last frame
        self.loop = asyncio.get_running_loop()
        OPEN_CLIENTS.add(self)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def send(self, frame: dict) -> None:
        self.settled = False
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

    async def barrier(self, timeout: float = TIMEOUT) -> None:
        """Ping and wait for the pong: what the gateway sent before it is now in the buffer."""
        ping_id = uuid.uuid4().hex
        await self.send({"type": "ping", "id": ping_id})
        await self.next("pong", timeout, where=lambda f: f.get("id") == ping_id)
        self.settled = True

    def seen(self, kind: str, where=lambda f: True) -> list[dict]:
        """Frames of `kind` (matching `where`) that arrived and were not taken by `next`."""
        return [frame for frame in self.buffer if frame["type"] == kind and where(frame)]

    def assert_none(self, kind: str, where=lambda f: True) -> None:
        """No such frame arrived before the last barrier (which must follow our last frame)."""
        assert self.settled, "assert_none needs `await client.barrier()` after the last frame sent"
        found = self.seen(kind, where)
        assert not found, f"unexpected {kind} frame(s): {found}"

    async def close(self) -> None:
        OPEN_CLIENTS.discard(self)
        await self.ws.close()


async def close_leftover_clients() -> None:
    """Close every client a test left open on this event loop (it failed before its own close).

    Clients of another loop (a sync test's own `asyncio.run`) went with that loop."""
    loop = asyncio.get_running_loop()
    for client in list(OPEN_CLIENTS):
        OPEN_CLIENTS.discard(client)
        if client.loop is loop:
            await client.close()


class Widget(FrameClient):
    """A teen's widget."""

    token: str | None = None
    welcome: dict

    @classmethod
    async def connect(cls, ws_base: str, token: str | None = None, last_seq: int = 0,
                      origin: str | None = "own") -> Widget:
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
    async def login(cls, http_base: str, username: str, password: str) -> Console:
        http = aiohttp.ClientSession(base_url=http_base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            async with http.post("/api/console/login", json={"username": username, "password": password},
                                 headers={"Origin": http_base}) as r:
                assert r.status == 200, await r.text()
            cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
            ws_base = http_base.replace("http://", "ws://")
            ws = await websockets.connect(f"{ws_base}/ws/console", additional_headers={"Cookie": cookie},
                                          max_size=2**22, origin=http_base)
        except BaseException:
            await http.close()
            raise
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
        await super().close()
        await self.http.close()
