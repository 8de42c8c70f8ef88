"""Casework use cases of the core (issue #12): who may qualify, what is refused, the "to qualify"
list and count, internal notes. On the memory store and on Redis, with a hand-moved clock."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.core import casework
from gateway.core.helpline import Helpline
from gateway.core.ports import AssignOutcome
from gateway.core.supervision import snapshot
from gateway.domain.errors import (
    Forbidden,
    NotFound,
    ProtocolError,
    QualificationRefused,
)
from gateway.domain.model import (
    Author,
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    InboundMessage,
    Role,
)
from tests.harness import make_config
from tests.helplines import an_account, bare_helpline

BODY = {"caller": "jeune", "age_band": "13_14", "categories": ["sextorsion"], "platforms": ["snapchat"],
        "outcomes": ["orientation_pharos", "signalement_plateforme"], "summary": "chantage à la webcam"}


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest) -> AsyncIterator[Helpline]:
    """A helpline whose dispatcher is not running: conversations move only when a test says so."""
    async with bare_helpline(request, "cw") as bare:
        yield bare


async def a_teen_writes(helpline: Helpline) -> Conversation:
    received = await helpline.receive(InboundMessage(Channel.WEB, uuid.uuid4().hex, uuid.uuid4().hex, "allo",
                                                     helpline.clock.now()))
    conversation = await helpline.store.get_conversation(received.conversation.id)
    assert conversation is not None and conversation.state is ConversationState.QUEUED
    return conversation


async def held(helpline: Helpline, counsellor: Counsellor, *, close: bool = True) -> Conversation:
    """A conversation the counsellor took after 2 minutes and, unless told, closed 10 minutes later."""
    conversation = await a_teen_writes(helpline)
    helpline.clock.advance(120)
    assert await helpline.store.try_assign(conversation.id, counsellor.id, 9, helpline.clock.now()) \
        is AssignOutcome.ASSIGNED
    if close:
        helpline.clock.advance(600)
        await helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)
    found = await helpline.store.get_conversation(conversation.id)
    assert found is not None
    return found


async def test_the_counsellor_qualifies_a_closed_conversation_and_it_leaves_the_list(helpline, caplog):
    caplog.set_level(logging.INFO, "gateway.audit")
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    assert [c.id for c in await casework.to_qualify(helpline, camille.id)] == [conversation.id]

    stored = await casework.qualify(helpline, camille.id, conversation.id, BODY)

    assert await casework.qualification(helpline, camille.id, conversation.id) == stored
    view = stored.view()
    assert view["categories"] == ["sextorsion"] and view["counsellor_id"] == camille.id
    assert view["wait_seconds"] == 120 and view["duration_seconds"] == 600 and view["channel"] == "web"
    assert await casework.to_qualify(helpline, camille.id) == []
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"]
    assert line == {"at": line["at"], "action": "qualify", "by": camille.id, "conversation": conversation.id,
                    "replaced": 0}
    assert "webcam" not in caplog.text  # the summary is never audited


async def test_a_qualification_made_while_assigned_gets_the_close_times(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille, close=False)
    early = await casework.qualify(helpline, camille.id, conversation.id, BODY)
    assert early.closed_at is None and early.duration_seconds is None

    helpline.clock.advance(300)
    await helpline.close(conversation.id, CloseReason.BY_TEEN)

    later = await casework.qualification(helpline, camille.id, conversation.id)
    assert later.closed_at == helpline.clock.now() and later.duration_seconds == 300
    assert await casework.to_qualify(helpline, camille.id) == []


async def test_a_later_qualification_replaces_the_earlier(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    await casework.qualify(helpline, camille.id, conversation.id, BODY)
    await casework.qualify(helpline, camille.id, conversation.id, {**BODY, "categories": ["arnaque"]})

    assert (await casework.qualification(helpline, camille.id, conversation.id)).categories == ("arnaque",)
    assert (await helpline.store.values_in_use())["categories"] == {"arnaque"}


async def test_someone_elses_conversation_is_forbidden_but_a_supervisor_may(helpline):
    camille, sacha = await an_account(helpline, "camille"), await an_account(helpline, "sacha")
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    conversation = await held(helpline, camille)

    with pytest.raises(Forbidden):
        await casework.qualify(helpline, sacha.id, conversation.id, BODY)
    with pytest.raises(Forbidden):
        await casework.qualification(helpline, sacha.id, conversation.id)
    assert await helpline.store.qualification_of(conversation.id) is None

    stored = await casework.qualify(helpline, chef.id, conversation.id, BODY)
    assert stored.counsellor_id == camille.id  # the record names who held it; the audit who qualified


async def test_an_unknown_conversation_is_not_found(helpline):
    camille = await an_account(helpline, "camille")
    for unknown in ("nope", "", None, 42):
        with pytest.raises(NotFound):
            await casework.qualify(helpline, camille.id, unknown, BODY)
    conversation = await held(helpline, camille)
    with pytest.raises(NotFound):
        await casework.qualification(helpline, camille.id, conversation.id)  # not qualified yet


async def test_a_waiting_conversation_cannot_be_qualified(helpline):
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    conversation = await a_teen_writes(helpline)

    with pytest.raises(QualificationRefused) as refused:
        await casework.qualify(helpline, chef.id, conversation.id, BODY)
    assert refused.value.field == "conversation" and refused.value.http_status == 400


@pytest.mark.parametrize(("body", "field", "words"), [
    ({**BODY, "categories": ["nimporte"]}, "categories", "Catégorie inconnue"),
    ({k: v for k, v in BODY.items() if k != "caller"}, "caller", "obligatoire"),
    ({**BODY, "outcomes": []}, "outcomes", "au moins une"),
    ({**BODY, "summary": "x" * 501}, "summary", "500 caractères"),
    ({**BODY, "platforms": ["snapchat", "snapchat"]}, "platforms", "deux fois"),
    ({**BODY, "humeur": "bof"}, "humeur", "Champ inconnu"),
    ({**BODY, "age_band": 14}, "age_band", "Tranche d'âge"),
    (["jeune"], "body", "objet"),
])
async def test_a_bad_qualification_names_its_field_and_stores_nothing(helpline, body, field, words):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)

    with pytest.raises(QualificationRefused) as refused:
        await casework.qualify(helpline, camille.id, conversation.id, body)

    assert refused.value.field == field and words in refused.value.message
    assert await helpline.store.qualification_of(conversation.id) is None
    assert [c.id for c in await casework.to_qualify(helpline, camille.id)] == [conversation.id]


async def test_only_conversations_someone_talked_in_wait_for_a_qualification(helpline):
    camille, sacha = await an_account(helpline, "camille"), await an_account(helpline, "sacha")
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    first = await held(helpline, camille)
    second = await held(helpline, camille)
    await held(helpline, sacha)
    await held(helpline, camille, close=False)  # still open
    left = await a_teen_writes(helpline)
    await helpline.close(left.id, CloseReason.ABANDONED)  # nobody held it

    assert [c.id for c in await casework.to_qualify(helpline, camille.id)] == [second.id, first.id]
    assert (await snapshot(helpline))["to_qualify"] == 3

    await casework.qualify(helpline, chef.id, first.id, BODY)
    assert (await snapshot(helpline))["to_qualify"] == 2


async def test_an_internal_note_reaches_counsellors_only_at_any_time(helpline):
    camille, sacha = await an_account(helpline, "camille"), await an_account(helpline, "sacha")
    conversation = await held(helpline, camille, close=False)

    during = await casework.add_note(helpline, camille.id, conversation.id, "  a parlé de son frère  ")
    await helpline.close(conversation.id, CloseReason.BY_COUNSELLOR)
    after = await casework.add_note(helpline, camille.id, conversation.id, "rappel : orienter 119")

    assert (during.author, during.text, after.author) == (Author.NOTE, "a parlé de son frère", Author.NOTE)
    with pytest.raises(ProtocolError) as refused:
        await casework.add_note(helpline, sacha.id, conversation.id, "pas à moi")
    assert refused.value.code == "not_yours"
    with pytest.raises(ProtocolError):
        await casework.add_note(helpline, camille.id, conversation.id, "   ")
    notes = [m.text for m in await helpline.store.messages(conversation.id) if m.author is Author.NOTE]
    assert notes == ["a parlé de son frère", "rappel : orienter 119"]


async def test_a_reload_may_add_a_value_but_not_remove_one_in_use(helpline):
    camille = await an_account(helpline, "camille")
    await casework.qualify(helpline, camille.id, (await held(helpline, camille)).id, BODY)
    lists = helpline.config.casework.view()
    others = [c for c in lists["categories"] if c["value"] != "sextorsion"]
    unused_gone = [c for c in lists["categories"] if c["value"] != "arnaque"]

    without = make_config(casework={"categories": others, "heavy_categories": ["pedocriminalite_grooming"]})
    refusal = await casework.reload_refusal(helpline, without)
    assert refusal is not None and refusal.key == "casework.categories" and "sextorsion" in refusal.problem
    assert await casework.reload_refusal(helpline, make_config(casework={"categories": unused_gone})) is None
    added = [*lists["platforms"], {"value": "bereal", "label": "BeReal"}]
    assert await casework.reload_refusal(helpline, make_config(casework={"platforms": added})) is None
