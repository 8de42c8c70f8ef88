"""Messenger and WhatsApp end to end over loopback, with the Meta stand-in playing Meta."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import contextmanager
from datetime import datetime

import aiohttp
import pytest

from tests.clients import Widget
from tests.conversations import PHONE, PSID, assigned_conversation
from tests.harness import META_SECRETS, PARIS, health_headers, make_config, running_gateway

SECRETS = META_SECRETS


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url, standin):
    return make_config(store_url, prefix=f"m{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


def whatsapp_sends(standin, to: str) -> list[dict]:
    return [r for r in standin.sent if r.channel == "whatsapp" and r.body.get("to") == to and r.body.get("type") == "text"]


@contextmanager
def delivery_log_line(fragment: str):
    """An event set when the delivery worker logs a line containing `fragment` (e.g. that a
    failed send will be retried): a positive sign that it handled the platform's answer."""
    seen = asyncio.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if fragment in record.getMessage():
                seen.set()

    logger, handler = logging.getLogger("gateway.core.delivery"), Signal()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_whatsapp_teen_reaches_the_console_and_gets_each_answer(config, standin):
    async with assigned_conversation(config, "whatsapp", standin=standin,
                                     text="on me fait du chantage avec une vidéo 😢") as chat:
        gw, console, conversation = chat.gw, chat.console, chat.conversation
        assert conversation["alias"].startswith("Jeune ")
        assert conversation["window"] == "open" and conversation["window_closes_at"]
        await console.send({"type": "open", "conversation_id": conversation["id"]})
        history = await console.next("history")
        assert [m["text"] for m in history["messages"] if m["from"] == "teen"] == [
            "on me fait du chantage avec une vidéo 😢"]

        ack = await console.reply(conversation["id"], "Tu as bien fait de nous écrire. Ne paie surtout pas.")
        seq = ack["message"]["seq"]
        sent = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.body.get("type") == "text"
                                           and "Ne paie surtout pas" in r.body["text"]["body"])
        assert sent.body["messaging_product"] == "whatsapp" and sent.body["to"] == PHONE
        assert sent.body["recipient_type"] == "individual" and sent.body["text"]["preview_url"] is False
        assert (await console.next("delivery", where=lambda f: f["seq"] == seq))["delivery"] == "sent"

        wamid = sent.response["messages"][0]["id"]
        await standin.send_whatsapp_status(gw.http, wamid, "delivered", PHONE)
        assert (await console.next("delivery", where=lambda f: f["seq"] == seq))["delivery"] == "delivered"
        await standin.send_whatsapp_status(gw.http, wamid, "read", PHONE)
        assert (await console.next("delivery", where=lambda f: f["seq"] == seq))["delivery"] == "read"
        status, _ = await standin.send_whatsapp_status(gw.http, wamid, "delivered", PHONE)  # late: never moves back
        assert status == 200  # the receipt is handled before the webhook answers
        await console.barrier()
        console.assert_none("delivery", where=lambda f: f["seq"] == seq)

        # The automatic messages reached the teen on WhatsApp too (counsellor's arrival, and,
        # "chantage" being raised by triage, the danger reply with 3114 instead of the queued notice).
        bodies = [r.body["text"]["body"] for r in whatsapp_sends(standin, PHONE)]
        assert any("Camille est là" in b for b in bodies) and any("3114" in b for b in bodies)
        raw_frames = json.dumps(console.buffer + [history, conversation])
        assert PHONE not in raw_frames


async def test_messenger_teen_is_answered_in_meta_shape(config, standin):
    async with assigned_conversation(config, "messenger", standin=standin, text="quelqu'un a piraté mon compte") as chat:
        await chat.console.reply(chat.id, "On va t'aider à le récupérer.")
        sent = await standin.wait_for_sent(lambda r: r.channel == "messenger"
                                           and r.body.get("message", {}).get("text") == "On va t'aider à le récupérer.")
        assert sent.body["recipient"] == {"id": PSID} and sent.body["messaging_type"] == "RESPONSE"


async def test_the_three_channels_reach_the_same_console(config, standin):
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console, \
            await Widget.connect(gw.ws) as teen:
        await teen.say("bonjour depuis le site")
        await standin.send_messenger_text(gw.http, PSID, "bonjour depuis messenger")
        await standin.send_whatsapp_text(gw.http, PHONE, "bonjour depuis whatsapp")
        channels = sorted([(await console.assigned())["channel"] for _ in range(3)])
        assert channels == ["messenger", "web", "whatsapp"]


async def test_a_duplicate_delivery_shows_once(config, standin):
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        for _ in range(2):  # Meta retries the same message
            status, _ = await standin.send_whatsapp_text(gw.http, PHONE, "une seule fois", message_id="wamid.DUP1")
            assert status == 200
        conversation = await console.assigned()
        await console.send({"type": "open", "conversation_id": conversation["id"]})
        history = await console.next("history")
        assert [m["text"] for m in history["messages"] if m["from"] == "teen"] == ["une seule fois"]
        await console.barrier()  # the duplicate made no second conversation either
        console.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")


async def test_a_rate_limited_reply_is_retried_and_delivered(whatsapp_chat, standin):
    gw, console = whatsapp_chat.gw, whatsapp_chat.console
    standin.fail_next("whatsapp", 130429, times=1, when=lambda b: b["text"]["body"] == "Je suis là, on reprend.")
    with delivery_log_line("will be retried") as retry_planned:
        ack = await console.reply(whatsapp_chat.id, "Je suis là, on reprend.")
        await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.error_code == 130429)
        await asyncio.wait_for(retry_planned.wait(), 5)
    seq = ack["message"]["seq"]
    await console.barrier()  # the refused attempt showed the counsellor nothing
    console.assert_none("delivery", where=lambda f: f["seq"] == seq)
    gw.clock.advance(120)  # past the backoff: the outbox sends it again
    await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.error_code is None
                                and r.body.get("text", {}).get("body") == "Je suis là, on reprend.")
    frame = await console.next("delivery", where=lambda f: f["seq"] == seq)
    assert frame["delivery"] == "sent"


async def test_outside_the_window_the_console_shows_non_delivre(whatsapp_chat, standin):
    console = whatsapp_chat.console
    standin.fail_next("whatsapp", 131047, times=1, when=lambda b: b["text"]["body"] == "Tu es toujours là ?")
    ack = await console.reply(whatsapp_chat.id, "Tu es toujours là ?")
    frame = await console.next("delivery", where=lambda f: f["seq"] == ack["message"]["seq"])
    assert frame["delivery"] == "failed" and "fenêtre" in frame["delivery_error"]
    await console.send({"type": "open", "conversation_id": whatsapp_chat.id})
    history = await console.next("history")
    mine = [m for m in history["messages"] if m["seq"] == ack["message"]["seq"]][0]
    assert mine["delivery"] == "failed" and mine["delivery_error"].startswith("non délivré")


async def test_after_24_hours_whatsapp_refuses_free_text_before_sending(whatsapp_chat, standin):
    whatsapp_chat.gw.clock.advance(25 * 3600)
    await whatsapp_chat.console.send({"type": "reply", "conversation_id": whatsapp_chat.id, "client_id": "late",
                                      "text": "pardon pour le retard"})
    assert (await whatsapp_chat.console.next("error"))["code"] == "window_closed"
    assert not [r for r in whatsapp_sends(standin, PHONE) if "retard" in r.body["text"]["body"]]


async def test_messenger_after_24_hours_replies_with_the_human_agent_tag(messenger_chat, standin):
    messenger_chat.gw.clock.advance(30 * 3600)
    await messenger_chat.console.reply(messenger_chat.id, "Désolée pour l'attente.")
    sent = await standin.wait_for_sent(lambda r: r.channel == "messenger"
                                       and r.body.get("message", {}).get("text") == "Désolée pour l'attente.")
    assert sent.body["messaging_type"] == "MESSAGE_TAG" and sent.body["tag"] == "HUMAN_AGENT"


async def test_an_image_is_neither_fetched_nor_shown_and_the_teen_is_told_why(config, standin):
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": SECRETS["WHATSAPP_PHONE_NUMBER_ID"]},
        "contacts": [{"profile": {"name": "Secret Name"}, "wa_id": PHONE}],
        "messages": [{"from": PHONE, "id": "wamid.IMG1", "timestamp": "1764000000", "type": "image",
                      "image": {"id": "media-1", "mime_type": "image/jpeg", "sha256": "x"}}]}}]}]}
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp", json.dumps(body).encode())
        assert status == 200
        conversation = await console.assigned()
        await console.send({"type": "open", "conversation_id": conversation["id"]})
        texts = [m["text"] for m in (await console.next("history"))["messages"]]
        assert any("Pièce jointe reçue (image)" in t for t in texts)
        assert "Secret Name" not in json.dumps(texts)
        refusal = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.body.get("type") == "text"
                                              and "photo intime" in r.body["text"]["body"])
        assert refusal.body["to"] == PHONE
        assert not [r for r in standin.sent if "media" in r.path]  # nothing was fetched


async def test_out_of_hours_on_whatsapp_the_teen_is_told_when_we_reopen(config, standin):
    sunday = datetime(2026, 11, 29, 15, 0, tzinfo=PARIS)
    async with running_gateway(config, at=sunday) as gw:
        await standin.send_whatsapp_text(gw.http, PHONE, "vous êtes là ?")
        sent = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.body.get("type") == "text")
        assert "demain à 9h" in sent.body["text"]["body"] and "119" in sent.body["text"]["body"]
        assert await gw.helpline.store.queue() == []


async def test_bad_signature_is_refused_and_nothing_is_stored(config, standin):
    async with running_gateway(config) as gw:
        body = json.dumps({"object": "page", "entry": []}).encode()
        status, _ = await standin.send_raw(gw.http, "/webhooks/messenger", body, sign=False)
        assert status == 403
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.http}/webhooks/whatsapp", data=b"{}",
                                 headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as response:
                assert response.status == 403
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp", b'{"object": "something else"}')
        assert status == 400
        assert await gw.helpline.store.queue() == []


async def test_meta_handshake_echoes_the_challenge_only_with_the_right_token(config, standin):
    async with running_gateway(config) as gw:
        async with aiohttp.ClientSession() as http:
            ok = {"hub.mode": "subscribe", "hub.verify_token": "whatsapp-verify", "hub.challenge": "0123456789"}
            async with http.get(f"{gw.http}/webhooks/whatsapp", params=ok) as response:
                assert response.status == 200 and await response.text() == "0123456789"
            async with http.get(f"{gw.http}/webhooks/whatsapp", params={**ok, "hub.verify_token": "nope"}) as response:
                assert response.status == 403
            async with http.get(f"{gw.http}/healthz/details", headers=health_headers()) as response:
                channels = (await response.json())["channels"]
        assert channels["messenger"]["on"] and channels["whatsapp"]["on"]


async def test_the_counsellors_typing_shows_on_messenger(messenger_chat, standin):
    await messenger_chat.console.send({"type": "typing", "conversation_id": messenger_chat.id, "active": True})
    typing = await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.action == "typing_on")
    assert typing.body["recipient"] == {"id": PSID}


async def test_an_expired_token_is_not_retried_and_alerts_the_admins(whatsapp_chat, standin):
    gw, console = whatsapp_chat.gw, whatsapp_chat.console
    standin.fail_next("whatsapp", 190, times=5, when=lambda b: b["text"]["body"] == "Je suis là.")
    ack = await console.reply(whatsapp_chat.id, "Je suis là.")
    frame = await console.next("delivery", where=lambda f: f["seq"] == ack["message"]["seq"])
    assert frame["delivery"] == "failed" and "administrateur" in frame["delivery_error"]
    assert len([r for r in standin.sent if r.error_code == 190]) == 1  # not retried
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.http}/healthz/details", headers=health_headers()) as response:
            health = await response.json()
    assert health["status"] == "degraded" and health["channels"]["whatsapp"]["alert"] == "token"


async def test_opening_a_conversation_marks_the_teens_messages_seen(config, standin):
    async with running_gateway(config) as gw, await gw.on_duty("camille", max_conversations=2) as console:
        await standin.send_messenger_text(gw.http, PSID, "allo")
        await standin.send_whatsapp_text(gw.http, PHONE, "bonjour", message_id="wamid.TEEN-LAST")
        for _ in range(2):
            conversation = await console.assigned()
            await console.send({"type": "open", "conversation_id": conversation["id"]})
        seen = await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.action == "mark_seen")
        assert seen.body["recipient"] == {"id": PSID}
        read = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.body.get("status") == "read")
        assert read.body == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.TEEN-LAST"}
        assert read.response == {"success": True}


async def test_a_reply_left_in_the_outbox_is_sent_after_a_restart(redis_url, standin):
    """The first gateway cannot reach Meta (nothing listens at its Graph URL) and stops with
    the reply still in the outbox; the next one, on the same Redis, delivers it."""
    prefix = f"r{uuid.uuid4().hex[:10]}"
    unreachable = make_config(redis_url, prefix=prefix, meta={"graph_api_url": "http://127.0.0.1:9"})
    async with assigned_conversation(unreachable, "whatsapp", standin=standin, text="tu es là ?") as chat:
        first = chat.gw
        with delivery_log_line("will be retried") as retry_planned:
            ack = await chat.console.reply(chat.id, "Oui, je suis là.")
            assert ack["message"]["delivery"] == "pending"
            # The first attempt fails on the network and is rescheduled.
            await asyncio.wait_for(retry_planned.wait(), 10)
        # The retry is stored just after its log line (peeking re-leases the job for an hour
        # of this clock, which the second gateway's clock skips).
        async with asyncio.timeout(5):
            while not ((jobs := await first.helpline.store.claim_deliveries(first.clock.now() + 3600, 0.0, 10))
                       and jobs[0].attempts >= 1):
                pass
    assert not any(r.body.get("text", {}).get("body") == "Oui, je suis là." for r in standin.sent)

    reachable = make_config(redis_url, prefix=prefix, meta={"graph_api_url": standin.url})
    async with running_gateway(reachable) as second:
        second.clock.advance(3600)  # past any backoff
        sent = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.body.get("type") == "text"
                                           and r.body["text"]["body"] == "Oui, je suis là.")
        assert sent.body["to"] == PHONE


# --- bodies read whole before the HMAC (up to MAX_BODY), 413 above it -------------------------------

def padded_whatsapp_body(standin, size: int, text: str = "un message dans un gros lot") -> bytes:
    """A real WhatsApp webhook (one text message) padded to exactly `size` bytes with contacts,
    which Meta sends along and the gateway never reads."""
    from meta_standin import meta_json
    from meta_standin.server import whatsapp_envelope

    def body(pad: int) -> bytes:
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": standin.display_phone_number,
                              "phone_number_id": standin.phone_number_id},
                 "contacts": [{"profile": {"name": "x" * pad}, "wa_id": PHONE}],
                 "messages": [{"from": PHONE, "id": f"wamid.big-{uuid.uuid4().hex}", "timestamp": "1764000000",
                               "type": "text", "text": {"body": text}}]}
        return meta_json(whatsapp_envelope(standin.waba_id, value))

    raw = body(size - len(body(0)))
    assert len(raw) == size
    return raw


async def stored_texts(gw) -> list[str]:
    """What teens wrote, as stored (our own answers left out)."""
    from gateway.domain.model import Author

    conversations = await gw.helpline.store.conversations_since(0)
    return [m.text for c in conversations for m in await gw.helpline.store.messages(c.id) if m.author is Author.TEEN]


async def test_a_signed_webhook_over_a_megabyte_is_read_whole_and_stored(config, standin):
    from connectors.meta_webhooks import MAX_BODY

    async with running_gateway(config) as gw:
        big = padded_whatsapp_body(standin, 1_500_000, "lot de 1,5 Mo")
        assert await standin.send_raw(gw.http, "/webhooks/whatsapp", big) == (200, '{"ok": true}')
        largest = padded_whatsapp_body(standin, MAX_BODY, "lot de 3 Mo pile")
        assert (await standin.send_raw(gw.http, "/webhooks/whatsapp", largest))[0] == 200
        assert sorted(await stored_texts(gw)) == ["lot de 1,5 Mo", "lot de 3 Mo pile"]


async def test_a_webhook_over_the_limit_is_413_and_a_bad_signature_stays_403(config, standin):
    from connectors.meta_webhooks import MAX_BODY
    from meta_standin import signature_256

    async with running_gateway(config) as gw:
        too_big = padded_whatsapp_body(standin, MAX_BODY + 1)
        assert (await standin.send_raw(gw.http, "/webhooks/whatsapp", too_big))[0] == 413

        async def chunks():  # no Content-Length: the limit holds while reading
            for start in range(0, len(too_big), 256 * 1024):
                yield too_big[start:start + 256 * 1024]

        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_256(too_big,
                                                                                          SECRETS["META_APP_SECRET"])}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.http}/webhooks/whatsapp", data=chunks(), headers=headers) as response:
                assert response.status == 413

        forged = bytearray(padded_whatsapp_body(standin, 1_500_000, "falsifié"))
        signature = signature_256(bytes(forged), SECRETS["META_APP_SECRET"])
        forged[-100] ^= 1  # one bit changed after signing, far past the first buffered chunk
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.http}/webhooks/whatsapp", data=bytes(forged),
                                 headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}) as r:
                assert r.status == 403
        assert await stored_texts(gw) == []
