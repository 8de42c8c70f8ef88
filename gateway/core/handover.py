"""Handing a conversation over: transfers, a supervisor's reassignment, back to the queue.

The rule a teen relies on: a conversation always has somebody or is at the head of the queue,
never in a void. A transfer to a colleague who cannot take it now, or to a skill, goes back
to the head of the queue (with the skill required); the teen is told someone else takes over.

Every move is announced from what the store saw in the same atomic step: a supervisor's
reassignment racing the dispatcher still tells the console that held it (HandedOver). A
conversation a counsellor hands back to the queue records who did (`handed_over_by`), so the
router gives it to anyone else with room before them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.core.dispatch import capacity_now
from gateway.core.lines import ours
from gateway.domain.texts import clean_text
from gateway.domain.errors import ProtocolError
from gateway.domain.events import ConversationChanged, ConversationFacts, HandedOver, MessageAdded
from gateway.domain.model import Author, Conversation, ConversationState, Presence
from gateway.core.ports import AssignOutcome, NewMessage

if TYPE_CHECKING:  # the helpline calls hand_back_all (a counsellor going offline): no import cycle
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1000
HEAD_STEP = 0.001  # seconds before the current head of its priority: "first in line"


@dataclass(frozen=True)
class Handover:
    """What happened, for the counsellor who asked."""

    conversation_id: str
    outcome: str  # "assigned" (to the colleague) or "queued" (head of the queue)
    to_name: str | None = None


async def head_of_queue_time(helpline: Helpline, priority: int, fallback: float) -> float:
    """A `queued_at` that puts a conversation before every waiting one of its priority."""
    same = [e.queued_at for e in await helpline.store.queue() if e.priority == priority]
    return min([fallback, *same]) - HEAD_STEP


async def requeue_at_head(helpline: Helpline, conversation: Conversation, expected_counsellor_id: str | None,
                          required_skill: str | None, tell_key: str,
                          handed_over_by: str | None = None) -> Conversation | None:
    """Assigned -> head of the queue; the old counsellor's console drops it, the teen is told."""
    now = helpline.clock.now()
    queued_at = await head_of_queue_time(helpline, conversation.priority, conversation.queued_at or now)
    moved = await helpline.store.requeue(conversation.id, expected_counsellor_id, queued_at, required_skill,
                                         handed_over_by)
    if moved is None:
        return None
    facts = ConversationFacts.of(moved)
    previous_owner = expected_counsellor_id or conversation.counsellor_id  # the store checked the expected one
    if previous_owner:
        await helpline.bus.publish(HandedOver(facts, previous_owner))
    await helpline.bus.publish(ConversationChanged(facts))
    await helpline.say(moved, ours(moved, Author.SYSTEM, helpline.config.messages[tell_key], now))
    helpline.kick()
    log.info("conversation %s back at the head of the queue", moved.id)
    return moved


async def hand_back_all(helpline: Helpline, counsellor_id: str) -> list[Conversation]:
    """A counsellor leaves (logout, "hors ligne", a console lost past its grace): every teen of
    theirs goes back to the head of the queue at once and is told someone else takes over.
    Newest first, so that they keep their order at the head (each goes before the current head)."""
    held = await helpline.store.conversations_of(counsellor_id)
    moved = []
    for conversation in reversed(held):
        back = await requeue_at_head(helpline, conversation, counsellor_id, conversation.required_skill, "requeued")
        if back is not None:
            moved.append(back)
    return moved


async def _note(helpline: Helpline, conversation_id: str, owner_id: str | None, text: str) -> None:
    """An internal note, written once the handover is done, shown live to whoever has it now."""
    note = await helpline.store.append_message(conversation_id, NewMessage(Author.NOTE, text, helpline.clock.now()))
    await helpline.bus.publish(MessageAdded(conversation_id, owner_id, note))


def _clean_note(note: object) -> str:
    if note is None:
        return ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ProtocolError("bad_note", f"Note invalide ({MAX_NOTE_CHARS} caractères maximum).")
    return clean_text(note, MAX_NOTE_CHARS).strip() if note.strip() else ""  # no control characters


async def transfer(helpline: Helpline, counsellor_id: str, conversation_id: object, *, to_counsellor: object = None,
                   to_skill: object = None, note: object = None) -> Handover:
    """A counsellor hands one of their conversations to a colleague or to a skill."""
    conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    if conversation.state is not ConversationState.ASSIGNED:
        raise ProtocolError("closed", "Cette conversation est terminée.")
    text = _clean_note(note)
    me = await helpline.store.get_counsellor(counsellor_id)
    my_name = me.display_name if me else "?"
    if to_counsellor is not None:
        target = await helpline.store.get_counsellor(to_counsellor) if isinstance(to_counsellor, str) else None
        if target is None or target.id == counsellor_id:
            raise ProtocolError("bad_target", "Collègue inconnu·e.")
        suffix = f" : {text}" if text else ""
        handed = await _give(helpline, conversation, counsellor_id, target.id)
        if handed is not None:
            await _note(helpline, conversation.id, target.id, f"Transfert de {my_name} vers {target.display_name}{suffix}")
            return handed
        # The colleague cannot take it now: the head of the queue, never a void.
        queued = await _to_queue(helpline, conversation, counsellor_id, conversation.required_skill)
        await _note(helpline, conversation.id, None, f"Transfert de {my_name} vers {target.display_name}, "
                                                     f"indisponible : remise en tête de file{suffix}")
        return queued
    if not isinstance(to_skill, str) or not to_skill.strip() or len(to_skill) > 40:
        raise ProtocolError("bad_target", "Indiquez un·e collègue ou une compétence.")
    skill = to_skill.strip().lower()
    colleagues = [c for c in await helpline.store.counsellors() if c.id != counsellor_id and skill in c.skills]
    if not any(c.presence is Presence.AVAILABLE for c in colleagues):
        # Queued for a skill nobody on duty has, it would come straight back: keep it, say so.
        raise ProtocolError("no_skill_available", f"Personne avec la compétence « {skill} » n'est disponible "
                                                  "pour l'instant. Gardez la conversation ou transférez-la à un·e collègue.")
    queued = await _to_queue(helpline, conversation, counsellor_id, skill)
    await _note(helpline, conversation.id, None, f"Transfert de {my_name} vers la compétence « {skill} »" +
                (f" : {text}" if text else ""))
    return queued


async def reassign(helpline: Helpline, supervisor_id: str, conversation_id: object, to_counsellor: object) -> Handover:
    """A supervisor gives a waiting or assigned conversation to a named counsellor."""
    supervisor = await helpline.supervisor(supervisor_id)
    conversation = await helpline.store.get_conversation(conversation_id) if isinstance(conversation_id, str) else None
    target = await helpline.store.get_counsellor(to_counsellor) if isinstance(to_counsellor, str) else None
    if conversation is None or not conversation.is_open:
        raise ProtocolError("closed", "Cette conversation n'est plus en cours.")
    if target is None:
        raise ProtocolError("bad_target", "Conseiller·e inconnu·e.")
    handed = await _give(helpline, conversation, conversation.counsellor_id, target.id)
    if handed is None:
        raise ProtocolError("unavailable_target", f"{target.display_name} n'est pas disponible ou est complet·e.")
    await _note(helpline, conversation.id, target.id, f"Réattribuée par {supervisor.display_name} à {target.display_name}")
    return handed


async def _give(helpline: Helpline, conversation: Conversation, expected: str | None, to_id: str) -> Handover | None:
    target = await helpline.store.get_counsellor(to_id)
    if target is None or target.disabled:
        return None
    capacity = await capacity_now(helpline, target)
    now = helpline.clock.now()
    done = await helpline.store.hand_over(conversation.id, expected, to_id, capacity, now)
    if done.outcome is not AssignOutcome.ASSIGNED:
        return None
    moved = await helpline.store.get_conversation(conversation.id) or replace(
        conversation, state=ConversationState.ASSIGNED, counsellor_id=to_id, assigned_at=now)
    facts = ConversationFacts.of(moved, target.display_name)
    # Who had it at the move, not at our read: the dispatcher may have assigned it in between.
    if done.from_counsellor_id:
        await helpline.bus.publish(HandedOver(facts, done.from_counsellor_id))
    await helpline.bus.publish(ConversationChanged(facts))
    key = "transferred" if done.from_counsellor_id else "assigned"
    text = helpline.config.messages[key].format(counsellor=target.display_name)
    await helpline.say(moved, ours(moved, Author.SYSTEM, text, now))
    log.info("conversation %s handed over", moved.id)
    return Handover(moved.id, "assigned", target.display_name)


async def _to_queue(helpline: Helpline, conversation: Conversation, counsellor_id: str, skill: str | None) -> Handover:
    moved = await requeue_at_head(helpline, conversation, counsellor_id, skill, "transferred",
                                  handed_over_by=counsellor_id)
    if moved is None:
        raise ProtocolError("not_yours", "Cette conversation n'est plus la vôtre.")
    return Handover(moved.id, "queued")
