"""The per-message hot path reads no more than it needs (issue #15 item 1), and still keeps
its promises: a split danger phrase is raised, a re-sent reply is a duplicate even once the
conversation closed, a widget line in an open conversation is stored without reading which
conversation is open. On the memory store and on Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.core import counsellor as console
from gateway.core import teen
from gateway.core.helpline import Helpline
from gateway.domain.model import Channel, CloseReason, InboundMessage
from gateway.domain.triage import parse_triage
from tests.helplines import an_account, bare_helpline

TRIAGE = parse_triage(None)  # the built-in rules


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest) -> AsyncIterator[Helpline]:
    async with bare_helpline(request, "hp") as bare:
        yield bare


class CountingStore:
    """Delegates to a store and names each call made through it."""

    def __init__(self, store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)
        return call


def words(text: str) -> str:
    return TRIAGE.normalise(text)


def test_only_a_line_that_can_finish_a_phrase_is_read_with_the_lines_before():
    assert TRIAGE.may_finish_a_phrase(words("de mourir"), 0)  # "j'ai envie" / "de mourir"
    assert TRIAGE.may_finish_a_phrase(words("mourir"), 0)
    assert not TRIAGE.may_finish_a_phrase(words("bonjour, je voulais parler"), 0)
    assert not TRIAGE.may_finish_a_phrase(words(""), 0)
    assert not TRIAGE.may_finish_a_phrase(words("de mourir"), TRIAGE.top_priority)  # nothing stronger
    assert not parse_triage({"enabled": False}).may_finish_a_phrase(words("de mourir"), 0)


def test_the_line_already_normalised_is_not_normalised_again():
    known = {"de mourir": words("de mourir")}
    assert TRIAGE.assess_lines(["j'ai envie", "de mourir"], known) == TRIAGE.assess_lines(["j'ai envie", "de mourir"])
    assert TRIAGE.assess_normalised(words("je veux mourir")) == TRIAGE.assess("je veux mourir")


async def test_an_ordinary_line_in_an_open_conversation_reads_no_history(helpline: Helpline) -> None:
    sender = uuid.uuid4().hex
    first = await helpline.receive(InboundMessage(Channel.WEB, sender, "m-1", "bonjour", helpline.clock.now()))
    store, counting = helpline.store, CountingStore(helpline.store)
    helpline.store = counting
    try:
        written = await teen.write(helpline, helpline.teen_limits, sender, "m-2", "je voulais parler",
                                   first.conversation.id, lambda *_: None)
    finally:
        helpline.store = store
    assert not written.duplicate and written.message.conversation_id == first.conversation.id
    assert "messages" not in counting.calls and "active_conversation_of" not in counting.calls
    assert [m.text for m in await store.messages(first.conversation.id)][-1] == "je voulais parler"


async def test_a_danger_phrase_split_over_two_lines_still_raises(helpline: Helpline) -> None:
    sender = uuid.uuid4().hex
    first = await helpline.receive(InboundMessage(Channel.WEB, sender, "m-1", "j'ai envie", helpline.clock.now()))
    assert first.conversation.priority == 0
    await teen.write(helpline, helpline.teen_limits, sender, "m-2", "de mourir", first.conversation.id,
                     lambda *_: None)
    raised = await helpline.store.get_conversation(first.conversation.id)
    assert raised.priority > 0 and raised.priority_reason


async def test_a_bound_socket_whose_conversation_closed_opens_a_new_one(helpline: Helpline) -> None:
    sender = uuid.uuid4().hex
    first = await helpline.receive(InboundMessage(Channel.WEB, sender, "m-1", "bonjour", helpline.clock.now()))
    await helpline.close(first.conversation.id, CloseReason.BY_TEEN)
    listened: list[str] = []
    written = await teen.write(helpline, helpline.teen_limits, sender, "m-2", "re-bonjour", first.conversation.id,
                               lambda conversation_id, state: listened.append(conversation_id))
    assert written.message.conversation_id != first.conversation.id
    assert written.status is not None and listened == [written.message.conversation_id]
    again = await teen.write(helpline, helpline.teen_limits, sender, "m-2", "re-bonjour",
                             written.message.conversation_id, lambda *_: None)
    assert again.duplicate


async def test_a_reply_resent_once_the_conversation_closed_is_a_duplicate(helpline: Helpline) -> None:
    ana = await an_account(helpline, "ana")
    sender = uuid.uuid4().hex
    await helpline.receive(InboundMessage(Channel.WEB, sender, "m-1", "bonjour", helpline.clock.now()))
    assert await helpline.dispatch_once() == 1
    conversation = await helpline.store.active_conversation_of(sender)
    done = await console.reply_once(helpline, ana.id, conversation.id, "r-1", "Je suis là.")
    assert not done.duplicate and done.conversation_id == conversation.id
    await helpline.close(conversation.id, CloseReason.BY_TEEN)
    again = await console.reply_once(helpline, ana.id, conversation.id, "r-1", "Je suis là.")
    assert again.duplicate and again.message is None and again.conversation_id == conversation.id
