"""Security events (issue #14 item 2): each refusal this helper hooked (CSRF on the console's
login and JSON API, a cross-site console socket, a bad Meta signature) is exactly one JSON line
on the `gateway.security` logger, with no client address, and moves
`gateway_security_events_total{kind,where}` in /metrics. And the `__Host-` session cookie
(item 6) when `http.tls` is on: the cookie policy otherwise unchanged, login → API → socket work.
"""

from __future__ import annotations

import json
import logging
import re

import aiohttp
import pytest
import websockets

from gateway.domain.casework import DEFAULT_CASEWORK
from gateway.domain.model import Role
from gateway.http.casework_openapi import openapi_document
from gateway.http.console import COOKIE, HOST_COOKIE
from tests.harness import PASSWORD, make_config, running_gateway

SECURITY = "gateway.security"


def security_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == SECURITY]


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[tuple[str, str], float]:
    async with http.get(f"{base}/metrics") as response:
        text = await response.text()
    series = re.findall(r'^gateway_security_events_total\{kind="(\w+)",where="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    return {(kind, where): float(n) for kind, where, n in series}


@pytest.fixture
def security_log(caplog):
    caplog.set_level(logging.WARNING, logger=SECURITY)
    return caplog


async def refused_once(gw, http, caplog, kind: str, where: str, refuse) -> dict:
    """Run `refuse` (one refused request) and check: one line, that kind, no address; +1 in /metrics."""
    before = await scrape(http, gw.http)
    caplog.clear()
    await refuse()
    lines = security_lines(caplog)
    assert [(line["event"], line["where"]) for line in lines] == [(kind, where)]
    assert not any("127.0.0.1" in r.getMessage() for r in caplog.records)  # in no log line at all
    after = await scrape(http, gw.http)
    assert after[(kind, where)] == before[(kind, where)] + 1
    return lines[0]


async def test_every_security_series_is_zero_before_anything_happens():
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        series = await scrape(http, gw.http)
    assert series[("csrf_refused", "console_api")] == 0 and series[("bad_signature", "webhook_whatsapp")] == 0
    assert set(series.values()) == {0}


async def test_a_cross_site_login_is_one_event(security_log):
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        async def refuse():
            async with http.post(f"{gw.http}/api/console/login", json={"username": "x", "password": "y"},
                                 headers={"Origin": "https://evil.example"}) as response:
                assert response.status == 403
        line = await refused_once(gw, http, security_log, "csrf_refused", "console_login", refuse)
    assert set(line) == {"at", "event", "where", "address_key"} and len(line["address_key"]) == 16


async def test_a_cross_site_api_write_is_one_event(security_log):
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        async def refuse():
            async with http.post(f"{gw.http}/api/conversations/c-1/qualification", json={},
                                 headers={"Origin": "https://evil.example"}) as response:
                assert response.status == 403
        await refused_once(gw, http, security_log, "csrf_refused", "console_api", refuse)


async def test_a_cross_site_console_socket_is_one_event(security_log):
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        async def refuse():
            with pytest.raises(websockets.InvalidStatus) as caught:
                await websockets.connect(f"{gw.ws}/ws/console", origin="https://evil.example")
            assert caught.value.response.status_code == 403
        await refused_once(gw, http, security_log, "origin_refused", "console_socket", refuse)


async def test_a_cross_site_widget_socket_is_one_event(security_log):
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        async def refuse():
            with pytest.raises(websockets.InvalidStatus) as caught:
                await websockets.connect(f"{gw.ws}/ws/widget", origin="https://evil.example")
            assert caught.value.response.status_code == 403
        line = await refused_once(gw, http, security_log, "origin_refused", "widget_socket", refuse)
    assert len(line["address_key"]) == 16


async def test_a_counsellor_on_a_supervisor_route_is_one_event(security_log):
    jar = aiohttp.CookieJar(unsafe=True)  # keeps the session cookie of 127.0.0.1
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession(cookie_jar=jar) as http:
        await gw.add_counsellor("lou")
        await log_in(http, gw.http, "lou")

        async def refuse():
            async with http.post(f"{gw.http}/api/console/privacy/find", json={"alias": "Jeune 1234"},
                                 headers={"Origin": gw.http}) as response:
                assert response.status == 403
        await refused_once(gw, http, security_log, "forbidden", "console_api", refuse)


@pytest.fixture
def meta_config(standin):
    return make_config(meta={"graph_api_url": standin.url})


async def test_a_bad_webhook_signature_is_one_event_per_channel(meta_config, standin, security_log):
    async with running_gateway(meta_config) as gw, aiohttp.ClientSession() as http:
        async def forged_whatsapp():
            async with http.post(f"{gw.http}/webhooks/whatsapp", data=b"{}",
                                 headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as response:
                assert response.status == 403

        async def unsigned_messenger():
            body = json.dumps({"object": "page", "entry": []}).encode()
            assert (await standin.send_raw(gw.http, "/webhooks/messenger", body, sign=False))[0] == 403

        forged = await refused_once(gw, http, security_log, "bad_signature", "webhook_whatsapp", forged_whatsapp)
        unsigned = await refused_once(gw, http, security_log, "bad_signature", "webhook_messenger",
                                      unsigned_messenger)
        # A good signature is no event.
        security_log.clear()
        assert (await standin.send_raw(gw.http, "/webhooks/whatsapp", b'{"object": "x"}'))[0] == 400
        assert security_lines(security_log) == []
    assert (forged["signature"], unsigned["signature"]) == ("mismatch", "missing")
    assert "address_key" not in forged  # Meta's servers: their address tells nothing


# --- the __Host- cookie ------------------------------------------------------------------------

def set_cookie(response: aiohttp.ClientResponse) -> list[str]:
    cookies = response.headers.getall("Set-Cookie")
    assert len(cookies) == 1
    return [part.strip() for part in cookies[0].split(";")]


async def log_in(http: aiohttp.ClientSession, base: str, username: str) -> list[str]:
    async with http.post(f"{base}/api/console/login", json={"username": username, "password": PASSWORD},
                         headers={"Origin": base}) as response:
        assert response.status == 200
        return set_cookie(response)


async def test_behind_tls_the_session_cookie_is_host_prefixed_and_works():
    async with running_gateway(make_config(http={"tls": True})) as gw, aiohttp.ClientSession() as http:
        await gw.add_counsellor("sam", role=Role.SUPERVISOR)
        attributes = await log_in(http, gw.http, "sam")
        name, token = attributes[0].split("=", 1)
        lowered = {a.lower() for a in attributes[1:]}
        assert name == "__Host-gw_session"
        assert {"secure", "httponly", "path=/", "samesite=strict"} <= lowered
        assert not any(a.startswith("domain") for a in lowered)
        cookie = {"Cookie": f"__Host-gw_session={token}"}  # sent by hand: plain http in the test
        async with http.get(f"{gw.http}/api/console/me", headers=cookie) as response:
            assert response.status == 200 and (await response.json())["me"]["username"] == "sam"
        async with http.get(f"{gw.http}/healthz/details", headers=cookie) as response:
            assert response.status == 200
        async with http.get(f"{gw.http}/api/console/me", headers={"Cookie": f"gw_session={token}"}) as response:
            assert response.status == 401  # the unprefixed name is not read behind TLS
        async with websockets.connect(f"{gw.ws}/ws/console", origin=gw.http, additional_headers=cookie) as ws:
            assert json.loads(await ws.recv())["type"] == "init"
        async with http.post(f"{gw.http}/api/console/logout", headers={**cookie, "Origin": gw.http}) as response:
            assert response.status == 204
            cleared = set_cookie(response)
        assert cleared[0].startswith("__Host-gw_session=") and "Secure" in cleared
        async with http.get(f"{gw.http}/api/console/me", headers=cookie) as response:
            assert response.status == 401


async def test_without_tls_the_cookie_keeps_its_name():
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        await gw.add_counsellor("camille")
        attributes = await log_in(http, gw.http, "camille")
    assert attributes[0].startswith("gw_session=") and "Secure" not in attributes


def test_the_openapi_document_names_the_session_cookie_as_the_console_sets_it():
    scheme = openapi_document(DEFAULT_CASEWORK.view())["components"]["securitySchemes"]["session"]
    assert scheme["name"] == COOKIE and HOST_COOKIE in scheme["description"]
