"""Care for counsellors (issue #12, item 9): a pause offered after a heavy conversation.

Real gateway on loopback, both stores; the counsellor qualifies through the casework HTTP API
as the console does, asks the console socket whether a care pause is offered, takes it, and
the supervisor's watcher socket shows it.
"""

from __future__ import annotations

import uuid

import pytest

from gateway.domain.model import Presence, Role
from tests.clients import Console, Widget
from tests.harness import make_config, running_gateway
from tests.test_supervision_page import watcher

MINUTE = 60
HEAVY = {"caller": "jeune", "age_band": "13_14", "categories": ["sextorsion"], "platforms": ["snapchat"],
         "outcomes": ["ecoute_conseil"]}
LIGHT = {**HEAVY, "categories": ["ecrans_jeux"]}


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str = "memory://", **casework):
    return make_config(store_url, prefix=f"c{uuid.uuid4().hex[:10]}",
                       casework={"care_pause_minutes": 15, **casework})


async def closed_conversation(gw, console: Console, text: str = "on me menace de publier mes photos") -> str:
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    conversation_id = (await console.assigned())["id"]
    await console.reply(conversation_id, "Je suis là.")
    await console.send({"type": "close", "conversation_id": conversation_id})
    await teen.state(where=lambda c: c["state"] == "closed")
    await teen.close()
    return conversation_id


async def qualify(gw, console: Console, conversation_id: str, body: dict) -> None:
    async with console.http.post(f"/api/conversations/{conversation_id}/qualification", json=body,
                                 headers={"Origin": gw.http}) as response:
        assert response.status == 200, await response.text()


async def offered(console: Console, conversation_id: str) -> int:
    await console.send({"type": "care_offer", "conversation_id": conversation_id})
    return (await console.next("care_offer", where=lambda f: f["conversation_id"] == conversation_id))["minutes"]


async def test_a_pause_is_offered_after_a_heavy_qualification_and_the_supervisor_sees_it(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        conversation_id = await closed_conversation(gw, console)
        await qualify(gw, console, conversation_id, HEAVY)
        assert await offered(console, conversation_id) == 15

        await console.send({"type": "care_pause"})
        until = (await console.next("care_pause"))["care_until"]
        assert until == int((gw.clock.now() + 15 * MINUTE) * 1000)
        presence = await console.next("presence", where=lambda f: f["presence"] == "paused")
        assert presence["care_until"] == until
        camille = await gw.helpline.store.counsellor_by_username("camille")
        assert camille.presence is Presence.PAUSED and camille.care_until == until / 1000

        async with await watcher(gw.http, "sam") as page:
            row = next(m for m in (await page.next("supervision"))["team"] if m["username"] == "camille")
            assert (row["presence"], row["care_until"]) == ("paused", until)

        gw.clock.advance(20 * MINUTE)  # never ends by itself: the console proposes "Reprendre"
        await console.barrier()
        assert (await gw.helpline.store.counsellor_by_username("camille")).presence is Presence.PAUSED
        await console.presence("available")
        back = await gw.helpline.store.counsellor_by_username("camille")
        assert (back.presence, back.care_until) == (Presence.AVAILABLE, None)


async def test_the_presence_frame_of_an_ordinary_pause_carries_no_care_until():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        await console.send({"type": "presence", "presence": "paused"})
        assert (await console.next("presence", where=lambda f: f["presence"] == "paused"))["care_until"] is None
        assert console.init["me"]["care_until"] is None


async def test_no_pause_is_offered_after_a_light_qualification_nor_for_someone_elses_conversation(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        conversation_id = await closed_conversation(gw, console)
        await qualify(gw, console, conversation_id, LIGHT)
        assert await offered(console, conversation_id) == 0
        async with await gw.on_duty("ines", "Inès") as ines:
            assert await offered(ines, conversation_id) == 0
        assert await offered(console, "not-a-conversation") == 0


async def test_a_pause_is_offered_after_a_conversation_triage_raised_for_suicide():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        conversation_id = await closed_conversation(gw, console, "j'ai envie de mourir")
        assert await offered(console, conversation_id) == 15  # before any qualification


async def test_no_pause_when_the_helpline_sets_zero_minutes():
    async with running_gateway(config_for(care_pause_minutes=0)) as gw, await gw.on_duty("camille") as console:
        conversation_id = await closed_conversation(gw, console)
        await qualify(gw, console, conversation_id, HEAVY)
        assert await offered(console, conversation_id) == 0
        await console.send({"type": "care_pause"})
        assert (await console.next("error"))["code"] == "no_care_pause"
        assert (await gw.helpline.store.counsellor_by_username("camille")).presence is Presence.AVAILABLE


async def test_no_teen_is_given_to_a_counsellor_in_a_care_pause():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        conversation_id = await closed_conversation(gw, console)
        await qualify(gw, console, conversation_id, HEAVY)
        await console.send({"type": "care_pause"})
        await console.next("care_pause")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        await gw.helpline.dispatch_once()
        await console.barrier()
        console.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")
        assert (await teen.state())["state"] == "queued"
        await teen.close()
