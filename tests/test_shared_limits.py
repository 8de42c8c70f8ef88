"""Limits shared by every gateway process (issue #14, item 4): new conversations, widget connects
and logins per address, counted in the store.

First the store's counter (memory and a real Redis alike), then a real gateway in process on
the manual clock (the 11th conversation from one address is refused in French, nothing stored,
allowed again a minute later), then two real `python -m gateway serve` processes on one Redis.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import aiohttp
import pytest
import websockets
from playwright.async_api import expect

from gateway.core.limits import TOO_MANY_CONVERSATIONS
from gateway.store.redis import RedisStore
from tests.browser import chromium
from tests.clients import Widget
from tests.harness import running_gateway, make_config
from tests.processes import GatewayProcess, add_counsellor, write_config
from tests.test_browser_e2e import open_widget

T0 = 1_700_000_000.0
PASSWORD = "shared-limits-password"

# --- the store's counter --------------------------------------------------------------------------


async def test_a_key_gets_its_limit_then_waits_for_the_oldest_to_leave_the_window(store):
    for i in range(3):
        assert await store.limit_hit("conversations", "addr-1", T0 + i, 60, 3) is None
    assert await store.limit_hit("conversations", "addr-1", T0 + 10, 60, 3) == pytest.approx(50)
    assert await store.limit_hit("conversations", "addr-1", T0 + 59.5, 60, 3) == pytest.approx(0.5)
    assert await store.limit_hit("conversations", "addr-1", T0 + 60, 60, 3) is None  # the first left at 60 s
    assert await store.limit_hit("conversations", "addr-1", T0 + 60, 60, 3) == pytest.approx(1)


async def test_keys_and_counters_are_counted_apart(store):
    assert await store.limit_hit("conversations", "addr-1", T0, 60, 1) is None
    assert await store.limit_hit("conversations", "addr-2", T0, 60, 1) is None
    assert await store.limit_hit("widget_connects", "addr-1", T0, 60, 1) is None
    assert await store.limit_hit("conversations", "addr-1", T0, 60, 1) is not None


async def test_a_refused_or_unrecorded_event_is_not_counted(store):
    assert await store.limit_hit("c", "k", T0, 60, 2, record=False) is None
    assert await store.limit_hit("c", "k", T0, 60, 2) is None
    assert await store.limit_hit("c", "k", T0 + 30, 60, 2) is None
    for _ in range(5):
        assert await store.limit_hit("c", "k", T0 + 40, 60, 2) == pytest.approx(20)  # refusals add nothing
    assert await store.limit_hit("c", "k", T0 + 60, 60, 2) is None  # only the one at T0 left


async def test_a_lowered_limit_applies_at_once(store):
    for _ in range(5):
        assert await store.limit_hit("c", "k", T0, 60, 10) is None
    assert await store.limit_hit("c", "k", T0 + 1, 60, 2) == pytest.approx(59)
    assert await store.limit_hit("c", "k", T0 + 1, 60, 10) is None  # only 2 were kept: 3 now


async def test_on_redis_a_counter_is_bounded_opaque_and_expires(make_store, redis_url):
    store = await make_store("redis", prefix=f"lim{uuid.uuid4().hex[:8]}")
    for i in range(50):
        await store.limit_hit("conversations", "0123abcd" * 4, T0 + i / 10, 60, 10)
    keys = await store._r.keys(f"{store._keys.prefix}:*")  # noqa: SLF001 - the test reads what Redis holds
    assert keys == [f"{store._keys.prefix}:limit:conversations:{{{'0123abcd' * 4}}}"]
    assert await store._r.zcard(keys[0]) == 10  # noqa: SLF001
    assert 0 < await store._r.pttl(keys[0]) <= 60_000  # noqa: SLF001


async def test_two_processes_on_one_redis_share_a_counter_even_at_once(make_store):
    prefix = f"lim{uuid.uuid4().hex[:8]}"
    a, b = await make_store("redis", prefix=prefix), await make_store("redis", prefix=prefix)
    answers = await asyncio.gather(*(s.limit_hit("conversations", "addr", T0, 60, 10) for s in [a, b] * 25))
    assert answers.count(None) == 10


# --- one gateway, the manual clock ------------------------------------------------------------------


def first_line(n: int) -> str:
    return f"bonjour, c'est la personne {n}"


async def open_from_new_tab(ws_base: str, n: int) -> tuple[Widget, dict]:
    """A new tab (a new token) writes its first message: (the widget, its ack or error frame)."""
    widget = await Widget.connect(ws_base)
    client_id = uuid.uuid4().hex
    await widget.send({"type": "message", "client_id": client_id, "text": first_line(n)})
    return widget, await answer_to(widget, client_id)


async def answer_to(widget: Widget, client_id: str) -> dict:
    """The ack or the error frame naming this message (other frames stay in the buffer)."""
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await widget.ws.recv())
            if frame["type"] in ("ack", "error") and frame.get("client_id") == client_id:
                return frame
            widget.buffer.append(frame)


async def test_the_eleventh_new_conversation_from_one_address_is_refused_in_french():
    async with running_gateway(make_config()) as gw:
        widgets, answers = [], []
        for n in range(11):
            widget, answer = await open_from_new_tab(gw.ws, n)
            widgets.append(widget)
            answers.append(answer)
        assert [a["type"] for a in answers] == ["ack"] * 10 + ["error"]
        refused = answers[10]
        assert refused["code"] == "too_many_conversations" and refused["message"] == TOO_MANY_CONVERSATIONS
        assert "zone d'écriture" in refused["message"]
        # Nothing stored for it: no conversation, no line, no queue place.
        store = gw.helpline.store
        assert await store.active_conversation_of(gw.helpline.widget_sender_key(widgets[10].token)) is None
        assert len(await store.queue()) == 10
        assert first_line(10) not in [m["text"] for w in widgets for m in w.seen("message")]
        assert ("flood_refused", "widget_socket", 1) in gw.helpline.security.snapshot()

        # The teens already in a conversation still write: only opening one is counted.
        assert (await widgets[0].say("je suis encore là"))["message"]["text"] == "je suis encore là"

        # A minute later the refused teen sends the same text again: it opens a conversation.
        gw.clock.advance(60)
        _, again = await open_from_new_tab(gw.ws, 10)
        assert again["type"] == "ack"
        for widget in widgets:
            await widget.close()


async def test_a_reload_of_the_limit_applies_at_once():
    async with running_gateway(make_config()) as gw:
        gw.helpline.config = replace(gw.helpline.config, new_conversations_per_minute=2)
        answers = [(await open_from_new_tab(gw.ws, n))[1]["type"] for n in range(3)]
        assert answers == ["ack", "ack", "error"]


async def test_widget_connects_per_address_are_counted_in_the_store():
    async with running_gateway(make_config(limits={"widget_connects_per_minute": 3})) as gw:
        widgets = [await Widget.connect(gw.ws) for _ in range(3)]
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Widget.connect(gw.ws)
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) == 60
        assert ("rate_limited", "widget_socket", 1) in gw.helpline.security.snapshot()
        gw.clock.advance(60)
        widgets.append(await Widget.connect(gw.ws))
        for widget in widgets:
            await widget.close()


# --- two real processes on one Redis ---------------------------------------------------------------


@pytest.fixture
def two_gateways(tmp_path, redis_url):
    prefix = f"sl{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path / "config.yaml", redis_url, prefix)
    add_counsellor(config, "camille", PASSWORD)
    a = GatewayProcess(config, tmp_path / "a.log")
    b = GatewayProcess(config, tmp_path / "b.log")
    yield a, b, prefix
    a.stop()
    b.stop()


async def test_token_rotation_across_two_processes_gets_ten_conversations_a_minute(two_gateways, redis_url):
    a, b, prefix = two_gateways
    widgets, answers = [], []
    for n in range(11):
        widget, answer = await open_from_new_tab((a, b)[n % 2].ws, n)
        widgets.append(widget)
        answers.append(answer)
    assert [x["type"] for x in answers] == ["ack"] * 10 + ["error"]
    assert answers[10]["code"] == "too_many_conversations"
    store = RedisStore(redis_url, prefix=prefix)
    await store.start()
    try:
        assert len(await store.queue()) == 10
    finally:
        await store.close()
    # The refused tab comes back (on either process): nothing of it was kept.
    again = await Widget.connect(a.ws, token=widgets[10].token)
    assert again.welcome["conversation"] is None and again.welcome["messages"] == []
    for widget in [*widgets, again]:
        await widget.close()


async def login(http: aiohttp.ClientSession, base: str, password: str) -> int:
    async with http.post(f"{base}/api/console/login", json={"username": "camille", "password": password},
                         headers={"Origin": base}) as response:
        return response.status


async def test_five_failed_logins_split_over_two_processes_lock_the_account_on_both(two_gateways):
    a, b, _ = two_gateways
    async with aiohttp.ClientSession() as http:
        statuses = [await login(http, (a, b)[i % 2].http, f"guess {i}") for i in range(5)]
        assert statuses == [401] * 5
        assert await login(http, a.http, PASSWORD) == 429  # even the right password, on both
        assert await login(http, b.http, PASSWORD) == 429


# --- the widget page, in a real Chromium --------------------------------------------------------------


async def test_the_widget_shows_the_refusal_and_gives_the_text_back_to_the_composer():
    async with running_gateway(make_config(limits={"new_conversations_per_minute": 1})) as gw, \
            chromium() as browser:
        _, first = await open_from_new_tab(gw.ws, 0)  # this address's one new conversation this minute
        assert first["type"] == "ack"
        teen = await open_widget(browser, gw.http)
        await teen.fill("#w3018-input", "je voudrais parler à quelqu'un")
        await teen.click("#w3018-send")
        await expect(teen.locator(".w3018-note").last).to_contain_text("Beaucoup de personnes écrivent")
        await expect(teen.locator("#w3018-input")).to_have_value("je voudrais parler à quelqu'un")
        await expect(teen.locator('.w3018-msg[data-from="teen"]')).to_have_count(0)  # no bubble: nothing sent
        assert len(await gw.helpline.store.queue()) == 1

        gw.clock.advance(60)  # a minute later, the same text goes
        await teen.click("#w3018-send")
        await expect(teen.locator('.w3018-msg[data-from="teen"][data-seq="1"]')).to_contain_text("parler à quelqu")
        await expect(teen.locator("#w3018-input")).to_have_value("")
