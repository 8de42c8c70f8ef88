"""The load generator: lightweight widget and console clients on one event loop.

The same client code drives the gateway and the relay (bench/relay.py); a `Target` says how
to open the sockets and how frames look on each. Sockets are aiohttp client WebSockets
(C frame reader), frames are parsed with orjson, and every socket has one reader task that
counts what arrives.

A benchmark message's text is  "<tag> <uid> <perf_counter at send> <owner> <padding>":
the tag names the phase's Tally, uid counts losses and duplicates, the send time gives the
latency (one process, one clock), and the owner (teen index, or conversation id) detects
a message delivered to the wrong person.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import WSMsgType

perf = time.perf_counter
PASSWORD = "bench-password-3018"
PADDING = "salut, j'ai besoin de parler à quelqu'un de ce qui se passe sur le groupe de la classe"


class Tally:
    """The receipts of one phase."""

    def __init__(self, tag: str, expected: int):
        self.tag = tag
        self.expected = expected
        self.sent = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.seen: set[int] = set()
        self.latencies: list[float] = []
        self.duplicates = 0
        self.last_recv: float | None = None
        self.achieved_rate: float | None = None  # fixed-rate phases: the send rate reached
        self.done = asyncio.Event()

    def mark_sent(self, now: float) -> None:
        self.sent += 1
        if self.first_send is None:
            self.first_send = now
        self.last_send = now

    def record(self, uid: int, sent_at: float, now: float) -> None:
        if uid in self.seen:
            self.duplicates += 1
            return
        self.seen.add(uid)
        self.latencies.append(now - sent_at)
        self.last_recv = now
        if len(self.seen) >= self.expected:
            self.done.set()

    @property
    def received(self) -> int:
        return len(self.seen)

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    async def settle(self, stall: float, cap: float, refused=lambda: 0, on_progress=None) -> None:
        """Wait until every expected message is delivered or refused (an error frame), or `stall`
        s pass without a delivery, or `cap` s in all. `on_progress` runs at each new delivery."""
        deadline = perf() + cap
        seen, progress_at = -1, perf()
        while not self.done.is_set() and perf() < deadline:
            if self.received + refused() >= self.expected:
                await asyncio.sleep(0.5)  # a message acked then refused (both frames) may still come
                if self.received != seen and on_progress is not None:
                    on_progress()
                break
            try:
                await asyncio.wait_for(self.done.wait(), timeout=0.25)
            except TimeoutError:
                pass
            if self.received != seen:
                seen, progress_at = self.received, perf()
                if on_progress is not None:
                    on_progress()
            elif perf() - progress_at > stall:
                break
        if self.done.is_set() and on_progress is not None:
            on_progress()


class Hub:
    """What all the client sockets saw: phase tallies, frame counts, errors, closures."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}
        self.frames: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.frame_count = 0  # every text frame any client received
        self.closed: Counter[str] = Counter()  # sockets that ended while we still used them
        self.shutting_down = False

    def tally(self, tag: str, expected: int) -> Tally:
        t = self.tallies[tag] = Tally(tag, expected)
        return t

    def on_text(self, text: str, now: float) -> str | None:
        """Record a benchmark text; return its owner field (None if not a benchmark text)."""
        parts = text.split(" ", 4)
        if len(parts) < 4:
            return None
        tally = self.tallies.get(parts[0])
        if tally is None:
            return None
        tally.record(int(parts[1]), float(parts[2]), now)
        return parts[3]


async def quiesce(hub: Hub, tally: Tally, quiet: float, cap: float, on_progress=None) -> None:
    """Wait until no client has received any frame for `quiet` s (the server has drained what it
    still held: late deliveries, acks, error frames), at most `cap` s."""
    deadline = perf() + cap
    frames, received, quiet_since = hub.frame_count, tally.received, perf()
    while perf() < deadline:
        await asyncio.sleep(0.1)
        if hub.frame_count != frames:
            frames, quiet_since = hub.frame_count, perf()
            if tally.received != received:
                received = tally.received
                if on_progress is not None:
                    on_progress()
        elif perf() - quiet_since >= quiet:
            return


def bench_text(tag: str, uid: int, owner: object) -> str:
    return f"{tag} {uid} {perf()!r} {owner} {PADDING}"


@dataclass(eq=False)
class TeenClient:
    index: int
    ws: aiohttp.ClientWebSocketResponse
    hub: Hub
    kind: str
    state: str | None = None
    assigned: asyncio.Event = field(default_factory=asyncio.Event)
    acks: int = 0
    duplicate_acks: int = 0  # acks saying "duplicate": the message was NOT stored this time
    errors: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # an ack or an error arrived
    owners: set[str] = field(default_factory=set)  # conversation ids seen in counsellor texts
    task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        hub = self.hub
        try:
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                now = perf()
                f = orjson.loads(msg.data)
                t = f.get("type")
                hub.frames[f"{self.kind}:{t}"] += 1
                hub.frame_count += 1
                if t == "message":  # gateway: a counsellor's or a system line
                    m = f["message"]
                    if m["from"] == "counsellor":
                        owner = hub.on_text(m["text"], now)
                        if owner is not None:
                            self.owners.add(owner)
                elif t == "reply":  # relay: the console's frame, verbatim
                    owner = hub.on_text(f["text"], now)
                    if owner is not None:
                        self.owners.add(owner)
                elif t == "ack":
                    self.acks += 1
                    if f.get("duplicate"):
                        self.duplicate_acks += 1
                    self.changed.set()
                elif t == "state":
                    self.state = f["conversation"]["state"]
                    if self.state == "assigned":
                        self.assigned.set()
                elif t == "error":
                    hub.errors[f"widget {f.get('code')}"] += 1
                    self.errors += 1
                    self.changed.set()
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not hub.shutting_down:
                hub.closed[f"{self.kind} (close code {self.ws.close_code})"] += 1

    async def send_message(self, text: str, client_id: str) -> None:
        await self.ws.send_str(orjson.dumps({"type": "message", "client_id": client_id, "text": text}).decode())

    async def say_until_stored(self, text: str, attempts: int = 20) -> Counter:
        """Send one message and wait for its ack; after an error frame (or 15 s of silence) retry
        like the widget's "Réessayer" button (same client_id), after a jittered pause. A
        "duplicate" ack means an earlier, refused try had claimed the client_id without storing
        the message: the message is then sent again under a new client_id. Returns what happened."""
        client_id = f"first{self.index}"
        outcome: Counter[str] = Counter()
        for attempt in range(attempts):
            acks, errors, dups = self.acks, self.errors, self.duplicate_acks
            await self.send_message(text, client_id)
            try:
                async with asyncio.timeout(15):
                    while self.acks == acks and self.errors == errors:
                        self.changed.clear()
                        await self.changed.wait()
            except TimeoutError:
                outcome["no answer in 15 s"] += 1
            else:
                if self.duplicate_acks > dups:
                    outcome["duplicate ack after a refusal"] += 1
                    client_id = f"first{self.index}r{attempt}"
                elif self.acks > acks:
                    return outcome
                else:
                    outcome["error frame"] += 1
            await asyncio.sleep(random.uniform(0.2, 0.5) * min(attempt + 1, 4))
        raise RuntimeError(f"widget {self.index}: first message not stored after {attempts} tries: {dict(outcome)}")


@dataclass(eq=False)
class ConsoleClient:
    index: int
    ws: aiohttp.ClientWebSocketResponse
    hub: Hub
    kind: str
    conversations: list[str] = field(default_factory=list)  # assigned conversation ids, in order
    presence: str | None = None
    presence_changed: asyncio.Event = field(default_factory=asyncio.Event)
    acks: int = 0
    errors: int = 0
    owners: dict[str, set[str]] = field(default_factory=dict)  # conversation id -> teen indexes seen
    task: asyncio.Task | None = None
    on_assigned: object = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        hub = self.hub
        try:
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                now = perf()
                f = orjson.loads(msg.data)
                t = f.get("type")
                hub.frames[f"{self.kind}:{t}"] += 1
                hub.frame_count += 1
                if t == "message":
                    m = f.get("message")
                    if m is None:  # relay: the teen's frame, verbatim
                        hub.on_text(f["text"], now)
                    elif m["from"] == "teen":
                        owner = hub.on_text(m["text"], now)
                        if owner is not None:
                            cid = f["conversation_id"]
                            seen = self.owners.get(cid)
                            if seen is None:
                                seen = self.owners[cid] = set()
                            seen.add(owner)
                elif t == "ack":
                    self.acks += 1
                elif t == "conversation":
                    conv = f["conversation"]
                    if conv["state"] == "assigned" and conv["id"] not in self.conversations:
                        self.conversations.append(conv["id"])
                        if self.on_assigned is not None:
                            self.on_assigned()
                elif t == "presence":
                    self.presence = f["presence"]
                    self.presence_changed.set()
                elif t == "error":
                    hub.errors[f"console {f.get('code')}"] += 1
                    self.errors += 1
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not hub.shutting_down:
                hub.closed[f"{self.kind} (close code {self.ws.close_code})"] += 1

    async def send_reply(self, conversation_id: str, text: str, client_id: str) -> None:
        await self.ws.send_str(orjson.dumps({"type": "reply", "conversation_id": conversation_id,
                                             "client_id": client_id, "text": text}).decode())


class Target:
    """How to reach one server (the gateway or the relay)."""

    name = "?"
    has_routing = False  # conversations assigned by the server (gateway) vs fixed pairs (relay)

    def __init__(self, http_base: str, hub: Hub, session: aiohttp.ClientSession):
        self.http = http_base
        self.ws_base = http_base.replace("http://", "ws://")
        self.hub = hub
        self.session = session

    async def _ws(self, path: str, headers: dict | None = None,
                  session: aiohttp.ClientSession | None = None) -> aiohttp.ClientWebSocketResponse:
        origin = {"Origin": self.ws_base.replace("ws://", "http://", 1)}  # the gateway's own page
        return await (session or self.session).ws_connect(
            self.ws_base + path, headers={**origin, **(headers or {})}, autoping=True, compress=0, max_msg_size=4 * 2**20,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0))

    async def _hello(self, ws: aiohttp.ClientWebSocketResponse) -> dict:
        await ws.send_str('{"type":"hello","token":null,"last_seq":0}')
        msg = await asyncio.wait_for(ws.receive(), timeout=30)
        if msg.type is not WSMsgType.TEXT:
            raise ConnectionError(f"no welcome: {msg.type} {msg.data!r}")
        frame = orjson.loads(msg.data)
        if frame.get("type") != "welcome":
            raise ConnectionError(f"expected welcome, got {frame}")
        return frame


class GatewayTarget(Target):
    name = "gateway"
    has_routing = True

    async def console(self, index: int, username: str) -> ConsoleClient:
        async with self.session.post(f"{self.http}/api/console/login",
                                     json={"username": username, "password": PASSWORD},
                                     headers={"Origin": self.http}) as r:
            if r.status != 200:
                raise RuntimeError(f"login {username}: HTTP {r.status} {await r.text()}")
            token = r.cookies["gw_session"].value
        ws = await self._ws("/ws/console", headers={"Cookie": f"gw_session={token}"})
        while True:  # a second console of a busy counsellor may get an event before its init
            msg = await asyncio.wait_for(ws.receive(), timeout=30)
            kind = orjson.loads(msg.data).get("type") if msg.type is WSMsgType.TEXT else None
            if kind == "init":
                break
            if kind is None:
                raise RuntimeError(f"console {username}: no init: {msg.type} {msg.data!r}")
            self.hub.frames[f"console frame before init: {kind}"] += 1
        client = ConsoleClient(index, ws, self.hub, "console")
        client.start()
        return client

    async def teen(self, index: int, console_index: int, session: aiohttp.ClientSession | None = None,
                   kind: str = "widget") -> TeenClient:
        ws = await self._ws("/ws/widget", session=session)
        await self._hello(ws)
        client = TeenClient(index, ws, self.hub, kind)
        client.start()
        return client


class RelayTarget(Target):
    name = "relay"

    async def console(self, index: int, username: str) -> ConsoleClient:
        ws = await self._ws(f"/ws/console?c={index}")
        msg = await asyncio.wait_for(ws.receive(), timeout=30)
        if orjson.loads(msg.data).get("type") != "init":
            raise RuntimeError(f"relay console {index}: no init: {msg.data!r}")
        client = ConsoleClient(index, ws, self.hub, "relay-console")
        client.start()
        return client

    async def teen(self, index: int, console_index: int, session: aiohttp.ClientSession | None = None,
                   kind: str = "relay-widget") -> TeenClient:
        ws = await self._ws(f"/ws/teen?pair={index}&c={console_index}", session=session)
        await self._hello(ws)
        client = TeenClient(index, ws, self.hub, kind)
        client.start()
        return client


class SpreadTarget(Target):
    """Several gateway processes on one Redis (--processes N): client i goes to process i mod N,
    consoles too, so a teen and their counsellor are often on different processes (the bus's
    work, as in production behind a proxy)."""

    name = "gateway"
    has_routing = True

    def __init__(self, targets: list[GatewayTarget]):
        super().__init__(targets[0].http, targets[0].hub, targets[0].session)
        self.targets = targets

    async def console(self, index: int, username: str) -> ConsoleClient:
        return await self.targets[index % len(self.targets)].console(index, username)

    async def teen(self, index: int, console_index: int, session: aiohttp.ClientSession | None = None,
                   kind: str = "widget") -> TeenClient:
        return await self.targets[index % len(self.targets)].teen(index, console_index, session, kind)


async def bounded(coros, limit: int) -> list:
    """Run coroutines with at most `limit` at a time; exceptions are returned, not raised."""
    sem = asyncio.Semaphore(limit)

    async def one(coro):
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                 cookie_jar=aiohttp.DummyCookieJar())
