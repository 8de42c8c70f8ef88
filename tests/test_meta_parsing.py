"""Meta webhooks, pure part: signature, handshake, and Messenger/WhatsApp bodies → events.

Plain unit tests on recorded and hand-built payloads (shapes from Meta's webhook references);
no event loop, no server.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
from dataclasses import astuple
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.meta_events import MetaIgnored, MetaMessage, MetaStatus, MetaWatermark, PayloadError
from connectors.meta_signature import sign, verify_handshake, verify_signature
from connectors.messenger_parse import parse_messenger
from connectors.whatsapp_parse import parse_whatsapp
from gateway.domain.errors import ProtocolError
from gateway.domain.model import Channel

LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "meta"
FIXTURES = LOCAL_FIXTURES  # copies of ../shared/fixtures/meta (Meta's documented payloads)

SECRET = b"app-secret-for-tests"
PAGE = "PAGE_ID"
PSID = "PSID_1234"
PHONE_ID = "106540352242922"
WA_ID = "33612345678"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- payload builders (shapes from Meta's Messenger / WhatsApp webhook references) --------------


def messenger_body(*events: dict[str, Any], standby: list[dict[str, Any]] | None = None) -> bytes:
    entry: dict[str, Any] = {"id": PAGE, "time": 1458692752478, "messaging": list(events)}
    if standby is not None:
        entry["standby"] = standby
    return orjson.dumps({"object": "page", "entry": [entry]})


def m_event(ms: int = 1458692752478, **payload: Any) -> dict[str, Any]:
    return {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": ms, **payload}


def m_text(mid: str, text: str, ms: int = 1458692752478) -> dict[str, Any]:
    return m_event(ms, message={"mid": mid, "text": text})


def wa_value(messages: list[dict] | None = None, statuses: list[dict] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
    }
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return value


def whatsapp_body(*values: dict[str, Any], field: str = "messages") -> bytes:
    changes = [{"value": value, "field": field} for value in values]
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": changes}]})


def wa_message(wamid: str, kind: str, ts: int = 1749416383, **content: Any) -> dict[str, Any]:
    return {"from": WA_ID, "id": wamid, "timestamp": str(ts), "type": kind, **content}


def wa_text(wamid: str, body: str, ts: int = 1749416383) -> dict[str, Any]:
    return wa_message(wamid, "text", ts, text={"body": body})


def wa_status(wamid: str, status: str, ts: int = 1749416400, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": WA_ID, **extra}


def only(events: list) -> Any:
    assert len(events) == 1, events
    return events[0]


# --- the shared fixtures ---------------------------------------------------------------------------


def test_messenger_fixture_parses_to_one_teen_message():
    assert parse_messenger(fixture("messenger_text.json")) == [
        MetaMessage(
            channel=Channel.MESSENGER,
            platform_id="PSID",
            provider_message_id="mid.1457764197618:41d102a3e1ae206a38",
            timestamp=1458692752.478,
            text="hello, world!",
            attachments=(),
            business_id="PAGE_ID",
        )
    ]


def test_whatsapp_fixture_parses_to_one_teen_message():
    assert parse_whatsapp(fixture("whatsapp_text.json")) == [
        MetaMessage(
            channel=Channel.WHATSAPP,
            platform_id="16505551234",
            provider_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            timestamp=1749416383.0,
            text="Does it come in another color?",
            attachments=(),
            business_id="106540352242922",
        )
    ]


def test_whatsapp_profile_name_never_reaches_an_event():
    events = parse_whatsapp(fixture("whatsapp_text.json"))
    assert "Sheena" not in repr(events)
    assert not any("Sheena" in str(field) for event in events for field in astuple(event))


def test_platform_ids_stay_out_of_event_reprs():
    events = parse_messenger(messenger_body(m_text("m1", "salut"), m_event(delivery={"watermark": 1})))
    assert PSID not in repr(events) and PAGE not in repr(events)


# --- signature ---------------------------------------------------------------------------------------


def test_valid_signature_is_accepted():
    raw = fixture("messenger_text.json")
    assert verify_signature(raw, sign(raw, SECRET), SECRET)


def test_signature_made_with_another_secret_is_refused():
    raw = fixture("messenger_text.json")
    assert not verify_signature(raw, sign(raw, b"someone-else"), SECRET)


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha256", "sha256=zz", "sha256=" + "0" * 63, "md5=abc"])
def test_missing_or_malformed_signature_header_is_refused(header):
    assert not verify_signature(b"{}", header, SECRET)


def test_legacy_sha1_signature_alone_is_refused():
    raw = fixture("whatsapp_text.json")
    legacy = "sha1=" + hmac.new(SECRET, raw, hashlib.sha1).hexdigest()
    assert not verify_signature(raw, legacy, SECRET)


def test_empty_app_secret_refuses_everything():
    raw = b"{}"
    assert not verify_signature(raw, sign(raw, b""), b"")


def test_signature_holds_over_raw_escaped_unicode_but_not_over_a_reserialised_body():
    # What Meta puts on the wire: accents and emoji as \u escapes (emoji as a surrogate pair).
    raw = (b'{"object":"page","entry":[{"id":"PAGE_ID","time":1,"messaging":[{"sender":{"id":"PSID"},'
           b'"recipient":{"id":"PAGE_ID"},"timestamp":1458692752478,'
           b'"message":{"mid":"m1","text":"caf\\u00e9 \\ud83d\\ude00"}}]}]}')
    header = sign(raw, SECRET)
    assert verify_signature(raw, header, SECRET)
    parsed = json.loads(raw)
    for reserialised in (json.dumps(parsed).encode(),
                         json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode(),
                         orjson.dumps(parsed)):
        assert not verify_signature(reserialised, header, SECRET)
    assert only(parse_messenger(raw)).text == "café 😀"


# --- handshake ---------------------------------------------------------------------------------------


def hub(mode: str = "subscribe", token: str = "the-token", challenge: str = "1158201444") -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def test_handshake_with_the_right_token_returns_the_challenge():
    assert verify_handshake(hub(), "the-token") == "1158201444"


def test_handshake_returns_the_challenge_verbatim_not_parsed():
    assert verify_handshake(hub(challenge="0123"), "the-token") == "0123"


def test_handshake_with_a_wrong_token_is_refused():
    assert verify_handshake(hub(token="guess"), "the-token") is None
    assert verify_handshake(hub(token="é"), "the-token") is None  # non-ASCII must not raise


def test_handshake_with_another_mode_is_refused():
    assert verify_handshake(hub(mode="unsubscribe"), "the-token") is None


def test_handshake_without_challenge_or_configured_token_is_refused():
    query = hub()
    del query["hub.challenge"]
    assert verify_handshake(query, "the-token") is None
    assert verify_handshake(hub(token=""), "") is None


# --- bodies that cannot come from Meta ---------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_messenger, parse_whatsapp])
@pytest.mark.parametrize("raw", [
    b"", b"not json", b"\xff\xfe", b"[]", b'[{"object":"page"}]', b'"page"', b"null",
    b'{"entry":[]}', b'{"object":"page"}', b'{"object":"whatsapp_business_account"}',
    b'{"object":"page","entry":{}}', b'{"object":"whatsapp_business_account","entry":"x"}',
    b'{"object":"instagram","entry":[]}',
])
def test_body_that_cannot_come_from_meta_raises_payload_error(parse, raw):
    with pytest.raises(PayloadError) as caught:
        parse(raw)
    assert isinstance(caught.value, ProtocolError)
    assert caught.value.code == "bad_payload" and caught.value.http_status == 400


def test_each_parser_refuses_the_other_platforms_object():
    with pytest.raises(PayloadError):
        parse_messenger(fixture("whatsapp_text.json"))
    with pytest.raises(PayloadError):
        parse_whatsapp(fixture("messenger_text.json"))


def test_empty_entry_list_is_a_valid_empty_batch():
    assert parse_messenger(b'{"object":"page","entry":[]}') == []
    assert parse_whatsapp(b'{"object":"whatsapp_business_account","entry":[]}') == []


# --- Messenger ---------------------------------------------------------------------------------------


def test_messenger_text_keeps_accents_and_emoji_exactly():
    text = "J'ai reçu des messages très méchants 😢🙏🏽 — à l'aide"
    assert only(parse_messenger(messenger_body(m_text("m1", text)))).text == text


def test_messenger_echo_of_our_own_send_is_ignored():
    echo = {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 1,
            "message": {"is_echo": True, "app_id": 1517776481860111, "mid": "m_echo", "text": "Bonjour"}}
    assert parse_messenger(messenger_body(echo)) == [MetaIgnored(Channel.MESSENGER, "echo")]


def test_messenger_standby_events_are_ignored_one_by_one():
    standby = [m_text("m_s1", "hello"), m_text("m_s2", "again")]
    events = parse_messenger(messenger_body(standby=standby))
    assert events == [MetaIgnored(Channel.MESSENGER, "standby")] * 2


def test_messenger_delivery_gives_a_delivered_watermark_in_seconds_with_its_mids():
    event = m_event(delivery={"mids": ["mid.1458668856218:ed81099e15d3f4f233"], "watermark": 1458668856253})
    assert only(parse_messenger(messenger_body(event))) == MetaWatermark(
        platform_id=PSID, kind="delivered", watermark=1458668856.253,
        mids=("mid.1458668856218:ed81099e15d3f4f233",))


def test_messenger_delivery_without_mids_still_gives_its_watermark():
    event = only(parse_messenger(messenger_body(m_event(delivery={"watermark": 1458668856253}))))
    assert event.kind == "delivered" and event.mids == ()


def test_messenger_read_gives_a_read_watermark():
    event = m_event(1458668856463, read={"watermark": 1458668856253})
    assert only(parse_messenger(messenger_body(event))) == MetaWatermark(PSID, "read", 1458668856.253, ())


def test_messenger_postback_is_a_message_whose_text_is_the_button_title():
    event = m_event(postback={"title": "Parler à quelqu'un", "payload": "TALK"})
    message = only(parse_messenger(messenger_body(event)))
    assert isinstance(message, MetaMessage)
    assert (message.text, message.platform_id, message.business_id) == ("Parler à quelqu'un", PSID, PAGE)
    assert message.provider_message_id and PSID not in message.provider_message_id


def test_messenger_postback_id_is_stable_across_retries_and_distinct_per_click():
    first = messenger_body(m_event(1000000000000, postback={"title": "Oui", "payload": "YES"}))
    other = messenger_body(m_event(1000000000001, postback={"title": "Oui", "payload": "YES"}))
    assert only(parse_messenger(first)).provider_message_id == only(parse_messenger(first)).provider_message_id
    assert only(parse_messenger(first)).provider_message_id != only(parse_messenger(other)).provider_message_id


def test_messenger_postback_with_a_mid_and_string_seconds_uses_them():
    # The newer messaging_postbacks reference: `postback.mid`, and a timestamp as a string.
    event = m_event(postback={"mid": "m_MESSAGE-ID", "title": "Oui", "payload": "YES"})
    event["timestamp"] = "1527459824"
    message = only(parse_messenger(messenger_body(event)))
    assert (message.provider_message_id, message.timestamp) == ("m_MESSAGE-ID", 1527459824.0)


def test_messenger_quick_reply_is_read_as_its_text():
    event = m_event(message={"mid": "m_q", "text": "Oui", "quick_reply": {"payload": "YES"}})
    assert only(parse_messenger(messenger_body(event))).text == "Oui"


@pytest.mark.parametrize("kind,expected", [
    ("image", "image"), ("audio", "audio"), ("video", "video"), ("file", "file"),
    ("fallback", "fallback"), ("reel", "reel"), ("hologram", "unsupported"),
])
def test_messenger_attachment_keeps_its_type_and_never_its_url(kind, expected):
    url = "https://scontent.xx.fbcdn.net/v/secret-image.jpg"
    event = m_event(message={"mid": "m_a", "attachments": [{"type": kind, "payload": {"url": url}}]})
    message = only(parse_messenger(messenger_body(event)))
    assert (message.text, message.attachments) == ("", (expected,))
    assert url not in str(astuple(message))


def test_messenger_message_with_text_and_several_attachments_keeps_all_types():
    event = m_event(message={"mid": "m_b", "text": "regarde",
                             "attachments": [{"type": "image", "payload": {}}, {"type": "video", "payload": {}}]})
    message = only(parse_messenger(messenger_body(event)))
    assert (message.text, message.attachments) == ("regarde", ("image", "video"))


def test_messenger_reaction_and_unknown_events_are_ignored():
    events = parse_messenger(messenger_body(
        m_event(reaction={"mid": "m1", "action": "react", "emoji": "❤"}), m_event(something_new={})))
    assert events == [MetaIgnored(Channel.MESSENGER, "reaction"), MetaIgnored(Channel.MESSENGER, "unhandled event")]


def test_messenger_malformed_event_is_ignored_without_losing_the_others():
    bad_ones = [
        {"recipient": {"id": PAGE}, "timestamp": 1, "message": {"mid": "x", "text": "no sender"}},
        m_event(message={"text": "no mid"}),
        m_event(message={"mid": "m_t", "text": 42}),
        m_event(message={"mid": "m_ts", "text": "hi"}) | {"timestamp": "yesterday"},
        m_event(delivery={"mids": "m1"}),
        "not an object",
    ]
    events = parse_messenger(messenger_body(m_text("m1", "avant"), *bad_ones, m_text("m2", "après", 1458692752999)))
    assert [e.text for e in events if isinstance(e, MetaMessage)] == ["avant", "après"]
    assert [e for e in events if isinstance(e, MetaIgnored)] == [MetaIgnored(Channel.MESSENGER, "malformed event")] * 6


def test_messenger_multiple_entries_are_all_read():
    entries = [{"id": f"PAGE_{i}", "time": 1, "messaging": [
        {"sender": {"id": f"PSID_{i}"}, "recipient": {"id": f"PAGE_{i}"}, "timestamp": 1458692752000 + i,
         "message": {"mid": f"m_{i}", "text": f"n°{i}"}}]} for i in range(3)]
    events = parse_messenger(orjson.dumps({"object": "page", "entry": entries}))
    assert [(e.business_id, e.platform_id, e.text) for e in events] == [
        ("PAGE_0", "PSID_0", "n°0"), ("PAGE_1", "PSID_1", "n°1"), ("PAGE_2", "PSID_2", "n°2")]


def test_messenger_out_of_order_messages_come_out_sorted_by_their_timestamp():
    events = parse_messenger(messenger_body(
        m_text("m3", "trois", 1458692753000), m_text("m1", "un", 1458692751000), m_text("m2", "deux", 1458692752000)))
    assert [e.text for e in events] == ["un", "deux", "trois"]


def test_messenger_dashboard_changes_envelope_is_read_like_messaging():
    raw = orjson.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "changes": [
        {"field": "messages", "value": m_text("m_c", "via changes")},
        {"field": "feed", "value": {"item": "post"}}]}]})
    events = parse_messenger(raw)
    assert events[0].text == "via changes"
    assert events[1] == MetaIgnored(Channel.MESSENGER, "unhandled field")


# --- WhatsApp ----------------------------------------------------------------------------------------


def test_whatsapp_batch_of_1000_messages_gives_1000_messages():
    messages = [wa_text(f"wamid.{i:04d}", f"message {i}", 1749416383 + i) for i in range(1000)]
    events = parse_whatsapp(whatsapp_body(wa_value(messages)))
    assert len(events) == 1000 and all(isinstance(e, MetaMessage) for e in events)
    assert [e.provider_message_id for e in events] == [f"wamid.{i:04d}" for i in range(1000)]


def test_whatsapp_multiple_entries_and_changes_are_all_read():
    entry = lambda n: {"id": f"WABA_{n}", "changes": [  # noqa: E731
        {"field": "messages", "value": wa_value([wa_text(f"wamid.{n}a", "a", 10 + n)])},
        {"field": "messages", "value": wa_value([wa_text(f"wamid.{n}b", "b", 20 + n)])}]}
    raw = orjson.dumps({"object": "whatsapp_business_account", "entry": [entry(0), entry(1)]})
    assert [e.provider_message_id for e in parse_whatsapp(raw)] == ["wamid.0a", "wamid.1a", "wamid.0b", "wamid.1b"]


def test_whatsapp_out_of_order_messages_come_out_sorted_and_other_events_keep_their_place():
    value = wa_value(messages=[wa_text("w3", "trois", 300), wa_text("w1", "un", 100), wa_text("w2", "deux", 200)],
                     statuses=[wa_status("ours", "read", 50)])
    events = parse_whatsapp(whatsapp_body(value))
    assert [e.text for e in events[:3]] == ["un", "deux", "trois"]
    assert isinstance(events[3], MetaStatus)


def test_whatsapp_messages_with_equal_timestamps_keep_their_received_order():
    value = wa_value([wa_text("wb", "b", 100), wa_text("wa", "a", 100), wa_text("w0", "0", 50)])
    assert [e.text for e in parse_whatsapp(whatsapp_body(value))] == ["0", "b", "a"]


def test_whatsapp_text_keeps_accents_and_emoji_exactly():
    text = "Ça va pas 😞 il a publié ma photo… 🇫🇷"
    for raw in (whatsapp_body(wa_value([wa_text("w1", text)])),
                json.dumps(orjson.loads(whatsapp_body(wa_value([wa_text("w1", text)])))).encode()):
        assert only(parse_whatsapp(raw)).text == text


@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_whatsapp_status_reports_the_delivery_of_our_message(status):
    assert only(parse_whatsapp(whatsapp_body(wa_value(statuses=[wa_status("wamid.OURS", status)])))) == MetaStatus(
        Channel.WHATSAPP, "wamid.OURS", status, 1749416400.0, None, None)


def test_whatsapp_failed_status_carries_the_first_error_code_and_title():
    failed = wa_status("wamid.OURS", "failed", errors=[
        {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
         "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}])
    event = only(parse_whatsapp(whatsapp_body(wa_value(statuses=[failed]))))
    assert (event.status, event.error_code, event.error_title) == ("failed", 131047, "Re-engagement message")


def test_whatsapp_failed_status_without_errors_still_reports_failure():
    event = only(parse_whatsapp(whatsapp_body(wa_value(statuses=[wa_status("wamid.OURS", "failed")]))))
    assert (event.status, event.error_code, event.error_title) == ("failed", None, None)


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_whatsapp_media_gives_its_type_and_caption_never_its_id_or_url(kind):
    media = {"id": "MEDIA_ID_123", "mime_type": "image/jpeg", "sha256": "abc",
             "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1", "caption": "c'est lui"}
    message = only(parse_whatsapp(whatsapp_body(wa_value([wa_message("w1", kind, **{kind: media})]))))
    assert (message.text, message.attachments) == ("c'est lui", (kind,))
    assert "MEDIA_ID_123" not in str(astuple(message)) and "lookaside" not in str(astuple(message))


def test_whatsapp_media_without_caption_has_empty_text():
    voice = wa_message("w1", "audio", audio={"id": "A", "voice": True})
    message = only(parse_whatsapp(whatsapp_body(wa_value([voice]))))
    assert (message.text, message.attachments) == ("", ("audio",))


@pytest.mark.parametrize("kind,content", [
    ("location", {"latitude": 48.85, "longitude": 2.35, "name": "Chez moi", "address": "1 rue X"}),
    ("contacts", [{"name": {"formatted_name": "Un ami"}, "phones": [{"phone": "+33600000000"}]}]),
])
def test_whatsapp_location_and_contacts_give_their_type_only(kind, content):
    message = only(parse_whatsapp(whatsapp_body(wa_value([wa_message("w1", kind, **{kind: content})]))))
    assert (message.text, message.attachments) == ("", (kind,))


@pytest.mark.parametrize("reply", ["button_reply", "list_reply"])
def test_whatsapp_interactive_reply_is_read_as_its_title(reply):
    interactive = {"type": reply, reply: {"id": "talk", "title": "Parler à quelqu'un", "description": "d"}}
    message = only(parse_whatsapp(whatsapp_body(wa_value([wa_message("w1", "interactive", interactive=interactive)]))))
    assert (message.text, message.attachments) == ("Parler à quelqu'un", ())


def test_whatsapp_template_button_is_read_as_its_text():
    button = {"payload": "STOP", "text": "Arrêter"}
    assert only(parse_whatsapp(whatsapp_body(wa_value([wa_message("w1", "button", button=button)])))).text == "Arrêter"


@pytest.mark.parametrize("kind", ["unsupported", "unknown", "hologram"])
def test_whatsapp_unsupported_or_unknown_type_is_an_unsupported_attachment(kind):
    message = wa_message("w1", kind, errors=[{"code": 131051, "title": "Message type unknown"}])
    assert only(parse_whatsapp(whatsapp_body(wa_value([message])))).attachments == ("unsupported",)


def test_whatsapp_reaction_and_system_messages_are_ignored():
    messages = [wa_message("w1", "reaction", reaction={"message_id": "wamid.OURS", "emoji": "👍"}),
                wa_message("w2", "system", system={"body": "User changed number", "type": "user_changed_number"})]
    assert parse_whatsapp(whatsapp_body(wa_value(messages))) == [
        MetaIgnored(Channel.WHATSAPP, "reaction"), MetaIgnored(Channel.WHATSAPP, "system")]


def test_whatsapp_other_fields_are_ignored():
    raw = whatsapp_body({"event": "APPROVED", "message_template_id": 1}, field="message_template_status_update")
    assert parse_whatsapp(raw) == [MetaIgnored(Channel.WHATSAPP, "unhandled field")]


def test_whatsapp_malformed_update_is_ignored_without_losing_the_others():
    no_id = wa_text("w_x", "sans id")
    del no_id["id"]
    bad_ts = wa_text("w_y", "heure") | {"timestamp": "-5"}
    value = wa_value(messages=[wa_text("w1", "avant", 1), no_id, bad_ts, 7, wa_text("w2", "après", 2)],
                     statuses=[{"status": "read"}, wa_status("ours", "delivered")])
    events = parse_whatsapp(whatsapp_body(value))
    assert [e.text for e in events if isinstance(e, MetaMessage)] == ["avant", "après"]
    assert [e.reason for e in events if isinstance(e, MetaIgnored)] == ["malformed message"] * 3 + ["malformed status"]
    assert [e.status for e in events if isinstance(e, MetaStatus)] == ["delivered"]


def test_whatsapp_message_without_our_phone_number_id_is_malformed():
    value = wa_value([wa_text("w1", "bonjour")])
    del value["metadata"]
    assert parse_whatsapp(whatsapp_body(value)) == [MetaIgnored(Channel.WHATSAPP, "malformed message")]


# --- properties: any input, only PayloadError or well-formed events ---------------------------------

# Keys Meta uses, so that generated objects often reach the deep branches of the parsers.
VOCAB = ["object", "entry", "id", "time", "messaging", "standby", "changes", "field", "value", "sender",
         "recipient", "timestamp", "message", "mid", "text", "is_echo", "is_deleted", "attachments", "type",
         "payload", "delivery", "read", "mids", "watermark", "postback", "title", "metadata",
         "phone_number_id", "messages", "statuses", "from", "body", "image", "caption", "interactive",
         "button_reply", "list_reply", "button", "status", "errors", "code", "reaction", "contacts"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["page", "whatsapp_business_account", "messages", "text", "image", "failed",
                              "1749416383", "button_reply", "subscribe"]))
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(VOCAB) | st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)
PARSERS = {Channel.MESSENGER: parse_messenger, Channel.WHATSAPP: parse_whatsapp}
ENVELOPES = {Channel.MESSENGER: "page", Channel.WHATSAPP: "whatsapp_business_account"}
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(events: list, channel: Channel) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, (MetaMessage, MetaStatus, MetaWatermark, MetaIgnored))
        if isinstance(event, MetaMessage):
            assert event.channel is channel
            assert isinstance(event.platform_id, str) and event.platform_id
            assert isinstance(event.provider_message_id, str) and event.provider_message_id
            assert isinstance(event.business_id, str) and event.business_id
            assert isinstance(event.text, str) and isinstance(event.attachments, tuple)
            assert all(isinstance(kind, str) and kind for kind in event.attachments)
            assert event.text or event.attachments
            assert isinstance(event.timestamp, float) and math.isfinite(event.timestamp) and event.timestamp >= 0
        elif isinstance(event, MetaStatus):
            assert event.channel is channel is Channel.WHATSAPP
            assert isinstance(event.provider_message_id, str) and event.provider_message_id
            assert event.status in {"sent", "delivered", "read", "failed"}
            assert isinstance(event.timestamp, float) and math.isfinite(event.timestamp)
            assert event.error_code is None or (type(event.error_code) is int)
            assert event.error_title is None or isinstance(event.error_title, str)
        elif isinstance(event, MetaWatermark):
            assert channel is Channel.MESSENGER
            assert isinstance(event.platform_id, str) and event.platform_id
            assert event.kind in {"delivered", "read"}
            assert isinstance(event.watermark, float) and math.isfinite(event.watermark)
            assert all(isinstance(mid, str) and mid for mid in event.mids)
        else:
            assert event.channel is channel
            assert isinstance(event.reason, str) and 0 < len(event.reason) <= 40 and event.reason.isascii()
    messages = [e.timestamp for e in events if isinstance(e, MetaMessage)]
    assert messages == sorted(messages)


def parse_or_refuse(channel: Channel, raw: bytes) -> None:
    try:
        events = PARSERS[channel](raw)
    except PayloadError:
        return
    assert_well_formed(events, channel)


@PROPERTY
@given(raw=st.binary(max_size=512), channel=st.sampled_from(list(PARSERS)))
def test_any_bytes_give_events_or_payload_error(raw, channel):
    parse_or_refuse(channel, raw)


@PROPERTY
@given(value=JSON, channel=st.sampled_from(list(PARSERS)))
def test_any_json_value_gives_events_or_payload_error(value, channel):
    parse_or_refuse(channel, orjson.dumps(value))


@PROPERTY
@given(entry=st.lists(JSON, max_size=4), channel=st.sampled_from(list(PARSERS)))
def test_any_entries_under_the_right_object_give_well_formed_events(entry, channel):
    assert_well_formed(PARSERS[channel](orjson.dumps({"object": ENVELOPES[channel], "entry": entry})), channel)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        paths += _paths(child, prefix + (key,))
    return paths


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = copy.deepcopy(node)
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


VALID_BODIES = {
    Channel.MESSENGER: orjson.loads(messenger_body(
        m_text("m1", "salut"), m_event(postback={"title": "Oui", "payload": "Y"}),
        m_event(delivery={"mids": ["m0"], "watermark": 1458668856253}), m_event(read={"watermark": 1458668856253}),
        m_event(message={"mid": "m2", "attachments": [{"type": "image", "payload": {"url": "u"}}]}),
        standby=[m_text("m3", "x")])),
    Channel.WHATSAPP: orjson.loads(whatsapp_body(wa_value(
        messages=[wa_text("w1", "salut"), wa_message("w2", "image", image={"id": "i", "caption": "c"}),
                  wa_message("w3", "interactive", interactive={"type": "list_reply", "list_reply": {"title": "t"}})],
        statuses=[wa_status("ours", "failed", errors=[{"code": 131047, "title": "Re-engagement message"}])]))),
}


@PROPERTY
@given(data=st.data(), channel=st.sampled_from(list(PARSERS)))
def test_a_valid_body_with_any_one_part_replaced_gives_events_or_payload_error(data, channel):
    body = VALID_BODIES[channel]
    path = data.draw(st.sampled_from(_paths(body)))
    parse_or_refuse(channel, orjson.dumps(_replace(body, path, data.draw(JSON))))


def test_whatsapp_username_teen_without_a_number_is_known_by_their_business_scoped_id():
    message = wa_text("wamid.BSUID", "allo")
    del message["from"]
    message["from_user_id"] = "FR.1502576394655843"
    [event] = parse_whatsapp(whatsapp_body(wa_value([message])))
    assert isinstance(event, MetaMessage) and event.platform_id == "FR.1502576394655843"


def test_whatsapp_bsuid_only_in_contacts_is_used_when_the_message_has_no_sender():
    message = wa_text("wamid.BSUID2", "allo")
    del message["from"]
    value = wa_value([message])
    value["contacts"] = [{"profile": {"name": "x"}, "user_id": "FR.99"}]
    [event] = parse_whatsapp(whatsapp_body(value))
    assert event.platform_id == "FR.99"


def test_whatsapp_message_with_no_sender_at_all_is_malformed():
    message = wa_text("wamid.NOBODY", "allo")
    del message["from"]
    value = wa_value([message])
    value["contacts"] = []
    [event] = parse_whatsapp(whatsapp_body(value))
    assert not isinstance(event, MetaMessage)
