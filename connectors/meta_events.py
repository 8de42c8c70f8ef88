"""What the Messenger and WhatsApp webhook parsers produce, and the checks they share.

A webhook body becomes a list of `MetaEvent`s: a teen's message, the delivery state of one
of our messages (WhatsApp `statuses[]`, Messenger delivery/read watermarks), or an event we
handle by ignoring it. A body that cannot come from Meta raises `PayloadError` (→ 400); one
bad event inside a good body only becomes `MetaIgnored("malformed …")`, so that Meta is not
made to retry (and we do not lose) the other events of the batch.

Pure data and pure functions: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import orjson

from gateway.domain.errors import ProtocolError
from gateway.domain.model import Channel


class PayloadError(ProtocolError):
    """The body is not a Meta webhook of the expected object (→ HTTP 400)."""

    code = "bad_payload"

    def __init__(self, message: str):
        super().__init__("bad_payload", message)


@dataclass(frozen=True)
class MetaMessage:
    """A teen wrote (text and/or attachments) or clicked a button."""

    channel: Channel
    # PSID or WhatsApp `from`: secret, so kept out of repr (no log line can carry it).
    platform_id: str = field(repr=False)
    provider_message_id: str  # mid / wamid: what duplicates (Meta retries) are dropped by
    timestamp: float  # seconds since the epoch
    text: str  # "" when none
    attachments: tuple[str, ...]  # attachment TYPES only: never a URL (we must not fetch images)
    business_id: str = field(repr=False)  # our page id / phone_number_id: where replies go from
    # A quick reply (Messenger `message.quick_reply.payload`) or reply button (WhatsApp
    # `interactive.button_reply.id`) of ours that the teen tapped: the payload we set (core/survey).
    reply_payload: str | None = None


@dataclass(frozen=True)
class MetaStatus:
    """WhatsApp `statuses[]`: the delivery state of one of OUR messages."""

    channel: Channel
    provider_message_id: str
    status: str  # "sent" | "delivered" | "read" | "failed"
    timestamp: float
    error_code: int | None
    error_title: str | None


@dataclass(frozen=True)
class MetaWatermark:
    """Messenger delivery/read: every message of ours up to `watermark` reached that state."""

    platform_id: str = field(repr=False)  # the teen's PSID
    kind: str  # "delivered" | "read"
    watermark: float  # seconds
    mids: tuple[str, ...]  # `delivery.mids` when Meta sends them ("may not be present")


@dataclass(frozen=True)
class MetaIgnored:
    """Handled by ignoring it: echo, standby, reaction, unknown field, malformed event."""

    channel: Channel
    reason: str  # short and fixed: never an id nor a text


MetaEvent = Union[MetaMessage, MetaStatus, MetaWatermark, MetaIgnored]


# --- the checks both parsers share ---------------------------------------------------------------


class Malformed(ValueError):
    """One event (or entry) is not shaped as Meta documents it: ignore it, keep the others."""


def load_envelope(raw_body: bytes, object_name: str) -> list[Any]:
    """The `entry` list of a body whose `object` is `object_name`, else PayloadError."""
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("body is not JSON") from exc
    if not isinstance(body, dict):
        raise PayloadError("body is not a JSON object")
    if body.get("object") != object_name:
        raise PayloadError(f"object is not {object_name}")
    entry = body.get("entry")
    if not isinstance(entry, list):
        raise PayloadError("entry is not a list")
    return entry


def safely(channel: Channel, what: str, parse: Callable[[Any], Any], item: Any) -> list[MetaEvent]:
    """`parse(item)` as a list of events; a malformed item becomes one MetaIgnored.

    The parsers check shapes explicitly (`Malformed`); the other exceptions are a net for a
    shape we did not foresee: an exception here would answer 500 to the whole batch, and
    Messenger unsubscribes an app whose webhook keeps failing for an hour.
    """
    try:
        result = parse(item)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return [MetaIgnored(channel, f"malformed {what}")]
    return result if isinstance(result, list) else [result]


def as_obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed("not an object")
    return value


def as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed("not a list")
    return value


def required_str(container: dict[str, Any], key: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key} missing")
    return value


def optional_text(container: dict[str, Any], key: str) -> str:
    """A text field Meta may omit: "" when absent, Malformed when not a string."""
    value = container.get(key, "")
    if not isinstance(value, str):
        raise Malformed(f"{key} not a string")
    return value


_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,9})?")
_MS_FROM = 1e11  # 1e11 s is the year 5138, 1e11 ms is 1973: anything above is milliseconds


def as_seconds(value: Any) -> float:
    """A Meta timestamp in seconds since the epoch.

    Messenger documents milliseconds as a number (`1458692752478`), WhatsApp seconds as a
    string (`"1749416383"`), and Messenger's newer postback reference shows a string of
    seconds (`"1527459824"`). META.md: where the docs disagree, handle both, so numbers and
    decimal strings are accepted, and the unit is told by the magnitude.
    """
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed("timestamp not a number")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise Malformed("timestamp out of range")
    return seconds / 1000.0 if seconds >= _MS_FROM else seconds


def build_message(channel: Channel, platform_id: str, provider_message_id: str, timestamp: float,
                  text: str, attachments: tuple[str, ...], business_id: str,
                  reply_payload: str | None = None) -> MetaMessage:
    """A MetaMessage; one with neither text nor attachment says "unsupported" rather than
    vanish: the teen did send something, and the counsellor should know."""
    if not text and not attachments:
        attachments = ("unsupported",)
    return MetaMessage(channel, platform_id, provider_message_id, timestamp, text, attachments, business_id,
                       reply_payload)


def reply_payload_of(container: dict[str, Any], key: str, payload_key: str) -> str | None:
    """The payload of a tapped quick reply / button (`container[key][payload_key]`), if a string."""
    tapped = container.get(key)
    value = tapped.get(payload_key) if isinstance(tapped, dict) else None
    return value if isinstance(value, str) and value else None


def order_messages(events: list[MetaEvent]) -> list[MetaEvent]:
    """The events in the order received, except that the MetaMessages are sorted among
    themselves by their own timestamp (stable), in the slots messages occupied.

    META.md: order by the event's own timestamp, delivery can be out of order. Statuses and
    watermarks need no sorting: `Delivery.advance` only ever moves a state forward.
    """
    messages = iter(sorted((e for e in events if isinstance(e, MetaMessage)), key=lambda m: m.timestamp))
    return [next(messages) if isinstance(event, MetaMessage) else event for event in events]
