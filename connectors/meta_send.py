"""Messenger and WhatsApp senders: the core's `Sender` over the Graph API client.

They translate: a conversation's reply address in, Graph requests out, and Graph errors
into the core's DeliveryError with a French reason for the counsellor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gateway.core import survey
from gateway.core.delivery import WINDOW_CLOSED
from gateway.domain.errors import DeliveryError
from gateway.domain.model import Conversation

from .graph import MESSENGER_TEXT_MAX, WHATSAPP_TEXT_MAX, GraphClient, GraphError, GraphErrorKind

_REASONS = {
    GraphErrorKind.WINDOW_CLOSED: WINDOW_CLOSED,  # the core's own words for the same fact
    GraphErrorKind.UNREACHABLE: "non délivré : le destinataire est injoignable sur cette plateforme",
    GraphErrorKind.TOKEN: "non délivré : l'accès à la plateforme a expiré (un administrateur est prévenu)",
    GraphErrorKind.RATE_LIMIT: "non délivré : la plateforme limite les envois, réessayez dans un moment",
    GraphErrorKind.BAD_REQUEST: "non délivré : la plateforme a refusé ce message",
    GraphErrorKind.SERVER: "non délivré : la plateforme ne répond pas, réessayez dans un moment",
    GraphErrorKind.NETWORK: "non délivré : la plateforme est injoignable, réessayez dans un moment",
}


def delivery_error(exc: GraphError) -> DeliveryError:
    kind = "pair_rate" if exc.code == 131056 else exc.kind.value
    return DeliveryError(kind, _REASONS.get(exc.kind, "non délivré : erreur de la plateforme"),
                         retryable=exc.retryable, alert=exc.kind is GraphErrorKind.TOKEN)


def chunks(text: str, size: int) -> list[str]:
    """Split a reply where the platform's limit falls: only when `limits.max_message_chars`
    (our own limit) is set above the platform's."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def survey_buttons(conversation: Conversation) -> tuple[tuple[str, str], ...]:
    """(payload, title) of each answer: the payload names the conversation, so a tap counts for it."""
    return tuple((survey.payload(conversation.id, value), label) for value, label in survey.ANSWERS)


@dataclass(frozen=True)
class MetaSecrets:
    """The environment's Meta secrets; a channel whose secrets are absent is off."""

    app_secret: str = ""
    messenger_verify_token: str = ""
    messenger_page_token: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_token: str = ""
    whatsapp_phone_number_id: str = ""

    @classmethod
    def from_env(cls) -> "MetaSecrets":
        names = ("META_APP_SECRET", "MESSENGER_VERIFY_TOKEN", "MESSENGER_PAGE_TOKEN", "WHATSAPP_VERIFY_TOKEN",
                 "WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID")
        return cls(*(os.environ.get(name, "") for name in names))

    @property
    def messenger_on(self) -> bool:
        return bool(self.app_secret and self.messenger_verify_token and self.messenger_page_token)

    @property
    def whatsapp_on(self) -> bool:
        return bool(self.app_secret and self.whatsapp_verify_token and self.whatsapp_token
                    and self.whatsapp_phone_number_id)


class MessengerSender:
    def __init__(self, graph: GraphClient, page_token: str):
        self._graph = graph
        self._token = page_token

    async def send_text(self, conversation: Conversation, text: str, *, human_agent: bool) -> list[str]:
        try:
            if survey.is_question_text(text):  # the post-chat question: its answers as quick replies
                return [await self._graph.send_messenger_text(self._token, conversation.reply_to, text,
                                                              human_agent_tag=human_agent,
                                                              quick_replies=survey_buttons(conversation))]
            return [await self._graph.send_messenger_text(self._token, conversation.reply_to, part,
                                                          human_agent_tag=human_agent)
                    for part in chunks(text, MESSENGER_TEXT_MAX)]
        except GraphError as exc:
            raise delivery_error(exc) from exc

    async def typing(self, conversation: Conversation, active: bool) -> None:
        """Best effort: a lost typing indicator matters to nobody."""
        try:
            await self._graph.messenger_sender_action(self._token, conversation.reply_to,
                                                      "typing_on" if active else "typing_off")
        except GraphError:
            pass

    async def seen(self, conversation: Conversation) -> None:
        """Best effort: the teen sees that their message was read."""
        try:
            await self._graph.messenger_sender_action(self._token, conversation.reply_to, "mark_seen")
        except GraphError:
            pass


class WhatsAppSender:
    def __init__(self, graph: GraphClient, token: str, phone_number_id: str):
        self._graph = graph
        self._token = token
        self._phone_number_id = phone_number_id

    async def send_text(self, conversation: Conversation, text: str, *, human_agent: bool) -> list[str]:
        # human_agent does not exist on WhatsApp: past 24 h the core does not send at all.
        number_id = conversation.business_id or self._phone_number_id
        try:
            if survey.is_question_text(text):  # the post-chat question: its answers as reply buttons
                return [await self._graph.send_whatsapp_buttons(self._token, number_id, conversation.reply_to, text,
                                                                survey_buttons(conversation))]
            return [await self._graph.send_whatsapp_text(self._token, number_id, conversation.reply_to, part)
                    for part in chunks(text, WHATSAPP_TEXT_MAX)]
        except GraphError as exc:
            raise delivery_error(exc) from exc

    async def seen(self, conversation: Conversation) -> None:
        """Two blue ticks on the teen's latest message (and so on the ones before it)."""
        if not conversation.last_inbound_id:
            return
        try:
            await self._graph.whatsapp_mark_read(self._token, conversation.business_id or self._phone_number_id,
                                                 conversation.last_inbound_id)
        except GraphError:
            pass
