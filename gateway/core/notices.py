"""Trusted-flagger notices use cases (issue #13): create one from a conversation, edit the
draft, move it to the end, export it, list what waits for an answer, erase what is past retention.

Who may: the counsellor holding the conversation (or who held it at the close, the same
`counsellor_id`), the counsellor who wrote the notice, or a supervisor/admin; others get
Forbidden, unknown ids NotFound. The rules of a notice are the domain's
(gateway/domain/notices.py); this module checks who asks, stores, and audits (ids, states and
decisions only: never a location, an explanation or a ticket id).

Sending: platforms' intake is manual today (the counsellor sends the export through the
priority channel and records `envoye`). `NoticeSender` is the seam for the day a platform
offers an API: one small sender per platform in `SENDERS`, none means manual.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.core import audit
from gateway.domain.errors import Forbidden, NotFound, NoticeConflict, NoticeRefused
from gateway.domain.notices import (
    DEFAULT_DSA,
    Notice,
    NoticeOptions,
    erase_due_at,
    is_move,
    is_overdue,
    move,
    notice_document,
    parse_edit,
    parse_new_notice,
    refused_share_of,
)
from gateway.domain.permissions import supervises

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline
    from gateway.core.ports import Store
    from gateway.domain.model import Conversation

log = logging.getLogger(__name__)

YEAR_SECONDS = 365 * 24 * 3600  # the supervisors' live refused share looks back this far


# --- the sender seam -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SentReceipt:
    channel: str
    ticket_id: str | None


class NoticeSender(Protocol):
    """One platform's API intake (none exists yet): sends the Art. 16(2) document."""

    async def send(self, document: dict) -> SentReceipt: ...


SENDERS: dict[str, NoticeSender] = {}  # platform value → sender; absent: manual (the default)


def options(helpline: Helpline) -> NoticeOptions:
    """GET /api/notices/options and the console's form."""
    return helpline.config.notices


# --- who may -----------------------------------------------------------------------------------
async def _conversation(helpline: Helpline, conversation_id: object) -> Conversation:
    found = await helpline.store.get_conversation(conversation_id) \
        if isinstance(conversation_id, str) and conversation_id else None
    if found is None:
        raise NotFound("Conversation inconnue.")
    return found


async def _supervises(helpline: Helpline, counsellor_id: str) -> bool:
    return supervises(await helpline.store.get_counsellor(counsellor_id))


async def _readable(helpline: Helpline, counsellor_id: str, notice_id: object) -> Notice:
    """The notice if this account may see and follow it; NotFound / Forbidden otherwise."""
    notice = await helpline.store.notice(notice_id) if isinstance(notice_id, str) and notice_id else None
    if notice is None:
        raise NotFound("Signalement inconnu.")
    if notice.counsellor_id == counsellor_id or await _supervises(helpline, counsellor_id):
        return notice
    conversation = await helpline.store.get_conversation(notice.conversation_id)
    if conversation is not None and conversation.counsellor_id == counsellor_id:
        return notice
    raise Forbidden("Ce signalement concerne une conversation qui n'est pas la vôtre.")


async def _default_dsa(helpline: Helpline, conversation_id: str) -> str:
    """The DSA category of the conversation's first qualified category that names one."""
    qualification = await helpline.store.qualification_of(conversation_id)
    if qualification is None:
        return DEFAULT_DSA
    dsa_of = {c.value: c.dsa for c in helpline.config.casework.categories}
    named = [dsa_of[c] for c in qualification.categories if dsa_of.get(c, DEFAULT_DSA) != DEFAULT_DSA]
    return named[0] if named else DEFAULT_DSA


# --- use cases ---------------------------------------------------------------------------------
async def create(helpline: Helpline, counsellor_id: str, conversation_id: object, body: object) -> Notice:
    """A new draft notice from this conversation (several per conversation are fine); audited."""
    conversation = await _conversation(helpline, conversation_id)
    if conversation.counsellor_id != counsellor_id and not await _supervises(helpline, counsellor_id):
        raise Forbidden("Cette conversation n'est pas la vôtre.")
    if conversation.assigned_at is None:
        raise NoticeRefused("conversation", "Cette conversation attend encore un·e écoutant·e : le signalement "
                                            "se prépare avec le ou la jeune.")
    if conversation.erased_at is not None:
        raise NoticeRefused("conversation", "Cette conversation a été effacée.")
    fields = parse_new_notice(body, options(helpline), await _default_dsa(helpline, conversation.id))
    now = helpline.clock.now()
    notice = Notice(id=uuid.uuid4().hex, conversation_id=conversation.id, counsellor_id=counsellor_id,
                    created_at=now, **fields)
    await _save(helpline, notice)
    audit.record("notice_create", counsellor_id, at=now, conversation_id=conversation.id, notice=notice.id,
                 platform=notice.platform)
    return notice


async def _save(helpline: Helpline, notice: Notice) -> None:
    await helpline.store.save_notice(notice)
    await helpline.store.replicated()  # answered only once the replicas hold it: never lost


async def get(helpline: Helpline, counsellor_id: str, notice_id: object) -> Notice:
    return await _readable(helpline, counsellor_id, notice_id)


async def list_for(helpline: Helpline, counsellor_id: str, state: str | None = None,
                   platform: str | None = None, conversation_id: str | None = None) -> list[Notice]:
    """Supervisors: every notice; counsellors: those they wrote or of conversations they hold."""
    found = await helpline.store.notices(state=state, platform=platform, conversation_id=conversation_id)
    if await _supervises(helpline, counsellor_id):
        return found
    holders: dict[str, str | None] = {}
    kept = []
    for notice in found:
        if notice.counsellor_id != counsellor_id and notice.conversation_id not in holders:
            conversation = await helpline.store.get_conversation(notice.conversation_id)
            holders[notice.conversation_id] = conversation.counsellor_id if conversation else None
        if notice.counsellor_id == counsellor_id or holders.get(notice.conversation_id) == counsellor_id:
            kept.append(notice)
    return kept


async def update(helpline: Helpline, counsellor_id: str, notice_id: object, body: object) -> Notice:
    """PATCH: a state move or an appeal (`move`), else field edits of a draft; audited."""
    notice = await _readable(helpline, counsellor_id, notice_id)
    now = helpline.clock.now()
    if is_move(body):
        changed = move(notice, body, now, options(helpline))
        detail = {"state": changed.state, "decision": changed.decision, "appeal": changed.appeal}
        action = "notice_appeal" if "appeal" in body else "notice_move"  # type: ignore[operator]
    else:
        changed = parse_edit(body, options(helpline), notice)
        detail, action = {}, "notice_edit"
    await _save(helpline, changed)
    audit.record(action, counsellor_id, at=now, conversation_id=notice.conversation_id, notice=notice.id,
                 **detail)
    return changed


async def export(helpline: Helpline, counsellor_id: str, notice_id: object) -> dict:
    """The Art. 16(2) document of this notice alone; audited (who took the victim's data out)."""
    notice = await _readable(helpline, counsellor_id, notice_id)
    if notice.erased_at is not None:
        raise NoticeConflict("Le contenu de ce signalement a été effacé (durée de conservation dépassée).")
    audit.record("notice_export", counsellor_id, at=helpline.clock.now(), conversation_id=notice.conversation_id,
                 notice=notice.id)
    return notice_document(notice, options(helpline))


async def overdue(helpline: Helpline, now: float | None = None) -> list[Notice]:
    """Sent and still without a decision after the platform's reminder_hours, oldest sent first."""
    at = helpline.clock.now() if now is None else now
    waiting = await helpline.store.notices(state="envoye") + await helpline.store.notices(state="accuse_reception")
    late = [n for n in waiting if is_overdue(n, options(helpline), at)]
    return sorted(late, key=lambda n: (n.sent_at or 0.0, n.id))


async def live_refused_share(helpline: Helpline) -> float | None:
    """The 22(6) risk shown to supervisors: refused among the decisions of the last year's notices."""
    return refused_share_of(await helpline.store.notice_decision_counts(helpline.clock.now() - YEAR_SECONDS))


async def erase_expired(store: Store, notices: NoticeOptions, now: float) -> int:
    """Retention: each closed notice's personal data goes `keep_days_after_close` after its appeal
    window (a draft never sent: counted from its creation). Repeatable; logs a count only."""
    candidates = await store.notices(state="decision") + await store.notices(state="brouillon")
    erased = 0
    for notice in candidates:
        due = erase_due_at(notice, notices)
        if due is not None and due <= now:
            erased += await store.erase_notice_content(notice.id, now)
    if erased:
        log.info("retention: %d notice(s) past their appeal window erased", erased)
    return erased
