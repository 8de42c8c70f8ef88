"""A young person's rights, on request, by a supervisor or an admin (issue #14, item 7):
find their conversations, export one (GDPR Art. 15), erase one (Art. 17), whatever its age.

The CLI (`python -m gateway privacy`, by="cli") and the console's JSON routes (a supervisor's
id) call the same three use cases. What is searched never leaves this module: a platform id or
a code is hashed with the pseudonym key at once (the store only ever had the hash), and the
audit line holds the kind of search and a count, never the id, the pseudonym or the code.

Costs: by platform id or code, one index read per pseudonym (`conversations_of_sender`, plus
the pseudonyms a follow-up code linked to it and the erasure receipts); by pseudonym, every
conversation opened within the retention (+2 days) is read (`conversations_since`) and its alias
compared: a bounded scan, about retention × conversations a day (30 × 150 ≈ 4,500 records).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.core import audit, retention
from gateway.core.ports import DAY_SECONDS
from gateway.core.returning import CODE_SCOPE, normal_code
from gateway.core.teen import shown_to_teen
from gateway.domain import privacy
from gateway.domain.errors import Forbidden, NotFound, ProtocolError
from gateway.domain.model import Conversation
from gateway.domain.privacy import ByAlias, ByCode, ByPlatformId, FindQuery

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

CLI = "cli"  # the actor of the command line in the audit log (whoever runs it has the server)
PER_SENDER = 200  # conversations read per pseudonym (a teen with more is not a real case)
FOUND_MAX = 200  # results shown, newest first
ALIAS_WINDOW_DAYS = 2  # beyond the retention: a conversation opened a little before its close
MAX_ID_CHARS = 64


async def allowed(helpline: Helpline, by: str) -> None:
    """Supervisors and admins only (a counsellor gets `forbidden`); the CLI runs on the server."""
    if by == CLI:
        return
    try:
        await helpline.supervisor(by)
    except ProtocolError as exc:
        raise Forbidden(str(exc)) from None


async def find(helpline: Helpline, by: str, query: FindQuery) -> list[Conversation]:
    """The conversations of the teen searched, newest first (erased ones included, marked)."""
    await allowed(helpline, by)
    if isinstance(query, ByAlias):
        found = await _by_alias(helpline, query)
    else:
        sender_key = await _sender_of(helpline, query)
        found = await _of_sender(helpline, sender_key) if sender_key else []
    found = privacy.newest_first(found)[:FOUND_MAX]
    kind = {ByPlatformId: "platform_id", ByAlias: "alias", ByCode: "code"}[type(query)]
    audit.record("privacy_find", by, at=helpline.clock.now(), search=kind, count=len(found))
    return found


async def _sender_of(helpline: Helpline, query: ByPlatformId | ByCode) -> str | None:
    if isinstance(query, ByPlatformId):
        return helpline.pseudonyms.sender_key(query.channel.value, query.platform_id)
    raw = normal_code(query.code)
    if raw is None:
        return None
    return await helpline.store.sender_of_follow_up_code(helpline.pseudonyms.sender_key(CODE_SCOPE, raw))


async def _of_sender(helpline: Helpline, sender_key: str) -> list[Conversation]:
    """Theirs under this pseudonym and those a follow-up code linked to it, and the erased ones
    whose receipt is still in force (the erase took them out of the index)."""
    store, now = helpline.store, helpline.clock.now()
    found: list[Conversation] = []
    for key in sorted({sender_key} | await store.linked_senders(sender_key)):
        found.extend(await store.conversations_of_sender(key, PER_SENDER))
        for conversation_id in await store.erasures_of_sender(key, now):
            erased = await store.get_conversation(conversation_id)
            if erased is not None:
                found.append(erased)
    return found


async def _by_alias(helpline: Helpline, query: ByAlias) -> list[Conversation]:
    """A pseudonym is a label (9,000 values): several teens may share it; the supervisor tells them
    apart by channel and times. An erased conversation lost its pseudonym: it is not found so."""
    now = helpline.clock.now()
    since = now - (helpline.config.retention_days + ALIAS_WINDOW_DAYS) * DAY_SECONDS
    if query.since is not None:
        since = max(since, privacy.paris_midnight(query.since))
    recent = await helpline.store.conversations_since(since)
    return [c for c in recent if c.alias == query.alias and c.erased_at is None]


async def _conversation(helpline: Helpline, conversation_id: object) -> Conversation:
    found = None
    if isinstance(conversation_id, str) and 0 < len(conversation_id) <= MAX_ID_CHARS:
        found = await helpline.store.get_conversation(conversation_id)
    if found is None:
        raise NotFound(privacy.UNKNOWN)
    return found


async def export(helpline: Helpline, by: str, conversation_id: object, output_format: str = "json") -> str:
    """The conversation as the teen saw it (no internal note: `shown_to_teen`, the widget's rule),
    rendered as json or txt. An erased conversation is refused: nothing is left of it."""
    await allowed(helpline, by)
    output_format = privacy.parse_format(output_format)
    conversation = await _conversation(helpline, conversation_id)
    if conversation.erased_at is not None:
        raise privacy.ErasedConversation(privacy.ERASED)
    lines = [m for m in await helpline.store.messages(conversation.id) if shown_to_teen(m)]
    document = privacy.export_document(conversation, lines)
    audit.record("privacy_export", by, at=helpline.clock.now(), conversation_id=conversation.id,
                 format=output_format, count=len(lines))
    return privacy.render_export(document, output_format)


async def erase(helpline: Helpline, by: str, conversation_id: object) -> Conversation:
    """Art. 17: the console's erase on request (closed first if open, the teen told), for any
    conversation found, not only today's. Returns it as erased (audited "erase")."""
    await allowed(helpline, by)
    conversation = await _conversation(helpline, conversation_id)
    await retention.erase_requested(helpline, by, conversation.id)
    return await _conversation(helpline, conversation.id)
