"""Atomic intake, seen from the core: a process that dies at any store call of a teen's message
or a counsellor's reply leaves either the message with the claim on its id, or neither; the
sender's retry then stores it exactly once. On the memory store and on Redis.

The crash is simulated at each store call in turn, before the call (the request never left)
and after it (the store did it; the reply was lost), by a store that raises `ProcessDied`
(a BaseException: nothing after it runs, as when the process is killed).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.core import counsellor as console
from gateway.core.accounts import create_counsellor
from gateway.core.helpline import Helpline
from gateway.core.ports import MessageId, Store
from gateway.domain.errors import ProtocolError
from gateway.domain.model import (
    Author,
    Channel,
    CloseReason,
    ConversationState,
    InboundMessage,
    Presence,
)
from tests.harness import PASSWORD
from tests.helplines import bare_helpline


class ProcessDied(BaseException):
    """The gateway process was killed here."""


class DyingStore:
    """Delegates to a store; dies at its `die_at`-th call, before or after running it. Dead,
    it runs nothing more (a killed process cleans nothing up). `die_at=0`: never dies."""

    def __init__(self, store: Store, die_at: int, after: bool) -> None:
        self._store, self._die_at, self._after = store, die_at, after
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        if not callable(getattr(type(self._store), name, None)):
            return getattr(self._store, name)

        async def call(*args, **kwargs):
            self.calls.append(name)
            dies_here = len(self.calls) == self._die_at
            if self._die_at and (len(self.calls) > self._die_at or (dies_here and not self._after)):
                raise ProcessDied(name)
            result = await getattr(self._store, name)(*args, **kwargs)
            if dies_here:
                raise ProcessDied(name)
            return result

        return call


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest) -> AsyncIterator[Helpline]:
    """A helpline whose dispatcher is not running: only the calls under test touch the store."""
    async with bare_helpline(request, "ai") as bare:
        yield bare


TEEN = "a1" * 16  # a sender key (hex, as the pseudonyms make them)


def a_sender() -> str:
    return uuid.uuid4().hex


def a_teen_message(client_id: str = "m-1", sender_key: str = TEEN) -> InboundMessage:
    return InboundMessage(Channel.WEB, sender_key, client_id, "il a diffusé mes photos", 0.0)


async def calls_of(helpline: Helpline, attempt) -> list[str]:
    """The store calls one undisturbed attempt makes (a probe: its own sender or client id)."""
    real = helpline.store
    watch = helpline.store = DyingStore(real, die_at=0, after=False)
    try:
        await attempt()
    finally:
        helpline.store = real
    return watch.calls


async def test_a_teens_message_survives_a_crash_at_any_store_call(helpline: Helpline) -> None:
    store = helpline.store
    count = len(await calls_of(helpline, lambda: helpline.receive(a_teen_message("probe", a_sender()))))
    assert count >= 3  # reads, the one store step, the follow-up
    for die_at in range(1, count + 1):
        for after in (False, True):
            sender, client_id = a_sender(), f"m-{die_at}-{after}"
            helpline.store = DyingStore(store, die_at, after)
            with pytest.raises(ProcessDied):
                await helpline.receive(a_teen_message(client_id, sender))
            helpline.store = store  # the process restarted; the widget re-sends what was not acked
            await helpline.receive(a_teen_message(client_id, sender))
            conversation = await store.active_conversation_of(sender)
            assert conversation is not None and conversation.state is ConversationState.QUEUED, (die_at, after)
            lines = [m for m in await store.messages(conversation.id) if m.author is Author.TEEN]
            assert [m.text for m in lines] == ["il a diffusé mes photos"], (die_at, after)
            claim = await store.stored_under(MessageId("web", f"{sender}:{client_id}", 60))
            assert claim is not None and (claim.conversation_id, claim.seq) == (conversation.id, lines[0].seq)
            assert conversation.id in {e.conversation_id for e in await store.queue()}


async def test_no_claim_is_left_without_its_message(helpline: Helpline) -> None:
    """Whatever call it dies at, an id is claimed only if its message is stored."""
    store = helpline.store
    count = len(await calls_of(helpline, lambda: helpline.receive(a_teen_message("probe", a_sender()))))
    for die_at in range(1, count + 1):
        for after in (False, True):
            sender = a_sender()
            helpline.store = DyingStore(store, die_at, after)
            with pytest.raises(ProcessDied):
                await helpline.receive(a_teen_message("m-1", sender))
            helpline.store = store
            claim = await store.stored_under(MessageId("web", f"{sender}:m-1", 60))
            conversation = await store.active_conversation_of(sender)
            stored = [m for m in await store.messages(conversation.id)] if conversation else []
            if claim is None:
                assert [m for m in stored if m.author is Author.TEEN] == [], (die_at, after)
            else:
                assert [m.text for m in stored if m.seq == claim.seq] == ["il a diffusé mes photos"], (die_at, after)


async def test_a_counsellors_reply_survives_a_crash_at_any_store_call(helpline: Helpline) -> None:
    store = helpline.store
    ana = await create_counsellor(store, "ana", "Ana", PASSWORD)
    await store.set_presence(ana.id, Presence.AVAILABLE, 0.0)
    await helpline.receive(a_teen_message())
    assert await helpline.dispatch_once() == 1
    conversation = await store.active_conversation_of(TEEN)
    assert conversation is not None and conversation.counsellor_id == ana.id

    def reply(client_id: str):
        return console.reply_once(helpline, ana.id, conversation.id, client_id, f"Je suis là ({client_id}).")

    count = len(await calls_of(helpline, lambda: reply("probe")))
    assert count >= 3
    for die_at in range(1, count + 1):
        for after in (False, True):
            client_id = f"r-{die_at}-{after}"
            helpline.store = DyingStore(store, die_at, after)
            with pytest.raises(ProcessDied):
                await reply(client_id)
            helpline.store = store  # the console re-sends the reply it has no ack for
            done = await reply(client_id)
            history = await store.messages(conversation.id)
            mine = [m for m in history if m.text == f"Je suis là ({client_id})."]
            assert len(mine) == 1, (die_at, after)
            assert done.duplicate or done.message == mine[0], (die_at, after)
            claim = await store.stored_under(MessageId("console", f"{ana.id}:{client_id}", 60))
            assert claim is not None and claim.seq == mine[0].seq, (die_at, after)


async def test_a_refused_reply_leaves_its_client_id_free(helpline: Helpline) -> None:
    store = helpline.store
    ana = await create_counsellor(store, "ana", "Ana", PASSWORD)
    bea = await create_counsellor(store, "bea", "Bea", PASSWORD)
    for counsellor in (ana, bea):
        await store.set_presence(counsellor.id, Presence.AVAILABLE, 0.0)
    await helpline.receive(a_teen_message())
    await helpline.dispatch_once()
    conversation = await store.active_conversation_of(TEEN)
    assert conversation is not None
    owner = ana if conversation.counsellor_id == ana.id else bea
    with pytest.raises(ProtocolError):
        await console.reply_once(helpline, owner.id, conversation.id, "r-1", "")  # an empty text: refused
    assert await store.stored_under(MessageId("console", f"{owner.id}:r-1", 60)) is None
    done = await console.reply_once(helpline, owner.id, conversation.id, "r-1", "Je suis là.")
    assert not done.duplicate and done.message is not None
    again = await console.reply_once(helpline, owner.id, conversation.id, "r-1", "Je suis là.")
    assert again.duplicate and again.message is None


async def test_a_reply_that_lost_the_conversation_in_the_store_step_is_refused(helpline: Helpline) -> None:
    """Ownership is checked in the store step itself: a close between the read and the write
    stores nothing and claims nothing."""
    store = helpline.store
    ana = await create_counsellor(store, "ana", "Ana", PASSWORD)
    await store.set_presence(ana.id, Presence.AVAILABLE, 0.0)
    await helpline.receive(a_teen_message())
    await helpline.dispatch_once()
    conversation = await store.active_conversation_of(TEEN)
    assert conversation is not None

    class ClosesFirst(DyingStore):
        async def store_reply(self, *args, **kwargs):
            await helpline.close(conversation.id, CloseReason.BY_TEEN)
            return await self._store.store_reply(*args, **kwargs)

    helpline.store = ClosesFirst(store, die_at=0, after=False)
    try:
        with pytest.raises(ProtocolError) as refused:
            await console.reply_once(helpline, ana.id, conversation.id, "r-1", "Je suis là.")
    finally:
        helpline.store = store
    assert refused.value.code == "closed"
    assert await store.stored_under(MessageId("console", f"{ana.id}:r-1", 60)) is None
    assert "Je suis là." not in [m.text for m in await store.messages(conversation.id)]
