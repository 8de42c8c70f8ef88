"""The composition root: builds config, store, bus, core and adapters into one aiohttp app.

`build_app` takes every part explicitly (tests inject a manual clock and their store). Each
resource is opened in its own `cleanup_ctx` (aiohttp's examples/background_tasks.py), in the
order store → bus → helpline → hubs → workers → Graph session → delivery → config watcher:
if one fails to start, those already open are closed again, in reverse order, by
`AppRunner.cleanup()` (the caller must call it even when `setup()` raised).

Shutdown (SIGTERM/SIGINT, gateway/app/cli.py) is aiohttp's runner cleanup, in this order:
the listener stops accepting; every socket is closed with 1012 "service restart" (clients
reconnect at once, to another process) within `SOCKET_CLOSE_SECONDS`; requests under way
(a webhook being stored) get `HANDLER_GRACE_SECONDS`; then the resources close in reverse
order: the delivery worker lets its sends under way finish within `DELIVERY_GRACE_SECONDS`
(a job still leased after that is left to its 30 s lease, then sent by another process),
the workers stop, the bus and the store close. The whole stays under `SHUTDOWN_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, web

from connectors.graph import GraphClient
from connectors.meta_send import MessengerSender, MetaSecrets, WhatsAppSender
from connectors.meta_webhooks import MetaWebhooks
from connectors.web_widget import WIDGET_HUB, WidgetHub, widget_socket

from gateway.app.config_watch import ConfigWatcher
from gateway.bus import LocalBus, RedisBus
from gateway.core import casework
from gateway.core.counsellor import line_gauges
from gateway.core.delivery import DeliveryWorker, Sender
from gateway.core.helpline import Helpline
from gateway.core.housekeeping import Housekeeper
from gateway.core.inbox import Inbox
from gateway.core.retention import RetentionSweeper
from gateway.core.status import ProcessStatus
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.config import Config
from gateway.core.limits import LoginGuard
from gateway.domain.model import Channel
from gateway.domain.pseudonym import Pseudonyms
from gateway.http.casework_api import add_casework_routes
from gateway.http.reports_api import add_report_routes
from gateway.http.console import CONSOLE_HUB, HELPLINE, LOGIN_GUARD, ConsoleHub, add_console_routes
from gateway.http.health import WIDGET_DIR, add_health_routes, store_outages
from gateway.http.metrics import METRICS, Metrics, metrics_handler
from gateway.http.notices_api import add_notice_routes
from gateway.http.privacy_api import add_privacy_routes
from gateway.http.security import SECURITY_EVENTS, security_headers
from gateway.http.sockets import SOCKETS
from gateway.store import Store, open_store
from gateway.store.redis_client import keyspace_prefix, redis_client

log = logging.getLogger(__name__)
DELIVERY = web.AppKey("delivery", DeliveryWorker)
INBOX = web.AppKey("inbox", Inbox)  # large webhook batches, handled after their 200
SECRETS = web.AppKey("meta_secrets", MetaSecrets)
HOUSEKEEPER = web.AppKey("housekeeper", Housekeeper)
RETENTION = web.AppKey("retention", RetentionSweeper)
CONFIG_WATCHER = web.AppKey("config_watcher", ConfigWatcher)

SHUTDOWN_SECONDS = 10.0  # SIGTERM to exit, at most (docker stop waits 10 s before its SIGKILL)
SOCKET_CLOSE_SECONDS = 2.0  # for clients to answer our close frames
HANDLER_GRACE_SECONDS = 4.0  # for requests under way (aiohttp's shutdown_timeout)
DELIVERY_GRACE_SECONDS = 3.0  # for sends to Meta under way
INBOX_GRACE_SECONDS = 0.5  # for the inbox worker's senders under way (the rest of a batch: 2 s later, any process)

Step = Callable[[], Awaitable[None] | None]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


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
    """The store and, on Redis, the bus on the same URL (plain, Sentinel or Cluster), both through the one
    client factory. `store.wait_replicas` is read with getattr: a Config without it means 0."""
    wait_replicas = getattr(config, "store_wait_replicas", 0)
    store = open_store(config.store_url, prefix=config.store_prefix, retention_days=config.retention_days,
                       wait_replicas=wait_replicas)
    bus = LocalBus() if store.kind == "memory" else RedisBus(
        partial(redis_client, config.store_url), keyspace_prefix(config.store_prefix, config.store_url))
    pseudonyms, ephemeral = Pseudonyms.from_env(config.pseudonym_key_env, allow_ephemeral=store.kind == "memory")
    return Parts(config, store, bus, clock or SystemClock(), pseudonyms, ephemeral)


async def _run(step: Step) -> None:
    result = step()
    if result is not None:
        await result


def resource(name: str, start: Step, close: Step) -> CleanupContext:
    """One resource as a cleanup context: started, then closed at cleanup. A start that fails
    closes it too (a half-open pool or listener task), then lets the failure through, so the
    contexts entered before are closed in reverse order."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        try:
            await _run(start)
        except BaseException:
            log.error("%s failed to start; closing what was opened", name)
            await _run(close)
            raise
        yield
        await _run(close)

    context.__qualname__ = context.__name__ = f"{name}_context"
    return context


def meta_senders(graph: GraphClient, secrets: MetaSecrets) -> dict[Channel, Sender]:
    """A sender for each Meta channel whose secrets are set."""
    senders: dict[Channel, Sender] = {}
    if secrets.messenger_on:
        senders[Channel.MESSENGER] = MessengerSender(graph, secrets.messenger_page_token)
    if secrets.whatsapp_on:
        senders[Channel.WHATSAPP] = WhatsAppSender(graph, secrets.whatsapp_token, secrets.whatsapp_phone_number_id)
    return senders


def graph_session(config: Config) -> CleanupContext:
    """One HTTP pool for every Graph API call; the Meta senders of the delivery worker use it."""

    async def graph_session_context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            graph = GraphClient(session, config.graph_api_url, config.graph_api_version)
            app[DELIVERY].senders.update(meta_senders(graph, app[SECRETS]))
            yield
            app[DELIVERY].senders.clear()  # no sender outlives its pool

    return graph_session_context


def config_watching(watcher: ConfigWatcher) -> CleanupContext:
    def start() -> None:
        watcher.install_sighup(asyncio.get_running_loop())
        watcher.start()

    return resource("config-watch", start, watcher.stop)


async def close_sockets(app: web.Application) -> None:
    """On shutdown, tell every client to go elsewhere now: 1012 (service restart) makes the
    widget and the console reconnect at once, to another process. Bounded: the answer of a
    client that never answers our close frame is not awaited past SOCKET_CLOSE_SECONDS."""
    closing = [asyncio.ensure_future(ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"service restart"))
               for ws in list(app[SOCKETS])]
    if not closing:
        return
    _, late = await asyncio.wait(closing, timeout=SOCKET_CLOSE_SECONDS)
    for task in late:
        task.cancel()  # our close frame is out; only the client's answer is not awaited
    await asyncio.gather(*closing, return_exceptions=True)
    log.info("shutdown: %d socket(s) closed with 1012 (%d without the client's answer)", len(closing), len(late))


def build_app(parts: Parts, config_path: str | Path | None = None) -> web.Application:
    """The gateway; with `config_path`, edits of that file apply live (polling and SIGHUP)."""
    config = parts.config
    app = web.Application(client_max_size=64 * 1024, middlewares=[
        security_headers(tls=config.tls, widget_frame_ancestors=["'self'", *config.widget_origins]),
        store_outages])
    helpline = app[HELPLINE] = Helpline(config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    app[SECURITY_EVENTS] = helpline.security
    widget_hub = app[WIDGET_HUB] = WidgetHub(helpline)
    console_hub = app[CONSOLE_HUB] = ConsoleHub(helpline)
    app[METRICS] = Metrics(parts.bus, partial(line_gauges, helpline), helpline.security.snapshot)
    app[LOGIN_GUARD] = LoginGuard(helpline)  # counts in the store: shared by every process on Redis
    housekeeper = app[HOUSEKEEPER] = Housekeeper(helpline)
    retention = app[RETENTION] = RetentionSweeper(parts.store, parts.clock, config.retention_days,
                                                  interval=config.retention_sweep_seconds,
                                                  case_years=config.case_years, notice_options=config.notices)
    secrets = app[SECRETS] = MetaSecrets.from_env()
    delivery = app[DELIVERY] = DeliveryWorker(helpline, senders={})
    inbox = app[INBOX] = Inbox(helpline)
    app[METRICS].inbox_depth = inbox.depth
    app[SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(close_sockets)

    async def close_hubs() -> None:
        await console_hub.close()
        await widget_hub.close()

    app.cleanup_ctx.extend([
        resource("store", parts.store.start, parts.store.close),
        resource("bus", parts.bus.start, parts.bus.close),
        resource("helpline", helpline.start, helpline.stop),
        resource("hubs", lambda: None, close_hubs),
        resource("housekeeping", housekeeper.start, housekeeper.stop),
        resource("retention", retention.start, retention.stop),
        graph_session(config),
        resource("delivery", delivery.start, partial(delivery.stop, DELIVERY_GRACE_SECONDS)),
        resource("inbox", inbox.start, partial(inbox.stop, INBOX_GRACE_SECONDS)),
    ])
    watcher = None
    if config_path is not None:
        watcher = app[CONFIG_WATCHER] = ConfigWatcher(config_path, config, helpline.reload,
                                                      check=partial(casework.reload_refusal, helpline))
        app.cleanup_ctx.append(config_watching(watcher))  # last: starts after the helpline, stops before it

    add_health_routes(app, ProcessStatus(helpline, delivery, secrets.messenger_on, secrets.whatsapp_on,
                                         watcher.status if watcher is not None else None))
    add_routes(app)
    return app


def add_routes(app: web.Application) -> None:
    """Every route but the health ones, over the parts `build_app` put on the app."""
    app.router.add_get("/metrics", metrics_handler)  # keep it behind the proxy: monitoring only
    app.router.add_get("/ws/widget", widget_socket)
    app.router.add_static("/widget/", WIDGET_DIR, append_version=False)
    add_console_routes(app)
    add_casework_routes(app)
    add_report_routes(app)
    add_notice_routes(app)
    add_privacy_routes(app)
    webhooks = MetaWebhooks(app[HELPLINE], app[DELIVERY], app[SECRETS], app[INBOX])
    app[INBOX].serve(webhooks.events)  # the inbox worker handles events with the inline path's code
    app.router.add_routes(webhooks.routes())
