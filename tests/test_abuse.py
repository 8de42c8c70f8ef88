"""A pseudonym marked abusive gets a short reply and never enters the queue; a supervisor lifts it."""

from __future__ import annotations

import uuid

import pytest

from gateway.domain.model import CloseReason, Role
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway


@pytest.fixture(params=["memory", "redis"])
def config(request):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return make_config(url, prefix=f"a{uuid.uuid4().hex[:10]}")


async def test_an_abusive_pseudonym_is_answered_but_not_queued_until_a_supervisor_lifts_it(config):
    async with running_gateway(config) as gw:
        counsellor = await gw.on_duty("camille", "Camille")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        teen = await Widget.connect(gw.ws)
        await teen.say("message insultant")
        conversation = await counsellor.assigned()

        await counsellor.send({"type": "mark_abusive", "conversation_id": conversation["id"], "hours": 3})
        assert (await counsellor.next("error"))["code"] == "bad_duration"
        await counsellor.send({"type": "mark_abusive", "conversation_id": conversation["id"], "hours": 24})
        marked = await counsellor.next("marked_abusive")
        assert marked["until"] == int((gw.clock.now() + 24 * 3600) * 1000)
        await teen.state(lambda c: c["state"] == "closed")
        closed = await gw.helpline.store.get_conversation(conversation["id"])
        assert closed.close_reason is CloseReason.ABUSE

        await teen.say("encore moi")
        reply = await teen.message(lambda m: m["from"] == "system" and "ne peut pas te répondre" in m["text"])
        assert "119" in reply["text"]
        assert await gw.helpline.store.queue() == []
        await counsellor.barrier()  # the teen has had the answer: nothing more will come of it
        counsellor.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")

        # A counsellor cannot lift it; a supervisor sees it (pseudonym only) and can.
        supervisor = await Console.login(gw.http, "sam", PASSWORD)
        frame = await supervisor.next("supervision", where=lambda f: f["abuse"])
        [mark] = frame["abuse"]
        assert mark["alias"] == conversation["alias"] and set(mark) == {"id", "alias", "until"}
        await counsellor.send({"type": "lift_abuse", "mark_id": mark["id"]})
        assert (await counsellor.next("error"))["code"] == "forbidden"
        await supervisor.send({"type": "lift_abuse", "mark_id": mark["id"]})
        await supervisor.next("abuse_lifted")
        await teen.say("je suis désolé, j'ai vraiment besoin d'aide")
        assert (await counsellor.assigned())["alias"] == conversation["alias"]
        for client in (teen, counsellor, supervisor):
            await client.close()


async def test_a_mark_ends_by_itself(web_chat):
    counsellor = web_chat.console
    await counsellor.send({"type": "mark_abusive", "conversation_id": web_chat.id, "hours": 24})
    await counsellor.next("marked_abusive")
    web_chat.gw.clock.advance(24 * 3600 + 1)
    await web_chat.teen.say("bonjour")
    assert (await counsellor.assigned())["alias"] == web_chat.conversation["alias"]


async def test_a_supervisor_erases_a_conversation_on_request_and_a_counsellor_cannot(config):
    async with running_gateway(config) as gw:
        counsellor = await gw.on_duty("camille", "Camille")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        supervisor = await Console.login(gw.http, "sam", PASSWORD)
        teen = await Widget.connect(gw.ws)
        await teen.say("MARQUEUR-EFFACEMENT mon histoire")
        conversation = await counsellor.assigned()
        await counsellor.send({"type": "erase", "conversation_id": conversation["id"]})
        assert (await counsellor.next("error"))["code"] == "forbidden"
        assert await gw.helpline.store.messages(conversation["id"])

        await supervisor.send({"type": "erase", "conversation_id": conversation["id"]})
        await supervisor.next("erased")
        await teen.state(lambda c: c["state"] == "closed")
        assert await gw.helpline.store.messages(conversation["id"]) == []
        erased = await gw.helpline.store.get_conversation(conversation["id"])
        assert erased.erased_at is not None and "MARQUEUR" not in repr(erased) and erased.reply_to is None
        for client in (teen, counsellor, supervisor):
            await client.close()
