"""Intake: a teen's message in, whatever the channel, stored once; their conversation opened
or continued, triage applied, the automatic replies stored with it.

Triage reads the new line, and with it the teen's few lines before (a teen in distress writes
in bursts: "j'ai envie" / "de mourir"). A conversation it raises gets one warm automatic reply
with 3114 (`danger_reply`, once per conversation), and out of hours the closed-door answer
becomes `danger_closed`: the chat is closed, 3114 is not.

The caller acknowledges (the widget's `ack`, Meta's 200) only once `receive()` returns: a
message is stored before anybody is told, and a failure after storing is never retried by
the sender (that would duplicate it). The message and the claim on its id are one store
step (`Store.store_inbound`): a crash leaves both or neither, so a retry is stored, never
taken for a duplicate; and a new conversation is queued with its first line in its history.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.lines import ours
from gateway.core.ports import Intake, MessageId, NewMessage, Stored
from gateway.domain.errors import ProtocolError, StoreError
from gateway.domain.events import ConversationChanged, ConversationFacts, MessageAdded, PriorityRaised
from gateway.domain.model import (
    Attachment, Author, Channel, CloseReason, Conversation, ConversationState, InboundMessage, Message, Presence,
)
from gateway.domain.texts import clean_text
from gateway.domain.triage import LINES_READ_BACK, TriageMatch, recent_teen_lines

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

ATTACHMENT_ONLY = "(pièce jointe)"  # what the record keeps of a closed-door message without text
# The once-per-conversation claim on the danger reply (a claim, not a mark: two messages handled
# by two processes at once still send it once). Longer than any open conversation lasts.
DANGER_REPLY_CLAIM_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Received:
    conversation: Conversation | None  # None for a duplicate (nobody needs it: not read)
    message: Message | None  # None for a duplicate, or an attachment without text
    duplicate: bool = False


async def receive(helpline: Helpline, inbound: InboundMessage, expect_open: bool = False) -> Received:
    """Store a teen's message (once), open or continue their conversation. `expect_open`: the
    caller believes the sender has an open conversation (a widget socket bound to one), so the
    store step is tried into it before reading which one is open (one round trip fewer)."""
    if inbound.attachments and not (inbound.text or "").strip():
        text = ""  # an attachment alone: noted below, nothing to clean
    else:
        text = clean_text(inbound.text, helpline.config.max_message_chars)
    message_id = MessageId(inbound.channel.value, f"{inbound.sender_key}:{inbound.provider_message_id}",
                           helpline.config.dedupe_ttl_seconds)
    return await _store_inbound(helpline, inbound, text, message_id, expect_open)


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


async def _store_inbound(helpline: Helpline, inbound: InboundMessage, text: str, message_id: MessageId,
                         expect_open: bool = False) -> Received:
    now = helpline.clock.now()
    triage = helpline.config.triage
    words = triage.normalise(text) if text and triage.enabled else ""  # once: alone, then with the recent lines
    match = triage.assess_normalised(words) if words else None
    stored = await _place(helpline, inbound, text, message_id, match, now, expect_open)
    await helpline.store.replicated()  # acked (duplicates too) only once the replicas hold it
    if stored.duplicate:
        return Received(None, None, duplicate=True)
    conversation, message = stored.conversation, stored.message
    assert conversation is not None  # STORED always says where
    # Stored: from here a failure must not make the sender retry (a duplicate, stored nothing).
    # What is missed is caught up: the dispatcher's tick, the console's history on open.
    try:
        if stored.created and conversation.state is ConversationState.CLOSED:
            await _answer_closed(helpline, conversation, match, now)
        else:
            await _follow_up(helpline, conversation, inbound, message, (match, words), stored.created, now)
    except Exception as exc:  # noqa: BLE001 - stored: the sender must not retry (a duplicate)
        log.warning("conversation %s: message stored, follow-up failed (%s)", conversation.id,
                    exc if isinstance(exc, StoreError) else type(exc).__name__)
        helpline.kick()
    return Received(conversation, message)


async def _place(helpline: Helpline, inbound: InboundMessage, text: str, message_id: MessageId,
                 match: TriageMatch | None, now: float, expect_open: bool = False) -> Stored:
    """One store step: the line into the sender's open conversation, else into a new one
    (queued, or closed to be answered at once), claimed with its id. The open one read first
    may close before the step: then it is decided again, as for a sender without one.
    `expect_open`: first the step alone, with no new conversation; it stores (or finds the
    duplicate) unless none is open (NO_OPEN claims nothing), and then it is decided as above."""
    if expect_open and text:
        stored = await helpline.store.store_inbound(message_id, inbound.sender_key, NewMessage(Author.TEEN, text, now),
                                                    None)
        if stored.outcome is not Intake.NO_OPEN:
            return stored
    for _ in range(2):
        new = None
        if await helpline.store.active_conversation_of(inbound.sender_key) is None:
            closed_door = await _closed_door(helpline, inbound.sender_key, now)
            new = new_conversation(helpline, inbound, now, None if closed_door else match)
            if closed_door is not None:
                new = new.close(closed_door, now)
        if text:
            line = NewMessage(Author.TEEN, text, now)
        else:  # an attachment alone: the record of a closed-door exchange still says so
            line = NewMessage(Author.TEEN, ATTACHMENT_ONLY, now) if new and not new.is_open else None
        stored = await helpline.store.store_inbound(message_id, inbound.sender_key, line, new)
        if stored.outcome is not Intake.NO_OPEN:
            return stored
    raise StoreError("the sender's conversation kept closing during intake")  # not acked: retried


async def _closed_door(helpline: Helpline, sender_key: str, now: float) -> CloseReason | None:
    """Why a new conversation would not be queued: a sender marked abusive, the line closed."""
    if await helpline.store.abuse_until(sender_key, now) is not None:
        return CloseReason.BLOCKED
    if not helpline.admits(now):
        return CloseReason.OUT_OF_HOURS
    return None


async def _follow_up(helpline: Helpline, conversation: Conversation, inbound: InboundMessage,
                     message: Message | None, triaged: tuple[TriageMatch | None, str], created: bool,
                     now: float) -> None:
    """Announce the line, note attachments, raise on danger, tell a new teen their place.
    `triaged`: the line's own match and its normalised words."""
    match, words = triaged
    if message is not None:
        await helpline.bus.publish(MessageAdded(conversation.id, conversation.counsellor_id, message))
    await helpline.store.touch_teen(conversation.id, now,
                                    inbound.provider_message_id if inbound.channel is not Channel.WEB else None)
    if inbound.attachments:
        await _note_attachments(helpline, conversation, inbound, now)
    if message is not None and not created:
        match = await _with_recent_lines(helpline, conversation, message, match, words)
    raised = None
    if match is not None and (created or match.priority > conversation.priority):
        raised = await _raise(helpline, conversation, match, created, now)
    if created:
        await announce_queued(helpline, conversation, danger=match is not None)
    elif raised is not None:
        await _reassure(helpline, raised, now)


async def _with_recent_lines(helpline: Helpline, conversation: Conversation, message: Message,
                             match: TriageMatch | None, words: str) -> TriageMatch | None:
    """The stronger of the new line's match and that of the teen's recent lines read together.
    One read of the last lines, skipped when nothing could come out higher than what is in hand:
    already at the top priority, or a line (`words`, normalised) that does not start with the
    rest of any stronger phrase. Then a phrase read across the lines would lie in the earlier
    lines alone, and those were read together when the last of them came (shortcut admitted:
    if that raise failed, or a reload added the rule since, this line does not make up for it)."""
    triage = helpline.config.triage
    above = max(conversation.priority, match.priority if match else 0)
    if above >= triage.top_priority or not triage.may_finish_a_phrase(words, above):
        return match
    history = await helpline.store.messages(conversation.id, after_seq=max(0, message.seq - LINES_READ_BACK))
    lines = recent_teen_lines(history, message.at)
    joined = triage.assess_lines(lines, {message.text: words}) if len(lines) > 1 else None
    return joined if joined is not None and (match is None or joined.priority > match.priority) else match


async def _reassure(helpline: Helpline, conversation: Conversation, now: float) -> None:
    """An open conversation just raised: the waiting teen hears at once that we read it (once).

    Only while it waits: once assigned, a person is reading along, sees the priority note and
    answers in their own words; an automatic line would then talk over them."""
    if conversation.state is not ConversationState.QUEUED or not await _claim_danger_reply(helpline, conversation):
        return
    await helpline.say(conversation, ours(conversation, Author.SYSTEM, helpline.config.messages["danger_reply"], now))


async def _claim_danger_reply(helpline: Helpline, conversation: Conversation) -> bool:
    return await helpline.store.claim_message_id("danger_reply", conversation.id, DANGER_REPLY_CLAIM_SECONDS)


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
                 now: float) -> Conversation | None:
    """Triage found danger: counsellors see why (an internal note); the dispatcher serves it first.
    The conversation as raised; None when it was not (already as high, or closed meanwhile)."""
    if not created:
        if not await helpline.store.raise_priority(conversation.id, match.priority, match.reason, match.skill):
            return None
        helpline.kick()
    raised = await helpline.store.get_conversation(conversation.id)
    if raised is not None:
        await helpline.bus.publish(PriorityRaised(ConversationFacts.of(raised)))
    await helpline.say(conversation, NewMessage(Author.NOTE, f"Priorité relevée : {match.reason}", now))
    log.info("conversation %s raised (rule %s)", conversation.id, match.rule)
    return raised


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
        # Its first notice is the intake's (announce_queued writes the real place): told from
        # birth, so a housekeeper sweeping in between does not send a "Tu es maintenant…" first.
        told_position=1,
        told_at=now,
    )


async def _answer_closed(helpline: Helpline, conversation: Conversation, match: TriageMatch | None,
                         now: float) -> None:
    """Not queued (out of hours, or a sender marked abusive): stored closed with the teen's
    line, answered at once, kept for the record and the figures. Out of hours, danger is
    answered as danger (`danger_closed`, 3114 first); nobody will read it before we reopen.
    A sender marked abusive gets the short reply, which carries the numbers too."""
    if conversation.close_reason is CloseReason.BLOCKED:
        answer = helpline.config.messages["abuse_reply"]
    else:
        answer = helpline.out_of_hours_text("danger_closed" if match is not None else "out_of_hours")
    await helpline.say(conversation, ours(conversation, Author.SYSTEM, answer, now))
    log.info("conversation %s answered without queueing (%s)", conversation.id,
             conversation.close_reason.value if conversation.close_reason else "closed")


async def announce_queued(helpline: Helpline, conversation: Conversation, danger: bool = False) -> None:
    """A new conversation waits: the teen learns their place and the wait, the consoles see it.
    Raised at once (`danger`): the danger reply instead, which says it waits in priority."""
    positions = await helpline.queue_positions()
    position = positions.get(conversation.id, len(positions) or 1)
    now = helpline.clock.now()
    if danger and await _claim_danger_reply(helpline, conversation):
        text = helpline.config.messages["danger_reply"]
    else:
        text = helpline.queued_text("queued", position, *await _slots(helpline))
    notice = ours(conversation, Author.SYSTEM, text, now)
    stored = await helpline.store.append_message(conversation.id, notice)
    await helpline.store.set_marks(conversation.id, {"told_position": position, "told_at": now})
    await helpline.bus.publish(MessageAdded(conversation.id, None, stored))
    await helpline.bus.publish(ConversationChanged(ConversationFacts.of(conversation)))
    log.info("conversation %s queued (channel %s)", conversation.id, conversation.channel.value)
    helpline.kick()


async def _slots(helpline: Helpline) -> tuple[int, int]:
    """(capacity, free slots) of the available counsellors, read now: the first notice must not
    say "nobody is available" from a figure the dispatcher last refreshed before anyone came."""
    team, loads = await helpline.store.counsellors(), await helpline.store.loads()
    available = [c for c in team if c.presence is Presence.AVAILABLE]
    capacity = sum(helpline.capacity_of(c) for c in available)
    helpline.active_capacity = capacity  # as the dispatcher and the housekeeper refresh it
    return capacity, sum(max(0, helpline.capacity_of(c) - loads.get(c.id, 0)) for c in available)
