"""/healthz split (issue #14 item 5): the public answer says ok/unavailable and nothing else;
/healthz/details answers a supervisor's session or the monitoring token only, and even then
says a refused config in our own fixed words: no path, no hash, no text from the file (a
foreign YAML file's first key used to be printed)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from gateway.app.config_watch import restart_only_change
from gateway.app.server import CONFIG_WATCHER, build_app, build_parts
from gateway.core import status
from gateway.domain.clock import ManualClock
from gateway.domain.config import MAX_FILE_BYTES, config_from_bytes, read_config_file
from gateway.domain.errors import ConfigError
from gateway.domain.model import Role
from tests.harness import PASSWORD, TUESDAY_10H, health_headers, make_config, running_gateway

CANARY = "canary_key_from_another_file"  # a top-level key of a YAML file that is not ours


async def get(http: aiohttp.ClientSession, url: str, **kwargs) -> tuple[int, dict]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.json()


async def login(http: aiohttp.ClientSession, base: str, username: str) -> None:
    async with http.post(f"{base}/api/console/login", json={"username": username, "password": PASSWORD},
                         headers={"Origin": base}) as response:
        assert response.status == 200


async def test_public_healthz_says_only_ok():
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        assert await get(http, f"{gw.http}/healthz") == (200, {"status": "ok"})


async def test_details_need_a_supervisor_session_or_the_token(caplog):
    caplog.set_level(logging.WARNING, logger="gateway.security")
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille")
        await gw.add_counsellor("sam", role=Role.SUPERVISOR)
        url = f"{gw.http}/healthz/details"
        async with aiohttp.ClientSession() as anyone:
            nobody = await get(anyone, url)
            wrong = await get(anyone, url, headers={"Authorization": "Bearer not-the-token"})
            basic = await get(anyone, url, headers={"Authorization": "Basic " + health_headers()["Authorization"][7:]})
            token = await get(anyone, url, headers=health_headers())
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as counsellor:
            await login(counsellor, gw.http, "camille")
            not_a_supervisor = await get(counsellor, url)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as supervisor:
            await login(supervisor, gw.http, "sam")
            by_session = await get(supervisor, url)
        refused = gw.helpline.security.counts[("health_refused", "health")]
    assert nobody[0] == wrong[0] == basic[0] == 401 and "superviseur" in nobody[1]["error"]
    assert not_a_supervisor[0] == 403 and not_a_supervisor[1]["code"] == "forbidden"
    assert token[0] == by_session[0] == 200
    assert token[1]["store"] == {"kind": "memory", "reachable": True} and "line" in by_session[1]
    assert refused == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.security"]
    assert len(lines) == 4 and all('"event":"health_refused"' in line for line in lines)
    assert not any("127.0.0.1" in line or "not-the-token" in line for line in lines)


async def test_without_the_token_variable_token_access_is_off(monkeypatch):
    usual = health_headers()["Authorization"]
    monkeypatch.delenv("GATEWAY_HEALTH_TOKEN")
    async with running_gateway(make_config()) as gw, aiohttp.ClientSession() as http:
        # An empty bearer must not match an empty expected token.
        for header in ("Bearer ", "Bearer", usual):
            assert (await get(http, f"{gw.http}/healthz/details", headers={"Authorization": header}))[0] == 401


async def test_the_token_variable_is_the_one_the_config_names(monkeypatch):
    monkeypatch.setenv("MONITORING_TOKEN_3018", "another-token")
    config = make_config(http={"health_token_env": "MONITORING_TOKEN_3018"})
    async with running_gateway(config) as gw, aiohttp.ClientSession() as http:
        url = f"{gw.http}/healthz/details"
        assert (await get(http, url, headers={"Authorization": "Bearer another-token"}))[0] == 200
        assert (await get(http, url, headers=health_headers()))[0] == 401


async def serve_watched(path: Path):
    app = build_app(build_parts(make_config(), clock=ManualClock(TUESDAY_10H)), config_path=path)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_foreign_yaml_file_never_reaches_healthz(tmp_path: Path, caplog):
    """config.yaml pointed at (or overwritten with) another YAML file: refused, and neither
    /healthz nor the details show its path, a hash or its first key; the log explains."""
    caplog.set_level(logging.ERROR, logger="gateway.app.config_watch")
    path = tmp_path / "secret-dir" / "config.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"store": {"url": "memory://", "prefix": "3018"}}), encoding="utf-8")
    server = await serve_watched(path)
    try:
        path.write_text(yaml.safe_dump({CANARY: {"image": "redis:7"}, "services": {}}), encoding="utf-8")
        assert await server.app[CONFIG_WATCHER].check_now(force=True) is False
        async with aiohttp.ClientSession() as http:
            public = await http.get(server.make_url("/healthz"))
            public_text = await public.text()
            details = await http.get(server.make_url("/healthz/details"), headers=health_headers())
            details_text = await details.text()
            config = (await details.json())["config"]
    finally:
        await server.close()
    assert public_text == '{"status": "ok"}'
    assert config == {"state": "rejected", "matches_disk": False, "last_reload_at": None, "rejected_key": None,
                      "problem": "unknown key"}
    for text in (public_text, details_text):
        assert CANARY not in text and "secret-dir" not in text and str(tmp_path) not in text
        assert "sha256" not in text
    assert CANARY in caplog.text  # the whole explanation stays in the process log


def problem_of(data: bytes) -> tuple[str | None, str]:
    try:
        config_from_bytes(data)
    except ConfigError as exc:
        return status.schema_key(exc.key), status.config_problem(exc)
    raise AssertionError("accepted")


@pytest.mark.parametrize(("data", "expected"), [
    (b"store: [unclosed", (None, "not YAML")),
    (b"\xff\xfe not utf-8", (None, "not YAML")),
    (b"# only a comment\n", (None, "not a config file")),
    (b"- a list\n- of things\n", (None, "not a config file")),
    (b"limits:\n  widget_mesages_per_minute: 3\n", ("limits", "unknown key")),
    (b"http:\n  widget_origins: [3]\n", ("http.widget_origins", "wrong type or range")),
    (b"routing:\n  max_conversations_per_counsellor: 0\n", ("routing.max_conversations_per_counsellor",
                                                           "wrong type or range")),
    (b"opening_hours:\n  caturday: []\n", ("opening_hours", "unknown key")),
    (b"x" * (MAX_FILE_BYTES + 1), (None, "too large")),
])
def test_each_refusal_has_a_fixed_category_and_only_a_key_of_ours(data: bytes, expected):
    assert problem_of(data) == expected


def test_an_unreadable_file_is_unreadable(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        read_config_file(tmp_path / "missing.yaml")
    assert status.config_problem(caught.value) == "unreadable"
    assert status.schema_key(caught.value.key) is None


def test_every_category_is_one_of_the_documented_ones():
    errors = [ConfigError("(check)", "could not be checked"), ConfigError("(apply)", "failed"),
              restart_only_change(make_config(), make_config(http={"tls": True})),
              ConfigError("casework.categories", "x is used by stored qualifications and …")]
    assert [status.config_problem(e) for e in errors] == ["not checked", "not applied", "restart needed",
                                                           "in use by stored records"]
    assert all(status.config_problem(e) in status.PROBLEMS for e in errors)


async def test_public_healthz_is_503_unavailable_while_the_store_is_away(redis_server):
    redis_server.start()
    async with running_gateway(make_config(redis_server.url, prefix=f"h{uuid.uuid4().hex[:8]}")) as gw, \
            aiohttp.ClientSession() as http:
        redis_server.stop()
        try:
            public = await get(http, f"{gw.http}/healthz")
            cookie_only = await get(http, f"{gw.http}/healthz/details", headers={"Cookie": "gw_session=x"})
        finally:
            redis_server.start()
    assert public == (503, {"status": "unavailable"})
    assert cookie_only[0] == 503 and "store" not in cookie_only[1]  # a session cannot be checked: the store_outages 503, no details
