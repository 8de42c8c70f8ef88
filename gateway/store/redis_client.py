"""How the gateway connects to Redis: one factory for the store and the bus.

Owns the store URL contract and the connection policy every Redis client shares:
- URLs: `redis://`, `rediss://`, `unix://` (handed to redis-py as before) and
  `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]` (IPv6 hosts in
  brackets), whose client asks the sentinels for the master and follows a promoted replica,
  and `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]` (any nodes of a Redis Cluster:
  the client learns the others and follows slot moves and failovers). On a cluster every key
  of one helpline carries the prefix as its hash tag (`keyspace_prefix`), so each script and
  transaction touches a single slot.
- Retries: a command that meets a connection or timeout error is retried a few times with
  capped, jittered exponential backoff, so a Redis restart or a Sentinel failover costs a
  pause, not an error. The shortcut it admits: a write whose reply was lost may run twice
  (at-least-once), so non-idempotent callers pass `retry_attempts=0`. Connecting and the
  health PING are retried on every client whatever `retry_attempts` says (`_RetriesItsSetup`):
  neither can run a command, so a client without command retries still never fails on a
  connection a restart left stale.
- Health checks: a connection idle longer than `health_check_interval` is PINGed before use,
  so a connection left stale by a restart is noticed and replaced before a command rides it.
- A blocking, bounded pool: under a burst a caller waits (up to `timeout`) for a connection
  instead of failing at once. The parser stays redis-py's default, hiredis when installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from gateway.domain.errors import ConfigError

URL_KEY = "store.url"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_SHAPE = "redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]"
CLUSTER_SCHEME = "redis+cluster"
CLUSTER_SHAPE = "redis+cluster://HOST:PORT[,HOST:PORT…]"
# redis-py's cluster client does not wait for a free connection (it raises at the cap), so
# its per-node cap is set far above what one process uses at once: a burst waits on Redis,
# never fails on the client. Redis's own maxclients (10,000) stays the real bound.
CLUSTER_CONNECTIONS_PER_NODE = 1024

# Three retries after the first try, 0.1–0.2 s, 0.2–0.4 s, 0.4–0.8 s apart (equal jitter: half
# fixed, half random, so clients restarting together spread out yet never hammer): a command
# rides out ~1.4 s of outage, enough for a restart; a Sentinel failover (~2–5 s with the
# test timings) surfaces as an error the caller may retry, rather than a hang.
RETRY_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 1.0
# A connection idle for longer than this is PINGed before it carries a command.
HEALTH_CHECK_SECONDS = 2
# Sentinels are asked for the master on every new connection: answer fast or be skipped.
SENTINEL_SOCKET_TIMEOUT = 1.0
# The channel `wait_for_replicas` publishes an empty mark on (nobody subscribes to it).
REPLICATION_MARK_CHANNEL = "gateway:replication-mark"


@dataclass(frozen=True)
class RedisTarget:
    """Where a client connects: one server (`redis`, `rediss`, `unix`) or a Sentinel master."""

    scheme: str
    url: str = field(repr=False)  # as given: plain schemes go to redis-py unchanged
    hosts: tuple[tuple[str, int], ...] = ()  # the server, or the sentinels
    master_name: str = ""
    db: int = 0  # from the path; a plain URL's query options (`?db=`, TLS…) go to redis-py as given
    path: str = ""  # unix socket
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def sentinel(self) -> bool:
        return self.scheme == SENTINEL_SCHEME

    @property
    def cluster(self) -> bool:
        return self.scheme == CLUSTER_SCHEME


def keyspace_prefix(prefix: str, target: RedisTarget | str) -> str:
    """What every key name starts with: the prefix, or on a cluster `{prefix}`, a hash tag.

    One tag per helpline puts all its keys in one slot, so the scripts that move a conversation
    and the queue or a counsellor's load together stay single-slot and atomic. The price: one
    helpline's keys live on one master (its replicas take over on failure); several helplines
    (prefixes) spread over the masters. `store.prefix` may hold no braces (config schema)."""
    target = parse_store_url(target) if isinstance(target, str) else target
    return f"{{{prefix}}}" if target.cluster else prefix


# --- URL parsing (pure) ------------------------------------------------------------------------
def parse_store_url(url: str) -> RedisTarget:
    """The target a Redis store URL names; `ConfigError("store.url", …)` when it names none.

    Messages never repeat a password: they show the URL with its userinfo masked."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(URL_KEY, "is empty; expected a redis://, rediss://, unix://, redis+sentinel:// "
                                   "or redis+cluster:// URL")
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(URL_KEY, f"{_masked(url)} is not a URL (no '://')")
    scheme = scheme.lower()
    if scheme == SENTINEL_SCHEME:
        return _parse_sentinel(url)
    if scheme == CLUSTER_SCHEME:
        return _parse_cluster(url)
    if scheme in PLAIN_SCHEMES:
        return _parse_plain(url, scheme)
    raise ConfigError(
        URL_KEY, f"scheme {scheme!r} is not a Redis one; use redis://, rediss://, unix://, redis+sentinel:// "
                 "or redis+cluster://"
    )


def _parse_plain(url: str, scheme: str) -> RedisTarget:
    parts = urlsplit(url)
    username, password = _credentials(parts.username, parts.password)
    if scheme == "unix":
        if not parts.path:
            raise ConfigError(URL_KEY, f"{_masked(url)} names no socket path (unix:///path/to/redis.sock)")
        return RedisTarget(scheme, url, path=unquote(parts.path), username=username, password=password)
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(URL_KEY, f"{_masked(url)} has a port that is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ConfigError(URL_KEY, f"{_masked(url)} names no host ({scheme}://HOST[:PORT][/DB])")
    db = _db(parts.path.strip("/"), url) if parts.path.strip("/") else 0
    return RedisTarget(scheme, url, hosts=((parts.hostname, port),), db=db, username=username, password=password)


def _parse_sentinel(url: str) -> RedisTarget:
    rest = url.split("://", 1)[1]
    if "?" in rest or "#" in rest:
        raise ConfigError(URL_KEY, f"{_masked(url)}: query options are not supported in {SENTINEL_SHAPE}")
    authority, _, path = rest.partition("/")
    userinfo, at, host_list = authority.rpartition("@")
    username, password = (None, None)
    if at:
        user, _, secret = userinfo.partition(":")
        username, password = _credentials(unquote(user), unquote(secret))
    hosts = tuple(_host_port(item, url) for item in host_list.split(","))
    segments = path.removesuffix("/").split("/") if path else []
    if not segments or not segments[0]:
        raise ConfigError(URL_KEY, f"{_masked(url)} names no master; expected {SENTINEL_SHAPE}")
    if len(segments) > 2:
        raise ConfigError(URL_KEY, f"{_masked(url)} has too many path parts; expected {SENTINEL_SHAPE}")
    db = _db(segments[1], url) if len(segments) == 2 else 0
    return RedisTarget(SENTINEL_SCHEME, url, hosts=hosts, master_name=unquote(segments[0]), db=db,
                       username=username, password=password)


def _parse_cluster(url: str) -> RedisTarget:
    """Any nodes of the cluster, comma-separated; no database (a cluster has only 0), no options."""
    rest = url.split("://", 1)[1]
    if "?" in rest or "#" in rest:
        raise ConfigError(URL_KEY, f"{_masked(url)}: query options are not supported in {CLUSTER_SHAPE}")
    authority, _, path = rest.partition("/")
    if path.strip("/"):
        raise ConfigError(URL_KEY, f"{_masked(url)}: a cluster has no database or path; expected {CLUSTER_SHAPE}")
    userinfo, at, host_list = authority.rpartition("@")
    username, password = (None, None)
    if at:
        user, _, secret = userinfo.partition(":")
        username, password = _credentials(unquote(user), unquote(secret))
    hosts = tuple(_host_port(item, url, "cluster node", CLUSTER_SHAPE) for item in host_list.split(","))
    return RedisTarget(CLUSTER_SCHEME, url, hosts=hosts, username=username, password=password)


def _host_port(item: str, url: str, what: str = "sentinel", shape: str = SENTINEL_SHAPE) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT`, the port required (the contract names it)."""
    if not item:
        raise ConfigError(URL_KEY, f"{_masked(url)} has an empty {what} address; expected {shape}")
    if item.startswith("["):
        host, bracket, port_text = item[1:].partition("]")
        if not bracket or not host or not port_text.startswith(":"):
            raise ConfigError(URL_KEY, f"{what} {item!r} must read [IPv6]:PORT")
        port_text = port_text[1:]
    else:
        if item.count(":") > 1:
            raise ConfigError(URL_KEY, f"{what} {item!r}: put an IPv6 address in brackets, [::1]:26379")
        host, colon, port_text = item.partition(":")
        if not colon or not host:
            raise ConfigError(URL_KEY, f"{what} {item!r} needs a host and a port (HOST:PORT)")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(URL_KEY, f"{what} {item!r} has a port that is not a number from 1 to 65535")
    return host, int(port_text)


def _db(text: str, url: str) -> int:
    if not text.isdigit():
        raise ConfigError(URL_KEY, f"{_masked(url)}: database {text!r} is not a whole number (0, 1, …)")
    return int(text)


def _credentials(username: str | None, password: str | None) -> tuple[str | None, str | None]:
    return (unquote(username) if username else None), (unquote(password) if password else None)


def _masked(url: str) -> str:
    """The URL with any userinfo replaced by `***`, safe for an error message or a log."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


# --- clients -------------------------------------------------------------------------------------
class _BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's master-following pool, bounded and blocking like the plain one."""


class _SentinelMasterClient(aioredis.Redis):
    """The master client also closes the sentinel connections it asked (redis-py leaves them)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        closes_pool = close_connection_pool or (close_connection_pool is None and self.auto_close_connection_pool)
        if closes_pool and isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def retry_policy(attempts: int = RETRY_ATTEMPTS) -> Retry:
    """Capped, jittered exponential backoff on connection and timeout errors only."""
    return Retry(EqualJitterBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS), attempts,
                 supported_errors=(RedisConnectionError, RedisTimeoutError))


# Connecting and the health PING always ride out a restart; stateless, so one is shared.
_SETUP_RETRY = retry_policy(RETRY_ATTEMPTS)


class _RetriesItsSetup:
    """Mixin for a connection class: connecting and the health PING use the full retry policy,
    the command itself the client's (`retry_attempts`, maybe 0). A connection serves one
    caller at a time, so swapping its policy for the duration of a setup step is safe."""

    retry: Retry

    @contextmanager
    def _setup_policy(self) -> Iterator[None]:
        command_policy, self.retry = self.retry, _SETUP_RETRY
        try:
            yield
        finally:
            self.retry = command_policy

    async def connect(self) -> None:
        # The pool calls this before every command: a connected socket has nothing to set up
        # (redis-py would still wrap its no-op in a retry call; a few % of the bench's CPU).
        if self.is_connected:  # type: ignore[attr-defined]
            return
        with self._setup_policy():
            await super().connect()  # type: ignore[misc]

    async def connect_check_health(self, *args, **kwargs) -> None:
        with self._setup_policy():
            await super().connect_check_health(*args, **kwargs)  # type: ignore[misc]

    async def check_health(self) -> None:
        with self._setup_policy():
            await super().check_health()  # type: ignore[misc]


@cache
def _retrying_setup(base: type) -> type:
    """`base` (plain, TLS, unix socket or Sentinel-managed connection) with `_RetriesItsSetup`."""
    return type(f"SetupRetrying{base.__name__}", (_RetriesItsSetup, base), {})


def redis_client(
    target_or_url: RedisTarget | str,
    *,
    max_connections: int,
    timeout: float,
    decode_responses: bool = False,
    socket_connect_timeout: float = 2.0,
    socket_timeout: float | None = 5.0,
    retry_attempts: int = RETRY_ATTEMPTS,
    health_check_interval: float = HEALTH_CHECK_SECONDS,
) -> aioredis.Redis:
    """A client on a blocking pool of at most `max_connections` (a caller waits up to `timeout`
    seconds for one), with retries and health checks; `aclose()` releases everything.

    No I/O happens here: the first command connects. A pub/sub listener passes
    `socket_timeout=None` so a quiet channel is not mistaken for a dead one."""
    target = parse_store_url(target_or_url) if isinstance(target_or_url, str) else target_or_url
    options = dict(
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=decode_responses,
        socket_connect_timeout=socket_connect_timeout,
        socket_timeout=socket_timeout,
        retry=retry_policy(retry_attempts),
        health_check_interval=health_check_interval,
        # Off: a Redis Enterprise feature; redis-py 8's "auto" also turns off the pool's check
        # that a connection taken from it was not closed by the server (a restart), which would
        # send a command down a dead socket — fatal for a client that does not retry commands.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    if target.sentinel:
        return _sentinel_master(target, options)
    if target.cluster:
        return _cluster_client(target, options)
    pool = aioredis.BlockingConnectionPool.from_url(target.url, **options)
    pool.connection_class = _retrying_setup(pool.connection_class)  # the URL chose the base class
    return aioredis.Redis.from_pool(pool)


def _sentinel_master(target: RedisTarget, options: dict) -> aioredis.Redis:
    """`master_for` on a Sentinel: each new connection asks the sentinels where the master is,
    and a master demoted to replica (READONLY) drops its connections, so the client follows
    a failover. The password is the data nodes'; sentinels are asked without one."""
    asking = {
        "socket_connect_timeout": min(options["socket_connect_timeout"], SENTINEL_SOCKET_TIMEOUT),
        "socket_timeout": SENTINEL_SOCKET_TIMEOUT,
        "retry": retry_policy(1),  # a dead sentinel is skipped quickly: the next one is asked
    }
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=asking)
    return sentinel.master_for(
        target.master_name,
        redis_class=_SentinelMasterClient,
        connection_pool_class=_BlockingSentinelPool,
        connection_class=_retrying_setup(SentinelManagedConnection),
        db=target.db,
        username=target.username,
        password=target.password,
        **options,
    )


class _SlotMapRefreshingPipeline(ClusterPipeline):
    """A cluster pipeline that, when a node it used is gone, has the client re-read the slot
    map before its next command. redis-py does that for single commands, and for pipelines only
    inside its own retries: the scripts' writer has none (0), and the batcher reads errors per
    command (`raise_on_error=False`), so without this the writer would keep sending to a dead
    master after its replica took over. `aclose()` is redis-py's public way to mark the map
    stale (it drops the connections; the next command reconnects from the new map)."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list:
        try:
            results = await super().execute(raise_on_error=raise_on_error, allow_redirections=allow_redirections)
        except RedisCluster.ERRORS_ALLOW_RETRY:
            await self.cluster_client.aclose()
            raise
        if any(isinstance(result, RedisCluster.ERRORS_ALLOW_RETRY) for result in results):
            await self.cluster_client.aclose()
        return results


class _GatewayCluster(RedisCluster):
    """redis-py's cluster client with pipelines that refresh the slot map after a lost node."""

    def pipeline(self, transaction: bool | None = None, shard_hint: None = None) -> ClusterPipeline:
        if shard_hint:
            raise ValueError("shard_hint is not supported on a cluster")
        return _SlotMapRefreshingPipeline(self, transaction)


def _cluster_client(target: RedisTarget, options: dict) -> RedisCluster:
    """A cluster client from any of its nodes: it reads the slot map, follows MOVED/ASK, and
    after a connection error or CLUSTERDOWN re-reads the map and retries as `retry` allows (0
    for the scripts' writer). Its nodes' connections do not retry on their own (redis-py sets
    that): the cluster-level retry is the one policy. There is no pool wait (`timeout`): see
    CLUSTER_CONNECTIONS_PER_NODE. Typed as the plain client's interface: same commands."""
    cluster_options = {name: value for name, value in options.items() if name not in ("max_connections", "timeout")}
    return _GatewayCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
        username=target.username,
        password=target.password,
        max_connections=CLUSTER_CONNECTIONS_PER_NODE,
        require_full_coverage=True,
        **cluster_options,
    )


async def wait_for_replicas(client: aioredis.Redis, replicas: int, timeout_ms: int) -> int:
    """How many replicas hold every write the master accepted before this call (Redis `WAIT`),
    waiting at most `timeout_ms`; the caller decides what fewer than `replicas` means.

    WAIT only counts writes made on its own connection, and a pooled client may have written
    on another one (a bare WAIT there answers at once, whatever the replicas hold). So WAIT
    follows an empty PUBLISH on the same connection: the mark is replicated after all earlier
    writes, and waiting for it waits for them. `timeout_ms` must be positive (0 would block
    forever) and below the client's socket timeout."""
    if replicas < 0:
        raise ValueError("replicas must be 0 or more")
    if timeout_ms <= 0:
        raise ValueError("timeout_ms must be positive: WAIT 0 blocks until enough replicas answer")
    async with client.pipeline(transaction=False) as pipe:
        pipe.publish(REPLICATION_MARK_CHANNEL, b"")
        pipe.wait(replicas, timeout_ms)
        _, acknowledged = await pipe.execute()
    return int(acknowledged)
