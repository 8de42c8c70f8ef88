"""The post-chat question (issue #12, item 8): "Est-ce que cet échange t'a aidé ?".

Off by default (`casework.post_chat_question`). Asked once, after a conversation a counsellor
took closes by the counsellor or the teen (not abandoned, out of hours, abuse, inactivity):
on the widget as buttons (a `survey` frame after the closing state, connectors/web_widget.py),
on Messenger and WhatsApp as a system line of the closed conversation that the senders turn
into quick replies / reply buttons (connectors/meta_send.py), whose payload names the
conversation so the tap comes back to it.

Anonymous: an answer is only a count per day and channel. The conversation id is kept only as
a claim refusing a second answer, with a TTL of two days (answers past 24 h are ignored), so it
never outlives the conversation's texts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway.core.lines import ours
from gateway.domain.config import Config
from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState

log = logging.getLogger(__name__)

QUESTION = "Est-ce que cet échange t'a aidé ?"
ANSWERS = (("oui", "Oui"), ("un_peu", "Un peu"), ("non", "Pas vraiment"))
ANSWER_VALUES = frozenset(value for value, _ in ANSWERS)
THANKS = "Merci pour ta réponse 💜"
ASKED_AFTER = frozenset({CloseReason.BY_COUNSELLOR, CloseReason.BY_TEEN})
LATE_AFTER_SECONDS = 24 * 3600  # an answer later than this after the close is ignored
CLAIM_TTL_SECONDS = 2 * 24 * 3600  # the one-answer claim outlives the 24 h, never the retention
PAYLOAD_PREFIX = "survey:"  # Meta quick-reply payload / button id: "survey:<conversation id>:<answer>"


def enabled(config: Config) -> bool:
    return bool(config.casework.post_chat_question)


def asks_after(config: Config, closed) -> bool:
    """Whether a closed conversation gets the question: a Conversation or its ConversationFacts.
    "Answered" is read as "a counsellor took it" (`assigned_at`), the one fact both carry."""
    return (enabled(config) and closed.state is ConversationState.CLOSED
            and closed.close_reason in ASKED_AFTER and closed.assigned_at is not None)


def question_frame() -> dict:
    """The widget's `survey` frame."""
    return {"type": "survey", "question": QUESTION,
            "answers": [{"value": value, "label": label} for value, label in ANSWERS]}


def is_question_text(text: str) -> bool:
    """A line of ours that the Meta senders send with its answers as buttons. Shortcut: told by
    its text (the outbox carries texts only); a counsellor typing these exact words gets
    buttons too, whose taps count only as `answer` allows."""
    return text == QUESTION


def payload(conversation_id: str, value: str) -> str:
    return f"{PAYLOAD_PREFIX}{conversation_id}:{value}"


def parse_payload(value: object) -> tuple[str, str] | None:
    """(conversation id, answer) of a payload we made; None for anything else."""
    if not isinstance(value, str) or not value.startswith(PAYLOAD_PREFIX) or len(value) > 200:
        return None
    conversation_id, _, answer = value[len(PAYLOAD_PREFIX):].rpartition(":")
    return (conversation_id, answer) if conversation_id and answer in ANSWER_VALUES else None


async def after_close(helpline, closed: Conversation) -> None:
    """Messenger/WhatsApp: the question goes out as a line of ours (the outbox sends it with its
    buttons). The widget's comes with the closing state (its socket asks `asks_after`)."""
    if closed.channel is Channel.WEB or not asks_after(helpline.config, closed):
        return
    await helpline.say(closed, ours(closed, Author.SYSTEM, QUESTION, helpline.clock.now()))


async def answer(helpline, sender_key: str, conversation_id: object, value: object) -> bool:
    """Count one answer of this teen about their conversation; False when ignored: not theirs,
    not asked, late (a new conversation opened, or past 24 h), answered before, unknown value."""
    if not isinstance(conversation_id, str) or value not in ANSWER_VALUES:
        return False
    conversation = await helpline.store.get_conversation(conversation_id)
    now = helpline.clock.now()
    if conversation is None or conversation.sender_key != sender_key or not asks_after(helpline.config, conversation):
        return False
    if now - conversation.closed_at > LATE_AFTER_SECONDS:
        return False
    if await helpline.store.active_conversation_of(sender_key) is not None:
        return False  # they wrote again since: the question was about the one before
    counted = await helpline.store.count_survey_answer(conversation.id, day_of(helpline, now),
                                                       conversation.channel.value, value, CLAIM_TTL_SECONDS)
    if counted:
        log.info("post-chat answer counted (%s)", conversation.channel.value)
    return counted


async def answer_meta(helpline, channel: Channel, platform_id: str, tapped: str) -> None:
    """A quick reply / reply button tapped on Messenger or WhatsApp; thanked once counted."""
    parsed = parse_payload(tapped)
    if parsed is None:
        return
    sender_key = helpline.pseudonyms.sender_key(channel.value, platform_id)
    if await answer(helpline, sender_key, parsed[0], parsed[1]):
        conversation = await helpline.store.get_conversation(parsed[0])
        await helpline.say(conversation, ours(conversation, Author.SYSTEM, THANKS, helpline.clock.now()))


def day_of(helpline, at: float) -> str:
    """The helpline's local date (the figures' day), as the counts' key."""
    return datetime.fromtimestamp(at, helpline.config.schedule.weekly.tz).date().isoformat()


async def helped(helpline, at: float) -> dict[str, int]:
    """The day's answers over every channel, for the supervisor's figures."""
    totals = dict.fromkeys(ANSWER_VALUES, 0)
    for counts in (await helpline.store.survey_counts(day_of(helpline, at))).values():
        for value, count in counts.items():
            if value in totals:
                totals[value] += count
    return {value: totals[value] for value, _ in ANSWERS}
