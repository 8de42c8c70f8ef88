"""Intake: a teen's message in, whatever the channel, stored once; their conversation opened
or continued, triage applied, the automatic replies stored with it.

The caller acknowledges (the widget's `ack`, Meta's 200) only once `receive()` returns: a
message is stored before anybody is told, and a failure after storing is never retried by
the sender (that would duplicate it).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.core.lines import ours
from gateway.core.ports import NewMessage
from gateway.domain.clock import as_datetime
from gateway.domain.errors import ProtocolError, StoreError
from gateway.domain.events import ConversationChanged, ConversationFacts, MessageAdded, PriorityRaised
from gateway.domain.model import (
    Attachment, Author, Channel, CloseReason, Conversation, ConversationState, InboundMessage, Message,
)
from gateway.domain.texts import clean_text
from gateway.domain.triage import TriageMatch

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

ATTACHMENT_ONLY = "(pièce jointe)"  # what the record keeps of a closed-door message without text


@dataclass(frozen=True)
class Received:
    conversation: Conversation | None  # None for a duplicate (nobody needs it: not read)
    message: Message | None  # None for a duplicate, or an attachment without text
    duplicate: bool = False


async def receive(helpline: Helpline, inbound: InboundMessage) -> Received:
    """Store a teen's message (once), open or continue their conversation."""
    if inbound.attachments and not (inbound.text or "").strip():
        text = ""  # an attachment alone: noted below, nothing to clean
    else:
        text = clean_text(inbound.text, helpline.config.max_message_chars)
    store = helpline.store
    dedupe_id = f"{inbound.sender_key}:{inbound.provider_message_id}"
    if not await store.claim_message_id(inbound.channel.value, dedupe_id, helpline.config.dedupe_ttl_seconds):
        return Received(None, None, duplicate=True)
    try:
        return await _store_inbound(helpline, inbound, text)
    except BaseException:
        # Not stored, so not acknowledged: let the client's (or Meta's) retry through.
        await asyncio.shield(store.release_message_id(inbound.channel.value, dedupe_id))
        raise


async def receive_meta(helpline: Helpline, channel: Channel, platform_id: str, provider_message_id: str,
                       text: str, timestamp: float, attachments: tuple[str, ...], business_id: str | None) -> None:
    """One Messenger/WhatsApp message. A text longer than ours (WhatsApp allows 4096) is kept in
    parts, each with its own id (`mid#1`, `mid#2`…) so a redelivery is still recognised."""
    limit = helpline.config.max_message_chars
    parts = [text[i:i + limit] for i in range(0, len(text), limit)] or [""]
    sender_key = helpline.pseudonyms.sender_key(channel.value, platform_id)
    for index, part in enumerate(parts):
        inbound = InboundMessage(
            channel=channel, sender_key=sender_key,
            provider_message_id=provider_message_id if index == 0 else f"{provider_message_id}#{index}",
            text=part, received_at=timestamp,
            attachments=tuple(Attachment(kind) for kind in attachments) if index == 0 else (),
            reply_to=platform_id, business_id=business_id,
        )
        try:
            await receive(helpline, inbound)
        except ProtocolError as exc:  # e.g. an empty text: one event, not the whole POST
            log.info("%s message refused: %s", channel.value, exc.code)


async def _store_inbound(helpline: Helpline, inbound: InboundMessage, text: str) -> Received:
    store, config, now = helpline.store, helpline.config, helpline.clock.now()
    conversation = await store.active_conversation_of(inbound.sender_key)
    created = False
    match = config.triage.assess(text) if text else None
    if conversation is None:
        if await store.abuse_until(inbound.sender_key, now) is not None:
            return await _answer_closed(helpline, inbound, text, now, CloseReason.BLOCKED,
                                        config.messages["abuse_reply"])
        if not config.schedule.admits(as_datetime(now)):
            return await _answer_closed(helpline, inbound, text, now, CloseReason.OUT_OF_HOURS,
                                        helpline.out_of_hours_text())
        conversation, created = await store.create_or_get_active(new_conversation(helpline, inbound, now, match))
    message = None
    if text:
        message = await store.append_message(conversation.id, NewMessage(Author.TEEN, text, now))
    # Stored: from here a failure must not make the sender retry (that would duplicate it).
    # What is missed is caught up: the dispatcher's tick, the console's history on open.
    try:
        await _follow_up(helpline, conversation, inbound, message, match, created, now)
    except Exception as exc:  # noqa: BLE001 - stored: the sender must not retry (a duplicate)
        log.warning("conversation %s: message stored, follow-up failed (%s)", conversation.id,
                    exc if isinstance(exc, StoreError) else type(exc).__name__)
        helpline.kick()
    return Received(conversation, message)


async def _follow_up(helpline: Helpline, conversation: Conversation, inbound: InboundMessage,
                     message: Message | None, match: TriageMatch | None, created: bool, now: float) -> None:
    """Announce the line, note attachments, raise on danger, tell a new teen their place."""
    if message is not None:
        await helpline.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, message))
    await helpline.store.touch_teen(conversation.id, now,
                                    inbound.provider_message_id if inbound.channel is not Channel.WEB else None)
    if inbound.attachments:
        await _note_attachments(helpline, conversation, inbound, now)
    if match is not None and (created or match.priority > conversation.priority):
        await _raise(helpline, conversation, match, created, now)
    if created:
        await announce_queued(helpline, conversation)


async def _note_attachments(helpline: Helpline, conversation: Conversation, inbound: InboundMessage,
                            now: float) -> None:
    """Never downloaded nor shown: the counsellor learns the type, the teen why we don't look."""
    kinds = ", ".join(sorted({a.kind for a in inbound.attachments}))
    await helpline.say(conversation, NewMessage(
        Author.SYSTEM, f"Pièce jointe reçue ({kinds}) : non téléchargée, non affichée.", now))
    if any(a.kind not in helpline.config.allowed_attachment_types for a in inbound.attachments):
        await helpline.say(conversation, ours(conversation, Author.SYSTEM,
                                              helpline.config.messages["attachment_refused"], now))


async def _raise(helpline: Helpline, conversation: Conversation, match: TriageMatch, created: bool,
                 now: float) -> None:
    """Triage found danger: counsellors see why (an internal note); the dispatcher serves it first."""
    if not created:
        if not await helpline.store.raise_priority(conversation.id, match.priority, match.reason, match.skill):
            return
        helpline.kick()
    raised = await helpline.store.get_conversation(conversation.id)
    if raised is not None:
        await helpline.bus.publish(PriorityRaised(ConversationFacts.of(raised)))
    await helpline.say(conversation, NewMessage(Author.NOTE, f"Priorité relevée : {match.reason}", now))
    log.info("conversation %s raised (rule %s)", conversation.id, match.rule)


def new_conversation(helpline: Helpline, inbound: InboundMessage, now: float,
                     match: TriageMatch | None = None) -> Conversation:
    return Conversation(
        id=uuid.uuid4().hex,
        channel=inbound.channel,
        sender_key=inbound.sender_key,
        alias=helpline.pseudonyms.alias(inbound.sender_key),
        state=ConversationState.QUEUED,
        opened_at=now,
        queued_at=now,
        last_teen_message_at=now,
        reply_to=inbound.reply_to,
        business_id=inbound.business_id,
        priority=match.priority if match else 0,
        priority_reason=match.reason if match else None,
        required_skill=match.skill if match else None,
    )


async def _answer_closed(helpline: Helpline, inbound: InboundMessage, text: str, now: float,
                         reason: CloseReason, answer: str) -> Received:
    """Not queued (out of hours, or a sender marked abusive): answered at once, kept for the
    record and the figures."""
    conversation = replace(new_conversation(helpline, inbound, now).close(reason, now), last_teen_message_at=now)
    store = helpline.store
    await store.create_closed(conversation)
    message = await store.append_message(conversation.id, NewMessage(Author.TEEN, text or ATTACHMENT_ONLY, now))
    await helpline.say(conversation, ours(conversation, Author.SYSTEM, answer, now))
    log.info("conversation %s answered without queueing (%s)", conversation.id, reason.value)
    return Received(conversation, message)


async def announce_queued(helpline: Helpline, conversation: Conversation) -> None:
    """A new conversation waits: the teen learns their place and the wait, the consoles see it."""
    positions = await helpline.queue_positions()
    position = positions.get(conversation.id, len(positions) or 1)
    now = helpline.clock.now()
    notice = ours(conversation, Author.SYSTEM, helpline.queued_text("queued", position), now)
    stored = await helpline.store.append_message(conversation.id, notice)
    await helpline.store.set_marks(conversation.id, {"told_position": position, "told_at": now})
    await helpline.bus.publish(MessageAdded(conversation.id, None, stored))
    await helpline.bus.publish(ConversationChanged(ConversationFacts.of(conversation)))
    log.info("conversation %s queued (channel %s)", conversation.id, conversation.channel.value)
    helpline.kick()
