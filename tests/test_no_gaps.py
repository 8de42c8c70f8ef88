"""No gaps on any socket (issue #10, item 3), full resume on reconnect, frames refused before the store.

A lost event is played honestly: the bus drops the event of one line (as pub/sub did across a
Redis restart), the line itself is stored. What the next line must bring is the lost one first.
"""

from __future__ import annotations

import json
import uuid

import pytest
import websockets

from gateway.domain.events import MessageAdded
from tests.clients import Console, Widget
from tests.conversations import assigned_conversation
from tests.harness import PASSWORD, make_config


@pytest.fixture(params=["memory", "redis"])
def config(request: pytest.FixtureRequest):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return make_config(url, prefix=f"t{uuid.uuid4().hex[:10]}")


def lose_events_of(helpline, text: str) -> list:
    """From now on, the bus loses the event of every line with this text (the line is stored)."""
    lost = []
    publish = helpline.bus.publish

    async def publish_but_lose(event):
        if isinstance(event, MessageAdded) and event.message.text == text:
            lost.append(event)
            return
        await publish(event)

    helpline.bus.publish = publish_but_lose
    return lost


async def settled(client) -> None:
    """Everything sent so far has arrived (a barrier), and is put aside: what follows is new."""
    await client.barrier()
    client.buffer.clear()


def seqs(frames: list[dict]) -> list[int]:
    return [f["message"]["seq"] for f in frames]


async def test_a_lost_line_reaches_the_teen_before_the_next_one(config):
    async with assigned_conversation(config, "web") as chat:
        teen = chat.teen
        await teen.message(lambda m: m["from"] == "system" and "Camille" in m["text"])  # the "assigned" notice
        await settled(teen)
        lost = lose_events_of(chat.gw.helpline, "celle-ci se perd")
        first = await chat.console.reply(chat.id, "celle-ci se perd")
        second = await chat.console.reply(chat.id, "et celle-là arrive")
        assert len(lost) == 1
        got = [await teen.next("message"), await teen.next("message")]
        assert [m["message"]["text"] for m in got] == ["celle-ci se perd", "et celle-là arrive"]
        assert seqs(got) == [first["message"]["seq"], second["message"]["seq"]]
        await teen.barrier()
        teen.assert_none("message")  # nothing twice


async def test_a_teen_never_gets_a_note_and_its_hole_needs_no_fill(config):
    """A raise leaves an internal note in the teen's numbering: counted as sent, never sent."""
    async with assigned_conversation(config, "web") as chat:
        teen = chat.teen
        await teen.message(lambda m: m["from"] == "system" and "Camille" in m["text"])
        await settled(teen)
        said = await teen.say("j'ai envie de mourir")
        note = await chat.console.message(chat.id, lambda m: m["from"] == "note")
        assert note["seq"] == said["message"]["seq"] + 1
        reply = await chat.console.reply(chat.id, "Je suis là.")
        got = await teen.message()
        assert (got["seq"], got["text"]) == (reply["message"]["seq"], "Je suis là.")
        await teen.barrier()
        teen.assert_none("message")


async def test_a_lost_teen_line_reaches_the_console_before_the_next_one(config):
    async with assigned_conversation(config, "web") as chat:
        console, teen = chat.console, chat.teen
        await console.message(chat.id, lambda m: m["from"] == "system" and "Camille" in m["text"])  # the "assigned" notice
        await settled(console)
        lose_events_of(chat.gw.helpline, "perdu en route")
        first = await teen.say("perdu en route")
        second = await teen.say("la suite")
        got = [await console.message(chat.id), await console.message(chat.id)]
        assert [m["text"] for m in got] == ["perdu en route", "la suite"]
        assert [m["seq"] for m in got] == [first["message"]["seq"], second["message"]["seq"]]


async def test_a_reply_is_acked_after_the_lines_before_it(config):
    """The teen's line lost on the bus goes out before the ack of the reply stored after it."""
    async with assigned_conversation(config, "web") as chat:
        console, teen = chat.console, chat.teen
        await console.message(chat.id, lambda m: m["from"] == "system" and "Camille" in m["text"])  # the "assigned" notice
        await console.send({"type": "open", "conversation_id": chat.id})
        await console.next("history")
        await settled(console)
        lose_events_of(chat.gw.helpline, "tu es là ?")
        said = await teen.say("tu es là ?")
        ack = await console.reply(chat.id, "Oui.")
        line = console.seen("message", where=lambda f: f["conversation_id"] == chat.id)
        assert seqs(line) == [said["message"]["seq"]] and ack["message"]["seq"] == said["message"]["seq"] + 1


async def test_the_widget_resumes_from_what_it_shows_including_holes_below(config):
    """`last_seq` plus `missing`: lines the page lacks below its highest come back too; a note
    named as missing is simply not sent."""
    async with assigned_conversation(config, "web") as chat:
        teen = chat.teen
        await teen.say("j'ai envie de mourir")  # + a note
        replies = [(await chat.console.reply(chat.id, f"réponse {n}"))["message"] for n in range(3)]
        await teen.close()
        note_seq = replies[0]["seq"] - 1
        lacking = [note_seq, replies[0]["seq"]]
        back = await Widget.connect(chat.gw.ws, token=teen.token, last_seq=replies[1]["seq"])
        assert [m["seq"] for m in back.welcome["messages"]] == [replies[2]["seq"]]
        await back.close()
        ws = await websockets.connect(f"{chat.gw.ws}/ws/widget", origin=chat.gw.http)
        await ws.send(json.dumps({"type": "hello", "token": teen.token, "last_seq": replies[1]["seq"],
                                  "missing": lacking}))
        welcome = json.loads(await ws.recv())
        assert [m["seq"] for m in welcome["messages"]] == [replies[0]["seq"], replies[2]["seq"]]
        assert all(m["from"] != "note" for m in welcome["messages"])
        await ws.close()


async def test_a_page_claiming_more_than_the_conversation_has_still_gets_live_lines(config):
    async with assigned_conversation(config, "web") as chat:
        await chat.teen.close()
        teen = await Widget.connect(chat.gw.ws, token=chat.teen.token, last_seq=500)
        reply = await chat.console.reply(chat.id, "toujours là")
        assert (await teen.message())["seq"] == reply["message"]["seq"]
        await teen.close()


async def test_the_console_resumes_every_conversation_it_holds(config):
    """A console that was away names each conversation with the last seq it has: it gets the
    lines after it (as `message` frames), then `resumed`; a conversation not its own gets nothing."""
    async with assigned_conversation(config, "web") as chat:
        gw, teen = chat.gw, chat.teen
        other = await Widget.connect(gw.ws)
        await other.say("une deuxième personne")
        second = await chat.console.assigned()
        history = {}
        for conversation_id in (chat.id, second["id"]):
            await chat.console.send({"type": "open", "conversation_id": conversation_id})
            history[conversation_id] = (await chat.console.next("history"))["messages"][-1]["seq"]
        await chat.console.close()
        missed = [(await teen.say("tu es partie ?"))["message"]["seq"], (await other.say("allô ?"))["message"]["seq"]]
        console = await Console.login(gw.http, "camille", PASSWORD)
        await gw.add_counsellor("malik", "Malik")
        await console.send({"type": "resume", "conversations": {**history, "not-mine-0": 0}})
        resumed = await console.next("resumed")
        assert resumed["conversations"] == {chat.id: missed[0], second["id"]: missed[1]}
        got = {f["conversation_id"]: f["message"] for f in console.seen("message")}
        assert {k: (m["seq"], m["text"]) for k, m in got.items()} == {
            chat.id: (missed[0], "tu es partie ?"), second["id"]: (missed[1], "allô ?")}
        reply = await console.reply(chat.id, "Non, je suis là.")  # live lines go on from there
        assert (await teen.message(lambda m: m["from"] == "counsellor"))["seq"] == reply["message"]["seq"]
        await other.close()
        await console.close()


@pytest.mark.parametrize("last_seq", [True, 2**63, -1, "3", 1.5, [1]])
async def test_a_bad_hello_is_refused_before_the_store_and_the_next_one_works(config, last_seq):
    """On Redis, `last_seq: true` or ≥ 2^63 once killed the connection handler."""
    async with assigned_conversation(config, "web") as chat:
        ws = await websockets.connect(f"{chat.gw.ws}/ws/widget", origin=chat.gw.http)
        await ws.send(json.dumps({"type": "hello", "token": chat.teen.token, "last_seq": last_seq}))
        answer = json.loads(await ws.recv())
        assert (answer["type"], answer["code"]) == ("error", "bad_hello") and answer["message"]
        await ws.wait_closed()
        back = await Widget.connect(chat.gw.ws, token=chat.teen.token, last_seq=0)
        assert back.welcome["conversation"]["state"] == "assigned" and back.welcome["messages"]
        await back.close()


@pytest.mark.parametrize("frame, code", [
    ({"type": "resume", "conversations": {"x": True}}, "bad_resume"),
    ({"type": "resume", "conversations": {"x": 2**63}}, "bad_resume"),
    ({"type": "resume", "conversations": [1, 2]}, "bad_resume"),
    ({"type": "typing", "conversation_id": "<own>", "active": "yes"}, "bad_frame"),
    ({"type": "open", "conversation_id": 12}, "bad_conversation_id"),
    ({"type": "reply", "conversation_id": "<own>", "client_id": "a" * 65, "text": "x"}, "bad_client_id"),
    ({"type": "reply", "conversation_id": "<own>", "client_id": "c1", "text": ["x"]}, "bad_text"),
    ({"type": "presence", "presence": True}, "bad_presence"),
    ({"type": "mark_abusive", "conversation_id": "<own>", "hours": True}, "bad_duration"),
    ({"type": "transfer", "conversation_id": "<own>", "to_counsellor": 7}, "bad_target"),
])
async def test_bad_console_fields_get_their_error_and_change_nothing(config, frame, code):
    async with assigned_conversation(config, "web") as chat:
        store = chat.gw.helpline.store
        await chat.console.message(chat.id, lambda m: "est là" in m["text"])  # stored after the assigned event
        before = [(m.seq, m.text) for m in await store.messages(chat.id)], await store.get_conversation(chat.id)
        sent = {k: (chat.id if v == "<own>" else v) for k, v in frame.items()}
        await chat.console.send(sent)
        error = await chat.console.next("error")
        assert error["code"] == code and error["message"]
        after = [(m.seq, m.text) for m in await store.messages(chat.id)], await store.get_conversation(chat.id)
        assert after == before
