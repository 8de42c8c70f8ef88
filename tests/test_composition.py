"""The composition root: each resource in its own cleanup context, so a part that fails to
start leaves nothing open behind it; and the health routes it mounts keep their exact shape."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.app.server import build_app, build_parts
from gateway.bus import RedisBus
from gateway.domain.clock import ManualClock
from gateway.store import Store
from gateway.store.redis_client import redis_client
from tests.harness import META_SECRETS, TUESDAY_10H, health_headers, make_config
from tests.processes import ALWAYS_OPEN


class BusDown(Exception):
    pass


class BusThatCannotStart(RedisBus):
    """A real Redis bus whose start fails; it notes whether the store was open at that moment."""

    def __init__(self, url: str, prefix: str, store: Store) -> None:
        super().__init__(partial(redis_client, url), prefix)
        self._store = store
        self.store_was_open: bool | None = None

    async def start(self) -> None:
        self.store_was_open = await self._store.ping()
        raise BusDown("no bus today")


async def test_a_bus_that_cannot_start_leaves_the_store_closed(redis_url: str) -> None:
    config = make_config(redis_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    parts = build_parts(config, clock=ManualClock(TUESDAY_10H))
    bus = parts.bus = BusThatCannotStart(config.store_url, config.store_prefix, parts.store)
    runner = web.AppRunner(build_app(parts))

    with pytest.raises(BusDown):
        await runner.setup()
    await runner.cleanup()  # what `serve` and the test harness do after a failed setup

    assert bus.store_was_open is True  # the store opened first…
    assert await parts.store.ping() is False  # …and was closed again


async def get_json(url: str, headers: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            return await response.json()


@pytest.fixture
def no_meta_secrets(monkeypatch) -> None:
    for name in META_SECRETS:
        monkeypatch.delenv(name, raising=False)


async def test_healthz_keeps_its_exact_shape(no_meta_secrets) -> None:
    app = build_app(build_parts(make_config(opening_hours=ALWAYS_OPEN), clock=ManualClock(TUESDAY_10H)))
    server = TestServer(app, host="127.0.0.1")
    try:
        await server.start_server()
        assert await get_json(str(server.make_url("/healthz"))) == {"status": "ok"}  # public: nothing more
        health = await get_json(str(server.make_url("/healthz/details")), health_headers())
        line = await get_json(str(server.make_url("/api/line")))
    finally:
        await server.close()
    assert health == {
        "status": "ok",
        "store": {"kind": "memory", "reachable": True},
        "channels": {"web": {"on": True}, "messenger": {"on": False}, "whatsapp": {"on": False}},
        "line": {"open": True, "next_opening": None, "next_opening_text": None},
    }
    assert line == health["line"]


async def test_healthz_shows_the_watched_config_when_there_is_one(no_meta_secrets, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": "memory://", "prefix": "3018"}}), encoding="utf-8")
    app = build_app(build_parts(make_config(), clock=ManualClock(TUESDAY_10H)), config_path=path)
    server = TestServer(app, host="127.0.0.1")
    try:
        await server.start_server()
        health = await get_json(str(server.make_url("/healthz/details")), health_headers())
    finally:
        await server.close()
    config = health.pop("config")
    assert list(health) == ["status", "store", "channels", "line"]
    assert config == {"state": "in_force", "matches_disk": True, "last_reload_at": None, "rejected_key": None,
                      "problem": None}  # no path, no hash (issue #14)
