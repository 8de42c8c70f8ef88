"""The aiohttp application: wires config, store, bus and core to the HTTP routes.

`build_app` takes every part explicitly (tests inject a manual clock and their store).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, web

from connectors.graph import GraphClient
from connectors.meta_send import MessengerSender, MetaSecrets, WhatsAppSender
from connectors.meta_webhooks import MetaWebhooks
from connectors.web_widget import WIDGET_HUB, WidgetHub, widget_socket

from gateway.bus import LocalBus, RedisBus
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.config import Config
from gateway.http.console import CONSOLE_HUB, HELPLINE, LOGIN_GUARD, ConsoleHub, add_console_routes
from gateway.app.config_watch import ConfigWatcher
from gateway.core.housekeeping import Housekeeper
from gateway.core.retention import RetentionSweeper
from gateway.http.security import security_headers
from gateway.domain.login_guard import LoginGuard
from gateway.http.metrics import METRICS, Metrics, metrics_handler
from gateway.domain.rate_limit import MONOTONIC
from gateway.core.helpline import Helpline
from gateway.core.delivery import DeliveryWorker
from gateway.domain.model import Channel
from gateway.domain.pseudonym import Pseudonyms
from gateway.http.sockets import SOCKETS
from gateway.store import Store, open_store

log = logging.getLogger(__name__)
DELIVERY = web.AppKey("delivery", DeliveryWorker)
SECRETS = web.AppKey("meta_secrets", MetaSecrets)
HOUSEKEEPER = web.AppKey("housekeeper", Housekeeper)
RETENTION = web.AppKey("retention", RetentionSweeper)
CONFIG_WATCHER = web.AppKey("config_watcher", ConfigWatcher)
WIDGET_DIR = Path(__file__).resolve().parents[2] / "web_widget"


@dataclass
class Parts:
    """Everything a gateway process runs on, built from a Config."""

    config: Config
    store: Store
    bus: LocalBus
    clock: Clock
    pseudonyms: Pseudonyms
    ephemeral_key: bool = False


def build_parts(config: Config, clock: Clock | None = None) -> Parts:
    store = open_store(config.store_url, prefix=config.store_prefix, retention_days=config.retention_days)
    bus = LocalBus() if store.kind == "memory" else RedisBus(config.store_url, config.store_prefix)
    pseudonyms, ephemeral = Pseudonyms.from_env(config.pseudonym_key_env, allow_ephemeral=store.kind == "memory")
    return Parts(config, store, bus, clock or SystemClock(), pseudonyms, ephemeral)


async def healthz(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    reachable = await helpline.store.ping()
    secrets, alerts = request.app[SECRETS], request.app[DELIVERY].alerts
    channels = {
        "web": {"on": True},
        "messenger": {"on": secrets.messenger_on, **({"alert": alerts["messenger"]} if "messenger" in alerts else {})},
        "whatsapp": {"on": secrets.whatsapp_on, **({"alert": alerts["whatsapp"]} if "whatsapp" in alerts else {})},
    }
    return web.json_response({
        "status": "ok" if reachable and not alerts else "degraded",
        "store": {"kind": helpline.store.kind, "reachable": reachable},
        "channels": channels,
        "line": helpline.line_status(),
        **({"config": request.app[CONFIG_WATCHER].status()} if CONFIG_WATCHER in request.app else {}),
    })


async def line(request: web.Request) -> web.Response:
    return web.json_response(request.app[HELPLINE].line_status(), headers={"Cache-Control": "no-store"})


async def home(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WIDGET_DIR / "index.html")


def build_app(parts: Parts, config_path: str | Path | None = None) -> web.Application:
    """The gateway; with `config_path`, edits of that file apply live (polling and SIGHUP)."""
    config = parts.config
    app = web.Application(client_max_size=64 * 1024, middlewares=[
        security_headers(tls=config.tls, widget_frame_ancestors=["'self'", *config.widget_origins])])
    helpline = Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    app[HELPLINE] = helpline
    app[WIDGET_HUB] = WidgetHub(helpline)
    app[CONSOLE_HUB] = ConsoleHub(helpline)
    app[METRICS] = Metrics(parts.bus, parts.store)
    app[LOGIN_GUARD] = LoginGuard(MONOTONIC)
    housekeeper = Housekeeper(helpline)
    app[HOUSEKEEPER] = housekeeper
    retention = RetentionSweeper(parts.store, parts.clock, config.retention_days,
                                 interval=config.retention_sweep_seconds)
    app[RETENTION] = retention
    secrets = MetaSecrets.from_env()
    delivery = DeliveryWorker(helpline, senders={})
    app[SECRETS], app[DELIVERY] = secrets, delivery

    async def lifecycle(app: web.Application):
        await parts.store.start()
        await parts.bus.start()
        await helpline.start()
        housekeeper.start()
        retention.start()
        async with aiohttp.ClientSession() as session:  # one pool for every Graph API call
            graph = GraphClient(session, parts.config.graph_api_url, parts.config.graph_api_version)
            if secrets.messenger_on:
                delivery.senders[Channel.MESSENGER] = MessengerSender(graph, secrets.messenger_page_token)
            if secrets.whatsapp_on:
                delivery.senders[Channel.WHATSAPP] = WhatsAppSender(
                    graph, secrets.whatsapp_token, secrets.whatsapp_phone_number_id)
            await delivery.start()
            yield
            await delivery.stop()
        await retention.stop()
        await housekeeper.stop()
        await app[CONSOLE_HUB].close()
        await app[WIDGET_HUB].close()
        await helpline.stop()
        await parts.bus.close()
        await parts.store.close()

    async def close_sockets(app: web.Application) -> None:
        """On shutdown, tell every client to go elsewhere now (they reconnect to another process)."""
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                               for ws in list(app[SOCKETS])), return_exceptions=True)

    app[SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(lifecycle)

    async def config_watch(app: web.Application):
        watcher = app[CONFIG_WATCHER]
        watcher.install_sighup(asyncio.get_running_loop())
        watcher.start()
        yield
        await watcher.stop()

    if config_path is not None:
        app[CONFIG_WATCHER] = ConfigWatcher(config_path, parts.config, helpline.reload)
        app.cleanup_ctx.append(config_watch)  # after `lifecycle`: starts after the helpline, stops before it
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/line", line)
    app.router.add_get("/metrics", metrics_handler)  # keep it behind the proxy: monitoring only
    app.router.add_get("/ws/widget", widget_socket)
    app.router.add_static("/widget/", WIDGET_DIR, append_version=False)
    add_console_routes(app)
    app.router.add_routes(MetaWebhooks(helpline, delivery, secrets).routes())
    return app
