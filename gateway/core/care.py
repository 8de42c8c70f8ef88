"""Care for counsellors (issue #12, item 9): a short pause after a heavy conversation.

After a conversation of theirs closes that was qualified with a heavy category
(`casework.heavy_categories`, e.g. grooming, sextortion) or that triage raised for suicide or
self-harm, the console offers "Prendre une pause de X minutes" (`casework.care_pause_minutes`;
0: never offered). Taking it sets the presence "paused" (so nothing is dispatched to them) with
`care_until`; the pause never ends by itself: at the end the console proposes "Reprendre", and
any change of presence ends it. The supervisor's team view shows `care_until`.
"""

from __future__ import annotations

import logging

from gateway.domain.errors import ProtocolError
from gateway.domain.model import Conversation, ConversationState, Presence

log = logging.getLogger(__name__)

SELF_HARM_RULES = frozenset({"suicide", "automutilation"})  # triage rule names (triage_rules.yaml)
NOT_OFFERED = "Aucune pause de soin n'est proposée ici."


def minutes(helpline) -> int:
    return max(int(helpline.config.casework.care_pause_minutes), 0)


def raised_for_self_harm(helpline, conversation: Conversation) -> bool:
    """Triage raised it for suicide or self-harm: its reason starts with one of those rules' labels."""
    reason = conversation.priority_reason or ""
    labels = [rule.label for rule in helpline.config.triage.rules if rule.name in SELF_HARM_RULES]
    return any(label and reason.startswith(label) for label in labels)


async def heavy(helpline, conversation: Conversation) -> bool:
    """Whether this conversation weighs enough to offer a care pause after it."""
    if raised_for_self_harm(helpline, conversation):
        return True
    qualification = await helpline.store.qualification_of(conversation.id)
    heavy_categories = helpline.config.casework.heavy_categories
    return qualification is not None and any(c in heavy_categories for c in qualification.categories)


async def offer(helpline, counsellor_id: str, conversation_id: object) -> int:
    """Minutes of care pause to offer this counsellor after this conversation (0: none):
    a closed conversation they held, and a heavy one."""
    if minutes(helpline) == 0 or not isinstance(conversation_id, str):
        return 0
    conversation = await helpline.store.get_conversation(conversation_id)
    if conversation is None or conversation.state is not ConversationState.CLOSED \
            or conversation.counsellor_id != counsellor_id:
        return 0
    return minutes(helpline) if await heavy(helpline, conversation) else 0


async def take(helpline, counsellor_id: str) -> float:
    """Pause now until now + the configured minutes; returns `care_until`. Refused when the
    helpline offers no care pause (0 minutes)."""
    if minutes(helpline) == 0:
        raise ProtocolError("no_care_pause", NOT_OFFERED)
    until = helpline.clock.now() + minutes(helpline) * 60
    await helpline.set_presence(counsellor_id, Presence.PAUSED, care_until=until)
    log.info("care pause taken (%d min)", minutes(helpline))
    return until
