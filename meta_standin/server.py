"""A stand-in for Meta, on a real loopback HTTP port, playing both of Meta's parts.

- **Graph API** (what the gateway calls): `POST /{version}/me/messages` (Messenger Send API)
  and `POST /{version}/{phone_number_id}/messages` (WhatsApp Cloud API). Tokens, ids and
  bodies are checked as Meta checks them, answers and errors come in Meta's shapes, every
  request is recorded (`StandIn.sent`), and `fail_next` makes the next sends fail with a
  chosen Meta error code.
- **Webhooks** (what Meta sends the gateway): message, delivery, read and status events
  built in Meta's documented shapes, serialised as Meta puts them on the wire (escaped
  unicode, escaped slashes), signed `X-Hub-Signature-256` over those exact bytes.

For tests (in-process: `await StandIn(...).start()`) and demos (`python -m meta_standin`,
with a `/_standin/` control API). Not part of the gateway: nothing here is imported by it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from meta_standin.shapes import messenger_problem, whatsapp_problem

log = logging.getLogger(__name__)

CHANNELS = ("messenger", "whatsapp")
WHATSAPP_STATUSES = ("sent", "delivered", "read", "failed")


# --- Meta's errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaErrorSpec:
    """One Graph error as Meta sends it. Statuses: WhatsApp's from the Cloud API error-code
    table (throttling 429, token 401, permission 403, the rest 400); Messenger's reference
    gives none, and the Graph API answers its errors 400."""

    code: int
    message: str
    subcode: int | None = None
    type: str = "OAuthException"
    whatsapp_status: int = 400
    messenger_status: int = 400

    def status(self, channel: str) -> int:
        return self.whatsapp_status if channel == "whatsapp" else self.messenger_status


# Keyed by what a test asks for. Messenger's window / availability numbers (2018278, 1545041)
# are error_subcodes at Meta: asking for one gives its real code with it.
ERRORS: dict[int, MetaErrorSpec] = {
    4: MetaErrorSpec(4, "(#4) Application request limit reached", whatsapp_status=429),
    613: MetaErrorSpec(613, "(#613) Calls to this api have exceeded the rate limit."),
    80007: MetaErrorSpec(80007, "(#80007) Rate limit issues", whatsapp_status=429),
    130429: MetaErrorSpec(130429, "(#130429) Rate limit hit", whatsapp_status=429),
    131056: MetaErrorSpec(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                          whatsapp_status=429),
    190: MetaErrorSpec(190, "Error validating access token: Session has expired.", subcode=463,
                       whatsapp_status=401),
    131047: MetaErrorSpec(131047, "(#131047) Re-engagement message"),
    131026: MetaErrorSpec(131026, "(#131026) Message undeliverable"),
    10: MetaErrorSpec(10, "(#10) This message is sent outside of allowed window.", subcode=2018278,
                      whatsapp_status=403),
    2018278: MetaErrorSpec(10, "(#10) This message is sent outside of allowed window.", subcode=2018278,
                           whatsapp_status=403),
    551: MetaErrorSpec(551, "(#551) This person isn't available right now."),
    1545041: MetaErrorSpec(551, "(#551) This person isn't available right now.", subcode=1545041),
    100: MetaErrorSpec(100, "(#100) Invalid parameter"),
    2: MetaErrorSpec(2, "(#2) Service temporarily unavailable", whatsapp_status=503, messenger_status=500),
    131000: MetaErrorSpec(131000, "(#131000) Something went wrong", whatsapp_status=500, messenger_status=500),
}

BAD_TOKEN = MetaErrorSpec(190, "Invalid OAuth access token - Cannot parse access token", whatsapp_status=401)
NO_SUCH_OBJECT = MetaErrorSpec(100, "(#100) Unsupported post request. Object does not exist, cannot be loaded due "
                                    "to missing permissions, or does not support this operation.",
                               subcode=33, type="GraphMethodException")


def error_spec(code: int, subcode: int | None = None) -> MetaErrorSpec:
    spec = ERRORS.get(code) or MetaErrorSpec(code, f"(#{code}) An error occurred")
    return spec if subcode is None else MetaErrorSpec(spec.code, spec.message, subcode, spec.type,
                                                      spec.whatsapp_status, spec.messenger_status)


def error_body(spec: MetaErrorSpec) -> dict[str, Any]:
    """`{"error": {message, type, code, error_subcode?, fbtrace_id}}`, as Meta sends it."""
    error: dict[str, Any] = {"message": spec.message, "type": spec.type, "code": spec.code}
    if spec.subcode is not None:
        error["error_subcode"] = spec.subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
    return {"error": error}


# --- what was sent --------------------------------------------------------------------------


@dataclass
class SentRequest:
    """One Graph API request the stand-in received, and what it answered."""

    seq: int
    channel: str  # "messenger" | "whatsapp" | "graph" (any other path, e.g. a media fetch)
    path: str
    body: Any  # the parsed JSON body (None when it was not JSON)
    time: float
    status: int
    response: dict[str, Any]
    error_code: int | None = None

    @property
    def user(self) -> str | None:
        """The PSID / phone number the request was for."""
        if not isinstance(self.body, dict):
            return None
        if self.channel == "messenger":
            recipient = self.body.get("recipient")
            return recipient.get("id") if isinstance(recipient, dict) else None
        return self.body.get("to") if self.channel == "whatsapp" else None

    @property
    def text(self) -> str | None:
        """The text the user sees, when this was an accepted text message."""
        if self.error_code is not None or not isinstance(self.body, dict):
            return None
        if self.channel == "messenger":
            message = self.body.get("message")
            return message.get("text") if isinstance(message, dict) else None
        if self.channel == "whatsapp" and self.body.get("type") == "interactive":
            return self.body["interactive"]["body"]["text"]
        text = self.body.get("text")
        return text.get("body") if self.channel == "whatsapp" and isinstance(text, dict) else None

    @property
    def buttons(self) -> list[dict[str, str]]:
        """The answers offered under an accepted message: `{"payload", "title"}` each (Messenger
        quick replies, WhatsApp reply buttons, whose id is the payload that comes back)."""
        if self.text is None:
            return []
        if self.channel == "messenger":
            replies = self.body["message"].get("quick_replies") or []
            return [{"payload": r["payload"], "title": r["title"]} for r in replies]
        if self.body.get("type") != "interactive":
            return []
        return [{"payload": b["reply"]["id"], "title": b["reply"]["title"]}
                for b in self.body["interactive"]["action"]["buttons"]]

    @property
    def action(self) -> str | None:
        """typing_on / typing_off / mark_seen (Messenger) or read (WhatsApp)."""
        if not isinstance(self.body, dict):
            return None
        action = self.body.get("sender_action") or self.body.get("status")
        return action if isinstance(action, str) else None

    @property
    def message_id(self) -> str | None:
        if "message_id" in self.response:
            return self.response["message_id"]
        messages = self.response.get("messages")
        return messages[0].get("id") if isinstance(messages, list) and messages else None

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "channel": self.channel, "path": self.path, "body": self.body, "time": self.time,
                "status": self.status, "response": self.response, "error_code": self.error_code,
                "user": self.user, "text": self.text, "action": self.action, "message_id": self.message_id,
                "buttons": self.buttons}


# --- webhook bodies (pure) ------------------------------------------------------------------


def meta_json(body: Any) -> bytes:
    """JSON as Meta puts it on the wire: compact, non-ASCII escaped (`caf\\u00e9`, emoji as
    surrogate pairs, lowercase hex) and `/` escaped as `\\/`. The signature covers these bytes."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def signature_256(raw_body: bytes, app_secret: str) -> str:
    # Computed here rather than imported from the gateway (connectors/meta_signature.py):
    # a stand-in sharing the code under test would hide that code's bugs.
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def messenger_envelope(page_id: str, events: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": now_ms, "messaging": events}]}


def whatsapp_envelope(waba_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}]}


# --- the server -----------------------------------------------------------------------------


@dataclass
class _Failure:
    spec: MetaErrorSpec
    http_status: int | None = None
    when: Callable[[dict[str, Any]], bool] | None = None

    def applies_to(self, body: dict[str, Any]) -> bool:
        if self.when is None:
            return True
        try:
            return bool(self.when(body))
        except (KeyError, TypeError, AttributeError, IndexError):
            return False


@dataclass
class StandIn:
    """Meta, played on 127.0.0.1. `start()`, then point the gateway's `graph_api_url` at `.url`."""

    app_secret: str = field(repr=False)
    page_token: str = field(repr=False)
    whatsapp_token: str = field(repr=False)
    phone_number_id: str
    version: str = "v25.0"
    page_id: str = "104560000000001"
    waba_id: str = "102290129340398"
    display_phone_number: str = "15550783881"
    sent: list[SentRequest] = field(default_factory=list, init=False, repr=False)
    url: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._failures: dict[str, list[_Failure]] = {c: [] for c in CHANNELS}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = False

    # --- lifecycle ---

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(f"/{self.version}/me/messages", self._messenger_send)
        app.router.add_post(f"/{self.version}/{{number_id}}/messages", self._whatsapp_send)
        app.router.add_post("/_standin/fail", self._control_fail)
        app.router.add_get("/_standin/sent", self._control_sent)
        app.router.add_get("/_standin/health", self._control_health)
        app.router.add_route("*", "/{tail:.*}", self._other_graph_path)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        async with self._changed:  # end the long-polls now: shutdown waits for open requests
            self._closing = True
            self._changed.notify_all()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- failure injection and what was sent ---

    def fail_next(self, channel: str, code: int, times: int = 1, subcode: int | None = None, *,
                  http_status: int | None = None, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next `times` message sends on `channel` get Meta's error `code`.

        Only sends of a message count (not typing indicators nor read receipts, which a
        gateway may fire in between); `when(body)`, if given, narrows it to the sends it
        accepts (an automatic message already in the outbox would otherwise take the error).
        `http_status` overrides the documented status, to show a client does not depend on it.
        """
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}")
        self._failures[channel].extend(_Failure(error_spec(code, subcode), http_status, when) for _ in range(times))

    def _injected(self, channel: str, body: Any) -> _Failure | None:
        """The first pending failure that applies to this message send, taken off the list."""
        pending = self._failures[channel]
        for index, failure in enumerate(pending):
            if failure.applies_to(body):
                return pending.pop(index)
        return None

    def seen(self, channel: str, user: str) -> list[str]:
        """The texts this user received, in order: what their phone would show."""
        return [r.text for r in self.sent if r.channel == channel and r.user == user and r.text is not None]

    async def wait_for_sent(self, predicate: Callable[[SentRequest], bool], timeout: float = 5) -> SentRequest:
        """The first recorded request (past or future) matching `predicate`."""
        async def first() -> SentRequest:
            async with self._changed:
                while True:
                    for record in self.sent:
                        if _matches(predicate, record):
                            return record
                    await self._changed.wait()
        try:
            return await asyncio.wait_for(first(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no matching Graph request within {timeout} s ({len(self.sent)} recorded)") from None

    async def _record(self, channel: str, request: web.Request, body: Any, status: int, response: dict[str, Any],
                      error_code: int | None) -> web.Response:
        record = SentRequest(len(self.sent) + 1, channel, request.path, body, time.time(), status, response,
                             error_code)
        async with self._changed:
            self.sent.append(record)
            self._changed.notify_all()
        return web.json_response(response, status=status)

    async def _error(self, channel: str, request: web.Request, body: Any, spec: MetaErrorSpec,
                     status: int | None = None) -> web.Response:
        return await self._record(channel, request, body, status or spec.status(channel), error_body(spec), spec.code)

    # --- Graph API ---

    async def _messenger_send(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if not hmac.compare_digest(request.query.get("access_token", "").encode(), self.page_token.encode()):
            return await self._error("messenger", request, body, BAD_TOKEN)
        is_message = isinstance(body, dict) and "sender_action" not in body
        failure = self._injected("messenger", body) if is_message else None
        if failure is not None:
            return await self._error("messenger", request, body, failure.spec, failure.http_status)
        if messenger_problem(body) is not None:
            return await self._error("messenger", request, body, ERRORS[100])
        reply: dict[str, Any] = {"recipient_id": body["recipient"]["id"]}
        if is_message:
            reply["message_id"] = "m_" + secrets.token_urlsafe(24)
        return await self._record("messenger", request, body, 200, reply, None)

    async def _whatsapp_send(self, request: web.Request) -> web.Response:
        body = await _body(request)
        authorization = request.headers.get("Authorization", "")
        if not hmac.compare_digest(authorization.encode(), f"Bearer {self.whatsapp_token}".encode()):
            return await self._error("whatsapp", request, body, BAD_TOKEN)
        if request.match_info["number_id"] != self.phone_number_id:
            return await self._error("whatsapp", request, body, NO_SUCH_OBJECT)
        is_message = isinstance(body, dict) and "status" not in body
        failure = self._injected("whatsapp", body) if is_message else None
        if failure is not None:
            return await self._error("whatsapp", request, body, failure.spec, failure.http_status)
        if whatsapp_problem(body) is not None:
            return await self._error("whatsapp", request, body, ERRORS[100])
        if not is_message:
            return await self._record("whatsapp", request, body, 200, {"success": True}, None)
        to = body["to"]
        reply = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": _digits(to)}],
                 "messages": [{"id": "wamid." + secrets.token_urlsafe(32)}]}
        return await self._record("whatsapp", request, body, 200, reply, None)

    async def _other_graph_path(self, request: web.Request) -> web.Response:
        """Anything else (a media fetch, another version): recorded, refused as Meta would."""
        return await self._error("graph", request, await _body(request), NO_SUCH_OBJECT)

    # --- control API, for demos and the terminal chat ---

    async def _control_fail(self, request: web.Request) -> web.Response:
        order = await _body(request)
        try:
            subcode, status = order.get("subcode"), order.get("http_status")
            self.fail_next(order["channel"], int(order["code"]), int(order.get("times", 1)),
                           None if subcode is None else int(subcode),
                           http_status=None if status is None else int(status))
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            return web.json_response({"error": f"expected {{channel, code, times?, subcode?}}: {exc}"}, status=400)
        return web.json_response({"ok": True})

    async def _control_sent(self, request: web.Request) -> web.Response:
        """`?after=SEQ&wait=S&channel=C&user=U`: the records after SEQ, long-polling up to S s."""
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "0")), 30.0)
        except ValueError:
            return web.json_response({"error": "after and wait must be numbers"}, status=400)
        channel, user = request.query.get("channel"), request.query.get("user")

        def matching() -> list[SentRequest]:
            return [r for r in self.sent[after:] if (channel is None or r.channel == channel)
                    and (user is None or r.user == user)]

        found = matching()
        if not found and wait > 0:
            async def arrival() -> None:
                async with self._changed:
                    await self._changed.wait_for(lambda: self._closing or bool(matching()))
            try:
                await asyncio.wait_for(arrival(), wait)
            except asyncio.TimeoutError:
                pass
            found = matching()
        return web.json_response({"sent": [r.as_dict() for r in found], "last": len(self.sent)})

    async def _control_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": self.version, "recorded": len(self.sent)})

    # --- webhooks to the gateway ---

    async def send_messenger_text(self, gateway_url: str, psid: str, text: str, mid: str | None = None,
                                  timestamp_ms: int | None = None) -> tuple[int, str]:
        """A teen's Messenger text (Webhooks reference, `messages`)."""
        at = timestamp_ms if timestamp_ms is not None else _now_ms()
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": at,
                 "message": {"mid": mid or "m_" + secrets.token_urlsafe(24), "text": text}}
        return await self._post_messenger(gateway_url, [event])

    async def send_messenger_quick_reply(self, gateway_url: str, psid: str, title: str, payload: str,
                                         mid: str | None = None) -> tuple[int, str]:
        """The teen tapped a quick reply: a `messages` event whose text is the title and
        `quick_reply.payload` the payload we sent (Webhooks reference, `messages`)."""
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": _now_ms(),
                 "message": {"mid": mid or "m_" + secrets.token_urlsafe(24), "text": title,
                             "quick_reply": {"payload": payload}}}
        return await self._post_messenger(gateway_url, [event])

    async def send_messenger_delivery(self, gateway_url: str, psid: str, mids: list[str] | None = None,
                                      watermark_ms: int | None = None) -> tuple[int, str]:
        """`message_deliveries`: all our messages before the watermark reached the teen."""
        delivery: dict[str, Any] = {"watermark": watermark_ms if watermark_ms is not None else _now_ms()}
        if mids:
            delivery = {"mids": list(mids), **delivery}
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "delivery": delivery}
        return await self._post_messenger(gateway_url, [event])

    async def send_messenger_read(self, gateway_url: str, psid: str,
                                  watermark_ms: int | None = None) -> tuple[int, str]:
        """`message_reads`: the teen read everything we sent before the watermark."""
        now = _now_ms()
        event = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": now,
                 "read": {"watermark": watermark_ms if watermark_ms is not None else now}}
        return await self._post_messenger(gateway_url, [event])

    async def send_whatsapp_text(self, gateway_url: str, wa_id: str, text: str, *, message_id: str | None = None,
                                 timestamp: int | None = None, profile_name: str = "Sam") -> tuple[int, str]:
        """A teen's WhatsApp text (Cloud API webhooks, `messages` field)."""
        message = {"from": wa_id, "id": message_id or _wamid(), "timestamp": str(timestamp or int(time.time())),
                   "type": "text", "text": {"body": text}}
        value = {**self._whatsapp_value(), "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
                 "messages": [message]}
        return await self.send_raw(gateway_url, "/webhooks/whatsapp", meta_json(whatsapp_envelope(self.waba_id, value)))

    async def send_whatsapp_button_reply(self, gateway_url: str, wa_id: str, button_id: str, title: str, *,
                                         profile_name: str = "Sam") -> tuple[int, str]:
        """The teen tapped a reply button: an `interactive` message with `button_reply {id, title}`
        (Cloud API webhooks, `messages` field)."""
        message = {"from": wa_id, "id": _wamid(), "timestamp": str(int(time.time())), "type": "interactive",
                   "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}}
        value = {**self._whatsapp_value(), "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
                 "messages": [message]}
        return await self.send_raw(gateway_url, "/webhooks/whatsapp", meta_json(whatsapp_envelope(self.waba_id, value)))

    async def send_whatsapp_status(self, gateway_url: str, wamid: str, status: str, recipient_id: str,
                                   error_code: int | None = None, timestamp: int | None = None) -> tuple[int, str]:
        """What became of one of our messages: sent, delivered, read, or failed (with errors)."""
        if status not in WHATSAPP_STATUSES:
            raise ValueError(f"status must be one of {WHATSAPP_STATUSES}")
        entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp or int(time.time())),
                                 "recipient_id": recipient_id}
        if status == "failed":
            spec = error_spec(error_code if error_code is not None else 131026)
            title = spec.message.split(") ", 1)[-1]
            entry["errors"] = [{"code": spec.code, "title": title, "message": title,
                                "error_data": {"details": title},
                                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]
        value = {**self._whatsapp_value(), "statuses": [entry]}
        return await self.send_raw(gateway_url, "/webhooks/whatsapp", meta_json(whatsapp_envelope(self.waba_id, value)))

    async def send_raw(self, gateway_url: str, path: str, body_bytes: bytes, sign: bool = True) -> tuple[int, str]:
        """POST these exact bytes to the gateway, signed (or not) as Meta signs them."""
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if sign:
            headers["X-Hub-Signature-256"] = signature_256(body_bytes, self.app_secret)
            # The legacy SHA-1 header Meta still sends alongside (META.md: not to be relied on).
            legacy = hmac.new(self.app_secret.encode(), body_bytes, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature"] = "sha1=" + legacy
        async with self._session().post(gateway_url.rstrip("/") + path, data=body_bytes, headers=headers) as response:
            return response.status, await response.text()

    async def verify(self, gateway_url: str, channel: str, verify_token: str,
                     challenge: str | None = None) -> tuple[int, str]:
        """Meta's subscription handshake: GET with hub.mode, hub.verify_token, hub.challenge."""
        params = {"hub.mode": "subscribe", "hub.verify_token": verify_token,
                  "hub.challenge": challenge or str(secrets.randbelow(10**10))}
        async with self._session().get(f"{gateway_url.rstrip('/')}/webhooks/{channel}", params=params) as response:
            return response.status, await response.text()

    async def _post_messenger(self, gateway_url: str, events: list[dict[str, Any]]) -> tuple[int, str]:
        body = messenger_envelope(self.page_id, events, _now_ms())
        return await self.send_raw(gateway_url, "/webhooks/messenger", meta_json(body))

    def _whatsapp_value(self) -> dict[str, Any]:
        return {"messaging_product": "whatsapp", "metadata": {"display_phone_number": self.display_phone_number,
                                                              "phone_number_id": self.phone_number_id}}

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._client


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _matches(predicate: Callable[[SentRequest], bool], record: SentRequest) -> bool:
    """A predicate written for text sends may index into a typing indicator's body: no match."""
    try:
        return bool(predicate(record))
    except (KeyError, TypeError, AttributeError, IndexError):
        return False


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wamid() -> str:
    return "wamid." + secrets.token_urlsafe(32)
