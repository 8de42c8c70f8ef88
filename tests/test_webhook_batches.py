"""Large Meta webhook batches: stored parsed in the inbox, acknowledged, then handled by any
process (core/inbox.py). Real gateway over loopback, the Meta stand-in posting, memory and Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp
import pytest

from connectors.meta_events import MetaIgnored, MetaMessage, MetaStatus, MetaWatermark
from connectors.meta_webhooks import INLINE_MAX, MetaEvents
from gateway.app.server import INBOX
from gateway.core.inbox import LEASE_SECONDS
from gateway.domain.model import Author, Channel
from meta_standin.server import meta_json, whatsapp_envelope
from tests.harness import make_config, running_gateway

DEADLINE = 120.0  # seconds: a generous bound on a loaded 2-core machine, never a measure


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url, standin):
    return make_config(store_url, prefix=f"b{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


def whatsapp_batch(standin, senders: int, at: float, tag: str = "") -> bytes:
    """One WhatsApp POST carrying one text from each of `senders` new teens, as Meta batches them."""
    phones = [f"3361{tag}{n:06d}" for n in range(senders)]
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": standin.display_phone_number,
                          "phone_number_id": standin.phone_number_id},
             "contacts": [{"profile": {"name": f"Sam {n}"}, "wa_id": phone} for n, phone in enumerate(phones)],
             "messages": [{"from": phone, "id": f"wamid.{tag}{n}", "timestamp": str(int(at)), "type": "text",
                           "text": {"body": f"bonjour {n}"}} for n, phone in enumerate(phones)]}
    return meta_json(whatsapp_envelope(standin.waba_id, value))


async def until(check: Callable[[], object], what: str) -> None:
    """Poll `check` (sync or async) until it holds, or fail after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.05)


async def metrics_text(gw) -> str:
    async with aiohttp.ClientSession() as session, session.get(gw.http + "/metrics") as response:
        return await response.text()


async def conversations_with_one_message_each(gw, expected: int) -> bool:
    store = gw.helpline.store
    conversations = await store.conversations_since(0)
    if len(conversations) < expected:
        return False
    assert len(conversations) == expected
    assert len({c.sender_key for c in conversations}) == expected  # one conversation per teen
    for conversation in conversations:
        teen_lines = [m for m in await store.messages(conversation.id) if m.author is Author.TEEN]
        assert len(teen_lines) == 1  # no message stored twice (the welcome line is ours)
    return True


def test_every_kind_of_event_comes_back_from_the_inbox_as_parsed():
    events = [MetaMessage(Channel.WHATSAPP, "33612345678", "wamid.1", 1.5, "salut", ("image",), "1065", "survey:oui"),
              MetaStatus(Channel.WHATSAPP, "wamid.2", "failed", 2.0, 131026, "Message undeliverable"),
              MetaWatermark("psid-1", "read", 3.0, ("mid.1",)),
              MetaIgnored(Channel.MESSENGER, "echo")]
    assert MetaEvents.decode("whatsapp", MetaEvents.encode(events)) == events


async def test_a_thousand_event_whatsapp_post_is_acked_then_every_teen_gets_a_conversation(config, standin):
    async with running_gateway(config) as gw:
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp",
                                           whatsapp_batch(standin, 1000, gw.clock.now()))
        assert status == 200
        await until(lambda: conversations_with_one_message_each(gw, 1000), "1,000 conversations")
        await until(lambda: gw.server.app[INBOX].handled == 1, "the batch finished")
        assert await gw.helpline.store.inbox_depth() == 0  # gone once handled
        assert "gateway_webhook_inbox_batches 0.0" in await metrics_text(gw)


async def test_a_batch_delivered_twice_makes_no_duplicate(config, standin):
    async with running_gateway(config) as gw:
        body = whatsapp_batch(standin, 200, gw.clock.now())
        for _ in range(2):  # Meta's retry of a POST whose answer it did not get
            status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp", body)
            assert status == 200
        await until(lambda: gw.server.app[INBOX].handled == 2, "both copies handled")
        assert await conversations_with_one_message_each(gw, 200)
        assert await gw.helpline.store.inbox_depth() == 0


async def test_a_small_post_is_still_handled_before_its_200(config, standin):
    async with running_gateway(config) as gw:
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp",
                                           whatsapp_batch(standin, INLINE_MAX, gw.clock.now()))
        assert status == 200
        assert await conversations_with_one_message_each(gw, INLINE_MAX)  # already there: no polling
        assert gw.server.app[INBOX].handled == 0 and await gw.helpline.store.inbox_depth() == 0


async def test_a_batch_claimed_by_a_process_that_died_is_handled_by_another_after_the_lease(redis_url, standin):
    config = make_config(redis_url, prefix=f"b{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})
    async with running_gateway(config) as first:
        await first.server.app[INBOX].stop()  # its worker will claim once, then "die"
        status, _ = await standin.send_raw(first.http, "/webhooks/whatsapp",
                                           whatsapp_batch(standin, 50, first.clock.now()))
        assert status == 200  # stored durably before the answer
        claimed = await first.helpline.store.inbox_claim(first.clock.now(), LEASE_SECONDS, 1)
        assert len(claimed) == 1  # what the dead worker held: nobody finishes it

        async with running_gateway(config) as second:
            worker = second.server.app[INBOX]
            rounds = worker.rounds
            worker.kick()
            await until(lambda: worker.rounds > rounds, "a round of the second worker")
            assert worker.handled == 0 and await second.helpline.store.inbox_depth() == 1  # still leased
            assert await second.helpline.store.conversations_since(0) == []
            assert "gateway_webhook_inbox_batches 1.0" in await metrics_text(second)


            second.clock.advance(LEASE_SECONDS + 1)  # the dead process's lease runs out
            await until(lambda: worker.handled == 1, "the second process handled the batch")
            assert await conversations_with_one_message_each(second, 50)
            assert await second.helpline.store.inbox_depth() == 0


async def test_a_batch_half_handled_when_its_worker_went_away_is_finished_without_duplicates(store_url, standin):
    """A batch whose worker stopped mid-way (a shutdown; a store failure takes the same path)
    is retried after RETRY_SECONDS, and what was done already is not stored twice."""
    config = make_config(store_url, prefix=f"b{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})
    async with running_gateway(config) as gw:
        inbox = gw.server.app[INBOX]
        await inbox.stop()
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp",
                                           whatsapp_batch(standin, 40, gw.clock.now()))
        assert status == 200
        [batch] = await gw.helpline.store.inbox_claim(gw.clock.now(), LEASE_SECONDS, 1)
        events = inbox.handler.decode(batch.channel, batch.payload)
        for event in events[:10]:  # the first ten handled, then the process went away
            await inbox.handler.handle(batch.channel, event)
        gw.clock.advance(LEASE_SECONDS + 1)
        await inbox.start()
        await until(lambda: inbox.handled == 1, "the batch handled again")
        assert await conversations_with_one_message_each(gw, 40)


async def test_a_batch_is_refused_with_503_while_the_store_is_down_so_meta_retries(own_redis, standin):
    config = make_config(own_redis.url, prefix=f"b{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})
    async with running_gateway(config) as gw:
        body = whatsapp_batch(standin, 30, gw.clock.now())
        own_redis.stop()
        try:
            status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp", body)
            assert status == 503  # not acknowledged: nothing was stored
        finally:
            own_redis.start()
        await until(lambda: gw.helpline.store.ping(), "Redis back")
        status, _ = await standin.send_raw(gw.http, "/webhooks/whatsapp", body)  # Meta's retry
        assert status == 200
        await until(lambda: gw.server.app[INBOX].handled == 1, "the retried batch handled")
        assert await conversations_with_one_message_each(gw, 30)
