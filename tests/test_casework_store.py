"""The qualification records' store contract (casework, issue #12): memory and Redis alike."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from gateway.core.ports import AssignOutcome, Store
from gateway.domain.casework import DEFAULT_CASEWORK, Qualification, parse_qualification
from gateway.domain.model import (
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    Presence,
)

T0 = 1_700_000_000.0


def a_conversation(sender: str) -> Conversation:
    return Conversation(id=uuid.uuid4().hex, channel=Channel.MESSENGER, sender_key=sender, alias=f"alias-{sender}",
                        state=ConversationState.QUEUED, opened_at=T0, queued_at=T0)


async def a_counsellor(store: Store, name: str) -> Counsellor:
    counsellor = Counsellor(id=uuid.uuid4().hex, username=name, display_name=name.title(), password_hash="x",
                            presence=Presence.AVAILABLE)
    await store.add_counsellor(counsellor)
    return counsellor


async def held_then_closed(store: Store, counsellor: Counsellor, sender: str, *, assigned_at: float = T0 + 60,
                           closed_at: float | None = T0 + 600) -> Conversation:
    """A conversation a counsellor took (and closed, unless `closed_at` is None)."""
    conversation = a_conversation(sender)
    assert (await store.create_or_get_active(conversation))[1]
    assert await store.try_assign(conversation.id, counsellor.id, 99, assigned_at) is AssignOutcome.ASSIGNED
    if closed_at is not None:
        assert await store.close_conversation(conversation.id, CloseReason.BY_COUNSELLOR, closed_at) is not None
    found = await store.get_conversation(conversation.id)
    assert found is not None
    return found


def qualification_of(conversation: Conversation, *, summary: str | None = "harcelée sur insta",
                     categories: list[str] | None = None, at: float = T0 + 700) -> Qualification:
    fields = parse_qualification({"caller": "jeune", "age_band": "13_14", "gender": "fille",
                                  "categories": categories or ["cyberharcelement", "sextorsion"],
                                  "platforms": ["instagram"], "outcomes": ["signalement_plateforme"],
                                  "summary": summary}, DEFAULT_CASEWORK)
    return Qualification.of(conversation, fields, conversation.counsellor_id or "someone", at)


async def test_a_saved_qualification_reads_back_whole(store: Store):
    counsellor = await a_counsellor(store, "camille")
    conversation = await held_then_closed(store, counsellor, "s1")
    saved = qualification_of(conversation)
    await store.save_qualification(saved)

    assert await store.qualification_of(conversation.id) == saved
    assert saved.wait_seconds == 60 and saved.duration_seconds == 540
    assert await store.qualification_of("unknown") is None


async def test_a_later_qualification_replaces_the_earlier_one(store: Store):
    counsellor = await a_counsellor(store, "camille")
    conversation = await held_then_closed(store, counsellor, "s1")
    await store.save_qualification(qualification_of(conversation))
    later = qualification_of(conversation, categories=["arnaque"], summary=None, at=T0 + 900)
    await store.save_qualification(later)

    assert await store.qualification_of(conversation.id) == later
    assert [q.conversation_id for q in await store.qualifications_since(0)] == [conversation.id]


async def test_values_in_use_follow_replacements_and_deletions(store: Store):
    counsellor = await a_counsellor(store, "camille")
    first = await held_then_closed(store, counsellor, "s1")
    second = await held_then_closed(store, counsellor, "s2", closed_at=T0 + 10_000)
    await store.save_qualification(qualification_of(first, categories=["sextorsion"]))
    await store.save_qualification(qualification_of(second, categories=["arnaque"]))
    assert (await store.values_in_use())["categories"] == {"sextorsion", "arnaque"}

    await store.save_qualification(qualification_of(first, categories=["arnaque"]))
    in_use = await store.values_in_use()
    assert in_use["categories"] == {"arnaque"}
    assert in_use["caller"] == {"jeune"} and in_use["platforms"] == {"instagram"}

    assert await store.delete_qualifications_closed_before(T0 + 5_000) == 1
    assert await store.qualification_of(first.id) is None
    assert (await store.values_in_use())["categories"] == {"arnaque"}
    assert await store.delete_qualifications_closed_before(T0 + 20_000) == 1
    assert all(not values for values in (await store.values_in_use()).values())
    assert await store.delete_qualifications_closed_before(T0 + 20_000) == 0


async def test_reports_read_records_by_their_close(store: Store):
    counsellor = await a_counsellor(store, "camille")
    early = await held_then_closed(store, counsellor, "s1", closed_at=T0 + 600)
    late = await held_then_closed(store, counsellor, "s2", closed_at=T0 + 5_000)
    for conversation in (late, early):
        await store.save_qualification(qualification_of(conversation, at=T0 + 9_000))

    assert [q.conversation_id for q in await store.qualifications_since(T0)] == [early.id, late.id]
    assert [q.conversation_id for q in await store.qualifications_since(T0 + 1_000)] == [late.id]


async def test_unqualified_closed_lists_what_waits_for_a_qualification(store: Store):
    camille, sacha = await a_counsellor(store, "camille"), await a_counsellor(store, "sacha")
    older = await held_then_closed(store, camille, "s1", closed_at=T0 + 600)
    newer = await held_then_closed(store, camille, "s2", closed_at=T0 + 900)
    qualified = await held_then_closed(store, camille, "s3")
    await held_then_closed(store, camille, "s4", closed_at=None)  # still open
    theirs = await held_then_closed(store, sacha, "s5")
    abandoned = a_conversation("s6")
    await store.create_or_get_active(abandoned)
    await store.close_conversation(abandoned.id, CloseReason.ABANDONED, T0 + 100)  # nobody held it
    await store.save_qualification(qualification_of(qualified))

    assert [c.id for c in await store.unqualified_closed(camille.id, 100)] == [newer.id, older.id]
    assert [c.id for c in await store.unqualified_closed(camille.id, 1)] == [newer.id]
    assert {c.id for c in await store.unqualified_closed(None, 100)} == {newer.id, older.id, theirs.id}

    await store.save_qualification(qualification_of(newer))
    assert [c.id for c in await store.unqualified_closed(camille.id, 100)] == [older.id]


async def test_erasing_the_conversation_drops_the_summary_and_keeps_the_record(store: Store):
    counsellor = await a_counsellor(store, "camille")
    conversation = await held_then_closed(store, counsellor, "s1")
    saved = qualification_of(conversation, summary="il me menace de publier mes photos")
    await store.save_qualification(saved)

    assert await store.erase_conversation(conversation.id, T0 + 30 * 86400)
    assert await store.qualification_of(conversation.id) == replace(saved, summary=None)
    assert await store.unqualified_closed(None, 100) == []  # erased: past the retention, off the list


async def test_an_open_conversation_keeps_its_summary_when_an_erase_is_refused(store: Store):
    counsellor = await a_counsellor(store, "camille")
    conversation = await held_then_closed(store, counsellor, "s1", closed_at=None)
    saved = qualification_of(conversation)
    await store.save_qualification(saved)

    assert not await store.erase_conversation(conversation.id, T0 + 1_000)
    assert (await store.qualification_of(conversation.id)).summary == saved.summary


@pytest.mark.parametrize("summary", [None, "a"])
async def test_a_record_qualified_while_open_counts_from_its_qualification(store: Store, summary):
    counsellor = await a_counsellor(store, "camille")
    conversation = await held_then_closed(store, counsellor, "s1", closed_at=None)
    saved = qualification_of(conversation, summary=summary, at=T0 + 300)
    await store.save_qualification(saved)

    assert saved.closed_at is None and saved.duration_seconds is None and saved.ended_at == T0 + 300
    assert await store.delete_qualifications_closed_before(T0 + 299) == 0
    assert await store.delete_qualifications_closed_before(T0 + 301) == 1


async def test_the_record_holds_no_pseudonym_alias_nor_platform_id(store: Store):
    counsellor = await a_counsellor(store, "camille")
    conversation = replace(await held_then_closed(store, counsellor, "sender-key-canary"),
                           reply_to="PSID-canary", business_id="PAGE-canary")
    saved = qualification_of(conversation, summary="résumé\x00 avec\x07 contrôle")
    await store.save_qualification(saved)

    stored = repr((await store.qualification_of(conversation.id)).record())
    assert "canary" not in stored and "alias" not in stored
    assert "summary" not in repr(saved)  # never in a log line of the object
    assert saved.summary == "résumé avec contrôle"  # control characters dropped
