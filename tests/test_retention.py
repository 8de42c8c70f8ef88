"""Retention: `retention.days` after its close, nothing of what a teen wrote nor of their platform
ids is left in the store, while the anonymous figures are; a supervisor can erase one at once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis

from gateway.domain.clock import ManualClock
from gateway.domain.config import load_config, parse_config
from gateway.domain.errors import ConfigError
from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState, Delivery
from gateway.core.retention import (NOTICE_POLL_SECONDS, NOTICE_WAIT_SECONDS, RetentionSweeper,
                                     _let_the_closing_notice_go, erase_now)
from gateway.core.ports import ERASED_ALIAS, ERASED_SENDER_KEY, NewMessage, Store
from gateway.domain.windows import send_window
from gateway.store.redis import RedisStore

ROOT = Path(__file__).resolve().parent.parent
DAY = 24 * 3600
RETENTION_DAYS = 30
NOW = 1_750_000_000.0  # the sweeper's clock; Redis TTLs count in the server's own time


@dataclass
class Teen:
    """One conversation of the scenario, and the marker hidden in everything that is theirs."""

    conversation: Conversation
    marker: str


async def a_teen(store: Store, channel: Channel, *, closed_days_ago: float | None,
                 out_of_hours: bool = False) -> Teen:
    """A conversation with a unique marker in its texts, its pseudonym, alias, platform ids,
    triage reason, message ids; closed `closed_days_ago` (None: still open)."""
    marker = f"MARK{uuid.uuid4().hex[:10]}"
    meta = channel is not Channel.WEB
    opened = NOW - (closed_days_ago or 0) * DAY - 600
    conversation = Conversation(
        id=uuid.uuid4().hex, channel=channel, sender_key=f"sk-{marker}", alias=f"Jeune {marker}",
        state=ConversationState.QUEUED, opened_at=opened, queued_at=opened,
        reply_to=f"psid-{marker}" if meta else None, business_id=f"page-{marker}" if meta else None,
    )
    if out_of_hours:
        conversation = conversation.close(CloseReason.OUT_OF_HOURS, opened)
        await store.create_closed(conversation)
    else:
        assert (await store.create_or_get_active(conversation))[1]
    # What the core does with an inbound message: dedupe claim, store, touch (platform id).
    await store.claim_message_id(channel.value, f"{conversation.sender_key}:in-{marker}", ttl=7 * DAY)
    await store.append_message(conversation.id, NewMessage(Author.TEEN, f"il a diffusé mes photos {marker}", opened))
    await store.touch_teen(conversation.id, opened, inbound_id=f"mid-{marker}" if meta else None)
    await store.raise_priority(conversation.id, 3, f"« mes photos {marker} »", "juriste")
    reply = await store.append_message(conversation.id, NewMessage(
        Author.COUNSELLOR, f"On va t'aider à le signaler, {marker}.", opened + 60, "Ana", window=send_window(channel, opened)))
    if meta:
        await store.link_provider_message(channel.value, f"wamid-{marker}", conversation.id, reply.seq, ttl=8 * DAY)
        await store.set_delivery(conversation.id, reply.seq, Delivery.FAILED, f"non délivré {marker}")
    if closed_days_ago is not None and not out_of_hours:
        closed = await store.close_conversation(conversation.id, CloseReason.BY_COUNSELLOR, NOW - closed_days_ago * DAY)
        assert closed is not None
        await store.append_message(conversation.id, NewMessage(  # the closing notice comes after the close
            Author.SYSTEM, f"La conversation est terminée {marker}", closed.closed_at or 0, window=send_window(channel, opened)))
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    return Teen(stored, marker)


async def scenario(store: Store) -> tuple[list[Teen], list[Teen], Teen]:
    """(closed long ago, closed recently, still open): every channel in the first two."""
    old = [await a_teen(store, channel, closed_days_ago=40) for channel in Channel]
    old.append(await a_teen(store, Channel.WHATSAPP, closed_days_ago=35, out_of_hours=True))
    recent = [await a_teen(store, channel, closed_days_ago=2) for channel in Channel]
    still_open = await a_teen(store, Channel.WEB, closed_days_ago=None)
    return old, recent, still_open


async def everything_under(redis_url: str, prefix: str) -> str:
    """Every key name and every value under the prefix, whatever its type, as one text."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    dump: list[str] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=500):
            kind = await client.type(key)
            if kind == "string":
                value: object = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            elif kind == "set":
                value = await client.smembers(key)
            else:
                raise AssertionError(f"unexpected key type {kind} at {key}")
            dump.append(f"{key} = {value!r}")
    finally:
        await client.aclose()
    assert dump, "nothing under the prefix: the scan looked in the wrong place"
    return "\n".join(dump)


def assert_figures_kept(before: Conversation, erased: Conversation | None, at: float) -> None:
    assert erased is not None
    assert erased == replace(before, sender_key=ERASED_SENDER_KEY, alias=ERASED_ALIAS, reply_to=None,
                             business_id=None, last_inbound_id=None, priority_reason=None, erased_at=at)
    assert (erased.channel, erased.opened_at, erased.closed_at, erased.close_reason) == (
        before.channel, before.opened_at, before.closed_at, before.close_reason)


# --- Redis: nothing left anywhere -------------------------------------------------------------


async def test_after_the_retention_no_text_nor_id_of_a_closed_conversation_is_left_in_redis(
        make_store, redis_url: str) -> None:
    prefix = f"retention-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    old, recent, still_open = await scenario(store)
    dump = await everything_under(redis_url, prefix)
    assert all(teen.marker in dump for teen in (*old, *recent, still_open))  # the markers are findable

    clock = ManualClock(NOW)
    sweeper = RetentionSweeper(store, clock, RETENTION_DAYS, batch=2)
    assert await sweeper.sweep_once() == len(old)

    dump = await everything_under(redis_url, prefix)
    for teen in old:
        assert teen.marker not in dump, f"{teen.conversation.channel.value}: {teen.marker} left in Redis"
        assert f"{teen.conversation.id}|" not in dump  # no outbox job, no provider link leads to it
        assert_figures_kept(teen.conversation, await store.get_conversation(teen.conversation.id), NOW)
        assert await store.messages(teen.conversation.id) == []
    for teen in (*recent, still_open):
        assert teen.marker in dump
        assert [m.author for m in await store.messages(teen.conversation.id)][:2] == [Author.TEEN, Author.COUNSELLOR]
    assert await store.claim_deliveries(now=NOW + DAY, lease=30, limit=50) != []  # the recent ones' replies

    # 29 days on, the recent ones are due too: only the open conversation keeps its words.
    clock.advance(29 * DAY)
    assert await sweeper.sweep_once() == len(recent)
    dump = await everything_under(redis_url, prefix)
    assert [teen.marker for teen in (*old, *recent) if teen.marker in dump] == []
    assert still_open.marker in dump
    assert [j.conversation_id for j in await store.claim_deliveries(now=NOW + 99 * DAY, lease=30, limit=50)] == []
    assert await sweeper.sweep_once() == 0


async def test_closed_conversations_content_keys_expire_a_day_after_the_retention(make_store, redis_url: str) -> None:
    prefix = f"retention-{uuid.uuid4().hex[:8]}"
    store = RedisStore(redis_url, prefix=prefix, content_ttl=(RETENTION_DAYS + 1) * DAY)
    await store.start()
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        old, recent, still_open = await scenario(store)
        for teen in (*old, *recent):
            for suffix in (":msgs", ":delivery") if teen.conversation.channel is not Channel.WEB else (":msgs",):
                ttl = await client.ttl(f"{prefix}:conv:{{{teen.conversation.id}}}{suffix}")
                assert RETENTION_DAYS * DAY < ttl <= (RETENTION_DAYS + 1) * DAY, (teen.conversation.channel, suffix)
        assert await client.ttl(f"{prefix}:conv:{{{still_open.conversation.id}}}:msgs") == -1
        assert await client.ttl(f"{prefix}:conv:{{{still_open.conversation.id}}}") == -1
    finally:
        await client.aclose()
        await store.close()


async def test_a_stray_id_in_the_closed_index_does_not_stall_the_sweep(make_store, redis_url: str) -> None:
    prefix = f"retention-{uuid.uuid4().hex[:8]}"
    store = await make_store("redis", prefix=prefix)
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        await client.zadd(f"{prefix}:closed", {"no-such-conversation": NOW - 90 * DAY})
    finally:
        await client.aclose()
    teen = await a_teen(store, Channel.WEB, closed_days_ago=40)
    sweeper = RetentionSweeper(store, ManualClock(NOW), RETENTION_DAYS, batch=1)
    assert await sweeper.sweep_once() == 0  # the stray id is dropped from the index, the round ends
    assert await sweeper.sweep_once() == 1
    assert await store.messages(teen.conversation.id) == []


# --- the memory store, through its public API --------------------------------------------------


async def test_after_the_retention_the_memory_store_has_no_text_nor_id_either(make_store) -> None:
    store = await make_store("memory")
    old, recent, still_open = await scenario(store)
    clock = ManualClock(NOW)
    assert await RetentionSweeper(store, clock, RETENTION_DAYS).sweep_once() == len(old)
    for teen in old:
        assert await store.messages(teen.conversation.id) == []
        assert_figures_kept(teen.conversation, await store.get_conversation(teen.conversation.id), NOW)
        assert await store.find_provider_message(teen.conversation.channel.value, f"wamid-{teen.marker}") is None
    for teen in recent:
        assert len(await store.messages(teen.conversation.id)) == 3
        assert await store.get_conversation(teen.conversation.id) == teen.conversation
    assert sorted(await store.closed_before(NOW, limit=50)) == sorted(teen.conversation.id for teen in recent)
    assert len(await store.messages(still_open.conversation.id)) == 2


# --- the loop, and a supervisor's request ------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_sweeper_loop_erases_without_being_asked(make_store, kind: str) -> None:
    store = await make_store(kind)
    interval = 3600.0
    teen = await a_teen(store, Channel.MESSENGER, closed_days_ago=31)
    # due half an interval after the round at start: the next round, on the clock, erases it
    later = await a_teen(store, Channel.WHATSAPP, closed_days_ago=RETENTION_DAYS - interval / 2 / DAY)
    clock = ManualClock(NOW)
    sweeper = RetentionSweeper(store, clock, RETENTION_DAYS, interval=interval)
    sweeper.start()
    try:
        await clock.wait_for_sleepers()  # the round at start is done
        erased = await store.get_conversation(teen.conversation.id)
        assert (await store.get_conversation(later.conversation.id)).erased_at is None
        clock.advance(interval)
        await clock.wait_for_sleepers()  # the next round is done
        erased_later = await store.get_conversation(later.conversation.id)
    finally:
        await sweeper.stop()
    assert erased is not None and erased.erased_at == NOW and erased.reply_to is None
    assert erased_later is not None and erased_later.erased_at == NOW + interval and erased_later.reply_to is None


async def test_an_erase_on_request_waits_on_the_clock_for_the_closing_notice_to_leave(make_store) -> None:
    store = await make_store("memory")
    clock = ManualClock(NOW)
    helpline = SimpleNamespace(store=store, clock=clock)
    teen = await a_teen(store, Channel.MESSENGER, closed_days_ago=0.01)
    notice = (await store.messages(teen.conversation.id))[-1]
    assert notice.delivery is Delivery.PENDING

    waiting = asyncio.create_task(_let_the_closing_notice_go(helpline, teen.conversation.id))
    await clock.wait_for_sleepers()
    assert not waiting.done()
    await store.set_delivery(teen.conversation.id, notice.seq, Delivery.SENT)
    clock.advance(NOTICE_POLL_SECONDS)

    await asyncio.wait_for(waiting, timeout=5)
    assert clock.now() < NOW + NOTICE_WAIT_SECONDS


async def test_an_erase_on_request_does_not_wait_for_ever_for_a_notice_that_never_leaves(make_store) -> None:
    store = await make_store("memory")
    clock = ManualClock(NOW)
    teen = await a_teen(store, Channel.WHATSAPP, closed_days_ago=0.01)
    waiting = asyncio.create_task(_let_the_closing_notice_go(SimpleNamespace(store=store, clock=clock),
                                                             teen.conversation.id))
    await clock.wait_for_sleepers()
    clock.advance(NOTICE_WAIT_SECONDS - 1)
    await clock.wait_for_sleepers()
    assert not waiting.done()  # still within the bound: it looks again

    clock.advance(1)
    await asyncio.wait_for(waiting, timeout=5)
    assert (await store.messages(teen.conversation.id))[-1].delivery is Delivery.PENDING


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_supervisor_erases_a_closed_conversation_at_once_but_never_an_open_one(make_store, kind: str) -> None:
    store = await make_store(kind)
    helpline = SimpleNamespace(store=store, clock=ManualClock(NOW))
    just_closed = await a_teen(store, Channel.WHATSAPP, closed_days_ago=0.01)
    still_open = await a_teen(store, Channel.WHATSAPP, closed_days_ago=None)
    assert await erase_now(helpline, just_closed.conversation.id) is True
    assert_figures_kept(just_closed.conversation, await store.get_conversation(just_closed.conversation.id), NOW)
    assert await store.messages(just_closed.conversation.id) == []
    assert await erase_now(helpline, still_open.conversation.id) is False
    assert await store.get_conversation(still_open.conversation.id) == still_open.conversation
    assert await erase_now(helpline, "unknown") is False
    assert await erase_now(helpline, {"id": just_closed.conversation.id}) is False


# --- config --------------------------------------------------------------------------------------


def test_retention_is_read_from_the_config_with_safe_defaults() -> None:
    shipped = load_config(ROOT / "config.yaml")
    assert (shipped.retention_days, shipped.retention_sweep_seconds) == (30, 3600)
    assert parse_config({"retention": {"days": 7, "sweep_seconds": 600}}).retention_days == 7
    assert parse_config(None).retention_days == 30


@pytest.mark.parametrize("section, key", [
    ({"days": 0}, "retention.days"),
    ({"days": 3651}, "retention.days"),
    ({"days": "30"}, "retention.days"),
    ({"sweep_seconds": 10}, "retention.sweep_seconds"),
])
def test_a_retention_out_of_range_is_refused_with_its_key(section: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"retention": section})
    assert error.value.key == key


# --- casework: the qualification record (issue #12) ------------------------------------------


async def qualified_teen(store: Store, closed_days_ago: float) -> Teen:
    """A conversation a counsellor held, closed `closed_days_ago`, qualified with a summary
    that carries its marker."""
    from gateway.domain.casework import DEFAULT_CASEWORK, Qualification, parse_qualification

    teen = await a_teen(store, Channel.MESSENGER, closed_days_ago=closed_days_ago)
    conversation = replace(teen.conversation, counsellor_id="ana", assigned_at=teen.conversation.opened_at + 60)
    fields = parse_qualification({"caller": "jeune", "age_band": "15_17", "categories": ["images_intimes"],
                                  "outcomes": ["orientation_pharos"], "summary": f"photos diffusées {teen.marker}"},
                                 DEFAULT_CASEWORK)
    await store.save_qualification(Qualification.of(conversation, fields, "ana", NOW - closed_days_ago * DAY))
    return teen


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_summary_goes_with_the_texts_and_the_record_after_case_years(make_store, redis_url, kind):
    prefix = f"retention-{uuid.uuid4().hex[:8]}"
    store = await make_store(kind, prefix=prefix)
    old, recent = await qualified_teen(store, 40), await qualified_teen(store, 2)
    clock = ManualClock(NOW)
    sweeper = RetentionSweeper(store, clock, RETENTION_DAYS, case_years=1)

    assert await sweeper.sweep_once() == 1
    kept = await store.qualification_of(old.conversation.id)
    assert kept is not None and kept.summary is None and kept.categories == ("images_intimes",)
    assert old.marker not in (await store.qualification_of(recent.conversation.id)).summary
    assert recent.marker in (await store.qualification_of(recent.conversation.id)).summary
    if kind == "redis":
        dump = await everything_under(redis_url, prefix)
        assert old.marker not in dump and recent.marker in dump

    clock.advance(365.25 * DAY - 39 * DAY)  # the old one closed just over a year ago now
    await sweeper.sweep_once()
    assert await store.qualification_of(old.conversation.id) is None
    assert await store.qualification_of(recent.conversation.id) is not None
    clock.advance(38 * DAY)  # and the recent one too
    await sweeper.sweep_once()
    assert await store.qualifications_since(0) == []
    assert all(not values for values in (await store.values_in_use()).values())


# --- trusted-flagger notices (issue #13) -------------------------------------------------------


def a_decided_notice(marker: str, decided_days_ago: float):
    """A notice decided `decided_days_ago`, its marker in every field that is the victim's."""
    from gateway.domain.notices import DEFAULT_NOTICES, Notice, move, parse_new_notice

    fields = parse_new_notice({"platform": "snapchat", "content_kind": "compte", "offence": "312-10",
                               "locations": [f"https://www.snapchat.com/add/{marker}", f"@{marker}"],
                               "explanation": f"Chantage à la webcam {marker}", "facts_dates": f"mars {marker}",
                               "evidence": f"captures {marker}", "consent": True}, DEFAULT_NOTICES)
    decided_at = NOW - decided_days_ago * DAY
    notice = Notice(id=uuid.uuid4().hex, conversation_id=uuid.uuid4().hex, counsellor_id="ana",
                    created_at=decided_at - 2 * DAY, **fields)
    notice = move(notice, {"state": "envoye", "ticket_id": f"T-{marker}"}, decided_at - DAY)
    notice = move(notice, {"state": "accuse_reception"}, decided_at - DAY / 2)
    return move(notice, {"state": "decision", "decision": "compte_suspendu"}, decided_at)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_notice_loses_its_locations_and_texts_after_the_appeal_window(make_store, redis_url, kind):
    from gateway.domain.notices import DEFAULT_NOTICES

    prefix = f"retention-{uuid.uuid4().hex[:8]}"
    store = await make_store(kind, prefix=prefix)
    keep_days = DEFAULT_NOTICES.keep_days_after_close
    old_marker, recent_marker = f"NOTE{uuid.uuid4().hex[:10]}", f"NOTE{uuid.uuid4().hex[:10]}"
    old = a_decided_notice(old_marker, 190 + keep_days)  # six months are at most 184 days
    recent = a_decided_notice(recent_marker, 170)
    for notice in (old, recent):
        await store.save_notice(notice)

    await RetentionSweeper(store, ManualClock(NOW), RETENTION_DAYS).sweep_once()

    kept = await store.notice(old.id)
    assert kept.erased_at == NOW and kept.locations == () and kept.explanation == "" and kept.ticket_id is None
    assert (kept.platform, kept.offence, kept.decision, kept.sent_at) == ("snapchat", "312-10", "compte_suspendu",
                                                                         old.sent_at)
    assert await store.notice(recent.id) == recent
    if kind == "redis":
        dump = await everything_under(redis_url, prefix)
        assert old_marker not in dump and recent_marker in dump
