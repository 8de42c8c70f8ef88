"""The trusted-flagger notices' store contract (issue #13): memory and Redis alike."""

from __future__ import annotations

import uuid

from gateway.core.ports import Store
from gateway.domain.notices import DEFAULT_NOTICES, Notice, move, parse_new_notice

T0 = 1_780_000_000.0
HOUR = 3600.0


def a_notice(*, conversation_id: str = "conv-a", platform: str = "instagram", at: float = T0,
             locations: list[str] | None = None) -> Notice:
    fields = parse_new_notice({"platform": platform, "content_kind": "publication",
                               "locations": locations or [f"https://www.{platform}.com/p/abc123"],
                               "offence": "226-2-1", "explanation": "Photo intime publiée sans son accord.",
                               "facts_dates": "depuis le 2 mars", "evidence": "captures d'écran du profil",
                               "consent": True}, DEFAULT_NOTICES)
    return Notice(id=uuid.uuid4().hex, conversation_id=conversation_id, counsellor_id="k1", created_at=at, **fields)


def sent(notice: Notice, at: float) -> Notice:
    return move(notice, {"state": "envoye", "channel": "formulaire prioritaire", "ticket_id": "T-42"}, at)


async def test_a_saved_notice_reads_back_whole(store: Store):
    notice = a_notice()
    await store.save_notice(notice)

    assert await store.notice(notice.id) == notice
    assert await store.notice("unknown") is None


async def test_a_later_version_replaces_the_earlier_and_moves_between_state_filters(store: Store):
    notice = a_notice()
    await store.save_notice(notice)
    later = sent(notice, T0 + HOUR)
    await store.save_notice(later)

    assert await store.notice(notice.id) == later
    assert await store.notices(state="brouillon") == []
    assert await store.notices(state="envoye") == [later]
    assert await store.notices(state="nonsense") == []


async def test_filters_combine_and_lists_are_newest_first(store: Store):
    old = a_notice(conversation_id="conv-a", platform="instagram", at=T0)
    mid = a_notice(conversation_id="conv-a", platform="tiktok", at=T0 + HOUR)
    new = a_notice(conversation_id="conv-b", platform="instagram", at=T0 + 2 * HOUR)
    for notice in (old, new, mid):
        await store.save_notice(notice)

    assert [n.id for n in await store.notices()] == [new.id, mid.id, old.id]
    assert [n.id for n in await store.notices(conversation_id="conv-a")] == [mid.id, old.id]
    assert [n.id for n in await store.notices(platform="instagram")] == [new.id, old.id]
    assert [n.id for n in await store.notices(platform="instagram", conversation_id="conv-a")] == [old.id]
    assert await store.notices(conversation_id="conv-none") == []


async def test_notices_between_finds_those_created_sent_or_decided_in_the_period(store: Store):
    drafted_before_sent_within = sent(a_notice(at=T0 - 10 * HOUR), T0 + HOUR)
    created_within = a_notice(at=T0 + 2 * HOUR)
    decided_within = move(move(sent(a_notice(at=T0 - 30 * HOUR), T0 - 20 * HOUR), {"state": "accuse_reception"},
                               T0 - 19 * HOUR), {"state": "decision", "decision": "retire"}, T0 + 3 * HOUR)
    outside = a_notice(at=T0 + 100 * HOUR)
    for notice in (drafted_before_sent_within, created_within, decided_within, outside):
        await store.save_notice(notice)

    found = await store.notices_between(T0, T0 + 50 * HOUR)

    assert [n.id for n in found] == [decided_within.id, drafted_before_sent_within.id, created_within.id]
    assert await store.notices_between(T0 + 100 * HOUR + 1, T0 + 200 * HOUR) == []
    assert [n.id for n in await store.notices_between(T0 + 100 * HOUR, T0 + 100 * HOUR + 1)] == [outside.id]


async def test_erasing_a_notice_blanks_its_personal_data_and_keeps_the_counts(store: Store):
    notice = sent(a_notice(locations=["https://www.instagram.com/p/secret-canary", "@canary_account"]), T0 + HOUR)
    await store.save_notice(notice)

    assert await store.erase_notice_content(notice.id, T0 + 5 * HOUR) is True
    kept = await store.notice(notice.id)

    assert kept is not None and kept.erased_at == T0 + 5 * HOUR
    assert kept.locations == () and kept.explanation == "" and kept.facts_dates is None
    assert kept.evidence is None and kept.ticket_id is None
    assert (kept.platform, kept.offence, kept.state, kept.sent_at) == ("instagram", "226-2-1", "envoye", T0 + HOUR)
    assert await store.erase_notice_content(notice.id, T0 + 6 * HOUR) is False  # once
    assert (await store.notice(notice.id)).erased_at == T0 + 5 * HOUR
    assert await store.erase_notice_content("unknown", T0) is False


async def test_decision_counts_cover_the_notices_sent_since(store: Store):
    def decided(at: float, decision: str) -> Notice:
        notice = move(sent(a_notice(at=at), at + HOUR), {"state": "accuse_reception"}, at + 2 * HOUR)
        return move(notice, {"state": "decision", "decision": decision}, at + 3 * HOUR)

    for notice in (decided(T0, "refuse"), decided(T0 + 10 * HOUR, "refuse"), decided(T0 + 10 * HOUR, "retire"),
                   sent(a_notice(at=T0 + 10 * HOUR), T0 + 11 * HOUR), a_notice(at=T0 + 12 * HOUR)):
        await store.save_notice(notice)

    assert await store.notice_decision_counts(T0) == {"refuse": 2, "retire": 1}
    assert await store.notice_decision_counts(T0 + 5 * HOUR) == {"refuse": 1, "retire": 1}
    assert await store.notice_decision_counts(T0 + 20 * HOUR) == {}
