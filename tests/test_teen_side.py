"""The teen-side use cases of the core, without sockets: on the memory store and on Redis, with
a hand-moved clock. What a teen sees, how a long Meta message is kept, when leaving counts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.app.server import build_parts
from gateway.core.helpline import Helpline
from gateway.domain.clock import ManualClock
from gateway.domain.errors import ProtocolError
from gateway.domain.events import Barrier, ConversationChanged
from gateway.domain.model import Author, Channel, CloseReason, ConversationState
from gateway.core.ports import NewMessage
from tests.harness import TUESDAY_10H, make_config

PSID = "PSID-0000000042"


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    config = make_config(url, prefix=f"ts{uuid.uuid4().hex[:8]}", queue={"widget_leave_seconds": 30},
                         limits={"max_message_chars": 100})
    parts = build_parts(config, clock=ManualClock(TUESDAY_10H))
    await parts.store.start()
    await parts.bus.start()
    line = Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    await line.start()
    yield line
    await line.stop()
    await parts.bus.close()
    await parts.store.close()


def ignore(conversation_id: str, state: ConversationState) -> None:
    return None


async def test_a_long_meta_message_is_kept_in_parts_with_their_own_ids(helpline):
    text = "a" * 100 + "b" * 100 + "c" * 5
    for _ in range(2):  # Meta redelivers: each part is still stored once
        await helpline.receive_meta(Channel.WHATSAPP, PSID, "wamid.1", text, helpline.clock.now(), (), "PHONE-1")
    conversation = await helpline.store.active_conversation_of(helpline.pseudonyms.sender_key("whatsapp", PSID))
    teen_lines = [m.text for m in await helpline.store.messages(conversation.id) if m.author is Author.TEEN]
    assert teen_lines == ["a" * 100, "b" * 100, "c" * 5]


async def test_an_internal_note_never_reaches_the_teen_on_resume_nor_after_a_message(helpline):
    key = helpline.widget_sender_key("t" * 40)
    first = await helpline.teen_write(key, "c1", "bonjour", None, ignore)
    await helpline.say(await helpline.store.get_conversation(first.message.conversation_id),
                       NewMessage(Author.NOTE, "note entre écoutant·es", helpline.clock.now()))
    resumed = await helpline.teen_resume(key, 0, ignore)
    assert resumed.status.state is ConversationState.QUEUED and resumed.status.position == 1
    assert [m.author for m in resumed.history] == [Author.TEEN, Author.SYSTEM]
    second = await helpline.teen_write(key, "c2", "tu es là ?", first.message.conversation_id, ignore)
    assert second.status is None and all(m.author is not Author.NOTE for m in second.replies)


async def test_a_teen_writing_too_fast_is_asked_to_slow_down(helpline):
    key = helpline.widget_sender_key("f" * 40)
    with pytest.raises(ProtocolError) as refused:
        for i in range(100):
            await helpline.teen_write(key, f"c{i}", f"message {i}", None, ignore)
    assert refused.value.code == "slow_down"


async def test_a_waiting_teen_who_does_not_come_back_has_left_the_queue(helpline):
    key = helpline.widget_sender_key("g" * 40)
    written = await helpline.teen_write(key, "c1", "bonjour", None, ignore)
    conversation_id = written.message.conversation_id
    clock: ManualClock = helpline.clock
    helpline.teen_socket_gone(conversation_id, ConversationState.QUEUED)  # the grace counts from now
    clock.advance(29)
    helpline.teen_socket_back(conversation_id)  # a reload, in time: still waiting
    assert helpline.leave_timers.pending == 0
    clock.advance(5)  # past the first grace: cancelled, it closes nothing
    assert (await helpline.store.get_conversation(conversation_id)).state is ConversationState.QUEUED

    helpline.teen_socket_gone(conversation_id, ConversationState.QUEUED)
    closed = asyncio.Event()
    helpline.bus.subscribe(lambda e: closed.set() if isinstance(e, ConversationChanged)
                           and e.state is ConversationState.CLOSED else None)
    clock.advance(30)
    async with asyncio.timeout(5):
        await closed.wait()
    assert (await helpline.store.get_conversation(conversation_id)).close_reason is CloseReason.ABANDONED


async def test_a_barrier_comes_back_after_what_was_published_before_it(helpline):
    seen: list = []
    back = asyncio.Event()

    def collect(event) -> None:
        seen.append(type(event).__name__)
        if isinstance(event, Barrier) and event.token == "mine":
            back.set()

    helpline.bus.subscribe(collect)
    await helpline.teen_write(helpline.widget_sender_key("h" * 40), "c1", "bonjour", None, ignore)
    await helpline.barrier("mine")
    async with asyncio.timeout(5):
        await back.wait()
    assert seen[-1] == "Barrier" and "ConversationChanged" in seen
