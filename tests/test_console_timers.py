"""The console's timers run on the helpline's clock: the offline grace, the session check, the
supervision feed. Tests move the ManualClock; nothing waits for real time. And the console's
pong is a barrier through the bus, on Redis too."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.core.accounts import hash_token
from gateway.core.console_presence import OFFLINE_GRACE_SECONDS
from gateway.domain.model import Presence, Role
from gateway.http.console import CONSOLE_HUB
from gateway.http.console_hub import SESSION_CHECK_SECONDS, SESSION_ENDED, SUPERVISION_SECONDS
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


async def presence_of(gw, username: str) -> Presence:
    return (await gw.helpline.store.counsellor_by_username(username)).presence


async def test_a_console_that_reconnects_within_the_grace_stays_available():
    async with running_gateway(make_config()) as gw:
        presence = gw.server.app[CONSOLE_HUB].presence
        console = await gw.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        await console.close()  # a page reload
        await presence.grace_armed(me)
        gw.clock.advance(OFFLINE_GRACE_SECONDS - 1)
        async with await Console.login(gw.http, "camille", PASSWORD) as back:
            assert not presence.grace_pending(me)  # the socket came back: the grace is called off
            gw.clock.advance(OFFLINE_GRACE_SECONDS * 3)
            await back.barrier()
            back.assert_none("presence")
            assert await presence_of(gw, "camille") is Presence.AVAILABLE


async def test_a_console_gone_longer_than_the_grace_goes_offline():
    async with running_gateway(make_config()) as gw:
        presence = gw.server.app[CONSOLE_HUB].presence
        console = await gw.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        other_tab = await Console.login(gw.http, "camille", PASSWORD)
        await console.close()
        await other_tab.barrier()
        assert not presence.grace_pending(me)  # one tab is still open: no grace
        await other_tab.close()
        await presence.grace_armed(me)
        gw.clock.advance(OFFLINE_GRACE_SECONDS - 1)
        assert await presence_of(gw, "camille") is Presence.AVAILABLE
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        async with await Console.login(gw.http, "sam", PASSWORD) as supervisor:
            gw.clock.advance(1)
            await supervisor.next("supervision", where=lambda f: any(
                m["id"] == me and m["presence"] == "offline" for m in f["team"]))
        assert await presence_of(gw, "camille") is Presence.OFFLINE
        assert not presence.grace_pending(me)


async def test_an_expired_session_closes_its_socket_at_the_next_check_on_the_clock():
    async with running_gateway(make_config()) as gw:
        async with await gw.on_duty("camille", "Camille") as console:
            token = next(c.value for c in console.http.cookie_jar if c.key == "gw_session")
            await gw.helpline.store.delete_session(hash_token(token))  # as when the session expires
            gw.clock.advance(SESSION_CHECK_SECONDS)
            await asyncio.wait_for(console.ws.wait_closed(), 5)
            assert console.ws.close_code == SESSION_ENDED


async def test_the_supervision_feed_ticks_on_the_clock_and_at_once_on_a_change():
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        async with await Console.login(gw.http, "sam", PASSWORD) as supervisor:
            first = await supervisor.next("supervision")
            gw.clock.advance(SUPERVISION_SECONDS)
            ticked = await supervisor.next("supervision", where=lambda f: f["server_time"] > first["server_time"])
            assert ticked["queue"] == []
            async with await Widget.connect(gw.ws) as teen:  # nobody on duty: it waits
                await teen.say("bonjour")
                changed = await supervisor.next("supervision", where=lambda f: f["queue"])
                assert changed["server_time"] == ticked["server_time"]  # pushed on the event, not a tick


async def test_a_console_pong_comes_after_every_event_published_before_the_ping(store_url):
    config = make_config(store_url, prefix=f"b{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw:
        async with await gw.on_duty("camille", "Camille") as console:
            async with await Widget.connect(gw.ws) as teen:
                await teen.say("premier message")
                conversation = await console.assigned()
                for n in range(6):  # within the widget's burst allowance
                    await teen.say(f"message {n}")  # acked once published on the bus
                    await console.barrier()
                    assert console.seen("message", where=lambda f: f["message"]["text"] == f"message {n}"), n
                assert conversation["alias"]


async def test_a_refused_reply_is_not_remembered_as_sent():
    async with running_gateway(make_config()) as gw:
        async with await gw.on_duty("camille", "Camille") as console:
            async with await Widget.connect(gw.ws) as teen:
                await teen.say("bonjour")
                conversation = await console.assigned()
                frame = {"type": "reply", "conversation_id": conversation["id"], "client_id": "r1", "text": ""}
                await console.send(frame)
                assert (await console.next("error", where=lambda f: f.get("client_id") == "r1"))["code"]
                await console.send({**frame, "text": "bonjour, je t'écoute"})
                ack = await console.next("ack", where=lambda f: f["client_id"] == "r1")
                assert ack["message"]["text"] == "bonjour, je t'écoute" and "duplicate" not in ack
                await console.send({**frame, "text": "bonjour, je t'écoute"})
                again = await console.next("ack", where=lambda f: f["client_id"] == "r1")
                assert again == {**ack, "message": None, "duplicate": True}


async def test_the_console_init_frame_carries_the_message_limit():
    async with running_gateway(make_config(limits={"max_message_chars": 1500})) as gw:
        async with await gw.on_duty("camille", "Camille") as console:
            assert console.init["limits"] == {"max_message_chars": 1500}
