"""Messenger Platform webhook bodies → `MetaEvent`s.

Follows Meta's Messenger Platform "Webhook Events Reference": a body is
`{"object": "page", "entry": [{"id", "time", "messaging": [event, …]}]}`, where each event
has `sender.id` (the teen's PSID), `recipient.id` (our page), `timestamp` (ms) and one of
`message` (messages / message_echoes), `delivery` (message_deliveries), `read`
(message_reads) or `postback` (messaging_postbacks). Events for a thread another app owns
under the Handover Protocol arrive in `entry[].standby[]` instead. Every event becomes one
MetaEvent; nothing here raises but `PayloadError`, for a body that is not a page webhook.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.domain.model import Channel

from .meta_events import (
    Malformed,
    MetaEvent,
    MetaIgnored,
    MetaMessage,
    MetaWatermark,
    as_list,
    as_obj,
    as_seconds,
    build_message,
    load_envelope,
    optional_text,
    order_messages,
    reply_payload_of,
    required_str,
    safely,
)

CHANNEL = Channel.MESSENGER

# "messages" reference: image, audio, video, file, reel, ig_reel are the main types, plus
# `fallback` (a shared link) and older `location` / `template`. Anything else is shown as
# "unsupported" rather than passing an arbitrary string on to the console.
_ATTACHMENT_TYPES = frozenset({"image", "audio", "video", "file", "reel", "ig_reel",
                               "fallback", "location", "template"})

# Other `messaging[]` events we subscribe to or may get, handled by ignoring them.
_IGNORED = {
    "reaction": "reaction",  # message_reactions
    "message_edit": "edit",  # message_edits
    "referral": "referral",  # messaging_referrals
    "optin": "optin",  # messaging_optins
    "account_linking": "account linking",
    "pass_thread_control": "thread control",  # Handover Protocol
    "take_thread_control": "thread control",
    "request_thread_control": "thread control",
    "policy_enforcement": "policy enforcement",
}

# The App Dashboard's test notifications (and the newer postback reference) wrap an event
# as `entry[].changes[] {field, value}`: the same event, another envelope.
_MESSAGING_FIELDS = frozenset({"messages", "message_echoes", "message_deliveries", "message_reads",
                               "messaging_postbacks"})


def parse_messenger(raw_body: bytes) -> list[MetaEvent]:
    """Every event of a Messenger webhook body, messages in timestamp order."""
    events: list[MetaEvent] = []
    for entry in load_envelope(raw_body, "page"):
        events.extend(safely(CHANNEL, "entry", _entry, entry))
    return order_messages(events)


def _entry(entry: Any) -> list[MetaEvent]:
    entry = as_obj(entry)
    messaging = as_list(entry.get("messaging", []))
    standby = as_list(entry.get("standby", []))
    changes = as_list(entry.get("changes", []))
    events: list[MetaEvent] = []
    for event in messaging:
        events.extend(safely(CHANNEL, "event", _event, event))
    # Handover Protocol: another app (e.g. a page inbox) owns the thread; not ours to answer.
    events.extend(MetaIgnored(CHANNEL, "standby") for _ in standby)
    for change in changes:
        events.extend(safely(CHANNEL, "change", _change, change))
    return events or [MetaIgnored(CHANNEL, "empty entry")]


def _change(change: Any) -> MetaEvent:
    change = as_obj(change)
    field = change.get("field")
    if not isinstance(field, str) or field not in _MESSAGING_FIELDS:  # e.g. `feed`: page posts
        return MetaIgnored(CHANNEL, "unhandled field")
    return _event(change.get("value"))


def _event(event: Any) -> MetaEvent:
    event = as_obj(event)
    if "message" in event:
        return _message(event)
    if "postback" in event:
        return _postback(event)
    if "delivery" in event:
        return _watermark(event, "delivery", "delivered")
    if "read" in event:
        return _watermark(event, "read", "read")
    for key, reason in _IGNORED.items():
        if key in event:
            return MetaIgnored(CHANNEL, reason)
    return MetaIgnored(CHANNEL, "unhandled event")


def _message(event: dict[str, Any]) -> MetaEvent:
    message = as_obj(event["message"])
    if message.get("is_echo"):  # message_echoes: our own page's sends, coming back
        return MetaIgnored(CHANNEL, "echo")
    if message.get("is_deleted"):  # the teen unsent a message: nothing to show
        return MetaIgnored(CHANNEL, "deleted")
    attachments = tuple(_attachment_type(a) for a in as_list(message.get("attachments", [])))
    return build_message(
        CHANNEL,
        platform_id=_party(event, "sender"),
        provider_message_id=required_str(message, "mid"),
        timestamp=as_seconds(event.get("timestamp")),
        text=optional_text(message, "text"),  # a quick reply's text comes here too
        attachments=attachments,
        business_id=_party(event, "recipient"),
        reply_payload=reply_payload_of(message, "quick_reply", "payload"),
    )


def _attachment_type(attachment: Any) -> str:
    """The type only: the payload's URL points at the teen's (maybe intimate) image."""
    kind = attachment.get("type") if isinstance(attachment, dict) else None
    return kind if isinstance(kind, str) and kind in _ATTACHMENT_TYPES else "unsupported"


def _postback(event: dict[str, Any]) -> MetaMessage:
    """A button the teen clicked: its title is what they "said"."""
    postback = as_obj(event["postback"])
    sender = _party(event, "sender")
    timestamp = as_seconds(event.get("timestamp"))
    mid = postback.get("mid")
    if not isinstance(mid, str) or not mid:
        # The classic postback event has no mid (the newer reference adds one). Meta retries
        # the same body, so a hash of sender + timestamp + payload is as stable a dedupe key
        # as a mid; hashed so the PSID does not travel inside a message id.
        mid = _postback_id(sender, timestamp, postback.get("payload"))
    return build_message(
        CHANNEL,
        platform_id=sender,
        provider_message_id=mid,
        timestamp=timestamp,
        text=optional_text(postback, "title"),
        attachments=(),
        business_id=_party(event, "recipient"),
    )


def _postback_id(sender: str, timestamp: float, payload: Any) -> str:
    payload_text = payload if isinstance(payload, str) else ""
    key = "\x1f".join((sender, repr(timestamp), payload_text)).encode("utf-8", "surrogatepass")
    return "postback." + hashlib.sha256(key).hexdigest()[:40]


def _watermark(event: dict[str, Any], key: str, kind: str) -> MetaWatermark:
    """message_deliveries / message_reads: all our messages sent before `watermark`."""
    receipt = as_obj(event[key])
    mids = as_list(receipt.get("mids", []))
    if not all(isinstance(mid, str) and mid for mid in mids):
        raise Malformed("mids")
    return MetaWatermark(
        platform_id=_party(event, "sender"),
        kind=kind,
        watermark=as_seconds(receipt.get("watermark")),
        mids=tuple(mids),
    )


def _party(event: dict[str, Any], key: str) -> str:
    """`sender.id` (PSID) or `recipient.id` (page). A sender known only by `user_ref`
    (checkbox plugin) cannot be answered by PSID: treated as malformed."""
    return required_str(as_obj(event.get(key)), "id")
