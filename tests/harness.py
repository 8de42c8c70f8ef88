"""A real gateway on a loopback port, with parts the test chooses (store, clock, config)."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestServer

from gateway.core.accounts import create_counsellor
from gateway.domain.clock import ManualClock
from gateway.domain.config import Config, parse_config
from gateway.http.console import HELPLINE
from gateway.core.helpline import Helpline
from gateway.domain.model import Role
from gateway.core.housekeeping import Housekeeper
from gateway.app.server import HOUSEKEEPER, build_app, build_parts
from gateway.app.http_server import gateway_runner
from tests.clients import Console

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday, mid-morning in Paris: the line is open.
TUESDAY_10H = datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)
PASSWORD = "correct horse battery"
# The Meta channels' secrets in tests: the gateway reads them from the environment, the
# stand-in (fixture `standin` in conftest.py) is built with the same values.
META_SECRETS = {
    "META_APP_SECRET": "test-app-secret-0123456789",
    "MESSENGER_VERIFY_TOKEN": "messenger-verify",
    "MESSENGER_PAGE_TOKEN": "page-token-abc",
    "WHATSAPP_VERIFY_TOKEN": "whatsapp-verify",
    "WHATSAPP_TOKEN": "wa-token-xyz",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
}


def health_headers() -> dict[str, str]:
    """What the monitoring system sends to GET /healthz/details (the token conftest.py sets)."""
    return {"Authorization": f"Bearer {os.environ['GATEWAY_HEALTH_TOKEN']}"}


def make_config(store_url: str = "memory://", prefix: str = "3018", **overrides) -> Config:
    doc = {"store": {"url": store_url, "prefix": prefix}, **overrides}
    return parse_config(doc)


class GatewayTestServer(TestServer):
    """aiohttp's TestServer on the runner `serve` uses (gateway/app/http_server.py: deadlines,
    client-free error logs). TestServer's own runner arguments (handler_cancellation) are kept."""

    def __init__(self, app, config: Config, **kwargs):
        self.config = config
        super().__init__(app, **kwargs)

    async def _make_runner(self, **kwargs):
        return gateway_runner(self.app, self.config, **kwargs)


@dataclass
class Running:
    server: TestServer
    helpline: Helpline
    clock: ManualClock
    housekeeper: Housekeeper

    @property
    def http(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def ws(self) -> str:
        return self.http.replace("http://", "ws://")

    async def add_counsellor(self, username: str, display_name: str | None = None,
                             role: Role = Role.COUNSELLOR, skills: frozenset[str] = frozenset(),
                             max_conversations: int | None = None) -> None:
        await create_counsellor(self.helpline.store, username, display_name or username.title(), PASSWORD, role,
                                skills, max_conversations)

    async def on_duty(self, username: str, display_name: str | None = None, presence: str = "available",
                      **account) -> Console:
        """A counsellor with an account, logged in to the console, with that presence."""
        await self.add_counsellor(username, display_name, **account)
        console = await Console.login(self.http, username, PASSWORD)
        await console.presence(presence)
        return console


@asynccontextmanager
async def running_gateway(config: Config, at: datetime = TUESDAY_10H):
    clock = ManualClock(at)
    parts = build_parts(config, clock=clock)
    app = build_app(parts)
    server = GatewayTestServer(app, config, host="127.0.0.1")
    try:
        await server.start_server()  # a part that fails to start: close() closes those before it
        yield Running(server, app[HELPLINE], clock, app[HOUSEKEEPER])
    finally:
        await server.close()
