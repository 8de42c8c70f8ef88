"""The fault run's clients: teens and counsellors who behave as the real pages do when things break.

A teen keeps its token, resumes with the highest seq it shows, and re-sends an unacked message
with the same client_id after a reconnect. A counsellor keeps their session cookie, reconnects
to any process that is up, re-opens every conversation it holds, and answers each teen line once.
Both pick a gateway that is up and move to another one when theirs goes away. Every loop is
bounded by the run's deadline. Sockets are tests/clients.py's, which speak docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.faults_infra import Gateway
from tests.clients import FrameClient, Widget

ACK_SECONDS = 5.0  # no ack in this long: the frame is sent again (same client_id)
TRANSIENT = {"unavailable", "rate_limited", "internal"}  # error codes a page retries by itself
CONNECT_ERRORS = (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, ConnectionClosed,
                  aiohttp.ClientError, KeyError, ValueError)


class Disconnected(Exception):
    """The socket a frame waited on closed before its answer."""


@dataclass(frozen=True)
class Close:
    """One socket that ended under a client."""

    gateway: str
    generation: int
    code: int
    at: float  # time.monotonic()
    cut: bool  # the run cut it on purpose


@dataclass
class Record:
    """What every client saw, shared by all of them (one event loop, no locks needed)."""

    teen_sent: dict[str, int] = field(default_factory=dict)  # text -> teen index
    teen_acked: set[str] = field(default_factory=set)
    reply_sent: dict[str, int] = field(default_factory=dict)  # text -> console index
    reply_acked: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)  # error codes given up on
    transient_errors: Counter[str] = field(default_factory=Counter)
    reconnect_seconds: list[float] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    http_500: int = 0
    connect_failures: int = 0
    ack_timeouts: int = 0
    set_offline_while_connected: int = 0
    moved_while_away: int = 0  # held before a reconnect, missing from the next init, never told
    gaps_filled_on_reopen: int = 0  # lines below what a console showed, first seen in a re-open
    unreadable_frames: Counter[str] = field(default_factory=Counter)  # frames the client could not use


def choose(gateways: list[Gateway], rng: random.Random, avoid: str | None) -> Gateway | None:
    up = [g for g in gateways if g.up]
    others = [g for g in up if g.name != avoid]
    pool = others or up
    return rng.choice(pool) if pool else None


class SimClient:
    """One page: at most one socket at a time, a reader task, answers awaited by client_id."""

    def __init__(self, index: int, gateways: list[Gateway], record: Record, rng: random.Random,
                 deadline: float) -> None:
        self.index = index
        self.gateways = gateways
        self.record = record
        self.rng = rng
        self.deadline = deadline
        self.client: FrameClient | None = None
        self.where: Gateway | None = None
        self.generation = 0
        self.last_gateway: str | None = None
        self.lost_at: float | None = None
        self.waiters: dict[str, asyncio.Future] = {}
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()
        self.stopping = False
        self.cutting = False

    # --- connecting --------------------------------------------------------------------
    async def open(self, gateway: Gateway) -> FrameClient:  # pragma: no cover - abstract
        raise NotImplementedError

    async def ensure(self) -> bool:
        """Connected (reconnecting if needed) before the deadline, or False."""
        async with self.lock:
            while self.client is None and not self.stopping and time.monotonic() < self.deadline:
                gateway = choose(self.gateways, self.rng, self.last_gateway if self.lost_at else None)
                if gateway is None:
                    await asyncio.sleep(0.1)
                    continue
                try:
                    async with asyncio.timeout(ACK_SECONDS):
                        client = await self.open(gateway)
                except CONNECT_ERRORS as exc:
                    self._count_failure(exc)
                    await asyncio.sleep(self.rng.uniform(0.05, 0.3))
                    continue
                self._attach(client, gateway)
            return self.client is not None

    def _count_failure(self, exc: BaseException) -> None:
        self.record.connect_failures += 1
        if isinstance(exc, InvalidStatus) and exc.response.status_code == 500:
            self.record.http_500 += 1

    def _attach(self, client: FrameClient, gateway: Gateway) -> None:
        if self.lost_at is not None:
            self.record.reconnect_seconds.append(time.monotonic() - self.lost_at)
            self.lost_at = None
        self.client, self.where, self.generation = client, gateway, gateway.generation
        self.last_gateway = gateway.name
        early, client.buffer = client.buffer, []
        for frame in early:
            self.on_frame(frame)
        self._spawn(self._read(client))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _read(self, client: FrameClient) -> None:
        try:
            async for raw in client.ws:
                try:
                    self.on_frame(json.loads(raw))
                except Exception as exc:  # noqa: BLE001 - a frame this client cannot read: counted, not fatal
                    self.record.unreadable_frames[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        except ConnectionClosed:
            pass
        finally:
            self._lost(client)

    def _lost(self, client: FrameClient) -> None:
        if self.client is not client:
            return
        code = int(client.ws.close_code or 1006)
        assert self.where is not None
        self.record.closes.append(Close(self.where.name, self.generation, code, time.monotonic(), self.cutting))
        self.cutting = False
        self.client = None
        if not self.stopping:
            self._spawn(client.close())  # a reader that stopped on a bad frame left it open
        self.lost_at = time.monotonic()
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(Disconnected())
                waiter.exception()  # nobody may be awaiting it any more: not an unretrieved error
        if not self.stopping:
            self._spawn(self.ensure())

    def cut(self) -> bool:
        """Drop the TCP connection without a close frame, as a lost network does."""
        if self.client is None or self.client.ws.transport is None:
            return False
        self.cutting = True
        self.client.ws.transport.abort()
        return True

    # --- frames that wait for an answer ------------------------------------------------
    async def deliver(self, frame: dict) -> dict | None:
        """Send until an ack or a final error comes back (same client_id each time)."""
        client_id = frame["client_id"]
        while time.monotonic() < self.deadline and not self.stopping:
            if not await self.ensure():
                break
            waiter = asyncio.get_running_loop().create_future()
            self.waiters[client_id] = waiter
            try:
                assert self.client is not None
                await self.client.send(frame)
                answer = await asyncio.wait_for(waiter, ACK_SECONDS)
            except (Disconnected, ConnectionClosed, AttributeError, AssertionError):
                continue
            except TimeoutError:
                self.record.ack_timeouts += 1
                continue
            finally:
                self.waiters.pop(client_id, None)
            if answer["type"] == "ack":
                return answer
            if answer.get("code") in TRANSIENT:
                self.record.transient_errors[answer["code"]] += 1
                await asyncio.sleep(self.rng.uniform(0.1, 0.5))
                continue
            self.record.refused[answer.get("code", "?")] += 1
            return None
        return None

    def answer(self, frame: dict) -> None:
        waiter = self.waiters.get(frame.get("client_id") or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    async def barrier(self) -> bool:
        """A ping answered: every event published before it is on this socket."""
        for _ in range(3):
            if not await self.ensure():
                return False
            ping_id = uuid.uuid4().hex
            waiter = asyncio.get_running_loop().create_future()
            self.waiters[ping_id] = waiter
            try:
                assert self.client is not None
                await self.client.send({"type": "ping", "id": ping_id})
                await asyncio.wait_for(waiter, ACK_SECONDS)
                return True
            except (Disconnected, ConnectionClosed, TimeoutError, AssertionError):
                continue
            finally:
                self.waiters.pop(ping_id, None)
        return False

    def pong(self, frame: dict) -> None:
        waiter = self.waiters.get(frame.get("id") or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def on_frame(self, frame: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def stop(self) -> None:
        self.stopping = True
        client, self.client = self.client, None
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if client is not None:
            await client.close()


def merge(screen: dict[int, tuple[str, str]], message: dict) -> bool:
    """Show one line, keyed by seq as the pages do; True if it was new."""
    if message["seq"] in screen:
        return False
    screen[message["seq"]] = (message["from"], message["text"])
    return True


class Teen(SimClient):
    """A teen's widget: writes `count` lines, one at a time, each until acked."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.token: str | None = None
        self.screen: dict[int, tuple[str, str]] = {}
        self.closed_under_me = 0

    async def open(self, gateway: Gateway) -> FrameClient:
        last_seq = max(self.screen, default=0)
        widget = await Widget.connect(gateway.ws, token=self.token, last_seq=last_seq)
        self.token = widget.token
        for message in widget.welcome["messages"]:
            merge(self.screen, message)
        return widget

    def on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "message":
            merge(self.screen, frame["message"])
        elif kind == "ack":
            if frame.get("message"):
                merge(self.screen, frame["message"])
            self.answer(frame)
        elif kind == "error":
            self.answer(frame)
        elif kind == "pong":
            self.pong(frame)
        elif kind == "state" and frame["conversation"]["state"] == "closed":
            self.closed_under_me += 1

    async def run(self, count: int, spacing: float) -> None:
        await self.ensure()
        for i in range(count):
            text = f"[t{self.index}.{i}] message {i} du jeune {self.index}"
            client_id = uuid.uuid4().hex
            self.record.teen_sent[text] = self.index
            if await self.deliver({"type": "message", "client_id": client_id, "text": text}):
                self.record.teen_acked.add(text)
            await asyncio.sleep(spacing * self.rng.uniform(0.5, 1.5))


class Counsellor(SimClient):
    """A counsellor's console: available, answers each teen line of the conversations it holds."""

    def __init__(self, index: int, username: str, password: str, *args, **kwargs) -> None:
        super().__init__(index, *args, **kwargs)
        self.username = username
        self.password = password
        self.http: aiohttp.ClientSession | None = None
        self.cookie: str | None = None
        self.me_id: str | None = None
        self.held: set[str] = set()
        self.screens: dict[str, dict[int, tuple[str, str]]] = {}
        self.answered: set[tuple[str, int]] = set()
        self.replies: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.in_flight = 0
        self.asked_presence = False
        self.reopening: set[str] = set()

    async def login(self, gateway: Gateway) -> None:
        if self.http is None:
            self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.http.post(f"{gateway.http}/api/console/login", headers={"Origin": gateway.http},
                                  json={"username": self.username, "password": self.password}) as response:
            if response.status == 500:
                self.record.http_500 += 1
            if response.status != 200:
                raise ValueError(f"login answered {response.status}")
        self.cookie = "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)

    async def open(self, gateway: Gateway) -> FrameClient:
        if self.cookie is None:
            await self.login(gateway)
        ws = await websockets.connect(f"{gateway.ws}/ws/console", additional_headers={"Cookie": self.cookie},
                                      max_size=2**22, origin=gateway.http)
        client = FrameClient(ws)
        try:
            init = await client.next("init")
        except BaseException:
            await client.close()
            raise
        self.me_id = init["me"]["id"]
        now_held = {c["id"] for c in init["conversations"] if c["state"] == "assigned"}
        self.record.moved_while_away += len(self.held - now_held)
        reconnecting = bool(self.held or self.asked_presence)
        self.held = now_held
        if init["me"]["presence"] != "available":
            await client.send({"type": "presence", "presence": "available"})
        self.asked_presence = True
        for conversation_id in now_held:
            if reconnecting:
                self.reopening.add(conversation_id)
            await client.send({"type": "open", "conversation_id": conversation_id})
        return client

    def on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(frame)

    def _on_conversation(self, frame: dict) -> None:
        conversation = frame["conversation"]
        if conversation["state"] == "assigned":
            if conversation["id"] not in self.held:
                self.held.add(conversation["id"])
                self._send_soon({"type": "open", "conversation_id": conversation["id"]})
        elif conversation["state"] in ("transferred", "closed"):
            self.held.discard(conversation["id"])

    def _on_history(self, frame: dict) -> None:
        conversation_id = frame["conversation_id"]
        screen = self.screens.setdefault(conversation_id, {})
        shown = max(screen, default=0)
        reopened = conversation_id in self.reopening
        self.reopening.discard(conversation_id)
        for message in frame["messages"]:
            if merge(screen, message) and reopened and message["seq"] < shown:
                self.record.gaps_filled_on_reopen += 1
            self._maybe_answer(conversation_id, message)

    def _on_message(self, frame: dict) -> None:
        conversation_id = frame["conversation_id"]
        merge(self.screens.setdefault(conversation_id, {}), frame["message"])
        self._maybe_answer(conversation_id, frame["message"])

    def _on_ack(self, frame: dict) -> None:
        if frame.get("message"):
            merge(self.screens.setdefault(frame["conversation_id"], {}), frame["message"])
        self.answer(frame)

    def _on_error(self, frame: dict) -> None:
        self.answer(frame)

    def _on_pong(self, frame: dict) -> None:
        self.pong(frame)

    def _on_presence(self, frame: dict) -> None:
        if frame["presence"] == "offline" and self.asked_presence:
            self.record.set_offline_while_connected += 1
            self._send_soon({"type": "presence", "presence": "available"})  # the counsellor notices

    def _send_soon(self, frame: dict) -> None:
        client = self.client

        async def send() -> None:
            try:
                await client.send(frame)
            except ConnectionClosed:
                pass  # the re-open after the reconnect covers it

        if client is not None:
            self._spawn(send())

    def _maybe_answer(self, conversation_id: str, message: dict) -> None:
        key = (conversation_id, message["seq"])
        if message["from"] == "teen" and conversation_id in self.held and key not in self.answered:
            self.answered.add(key)
            self.replies.put_nowait(key)

    async def run(self) -> None:
        """Answer, one reply at a time, until stopped."""
        await self.ensure()
        while not self.stopping and time.monotonic() < self.deadline:
            conversation_id, seq = await self.replies.get()
            self.in_flight += 1
            try:
                await self._reply(conversation_id, seq)
            finally:
                self.in_flight -= 1

    async def _reply(self, conversation_id: str, seq: int) -> None:
        if conversation_id not in self.held:
            return
        text = f"[r{self.index}.{conversation_id[:8]}.{seq}] réponse à la ligne {seq}"
        self.record.reply_sent[text] = self.index
        frame = {"type": "reply", "conversation_id": conversation_id, "client_id": uuid.uuid4().hex, "text": text}
        if await self.deliver(frame):
            self.record.reply_acked.add(text)

    @property
    def idle(self) -> bool:
        return self.replies.empty() and self.in_flight == 0

    async def stop(self) -> None:
        await super().stop()
        if self.http is not None:
            await self.http.close()
