"""Privacy canaries: what a teen sends must never surface in a log line or in /metrics.

Unique markers ride in everything personal a conversation carries: the teen's and the
counsellor's texts, the Messenger PSID, the WhatsApp number and profile name, the widget's
session token, the platform message ids, an attachment's URL and caption. Every channel then
runs end to end on the real gateway (memory and Redis stores) with the Meta stand-in playing
Meta: a triage phrase, an attachment, answers, receipts, typing, closing. Every log record of
every logger is captured at DEBUG, formatted in full (exception and stack included), and
searched; so is the Prometheus text. A second test does the same with a real gateway process
and its log file.

Excluded from the search: the `websockets` library's own DEBUG lines, which log every frame
the *test clients* send and receive (it plays the teen's browser; the gateway serves its
sockets with aiohttp and never imports `websockets`).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from functools import partial

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.counsellor import line_gauges
from gateway.http.metrics import Metrics
from meta_standin.server import StandIn, meta_json, messenger_envelope, whatsapp_envelope
from tests.clients import Console, Widget
from tests.harness import META_SECRETS, make_config, running_gateway
from tests.processes import GatewayProcess, write_config

# The same test secrets as tests/test_meta_flow.py (copied: importing its fixtures would
# register them twice).
SECRETS = META_SECRETS
TRIAGE_PHRASE = "je veux mourir"  # built-in rule "suicide": priority 3, skill psychologue


def canary(what: str) -> str:
    return f"CANARY-{what}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Canaries:
    """One run's markers. Platform ids are digits, as Meta's are: unique random numbers."""

    web_token: str = field(default_factory=lambda: canary("token"))  # fits the widget's token pattern
    web_client_id: str = field(default_factory=lambda: canary("cid"))
    web_text: str = field(default_factory=lambda: canary("webtext"))
    psid: str = field(default_factory=lambda: f"9{secrets.randbelow(10**15):015d}")
    messenger_mid: str = field(default_factory=lambda: "m_" + canary("mid"))
    messenger_text: str = field(default_factory=lambda: canary("msgtext"))
    attachment_url: str = field(default_factory=lambda: canary("url"))
    phone: str = field(default_factory=lambda: f"33{secrets.randbelow(10**13):013d}")
    wamid: str = field(default_factory=lambda: "wamid." + canary("wamid"))
    profile_name: str = field(default_factory=lambda: canary("profile"))
    whatsapp_text: str = field(default_factory=lambda: canary("watext"))
    caption: str = field(default_factory=lambda: canary("caption"))
    counsellor_texts: tuple[str, ...] = field(default_factory=lambda: tuple(canary(f"reply{i}") for i in range(3)))

    def all(self) -> list[str]:
        values = [v for k, v in vars(self).items() if k != "counsellor_texts"]
        return values + list(self.counsellor_texts)

    def never_stored(self) -> list[str]:
        """What the store must not hold in clear either (docs/privacy.md, "Never stored")."""
        return [self.web_token, self.web_client_id, self.profile_name, self.attachment_url]


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def leaks(canaries: Canaries, text: str) -> list[str]:
    return [marker for marker in canaries.all() if marker in text]


def leaking_lines(canaries: Canaries, lines: list[str]) -> list[str]:
    return [line for line in lines if leaks(canaries, line)]


# --- the flows -----------------------------------------------------------------------------------


async def assigned_on(console: Console, channel: str) -> dict:
    frame = await console.next("conversation", where=lambda f: f["conversation"]["state"] == "assigned"
                               and f["conversation"]["channel"] == channel)
    return frame["conversation"]


async def closed(console: Console, conversation_id: str) -> None:
    await console.next("conversation", where=lambda f: f["conversation"]["id"] == conversation_id
                       and f["conversation"]["state"] == "closed")


async def web_flow(gw, console: Console, c: Canaries) -> Widget:
    """Widget: a triage phrase at creation, an answer, typing both ways, the teen ends it."""
    teen = await Widget.connect(gw.ws, token=c.web_token)
    assert teen.token == c.web_token  # the marker really is the session token
    await teen.say(f"{c.web_text} {TRIAGE_PHRASE}", client_id=c.web_client_id)
    conversation = await assigned_on(console, "web")
    assert conversation["priority"] > 0, "the triage phrase should have raised it"
    await console.send({"type": "open", "conversation_id": conversation["id"]})
    await console.next("history", where=lambda f: f["conversation_id"] == conversation["id"])
    await teen.state(lambda s: s["state"] == "assigned")
    await teen.send({"type": "typing", "active": True})
    await console.next("typing", where=lambda f: f["conversation_id"] == conversation["id"])
    await console.reply(conversation["id"], c.counsellor_texts[0])
    assert (await teen.message(lambda m: m["from"] == "counsellor"))["text"] == c.counsellor_texts[0]
    await teen.send({"type": "end"})
    await teen.state(lambda s: s["state"] == "closed")
    await closed(console, conversation["id"])
    return teen


async def messenger_flow(gw, standin: StandIn, console: Console, c: Canaries) -> None:
    """Messenger: a text, an image (never fetched), an answer, typing, receipts, closed by us."""
    status, _ = await standin.send_messenger_text(gw.http, c.psid, c.messenger_text, mid=c.messenger_mid)
    assert status == 200
    conversation = await assigned_on(console, "messenger")
    image = {"sender": {"id": c.psid}, "recipient": {"id": standin.page_id}, "timestamp": int(time.time() * 1000),
             "message": {"mid": c.messenger_mid + "-img", "attachments": [
                 {"type": "image", "payload": {"url": f"https://scontent.example/{c.attachment_url}.jpg"}}]}}
    body = meta_json(messenger_envelope(standin.page_id, [image], int(time.time() * 1000)))
    assert (await standin.send_raw(gw.http, "/webhooks/messenger", body))[0] == 200
    await console.message(conversation["id"], lambda m: "Pièce jointe reçue (image)" in m["text"])
    await console.send({"type": "typing", "conversation_id": conversation["id"], "active": True})
    await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.action == "typing_on")
    ack = await console.reply(conversation["id"], c.counsellor_texts[1])
    await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.text == c.counsellor_texts[1])
    seq = ack["message"]["seq"]
    assert (await console.next("delivery", where=lambda f: f["seq"] == seq
                               and f["conversation_id"] == conversation["id"]))["delivery"] == "sent"
    later = int((gw.clock.now() + 60) * 1000)  # Messenger watermarks are in the platform's time
    await standin.send_messenger_delivery(gw.http, c.psid, watermark_ms=later)
    await standin.send_messenger_read(gw.http, c.psid, watermark_ms=later)
    await console.next("delivery", where=lambda f: f["seq"] == seq and f["delivery"] == "read")
    await console.send({"type": "close", "conversation_id": conversation["id"]})
    await closed(console, conversation["id"])
    assert not [r for r in standin.sent if c.attachment_url in r.path]  # never fetched


async def whatsapp_flow(gw, standin: StandIn, console: Console, c: Canaries) -> None:
    """WhatsApp: a text with a profile name, a captioned image, a triage phrase after the
    assignment (a raise), an answer, statuses, closed by us."""
    status, _ = await standin.send_whatsapp_text(gw.http, c.phone, c.whatsapp_text, message_id=c.wamid,
                                                 profile_name=c.profile_name)
    assert status == 200
    conversation = await assigned_on(console, "whatsapp")
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": standin.display_phone_number,
                          "phone_number_id": SECRETS["WHATSAPP_PHONE_NUMBER_ID"]},
             "contacts": [{"profile": {"name": c.profile_name}, "wa_id": c.phone}],
             "messages": [{"from": c.phone, "id": c.wamid + "-img", "timestamp": str(int(time.time())),
                           "type": "image", "image": {"id": c.attachment_url, "mime_type": "image/jpeg",
                                                      "sha256": "x", "caption": c.caption}}]}
    body = meta_json(whatsapp_envelope(standin.waba_id, value))
    assert (await standin.send_raw(gw.http, "/webhooks/whatsapp", body))[0] == 200
    await console.message(conversation["id"], lambda m: "Pièce jointe reçue (image)" in m["text"])
    await standin.send_whatsapp_text(gw.http, c.phone, f"{TRIAGE_PHRASE} {c.whatsapp_text}",
                                     message_id=c.wamid + "-triage", profile_name=c.profile_name)
    await console.message(conversation["id"], lambda m: m["from"] == "note" and "Priorité relevée" in m["text"])
    ack = await console.reply(conversation["id"], c.counsellor_texts[2])
    sent = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.text == c.counsellor_texts[2])
    seq = ack["message"]["seq"]
    wamid = sent.response["messages"][0]["id"]
    for state in ("delivered", "read"):
        await standin.send_whatsapp_status(gw.http, wamid, state, c.phone)
        await console.next("delivery", where=lambda f, s=state: f["seq"] == seq and f["delivery"] == s)
    await console.send({"type": "close", "conversation_id": conversation["id"]})
    await closed(console, conversation["id"])
    assert not [r for r in standin.sent if "media" in r.path or c.attachment_url in r.path]


async def redis_dump(url: str, prefix: str) -> str:
    """Every key name and value under `prefix`, as one text to search."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            kind = await client.type(key)
            if kind == "string":
                stored = await client.get(key)
            elif kind == "hash":
                stored = await client.hgetall(key)
            elif kind == "list":
                stored = await client.lrange(key, 0, -1)
            elif kind == "set":
                stored = await client.smembers(key)
            elif kind == "zset":
                stored = await client.zrange(key, 0, -1)
            else:
                stored = kind
            parts.append(f"{key} {stored!r}")
    finally:
        await client.aclose()
    assert parts, "nothing found under the prefix: the dump looked in the wrong place"
    return "\n".join(parts)


# --- the metrics text ----------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def assert_counted(text: str) -> None:
    """The flows above show in the counters (an empty /metrics would pass the leak check)."""
    found = samples(text)
    for author in ("teen", "counsellor", "system", "note"):
        assert value(found, "gateway_messages_total", author=author) > 0, author
    for channel in ("web", "messenger", "whatsapp"):
        for state in ("queued", "assigned", "closed"):
            assert value(found, "gateway_conversation_transitions_total", state=state, channel=channel) >= 1, \
                (state, channel)
    assert value(found, "gateway_priority_raises_total", channel="web") >= 1
    assert value(found, "gateway_priority_raises_total", channel="whatsapp") >= 1
    for state in ("pending", "sent", "delivered", "read"):
        assert value(found, "gateway_deliveries_total", state=state) >= 1, state
    assert value(found, "gateway_presence_changes_total", presence="available") >= 1
    assert value(found, "gateway_seen_events_total") >= 1


def assert_only_enum_labels(text: str) -> None:
    """Belt and braces: every label value is a short lowercase word."""
    for (name, labels), _ in samples(text).items():
        for key, label in labels:
            assert re.fullmatch(r"[a-z_]{1,20}", label), f"{name}{{{key}={label!r}}}"


# --- the tests -----------------------------------------------------------------------------------


async def test_no_teen_data_reaches_logs_or_metrics_on_any_channel(store_url, standin, logs):
    c = Canaries()
    prefix = f"p{uuid.uuid4().hex[:10]}"
    config = make_config(store_url, prefix=prefix, meta={"graph_api_url": standin.url})
    async with running_gateway(config) as gw:
        local = Metrics(gw.helpline.bus, partial(line_gauges, gw.helpline))  # checks the class, route or not
        console = await gw.on_duty("camille", "Camille", skills=frozenset({"psychologue"}), max_conversations=3)
        teen = await web_flow(gw, console, c)
        await messenger_flow(gw, standin, console, c)
        await whatsapp_flow(gw, standin, console, c)
        await local.sample()
        local_text = local.render().decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.http}/metrics") as response:
                http_status, content_type, http_text = response.status, response.content_type, await response.text()
        await teen.close()
        await console.close()
        stored = await redis_dump(store_url, prefix) if store_url.startswith("redis") else ""

    if stored:  # Redis: the dump does read the conversations (texts are kept, by design)
        assert c.web_text in stored
    assert [m for m in c.never_stored() if m in stored] == []
    lines = logs.gateway_lines()
    assert any("queued" in line for line in lines), "the capture saw nothing of the gateway's logs"
    assert leaking_lines(c, lines) == []
    assert leaks(c, local_text) == []
    assert_counted(local_text)
    assert_only_enum_labels(local_text)
    assert value(samples(local_text), "gateway_counsellors_available") == 1

    if http_status == 404:
        pytest.fail("wire /metrics: GET /metrics answered 404; add the route and Metrics(bus, line_gauges) in "
                    "gateway/server.py (see gateway/metrics.py)")
    assert http_status == 200 and content_type == "text/plain"
    assert leaks(c, http_text) == []
    assert_counted(http_text)
    assert_only_enum_labels(http_text)
    found = samples(http_text)
    for kind in ("widget", "console"):
        assert value(found, "gateway_open_sockets", kind=kind) >= 1, \
            f"wire Metrics.socket_opened/socket_closed({kind!r}) into the {kind} socket handler"


async def test_a_gateway_process_logs_no_teen_data(tmp_path):
    c = Canaries()
    config = write_config(tmp_path / "config.yaml", "memory://", f"p{uuid.uuid4().hex[:10]}",
                          last_admission_minutes=0, routing={"skill_wait_seconds": 0})
    log_path = tmp_path / "gateway.log"
    gateway = await asyncio.to_thread(GatewayProcess, config, log_path)
    try:
        password = await demo_password(gateway)
        teen = await Widget.connect(gateway.ws, token=c.web_token)
        await teen.say(f"{c.web_text} {TRIAGE_PHRASE}", client_id=c.web_client_id)
        console = await Console.login(gateway.http, "demo", password)
        await console.presence("available")
        conversation = await assigned_on(console, "web")
        await console.reply(conversation["id"], c.counsellor_texts[0])
        await teen.message(lambda m: m["from"] == "counsellor")
        await console.send({"type": "close", "conversation_id": conversation["id"]})
        await teen.state(lambda s: s["state"] == "closed")
        await teen.close()
        await console.close()
    finally:
        await asyncio.to_thread(gateway.stop)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "queued (channel web)" in log and "assigned" in log, "the process log shows nothing of the flow"
    assert [line for line in log.splitlines() if leaks(c, line)] == []


async def demo_password(gateway: GatewayProcess, timeout: float = 10.0) -> str:
    """The memory store's demo supervisor, printed at start (before the line the process
    waits for, so it is there already)."""
    found = await asyncio.to_thread(gateway.output.wait_for, r"login: demo\s+password: (\S+)", timeout)
    return found.group(1)
