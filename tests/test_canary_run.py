"""One whole run, then one scan (issue #14, "Done when"): after the three channels' flows, the
probe list of malformed requests, refused logins and sockets, a forged webhook and a rights
search by phone number, the canaries appear in no log line, not in /metrics, not in /healthz
(public or detailed), and not in any Redis key or value beyond what the data map keeps by design.

The markers are test_privacy_canary's (texts, platform ids, token, profile name, message ids,
attachment URL, caption) plus the probes' canary address and token (test_log_canary) and a
username typed at a refused login. By design the store keeps a conversation's texts and
platform ids until its erase (docs/privacy.md §1): the Redis scan looks only for what is never
stored (the widget token, client ids, the profile name, the attachment URL, the username, the
canary address and the probes' token).
"""

from __future__ import annotations

import uuid

import aiohttp
import pytest
import websockets

from gateway.domain.model import Role
from tests.harness import PASSWORD, health_headers, make_config, running_gateway
from tests.test_log_canary import CLIENT, PROBES, TOKEN, probe
from tests.test_privacy_canary import (
    Canaries,
    leaks,
    messenger_flow,
    redis_dump,
    web_flow,
    whatsapp_flow,
)


def markers(c: Canaries, username: str) -> list[str]:
    return [*c.all(), CLIENT, TOKEN, "hub.verify_token", username]


def never_stored(c: Canaries, username: str) -> list[str]:
    return [*c.never_stored(), CLIENT, TOKEN, username]


async def rights_search_by_phone(gw, phone: str) -> None:
    """A supervisor finds the WhatsApp teen by number (the number travels in a POST body)."""
    await gw.add_counsellor("sup", "Sam", role=Role.SUPERVISOR)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(f"{gw.http}/api/console/login", json={"username": "sup", "password": PASSWORD},
                             headers={"Origin": gw.http}) as response:
            assert response.status == 200
        async with http.post(f"{gw.http}/api/console/privacy/find", json={"channel": "whatsapp", "id": phone},
                             headers={"Origin": gw.http}) as response:
            assert response.status == 200
            found = (await response.json())["conversations"]
    assert [row["channel"] for row in found] == ["whatsapp"]


async def refusals(gw, username: str) -> None:
    """A refused login with a canary username, a cross-site socket, a forged webhook."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gw.http}/api/console/login", json={"username": username, "password": "x"},
                             headers={"Origin": gw.http}) as response:
            assert response.status == 401
        async with http.post(f"{gw.http}/webhooks/whatsapp?hub.verify_token={TOKEN}", data=b"{}",
                             headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as response:
            assert response.status == 403
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{gw.ws}/ws/widget?token={TOKEN}", origin="https://evil.example")


async def test_after_a_whole_run_no_canary_in_logs_metrics_health_or_redis(redis_url, standin, logs):
    c = Canaries()
    username = f"canary-user-{uuid.uuid4().hex}"  # lower case: the guard case-folds what it keys
    prefix = f"p{uuid.uuid4().hex[:10]}"
    config = make_config(redis_url, prefix=prefix, meta={"graph_api_url": standin.url})
    async with running_gateway(config) as gw:
        console = await gw.on_duty("camille", "Camille", skills=frozenset({"psychologue"}), max_conversations=3)
        teen = await web_flow(gw, console, c)
        await messenger_flow(gw, standin, console, c)
        await whatsapp_flow(gw, standin, console, c)
        host, port = gw.http.removeprefix("http://").split(":")
        answers = [await probe(host, int(port), raw.encode("latin-1")) for _, raw, _ in PROBES]
        await refusals(gw, username)
        await rights_search_by_phone(gw, c.phone)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.http}/metrics") as response:
                metrics = await response.text()
            async with http.get(f"{gw.http}/healthz") as response:
                public = await response.text()
            async with http.get(f"{gw.http}/healthz/details", headers=health_headers()) as response:
                assert response.status == 200
                details = await response.text()
        await teen.close()
        await console.close()
        stored = await redis_dump(redis_url, prefix)

    assert all(answer for answer in answers), "every probe got an answer"
    lines = logs.gateway_lines()
    assert any("malformed request refused" in line for line in lines), "the capture missed the probes"
    assert any('"event":"login_refused"' in line for line in lines), "the capture missed the security events"
    assert [line for line in lines if leaks_any(markers(c, username), line)] == []
    assert leaks_any(markers(c, username), metrics) == []
    assert 'kind="bad_request"' in metrics and 'kind="bad_signature"' in metrics
    assert public == '{"status": "ok"}'
    assert leaks_any(markers(c, username), details) == []
    assert c.web_text in stored  # the dump does read the conversations (texts are kept until the erase)
    assert leaks_any(never_stored(c, username), stored) == []
    assert leaks(c, public) == []


def leaks_any(found_in: list[str], text: str) -> list[str]:
    return [marker for marker in found_in if marker in text]
