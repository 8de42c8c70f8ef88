"""The queue as a helpline runs it, over real sockets on both stores, with a hand-moved clock:
triage, last admission, closures, closing time, transfers, disconnects, inactivity, abandons."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime

import pytest

from gateway.domain.figures import NOBODY_AVAILABLE_FR
from gateway.domain.model import Channel, CloseReason, ConversationState, InboundMessage, Presence, Role
from gateway.core.handover import reassign
from gateway.core.supervision import snapshot
from tests.clients import Console, Widget
from tests.conversations import assigned_conversation
from tests.harness import PARIS, PASSWORD, make_config, running_gateway

TUESDAY_1950 = datetime(2026, 11, 24, 19, 50, tzinfo=PARIS)


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str, **overrides):
    return make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}", **overrides)


async def test_a_teen_in_danger_is_served_before_those_who_came_earlier(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        early = await Widget.connect(gw.ws)
        await early.say("bonjour, quelqu'un a piraté mon compte insta")
        gw.clock.advance(30)
        danger = await Widget.connect(gw.ws)
        await danger.say("jveux mourirrr, il va publier mes photos")
        await danger.state(lambda c: c["state"] == "queued" and c["position"] == 1)

        await gw.add_counsellor("psy", "Inès", skills=frozenset({"psychologue"}), max_conversations=1)
        console = await Console.login(gw.http, "psy", PASSWORD)
        await console.presence("available")
        conversation = await console.assigned()
        assert conversation["priority"] > 0
        assert "mourir" in conversation["priority_reason"] and conversation["required_skill"] == "psychologue"
        await console.send({"type": "open", "conversation_id": conversation["id"]})
        history = await console.next("history")
        assert any(m["from"] == "note" and "Priorité relevée" in m["text"] for m in history["messages"])
        # The teen never sees the internal note.
        await danger.state(lambda c: c["state"] == "assigned")
        await danger.barrier()
        danger.assert_none("message", where=lambda f: f["message"]["from"] == "note")
        await early.state(lambda c: c["state"] == "queued" and c["position"] == 1)
        for client in (early, danger, console):
            await client.close()


async def test_no_new_conversation_in_the_last_admission_minutes(store_url):
    config = config_for(store_url, last_admission_minutes=15)
    async with running_gateway(config, at=TUESDAY_1950) as gw:
        teen = await Widget.connect(gw.ws)
        assert teen.welcome["line"]["open"] is False
        await teen.say("allo ?")
        reply = await teen.message(lambda m: m["from"] == "system")
        assert "demain à 9h" in reply["text"] and "119" in reply["text"]
        assert await gw.helpline.store.queue() == []
        await teen.close()


async def test_a_closure_day_answers_with_its_own_message_and_the_real_next_opening(store_url):
    config = config_for(store_url, closures=[
        {"from": "2026-11-24", "to": "2026-11-25", "message": "Fermeture exceptionnelle (formation de l'équipe)."}])
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        reply = await teen.message(lambda m: m["from"] == "system")
        assert reply["text"].startswith("Fermeture exceptionnelle (formation de l'équipe).")
        assert "jeudi à 9h" in reply["text"]
        await teen.close()


async def test_at_closing_time_waiting_teens_are_told_and_counted(store_url):
    async with running_gateway(config_for(store_url), at=TUESDAY_1950) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai besoin d'aide")
        await teen.state(lambda c: c["state"] == "queued")
        gw.clock.set(datetime(2026, 11, 24, 20, 0, 30, tzinfo=PARIS))
        await gw.housekeeper.sweep_once()
        told = await teen.message(lambda m: m["from"] == "system" and "ferme" in m["text"])
        assert "demain à 9h" in told["text"] and "119" in told["text"]
        await teen.state(lambda c: c["state"] == "closed")
        figures = (await snapshot(gw.helpline))["figures"]
        assert figures["conversations"] == 1 and figures["waiting_now"] == 0
        await teen.close()


async def test_transfer_to_a_colleague_carries_a_note_the_teen_never_sees(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        first = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("on me fait du chantage")
        conversation = await first.assigned()
        await gw.add_counsellor("lea", "Léa", skills=frozenset({"juriste"}))
        second = await Console.login(gw.http, "lea", PASSWORD)
        await second.presence("available")
        colleague = next(c for c in (await _team(first)) if c["display_name"] == "Léa")

        await first.send({"type": "transfer", "conversation_id": conversation["id"], "to_counsellor": colleague["id"],
                          "note": "Plainte à préparer <b>vite</b>"})
        done = await first.next("transferred")
        assert done["outcome"] == "assigned" and done["to"] == "Léa"
        await first.next("conversation", where=lambda f: f["conversation"]["state"] == "transferred")
        got = await second.assigned()
        assert got["id"] == conversation["id"]
        await second.send({"type": "open", "conversation_id": got["id"]})
        history = (await second.next("history"))["messages"]
        assert any(m["from"] == "note" and "Plainte à préparer <b>vite</b>" in m["text"] for m in history)
        await teen.message(lambda m: m["from"] == "system" and "relais" in m["text"])
        await teen.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Léa")
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "note")
        # The first counsellor can no longer write in it.
        await first.send({"type": "reply", "conversation_id": conversation["id"], "client_id": "x1", "text": "?"})
        assert (await first.next("error"))["code"] == "not_yours"
        for client in (teen, first, second):
            await client.close()


async def test_transfer_to_a_busy_skill_goes_to_the_head_of_the_queue(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        first = await gw.on_duty("camille", "Camille", max_conversations=1)
        teen = await Widget.connect(gw.ws)
        await teen.say("mon compte a été volé")
        conversation = await first.assigned()
        await first.send({"type": "transfer", "conversation_id": conversation["id"], "to_skill": "juriste"})
        assert (await first.next("error"))["code"] == "no_skill_available"  # nobody on duty has it: kept

        lawyer = await gw.on_duty("lea", "Léa", skills=frozenset({"juriste"}), max_conversations=1)
        busy = await Widget.connect(gw.ws)
        await busy.say("bonjour")
        await lawyer.assigned()  # Léa is now full
        gw.clock.advance(10)
        other = await Widget.connect(gw.ws)
        await other.say("bonjour")  # waits: both are full
        await other.state(lambda c: c["state"] == "queued")
        await first.send({"type": "transfer", "conversation_id": conversation["id"], "to_skill": "Juriste"})
        assert (await first.next("transferred"))["outcome"] == "queued"
        await teen.state(lambda c: c["state"] == "queued" and c["position"] == 1)
        await gw.helpline.dispatch_once()
        waiting = await gw.helpline.store.queue()
        # First in line, waiting for a lawyer; Camille's free seat goes to the one behind.
        assert [e.conversation_id for e in waiting] == [conversation["id"]]
        assert waiting[0].required_skill == "juriste"
        await other.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Camille")
        for client in (teen, other, busy, first, lawyer):
            await client.close()


async def test_a_disconnected_counsellors_teens_go_back_to_the_head_of_the_queue(store_url):
    """The safety net: going offline hands the teens back at once (tests/test_leaving.py); if the
    process died between the two, the sweep hands them back after the grace."""
    config = config_for(store_url, console={"disconnect_grace_seconds": 60})
    async with running_gateway(config) as gw:
        first = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("aide moi stp")
        conversation = await first.assigned()
        # Offline in the store only, as left by a process that died before handing back.
        await gw.helpline.store.set_presence(first.init["me"]["id"], Presence.OFFLINE, gw.clock.now())
        gw.clock.advance(30)
        await gw.housekeeper.sweep_once()
        assert (await gw.helpline.store.get_conversation(conversation["id"])).state is ConversationState.ASSIGNED
        gw.clock.advance(31)
        await gw.housekeeper.sweep_once()
        await teen.message(lambda m: m["from"] == "system" and "tu passes en premier" in m["text"])
        second = await gw.on_duty("lea", "Léa")
        assert (await second.assigned())["id"] == conversation["id"]
        for client in (teen, first, second):
            await client.close()


async def test_a_silent_teen_gets_a_gentle_check_then_a_kind_close(store_url):
    config = config_for(store_url, inactivity={"check_after_minutes": 10, "close_after_minutes": 5})
    async with assigned_conversation(config, "web", text="bonjour") as chat:
        gw, console, teen, conversation = chat.gw, chat.console, chat.teen, chat.conversation
        await console.reply(conversation["id"], "Bonjour, je t'écoute.")
        gw.clock.advance(9 * 60)
        await gw.housekeeper.sweep_once()
        await teen.barrier()  # the sweep is over: whatever it said is on the socket
        teen.assert_none("message", where=lambda f: "toujours là" in f["message"]["text"])
        gw.clock.advance(60)
        await gw.housekeeper.sweep_once()
        await gw.housekeeper.sweep_once()  # a second sweep (or process) does not ask twice
        await teen.message(lambda m: "toujours là" in m["text"])
        await teen.barrier()
        teen.assert_none("message", where=lambda f: "toujours là" in f["message"]["text"])
        gw.clock.advance(5 * 60)
        await gw.housekeeper.sweep_once()
        await teen.message(lambda m: "on termine la conversation" in m["text"])
        closed = await gw.helpline.store.get_conversation(conversation["id"])
        assert closed.close_reason is CloseReason.INACTIVE


async def test_a_teen_who_closes_the_widget_while_waiting_is_counted_as_abandoned(store_url):
    config = config_for(store_url, queue={"widget_leave_seconds": 1})
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        await teen.state(lambda c: c["state"] == "queued")
        gw.clock.advance(20)
        await teen.close()
        async with asyncio.timeout(5):
            while not gw.helpline.leave_timers.pending:  # until the gateway saw the socket go
                await asyncio.sleep(0)
        gw.clock.advance(1)  # the grace, counted from then, is over
        async with asyncio.timeout(5):
            while await gw.helpline.store.queue():
                await asyncio.sleep(0)  # yield while the grace's end is handled
        figures = (await snapshot(gw.helpline))["figures"]
        assert figures["abandons"] == 1 and figures["waiting_now"] == 0


async def test_whatsapp_positions_are_paced_and_silent_waiters_leave_the_queue(store_url):
    config = config_for(store_url, queue={"position_update_seconds": 60, "abandon_after_minutes": 30})
    async with running_gateway(config) as gw:
        helpline = gw.helpline
        ids = []
        for i in range(6):
            key = helpline.pseudonyms.sender_key("whatsapp", f"3361234567{i}")
            got = await helpline.receive(InboundMessage(Channel.WHATSAPP, key, f"wamid.{i}", "bonjour",
                                                        gw.clock.now(), reply_to=f"3361234567{i}", business_id="1"))
            ids.append(got.conversation.id)
            gw.clock.advance(1)
        last = ids[-1]

        async def position_messages() -> list[str]:
            return [m.text for m in await helpline.store.messages(last) if "maintenant" in m.text]

        await gw.on_duty("camille", "Camille", max_conversations=3)  # takes 3: the last moves 6 -> 3
        await helpline.dispatch_once()
        await gw.housekeeper.sweep_once()
        assert await position_messages() == []  # within a minute of the first notice: paced
        gw.clock.advance(61)
        await gw.housekeeper.sweep_once()
        await gw.housekeeper.sweep_once()
        assert len(await position_messages()) == 1 and "n° 3" in (await position_messages())[0]
        gw.clock.advance(30 * 60)
        await gw.housekeeper.sweep_once()
        gone = await helpline.store.get_conversation(last)
        assert gone.state is ConversationState.CLOSED and gone.close_reason is CloseReason.ABANDONED


async def test_only_a_supervisor_can_reassign(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        counsellor = await gw.on_duty("camille", "Camille", presence="paused")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        supervisor = await Console.login(gw.http, "sam", PASSWORD)
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        frame = await supervisor.next("supervision", where=lambda f: f["queue"])
        waiting = frame["queue"][0]
        assert "bonjour" not in str(frame)  # no message text in the supervisor's picture
        camille = next(m for m in frame["team"] if m["display_name"] == "Camille")
        await counsellor.send({"type": "reassign", "conversation_id": waiting["id"], "to_counsellor": camille["id"]})
        assert (await counsellor.next("error"))["code"] == "forbidden"
        await supervisor.send({"type": "reassign", "conversation_id": waiting["id"], "to_counsellor": camille["id"]})
        assert (await supervisor.next("error"))["code"] == "unavailable_target"  # paused
        await counsellor.presence("available")
        await supervisor.send({"type": "reassign", "conversation_id": waiting["id"], "to_counsellor": camille["id"]})
        # Either the dispatcher or the supervisor gave it to Camille: she has it, once.
        await counsellor.assigned()
        assert [c.id for c in await gw.helpline.store.conversations_of(camille["id"])] == [waiting["id"]]
        for client in (teen, counsellor, supervisor):
            await client.close()


async def test_the_teen_sees_an_honest_wait_estimate(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        state = await teen.state(lambda c: c["state"] == "queued")
        # Nobody on duty and no history: it says so rather than inventing a figure.
        assert state["wait"] == NOBODY_AVAILABLE_FR
        await teen.close()


async def _team(console: Console) -> list[dict]:
    await console.send({"type": "team"})
    return (await console.next("team"))["team"]



async def test_a_conversation_handed_over_goes_to_someone_else_with_room_not_back(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        ben = await gw.on_duty("ben", "Ben")
        busy_ben = await Widget.connect(gw.ws)
        await busy_ben.say("bonjour")
        await ben.assigned()
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("on me harcèle")
        conversation = await camille.assigned()
        lea = await gw.on_duty("lea", "Léa", max_conversations=1)
        busy_lea = await Widget.connect(gw.ws)
        await busy_lea.say("bonjour")
        await lea.assigned()  # Léa is now full; Ben has one, Camille one
        colleague = next(c for c in (await _team(camille)) if c["display_name"] == "Léa")
        await camille.send({"type": "transfer", "conversation_id": conversation["id"],
                            "to_counsellor": colleague["id"]})
        assert (await camille.next("transferred"))["outcome"] == "queued"  # Léa is full: the queue
        # Camille is now the least loaded, but she handed it over: Ben, who has room, takes it.
        assert (await ben.assigned())["id"] == conversation["id"]
        await teen.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Ben")
        await camille.barrier()
        camille.assert_none("conversation", where=lambda f: f["conversation"]["id"] == conversation["id"]
                            and f["conversation"]["state"] == "assigned")
        assert await gw.helpline.store.conversations_of(camille.init["me"]["id"]) == []
        for client in (teen, busy_ben, busy_lea, ben, camille, lea):
            await client.close()


async def test_a_reassignment_racing_the_dispatcher_tells_the_console_that_had_it(store_url, monkeypatch):
    """The supervisor's read says "waiting"; the dispatcher assigned it to Zoé just after: Zoé is told."""
    async with running_gateway(config_for(store_url)) as gw:
        zoe = await gw.on_duty("zoe", "Zoé")
        yann = await gw.on_duty("yann", "Yann")
        await yann.presence("paused")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        supervisor = await Console.login(gw.http, "sam", PASSWORD)
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation = await zoe.assigned()  # the dispatcher's move
        await yann.presence("available")
        store, reader = gw.helpline.store, asyncio.current_task()
        real_read = store.get_conversation

        async def read_before_the_dispatcher(conversation_id):
            found = await real_read(conversation_id)
            if asyncio.current_task() is reader and found is not None and found.id == conversation["id"]:
                monkeypatch.setattr(store, "get_conversation", real_read)  # only this first read is stale
                return replace(found, state=ConversationState.QUEUED, counsellor_id=None, assigned_at=None)
            return found

        monkeypatch.setattr(store, "get_conversation", read_before_the_dispatcher)
        done = await reassign(gw.helpline, supervisor.init["me"]["id"], conversation["id"], yann.init["me"]["id"])
        assert done.outcome == "assigned" and done.to_name == "Yann"
        await zoe.next("conversation", where=lambda f: f["conversation"]["id"] == conversation["id"]
                       and f["conversation"]["state"] == "transferred")
        assert (await yann.assigned())["id"] == conversation["id"]
        # The teen hears of a hand-over, not of a first assignment.
        await teen.message(lambda m: m["from"] == "system" and "relais" in m["text"])
        await teen.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Yann")
        for client in (teen, zoe, yann, supervisor):
            await client.close()
