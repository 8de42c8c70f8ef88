"""The supervision page's server side: the page, its watcher socket (`/ws/console?view=supervision`),
the flags of the snapshot ("À surveiller"), and the `queue` summary every console gets.

Real gateway on loopback, real WebSocket clients, both stores where the store matters; time is
the ManualClock.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import websockets

from gateway.core.console_presence import OFFLINE_GRACE_SECONDS
from gateway.core.supervision import SILENT_AFTER_SECONDS
from gateway.domain.events import ConversationChanged, ConversationFacts
from gateway.domain.model import CloseReason, Presence, Role
from gateway.http.console import CONSOLE_HUB
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway

CSP_PART = "script-src 'self'"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str, **overrides):
    return make_config(store_url, prefix=f"s{uuid.uuid4().hex[:10]}", **overrides)


async def login_cookie(http: aiohttp.ClientSession, base: str, username: str) -> str:
    async with http.post("/api/console/login", json={"username": username, "password": PASSWORD},
                         headers={"Origin": base}) as r:
        assert r.status == 200, await r.text()
    return "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)


async def watcher(base: str, username: str) -> Console:
    """The supervision page's socket, as the page opens it: same login, `?view=supervision`."""
    http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        cookie = await login_cookie(http, base, username)
        ws = await websockets.connect(base.replace("http://", "ws://") + "/ws/console?view=supervision",
                                      additional_headers={"Cookie": cookie}, max_size=2**22, origin=base)
    except BaseException:
        await http.close()
        raise
    client = Console(ws)
    client.http = http
    client.init = await client.next("init")
    return client


async def test_the_supervision_page_is_served_with_the_consoles_security_headers():
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.http}/console/supervision") as page, http.get(f"{gw.http}/console") as console:
            assert page.status == 200
            body = await page.text()
            assert "Réservé aux superviseur·es" in body and "/console/static/supervision.js" in body
            assert "<script>" not in body and "style=" not in body  # nothing inline (strict CSP)
            assert page.headers["Cache-Control"] == "no-store"
            for header in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy",
                           "X-Content-Type-Options"):
                assert page.headers.get(header) == console.headers.get(header), header
            assert CSP_PART in page.headers["Content-Security-Policy"]


async def test_a_counsellor_gets_no_supervision_data_on_the_page_socket():
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        async with aiohttp.ClientSession(base_url=gw.http, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            cookie = await login_cookie(http, gw.http, "camille")
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(gw.ws + "/ws/console?view=supervision",
                                         additional_headers={"Cookie": cookie}, origin=gw.http)
            assert refused.value.response.status_code == 403
            with pytest.raises(websockets.InvalidStatus) as unknown:
                await websockets.connect(gw.ws + "/ws/console?view=everything",
                                         additional_headers={"Cookie": cookie}, origin=gw.http)
            assert unknown.value.response.status_code == 400
        async with await Console.login(gw.http, "camille", PASSWORD) as console:  # her own console
            gw.clock.advance(5)
            await console.barrier()
            console.assert_none("supervision")


async def test_the_supervision_page_does_not_keep_its_supervisor_online():
    async with running_gateway(make_config()) as gw:
        presence = gw.server.app[CONSOLE_HUB].presence
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        chat = await Console.login(gw.http, "sam", PASSWORD)
        await chat.presence("available")
        me = chat.init["me"]["id"]
        async with await watcher(gw.http, "sam") as page:
            assert (await page.next("supervision"))["team"][0]["id"] == me
            teen = await Widget.connect(gw.ws)
            await teen.say("on a piraté mon compte")
            held = await chat.assigned()
            await teen.say("tu es là ?")
            await chat.message(held["id"], where=lambda m: m["text"] == "tu es là ?")
            await page.barrier()
            page.assert_none("conversation")  # the page is no chat: no conversation event
            page.assert_none("message")
            await page.send({"type": "reply", "conversation_id": held["id"], "client_id": "c1", "text": "oui"})
            refused = await page.next("error")
            assert refused["code"] == "not_here" and refused["conversation_id"] == held["id"]

            await chat.close()  # the chat console goes; the supervision page stays open
            async with asyncio.timeout(5):  # a page that held the presence would arm no grace
                await presence.grace_armed(me)
            gw.clock.advance(OFFLINE_GRACE_SECONDS)
            await page.next("supervision", where=lambda f: f["team"][0]["presence"] == "offline")
            assert (await gw.helpline.store.get_counsellor(me)).presence is Presence.OFFLINE
            await teen.close()


async def test_every_console_even_a_full_one_is_told_how_many_wait(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille = await gw.on_duty("camille", "Camille", max_conversations=1)
        assert (await camille.next("queue")) == {"type": "queue", "waiting": 0, "raised": 0, "oldest_queued_at": None}
        first = await Widget.connect(gw.ws)
        await first.say("on a piraté mon compte insta")
        await camille.assigned()  # Camille is now full
        ordinary = await Widget.connect(gw.ws)
        await ordinary.say("des gens se moquent de moi")
        await ordinary.state(lambda c: c["state"] == "queued")
        came_at = gw.clock.now()
        gw.clock.advance(30)
        danger = await Widget.connect(gw.ws)
        await danger.say("j'ai envie de mourir")
        await danger.state(lambda c: c["state"] == "queued")

        summary = await camille.next("queue", where=lambda f: f["waiting"] == 2 and f["raised"] == 1)
        assert summary["oldest_queued_at"] == int(came_at * 1000)
        # A console that opens now gets it at once, without any change.
        async with await Console.login(gw.http, "camille", PASSWORD) as second_tab:
            assert (await second_tab.next("queue"))["waiting"] == 2
        for client in (first, ordinary, danger, camille):
            await client.close()


async def test_a_burst_of_changes_costs_one_read_of_the_queue():
    async with running_gateway(make_config()) as gw:
        hub = gw.server.app[CONSOLE_HUB]
        await gw.add_counsellor("camille", "Camille")
        async with await Console.login(gw.http, "camille", PASSWORD) as console:  # offline: nobody takes it
            await console.next("queue", where=lambda f: f["waiting"] == 0)
            teen = await Widget.connect(gw.ws)
            await teen.say("bonjour")
            await console.next("queue", where=lambda f: f["waiting"] == 1)
            queued = await gw.helpline.store.get_conversation((await gw.helpline.store.queue())[0].conversation_id)
            # Changed behind the hub's back (no event), so that the next read has news to send…
            await gw.helpline.store.close_conversation(queued.id, CloseReason.BY_TEEN, gw.clock.now())
            before = hub._queue.rounds
            for _ in range(20):  # …then twenty changes published in one go, as a busy minute would
                await gw.helpline.bus.publish(ConversationChanged(ConversationFacts.of(queued)))
            assert (await console.next("queue"))["waiting"] == 0
            assert hub._queue.rounds - before == 1
            await console.barrier()
            console.assert_none("queue")
            await teen.close()


async def test_an_away_counsellor_holding_a_raised_teen_is_flagged_first(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        ines = await gw.on_duty("ines", "Inès", max_conversations=1)
        silent_teen = await Widget.connect(gw.ws)
        await silent_teen.say("je sais pas quoi faire")
        silent_alias = (await ines.assigned())["alias"]
        camille = await gw.on_duty("camille", "Camille")
        raised_teen = await Widget.connect(gw.ws)
        await raised_teen.say("j'ai envie de mourir")
        raised = await camille.assigned()
        await camille.presence("paused")
        lea = await gw.on_duty("lea", "Léa")
        ordinary_teen = await Widget.connect(gw.ws)
        await ordinary_teen.say("on m'a volé mon compte")
        ordinary_alias = (await lea.assigned())["alias"]
        await lea.presence("paused")

        async with await watcher(gw.http, "sam") as page:
            fresh = await page.next("supervision", where=lambda f: len(f["watch"]) == 2)
            assert [(w["alias"], w["reasons"]) for w in fresh["watch"]] == [
                (raised["alias"], ["offline_holding"]), (ordinary_alias, ["offline_holding"])]
            camille_row = next(m for m in fresh["team"] if m["display_name"] == "Camille")
            assert camille_row["offline_holding"] and not camille_row["silent"]
            held = camille_row["conversations"][0]
            assert held["priority"] > 0 and held["waiting_since"] is not None
            assert not next(m for m in fresh["team"] if m["display_name"] == "Inès")["offline_holding"]

            gw.clock.advance(SILENT_AFTER_SECONDS + 1)  # nobody answered anyone
            later = await page.next("supervision", where=lambda f: len(f["watch"]) == 3)
            assert [(w["alias"], w["display_name"], w["reasons"]) for w in later["watch"]] == [
                (raised["alias"], "Camille", ["offline_holding", "silent"]),
                (ordinary_alias, "Léa", ["offline_holding", "silent"]),
                (silent_alias, "Inès", ["silent"]),
            ]
            ines_row = next(m for m in later["team"] if m["display_name"] == "Inès")
            assert ines_row["silent"] and not ines_row["offline_holding"]
            assert all("text" not in str(w) for w in later["watch"])
        for client in (silent_teen, raised_teen, ordinary_teen, ines, camille, lea):
            await client.close()


async def test_a_teen_who_left_is_flagged_after_those_left_unanswered(store_url):
    leave = 60
    async with running_gateway(config_for(store_url, queue={"widget_leave_seconds": leave})) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        camille = await gw.on_duty("camille", "Camille", max_conversations=1)
        leaving = await Widget.connect(gw.ws)
        await leaving.say("on a piraté mon compte")
        gone = await camille.assigned()
        await camille.reply(gone["id"], "Bonjour, je suis là.")  # answered: not waiting
        ines = await gw.on_duty("ines", "Inès")
        unanswered = await Widget.connect(gw.ws)
        await unanswered.say("je sais plus quoi faire")
        silent_alias = (await ines.assigned())["alias"]

        await leaving.close()
        await camille.next("conversation", where=lambda f: f["conversation"]["teen_away_since"] is not None)
        gw.clock.advance(leave)
        await camille.next("conversation", where=lambda f: f["conversation"]["teen_left"])
        gw.clock.advance(SILENT_AFTER_SECONDS - leave + 1)
        async with await watcher(gw.http, "sam") as page:
            frame = await page.next("supervision", where=lambda f: len(f["watch"]) == 2)
            assert [(w["alias"], w["reasons"]) for w in frame["watch"]] == [
                (silent_alias, ["silent"]), (gone["alias"], ["teen_left"])]
            held = next(m for m in frame["team"] if m["display_name"] == "Camille")["conversations"][0]
            assert held["teen_left"] is True and held["waiting_since"] is None
        for client in (unanswered, camille, ines):
            await client.close()
