"""One conversation end to end over real loopback sockets, on both stores."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime

import aiohttp
import pytest
import websockets

from tests.clients import Console, Widget
from tests.harness import PARIS, PASSWORD, health_headers, make_config, running_gateway


@pytest.fixture(params=["memory", "redis", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each flow on every store: embedded, a single Redis, a three-master Redis Cluster."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster").url
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url: str):
    return make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}")


async def test_teen_and_counsellor_converse_through_the_gateway(config):
    async with running_gateway(config) as gw:
        console = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        assert teen.welcome["line"]["open"] is True and teen.welcome["conversation"] is None
        assert teen.welcome["limits"] == {"max_message_chars": config.max_message_chars}

        ack = await teen.say("on me menace de publier des photos de moi")
        assert ack["message"]["from"] == "teen" and ack["message"]["seq"] == 1

        conversation = await console.assigned()
        assert conversation["alias"].startswith("Jeune ") and conversation["channel"] == "web"
        assert "sender_key" not in conversation
        await console.send({"type": "open", "conversation_id": conversation["id"]})
        history = await console.next("history")
        assert [m["text"] for m in history["messages"] if m["from"] == "teen"] == [
            "on me menace de publier des photos de moi"]

        assigned = await teen.state(lambda c: c["state"] == "assigned")
        assert assigned["counsellor"] == "Camille"
        await teen.message(lambda m: m["from"] == "system" and "Camille" in m["text"])

        await console.reply(conversation["id"], "Je suis là. Tu as bien fait d'écrire.")
        answer = await teen.message(lambda m: m["from"] == "counsellor")
        assert answer["text"] == "Je suis là. Tu as bien fait d'écrire." and answer["author"] == "Camille"

        await teen.say("merci")
        line = await console.message(conversation["id"], lambda m: m["from"] == "teen")
        assert line["text"] == "merci"
        await teen.close()
        await console.close()


async def test_out_of_hours_message_gets_schedule_reply_and_is_not_queued(config):
    saturday_night = datetime(2026, 11, 28, 21, 30, tzinfo=PARIS)
    async with running_gateway(config, at=saturday_night) as gw:
        console = await gw.on_duty("camille")
        teen = await Widget.connect(gw.ws)
        assert teen.welcome["line"] == {
            "open": False, "next_opening": "2026-11-30T09:00:00+01:00", "next_opening_text": "lundi à 9h"}

        await teen.say("tu es là ?")
        reply = await teen.message(lambda m: m["from"] == "system")
        assert "lundi à 9h" in reply["text"]
        assert "119" in reply["text"] and "17" in reply["text"] and "112" in reply["text"]
        assert await gw.helpline.store.queue() == []
        await console.barrier()  # the teen has had the answer: nothing more will come of it
        console.assert_none("conversation")
        await teen.close()
        await console.close()


async def test_waiting_teens_are_told_their_position_as_it_changes(config):
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille")
        teens = [await Widget.connect(gw.ws) for _ in range(3)]
        for i, teen in enumerate(teens, start=1):
            gw.clock.advance(1)  # arrivals at distinct instants: the queue orders by arrival
            await teen.say(f"bonjour {i}")
            assert (await teen.state(lambda c: c["state"] == "queued"))["position"] == i
            queued_notice = await teen.message(lambda m: m["from"] == "system")
            assert f"n° {i}" in queued_notice["text"]

        console = await Console.login(gw.http, "camille", PASSWORD)
        await console.presence("available")  # capacity 3: everyone is taken, in arrival order
        for teen in teens:
            await teen.state(lambda c: c["state"] == "assigned")
        for teen in teens:
            await teen.close()
        await console.close()


async def test_position_moves_up_when_the_first_in_line_is_taken():
    config = make_config(routing={"max_conversations_per_counsellor": 1})
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille")
        first, second = await Widget.connect(gw.ws), await Widget.connect(gw.ws)
        await first.say("a")
        gw.clock.advance(1)
        await second.say("b")
        assert (await second.state(lambda c: c["state"] == "queued"))["position"] == 2
        console = await Console.login(gw.http, "camille", PASSWORD)
        await console.presence("available")
        await first.state(lambda c: c["state"] == "assigned")
        assert (await second.state(lambda c: c.get("position") == 1))["state"] == "queued"
        for client in (first, second, console):
            await client.close()


async def test_capacity_is_never_exceeded_with_many_teens_and_counsellors(config):
    config = replace(config, new_conversations_per_minute=100)  # 14 teens from one address at once
    async with running_gateway(config) as gw:  # max 3 per counsellor
        names = ["alix", "bao", "chloe"]
        consoles = []
        for name in names:
            await gw.add_counsellor(name)
            console = await Console.login(gw.http, name, PASSWORD)
            await console.presence("available")
            consoles.append(console)
        teens = [await Widget.connect(gw.ws) for _ in range(14)]
        await asyncio.gather(*(t.say(f"message {i}") for i, t in enumerate(teens)))

        assigned = [[await c.assigned() for _ in range(3)] for c in consoles]
        ids = [conv["id"] for per in assigned for conv in per]
        assert len(ids) == len(set(ids)) == 9
        loads = await gw.helpline.store.loads()
        assert sorted(loads.values()) == [3, 3, 3]
        assert len(await gw.helpline.store.queue()) == 5
        assert await gw.helpline.dispatch_once() == 0  # a round now has nobody with room
        for console in consoles:
            await console.barrier()
            console.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")

        # One conversation ends: exactly one waiting teen takes its place.
        await consoles[0].send({"type": "close", "conversation_id": assigned[0][0]["id"]})
        replacement = await consoles[0].assigned()
        assert replacement["id"] not in ids
        assert len(await gw.helpline.store.queue()) == 4
        for client in consoles + teens:
            await client.close()


async def test_widget_resumes_the_conversation_after_a_reload(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("premier message")
        await teen.say("deuxième message")
        await teen.close()

        again = await Widget.connect(gw.ws, token=teen.token)
        assert again.welcome["conversation"]["state"] == "queued"
        assert again.welcome["conversation"]["position"] == 1
        texts = [m["text"] for m in again.welcome["messages"] if m["from"] == "teen"]
        assert texts == ["premier message", "deuxième message"]

        partial = await Widget.connect(gw.ws, token=teen.token, last_seq=2)
        assert [m["seq"] for m in partial.welcome["messages"]] == [3]
        for client in (again, partial):
            await client.close()


async def test_a_resent_message_is_stored_once(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        first = await teen.say("je renvoie ce message", client_id="c-1")
        second = await teen.say("je renvoie ce message", client_id="c-1")
        assert first["message"]["seq"] == 1 and second["message"] is None and second["duplicate"] is True
        conversation = await gw.helpline.store.active_conversation_of(
            gw.helpline.pseudonyms.sender_key("web", teen.token))
        teen_lines = [m for m in await gw.helpline.store.messages(conversation.id) if m.author.value == "teen"]
        assert len(teen_lines) == 1
        await teen.close()


async def test_teen_ends_the_chat_and_the_counsellor_sees_it_closed(web_chat):
    gw, console, teen = web_chat.gw, web_chat.console, web_chat.teen
    await teen.send({"type": "end"})
    assert (await teen.state(lambda c: c["state"] == "closed"))["state"] == "closed"
    closed = await console.next("conversation", where=lambda f: f["conversation"]["state"] == "closed")
    assert closed["conversation"]["id"] == web_chat.id
    assert await gw.helpline.store.loads() == {next(iter(await gw.helpline.store.loads())): 0}

    await teen.say("en fait j'ai encore une question")  # a new conversation
    assert (await console.assigned())["id"] != web_chat.id


async def test_counsellor_closes_and_the_teen_is_told(web_chat):
    await web_chat.console.send({"type": "close", "conversation_id": web_chat.id})
    notice = await web_chat.teen.message(lambda m: m["from"] == "system" and "terminée" in m["text"])
    assert "réécrire" in notice["text"]
    await web_chat.teen.state(lambda c: c["state"] == "closed")


async def test_typing_indicators_cross_both_ways(web_chat):
    console, teen = web_chat.console, web_chat.teen
    await teen.state(lambda c: c["state"] == "assigned")
    await console.send({"type": "typing", "conversation_id": web_chat.id, "active": True})
    assert (await teen.next("typing"))["active"] is True
    await teen.send({"type": "typing", "active": True})
    assert (await console.next("typing"))["conversation_id"] == web_chat.id


async def test_paused_counsellor_gets_no_new_conversation(config):
    async with running_gateway(config) as gw:
        console = await gw.on_duty("camille", presence="paused")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        await teen.state(lambda c: c["state"] == "queued")
        assert await gw.helpline.dispatch_once() == 0  # a round with only a paused counsellor
        await console.barrier()
        console.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")
        await console.presence("available")
        # Taken only once available: no assignment arrived before the presence's answer.
        assert not console.seen("conversation", where=lambda f: f["conversation"]["state"] == "assigned")
        await console.assigned()
        await teen.close()
        await console.close()


async def test_a_counsellor_cannot_touch_a_colleagues_conversation(config):
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille")
        await gw.add_counsellor("malik")
        camille = await Console.login(gw.http, "camille", PASSWORD)
        malik = await Console.login(gw.http, "malik", PASSWORD)
        await camille.presence("available")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation = await camille.assigned()
        for frame in ({"type": "open", "conversation_id": conversation["id"]},
                      {"type": "reply", "conversation_id": conversation["id"], "client_id": "x", "text": "hé"},
                      {"type": "close", "conversation_id": conversation["id"]}):
            await malik.send(frame)
            assert (await malik.next("error"))["code"] == "not_yours"
        assert (await gw.helpline.store.get_conversation(conversation["id"])).state.value == "assigned"
        for client in (teen, camille, malik):
            await client.close()


async def test_console_socket_refuses_a_missing_or_logged_out_cookie(config):
    async with running_gateway(config) as gw:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{gw.ws}/ws/console", origin=gw.http)
        assert refused.value.response.status_code == 401

        await gw.add_counsellor("camille")
        console = await Console.login(gw.http, "camille", PASSWORD)
        cookie = "; ".join(f"{c.key}={c.value}" for c in console.http.cookie_jar)
        async with console.http.post("/api/console/logout", headers={"Origin": gw.http}) as response:
            assert response.status == 204
        await asyncio.wait_for(console.ws.wait_closed(), 5)  # logout closes the open socket
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"{gw.ws}/ws/console", additional_headers={"Cookie": cookie}, origin=gw.http)
        await console.http.close()


async def test_login_refuses_a_wrong_password_with_the_same_answer_as_an_unknown_user(config):
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille")
        async with aiohttp.ClientSession(base_url=gw.http) as http:
            answers = []
            for body in ({"username": "camille", "password": "wrong password"},
                         {"username": "nobody", "password": "wrong password"}):
                async with http.post("/api/console/login", json=body, headers={"Origin": gw.http}) as response:
                    answers.append((response.status, await response.json()))
                    assert "gw_session" not in response.cookies
            assert answers[0] == answers[1] and answers[0][0] == 401


async def test_bad_frames_get_a_clear_error_and_change_nothing(config):
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        for frame in ({"type": "dance"}, {"type": "message", "client_id": "ok", "text": ""},
                      {"type": "message", "client_id": "ok", "text": "x" * 2001},
                      {"type": "message", "client_id": "<bad id>", "text": "x"},
                      {"type": "message", "client_id": "ok2", "text": 42}):
            await teen.send(frame)
            error = await teen.next("error")
            assert error["code"] and error["message"]
        await teen.ws.send("not json")
        assert (await teen.next("error"))["code"] == "unknown_type"
        assert await gw.helpline.store.queue() == []
        await teen.close()


async def test_healthz_reports_the_store(config, store_url):
    async with running_gateway(config) as gw:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.http}/healthz/details", headers=health_headers()) as response:
                body = await response.json()
        assert response.status == 200
        assert body["store"] == {"kind": "memory" if store_url == "memory://" else "redis", "reachable": True}


async def test_a_reply_resent_after_a_reconnect_reaches_the_teen_once(web_chat):
    console, teen, conversation_id = web_chat.console, web_chat.teen, web_chat.id
    frame = {"type": "reply", "conversation_id": conversation_id, "client_id": "r-1", "text": "Salut"}
    await console.send(frame)
    assert (await console.next("ack"))["message"]["text"] == "Salut"
    await console.send(frame)
    assert (await console.next("ack"))["duplicate"] is True
    await teen.message(lambda m: m["from"] == "counsellor")
    await teen.barrier()  # the duplicate was acked: had it been published, it would be here
    teen.assert_none("message", where=lambda f: f["message"]["from"] == "counsellor")
    await console.send({"type": "reply", "conversation_id": conversation_id, "client_id": "r-2", "text": ""})
    error = await console.next("error")
    assert (error["code"], error["client_id"], error["conversation_id"]) == ("empty", "r-2", conversation_id)
