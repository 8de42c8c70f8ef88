"""The Redis store's intake: a message and the claim on its id, stored in one script.

A mixin of RedisStore (redis.py); the scripts are STORE_INBOUND and STORE_REPLY (redis_scripts).
The dedupe key of a stored message holds "conversation id|seq" (an older claim, or one of
housekeeping's, holds "1"), so a duplicate learns where the first went.
"""

from __future__ import annotations


from gateway.core.ports import Intake, MessageId, NewMessage, Stored
from gateway.domain.model import Conversation, ConversationState, Delivery, Message
from gateway.store.redis_codec import (
    conversation_fields,
    encode_message,
    encode_window,
    flat,
    pairs,
    parse_conversation,
    queue_score,
)
from gateway.store.redis_keys import RedisPart, redis_errors


def _duplicate(first: str) -> Stored:
    """A claim's value: "id|seq" for a message stored with it, "1" for an older claim."""
    conversation_id, _, seq = first.rpartition("|")
    if not conversation_id or not seq.isdigit():
        return Stored(Intake.DUPLICATE)
    return Stored(Intake.DUPLICATE, conversation_id, int(seq))


def _stored_line(conversation_id: str, seq: int, line: NewMessage | None) -> Message | None:
    if line is None:
        return None
    return Message(conversation_id, seq, line.author, line.text, line.at, line.author_name,
                   delivery=Delivery.PENDING if line.deliver else None)


def _new_conversation_args(conversation: Conversation | None) -> list[str]:
    """STORE_INBOUND's ARGV[5:]: new id, queue score, opened_at, closed score, fields."""
    if conversation is None:
        return ["", "", "", ""]
    queued = conversation.state is ConversationState.QUEUED
    closed = conversation.state is ConversationState.CLOSED
    closed_at = conversation.closed_at if conversation.closed_at is not None else conversation.opened_at
    if not (queued or closed):
        raise ValueError(f"a new conversation is queued or closed, not {conversation.state.value}")
    return [conversation.id, str(queue_score(conversation)) if queued else "", repr(conversation.opened_at),
            repr(closed_at) if closed else "", *flat(conversation_fields(conversation))]


class RedisIntake(RedisPart):
    """store_inbound, store_reply, stored_under; RedisStore provides the client and scripts."""

    @redis_errors
    async def stored_under(self, message_id: MessageId) -> Stored | None:
        first = await self._r.get(self._keys.dedupe(message_id.scope, message_id.value))
        return _duplicate(first) if first else None

    @redis_errors
    async def store_inbound(self, message_id: MessageId, sender_key: str, line: NewMessage | None,
                            new_conversation: Conversation | None) -> Stored:
        k = self._keys
        new_args = _new_conversation_args(new_conversation)  # ValueError before any I/O
        new_hash = k.conversation(new_conversation.id) if new_conversation else k.conversation("none")
        reply = await self._s.store_inbound(
            keys=[k.dedupe(message_id.scope, message_id.value), k.active(sender_key), k.queue,
                  k.conversation_ids, k.closed, new_hash, k.sender_conversations(sender_key)],
            args=[k.prefix, message_id.ttl, encode_message(line) if line else "", self._content_ttl, *new_args],
        )
        if reply[0] == Intake.DUPLICATE.value:
            return _duplicate(reply[1])
        if reply[0] == Intake.NO_OPEN.value:
            return Stored(Intake.NO_OPEN)
        _, conversation_id, seq, created, fields = reply
        return Stored(Intake.STORED, conversation_id, int(seq), _stored_line(conversation_id, int(seq), line),
                      parse_conversation(pairs(fields)), bool(created))

    @redis_errors
    async def store_reply(self, message_id: MessageId | None, conversation_id: str, counsellor_id: str,
                          line: NewMessage) -> Stored:
        k = self._keys
        keys = [k.conversation(conversation_id)]
        if message_id is not None:
            keys.append(k.dedupe(message_id.scope, message_id.value))
        reply = await self._s.store_reply(
            keys=keys,
            args=[k.prefix, conversation_id, counsellor_id, encode_message(line),
                  encode_window(line.window) if line.window else "", repr(line.at), self._content_ttl,
                  message_id.ttl if message_id else 0],
        )
        if reply[0] == Intake.DUPLICATE.value:
            return _duplicate(reply[1])
        if reply[0] == Intake.REFUSED.value:
            return Stored(Intake.REFUSED, conversation_id)
        seq = int(reply[2])
        return Stored(Intake.STORED, conversation_id, seq, _stored_line(conversation_id, seq, line))
