"""Redis away and back: every HTTP route answers 503 (never 500), /healthz says why, open
sockets answer `unavailable` and stay open, webhooks get 503 (Meta retries); within 5 s of
Redis being back, everything works again.

A real redis-server (tests/redis_server.py, no persistence) is stopped and started on the
same port. Its data is gone after the restart, so what is checked afterwards starts afresh
(a new account, a new teen), and the sockets opened before show they survived by a barrier.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import pytest
import websockets

from tests.clients import Widget
from tests.conversations import PHONE
from tests.harness import PASSWORD, health_headers, make_config, running_gateway

RECOVERY_SECONDS = 5.0  # the bound: within 5 s of Redis being back, no more errors


@pytest.fixture
def config(redis_server, standin):
    redis_server.start()
    return make_config(redis_server.url, prefix=f"o{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


async def answer(http: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[int, dict]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, body


async def login(gw, http: aiohttp.ClientSession, username: str) -> tuple[int, dict]:
    return await answer(http, "POST", f"{gw.http}/api/console/login", headers={"Origin": gw.http},
                        json={"username": username, "password": PASSWORD})


async def console_upgrade_status(gw, http: aiohttp.ClientSession) -> int:
    try:
        async with http.ws_connect(f"{gw.ws}/ws/console", origin=gw.http):
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def healthy_again(gw, http: aiohttp.ClientSession) -> dict:
    """/healthz until it says 200: a positive condition, bounded by the issue's 5 s."""
    async with asyncio.timeout(RECOVERY_SECONDS):
        while True:
            status, body = await answer(http, "GET", f"{gw.http}/healthz/details", headers=health_headers())
            if status == 200:
                return body


async def test_while_redis_is_down_routes_answer_503_and_sockets_answer_unavailable(config, redis_server,
                                                                                     standin):
    async with running_gateway(config) as gw, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) \
            as http:
        console = await gw.on_duty("camille", "Camille")
        assert (await login(gw, http, "camille"))[0] == 200  # a session cookie for the upgrade below
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        redis_server.stop()
        try:
            # All at once: each store call fails only after the client's retries.
            (status, health), (login_status, login_body), upgrade, me, line, webhook = await asyncio.gather(
                answer(http, "GET", f"{gw.http}/healthz/details", headers=health_headers()), login(gw, http, "camille"),
                console_upgrade_status(gw, http), answer(http, "GET", f"{gw.http}/api/console/me"),
                answer(http, "GET", f"{gw.http}/api/line"), standin.send_whatsapp_text(gw.http, PHONE, "tu es là ?"))
            assert status == 503
            assert health["status"] == "degraded" and health["reasons"] == ["store unreachable"]
            assert health["store"]["reachable"] is False
            assert (login_status, login_body["code"]) == (503, "unavailable")
            assert (upgrade, me[0], webhook[0]) == (503, 503, 503)  # Meta retries a 503
            assert line[0] == 200  # needs no store

            # A socket opened now upgrades, is told why, and closed with 1013 "try again later".
            late = await websockets.connect(f"{gw.ws}/ws/widget", origin=gw.http)
            await late.send(json.dumps({"type": "hello", "token": None, "last_seq": 0}))
            error = json.loads(await late.recv())
            assert (error["type"], error["code"]) == ("error", "unavailable")
            await asyncio.wait_for(late.wait_closed(), 5)
            assert late.close_code == 1013

            # Sockets already open answer each frame with `unavailable` and stay open.
            await teen.send({"type": "message", "client_id": "m-2", "text": "tu es là ?"})
            error = await teen.next("error")
            assert (error["code"], error["client_id"]) == ("unavailable", "m-2")
            for _ in range(2):
                await console.send({"type": "reply", "conversation_id": "c-1", "client_id": "r-1", "text": "oui"})
                error = await console.next("error")
                assert (error["code"], error["client_id"]) == ("unavailable", "r-1")
        finally:
            redis_server.start()

        health = await healthy_again(gw, http)
        assert health["status"] == "ok" and "reasons" not in health
        await teen.barrier()  # the teen's socket of before the outage still works
        await gw.add_counsellor("alex")  # Redis came back empty (no persistence in tests)
        assert (await login(gw, http, "alex"))[0] == 200
        assert await console_upgrade_status(gw, http) == 101
        again = await Widget.connect(gw.ws)
        assert (await again.say("me revoilà"))["message"]["text"] == "me revoilà"
        assert (await standin.send_whatsapp_text(gw.http, PHONE, "tu es là ?"))[0] == 200
        await again.close()
        await teen.close()
        await console.close()


async def test_healthz_is_503_with_the_reason_while_redis_is_down_and_200_once_it_is_back(redis_server):
    """(Moved from test_conversation_flow.py; it said 200 "degraded" while Redis was down.)"""
    redis_server.start()
    config = make_config(redis_server.url, prefix=f"t{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw, aiohttp.ClientSession() as http:
        redis_server.stop()
        try:
            down = await answer(http, "GET", f"{gw.http}/healthz/details", headers=health_headers())
            public = await answer(http, "GET", f"{gw.http}/healthz")
        finally:
            redis_server.start()
        up = await healthy_again(gw, http)
    assert down[0] == 503 and down[1]["store"]["reachable"] is False and down[1]["status"] == "degraded"
    assert down[1]["reasons"] == ["store unreachable"]
    assert public == (503, {"status": "unavailable"})  # the public answer says no more
    assert up["store"]["reachable"] is True and up["status"] == "ok"
