"""WhatsApp Cloud API webhook bodies → `MetaEvent`s.

Follows Meta's WhatsApp Cloud API "Webhooks reference / messages": a body is
`{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field", "value"}]}]}`;
for `field == "messages"`, `value` carries `metadata.phone_number_id` (our number), and
`messages[]` (the teen wrote) and/or `statuses[]` (what became of one of our messages). One
POST may carry up to 1000 updates. Every one becomes one MetaEvent; nothing here raises but
`PayloadError`, for a body that is not a WhatsApp Business Account webhook.

`value.contacts[]` is never read: its `profile.name` is the teen's name, which no one here
needs to know (META.md: never show it), and `messages[].from` already says who wrote.
"""

from __future__ import annotations

from typing import Any

from gateway.domain.model import Channel

from .meta_events import (
    Malformed,
    MetaEvent,
    MetaIgnored,
    MetaStatus,
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

CHANNEL = Channel.WHATSAPP

_MEDIA = frozenset({"image", "audio", "video", "document", "sticker"})  # may carry a caption
_SHARED = frozenset({"location", "contacts"})  # shown by type only
_INTERACTIVE = frozenset({"button_reply", "list_reply"})
_STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def parse_whatsapp(raw_body: bytes) -> list[MetaEvent]:
    """Every update of a WhatsApp webhook body, messages in timestamp order."""
    events: list[MetaEvent] = []
    for entry in load_envelope(raw_body, "whatsapp_business_account"):
        events.extend(safely(CHANNEL, "entry", _entry, entry))
    return order_messages(events)


def _entry(entry: Any) -> list[MetaEvent]:
    events: list[MetaEvent] = []
    for change in as_list(as_obj(entry).get("changes")):
        events.extend(safely(CHANNEL, "change", _change, change))
    return events or [MetaIgnored(CHANNEL, "empty entry")]


def _change(change: Any) -> list[MetaEvent]:
    change = as_obj(change)
    if change.get("field") != "messages":  # account_update, message_template_status_update, …
        return [MetaIgnored(CHANNEL, "unhandled field")]
    value = as_obj(change.get("value"))
    messages = as_list(value.get("messages", []))
    statuses = as_list(value.get("statuses", []))
    events: list[MetaEvent] = []
    for message in messages:
        events.extend(safely(CHANNEL, "message", lambda m: _message(value, m), message))
    for status in statuses:
        events.extend(safely(CHANNEL, "status", _status, status))
    if "errors" in value:  # a platform-level error about the webhook itself: nothing to store
        events.append(MetaIgnored(CHANNEL, "platform error"))
    return events or [MetaIgnored(CHANNEL, "empty change")]


def _message(value: dict[str, Any], message: Any) -> MetaEvent:
    message = as_obj(message)
    kind = message.get("type")
    if not isinstance(kind, str):
        raise Malformed("type")
    if kind == "reaction":  # an emoji on an earlier message: not something to answer
        return MetaIgnored(CHANNEL, "reaction")
    if kind == "system":  # e.g. the teen changed number: no content
        return MetaIgnored(CHANNEL, "system")
    text, attachments = _content(kind, message)
    return build_message(
        CHANNEL,
        platform_id=_sender(value, message),
        provider_message_id=required_str(message, "id"),
        timestamp=as_seconds(message.get("timestamp")),  # a string of seconds
        text=text,
        attachments=attachments,
        business_id=required_str(as_obj(value.get("metadata")), "phone_number_id"),
        reply_payload=_button_id(kind, message),
    )


def _button_id(kind: str, message: dict[str, Any]) -> str | None:
    """A reply button of ours tapped: `interactive.button_reply.id` (the id we sent)."""
    interactive = message.get("interactive") if kind == "interactive" else None
    return reply_payload_of(interactive, "button_reply", "id") if isinstance(interactive, dict) else None


def _sender(value: dict[str, Any], message: dict[str, Any]) -> str:
    """Who wrote: the phone number (`from`) or, since 2026, for a teen who chose a WhatsApp
    username and hides their number, the business-scoped user id (BSUID: `from_user_id`, also
    `contacts[].user_id`). The Cloud API's `to` accepts either, so the reply goes back the
    same way. Shortcut: one teen seen first by number, then by BSUID, gets two pseudonyms."""
    for candidate in (message.get("from"), message.get("from_user_id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    contacts = value.get("contacts")
    if isinstance(contacts, list) and len(contacts) == 1 and isinstance(contacts[0], dict):
        user_id = contacts[0].get("user_id")
        if isinstance(user_id, str) and user_id:
            return user_id
    raise Malformed("from missing")


def _content(kind: str, message: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(text, attachment types) of one message; media ids and URLs are never kept."""
    if kind == "text":
        return optional_text(as_obj(message.get("text")), "body"), ()
    if kind == "interactive":  # a reply button or list row the teen tapped
        interactive = as_obj(message.get("interactive"))
        reply = interactive.get("type")
        if isinstance(reply, str) and reply in _INTERACTIVE:
            return optional_text(as_obj(interactive.get(reply)), "title"), ()
        return "", ("unsupported",)  # e.g. nfm_reply (a Flow's answers)
    if kind == "button":  # a quick-reply button of a template
        return optional_text(as_obj(message.get("button")), "text"), ()
    if kind in _MEDIA:
        media = message.get(kind)
        caption = optional_text(media, "caption") if isinstance(media, dict) else ""
        return caption, (kind,)
    if kind in _SHARED:
        return "", (kind,)
    return "", ("unsupported",)  # `unsupported`, `unknown`, or a type newer than this code


def _status(status: Any) -> MetaEvent:
    status = as_obj(status)
    state = status.get("status")
    if not isinstance(state, str) or state not in _STATUSES:  # e.g. "deleted", "warning"
        return MetaIgnored(CHANNEL, "unhandled status")
    code, title = _first_error(status) if state == "failed" else (None, None)
    return MetaStatus(
        channel=CHANNEL,
        provider_message_id=required_str(status, "id"),
        status=state,
        timestamp=as_seconds(status.get("timestamp")),
        error_code=code,
        error_title=title,
    )


def _first_error(status: dict[str, Any]) -> tuple[int | None, str | None]:
    """`errors[0].code` / `.title` of a failed status (e.g. 131047: outside the 24 h window)."""
    errors = status.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return None, None
    code, title = first.get("code"), first.get("title")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    return code, title if isinstance(title, str) else None
