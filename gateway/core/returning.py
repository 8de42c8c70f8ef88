"""A returning teen is recognised (issue #12, item 6): their earlier contacts, read-only.

On Messenger and WhatsApp the pseudonym (sender key) is stable, so the store's index by sender
finds the earlier conversations. On the widget the token lives only in the tab, so at the end
of a chat the teen may ask for a short follow-up code; given to a counsellor next time, it
links the new pseudonym to the old one. The store keeps only the code's keyed hash, for
`retention.days`; a wrong code is refused and guessing is rate-limited per counsellor.
Nothing here logs a code, a pseudonym or a text; the audit names ids only.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core import audit
from gateway.core.ports import DAY_SECONDS, content_ttl_seconds
from gateway.domain.errors import ProtocolError
from gateway.domain.model import Conversation, ConversationState, Message
from gateway.domain.rate_limit import MONOTONIC, KeyedBuckets

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

EARLIER_SHOWN = 10  # contacts the console lists, newest first
EARLIER_READ = 100  # conversations read per pseudonym (the count is bounded by it)
QUALIFICATION_SHOWN = ("categories", "outcomes", "platforms")  # of each earlier contact, as labels
# No 0/O, 1/I/L: read aloud or copied by a stressed teen. 31^6 ≈ 8.9e8 codes.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_SCOPE = "follow_up"  # the keyed hash of a code is the pseudonym of (scope, code)
# 10 tries an hour per counsellor (per process): guessing one code of 8.9e8 is hopeless.
LINK_TRIES_PER_HOUR = 10
_LINK_TRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # helpline -> KeyedBuckets

WRONG_CODE = "Code inconnu ou expiré : vérifiez-le avec le ou la jeune (6 caractères, par exemple 7K4-2QX)."
TOO_MANY_TRIES = "Trop d'essais de code : réessayez dans une heure."
FORBIDDEN = "Cet échange précédent ne fait pas partie de vos conversations."
NO_FOLLOW_UP = "Il n'y a pas encore d'échange terminé à retrouver."
SAME_TEEN = "Ce code est celui de cette conversation même."


# --- follow-up codes: pure helpers ----------------------------------------------------------------

def new_code() -> str:
    """A random code, shown as "7K4-2QX" (the dash only helps reading)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:3]}-{raw[3:]}"


def normal_code(typed: object) -> str | None:
    """What a counsellor typed, as stored: capitals, no spaces or dashes; None if it cannot be a code."""
    if not isinstance(typed, str) or len(typed) > 32:
        return None
    raw = "".join(ch for ch in typed.upper() if ch not in " -_.\t")
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return raw


def _code_hash(helpline: Helpline, raw: str) -> str:
    return helpline.pseudonyms.sender_key(CODE_SCOPE, raw)


# --- the widget's side: a code at the end of a chat -------------------------------------------------

async def follow_up_code(helpline: Helpline, sender_key: str) -> str:
    """A new code for this tab's teen, once a conversation of theirs with an écoutant·e has ended;
    it replaces any earlier code of theirs. Kept (hashed) for `retention.days`."""
    latest = await helpline.store.conversations_of_sender(sender_key, 1)
    if not latest or latest[0].state is not ConversationState.CLOSED or latest[0].assigned_at is None:
        raise ProtocolError("no_follow_up", NO_FOLLOW_UP)
    code = new_code()
    ttl = helpline.config.retention_days * DAY_SECONDS
    await helpline.store.save_follow_up_code(_code_hash(helpline, normal_code(code) or ""), sender_key, ttl)
    return code


# --- the console's side: earlier contacts -----------------------------------------------------------

@dataclass(frozen=True)
class Earlier:
    """A conversation's earlier contacts (same pseudonym, or linked by a code), newest first."""

    count: int
    contacts: list[Conversation]


async def earlier_of(helpline: Helpline, conversation: Conversation) -> Earlier:
    store = helpline.store
    senders = {conversation.sender_key} | await store.linked_senders(conversation.sender_key)
    found: dict[str, Conversation] = {}
    for sender_key in sorted(senders):
        for c in await store.conversations_of_sender(sender_key, EARLIER_READ):
            if c.id != conversation.id and c.erased_at is None and c.opened_at <= conversation.opened_at:
                found[c.id] = c
    ordered = sorted(found.values(), key=lambda c: (c.opened_at, c.id), reverse=True)
    return Earlier(len(ordered), ordered)


async def earlier_view(helpline: Helpline, conversation: Conversation) -> dict:
    """The history frame's `earlier`: {"count", "contacts": [...]} (docs/protocol.md)."""
    earlier = await earlier_of(helpline, conversation)
    return {"count": earlier.count, "contacts": [await _contact_view(helpline, c)
                                                 for c in earlier.contacts[:EARLIER_SHOWN]]}


async def _contact_view(helpline: Helpline, conversation: Conversation) -> dict:
    return {
        "id": conversation.id,
        "channel": conversation.channel.value,
        "opened_at": int(conversation.opened_at * 1000),
        "closed_at": None if conversation.closed_at is None else int(conversation.closed_at * 1000),
        "qualification": await _qualification_labels(helpline, conversation.id),
    }


async def _qualification_labels(helpline: Helpline, conversation_id: str) -> dict | None:
    """What was recorded about it, as French labels (a value since removed from the lists shows as is)."""
    qualification = await helpline.store.qualification_of(conversation_id)
    if qualification is None:
        return None
    options = helpline.config.casework
    return {name: [options.label(name, value) for value in qualification.values_of(name)]
            for name in QUALIFICATION_SHOWN}


async def open_earlier(helpline: Helpline, counsellor_id: str, conversation_id: object,
                       earlier_id: object) -> list[Message]:
    """An earlier conversation's lines, read-only, for the counsellor of a conversation of the same
    teen; anything else is `forbidden` (also someone else's conversation). Audited."""
    try:
        conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    except ProtocolError as exc:
        raise ProtocolError("forbidden", FORBIDDEN) from exc
    earlier = await earlier_of(helpline, conversation)
    if not isinstance(earlier_id, str) or earlier_id not in {c.id for c in earlier.contacts}:
        raise ProtocolError("forbidden", FORBIDDEN)
    audit.record("open_earlier", counsellor_id, at=helpline.clock.now(), conversation_id=earlier_id)
    return await helpline.store.messages(earlier_id)


def _link_tries(helpline: Helpline) -> KeyedBuckets:
    tries = _LINK_TRIES.get(helpline)
    if tries is None:
        tries = _LINK_TRIES[helpline] = KeyedBuckets(LINK_TRIES_PER_HOUR / 3600, LINK_TRIES_PER_HOUR)
    return tries


async def link_by_code(helpline: Helpline, counsellor_id: str, conversation_id: object, code: object) -> dict:
    """"Relier à un contact précédent": the teen of my conversation gave a follow-up code; their
    pseudonym is linked to the code's (and to those it was linked to). Returns `earlier_view`."""
    conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    if not _link_tries(helpline).take(counsellor_id, MONOTONIC.now()):
        raise ProtocolError("too_many_tries", TOO_MANY_TRIES)
    raw = normal_code(code)
    earlier_key = await helpline.store.sender_of_follow_up_code(_code_hash(helpline, raw)) if raw else None
    if earlier_key is None:
        raise ProtocolError("wrong_code", WRONG_CODE)
    if earlier_key == conversation.sender_key:
        raise ProtocolError("same_teen", SAME_TEEN)
    linked = {earlier_key} | await helpline.store.linked_senders(earlier_key)
    ttl = content_ttl_seconds(helpline.config.retention_days)
    await helpline.store.link_senders(conversation.sender_key, linked - {conversation.sender_key}, ttl)
    audit.record("link_earlier", counsellor_id, at=helpline.clock.now(), conversation_id=conversation.id)
    return await earlier_view(helpline, conversation)

