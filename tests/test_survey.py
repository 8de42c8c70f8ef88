"""The post-chat question (issue #12, item 8): "Est-ce que cet échange t'a aidé ?".

Real gateway on loopback, both stores; the widget over its real socket, Messenger and
WhatsApp through the Meta stand-in (quick replies, reply buttons, and the teen's tap coming
back as a signed webhook). Counted per day and channel only; the supervisor's figures show it.
"""

from __future__ import annotations

import uuid

import pytest

from connectors.messenger_parse import parse_messenger
from connectors.whatsapp_parse import parse_whatsapp
from gateway.core import survey
from gateway.core.supervision import snapshot
from tests.conversations import PHONE, PSID, assigned_conversation
from tests.harness import make_config

ANSWER_TITLES = ["Oui", "Un peu", "Pas vraiment"]
HOURS = 3600


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str, standin=None, asked: bool = True):
    meta = {"meta": {"graph_api_url": standin.url}} if standin is not None else {}
    casework = {"casework": {"post_chat_question": True}} if asked else {}
    return make_config(store_url, prefix=f"s{uuid.uuid4().hex[:10]}", **meta, **casework)


async def helped(gw) -> dict:
    return (await snapshot(gw.helpline))["figures"]["helped"]


async def answered_and_closed(chat) -> None:
    """The counsellor answers, then closes the conversation."""
    await chat.console.reply(chat.id, "Je suis là, tu as bien fait d'écrire.")
    await chat.console.send({"type": "close", "conversation_id": chat.id})


def question_sent(standin, channel: str):
    return standin.wait_for_sent(lambda r: r.channel == channel and r.text == survey.QUESTION)


# --- the widget ------------------------------------------------------------------------------------


async def test_the_widget_teen_is_asked_after_the_close_and_counted_once(store_url):
    async with assigned_conversation(config_for(store_url), "web") as chat:
        teen, gw = chat.teen, chat.gw
        await answered_and_closed(chat)
        await teen.state(where=lambda c: c["state"] == "closed")
        asked = await teen.next("survey")
        assert asked["question"] == "Est-ce que cet échange t'a aidé ?"
        assert [(a["value"], a["label"]) for a in asked["answers"]] == [
            ("oui", "Oui"), ("un_peu", "Un peu"), ("non", "Pas vraiment")]

        await teen.send({"type": "survey_answer", "value": "un_peu"})
        assert (await teen.next("survey_thanks"))["text"]
        await teen.send({"type": "survey_answer", "value": "oui"})  # a second answer: thanked, not counted
        await teen.next("survey_thanks")
        assert await helped(gw) == {"oui": 0, "un_peu": 1, "non": 0}
        counts = await gw.helpline.store.survey_counts(survey.day_of(gw.helpline, gw.clock.now()))
        assert counts == {"web": {"un_peu": 1}}  # per day and channel: nothing else is kept


async def test_the_widget_teen_is_not_asked_when_the_question_is_off(store_url):
    async with assigned_conversation(config_for(store_url, asked=False), "web") as chat:
        await answered_and_closed(chat)
        await chat.teen.state(where=lambda c: c["state"] == "closed")
        await chat.teen.barrier()
        chat.teen.assert_none("survey")
        await chat.teen.send({"type": "survey_answer", "value": "oui"})  # a forged answer counts for nothing
        await chat.teen.next("survey_thanks")
        assert await helped(chat.gw) == {"oui": 0, "un_peu": 0, "non": 0}


async def test_an_unknown_answer_is_refused_as_a_malformed_frame():
    async with assigned_conversation(config_for("memory://"), "web") as chat:
        await answered_and_closed(chat)
        await chat.teen.next("survey")
        await chat.teen.send({"type": "survey_answer", "value": "bof"})
        assert (await chat.teen.next("error"))["code"] == "bad_frame"
        assert await helped(chat.gw) == {"oui": 0, "un_peu": 0, "non": 0}


# --- Messenger and WhatsApp, through the stand-in ---------------------------------------------------


async def test_messenger_asks_with_quick_replies_and_counts_the_tap(store_url, standin):
    async with assigned_conversation(config_for(store_url, standin), "messenger", standin=standin) as chat:
        gw = chat.gw
        await answered_and_closed(chat)
        sent = await question_sent(standin, "messenger")
        assert sent.body["message"]["quick_replies"][0]["content_type"] == "text"
        assert [b["title"] for b in sent.buttons] == ANSWER_TITLES
        oui = sent.buttons[0]["payload"]

        status, _ = await standin.send_messenger_quick_reply(gw.http, PSID, "Oui", oui)
        assert status == 200
        await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.text == survey.THANKS)
        await standin.send_messenger_quick_reply(gw.http, PSID, "Oui", oui)  # tapped twice
        assert await helped(gw) == {"oui": 1, "un_peu": 0, "non": 0}
        assert await gw.helpline.store.active_conversation_of(
            gw.helpline.pseudonyms.sender_key("messenger", PSID)) is None  # the tap opened no conversation
        assert standin.seen("messenger", PSID).count(survey.THANKS) == 1


async def test_whatsapp_asks_with_reply_buttons_and_counts_the_tap(store_url, standin):
    async with assigned_conversation(config_for(store_url, standin), "whatsapp", standin=standin) as chat:
        gw = chat.gw
        await answered_and_closed(chat)
        sent = await question_sent(standin, "whatsapp")
        assert sent.body["type"] == "interactive" and sent.body["interactive"]["type"] == "button"
        assert [b["title"] for b in sent.buttons] == ANSWER_TITLES
        non = sent.buttons[2]["payload"]

        status, _ = await standin.send_whatsapp_button_reply(gw.http, PHONE, non, "Pas vraiment")
        assert status == 200
        await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.text == survey.THANKS)
        assert await helped(gw) == {"oui": 0, "un_peu": 0, "non": 1}
        assert await gw.helpline.store.active_conversation_of(
            gw.helpline.pseudonyms.sender_key("whatsapp", PHONE)) is None


async def test_meta_sends_no_question_when_it_is_off(store_url, standin):
    async with assigned_conversation(config_for(store_url, standin, asked=False), "whatsapp",
                                     standin=standin) as chat:
        await answered_and_closed(chat)
        closing = chat.gw.helpline.config.messages["closed_by_counsellor"]
        await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.text == closing)
        await chat.console.barrier()
        assert not any(r.buttons for r in standin.sent) and survey.QUESTION not in standin.seen("whatsapp", PHONE)


async def test_a_late_tap_is_ignored(standin):
    async with assigned_conversation(config_for("memory://", standin), "messenger", standin=standin) as chat:
        gw = chat.gw
        await answered_and_closed(chat)
        oui = (await question_sent(standin, "messenger")).buttons[0]["payload"]
        gw.clock.advance(25 * HOURS)
        status, _ = await standin.send_messenger_quick_reply(gw.http, PSID, "Oui", oui)
        assert status == 200
        assert await helped(gw) == {"oui": 0, "un_peu": 0, "non": 0}


async def test_a_tap_after_a_new_conversation_opened_is_ignored(standin):
    async with assigned_conversation(config_for("memory://", standin), "messenger", standin=standin) as chat:
        gw = chat.gw
        await answered_and_closed(chat)
        oui = (await question_sent(standin, "messenger")).buttons[0]["payload"]
        await standin.send_messenger_text(gw.http, PSID, "re, j'ai encore un souci")
        await chat.console.assigned()
        await standin.send_messenger_quick_reply(gw.http, PSID, "Oui", oui)
        assert await helped(gw) == {"oui": 0, "un_peu": 0, "non": 0}


# --- the rules, without I/O ----------------------------------------------------------------------------


def test_a_payload_we_did_not_make_is_not_an_answer():
    assert survey.parse_payload(survey.payload("c-42", "un_peu")) == ("c-42", "un_peu")
    for other in (None, "", "survey:", "survey:c-42:bof", "GET_STARTED", "survey::oui", 42):
        assert survey.parse_payload(other) is None


def test_the_parsers_keep_the_tapped_payload():
    messenger = (b'{"object":"page","entry":[{"id":"p","time":1,"messaging":[{"sender":{"id":"u"},'
                 b'"recipient":{"id":"p"},"timestamp":1700000000000,"message":{"mid":"m1","text":"Oui",'
                 b'"quick_reply":{"payload":"survey:c1:oui"}}}]}]}')
    assert parse_messenger(messenger)[0].reply_payload == "survey:c1:oui"
    whatsapp = (b'{"object":"whatsapp_business_account","entry":[{"id":"w","changes":[{"field":"messages",'
                b'"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"1"},'
                b'"messages":[{"from":"336","id":"wamid.1","timestamp":"1700000000","type":"interactive",'
                b'"interactive":{"type":"button_reply","button_reply":{"id":"survey:c1:non","title":"Pas vraiment"}}}]}}]}]}')
    event = parse_whatsapp(whatsapp)[0]
    assert (event.reply_payload, event.text) == ("survey:c1:non", "Pas vraiment")
