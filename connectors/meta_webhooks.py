"""Meta webhooks in: `/webhooks/messenger` and `/webhooks/whatsapp`.

Thin on purpose (STYLE.md): read the whole body (413 above `MAX_BODY`), verify the signature
over those raw bytes, parse, hand every event to the core, answer 200 once all are stored. A
batch of more than `INLINE_MAX` events is stored parsed in the core's inbox (one store write)
and answered 200 at once; every process's inbox worker then handles its events through the
same `MetaEvents.handle` as the inline path (core/inbox.py: per sender in order, leased,
handled again by another process if this one dies). The raw body is never stored: it holds
the WhatsApp profile name and attachment URLs, which the parsers drop. A
bad signature → 403 and nothing stored; a body that cannot come from Meta → 400; an event we
do not handle → 200, ignored. A store failure → 503 (the app's `store_outages` middleware),
so Meta retries (duplicates are dropped by message id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from gateway.core import survey
from gateway.core.helpline import Helpline
from gateway.core.delivery import DeliveryWorker
from gateway.core.inbox import Inbox
from gateway.domain.model import Channel, Delivery

from .meta_events import MetaIgnored, MetaMessage, MetaStatus, MetaWatermark, PayloadError
from .meta_send import MetaSecrets
from .meta_signature import verify_handshake, verify_signature
from .messenger_parse import parse_messenger
from .whatsapp_parse import parse_whatsapp

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # bytes; WhatsApp sends up to 3 MB per POST (docs/security.md)
CHUNK = 64 * 1024
TOO_LARGE = {"error": "payload too large"}
# Batches of at most this many events are handled before the 200, as always (a single message
# is in the console when Meta gets its answer); larger ones go through the inbox.
INLINE_MAX = 8


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The whole body, or None if it is larger than `limit`.

    Why a loop: `request.content.read(n)` returns only what is buffered so far (a 1 MB body
    came back cut, and its HMAC failed); `request.read()` is capped by the app's
    client_max_size, which is kept small for every other route.
    """
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class MetaEvents:
    """The one dispatch of a parsed Meta event, before the 200 (inline) or after it (the
    inbox worker), and the inbox's encoding of events (core/inbox.InboxHandler)."""

    helpline: Helpline
    delivery: DeliveryWorker

    async def handle(self, channel: Channel, event) -> None:
        channel = Channel(channel)
        if isinstance(event, MetaMessage):
            await self._message(event)
        elif isinstance(event, MetaStatus):
            state = _STATUS.get(event.status)
            if state is not None:
                error = f"non délivré : la plateforme a refusé ce message (code {event.error_code})" \
                    if state is Delivery.FAILED else None
                await self.delivery.receipt(channel, event.provider_message_id, state, error)
        elif isinstance(event, MetaWatermark):
            key = self.helpline.pseudonyms.sender_key(Channel.MESSENGER.value, event.platform_id)
            await self.delivery.watermark(key, _STATUS[event.kind], event.watermark)
        elif isinstance(event, MetaIgnored):
            log.debug("%s event ignored: %s", channel.value, event.reason)

    async def _message(self, event: MetaMessage) -> None:
        """One teen message: the core splits a long text and stores each part once. A tapped
        answer to the post-chat question is counted instead (core/survey), never queued."""
        if survey.parse_payload(event.reply_payload) is not None:
            await survey.answer_meta(self.helpline, event.channel, event.platform_id, event.reply_payload)
            return
        await self.helpline.receive_meta(event.channel, event.platform_id, event.provider_message_id, event.text,
                                         event.timestamp, tuple(event.attachments), event.business_id)

    @staticmethod
    def encode(events: list) -> str:
        """The parsed events as the inbox keeps them: only what the parsers kept."""
        return orjson.dumps([[_KIND[type(e)], e] for e in events]).decode()

    @staticmethod
    def decode(channel: str, payload: str) -> list:
        return [_decoded(kind, fields) for kind, fields in orjson.loads(payload)]

    @staticmethod
    def sender_of(event) -> str:
        """Whose events must stay in order: a teen's messages and watermarks; a status goes with
        the message it is about (states only move forward anyway)."""
        if isinstance(event, (MetaMessage, MetaWatermark)):
            return "p:" + event.platform_id
        if isinstance(event, MetaStatus):
            return "s:" + event.provider_message_id
        return "ignored"


@dataclass(frozen=True)
class MetaWebhooks:
    helpline: Helpline
    delivery: DeliveryWorker
    secrets: MetaSecrets
    inbox: Inbox | None = None  # None: every batch is handled inline

    @property
    def events(self) -> MetaEvents:
        return MetaEvents(self.helpline, self.delivery)

    def routes(self) -> list[web.RouteDef]:
        out = []
        if self.secrets.messenger_on:
            out += [web.get("/webhooks/messenger", self.verify_messenger),
                    web.post("/webhooks/messenger", self.receive_messenger)]
        if self.secrets.whatsapp_on:
            out += [web.get("/webhooks/whatsapp", self.verify_whatsapp),
                    web.post("/webhooks/whatsapp", self.receive_whatsapp)]
        return out

    async def verify_messenger(self, request: web.Request) -> web.Response:
        return _handshake(request, self.secrets.messenger_verify_token)

    async def verify_whatsapp(self, request: web.Request) -> web.Response:
        return _handshake(request, self.secrets.whatsapp_verify_token)

    async def receive_messenger(self, request: web.Request) -> web.Response:
        return await self._receive(request, Channel.MESSENGER, parse_messenger)

    async def receive_whatsapp(self, request: web.Request) -> web.Response:
        return await self._receive(request, Channel.WHATSAPP, parse_whatsapp)

    async def _receive(self, request: web.Request, channel: Channel, parse) -> web.Response:
        raw = await read_body(request)
        if raw is None:
            log.warning("%s webhook refused: body over %d bytes", channel.value, MAX_BODY)
            return web.json_response(TOO_LARGE, status=413)
        if not verify_signature(raw, request.headers.get("X-Hub-Signature-256"), self.secrets.app_secret.encode()):
            log.warning("%s webhook refused: bad or missing signature", channel.value)
            # A forged POST, or our app secret is wrong / leaked (docs/security.md "What to alert on").
            self.helpline.security.record("bad_signature", f"webhook_{channel.value}",
                                          signature="missing" if "X-Hub-Signature-256" not in request.headers
                                          else "mismatch")
            return web.json_response({"error": "bad signature"}, status=403)
        try:
            events = parse(raw)
        except PayloadError:
            log.warning("%s webhook refused: not a Meta payload", channel.value)
            return web.json_response({"error": "bad payload"}, status=400)
        if self.inbox is not None and len(events) > INLINE_MAX:
            # One store write, then the 200; a StoreError → 503 (store_outages): Meta retries.
            await self.inbox.put(channel.value, MetaEvents.encode(events))
            return web.json_response({"ok": True})
        handler = self.events
        for event in events:
            await handler.handle(channel, event)  # a StoreError → 503 (store_outages): Meta retries
        return web.json_response({"ok": True})


_STATUS = {"sent": Delivery.SENT, "delivered": Delivery.DELIVERED, "read": Delivery.READ, "failed": Delivery.FAILED}
_KIND = {MetaMessage: "m", MetaStatus: "s", MetaWatermark: "w", MetaIgnored: "i"}


def _decoded(kind: str, fields: dict[str, Any]):
    """One event back from the inbox (MetaEvents.encode), with its enum and tuples restored."""
    if kind == "m":
        return MetaMessage(**{**fields, "channel": Channel(fields["channel"]),
                              "attachments": tuple(fields["attachments"])})
    if kind == "s":
        return MetaStatus(**{**fields, "channel": Channel(fields["channel"])})
    if kind == "w":
        return MetaWatermark(**{**fields, "mids": tuple(fields["mids"])})
    return MetaIgnored(**{**fields, "channel": Channel(fields["channel"])})


def _handshake(request: web.Request, token: str) -> web.Response:
    challenge = verify_handshake(request.query, token)
    if challenge is None:
        return web.Response(status=403, text="forbidden")
    return web.Response(text=challenge)
