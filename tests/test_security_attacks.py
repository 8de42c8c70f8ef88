"""The gateway as an attacker sees it: real loopback servers, real sockets, hostile requests.

Cross-site WebSocket hijacking and CSRF, the console's authorisation on every frame, login
throttling, floods (messages, oversized frames, sockets per address) and security headers.
Each test says what an attacker tries and what must come of it; the store is read afterwards
to prove that a refused request changed nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
import pytest
import websockets

from gateway.core.accounts import hash_token
from gateway.domain.model import Author, Role
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway

EVIL = "https://evil.example"
ALLOWED = "https://www.3018.fr"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str = "memory://", **overrides):
    return make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}", **overrides)


async def refused_status(url: str, **options) -> websockets.InvalidStatus:
    """Opening this socket must fail before the upgrade: the HTTP answer that refused it."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        ws = await websockets.connect(url, **options)
        await ws.close()
    return refused.value


def cookie_of(console: Console) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in console.http.cookie_jar)


async def teen_lines(helpline) -> list:
    """Every teen message the store holds, all conversations together."""
    lines = []
    for conversation in await helpline.store.conversations_since(0):
        lines += [m for m in await helpline.store.messages(conversation.id) if m.author is Author.TEEN]
    return lines


async def picture(helpline, conversation_id: str) -> dict:
    """What an attack on one conversation could change: the conversation, its lines, the queue, loads."""
    conversation = await helpline.store.get_conversation(conversation_id)
    return {
        "state": conversation.state, "counsellor": conversation.counsellor_id,
        "queued_at": conversation.queued_at, "priority": conversation.priority,
        "skill": conversation.required_skill, "closed_at": conversation.closed_at,
        "messages": [(m.seq, m.author, m.text) for m in await helpline.store.messages(conversation_id)],
        "queue": [e.conversation_id for e in await helpline.store.queue()],
        "loads": await helpline.store.loads(),
    }


# --- 1. cross-site WebSocket hijacking and CSRF ----------------------------------------------------


async def test_a_foreign_page_cannot_open_the_widget_socket(store_url):
    async with running_gateway(config_for(store_url, http={"widget_origins": [ALLOWED]})) as gw:
        url = f"{gw.ws}/ws/widget"
        for origin in (EVIL, None, "null", "https://www.3018.fr.evil.example", "http://www.3018.fr",
                       f"{ALLOWED}/page", "*"):
            refusal = await refused_status(url, origin=origin)
            assert refusal.response.status_code == 403, origin
            assert "Sec-WebSocket-Accept" not in refusal.response.headers  # refused before the upgrade

        own = await Widget.connect(gw.ws)  # the gateway's own page
        embedded = await Widget.connect(gw.ws, origin=ALLOWED)  # a site of the allowlist
        upper = await Widget.connect(gw.ws, origin="HTTPS://WWW.3018.FR:443")  # same origin, other spelling
        for teen in (own, embedded, upper):
            assert (await teen.say("bonjour"))["message"]["seq"] >= 1
            await teen.close()


async def test_a_stolen_console_cookie_is_useless_from_a_foreign_page_or_after_logout(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        url = f"{gw.ws}/ws/console"
        assert (await refused_status(url, origin=gw.http)).response.status_code == 401  # no cookie

        await gw.add_counsellor("camille")
        console = await Console.login(gw.http, "camille", PASSWORD)
        cookie = cookie_of(console)
        for origin, extra in ((EVIL, {}), (None, {}), ("null", {}),
                              (gw.http, {"Sec-Fetch-Site": "cross-site"}),
                              (None, {"Referer": f"{EVIL}/attack.html"})):
            refusal = await refused_status(url, origin=origin, additional_headers={"Cookie": cookie, **extra})
            assert refusal.response.status_code == 403, (origin, extra)

        async with aiohttp.ClientSession() as http:
            # A cross-site logout is refused too: the session stays open.
            async with http.post(f"{gw.http}/api/console/logout", headers={"Origin": EVIL, "Cookie": cookie}) as r:
                assert r.status == 403
            async with http.get(f"{gw.http}/api/console/me", headers={"Cookie": cookie}) as r:
                assert r.status == 200
            async with console.http.post("/api/console/logout", headers={"Origin": gw.http}) as r:
                assert r.status == 204
            await asyncio.wait_for(console.ws.wait_closed(), 5)
            # Replayed after logout, from our own origin: dead everywhere.
            async with http.get(f"{gw.http}/api/console/me", headers={"Cookie": cookie}) as r:
                assert r.status == 401
        refusal = await refused_status(url, origin=gw.http, additional_headers={"Cookie": cookie})
        assert refusal.response.status_code == 401
        await console.http.close()


async def test_a_cross_site_login_gets_403_and_no_cookie(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        await gw.add_counsellor("camille")
        body = {"username": "camille", "password": PASSWORD}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for headers in ({"Origin": EVIL}, {"Origin": gw.http, "Sec-Fetch-Site": "cross-site"},
                            {"Origin": gw.http, "Sec-Fetch-Site": "same-site"}, {"Origin": "null"}, {},
                            {"Referer": f"{EVIL}/x"}):
                async with http.post(f"{gw.http}/api/console/login", json=body, headers=headers) as r:
                    assert r.status == 403, headers
                    assert "Set-Cookie" not in r.headers
            assert len(http.cookie_jar) == 0


# --- 2. authorisation ------------------------------------------------------------------------------


async def test_a_counsellor_can_do_nothing_to_a_colleagues_conversation(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille = await gw.on_duty("camille", "Camille")
        malik = await gw.on_duty("malik", "Malik", presence="paused")  # so the teen goes to Camille
        teen = await Widget.connect(gw.ws)
        await teen.say("on me harcèle sur snap")
        conversation_id = (await camille.assigned())["id"]
        await teen.state(lambda c: c["state"] == "assigned")
        await malik.presence("available")
        camille_id, malik_id = camille.init["me"]["id"], malik.init["me"]["id"]
        before = await picture(gw.helpline, conversation_id)

        attacks = [
            ({"type": "open", "conversation_id": conversation_id}, "not_yours"),
            ({"type": "reply", "conversation_id": conversation_id, "client_id": "evil-1", "text": "je suis ton conseiller"},
             "not_yours"),
            ({"type": "typing", "conversation_id": conversation_id, "active": True}, "not_yours"),
            ({"type": "close", "conversation_id": conversation_id}, "not_yours"),
            ({"type": "transfer", "conversation_id": conversation_id, "to_counsellor": malik_id, "note": "à moi"},
             "not_yours"),
            ({"type": "transfer", "conversation_id": conversation_id, "to_skill": "juriste"}, "not_yours"),
            ({"type": "reassign", "conversation_id": conversation_id, "to_counsellor": malik_id}, "forbidden"),
        ]
        for frame, code in attacks:
            await malik.send(frame)
            error = await malik.next("error")
            assert (error["code"], error.get("conversation_id")) == (code, conversation_id), frame
            assert await picture(gw.helpline, conversation_id) == before, frame

        # Frames that take no conversation ignore one slipped in: they act on Malik alone.
        await malik.send({"type": "team", "conversation_id": conversation_id})
        team = (await malik.next("team"))["team"]
        assert {c["id"] for c in team} == {camille_id}
        assert all(set(c) == {"id", "display_name", "skills", "presence"} for c in team)  # no load, no conversations
        await malik.send({"type": "presence", "presence": "paused", "conversation_id": conversation_id,
                          "counsellor_id": camille_id})
        await malik.next("presence", where=lambda f: f["presence"] == "paused")
        profiles = {c.id: c.presence.value for c in await gw.helpline.store.counsellors()}
        assert profiles == {camille_id: "available", malik_id: "paused"}
        await camille.barrier()  # Malik's frames were all answered: their events are on the sockets
        camille.assert_none("presence")
        assert await picture(gw.helpline, conversation_id) == before

        # The teen saw none of it; Camille still has the conversation and can answer.
        await teen.barrier()
        teen.assert_none("typing")
        teen.assert_none("message", where=lambda f: f["message"]["from"] != "system")
        assert (await camille.reply(conversation_id, "Je suis là."))["message"]["author"] == "Camille"
        for client in (teen, camille, malik):
            await client.close()


async def test_only_supervisors_and_admins_may_reassign(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille = await gw.on_duty("camille", "Camille")
        lea = await gw.on_duty("lea", "Léa", presence="paused")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation_id = (await camille.assigned())["id"]
        await lea.presence("available")
        camille_id, lea_id = camille.init["me"]["id"], lea.init["me"]["id"]

        # A counsellor, even the one who holds it, may not reassign.
        for who in (camille, lea):
            await who.send({"type": "reassign", "conversation_id": conversation_id, "to_counsellor": lea_id})
            assert (await who.next("error"))["code"] == "forbidden"
        assert (await gw.helpline.store.get_conversation(conversation_id)).counsellor_id == camille_id

        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        await gw.add_counsellor("ada", "Ada", role=Role.ADMIN)
        for username, target_id in (("sam", lea_id), ("ada", camille_id)):
            boss = await Console.login(gw.http, username, PASSWORD)
            await boss.send({"type": "reassign", "conversation_id": conversation_id, "to_counsellor": target_id})
            done = await boss.next("reassigned")
            assert done["conversation_id"] == conversation_id
            assert (await gw.helpline.store.get_conversation(conversation_id)).counsellor_id == target_id
            await boss.close()
        # The supervisors' live picture (sent as each of them connected) never reached a counsellor.
        for counsellor in (camille, lea):
            await counsellor.barrier()
            counsellor.assert_none("supervision")
        for client in (teen, camille, lea):
            await client.close()


async def test_console_routes_need_a_session():
    async with running_gateway(config_for()) as gw:
        async with aiohttp.ClientSession() as http:
            for cookie in (None, "gw_session=forged", f"gw_session={'a' * 5000}"):
                headers = {"Cookie": cookie} if cookie else {}
                async with http.get(f"{gw.http}/api/console/me", headers=headers) as r:
                    assert r.status == 401, cookie
        assert (await refused_status(f"{gw.ws}/ws/console", origin=gw.http)).response.status_code == 401
        refusal = await refused_status(f"{gw.ws}/ws/console", origin=gw.http,
                                       additional_headers={"Cookie": "gw_session=forged"})
        assert refusal.response.status_code == 401


@pytest.mark.parametrize("tls", [False, True])
async def test_the_session_cookie_is_httponly_strict_and_secure_behind_tls(tls):
    async with running_gateway(config_for(http={"tls": tls})) as gw:
        await gw.add_counsellor("camille")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.http}/api/console/login", json={"username": "camille", "password": PASSWORD},
                                 headers={"Origin": gw.http}) as r:
                assert r.status == 200
                cookies = r.headers.getall("Set-Cookie")
        assert len(cookies) == 1
        attributes = [part.strip().lower() for part in cookies[0].split(";")]
        assert attributes[0].startswith("__host-gw_session=" if tls else "gw_session=")  # lowered above
        assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
        assert ("secure" in attributes) is tls


# --- 3. login throttling ---------------------------------------------------------------------------


async def _login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> tuple:
    async with http.post(f"{base}/api/console/login", json={"username": username, "password": password},
                         headers={"Origin": base}) as r:
        return r.status, await r.json(), r.headers.get("Retry-After"), "Set-Cookie" in r.headers


async def test_guessing_passwords_locks_real_and_unknown_accounts_alike(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        await gw.add_counsellor("camille")
        async with aiohttp.ClientSession() as http:
            answers: dict[str, list] = {"camille": [], "personne": []}
            for attempt in range(7):  # interleaved, so both locks start within milliseconds
                for username in answers:
                    answers[username].append(await _login(http, gw.http, username, f"guess {attempt}"))
            real, unknown = answers["camille"], answers["personne"]
            # Status and body alike: nothing tells the account exists. Retry-After counts down from
            # each lock, taken one password check (argon2, a fraction of a second) apart.
            assert [a[:2] + a[3:] for a in real] == [a[:2] + a[3:] for a in unknown]
            assert all(abs(int(r[2]) - int(u[2])) <= 1 for r, u in zip(real[5:], unknown[5:]))
            assert [a[0] for a in real] == [401] * 5 + [429] * 2
            assert not any(a[3] for a in real)
            assert 1 <= int(real[5][2]) <= 900 and real[0][2] is None

            # The right password during the lock is refused the same way, without a cookie.
            status, body, retry_after, cookie = await _login(http, gw.http, "camille", PASSWORD)
            assert (status, body, cookie) == (429, real[5][1], False) and int(retry_after) >= 1
            # Case and spaces do not buy a fresh counter.
            assert (await _login(http, gw.http, " CAMILLE ", PASSWORD))[0] == 429


# --- 4. floods -------------------------------------------------------------------------------------


async def test_a_flooding_teen_is_slowed_down_and_another_teen_is_served(store_url):
    async with running_gateway(config_for(store_url)) as gw:  # 20 messages a minute, burst 10
        console = await gw.on_duty("camille", "Camille")
        flooder, other = await Widget.connect(gw.ws), await Widget.connect(gw.ws)
        ids = [f"flood-{i}" for i in range(200)]

        async def flood() -> dict[str, dict]:
            for client_id in ids:
                await flooder.send({"type": "message", "client_id": client_id, "text": f"spam {client_id}"})
            answers: dict[str, dict] = {}
            while len(answers) < len(ids):
                frame = json.loads(await asyncio.wait_for(flooder.ws.recv(), 10))
                if frame["type"] in ("ack", "error") and frame.get("client_id") in ids:
                    answers[frame["client_id"]] = frame
            return answers

        async def served() -> list[dict]:
            acks = []
            for i in range(3):
                acks.append(await other.say(f"je suis la vraie ado {i}"))
            return acks

        answers, acks = await asyncio.gather(flood(), served())
        accepted = [a for a in answers.values() if a["type"] == "ack"]
        slowed = [a for a in answers.values() if a["type"] == "error"]
        assert {a["code"] for a in slowed} == {"slow_down"}
        assert 10 <= len(accepted) <= 12 and len(accepted) + len(slowed) == 200
        assert all(a["message"]["seq"] for a in acks)

        stored = [m.text for m in await teen_lines(gw.helpline)]
        assert sorted(t for t in stored if t.startswith("spam ")) == sorted(
            f"spam {a['client_id']}" for a in accepted)  # the refused ones left no trace
        assert sum(t.startswith("je suis la vraie ado") for t in stored) == 3

        # The counsellor sees the real teen's messages.
        conversations = [await console.assigned(), await console.assigned()]
        texts = []
        for conversation in conversations:
            await console.send({"type": "open", "conversation_id": conversation["id"]})
            texts += [m["text"] for m in (await console.next("history"))["messages"]]
        assert "je suis la vraie ado 2" in texts
        for client in (flooder, other, console):
            await client.close()


async def test_a_typing_flood_is_dropped_before_it_reaches_the_counsellor():
    async with running_gateway(config_for()) as gw:  # typing: 2 a second, burst 10, per teen
        console = await gw.on_duty("camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation_id = (await console.assigned())["id"]
        await teen.state(lambda c: c["state"] == "assigned")
        started = time.monotonic()
        for i in range(200):
            await teen.send({"type": "typing", "active": i % 2 == 0})
        assert (await teen.say("toujours là"))["message"]["text"] == "toujours là"  # served after the flood
        elapsed = time.monotonic() - started
        await console.message(conversation_id, lambda m: m["text"] == "toujours là")
        # The message followed the flood through the gateway: every relayed typing frame came first.
        await console.barrier()
        relayed = len(console.seen("typing"))
        assert 10 <= relayed <= 10 + 2 * elapsed + 1, (relayed, elapsed)
        await teen.barrier()
        teen.assert_none("error")  # dropped silently, as the protocol allows
        for client in (teen, console):
            await client.close()


async def test_an_oversized_frame_closes_only_that_socket_and_stores_nothing(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        console = await gw.on_duty("camille")
        attacker, bystander = await Widget.connect(gw.ws), await Widget.connect(gw.ws)
        # No permessage-deflate: the size limit holds on the wire, no small frame inflates past it.
        assert "Sec-WebSocket-Extensions" not in attacker.ws.response.headers
        # Valid in every way but its size (padding outside the text).
        await attacker.send({"type": "message", "client_id": "big", "text": "coucou", "pad": "x" * (17 * 1024)})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frame = json.loads(await asyncio.wait_for(attacker.ws.recv(), 5))
                assert frame["type"] != "ack", frame
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
        assert await teen_lines(gw.helpline) == []

        # The console socket has the same ceiling.
        await console.ws.send(json.dumps({"type": "presence", "presence": "paused", "pad": "y" * 17000}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(console.ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert (await gw.helpline.store.counsellors())[0].presence.value == "available"

        assert (await bystander.say("toujours là ?"))["message"]["text"] == "toujours là ?"
        just_under = await Widget.connect(gw.ws)  # a frame just under the limit is fine
        assert (await just_under.say("a", client_id="edge"))["message"]["seq"] == 1
        for client in (bystander, just_under):
            await client.close()
        await console.http.close()


async def _try_widget(url: str, origin: str) -> object:
    """An open socket that said hello, or the status of the refusal."""
    try:
        ws = await websockets.connect(url, origin=origin, open_timeout=10)
    except websockets.InvalidStatus as exc:
        return exc.response
    await ws.send(json.dumps({"type": "hello", "token": None, "last_seq": 0}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def test_one_address_cannot_hold_more_than_its_share_of_sockets():
    config = config_for(limits={"widget_sockets_per_address": 20, "widget_connects_per_minute": 1_000_000})
    async with running_gateway(config) as gw:
        url = f"{gw.ws}/ws/widget"
        results = []
        for batch in range(10):  # 1,000 attempts, 100 at a time
            results += await asyncio.gather(*(_try_widget(url, gw.http) for _ in range(100)))
        held = [r for r in results if not hasattr(r, "status_code")]
        refused = [r for r in results if hasattr(r, "status_code")]
        assert len(held) == 20 and len(refused) == 980
        assert {r.status_code for r in refused} == {429}
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)

        for ws in held[:5]:
            await ws.close()
        # The server releases each slot as its handler ends, just after the close: connect
        # until the five freed slots are held again (a refusal meanwhile is a slot not yet
        # freed); then the address is at its share again and one more is refused.
        again = []
        try:
            async with asyncio.timeout(5):
                while len(again) < 5:
                    result = await _try_widget(url, gw.http)
                    if not hasattr(result, "status_code"):
                        again.append(result)
            assert (await _try_widget(url, gw.http)).status_code == 429
        finally:
            for ws in held[5:] + again:
                await ws.close()


async def test_connecting_too_fast_from_one_address_gets_429_whatever_x_forwarded_for_says():
    # Counted in the store over a sliding minute (core/limits.py): 15 a minute here.
    async with running_gateway(config_for(limits={"widget_connects_per_minute": 15})) as gw:
        url = f"{gw.ws}/ws/widget"
        outcomes = []
        for i in range(20):
            spoof = {"X-Forwarded-For": f"203.0.113.{i}"}  # not trusted: http.trust_proxy is off
            try:
                ws = await websockets.connect(url, origin=gw.http, additional_headers=spoof)
            except websockets.InvalidStatus as exc:
                outcomes.append((exc.response.status_code, exc.response.headers.get("Retry-After")))
            else:
                outcomes.append((101, None))
                await ws.close()
        assert outcomes[:15] == [(101, None)] * 15
        assert all(status == 429 and int(retry) >= 1 for status, retry in outcomes[15:])


# --- 5. security headers ---------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers():
    async with running_gateway(config_for(http={"widget_origins": [ALLOWED]})) as gw:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/console", "/console/static/console.js", "/api/line", "/api/console/me", "/healthz",
                         "/widget/widget.js", "/no-such-page", "/widget/no-such-file.js", "/ws/widget"):
                async with http.get(f"{gw.http}{path}") as r:
                    headers = r.headers
                    status = r.status
                csp = headers.get("Content-Security-Policy", "")
                assert csp, path
                assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
                assert "object-src 'none'" in csp and "script-src 'self'" in csp, path
                assert headers.get("X-Content-Type-Options") == "nosniff", path
                assert headers.get("Referrer-Policy") == "no-referrer", path
                directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
                if path == "/" or path.startswith("/widget/"):
                    assert directives["frame-ancestors"] == ["'self'", ALLOWED], path
                else:
                    assert directives["frame-ancestors"] == ["'none'"], path
                    assert headers.get("X-Frame-Options") == "DENY", path
                if path.startswith(("/console", "/api/")):
                    assert headers.get("Cache-Control") == "no-store", path
                if path == "/ws/widget":
                    assert status == 403  # no Origin: the refusal is a document too


async def _raw_get(host: str, port: int, target: str) -> tuple[int, bytes]:
    """A request line sent byte for byte (no client-side normalisation of `..`)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return int(data.split(b" ", 2)[1]), data


async def test_static_routes_do_not_serve_files_outside_their_folder():
    async with running_gateway(config_for()) as gw:
        host, port = gw.server.host, gw.server.port
        for target in ("/widget/../config.yaml", "/widget/%2e%2e/config.yaml", "/widget/..%2fconfig.yaml",
                       "/console/static/../../config.yaml", "/console/static/%2e%2e%2f%2e%2e%2fconfig.yaml",
                       "/widget/..%5cconfig.yaml", "/console/static/../../gateway/accounts.py"):
            status, data = await _raw_get(host, port, target)
            assert status in (400, 403, 404), (target, status)
            assert b"opening_hours" not in data and b"argon2" not in data, target


async def test_an_idle_widget_socket_is_closed_and_a_dead_console_session_closes_its_socket():
    config = make_config("memory://", prefix=f"i{uuid.uuid4().hex[:8]}", limits={"widget_idle_seconds": 1})
    async with running_gateway(config) as gw:
        teen = await Widget.connect(gw.ws)
        await asyncio.wait_for(teen.ws.wait_closed(), 5)
        assert teen.ws.close_code == 1001

        console = await gw.on_duty("camille", "Camille")
        token = next(c.value for c in console.http.cookie_jar if c.key == "gw_session")
        await gw.helpline.store.delete_session(hash_token(token))  # as when the session expires
        await console.send({"type": "presence", "presence": "paused"})
        await asyncio.wait_for(console.ws.wait_closed(), 5)
        assert (await gw.helpline.store.counsellor_by_username("camille")).presence.value == "available"
        await console.http.close()
