"""A teen in danger hears it at once: when triage raises a conversation the teen gets one warm
automatic reply with 3114 (once per conversation), on every channel; danger split over two
messages is read together; out of hours the closed-door answer carries 3114 too."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from gateway.domain.message_templates import DEFAULT_MESSAGES
from gateway.domain.model import Author, Message
from gateway.domain.triage import RECENT_WINDOW_SECONDS, parse_triage, recent_teen_lines
from tests.clients import Widget
from tests.conversations import PHONE, PSID, assigned_conversation, teen_writes
from tests.harness import PARIS, make_config, running_gateway

DANGER_REPLY = DEFAULT_MESSAGES["danger_reply"]
SATURDAY_NIGHT = datetime(2026, 11, 28, 21, 30, tzinfo=PARIS)
TRIAGE = parse_triage(None)


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url: str):
    return make_config(store_url, prefix=f"d{uuid.uuid4().hex[:10]}")


@pytest.fixture
def meta_config(store_url: str, standin):
    return make_config(store_url, prefix=f"d{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


async def system_lines(gw, sender_key: str | None = None, conversation_id: str | None = None) -> list[str]:
    """The automatic lines stored in a conversation (what the teen was sent), in order."""
    if conversation_id is None:
        conversation_id = (await gw.helpline.store.active_conversation_of(sender_key)).id
    return [m.text for m in await gw.helpline.store.messages(conversation_id) if m.author is Author.SYSTEM]


# --- the recent lines, pure ------------------------------------------------------------------------


def _line(seq: int, text: str, at: float, author: Author = Author.TEEN) -> Message:
    return Message("c1", seq, author, text, at)


def test_a_phrase_split_over_two_lines_is_read_together():
    assert TRIAGE.assess("j'ai envie") is None and TRIAGE.assess("de mourir") is None
    match = TRIAGE.assess_lines(["j'ai envie", "de mourir"])
    assert match is not None and match.rule == "suicide" and match.matched == "envie de mourir"


def test_recent_lines_are_the_teens_last_three_within_ten_minutes():
    now = 10_000.0
    history = [
        _line(1, "j'ai envie", now - RECENT_WINDOW_SECONDS - 1),  # too old
        _line(2, "un", now - 300),
        _line(3, "Je t'écoute.", now - 200, Author.COUNSELLOR),  # not the teen's
        _line(4, "deux", now - 100),
        _line(5, "trois", now - 50),
        _line(6, "de mourir", now),
    ]
    assert recent_teen_lines(history, now) == ["deux", "trois", "de mourir"]
    assert TRIAGE.assess_lines(recent_teen_lines(history[:1] + history[-1:], now)) is None


def test_unrelated_lines_make_no_phrase():
    assert TRIAGE.assess_lines(["j'ai envie d'une pizza", "c'était à mourir de rire"]) is None


# --- the widget ----------------------------------------------------------------------------------


async def test_widget_teen_in_danger_hears_3114_instead_of_the_queued_notice(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai envie de mourir")
        reply = await teen.message(lambda m: m["from"] == "system")
        assert reply["text"] == DANGER_REPLY and "3114" in reply["text"]
        state = await teen.state(lambda c: c["state"] == "queued" and c["queue_text"] is not None)
        assert state["queue_text"].startswith("Tu es n° 1 dans la file.")  # the band still says where
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "system")  # no generic notice
        await teen.close()


async def test_danger_split_over_two_messages_is_raised_and_answered_once(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai envie")
        queued = await teen.message(lambda m: m["from"] == "system")
        assert "Tu es n° 1 dans la file." in queued["text"]  # nothing raised yet: the ordinary notice
        await teen.say("de mourir")
        assert (await teen.message(lambda m: m["from"] == "system"))["text"] == DANGER_REPLY
        await teen.say("j'ai vraiment envie de mourir")  # raised already: no second reply
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "system")
        conversation = await gw.helpline.store.active_conversation_of(gw.helpline.widget_sender_key(teen.token))
        assert conversation.priority == 3 and "envie de mourir" in conversation.priority_reason
        assert (await system_lines(gw, conversation_id=conversation.id)).count(DANGER_REPLY) == 1
        await teen.close()


async def test_two_lines_far_apart_in_time_do_not_make_a_phrase(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai envie")
        await teen.message(lambda m: m["from"] == "system")  # the queued notice
        gw.clock.advance(RECENT_WINDOW_SECONDS + 60)
        await teen.say("de mourir")
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "system")
        conversation = await gw.helpline.store.active_conversation_of(gw.helpline.widget_sender_key(teen.token))
        assert conversation.priority == 0
        await teen.close()


async def test_an_assigned_conversation_raised_gets_the_note_not_an_automatic_reply(config):
    async with assigned_conversation(config, "web", text="bonjour") as chat:
        await chat.teen.say("je veux me suicider")
        note = await chat.console.message(chat.id, lambda m: m["from"] == "note")
        assert note["text"].startswith("Priorité relevée : Idées suicidaires")
        await chat.teen.barrier()
        chat.teen.assert_none("message", where=lambda f: "3114" in f["message"]["text"])
        assert DANGER_REPLY not in await system_lines(chat.gw, conversation_id=chat.id)


async def test_out_of_hours_a_teen_in_danger_gets_3114_first(config):
    async with running_gateway(config, at=SATURDAY_NIGHT) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("jveux mourir")
        reply = await teen.message(lambda m: m["from"] == "system")
        assert reply["text"] == DEFAULT_MESSAGES["danger_closed"].format(next_opening="lundi à 9h")
        assert "3114" in reply["text"] and "119" in reply["text"]
        await teen.say("tu es là ?")  # an ordinary message out of hours: 3114 is there too
        ordinary = await teen.message(lambda m: m["from"] == "system")
        assert "lundi à 9h" in ordinary["text"] and "3114" in ordinary["text"]
        assert ordinary["text"] != reply["text"]
        assert await gw.helpline.store.queue() == []
        await teen.close()


# --- Messenger and WhatsApp ------------------------------------------------------------------------


def _sent_texts(standin, channel: str, user: str) -> list[str]:
    return standin.seen(channel, user)


@pytest.mark.parametrize(("channel", "user"), [("messenger", PSID), ("whatsapp", PHONE)])
async def test_meta_teen_in_danger_hears_3114_at_once(meta_config, standin, channel, user):
    async with running_gateway(meta_config) as gw:
        await teen_writes(gw, channel, "j'ai envie de mourir", standin)  # answered 200: follow-up done
        sender_key = gw.helpline.pseudonyms.sender_key(channel, user)
        assert await system_lines(gw, sender_key) == [DANGER_REPLY]  # instead of the queued notice
        sent = await standin.wait_for_sent(lambda r: r.channel == channel and r.user == user and r.text is not None)
        assert sent.text == DANGER_REPLY and "3114" in sent.text


async def test_messenger_danger_split_over_two_messages_is_answered_once(meta_config, standin):
    async with running_gateway(meta_config) as gw:
        sender_key = gw.helpline.pseudonyms.sender_key("messenger", PSID)
        await teen_writes(gw, "messenger", "jai envie", standin)
        await teen_writes(gw, "messenger", "de mourir", standin)
        lines = await system_lines(gw, sender_key)
        assert len(lines) == 2 and "dans la file" in lines[0] and lines[1] == DANGER_REPLY
        await teen_writes(gw, "messenger", "je veux me tuer", standin)  # raised already: nothing more
        assert await system_lines(gw, sender_key) == lines
        await standin.wait_for_sent(lambda r: r.channel == "messenger" and r.text == DANGER_REPLY)
        assert _sent_texts(standin, "messenger", PSID).count(DANGER_REPLY) == 1


async def test_whatsapp_out_of_hours_danger_gets_3114(meta_config, standin):
    async with running_gateway(meta_config, at=SATURDAY_NIGHT) as gw:
        await teen_writes(gw, "whatsapp", "je vais me tuer", standin)
        sent = await standin.wait_for_sent(lambda r: r.channel == "whatsapp" and r.text is not None)
        assert sent.user == PHONE and "3114" in sent.text and "lundi à 9h" in sent.text
        assert sent.text == DEFAULT_MESSAGES["danger_closed"].format(next_opening="lundi à 9h")
        assert await gw.helpline.store.queue() == []
