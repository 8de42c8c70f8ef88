"""Casework use cases (issue #12): qualify a contact, read its qualification, the "to qualify"
list, internal notes, and the reload check that keeps stored values in the lists.

Who may qualify: the counsellor holding the conversation now, the one who held it when it
closed (the same `counsellor_id`: a close keeps it), or a supervisor/admin. The record keeps
the id of the counsellor who held it; the audit line names who qualified. The rules of what a
qualification holds are the domain's (gateway/domain/casework.py); this module only reads,
checks who asks, stores, and audits (never a text).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.core import audit
from gateway.core.handover import MAX_NOTE_CHARS
from gateway.core.ports import NewMessage
from gateway.domain.casework import (
    MAX_TO_QUALIFY,
    CaseworkOptions,
    Qualification,
    case_retention_cutoff,
    may_be_qualified,
    needs_qualification,
    parse_qualification,
    removed_in_use,
)
from gateway.domain.config import Config
from gateway.domain.errors import (
    ConfigError,
    Forbidden,
    NotFound,
    ProtocolError,
    QualificationRefused,
)
from gateway.domain.events import MessageAdded
from gateway.domain.model import Author, Conversation, Message
from gateway.domain.permissions import supervises
from gateway.domain.texts import clean_text

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline
    from gateway.core.ports import Store

log = logging.getLogger(__name__)

TEAM_COUNT_LIMIT = 1000  # the supervisor's "to qualify" count stops here (a number, not a list)


def options(helpline: Helpline) -> CaseworkOptions:
    """The lists in force (GET /api/qualification/options, the console's `/` list)."""
    return helpline.config.casework


async def _permitted(helpline: Helpline, counsellor_id: str, conversation_id: object) -> Conversation:
    """The conversation if this account may qualify it; NotFound / Forbidden otherwise."""
    store = helpline.store
    conversation = await store.get_conversation(conversation_id) if isinstance(conversation_id, str) \
        and conversation_id else None
    if conversation is None:
        raise NotFound("Conversation inconnue.")
    if conversation.counsellor_id == counsellor_id or supervises(await store.get_counsellor(counsellor_id)):
        return conversation
    raise Forbidden("Cette conversation n'est pas la vôtre.")


async def qualify(helpline: Helpline, counsellor_id: str, conversation_id: object, body: object) -> Qualification:
    """Store the qualification of a conversation (a later one replaces the earlier); audited."""
    conversation = await _permitted(helpline, counsellor_id, conversation_id)
    if not may_be_qualified(conversation):
        raise QualificationRefused("conversation", "Cette conversation attend encore un·e écoutant·e : "
                                                   "elle pourra être qualifiée une fois prise en charge.")
    if conversation.erased_at is not None:
        raise QualificationRefused("conversation", "Cette conversation a été effacée : elle ne peut plus "
                                                   "être qualifiée.")
    fields = parse_qualification(body, helpline.config.casework)
    now = helpline.clock.now()
    holder = conversation.counsellor_id or counsellor_id
    qualification = Qualification.of(conversation, fields, holder, now)
    earlier = await helpline.store.qualification_of(conversation.id)
    await helpline.store.save_qualification(qualification)
    await helpline.store.replicated()  # answered only once the replicas hold it: never lost
    audit.record("qualify", counsellor_id, at=now, conversation_id=conversation.id,
                 replaced=1 if earlier is not None else 0)
    return qualification


async def qualification(helpline: Helpline, counsellor_id: str, conversation_id: object) -> Qualification:
    """The stored qualification (same permission as `qualify`); NotFound when there is none."""
    conversation = await _permitted(helpline, counsellor_id, conversation_id)
    found = await helpline.store.qualification_of(conversation.id)
    if found is None:
        raise NotFound("Cette conversation n'est pas encore qualifiée.")
    return found


async def after_close(helpline: Helpline, closed: Conversation) -> None:
    """Qualified while still assigned: the record gets the close time and the duration."""
    found = await helpline.store.qualification_of(closed.id)
    if found is not None and found.closed_at is None:
        await helpline.store.save_qualification(found.with_times_of(closed))


async def to_qualify(helpline: Helpline, counsellor_id: str) -> list[Conversation]:
    """My closed conversations without a qualification, newest first (within the retention)."""
    found = await helpline.store.unqualified_closed(counsellor_id, MAX_TO_QUALIFY)
    return [c for c in found if needs_qualification(c)]


async def to_qualify_count(helpline: Helpline) -> int:
    """How many closed conversations wait for a qualification, over the team (supervision)."""
    found = await helpline.store.unqualified_closed(None, TEAM_COUNT_LIMIT)
    return sum(1 for c in found if needs_qualification(c))


async def add_note(helpline: Helpline, counsellor_id: str, conversation_id: object, text: object) -> Message:
    """An internal note at any time, by the counsellor holding it (or who held it at the close):
    stored as Author.NOTE, shown to counsellors, never sent to the teen."""
    conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    if conversation.erased_at is not None:
        raise ProtocolError("closed", "Cette conversation a été effacée.")
    clean = clean_text(text, MAX_NOTE_CHARS).strip()
    note = await helpline.store.append_message(conversation.id, NewMessage(Author.NOTE, clean, helpline.clock.now()))
    await helpline.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, note))
    return note


async def reload_refusal(helpline: Helpline, config: Config) -> ConfigError | None:
    """Why a new configuration may not be applied: it removes a value stored records use."""
    if config.casework == helpline.config.casework:
        return None
    return removed_in_use(config.casework, await helpline.store.values_in_use())


async def delete_old_records(store: Store, now: float, case_years: int) -> int:
    """Retention of the qualification records: `case_years` after the close."""
    deleted = await store.delete_qualifications_closed_before(case_retention_cutoff(now, case_years))
    if deleted:
        log.info("retention: %d qualification record(s) past retention.case_years deleted", deleted)
    return deleted
