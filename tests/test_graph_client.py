"""The Graph API client against the Meta stand-in, over real loopback HTTP (no mocks).

Also the stand-in's other half: the webhooks it signs and sends as Meta does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.graph import (
    MESSENGER_TEXT_MAX,
    GraphClient,
    GraphError,
    GraphErrorKind,
    classify,
)
from connectors.meta_send import MessengerSender
from gateway.domain.model import Channel, Conversation, ConversationState
from meta_standin.server import StandIn, meta_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "meta"

APP_SECRET = "stand-in-app-secret-0123456789"
# Markers: unique strings that must never show up in an error or a log line.
PAGE_TOKEN = "PAGETOKENmarker7f3a9"
WA_TOKEN = "WATOKENmarker91c2e4"
NUMBER_ID = "106540352242922"
PSID = "PSIDmarker55110042"
PHONE = "33699887766"
TEXT = "TEXTmarker confidentiel : on me fait chanter"
MARKERS = (PAGE_TOKEN, WA_TOKEN, PSID, PHONE, TEXT, "TEXTmarker")


@pytest.fixture
async def standin():
    stand_in = StandIn(APP_SECRET, PAGE_TOKEN, WA_TOKEN, NUMBER_ID)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def graph(standin, session) -> GraphClient:
    return GraphClient(session, standin.url)


def assert_no_secret(error: BaseException, log_text: str = "") -> None:
    texts = [str(error), repr(error), *map(str, error.args), log_text]
    cause = error.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    for text in texts:
        for marker in MARKERS:
            assert marker not in text, f"{marker!r} leaked into {text!r}"


# --- sends arrive in Meta's documented shapes ---------------------------------------------------


async def test_messenger_text_arrives_in_send_api_shape_and_returns_the_message_id(graph, standin):
    message_id = await graph.send_messenger_text(PAGE_TOKEN, PSID, TEXT)
    [sent] = standin.sent
    assert sent.channel == "messenger" and sent.path == "/v25.0/me/messages" and sent.error_code is None
    assert sent.body == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": TEXT}}
    assert message_id == sent.response["message_id"] and message_id.startswith("m_")
    assert sent.response["recipient_id"] == PSID
    assert standin.seen("messenger", PSID) == [TEXT]


async def test_after_24_hours_a_counsellor_answers_with_the_human_agent_tag(graph, standin):
    await graph.send_messenger_text(PAGE_TOKEN, PSID, "Désolée pour l'attente.", human_agent_tag=True)
    [sent] = standin.sent
    assert sent.body == {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                         "message": {"text": "Désolée pour l'attente."}}
    assert sent.error_code is None


async def test_messenger_typing_and_mark_seen_are_sender_actions_without_a_message(graph, standin):
    for action in ("typing_on", "typing_off", "mark_seen"):
        assert await graph.messenger_sender_action(PAGE_TOKEN, PSID, action) is None
    assert [r.body for r in standin.sent] == [{"recipient": {"id": PSID}, "sender_action": a}
                                              for a in ("typing_on", "typing_off", "mark_seen")]
    assert all(r.error_code is None and r.action for r in standin.sent)
    assert standin.seen("messenger", PSID) == []  # an indicator is not a message
    with pytest.raises(ValueError):
        await graph.messenger_sender_action(PAGE_TOKEN, PSID, "dance")


async def test_whatsapp_text_arrives_in_cloud_api_shape_and_returns_the_wamid(graph, standin):
    wamid = await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, TEXT)
    [sent] = standin.sent
    assert sent.channel == "whatsapp" and sent.path == f"/v25.0/{NUMBER_ID}/messages"
    assert sent.body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE,
                         "type": "text", "text": {"preview_url": False, "body": TEXT}}
    assert sent.response["messages"] == [{"id": wamid}] and wamid.startswith("wamid.")
    assert sent.response["contacts"] == [{"input": PHONE, "wa_id": PHONE}]
    assert standin.seen("whatsapp", PHONE) == [TEXT]


async def test_whatsapp_mark_read_sends_a_read_status(graph, standin):
    assert await graph.whatsapp_mark_read(WA_TOKEN, NUMBER_ID, "wamid.FROM_THE_TEEN") is None
    [sent] = standin.sent
    assert sent.body == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.FROM_THE_TEEN"}
    assert sent.response == {"success": True}


async def test_texts_over_the_platform_limits_are_refused_before_sending(graph, standin):
    await graph.send_messenger_text(PAGE_TOKEN, PSID, "a" * 1999)
    await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "b" * 4096)
    with pytest.raises(ValueError) as too_long:
        await graph.send_messenger_text(PAGE_TOKEN, PSID, "TEXTmarker" * 200)
    assert "TEXTmarker" not in str(too_long.value)
    with pytest.raises(ValueError):
        await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "c" * 4097)
    assert len(standin.sent) == 2 and all(r.error_code is None for r in standin.sent)


async def test_a_reply_longer_than_the_platform_allows_goes_out_in_parts_within_its_limit(graph, standin):
    """Our own limit is config's `limits.max_message_chars`; set above Meta's, the sender splits."""
    teen = Conversation(id="c-long", channel=Channel.MESSENGER, sender_key="k", alias="Jeune",
                        state=ConversationState.ASSIGNED, opened_at=0.0, reply_to=PSID)
    ids = await MessengerSender(graph, PAGE_TOKEN).send_text(teen, "a" * (MESSENGER_TEXT_MAX + 1), human_agent=False)
    assert len(ids) == 2
    assert [len(r.body["message"]["text"]) for r in standin.sent] == [MESSENGER_TEXT_MAX, 1]
    assert MESSENGER_TEXT_MAX == 1999  # Meta's "< 2000 characters" (META.md "Sending")


# --- Meta's errors are classified by their code -------------------------------------------------

CLASSIFIED = [
    ("whatsapp", 130429, GraphErrorKind.RATE_LIMIT, True),
    ("whatsapp", 131056, GraphErrorKind.RATE_LIMIT, True),
    ("whatsapp", 80007, GraphErrorKind.RATE_LIMIT, True),
    ("whatsapp", 4, GraphErrorKind.RATE_LIMIT, True),
    ("whatsapp", 131047, GraphErrorKind.WINDOW_CLOSED, False),
    ("whatsapp", 131026, GraphErrorKind.UNREACHABLE, False),
    ("whatsapp", 190, GraphErrorKind.TOKEN, False),
    ("whatsapp", 131000, GraphErrorKind.SERVER, True),
    ("messenger", 4, GraphErrorKind.RATE_LIMIT, True),
    ("messenger", 613, GraphErrorKind.RATE_LIMIT, True),
    ("messenger", 10, GraphErrorKind.WINDOW_CLOSED, False),
    ("messenger", 2018278, GraphErrorKind.WINDOW_CLOSED, False),
    ("messenger", 1545041, GraphErrorKind.WINDOW_CLOSED, False),
    ("messenger", 551, GraphErrorKind.UNREACHABLE, False),
    ("messenger", 190, GraphErrorKind.TOKEN, False),
    ("messenger", 2, GraphErrorKind.SERVER, True),
]


async def _send(graph: GraphClient, channel: str) -> str:
    if channel == "whatsapp":
        return await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, TEXT)
    return await graph.send_messenger_text(PAGE_TOKEN, PSID, TEXT)


@pytest.mark.parametrize(("channel", "code", "kind", "retryable"), CLASSIFIED,
                         ids=[f"{c}-{code}" for c, code, _, _ in CLASSIFIED])
async def test_an_injected_meta_error_is_classified_by_its_code(graph, standin, caplog, channel, code, kind,
                                                                retryable):
    caplog.set_level(logging.DEBUG)
    standin.fail_next(channel, code)
    with pytest.raises(GraphError) as caught:
        await _send(graph, channel)
    error = caught.value
    [failed] = standin.sent
    assert error.kind is kind and error.retryable is retryable
    assert error.code == failed.response["error"]["code"] == failed.error_code  # Meta's code, as sent
    assert error.subcode == failed.response["error"].get("error_subcode")
    assert error.http_status == failed.status and error.fbtrace_id == failed.response["error"]["fbtrace_id"]
    assert set(failed.response["error"]) <= {"message", "type", "code", "error_subcode", "fbtrace_id"}
    assert_no_secret(error, caplog.text)
    await _send(graph, channel)  # times=1: the next send goes through
    assert standin.sent[-1].error_code is None


async def test_meta_documents_429_for_whatsapp_throttling_and_the_client_does_not_care(graph, standin):
    standin.fail_next("whatsapp", 130429)
    standin.fail_next("whatsapp", 130429, http_status=400)
    standin.fail_next("whatsapp", 131047, http_status=429)
    kinds = []
    for _ in range(3):
        with pytest.raises(GraphError) as caught:
            await _send(graph, "whatsapp")
        kinds.append((caught.value.http_status, caught.value.kind))
    assert kinds == [(429, GraphErrorKind.RATE_LIMIT), (400, GraphErrorKind.RATE_LIMIT),
                     (429, GraphErrorKind.WINDOW_CLOSED)]


async def test_a_wrong_page_token_really_gets_190_from_the_stand_in(session, standin, caplog):
    graph = GraphClient(session, standin.url)
    with pytest.raises(GraphError) as caught:
        await graph.send_messenger_text("PAGETOKENmarker-wrong", PSID, TEXT)
    assert caught.value.code == 190 and caught.value.kind is GraphErrorKind.TOKEN
    assert caught.value.retryable is False
    assert "PAGETOKENmarker-wrong" not in str(caught.value)
    assert_no_secret(caught.value, caplog.text)


async def test_a_wrong_whatsapp_token_gets_190_and_an_unknown_number_id_gets_100(graph, standin, caplog):
    with pytest.raises(GraphError) as bad_token:
        await graph.send_whatsapp_text("WATOKENmarker-wrong", NUMBER_ID, PHONE, TEXT)
    assert (bad_token.value.code, bad_token.value.kind, bad_token.value.http_status) == (190, GraphErrorKind.TOKEN, 401)
    with pytest.raises(GraphError) as bad_number:
        await graph.send_whatsapp_text(WA_TOKEN, "999000111", PHONE, TEXT)
    assert (bad_number.value.code, bad_number.value.kind) == (100, GraphErrorKind.BAD_REQUEST)
    assert not bad_number.value.retryable
    for caught in (bad_token, bad_number):
        assert "WATOKENmarker-wrong" not in str(caught.value)
        assert_no_secret(caught.value, caplog.text)


async def test_an_invalid_body_gets_100_which_is_a_bad_request(graph, standin, session):
    with pytest.raises(GraphError) as empty_messenger:
        await graph.send_messenger_text(PAGE_TOKEN, PSID, "")
    with pytest.raises(GraphError) as empty_whatsapp:
        await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "")
    for caught in (empty_messenger, empty_whatsapp):
        assert (caught.value.code, caught.value.kind) == (100, GraphErrorKind.BAD_REQUEST)
        assert not caught.value.retryable
        assert caught.value.http_status == 400
    # The stand-in checks what Meta checks: a MESSAGE_TAG without its tag is refused.
    body = {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}}
    async with session.post(f"{standin.url}/v25.0/me/messages", params={"access_token": PAGE_TOKEN},
                            json=body) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == "(#100) Invalid parameter"


async def test_failures_can_be_injected_and_sends_listed_over_http(graph, standin, session):
    async with session.post(f"{standin.url}/_standin/fail",
                            json={"channel": "whatsapp", "code": 131047, "times": 2}) as response:
        assert response.status == 200
    for _ in range(2):
        with pytest.raises(GraphError) as caught:
            await _send(graph, "whatsapp")
        assert caught.value.kind is GraphErrorKind.WINDOW_CLOSED
    await _send(graph, "whatsapp")
    async with session.get(f"{standin.url}/_standin/sent", params={"channel": "whatsapp", "after": "1"}) as response:
        listing = await response.json()
    assert [r["error_code"] for r in listing["sent"]] == [131047, None] and listing["last"] == 3
    assert listing["sent"][-1]["text"] == TEXT and listing["sent"][-1]["user"] == PHONE


async def test_an_injected_failure_can_be_aimed_at_one_message(graph, standin):
    standin.fail_next("whatsapp", 131047, when=lambda body: body["text"]["body"] == "la réponse")
    await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "Camille est là")  # already in the outbox
    with pytest.raises(GraphError) as caught:
        await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "la réponse")
    assert caught.value.kind is GraphErrorKind.WINDOW_CLOSED
    assert [r.error_code for r in standin.sent] == [None, 131047]


async def test_wait_for_sent_returns_a_send_that_arrives_later_and_times_out_otherwise(graph, standin):
    waiting = asyncio.create_task(standin.wait_for_sent(lambda r: r.body["text"]["body"] == "plus tard"))
    await graph.whatsapp_mark_read(WA_TOKEN, NUMBER_ID, "wamid.X")  # no text: does not match, does not crash
    assert not waiting.done()  # the request without text did not match: still waiting
    await graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, "plus tard")
    assert (await waiting).text == "plus tard"
    with pytest.raises(TimeoutError):
        await standin.wait_for_sent(lambda r: r.channel == "messenger", timeout=0.1)


# --- failures without a Graph answer ------------------------------------------------------------


async def test_a_stopped_stand_in_is_a_retryable_network_failure(session, caplog):
    stand_in = StandIn(APP_SECRET, PAGE_TOKEN, WA_TOKEN, NUMBER_ID)
    url = await stand_in.start()
    await stand_in.stop()
    graph = GraphClient(session, url, timeout=2)
    for send in (lambda: graph.send_messenger_text(PAGE_TOKEN, PSID, TEXT),
                 lambda: graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, TEXT)):
        with pytest.raises(GraphError) as caught:
            await send()
        assert caught.value.kind is GraphErrorKind.NETWORK and caught.value.retryable
        assert caught.value.code is None and caught.value.http_status == 0
        assert_no_secret(caught.value, caplog.text)


async def test_a_closed_port_is_a_network_failure(session):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    graph = GraphClient(session, f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(GraphError) as caught:
        await graph.messenger_sender_action(PAGE_TOKEN, PSID, "typing_on")
    assert caught.value.kind is GraphErrorKind.NETWORK and caught.value.retryable
    assert_no_secret(caught.value)


async def test_a_silent_server_times_out_as_a_network_failure(session):
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(-1)  # until the client gives up
        finally:
            writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        graph = GraphClient(session, f"http://127.0.0.1:{port}", timeout=0.3)
        for send in (lambda: graph.send_whatsapp_text(WA_TOKEN, NUMBER_ID, PHONE, TEXT),
                     lambda: graph.send_messenger_text(PAGE_TOKEN, PSID, TEXT)):  # token in the query string
            with pytest.raises(GraphError) as caught:
                await send()
            assert caught.value.kind is GraphErrorKind.NETWORK and caught.value.retryable
            assert caught.value.__context__ is None or caught.value.__suppress_context__
            assert_no_secret(caught.value)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_proxy_error_page_without_a_graph_body_falls_back_on_the_status(session):
    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/{tail:.*}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        graph = GraphClient(session, f"http://{host}:{port}")
        with pytest.raises(GraphError) as caught:
            await graph.send_messenger_text(PAGE_TOKEN, PSID, TEXT)
        assert (caught.value.kind, caught.value.code, caught.value.http_status) == (GraphErrorKind.SERVER, None, 502)
        assert caught.value.retryable
    finally:
        await runner.cleanup()


# --- classify: pure --------------------------------------------------------------


@pytest.mark.parametrize(("code", "subcode", "status", "kind"), [
    (190, 463, 401, GraphErrorKind.TOKEN),
    (190, None, 400, GraphErrorKind.TOKEN),
    (130429, None, 400, GraphErrorKind.RATE_LIMIT),  # the status does not decide...
    (131047, None, 429, GraphErrorKind.WINDOW_CLOSED),  # ...the code does
    (131026, None, 400, GraphErrorKind.UNREACHABLE),
    (551, None, 400, GraphErrorKind.UNREACHABLE),
    (10, 2018278, 400, GraphErrorKind.WINDOW_CLOSED),
    (551, 1545041, 400, GraphErrorKind.WINDOW_CLOSED),  # META.md: 1545041 is the closed window
    (100, None, 400, GraphErrorKind.BAD_REQUEST),
    (2, None, 503, GraphErrorKind.SERVER),
    (123456, None, 400, GraphErrorKind.BAD_REQUEST),  # unknown code: not retried
    (123456, None, 500, GraphErrorKind.SERVER),
    (None, None, 502, GraphErrorKind.SERVER),  # no error body: the status is all there is
    (None, None, 429, GraphErrorKind.RATE_LIMIT),
    (None, None, 404, GraphErrorKind.BAD_REQUEST),
    (None, None, 0, GraphErrorKind.NETWORK),
])
def test_classify_keys_on_the_code(code, subcode, status, kind):
    assert classify(code, subcode, status) is kind


def test_only_rate_limits_server_and_network_failures_are_retryable():
    assert {k for k in GraphErrorKind if k.retryable} == {GraphErrorKind.RATE_LIMIT, GraphErrorKind.SERVER,
                                                          GraphErrorKind.NETWORK}


# --- the stand-in's webhooks: Meta's shapes, Meta's bytes, Meta's signature ----------------------


class Capture:
    """A loopback "gateway" that records what the stand-in POSTs and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        self.gets: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/{channel}", self._post)
        app.router.add_get("/webhooks/{channel}", self._get)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, await request.read(), dict(request.headers)))
        return web.json_response({"ok": True})

    async def _get(self, request: web.Request) -> web.Response:
        self.gets.append(dict(request.query))
        if request.query.get("hub.verify_token") != "the-verify-token":
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query["hub.challenge"])


@pytest.fixture
async def gateway():
    capture = Capture()
    await capture.start()
    yield capture
    await capture.runner.cleanup()


def shape(value: Any) -> Any:
    """The keys and nesting of a JSON value, without its data."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


async def test_a_webhook_is_signed_over_the_exact_escaped_bytes_and_reserialising_breaks_it(standin, gateway):
    status, _ = await standin.send_messenger_text(gateway.url, PSID, "café 😀 https://x/y")
    assert status == 200
    [(path, raw, headers)] = gateway.posts
    assert path == "/webhooks/messenger"
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == expected
    assert raw.isascii() and b"caf\\u00e9 \\ud83d\\ude00" in raw and b"https:\\/\\/x\\/y" in raw  # Meta's wire form
    parsed = json.loads(raw)
    assert parsed["entry"][0]["messaging"][0]["message"]["text"] == "café 😀 https://x/y"
    # The trap is real: the same JSON re-serialised gives other bytes, and another signature.
    for reserialised in (json.dumps(parsed, ensure_ascii=False).encode(), json.dumps(parsed).encode()):
        assert reserialised != raw
        assert "sha256=" + hmac.new(APP_SECRET.encode(), reserialised, hashlib.sha256).hexdigest() != expected
    # The gateway's own check agrees with the stand-in on both counts.
    from connectors.meta_signature import verify_signature
    assert verify_signature(raw, expected, APP_SECRET.encode())
    assert not verify_signature(json.dumps(parsed, ensure_ascii=False).encode(), expected, APP_SECRET.encode())


async def test_webhook_bodies_have_the_shapes_of_metas_own_examples(standin, gateway):
    await standin.send_messenger_text(gateway.url, PSID, "allo", mid="m_1", timestamp_ms=1764000000000)
    await standin.send_whatsapp_text(gateway.url, PHONE, "allo", message_id="wamid.DUP1", timestamp=1764000000)
    messenger, whatsapp = (json.loads(raw) for _, raw, _ in gateway.posts)
    assert shape(messenger) == shape(json.loads((FIXTURES / "messenger_text.json").read_text()))
    assert shape(whatsapp) == shape(json.loads((FIXTURES / "whatsapp_text.json").read_text()))
    event = messenger["entry"][0]["messaging"][0]
    assert event["sender"] == {"id": PSID} and event["message"] == {"mid": "m_1", "text": "allo"}
    assert event["timestamp"] == 1764000000000
    value = whatsapp["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == NUMBER_ID
    assert value["messages"][0] == {"from": PHONE, "id": "wamid.DUP1", "timestamp": "1764000000", "type": "text",
                                    "text": {"body": "allo"}}


async def test_receipts_are_sent_in_metas_shapes(standin, gateway):
    await standin.send_whatsapp_status(gateway.url, "wamid.OURS", "delivered", PHONE, timestamp=1764000001)
    await standin.send_whatsapp_status(gateway.url, "wamid.OURS", "failed", PHONE, error_code=131047)
    await standin.send_messenger_delivery(gateway.url, PSID, ["m_ours"], watermark_ms=1764000002000)
    await standin.send_messenger_read(gateway.url, PSID, watermark_ms=1764000003000)
    delivered, failed, delivery, read = (json.loads(raw) for _, raw, _ in gateway.posts)
    status = delivered["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status == {"id": "wamid.OURS", "status": "delivered", "timestamp": "1764000001", "recipient_id": PHONE}
    error = failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]
    assert error["code"] == 131047 and error["title"] == "Re-engagement message"
    assert delivery["entry"][0]["messaging"][0]["delivery"] == {"mids": ["m_ours"], "watermark": 1764000002000}
    assert read["entry"][0]["messaging"][0]["read"] == {"watermark": 1764000003000}
    assert [p for p, _, _ in gateway.posts] == ["/webhooks/whatsapp"] * 2 + ["/webhooks/messenger"] * 2
    with pytest.raises(ValueError):
        await standin.send_whatsapp_status(gateway.url, "wamid.OURS", "lost", PHONE)


async def test_send_raw_posts_the_bytes_as_given_signed_or_not(standin, gateway):
    body = b'{"object": "page", "entry": []}'
    await standin.send_raw(gateway.url, "/webhooks/messenger", body)
    await standin.send_raw(gateway.url, "/webhooks/messenger", body, sign=False)
    (_, signed_raw, signed), (_, unsigned_raw, unsigned) = gateway.posts
    assert signed_raw == unsigned_raw == body
    assert signed["X-Hub-Signature-256"] == "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert "X-Hub-Signature-256" not in unsigned and "X-Hub-Signature" not in unsigned


async def test_the_verification_handshake_is_metas_get(standin, gateway):
    answer = await standin.verify(gateway.url, "whatsapp", "the-verify-token", challenge="1158201444")
    assert answer == (200, "1158201444")
    status, _ = await standin.verify(gateway.url, "messenger", "not-it")
    assert status == 403
    assert gateway.gets[0] == {"hub.mode": "subscribe", "hub.verify_token": "the-verify-token",
                               "hub.challenge": "1158201444"}


def test_meta_json_escapes_like_meta():
    assert meta_json({"t": "é/😀"}) == b'{"t":"\\u00e9\\/\\ud83d\\ude00"}'
