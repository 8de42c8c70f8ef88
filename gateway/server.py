"""The aiohttp application: wires config, store, bus and core to the HTTP routes.

`build_app` takes every part explicitly (tests inject a manual clock and their store).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSCloseCode, web

from connectors.web_widget import WIDGET_HUB, WidgetHub, widget_socket

from .bus import LocalBus, RedisBus
from .clock import Clock, SystemClock
from .config import Config
from .console_api import CONSOLE_HUB, HELPLINE, ConsoleHub, add_console_routes
from .core import Helpline
from .pseudonym import Pseudonyms
from .socket_sender import SOCKETS
from .store import Store, open_store

log = logging.getLogger(__name__)
WIDGET_DIR = Path(__file__).resolve().parent.parent / "web_widget"


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
    store = open_store(config.store_url, prefix=config.store_prefix)
    bus = LocalBus() if store.kind == "memory" else RedisBus(config.store_url, config.store_prefix)
    pseudonyms, ephemeral = Pseudonyms.from_env(config.pseudonym_key_env, allow_ephemeral=store.kind == "memory")
    return Parts(config, store, bus, clock or SystemClock(), pseudonyms, ephemeral)


async def healthz(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    reachable = await helpline.store.ping()
    return web.json_response({
        "status": "ok" if reachable else "degraded",
        "store": {"kind": helpline.store.kind, "reachable": reachable},
        "line": helpline.line_status(),
    })


async def line(request: web.Request) -> web.Response:
    return web.json_response(request.app[HELPLINE].line_status(), headers={"Cache-Control": "no-store"})


async def home(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WIDGET_DIR / "index.html")


def build_app(parts: Parts) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    helpline = Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    app[HELPLINE] = helpline
    app[WIDGET_HUB] = WidgetHub(helpline)
    app[CONSOLE_HUB] = ConsoleHub(helpline)

    async def lifecycle(app: web.Application):
        await parts.store.start()
        await parts.bus.start()
        await helpline.start()
        yield
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
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/line", line)
    app.router.add_get("/ws/widget", widget_socket)
    app.router.add_static("/widget/", WIDGET_DIR, append_version=False)
    add_console_routes(app)
    return app
