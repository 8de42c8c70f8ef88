"""Counsellor accounts: disable, enable, delete (issue #14 item 8).

Three layers, each on real parts: the store methods on memory and on a real Redis (the
contract), the use cases in-process on a real gateway over loopback sockets (memory and
Redis), and the command itself: `python -m gateway counsellor disable|enable|delete` run as a
subprocess beside a real `python -m gateway serve` process on Redis, whose console and widget
sockets must react at once through the bus.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid

import aiohttp
import pytest
import redis.asyncio as aioredis
import websockets

from gateway.core.accounts import (
    create_counsellor,
    delete_counsellor,
    disable_counsellor,
    enable_counsellor,
    hash_token,
    open_session,
)
from gateway.core.counsellor import team_of
from gateway.core.ports import AssignOutcome, Store
from gateway.core.supervision import snapshot
from gateway.domain.message_templates import DEFAULT_MESSAGES
from gateway.domain.model import CloseReason, Presence, Role
from gateway.http.console import COOKIE
from gateway.store.redis import RedisStore
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway
from tests.processes import ROOT, GatewayProcess, gateway_env, write_config
from tests.test_store_contract import a_conversation, a_counsellor, teen_id, teen_line

T0 = 1_700_000_000.0
WRONG_PASSWORD_ANSWER = {"error": "Identifiant ou mot de passe incorrect."}
REQUEUED = DEFAULT_MESSAGES["requeued"]
DEADLINE = 5.0


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


# --- the store contract (memory and Redis) ------------------------------------------------------

async def test_a_disabled_account_goes_offline_and_stays_offline(make_store, kind):
    store: Store = await make_store(kind)
    camille = a_counsellor("camille", Presence.AVAILABLE)
    await store.add_counsellor(camille)

    disabled = await store.set_counsellor_disabled(camille.id, True, T0 + 5)
    assert disabled is not None and disabled.disabled
    assert (disabled.presence, disabled.presence_since) == (Presence.OFFLINE, T0 + 5)
    await store.set_presence(camille.id, Presence.AVAILABLE, T0 + 6)  # a console racing the disable
    again = await store.get_counsellor(camille.id)
    assert (again.presence, again.disabled) == (Presence.OFFLINE, True)

    enabled = await store.set_counsellor_disabled(camille.id, False, T0 + 7)
    assert not enabled.disabled and enabled.presence is Presence.OFFLINE  # back only when they come back
    await store.set_presence(camille.id, Presence.AVAILABLE, T0 + 8)
    assert (await store.get_counsellor(camille.id)).presence is Presence.AVAILABLE
    assert await store.set_counsellor_disabled("nobody", True, T0) is None


async def test_no_assignment_reaches_a_disabled_account_even_from_a_stale_plan(make_store, kind):
    store: Store = await make_store(kind)
    camille = a_counsellor("camille", Presence.AVAILABLE)
    await store.add_counsellor(camille)
    intake = await _queued(store)
    await store.set_counsellor_disabled(camille.id, True, T0)
    assert await store.try_assign(intake, camille.id, 3, T0 + 1) is AssignOutcome.NOT_AVAILABLE
    assert (await store.hand_over(intake, None, camille.id, 3, T0 + 1)).outcome is AssignOutcome.NOT_AVAILABLE


async def test_ending_sessions_ends_every_session_of_that_account_only(make_store, kind):
    store: Store = await make_store(kind)
    camille, bao = a_counsellor("camille"), a_counsellor("bao")
    for account in (camille, bao):
        await store.add_counsellor(account)
    for token_hash in ("c1", "c2"):
        await store.create_session(token_hash, camille.id, 3600)
    await store.create_session("b1", bao.id, 3600)
    await store.create_session("gone", camille.id, 3600)
    await store.delete_session("gone")  # logged out earlier: not a live session any more

    assert sorted(await store.end_sessions_of(camille.id)) == ["c1", "c2"]
    assert [await store.session_counsellor(h) for h in ("c1", "c2", "b1")] == [None, None, bao.id]
    assert await store.end_sessions_of(camille.id) == []


async def test_deleting_an_account_removes_the_person_and_leaves_the_id_in_records(make_store, kind):
    store: Store = await make_store(kind)
    camille = a_counsellor("camille", Presence.AVAILABLE)
    await store.add_counsellor(camille)
    await store.create_session("c1", camille.id, 3600)
    await store.hold_console(camille.id, "process-a", T0 + 60)
    conversation_id = await _queued(store)
    assert await store.try_assign(conversation_id, camille.id, 3, T0) is AssignOutcome.ASSIGNED
    await store.close_conversation(conversation_id, CloseReason.BY_COUNSELLOR, T0 + 10)

    assert await store.delete_counsellor(camille.id) is True
    assert await store.get_counsellor(camille.id) is None
    assert await store.counsellor_by_username("camille") is None
    assert camille.id not in {c.id for c in await store.counsellors()} and camille.id not in await store.loads()
    assert await store.session_counsellor("c1") is None
    assert not await store.console_held_elsewhere(camille.id, "process-b", T0)
    assert (await store.get_conversation(conversation_id)).counsellor_id == camille.id  # anonymous: kept
    assert await store.delete_counsellor(camille.id) is False
    await store.add_counsellor(a_counsellor("camille"))  # the username is free again


async def test_redis_keeps_no_key_of_a_deleted_account(make_store, redis_url):
    store: RedisStore = await make_store("redis")
    camille = a_counsellor("camille", Presence.AVAILABLE)
    await store.add_counsellor(camille)
    await store.create_session("c1", camille.id, 3600)
    await store.hold_console(camille.id, "process-a", T0 + 60)
    await store.delete_counsellor(camille.id)
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(f"{store._keys.prefix}:*")]
        values = [await client.get(key) for key in keys if await client.type(key) == "string"]
    finally:
        await client.aclose()
    assert not [key for key in keys if camille.id in key or "camille" in key]
    assert camille.id not in values


async def _queued(store: Store) -> str:
    """A conversation waiting in the queue, stored as intake stores one."""
    new = a_conversation(f"sender-{uuid.uuid4().hex[:6]}")
    stored = await store.store_inbound(teen_id(uuid.uuid4().hex), new.sender_key, teen_line(), new)
    return stored.conversation_id


# --- the use cases, in-process on a real gateway (memory and Redis) ----------------------------

def config_for(kind: str, request: pytest.FixtureRequest):
    url = "memory://" if kind == "memory" else request.getfixturevalue("redis_url")
    return make_config(url, prefix=f"acc{uuid.uuid4().hex[:10]}")


async def closed_within(client, seconds: float = DEADLINE) -> int:
    """Read (and drop) frames until the server closes the socket; its close code."""
    async with asyncio.timeout(seconds):
        try:
            while True:
                await client.ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else -1


async def login_status(http_base: str, username: str, password: str = PASSWORD) -> tuple[int, dict]:
    async with aiohttp.ClientSession(base_url=http_base) as http, http.post(
            "/api/console/login", json={"username": username, "password": password},
            headers={"Origin": http_base}) as r:
        return r.status, await r.json()


async def test_disable_closes_the_console_hands_the_teen_back_and_refuses_the_login(kind, request, caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")
    async with running_gateway(config_for(kind, request)) as gw:
        console = await gw.on_duty("camille")
        await gw.add_counsellor("sam", role=Role.SUPERVISOR)
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai besoin d'aide")
        conversation = await console.assigned()
        camille = await gw.helpline.store.counsellor_by_username("camille")

        done = await disable_counsellor(gw.helpline, "camille")

        assert (done.sessions_ended, done.handed_back) == (1, 1)
        assert await closed_within(console) == 1000
        assert (await teen.message(lambda m: m["text"] == REQUEUED))["from"] == "system"
        await teen.state(lambda c: c["state"] == "queued")  # back in the queue (its head)
        assert (await gw.helpline.store.get_conversation(conversation["id"])).state.value == "queued"
        assert await login_status(gw.http, "camille") == (401, WRONG_PASSWORD_ANSWER)  # no hint
        assert camille.id not in {c.id for c in await team_of(gw.helpline, "someone-else")}
        member = next(m for m in (await snapshot(gw.helpline))["team"] if m["id"] == camille.id)
        assert member["disabled"] is True and member["presence"] == "offline"
        audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"]
        assert {"action": "counsellor_disable", "by": "cli", "counsellor": camille.id, "sessions": 1,
                "handed_back": 1}.items() <= next(a for a in audit if a["action"] == "counsellor_disable").items()

        await enable_counsellor(gw.helpline, "camille")
        assert (await login_status(gw.http, "camille"))[0] == 200
        assert any(a["action"] == "counsellor_enable" for a in
                   (json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"))
        await teen.close()
        await console.close()


async def test_a_session_token_of_a_disabled_account_opens_nothing(kind, request):
    """Even a session the index missed: the account's state is checked on every use."""
    async with running_gateway(config_for(kind, request)) as gw:
        account = await create_counsellor(gw.helpline.store, "camille", "Camille", PASSWORD)
        token = await open_session(gw.helpline.store, account, 1)
        await gw.helpline.store.set_counsellor_disabled(account.id, True, gw.clock.now())
        async with aiohttp.ClientSession(base_url=gw.http) as http, http.get(
                "/api/console/me", cookies={COOKIE: token}) as r:
            assert r.status == 401
        assert await gw.helpline.store.session_counsellor(hash_token(token)) == account.id  # still stored


async def test_delete_removes_the_account_and_the_supervisor_view_still_renders(kind, request, caplog):
    caplog.set_level(logging.INFO, logger="gateway.audit")
    async with running_gateway(config_for(kind, request)) as gw:
        console = await gw.on_duty("camille")
        supervisor = await gw.on_duty("sam", role=Role.SUPERVISOR, presence="paused")
        teen = await Widget.connect(gw.ws)
        await teen.say("allo")
        earlier = await console.assigned()
        await console.send({"type": "close", "conversation_id": earlier["id"]})
        await teen.state(lambda c: c["state"] == "closed")
        camille = await gw.helpline.store.counsellor_by_username("camille")

        await delete_counsellor(gw.helpline, "camille")

        await closed_within(console)
        store = gw.helpline.store
        assert await store.get_counsellor(camille.id) is None
        assert await store.counsellor_by_username("camille") is None
        assert (await store.get_conversation(earlier["id"])).counsellor_id == camille.id
        assert camille.id not in {m["id"] for m in (await snapshot(gw.helpline))["team"]}
        await supervisor.send({"type": "team"})
        assert camille.id not in {m["id"] for m in (await supervisor.next("team"))["team"]}
        actions = [json.loads(r.getMessage())["action"] for r in caplog.records if r.name == "gateway.audit"]
        assert actions[-2:] == ["counsellor_disable", "counsellor_delete"]
        with pytest.raises(LookupError):
            await delete_counsellor(gw.helpline, "camille")  # a second delete: no account
        await teen.close()
        await supervisor.close()


# --- the command, beside a real gateway process on Redis ------------------------------------------

async def run_cli(*args: str, audit_file=None) -> tuple[int, str, str]:
    env = gateway_env()
    if audit_file is not None:
        env["GATEWAY_AUDIT_FILE"] = str(audit_file)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def add_account(config, username: str, role: str = "counsellor") -> None:
    env = gateway_env()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "counsellor", "add", username, "--display-name", username.title(),
        "--role", role, "--password-stdin", "--config", str(config), cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(30):
        _, err = await process.communicate((PASSWORD + "\n").encode())
    assert process.returncode == 0, err


async def test_the_cli_disables_enables_and_deletes_beside_a_running_gateway(tmp_path, redis_url):
    prefix, tmp = f"cli{uuid.uuid4().hex[:8]}", tmp_path
    config = write_config(tmp / "config.yaml", redis_url, prefix)
    await add_account(config, "alix")
    await add_account(config, "sam", "supervisor")
    gateway = GatewayProcess(config, tmp / "gateway.log")
    audit_file = tmp / "audit.jsonl"
    store = RedisStore(redis_url, prefix=prefix)
    await store.start()
    try:
        console = await Console.login(gateway.http, "alix", PASSWORD)
        await console.presence("available")
        first = await Widget.connect(gateway.ws)
        await first.say("bonjour")
        earlier = await console.assigned()
        await console.send({"type": "close", "conversation_id": earlier["id"]})
        await first.state(lambda c: c["state"] == "closed")
        teen = await Widget.connect(gateway.ws)
        await teen.say("j'ai besoin d'aide")
        held = await console.assigned()
        alix_id = console.init["me"]["id"]

        code, out, err = await run_cli("counsellor", "disable", "alix", "--config", str(config),
                                       audit_file=audit_file)
        assert code == 0, err
        assert "1 sessions closed, 1 conversations back to the queue" in out
        assert await closed_within(console) == 1000  # at once: the gateway heard SessionEnded
        assert (await teen.message(lambda m: m["text"] == REQUEUED))["from"] == "system"
        await teen.state(lambda c: c["state"] == "queued")
        assert (await store.get_conversation(held["id"])).state.value == "queued"
        assert await login_status(gateway.http, "alix") == (401, WRONG_PASSWORD_ANSWER)
        lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
        assert [(a["action"], a["by"], a["counsellor"]) for a in lines] == [("counsellor_disable", "cli", alix_id)]

        code, out, err = await run_cli("counsellor", "set", "alix", "--skills", "juriste", "--config", str(config))
        assert code == 0 and "skills juriste" in out and "(disabled)" in out, err  # `set` still works

        supervisor = await Console.login(gateway.http, "sam", PASSWORD)
        await supervisor.send({"type": "team"})
        assert alix_id not in {m["id"] for m in (await supervisor.next("team"))["team"]}

        code, _, err = await run_cli("counsellor", "enable", "alix", "--config", str(config), audit_file=audit_file)
        assert code == 0, err
        assert (await login_status(gateway.http, "alix"))[0] == 200

        code, out, err = await run_cli("counsellor", "delete", "alix", "--config", str(config),
                                       audit_file=audit_file)
        assert code == 0, err
        assert await store.counsellor_by_username("alix") is None and await store.get_counsellor(alix_id) is None
        assert (await store.get_conversation(earlier["id"])).counsellor_id == alix_id
        assert await login_status(gateway.http, "alix") == (401, WRONG_PASSWORD_ANSWER)
        await supervisor.send({"type": "team"})
        assert alix_id not in {m["id"] for m in (await supervisor.next("team"))["team"]}
        await supervisor.barrier()  # the supervisor's console is alive and answering
        actions = [json.loads(line)["action"] for line in audit_file.read_text().splitlines()]
        assert actions == ["counsellor_disable", "counsellor_enable", "counsellor_disable", "counsellor_delete"]

        code, _, err = await run_cli("counsellor", "delete", "alix", "--config", str(config))
        assert code == 2 and "no account 'alix'" in err
        assert PASSWORD not in gateway.log_path.read_text() + audit_file.read_text()
        for client in (teen, first, supervisor):
            await client.close()
    finally:
        await store.close()
        gateway.stop()


async def test_the_cli_refuses_the_memory_store(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("store:\n  url: memory://\n", encoding="utf-8")
    for action in ("disable", "enable", "delete"):
        code, _, err = await run_cli("counsellor", action, "alix", "--config", str(config))
        assert code == 2 and "memory store" in err



# --- the supervision page (headless Chromium) ------------------------------------------------------

async def test_the_supervision_page_shows_a_disabled_account_and_survives_a_deleted_one():
    from playwright.async_api import expect

    from tests.browser import chromium
    from tests.test_browser_supervision import open_supervision

    async with chromium() as browser, running_gateway(make_config()) as gw:
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        await gw.add_counsellor("camille", "Camille")
        await gw.add_counsellor("bao", "Bao")
        await disable_counsellor(gw.helpline, "camille")
        page = await open_supervision(browser, gw.http, "sam")
        row = page.locator("#sup-team-rows tr", has_text="Camille")
        await expect(row.locator(".presence-chip")).to_have_text("désactivé·e")
        await expect(page.locator("#sup-team-rows tr", has_text="Bao").locator(".presence-chip")).not_to_have_text(
            "désactivé·e")

        await delete_counsellor(gw.helpline, "bao")
        await gw.helpline.set_presence((await gw.helpline.store.counsellor_by_username("sam")).id,
                                       Presence.PAUSED)  # any change: the page gets a new picture
        await expect(page.locator("#sup-team-rows tr", has_text="Bao")).to_have_count(0)
        await expect(page.locator("#sup-team-rows tr")).to_have_count(2)
        assert page.js_errors == [] and page.csp_errors == []
