"""Shared fixtures. Each concern keeps its own section; add yours below the last one."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from gateway.core.ports import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.log_capture import CapturedLogs
from tests.redis_cluster import RedisClusterSet
from tests.redis_sentinel import SentinelSet
from tests.redis_server import RedisServer

# --- stores: a real redis-server and started stores ---------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole run (tests may stop and restart it)."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop, restart or lose (the shared one stays up)."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    """A master, a replica and three sentinels on free loopback ports (tests/redis_sentinel.py)."""
    nodes = SentinelSet()
    nodes.start()
    yield nodes
    nodes.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterSet]:
    """One three-master Redis Cluster for the whole run (tests/redis_cluster.py); each test's
    own prefix is its own hash tag, so tests spread over the masters."""
    cluster = RedisClusterSet()
    cluster.start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.start()  # no-op when running; revives it after a test that stopped it and failed
    return redis_server.url


MakeStore = Callable[..., Awaitable[Store]]


@pytest.fixture
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """`await make_store("memory" | "redis" | "cluster", prefix=None)` → a started store, closed after the test.

    Each redis test gets its own key prefix unless it passes one (two stores sharing a prefix
    are two gateway processes sharing one Redis).
    """
    opened: list[Store] = []
    default_prefix = f"test-{uuid.uuid4().hex[:12]}"

    async def make(kind: str, prefix: str | None = None) -> Store:
        if kind == "memory":
            store: Store = MemoryStore()
        elif kind == "redis":
            store = RedisStore(request.getfixturevalue("redis_url"), prefix=prefix or default_prefix)
        elif kind == "cluster":
            store = RedisStore(request.getfixturevalue("redis_cluster").url, prefix=prefix or default_prefix)
        else:
            raise ValueError(f"unknown store kind {kind!r}")
        await store.start()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def opened() -> AsyncIterator[list]:
    """Stores and buses a test started itself (`opened.append(part)`), closed after it, last first."""
    parts: list = []
    yield parts
    for part in reversed(parts):
        await part.close()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest, make_store: MakeStore) -> Store:
    """Each contract test runs once per store: memory, a single Redis, a Redis Cluster."""
    return await make_store(request.param)


# --- gateway: environment for a gateway under test ------------------------------------------------

# A gateway on the Redis store refuses to start without a pseudonym key; tests use a fixed one.
os.environ.setdefault("GATEWAY_PSEUDONYM_KEY", "test-pseudonym-key-not-a-secret-0123456789")
# The monitoring token for /healthz/details (tests.harness.health_headers sends it).
os.environ.setdefault("GATEWAY_HEALTH_TOKEN", "test-health-token-not-a-secret")


# --- the Meta stand-in: Graph API and signed webhooks on a loopback port ---------------------------


@pytest.fixture
async def standin(monkeypatch):
    """A running stand-in; the environment holds the matching secrets, so a gateway started in
    the test turns both Meta channels on."""
    from meta_standin.server import StandIn
    from tests.harness import META_SECRETS

    for name, value in META_SECRETS.items():
        monkeypatch.setenv(name, value)
    stand_in = StandIn(META_SECRETS["META_APP_SECRET"], META_SECRETS["MESSENGER_PAGE_TOKEN"],
                       META_SECRETS["WHATSAPP_TOKEN"], META_SECRETS["WHATSAPP_PHONE_NUMBER_ID"])
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


# --- clients and conversations: no socket outlives its test; a conversation already assigned ------


@pytest.fixture(autouse=True)
async def close_leftover_sockets() -> AsyncIterator[None]:
    """A test that fails half-way leaves its widget and console sockets open: close them."""
    from tests.clients import close_leftover_clients

    yield
    await close_leftover_clients()


@pytest.fixture
async def web_chat(config):
    """A teen's widget conversation, assigned to Camille (uses the test module's `config`)."""
    from tests.conversations import assigned_conversation

    async with assigned_conversation(config, "web") as chat:
        yield chat


@pytest.fixture
async def messenger_chat(config, standin):
    """A teen's Messenger conversation, assigned to Camille (config must point at the stand-in)."""
    from tests.conversations import assigned_conversation

    async with assigned_conversation(config, "messenger", standin=standin) as chat:
        yield chat


@pytest.fixture
async def whatsapp_chat(config, standin):
    """A teen's WhatsApp conversation, assigned to Camille (config must point at the stand-in)."""
    from tests.conversations import assigned_conversation

    async with assigned_conversation(config, "whatsapp", standin=standin) as chat:
        yield chat


@pytest.fixture
def logs():
    """Every log record of the test, at DEBUG (tests/log_capture.py)."""
    handler = CapturedLogs()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
