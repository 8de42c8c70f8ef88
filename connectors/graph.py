"""The one seam to Meta's Graph API: Messenger's Send API and WhatsApp's Cloud API.

`GraphClient` sends text, typing indicators and read receipts over an `aiohttp.ClientSession`
it is given, against a base URL it is given (tests point it at `meta_standin`). Every failure
becomes a `GraphError` whose `kind` and `retryable` come from `classify`, a pure function of
Meta's error `code` (META.md: key on the code, not on the HTTP status). The client never
retries: the delivery outbox does (gateway/delivery.py, `retry_delay`).

Secrets stay out of errors and logs: no token, PSID, phone number or text is ever formatted
into a message; only codes, kinds, HTTP statuses and Meta's `fbtrace_id`.

GatewayError
└── GraphError       a Graph API call failed (code, subcode, kind, retryable, http_status)
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import Any

import aiohttp
import orjson

from gateway.domain.config import Config
from gateway.domain.errors import GatewayError

log = logging.getLogger(__name__)

# The platforms' own limits, written here once (the senders split at them; our own limit is
# config's `limits.max_message_chars`). META.md "Sending": Messenger text "< 2000 chars" (Send
# API: "must be UTF-8 and has a 2000 character limit"); WhatsApp text.body "≤ 4096 chars".
MESSENGER_TEXT_MAX = 1999
WHATSAPP_TEXT_MAX = 4096
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
# Buttons under a message (the post-chat question). Messenger quick replies: up to 13, title
# ≤ 20 characters, payload ≤ 1000 ("Quick Replies" reference). WhatsApp interactive reply
# buttons: up to 3, title ≤ 20, id ≤ 256, body.text ≤ 1024 ("Interactive reply buttons messages").
MESSENGER_QUICK_REPLIES_MAX, WHATSAPP_BUTTONS_MAX = 13, 3
BUTTON_TITLE_MAX, WHATSAPP_BUTTON_TEXT_MAX = 20, 1024
PAIR_RATE_CODE = 131056  # WhatsApp (business, consumer) pair rate limit: back off 4^n seconds


class GraphErrorKind(str, Enum):
    RATE_LIMIT = "rate_limit"
    TOKEN = "token"
    WINDOW_CLOSED = "window_closed"
    UNREACHABLE = "unreachable"
    BAD_REQUEST = "bad_request"
    SERVER = "server"
    NETWORK = "network"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({GraphErrorKind.RATE_LIMIT, GraphErrorKind.SERVER, GraphErrorKind.NETWORK})

# META.md "Errors: key on `code`", with Meta's own tables (Messenger "Common Error Codes",
# WhatsApp Cloud API "Error codes") for the codes it does not list.
_BY_CODE: dict[int, GraphErrorKind] = {
    190: GraphErrorKind.TOKEN,  # access token expired / invalid: an admin must act
    4: GraphErrorKind.RATE_LIMIT,  # application request limit
    613: GraphErrorKind.RATE_LIMIT,  # Messenger: calls to this API exceeded the rate limit
    80007: GraphErrorKind.RATE_LIMIT,  # WhatsApp Business Account rate limit
    130429: GraphErrorKind.RATE_LIMIT,  # WhatsApp throughput (80 msg/s per number)
    PAIR_RATE_CODE: GraphErrorKind.RATE_LIMIT,  # WhatsApp: 1 message / 6 s to the same user
    131047: GraphErrorKind.WINDOW_CLOSED,  # WhatsApp re-engagement: > 24 h since the teen wrote
    10: GraphErrorKind.WINDOW_CLOSED,  # Messenger: "(#10) This message is sent outside of allowed window"
    2018278: GraphErrorKind.WINDOW_CLOSED,  # META.md lists these Messenger numbers as codes; Meta
    1545041: GraphErrorKind.WINDOW_CLOSED,  # sends them as error_subcode (see _BY_SUBCODE)
    551: GraphErrorKind.UNREACHABLE,  # Messenger: this person isn't available right now
    131026: GraphErrorKind.UNREACHABLE,  # WhatsApp: message undeliverable
    # Meta's "temporary, try again later" codes.
    1: GraphErrorKind.SERVER,  # API Unknown
    2: GraphErrorKind.SERVER,  # API Service / temporary send failure
    131000: GraphErrorKind.SERVER,  # WhatsApp: something went wrong
    131016: GraphErrorKind.SERVER,  # WhatsApp: service unavailable
    133004: GraphErrorKind.SERVER,  # WhatsApp: server temporarily unavailable
}

# Messenger groups its errors by code and tells the condition by subcode: the subcode, when
# it is one we know, is the more precise fact. META.md puts 1545041 with the closed window.
_BY_SUBCODE: dict[int, GraphErrorKind] = {
    2018278: GraphErrorKind.WINDOW_CLOSED,
    1545041: GraphErrorKind.WINDOW_CLOSED,
}


def classify(code: int | None, subcode: int | None, http_status: int) -> GraphErrorKind:
    """What a Graph failure means, from Meta's error code (pure).

    The HTTP status is only a fallback, for an answer without a Graph error body (a proxy's
    502, an HTML page) or an unknown code: 5xx → SERVER, 429 → RATE_LIMIT, 0 (no answer at
    all) → NETWORK, anything else → BAD_REQUEST (not retried: retrying cannot fix it).
    """
    if subcode is not None and subcode in _BY_SUBCODE:
        return _BY_SUBCODE[subcode]
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if http_status == 0:
        return GraphErrorKind.NETWORK
    if http_status >= 500:
        return GraphErrorKind.SERVER
    if http_status == 429 and code is None:
        return GraphErrorKind.RATE_LIMIT
    return GraphErrorKind.BAD_REQUEST


class GraphError(GatewayError):
    """A Graph API call failed. `code`/`subcode` are Meta's (None without an error body)."""

    def __init__(self, operation: str, kind: GraphErrorKind, *, code: int | None = None, subcode: int | None = None,
                 http_status: int = 0, fbtrace_id: str | None = None, error_type: str | None = None):
        # Only fixed words and numbers: this text ends up in logs.
        super().__init__(f"graph {operation} failed: {kind.value} (code={code}, subcode={subcode}, "
                         f"http={http_status}, fbtrace_id={fbtrace_id})")
        self.operation = operation
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type  # e.g. OAuthException
        self.retryable = kind.retryable


class GraphClient:
    """Messenger and WhatsApp sends. One instance per process; the session is the caller's."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str = Config.graph_api_url,
                 version: str = Config.graph_api_version, timeout: float = 10.0):
        self._session = session
        self._root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    # --- Messenger ------------------------------------------------------------------------------

    async def send_messenger_text(self, page_token: str, psid: str, text: str, *,
                                  human_agent_tag: bool = False,
                                  quick_replies: tuple[tuple[str, str], ...] = ()) -> str:
        """Send a text; return Meta's `message_id`. Past 24 h a human agent may still answer
        for 7 days with the HUMAN_AGENT tag (META.md "Messaging windows"). `quick_replies`:
        (payload, title) buttons under it; a tap comes back as `message.quick_reply.payload`."""
        if len(text) > MESSENGER_TEXT_MAX:
            raise ValueError(f"Messenger text must be at most {MESSENGER_TEXT_MAX} characters, got {len(text)}")
        message: dict[str, Any] = {"text": text}
        if quick_replies:
            _check_buttons(quick_replies, MESSENGER_QUICK_REPLIES_MAX, 1000)
            message["quick_replies"] = [{"content_type": "text", "title": title, "payload": payload}
                                        for payload, title in quick_replies]
        body: dict[str, Any] = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": message}
        if human_agent_tag:
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = "HUMAN_AGENT"
        reply = await self._messenger("messenger_send", page_token, body)
        message_id = reply.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            # Accepted without an id: retried like a server error. A duplicate is better
            # than a lost answer, and receipts could not be matched to it anyway.
            raise GraphError("messenger_send", GraphErrorKind.SERVER, http_status=200)
        return message_id

    async def messenger_sender_action(self, page_token: str, psid: str, action: str) -> None:
        """typing_on / typing_off / mark_seen: a request of its own, without a message."""
        if action not in SENDER_ACTIONS:
            raise ValueError(f"unknown sender_action, expected one of {sorted(SENDER_ACTIONS)}")
        await self._messenger("messenger_action", page_token, {"recipient": {"id": psid}, "sender_action": action})

    async def _messenger(self, operation: str, page_token: str, body: dict[str, Any]) -> dict[str, Any]:
        # The Send API takes the page token as `access_token` (Messenger "Send API" reference).
        return await self._post(operation, f"{self._root}/me/messages", body, secrets=(page_token,),
                                params={"access_token": page_token})

    # --- WhatsApp -------------------------------------------------------------------------------

    async def send_whatsapp_text(self, token: str, phone_number_id: str, to: str, text: str) -> str:
        """Send a text; return the `wamid`. Accepted is not delivered: status webhooks follow."""
        if len(text) > WHATSAPP_TEXT_MAX:
            raise ValueError(f"WhatsApp text must be at most {WHATSAPP_TEXT_MAX} characters, got {len(text)}")
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
                "text": {"preview_url": False, "body": text}}
        return await self._whatsapp_message(token, phone_number_id, body)

    async def send_whatsapp_buttons(self, token: str, phone_number_id: str, to: str, text: str,
                                    buttons: tuple[tuple[str, str], ...]) -> str:
        """A text with (id, title) reply buttons; a tap comes back as an `interactive` message
        whose `button_reply.id` is the button's id. Returns the `wamid`."""
        if not 0 < len(text) <= WHATSAPP_BUTTON_TEXT_MAX:
            raise ValueError(f"WhatsApp button text must be 1 to {WHATSAPP_BUTTON_TEXT_MAX} characters")
        _check_buttons(buttons, WHATSAPP_BUTTONS_MAX, 256)
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
                "interactive": {"type": "button", "body": {"text": text}, "action": {"buttons": [
                    {"type": "reply", "reply": {"id": button_id, "title": title}} for button_id, title in buttons]}}}
        return await self._whatsapp_message(token, phone_number_id, body)

    async def _whatsapp_message(self, token: str, phone_number_id: str, body: dict[str, Any]) -> str:
        reply = await self._whatsapp("whatsapp_send", token, phone_number_id, body)
        messages = reply.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise GraphError("whatsapp_send", GraphErrorKind.SERVER, http_status=200)
        return message_id

    async def whatsapp_mark_read(self, token: str, phone_number_id: str, message_id: str) -> None:
        """The teen's message shows two blue ticks (Cloud API "Mark messages as read")."""
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        await self._whatsapp("whatsapp_read", token, phone_number_id, body)

    async def _whatsapp(self, operation: str, token: str, phone_number_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._post(operation, f"{self._root}/{phone_number_id}/messages", body,
                                secrets=(token, phone_number_id), headers={"Authorization": f"Bearer {token}"})

    # --- the one place that does I/O ----------------------------------------------------------

    async def _post(self, operation: str, url: str, body: dict[str, Any], *, secrets: tuple[str, ...],
                    params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        failure: BaseException | None = None
        try:
            async with self._session.post(url, data=orjson.dumps(body), params=params, headers=all_headers,
                                          timeout=self._timeout) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            failure = exc
        if failure is not None:
            log.info("graph %s failed: kind=network (%s)", operation, type(failure).__name__)
            # Raised outside the `except` so that nothing is chained implicitly; the cause is
            # chained for debugging unless its text could carry the URL (the page token rides
            # in the query string) or another secret.
            cause = None if _mentions(failure, secrets) else failure
            raise GraphError(operation, GraphErrorKind.NETWORK) from cause
        payload = _json(raw)
        if 200 <= status < 300 and isinstance(payload, dict) and "error" not in payload:
            return payload
        error = _graph_error(operation, status, payload)
        log.log(logging.WARNING if error.kind is GraphErrorKind.TOKEN else logging.INFO,
                "graph %s failed: kind=%s code=%s subcode=%s http=%s fbtrace_id=%s", operation,
                error.kind.value, error.code, error.subcode, error.http_status, error.fbtrace_id)
        raise error


def _check_buttons(buttons: tuple[tuple[str, str], ...], most: int, id_max: int) -> None:
    """Meta refuses more buttons, or a longer title or payload, than its limits: say so here."""
    if not 0 < len(buttons) <= most:
        raise ValueError(f"1 to {most} buttons, got {len(buttons)}")
    for button_id, title in buttons:
        if not 0 < len(title) <= BUTTON_TITLE_MAX or not 0 < len(button_id) <= id_max:
            raise ValueError("a button title is 1 to 20 characters, its payload within the platform's limit")


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # Meta answers JSON (sometimes as text/javascript); a proxy may not


def _graph_error(operation: str, status: int, payload: Any) -> GraphError:
    """The GraphError for a non-2xx answer (or a 2xx carrying `error`)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return GraphError(operation, classify(None, None, status if status >= 300 else 500), http_status=status)
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    trace = error.get("fbtrace_id")
    kind_of_error = error.get("type")
    return GraphError(operation, classify(code, subcode, status), code=code, subcode=subcode, http_status=status,
                      fbtrace_id=trace if isinstance(trace, str) else None,
                      error_type=kind_of_error if isinstance(kind_of_error, str) else None)


def _int(value: Any) -> int | None:
    """Meta's codes are numbers; some relays pass them on as strings ("131056")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _mentions(exc: BaseException, secrets: tuple[str, ...]) -> bool:
    text = f"{exc!s} {exc!r}"
    return any(secret and secret in text for secret in secrets)
