"""When a counsellor leaves, or a teen leaves, everybody knows at once (issue #11).

A counsellor who logs out, goes "hors ligne" or loses their console past its 20 s grace hands
every teen back to the head of the queue at once (each teen told). A widget teen who closes the
tab is marked away in the store at once: positions of the others stay true, and after the leave
grace their counsellor's console shows "a quitté le tchat"; later the place counts free.
Real gateways and sockets on both stores, a hand-moved clock.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.core.console_presence import OFFLINE_GRACE_SECONDS
from gateway.domain.model import Channel, Conversation, ConversationState, Presence
from gateway.http.console import CONSOLE_HUB
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway

LEAVE = 60  # queue.widget_leave_seconds in these tests
REQUEUED = "tu passes en premier"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str, **overrides):
    overrides.setdefault("queue", {"widget_leave_seconds": LEAVE})
    return make_config(store_url, prefix=f"lv{uuid.uuid4().hex[:10]}", **overrides)


async def teen_writes(gw, text: str = "aide moi stp") -> Widget:
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    return teen


async def told_someone_else_takes_over(teen: Widget) -> None:
    """The requeued line and a queued state, both pushed to the teen's widget."""
    await teen.message(lambda m: m["from"] == "system" and REQUEUED in m["text"])
    await teen.state(lambda c: c["state"] == "queued" and c["position"] is not None)


async def grace_over(gw, conversation_id: str) -> None:
    """Return once the leave timers woken by the clock have ended and their store steps are done."""
    async with asyncio.timeout(5):
        while gw.helpline.leave_timers.pending:
            await asyncio.sleep(0)  # the woken timer's task runs
    await gw.helpline.leave_timers.settled(conversation_id)


async def conversation_frame(console: Console, conversation_id: str, where) -> dict:
    frame = await console.next("conversation", where=lambda f: f["conversation"]["id"] == conversation_id
                               and where(f["conversation"]))
    return frame["conversation"]


# --- a counsellor leaves -----------------------------------------------------------------------

async def test_logging_out_hands_every_teen_back_to_the_head_of_the_queue_at_once(store_url):
    config = config_for(store_url, routing={"max_conversations_per_counsellor": 2})
    async with running_gateway(config) as gw:
        console = await gw.on_duty("camille", "Camille")
        first = await teen_writes(gw)
        ids = [(await console.assigned())["id"]]
        gw.clock.advance(1)
        second = await teen_writes(gw)
        ids.append((await console.assigned())["id"])
        gw.clock.advance(1)
        waiting = await teen_writes(gw, "bonjour")  # Camille is full: this one waits
        await waiting.state(lambda c: c["state"] == "queued" and c["position"] == 1)
        async with console.http.post("/api/console/logout", headers={"Origin": gw.http}) as response:
            assert response.status == 204
        # No clock moved: told at once, both ahead of the teen who was already waiting.
        for teen in (first, second):
            await told_someone_else_takes_over(teen)
        await waiting.state(lambda c: c["position"] == 3)
        queue = [e.conversation_id for e in await gw.helpline.store.queue()]
        assert queue[:2] == ids and len(queue) == 3
        assert (await gw.helpline.store.counsellor_by_username("camille")).presence is Presence.OFFLINE
        for client in (first, second, waiting):
            await client.close()
        await console.close()


async def test_going_offline_by_hand_hands_the_teens_back_at_once(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        console = await gw.on_duty("camille", "Camille")
        teen = await teen_writes(gw)
        conversation = await console.assigned()
        await console.presence("offline")
        await told_someone_else_takes_over(teen)
        gone = await conversation_frame(console, conversation["id"], lambda c: c["state"] == "transferred")
        assert gone["id"] == conversation["id"]
        await teen.close()
        await console.close()


async def test_a_console_lost_past_its_grace_hands_the_teens_back_without_waiting_for_the_sweep(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        presence = gw.server.app[CONSOLE_HUB].presence
        console = await gw.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        teen = await teen_writes(gw)
        conversation = await console.assigned()
        await console.close()  # the laptop lid closes
        await presence.grace_armed(me)
        gw.clock.advance(OFFLINE_GRACE_SECONDS - 1)
        await teen.barrier()
        teen.assert_none("message", where=lambda f: REQUEUED in f["message"]["text"])
        gw.clock.advance(1)
        await told_someone_else_takes_over(teen)
        stored = await gw.helpline.store.get_conversation(conversation["id"])
        assert stored.state is ConversationState.QUEUED and stored.counsellor_id is None
        await teen.close()


async def test_a_counsellor_logging_in_again_is_never_silently_offline_while_holding_teens(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        presence = gw.server.app[CONSOLE_HUB].presence
        console = await gw.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        teen = await teen_writes(gw)
        conversation = await console.assigned()
        await console.presence("paused")
        await console.close()  # a reload, or a login from another tab
        await presence.grace_armed(me)
        async with await Console.login(gw.http, "camille", PASSWORD) as back:
            assert back.init["me"]["presence"] == "paused"  # the presence they had, kept
            assert [c["id"] for c in back.init["conversations"]] == [conversation["id"]]
        await presence.grace_armed(me)
        gw.clock.advance(OFFLINE_GRACE_SECONDS)  # now gone for good: offline, and the teen handed back
        await told_someone_else_takes_over(teen)
        async with await Console.login(gw.http, "camille", PASSWORD) as later:
            assert later.init["me"]["presence"] == "offline"
            assert later.init["conversations"] == []
        await teen.close()


# --- a teen leaves -----------------------------------------------------------------------------

async def test_a_teen_who_closes_the_tab_is_shown_as_left_and_later_frees_the_place(store_url):
    async with running_gateway(config_for(store_url, queue={"widget_leave_seconds": LEAVE,
                                                            "left_frees_place_minutes": 5})) as gw:
        console = await gw.on_duty("camille", "Camille")  # three places
        teens = [await teen_writes(gw) for _ in range(3)]
        ids = [(await console.assigned())["id"] for _ in teens]
        assert not any(c["teen_left"] for c in console.init["conversations"])
        await teens[0].close()
        away = await conversation_frame(console, ids[0], lambda c: c["teen_away_since"] is not None)
        assert away["teen_left"] is False and away["state"] == "assigned"
        gw.clock.advance(LEAVE)
        left = await conversation_frame(console, ids[0], lambda c: c["teen_left"])
        assert left["teen_away_since"] == away["teen_away_since"]
        waiting = await teen_writes(gw, "bonjour")  # 3/3: the teen who left still holds a place
        await waiting.state(lambda c: c["state"] == "queued" and c["position"] == 1)
        gw.clock.advance(5 * 60 - 1)  # (the dispatcher's tick wakes too: either round may plan)
        await gw.helpline.dispatch_once()
        await waiting.barrier()
        waiting.assert_none("state", where=lambda f: f["conversation"]["state"] == "assigned")
        gw.clock.advance(1)
        await gw.helpline.dispatch_once()
        await waiting.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Camille")
        assert len(await gw.helpline.store.conversations_of(console.init["me"]["id"])) == 4
        for client in (*teens[1:], waiting):
            await client.close()
        await console.close()


async def test_a_teen_back_within_the_grace_is_not_shown_as_left(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        console = await gw.on_duty("camille", "Camille")
        teen = await teen_writes(gw)
        conversation = await console.assigned()
        await teen.close()  # a reload…
        await conversation_frame(console, conversation["id"], lambda c: c["teen_away_since"] is not None)
        gw.clock.advance(LEAVE - 1)
        back = await Widget.connect(gw.ws, token=teen.token, last_seq=10**6)  # … back in time
        assert back.welcome["conversation"]["state"] == "assigned"
        await conversation_frame(console, conversation["id"], lambda c: c["teen_away_since"] is None)
        gw.clock.advance(LEAVE)
        await console.barrier()
        console.assert_none("conversation", where=lambda f: f["conversation"]["teen_left"])
        stored = await gw.helpline.store.get_conversation(conversation["id"])
        assert stored.teen_away_since is None and stored.teen_left_at is None
        await back.close()
        await console.close()


async def test_a_waiting_teen_who_left_no_longer_counts_in_the_positions_of_the_others(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        ahead = await teen_writes(gw)
        gw.clock.advance(1)  # (on one instant, Redis orders the queue by id)
        behind = await teen_writes(gw, "bonjour")
        await behind.state(lambda c: c["position"] == 2)
        await ahead.close()
        await behind.state(lambda c: c["position"] == 1)  # at once, no clock moved
        again = await Widget.connect(gw.ws, token=ahead.token, last_seq=10**6)  # a reload, back in time
        assert again.welcome["conversation"]["position"] == 1  # their place was kept
        await behind.state(lambda c: c["position"] == 2)
        await again.close()
        await behind.state(lambda c: c["position"] == 1)
        ahead_id = (await gw.helpline.store.queue())[0].conversation_id
        gw.clock.advance(LEAVE)  # gone for good: abandoned
        await grace_over(gw, ahead_id)
        assert ahead_id not in [e.conversation_id for e in await gw.helpline.store.queue()]
        assert (await gw.helpline.store.get_conversation(ahead_id)).state is ConversationState.CLOSED
        await behind.close()


async def test_nobody_is_assigned_a_waiting_teen_whose_tab_is_gone(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        teen = await teen_writes(gw)
        await teen.state(lambda c: c["state"] == "queued")
        conversation_id = (await gw.helpline.store.queue())[0].conversation_id
        await teen.close()
        await gw.helpline.leave_timers.settled(conversation_id)
        console = await gw.on_duty("camille", "Camille")
        assert await gw.helpline.dispatch_once() == 0
        back = await Widget.connect(gw.ws, token=teen.token, last_seq=10**6)
        assert (await console.assigned())["id"] == conversation_id  # back: served at once
        await back.close()
        await console.close()


async def test_the_sweep_tells_a_teen_left_when_the_timer_of_their_process_never_ended(store_url):
    """The process that saw the tab close died: the mark is in the store, the sweep acts on it."""
    async with running_gateway(config_for(store_url)) as gw:
        console = await gw.on_duty("camille", "Camille")
        teen = await teen_writes(gw)
        conversation = await console.assigned()
        await gw.helpline.teen_away(conversation["id"], gw.clock.now())  # as that process did
        gw.clock.advance(LEAVE)
        await gw.housekeeper.sweep_once()
        await console.barrier()
        console.assert_none("conversation", where=lambda f: f["conversation"]["teen_left"])  # its timer's turn
        gw.clock.advance(60)
        await gw.housekeeper.sweep_once()
        await conversation_frame(console, conversation["id"], lambda c: c["teen_left"])
        await teen.close()
        await console.close()


# --- the marks in the store --------------------------------------------------------------------

async def test_the_teen_marks_are_stored_read_back_and_carried_by_the_queue(store):
    waiting = Conversation("c-mark", Channel.WEB, "sender-mark", "Jeune 0001", ConversationState.QUEUED, 100.0,
                           queued_at=100.0)
    await store.create_or_get_active(waiting)
    await store.set_marks("c-mark", {"teen_away_since": 123.25, "teen_left_at": 183.5})
    stored = await store.get_conversation("c-mark")
    assert (stored.teen_away_since, stored.teen_left_at) == (123.25, 183.5)
    assert [(e.conversation_id, e.teen_away_since) for e in await store.queue()] == [("c-mark", 123.25)]
    await store.set_marks("c-mark", {"teen_away_since": None, "teen_left_at": None})
    stored = await store.get_conversation("c-mark")
    assert (stored.teen_away_since, stored.teen_left_at) == (None, None)
    assert (await store.queue())[0].teen_away_since is None
