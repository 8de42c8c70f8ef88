"""The Redis client factory: the store URL contract, and clients that survive a restart or a
Sentinel failover (real redis-server processes on loopback ports, no fakes)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.domain.errors import ConfigError
from gateway.store.redis_client import RedisTarget, parse_store_url, redis_client, wait_for_replicas
from tests.redis_sentinel import MASTER_NAME, SentinelSet
from tests.redis_server import RedisServer

T = TypeVar("T")


# --- URL parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6380/2", RedisTarget("redis", "", hosts=(("127.0.0.1", 6380),), db=2)),
        ("redis://cache", RedisTarget("redis", "", hosts=(("cache", 6379),))),
        ("rediss://:s3cret@redis.example:6390/0",
         RedisTarget("rediss", "", hosts=(("redis.example", 6390),), password="s3cret")),
        ("unix:///run/redis/redis.sock", RedisTarget("unix", "", path="/run/redis/redis.sock")),
        ("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/gateway",
         RedisTarget("redis+sentinel", "", hosts=(("10.0.0.1", 26379), ("10.0.0.2", 26380)), master_name="gateway")),
        ("redis+sentinel://s1:26379/gateway/3",
         RedisTarget("redis+sentinel", "", hosts=(("s1", 26379),), master_name="gateway", db=3)),
        ("redis+sentinel://app:p%40ss@[::1]:26379,[fd00::2]:26379/main/",
         RedisTarget("redis+sentinel", "", hosts=(("::1", 26379), ("fd00::2", 26379)), master_name="main",
                     username="app", password="p@ss")),
        ("redis+sentinel://:only-secret@s1:26379/gateway",
         RedisTarget("redis+sentinel", "", hosts=(("s1", 26379),), master_name="gateway", password="only-secret")),
        ("redis+cluster://10.0.0.1:7000,10.0.0.2:7001",
         RedisTarget("redis+cluster", "", hosts=(("10.0.0.1", 7000), ("10.0.0.2", 7001)))),
        ("redis+cluster://app:p%40ss@[fd00::1]:7000/",
         RedisTarget("redis+cluster", "", hosts=(("fd00::1", 7000),), username="app", password="p@ss")),
    ],
)
def test_store_url_names_its_target(url: str, expected: RedisTarget) -> None:
    target = parse_store_url(url)
    assert (target.scheme, target.hosts, target.master_name, target.db, target.path) == (
        expected.scheme, expected.hosts, expected.master_name, expected.db, expected.path)
    assert (target.username, target.password) == (expected.username, expected.password)
    assert target.url == url
    assert target.sentinel == (expected.scheme == "redis+sentinel")
    assert target.cluster == (expected.scheme == "redis+cluster")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "is empty"),
        ("localhost:6379", "is not a URL"),
        ("memory://", "scheme 'memory' is not a Redis one"),
        ("http://redis:6379", "scheme 'http' is not a Redis one"),
        ("redis://redis:port/0", "port that is not a number"),
        ("redis://redis:99999", "port that is not a number"),
        ("redis:///0", "names no host"),
        ("redis://redis:6379/zero", "database 'zero' is not a whole number"),
        ("unix://", "names no socket path"),
        ("redis+sentinel://s1:26379", "names no master"),
        ("redis+sentinel://s1:26379/", "names no master"),
        ("redis+sentinel://s1:26379/gateway/1/extra", "too many path parts"),
        ("redis+sentinel://s1:26379/gateway/-1", "database '-1' is not a whole number"),
        ("redis+sentinel://s1/gateway", "sentinel 's1' needs a host and a port"),
        ("redis+sentinel://:26379/gateway", "sentinel ':26379' needs a host and a port"),
        ("redis+sentinel://s1:26379,/gateway", "empty sentinel address"),
        ("redis+sentinel:///gateway", "empty sentinel address"),
        ("redis+sentinel://s1:abc/gateway", "port that is not a number"),
        ("redis+sentinel://s1:0/gateway", "port that is not a number"),
        ("redis+sentinel://::1:26379/gateway", "IPv6 address in brackets"),
        ("redis+sentinel://[::1]/gateway", "must read [IPv6]:PORT"),
        ("redis+sentinel://s1:26379/gateway?ssl=true", "query options are not supported"),
        ("redis+cluster://n1:7000/0", "a cluster has no database or path"),
        ("redis+cluster://n1:7000?ssl=true", "query options are not supported"),
        ("redis+cluster://n1", "cluster node 'n1' needs a host and a port"),
        ("redis+cluster://n1:7000,", "empty cluster node address"),
        ("redis+cluster://n1:70000", "port that is not a number"),
        ("rediscluster://n1:7000", "scheme 'rediscluster' is not a Redis one"),
    ],
)
def test_bad_store_url_is_refused_with_a_clear_message(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_store_url(url)
    assert refused.value.key == "store.url"
    assert says in refused.value.problem


@pytest.mark.parametrize("url", [
    "redis+sentinel://app:hunter2@s1:26379/gateway/x",
    "redis+cluster://app:hunter2@n1:7000/x",
    "redis://app:hunter2@redis:6379/x",
])
def test_refusal_never_repeats_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_store_url(url)
    assert "hunter2" not in str(refused.value)
    assert "***@" in str(refused.value)


def test_target_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(parse_store_url("redis+sentinel://:hunter2@s1:26379/gateway"))


# --- helpers --------------------------------------------------------------------------------------
async def first_success(call: Callable[[], Awaitable[T]], within: float) -> tuple[T, float, int]:
    """Call until it succeeds (each failure already waited out the client's own backoff):
    the result, the seconds it took, and how many errors the caller saw."""
    started = time.monotonic()
    errors = 0
    while True:
        try:
            return await call(), time.monotonic() - started, errors
        except RedisError:
            errors += 1
            if time.monotonic() - started > within:
                raise


# --- one server, restarted ------------------------------------------------------------------------
async def test_client_rides_out_a_redis_restart_on_the_same_port(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url, max_connections=4, timeout=2.0, decode_responses=True)
    bare = aioredis.Redis.from_url(own_redis.url, decode_responses=True, retry=None, health_check_interval=0)
    try:
        assert await client.set("before", "1") and await bare.ping()
        own_redis.stop()
        own_redis.start()
        with pytest.raises(RedisError):  # without retries the stale connection fails the caller
            await bare.ping()
        value, seconds, errors = await first_success(lambda: client.set("after", "2"), within=5.0)
        assert value is True
        assert seconds < 5.0
        assert errors == 0, "the retry and the health check should hide a finished restart"
        assert await client.get("after") == "2"
    finally:
        await client.aclose()
        await bare.aclose()


async def test_client_uses_the_hiredis_parser_on_a_bounded_pool(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url, max_connections=2, timeout=0.5)
    try:
        await client.ping()
        pool = client.connection_pool
        assert isinstance(pool, aioredis.BlockingConnectionPool)
        assert pool.max_connections == 2
        held = [await pool.get_connection(), await pool.get_connection()]
        with pytest.raises(RedisError, match="No connection available"):
            await pool.get_connection()
        connection = held[0]
        assert type(connection._parser).__name__ == "_AsyncHiredisParser"
        assert connection.health_check_interval > 0 and connection.retry.get_retries() > 0
        for connection in held:
            await pool.release(connection)
    finally:
        await client.aclose()


async def test_wait_for_replicas_without_replicas_counts_none(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url, max_connections=2, timeout=1.0)
    try:
        await client.set("k", "v")
        assert await wait_for_replicas(client, 1, 50) == 0
        with pytest.raises(ValueError, match="positive"):
            await wait_for_replicas(client, 1, 0)
    finally:
        await client.aclose()


# --- Sentinel ------------------------------------------------------------------------------------
@pytest.fixture
async def sentinel_client(sentinels: SentinelSet) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(sentinels.url, max_connections=4, timeout=2.0, decode_responses=True)
    yield client
    await client.aclose()


async def test_sentinel_url_writes_and_reads_through_the_master(
    sentinels: SentinelSet, sentinel_client: aioredis.Redis
) -> None:
    key = f"hello:{uuid.uuid4().hex}"
    assert await sentinel_client.set(key, "bonjour")
    assert await sentinel_client.get(key) == "bonjour"
    assert (await sentinel_client.info("replication"))["role"] == "master"
    assert sentinel_client.connection_pool.master_address == ("127.0.0.1", sentinels.master.port)
    assert MASTER_NAME in sentinels.url


async def test_wait_for_replicas_counts_only_replicas_that_hold_the_writes(
    sentinels: SentinelSet, sentinel_client: aioredis.Redis
) -> None:
    # The write and the WAIT may ride different pooled connections: a bare WAIT on a connection
    # whose own (older) writes the replica acknowledged would count the paused replica, which
    # has not seen the newer write.
    writer = sentinel_client.client()  # pins the write on a connection of its own
    try:
        await writer.ping()
        assert await sentinel_client.wait(1, 2000) == 1  # the other pooled connection, acknowledged
        sentinels.pause_replica()
        await writer.set("unacknowledged", "1")
        assert await wait_for_replicas(sentinel_client, 1, 200) == 0
    finally:
        sentinels.resume_replica()
        await writer.aclose()
    assert await wait_for_replicas(sentinel_client, 1, 3000) == 1


async def test_same_client_follows_a_failover_and_keeps_acknowledged_writes(
    sentinels: SentinelSet, sentinel_client: aioredis.Redis
) -> None:
    key = f"acknowledged:{uuid.uuid4().hex}"
    old_master = sentinels.master.port
    assert await sentinel_client.set(key, "kept")
    assert await wait_for_replicas(sentinel_client, 1, 2000) == 1

    killed_at = time.monotonic()
    sentinels.kill_master()
    new_master = await asyncio.to_thread(sentinels.wait_for_promotion, 20.0)
    assert new_master != old_master

    value, _, _ = await first_success(lambda: sentinel_client.get(key), within=10.0)
    assert value == "kept"
    assert await sentinel_client.set(f"{key}:after", "written on the new master")
    assert (await sentinel_client.info("replication"))["role"] == "master"
    assert sentinel_client.connection_pool.master_address == ("127.0.0.1", new_master)
    assert time.monotonic() - killed_at < 25.0
