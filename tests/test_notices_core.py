"""Trusted-flagger notices in the core (issue #13): who may create and follow one, what is refused,
the moves to the end and the appeal window, the export, the reminders and the supervisors'
figures, the retention. On the memory store and on Redis, with a hand-moved clock."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.core import casework, notices
from gateway.core.helpline import Helpline
from gateway.core.ports import AssignOutcome
from gateway.core.supervision import snapshot
from gateway.domain.errors import Forbidden, NotFound, NoticeConflict, NoticeRefused
from gateway.domain.model import (
    Channel,
    Conversation,
    Counsellor,
    InboundMessage,
    Role,
)
from gateway.domain.notices import EXEMPTION_STATEMENT
from tests.helplines import an_account, bare_helpline

HOUR, DAY = 3600.0, 24 * 3600.0
BODY = {"platform": "instagram", "content_kind": "publication",
        "locations": ["https://www.instagram.com/p/CANARY-loc-1/"], "offence": "226-2-1",
        "explanation": "Une photo intime de la jeune est publiée sans son accord CANARY-expl.",
        "facts_dates": "depuis le 20 novembre", "evidence": "captures d'écran CANARY-evid", "consent": True}


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest) -> AsyncIterator[Helpline]:
    """A helpline whose dispatcher is not running: conversations move only when a test says so."""
    async with bare_helpline(request, "nt") as bare:
        yield bare


async def waiting(helpline: Helpline) -> Conversation:
    received = await helpline.receive(InboundMessage(Channel.WEB, uuid.uuid4().hex, uuid.uuid4().hex, "allo",
                                                     helpline.clock.now()))
    return await helpline.store.get_conversation(received.conversation.id)


async def held(helpline: Helpline, counsellor: Counsellor) -> Conversation:
    conversation = await waiting(helpline)
    helpline.clock.advance(60)
    assert await helpline.store.try_assign(conversation.id, counsellor.id, 9, helpline.clock.now()) \
        is AssignOutcome.ASSIGNED
    return await helpline.store.get_conversation(conversation.id)


async def sent_and_decided(helpline: Helpline, who: str, notice_id: str, decision: str, *,
                           hours_to_ack: float = 2, hours_to_decision: float = 6) -> None:
    await notices.update(helpline, who, notice_id, {"state": "envoye", "channel": "formulaire", "ticket_id": "T-1"})
    helpline.clock.advance(hours_to_ack * HOUR)
    await notices.update(helpline, who, notice_id, {"state": "accuse_reception"})
    helpline.clock.advance((hours_to_decision - hours_to_ack) * HOUR)
    await notices.update(helpline, who, notice_id, {"state": "decision", "decision": decision, "automated": False})


async def test_a_counsellor_files_a_notice_from_the_conversation_and_the_audit_holds_no_text(helpline, caplog):
    caplog.set_level(logging.INFO, "gateway.audit")
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    await casework.qualify(helpline, camille.id, conversation.id, {
        "caller": "jeune", "age_band": "13_14", "categories": ["ecrans_jeux", "sextorsion"], "outcomes": ["suivi"]})

    notice = await notices.create(helpline, camille.id, conversation.id, BODY)

    assert await notices.get(helpline, camille.id, notice.id) == notice
    view = notice.view()
    assert view["state"] == "brouillon" and view["conversation_id"] == conversation.id
    assert view["dsa_category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"  # sextorsion's, the first that names one
    assert view["locations"] == BODY["locations"] and view["identity_exempt"] is False
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"]
    assert lines[-1] == {"at": lines[-1]["at"], "action": "notice_create", "by": camille.id,
                         "conversation": conversation.id, "notice": notice.id, "platform": "instagram"}
    assert "CANARY" not in caplog.text


async def test_only_the_holder_or_a_supervisor_may_file_and_read(helpline):
    camille, sacha = await an_account(helpline, "camille"), await an_account(helpline, "sacha")
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    conversation = await held(helpline, camille)

    with pytest.raises(Forbidden):
        await notices.create(helpline, sacha.id, conversation.id, BODY)
    with pytest.raises(NotFound):
        await notices.create(helpline, camille.id, "no-such-conversation", BODY)
    assert await helpline.store.notices() == []

    notice = await notices.create(helpline, chef.id, conversation.id, BODY)
    assert (await notices.get(helpline, camille.id, notice.id)).id == notice.id  # her conversation
    with pytest.raises(Forbidden):
        await notices.get(helpline, sacha.id, notice.id)
    with pytest.raises(Forbidden):
        await notices.update(helpline, sacha.id, notice.id, {"state": "envoye"})
    with pytest.raises(Forbidden):
        await notices.export(helpline, sacha.id, notice.id)
    with pytest.raises(NotFound):
        await notices.get(helpline, camille.id, "no-such-notice")
    assert (await helpline.store.notice(notice.id)).state == "brouillon"


async def test_a_waiting_conversation_cannot_have_a_notice_yet(helpline):
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    conversation = await waiting(helpline)
    with pytest.raises(NoticeRefused) as refused:
        await notices.create(helpline, chef.id, conversation.id, BODY)
    assert refused.value.field == "conversation"


@pytest.mark.parametrize("change, field", [
    ({"locations": []}, "locations"),
    ({"locations": None}, "locations"),
    ({"platform": "myspace"}, "platform"),
    ({"offence": "999-9"}, "offence"),
    ({"locations": ["htps//instagram.com/p/x"]}, "locations"),
    ({"locations": ["https://"]}, "locations"),
    ({"platform": "discord", "locations": ["https://discord.com/channels/123/abc"]}, "locations"),
    ({"consent": False}, "consent"),
    ({"explanation": "photo"}, "explanation"),
    ({"dsa_category": "STATEMENT_CATEGORY_NOPE"}, "dsa_category"),
    ({"colour": "rouge"}, "colour"),
])
async def test_bad_input_names_the_field_in_french_and_stores_nothing(helpline, change, field):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}

    with pytest.raises(NoticeRefused) as refused:
        await notices.create(helpline, camille.id, conversation.id, body)

    assert refused.value.field == field and refused.value.http_status == 400
    assert refused.value.message[0].isupper() and refused.value.message.endswith(".")
    assert await helpline.store.notices() == []


async def test_discord_message_links_and_identifiers_are_accepted(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    notice = await notices.create(helpline, camille.id, conversation.id, {
        **BODY, "platform": "discord", "content_kind": "message",
        "locations": ["https://discord.com/channels/1122334455/66778899/1234567890123", "@pseudo_du_harceleur",
                      "https://discord.com/channels/@me/66778899/1234567890123"]})
    assert len(notice.locations) == 3


async def test_a_notice_is_followed_to_its_decision_forward_only(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    notice = await notices.create(helpline, camille.id, conversation.id, BODY)
    edited = await notices.update(helpline, camille.id, notice.id, {"evidence": "captures et lien du profil"})
    assert edited.evidence == "captures et lien du profil" and edited.locations == notice.locations

    with pytest.raises(NoticeConflict):  # skips envoye
        await notices.update(helpline, camille.id, notice.id, {"state": "accuse_reception"})
    with pytest.raises(NoticeConflict):
        await notices.update(helpline, camille.id, notice.id, {"state": "decision", "decision": "retire"})
    await sent_and_decided(helpline, camille.id, notice.id, "retire", hours_to_ack=2, hours_to_decision=6)

    done = await notices.get(helpline, camille.id, notice.id)
    assert (done.state, done.decision, done.channel, done.ticket_id) == ("decision", "retire", "formulaire", "T-1")
    assert done.hours_to_ack == 2 and done.hours_to_removal == 6 and done.automated is False
    for backward in ({"state": "envoye"}, {"state": "brouillon"}, {"state": "decision", "decision": "refuse"}):
        with pytest.raises(NoticeConflict) as conflict:
            await notices.update(helpline, camille.id, notice.id, backward)
        assert conflict.value.http_status == 409
    with pytest.raises(NoticeConflict):  # no more edits once sent
        await notices.update(helpline, camille.id, notice.id, {"evidence": "autre chose"})
    assert await notices.get(helpline, camille.id, notice.id) == done


async def test_a_decision_needs_its_value_and_a_refusal_has_no_removal_time(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    notice = await notices.create(helpline, camille.id, conversation.id, BODY)
    await notices.update(helpline, camille.id, notice.id, {"state": "envoye"})
    await notices.update(helpline, camille.id, notice.id, {"state": "accuse_reception"})
    with pytest.raises(NoticeRefused) as refused:
        await notices.update(helpline, camille.id, notice.id, {"state": "decision"})
    assert refused.value.field == "decision"
    with pytest.raises(NoticeRefused):
        await notices.update(helpline, camille.id, notice.id, {"state": "decision", "decision": "peut-etre"})

    helpline.clock.advance(HOUR)
    refused_one = await notices.update(helpline, camille.id, notice.id, {"state": "decision", "decision": "refuse"})
    assert refused_one.hours_to_removal is None and refused_one.channel == "manuel"


async def test_an_appeal_is_filed_within_six_months_of_the_decision_then_decided(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    early = await notices.create(helpline, camille.id, conversation.id, BODY)
    late = await notices.create(helpline, camille.id, conversation.id, {**BODY, "platform": "tiktok"})
    with pytest.raises(NoticeConflict):  # no decision yet
        await notices.update(helpline, camille.id, early.id, {"appeal": "depose"})
    await sent_and_decided(helpline, camille.id, early.id, "refuse")
    await sent_and_decided(helpline, camille.id, late.id, "refuse")
    with pytest.raises(NoticeConflict):  # a result before filing
        await notices.update(helpline, camille.id, early.id, {"appeal": "accepte"})

    helpline.clock.advance(170 * DAY)
    filed = await notices.update(helpline, camille.id, early.id, {"appeal": "depose"})
    assert filed.appeal == "depose" and filed.appeal_at == helpline.clock.now()
    assert (await notices.update(helpline, camille.id, early.id, {"appeal": "accepte"})).appeal == "accepte"
    with pytest.raises(NoticeConflict):
        await notices.update(helpline, camille.id, early.id, {"appeal": "rejete"})

    helpline.clock.advance(20 * DAY)  # 190 days: past six calendar months
    with pytest.raises(NoticeConflict) as conflict:
        await notices.update(helpline, camille.id, late.id, {"appeal": "depose"})
    assert "6 mois" in conflict.value.message
    assert (await notices.get(helpline, camille.id, late.id)).appeal is None


async def test_counsellors_list_the_notices_of_their_conversations_supervisors_all(helpline):
    camille, sacha = await an_account(helpline, "camille"), await an_account(helpline, "sacha")
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    hers = await notices.create(helpline, camille.id, (await held(helpline, camille)).id, BODY)
    helpline.clock.advance(10)
    his = await notices.create(helpline, sacha.id, (await held(helpline, sacha)).id, {**BODY, "platform": "tiktok"})
    await notices.update(helpline, sacha.id, his.id, {"state": "envoye"})

    assert [n.id for n in await notices.list_for(helpline, camille.id)] == [hers.id]
    assert [n.id for n in await notices.list_for(helpline, chef.id)] == [his.id, hers.id]
    assert [n.id for n in await notices.list_for(helpline, chef.id, state="envoye")] == [his.id]
    assert [n.id for n in await notices.list_for(helpline, chef.id, platform="instagram")] == [hers.id]
    assert await notices.list_for(helpline, camille.id, platform="tiktok") == []


async def test_the_export_has_every_art16_element_of_this_notice_only(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    named = await notices.create(helpline, camille.id, conversation.id, BODY)
    other = await notices.create(helpline, camille.id, (await held(helpline, camille)).id, {
        **BODY, "offence": "227-23", "locations": ["https://www.instagram.com/p/OTHER-CANARY/"],
        "explanation": "Images pédocriminelles OTHER-CANARY-expl envoyées à la jeune."})

    document = await notices.export(helpline, camille.id, named.id)
    assert document["explanation"] == BODY["explanation"] and document["locations"] == BODY["locations"]
    assert document["notifier"] == {"name": helpline.config.notices.notifier_name,
                                    "email": helpline.config.notices.notifier_email}
    assert document["good_faith"] == helpline.config.notices.good_faith
    assert document["platform"]["provider"] == "Meta Platforms Ireland Ltd"
    assert document["offence"]["value"] == "226-2-1" and document["evidence"] == BODY["evidence"]
    text = json.dumps(document, ensure_ascii=False)
    assert "OTHER-CANARY" not in text and conversation.id not in text and conversation.alias not in text

    exempt = await notices.export(helpline, camille.id, other.id)
    assert exempt["notifier"] is None and exempt["notifier_exemption"] == EXEMPTION_STATEMENT
    assert helpline.config.notices.notifier_email not in json.dumps(exempt)


async def test_unanswered_notices_are_reminded_per_platform_and_supervisors_see_the_refused_share(helpline):
    camille = await an_account(helpline, "camille")
    chef = await an_account(helpline, "chef", Role.SUPERVISOR)
    conversation = await held(helpline, camille)
    assert (await snapshot(helpline))["refused_share"] is None
    waiting_one = await notices.create(helpline, camille.id, conversation.id, BODY)
    await notices.update(helpline, camille.id, waiting_one.id, {"state": "envoye"})
    for decision in ("retire", "refuse", "compte_suspendu", "sans_reponse"):
        decided = await notices.create(helpline, camille.id, conversation.id, BODY)
        await sent_and_decided(helpline, camille.id, decided.id, decision)

    helpline.clock.advance(40 * HOUR)  # the first was sent 4 × 6 h + 40 h = 64 h ago; instagram waits 48 h
    assert [n.id for n in await notices.overdue(helpline)] == [waiting_one.id]
    await notices.update(helpline, camille.id, waiting_one.id, {"state": "accuse_reception"})
    assert [n.id for n in await notices.overdue(helpline)] == [waiting_one.id]  # acknowledged is not answered

    picture = await snapshot(helpline)
    assert picture["notices_overdue"] == 1
    assert picture["refused_share"] == pytest.approx(1 / 3)  # sans_reponse is not a decision
    await notices.update(helpline, chef.id, waiting_one.id, {"state": "decision", "decision": "retire"})
    assert (await snapshot(helpline))["notices_overdue"] == 0


async def test_personal_data_is_erased_after_the_appeal_window_and_the_counts_stay(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    closed = await notices.create(helpline, camille.id, conversation.id, BODY)
    appealed = await notices.create(helpline, camille.id, conversation.id, BODY)
    still_open = await notices.create(helpline, camille.id, conversation.id, BODY)
    await sent_and_decided(helpline, camille.id, closed.id, "retire")
    await sent_and_decided(helpline, camille.id, appealed.id, "refuse")
    await notices.update(helpline, camille.id, appealed.id, {"appeal": "depose"})
    await notices.update(helpline, camille.id, still_open.id, {"state": "envoye"})
    options = helpline.config.notices

    window_end = (await helpline.store.notice(closed.id)).appeal_until(options.appeal_months)
    assert 180 * DAY < window_end - helpline.clock.now() < 181 * DAY  # decided 24 Nov 2026, 6 h ago: 24 May 2027
    helpline.clock.set(window_end + options.keep_days_after_close * DAY - HOUR)
    assert await notices.erase_expired(helpline.store, options, helpline.clock.now()) == 0
    helpline.clock.advance(2 * HOUR)
    assert await notices.erase_expired(helpline.store, options, helpline.clock.now()) == 1

    gone = await helpline.store.notice(closed.id)
    assert gone.locations == () and gone.explanation == "" and gone.evidence is None
    assert (gone.platform, gone.decision, gone.hours_to_removal) == ("instagram", "retire", 6)
    for kept in (appealed.id, still_open.id):  # an appeal pending, a notice without answer: open
        assert (await helpline.store.notice(kept)).locations == tuple(BODY["locations"])
    with pytest.raises(NoticeConflict):
        await notices.export(helpline, camille.id, closed.id)
    assert await notices.erase_expired(helpline.store, options, helpline.clock.now()) == 0


async def test_a_platform_that_never_acknowledged_is_recorded_without_answer_only(helpline):
    camille = await an_account(helpline, "camille")
    conversation = await held(helpline, camille)
    notice = await notices.create(helpline, camille.id, conversation.id, BODY)
    await notices.update(helpline, camille.id, notice.id, {"state": "envoye"})
    with pytest.raises(NoticeConflict):
        await notices.update(helpline, camille.id, notice.id, {"state": "decision", "decision": "retire"})
    with pytest.raises(NoticeRefused) as refused:
        await notices.update(helpline, camille.id, notice.id, {"state": "archive"})
    assert refused.value.field == "state"
    with pytest.raises(NoticeRefused) as refused:  # a move carries only its own fields
        await notices.update(helpline, camille.id, notice.id, {"state": "accuse_reception", "evidence": "x"})
    assert refused.value.field == "evidence"

    helpline.clock.advance(10 * DAY)
    silent = await notices.update(helpline, camille.id, notice.id, {"state": "decision", "decision": "sans_reponse"})
    assert silent.acknowledged_at is None and silent.hours_to_ack is None and silent.hours_to_removal is None
    with pytest.raises(NoticeConflict):  # nothing to appeal
        await notices.update(helpline, camille.id, notice.id, {"appeal": "depose"})
