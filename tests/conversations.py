"""A conversation already assigned: a gateway, a counsellor on duty, a teen who wrote on one
channel, and the console showing the conversation as theirs. Flow tests start from here
instead of repeating the setup (fixtures `web_chat`, `messenger_chat`, `whatsapp_chat` in
conftest.py wrap it)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.config import Config
from tests.clients import Console, Widget
from tests.harness import TUESDAY_10H, Running, running_gateway

# The teen's platform ids on the Meta channels (the stand-in plays their phone / account).
PHONE = "33612345678"
PSID = "6543210987654321"


@dataclass
class Chat:
    gw: Running
    console: Console
    conversation: dict  # as the console received it, state "assigned"
    teen: Widget | None = None  # the widget, on the web channel

    @property
    def id(self) -> str:
        return self.conversation["id"]


async def teen_writes(gw: Running, channel: str, text: str, standin=None, teen: Widget | None = None) -> None:
    """The teen's first message on `channel`; the gateway has accepted it when this returns."""
    if channel == "web":
        await teen.say(text)
    elif channel == "whatsapp":
        status, _ = await standin.send_whatsapp_text(gw.http, PHONE, text)
        assert status == 200
    elif channel == "messenger":
        status, _ = await standin.send_messenger_text(gw.http, PSID, text)
        assert status == 200
    else:
        raise ValueError(f"unknown channel {channel!r}")


@asynccontextmanager
async def assigned_conversation(config: Config, channel: str, *, standin=None, text: str = "allo",
                                at: datetime = TUESDAY_10H, counsellor: str = "camille",
                                display_name: str | None = None, **account):
    """Yield a `Chat` once the counsellor's console has the teen's conversation assigned.

    Meta channels need the `standin` fixture (and a config whose meta.graph_api_url is its URL).
    """
    async with running_gateway(config, at) as gw, await gw.on_duty(counsellor, display_name, **account) as console:
        teen = await Widget.connect(gw.ws) if channel == "web" else None
        try:
            await teen_writes(gw, channel, text, standin, teen)
            conversation = await console.assigned()
            assert conversation["channel"] == channel
            yield Chat(gw, console, conversation, teen)
        finally:
            if teen is not None:
                await teen.close()
