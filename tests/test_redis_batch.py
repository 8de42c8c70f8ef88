"""Redis commands batched per event-loop tick (gateway/store/redis_batch.py, gateway/bus/redis.py).

Against a real redis-server: the pipelines are seen by a spy on the real client's `pipeline()`
(it records how many commands each one carried, and sends them unchanged) and by the server's
own `INFO commandstats`.
"""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

import pytest
from redis.exceptions import ResponseError

from gateway.bus.redis import RedisBus
from gateway.domain.errors import StoreError
from gateway.domain.events import Barrier
from gateway.domain.model import Presence
from gateway.store.redis import RedisStore
from gateway.store.redis_batch import ScriptBatcher
from gateway.store.redis_client import redis_client

# Echoes its argument after counting the call in KEYS[1]; a Lua error when asked to fail.
ECHO = """
redis.call('INCR', KEYS[1])
if ARGV[1] == 'fail' then error('asked to fail') end
return ARGV[1]
"""
OTHER = "return 'other:' .. ARGV[1]"


def spy_pipelines(client) -> list[int]:
    """The sizes of the pipelines `client` executes from now on (each is still sent as is)."""
    sizes: list[int] = []
    make = client.pipeline

    def pipeline(*args, **kwargs):
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def counted(*a, **kw):
            sizes.append(len(pipe.command_stack))
            return await execute(*a, **kw)

        pipe.execute = counted
        return pipe

    client.pipeline = pipeline
    return sizes


@pytest.fixture
async def client(redis_url):
    """A writer client as the store makes it: decoded replies, commands never retried."""
    made = redis_client(redis_url, max_connections=8, timeout=5.0, decode_responses=True, retry_attempts=0)
    for source in (ECHO, OTHER):  # loaded: each test counts its own pipelines only
        await made.script_load(source)
    yield made
    await made.aclose()


async def evalsha_calls(client) -> int:
    return int((await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))


async def test_calls_made_in_one_tick_go_in_one_pipeline_and_each_caller_gets_its_own_reply(client):
    batcher = ScriptBatcher(client)
    echo, counter = batcher.script(ECHO), f"batch:{uuid.uuid4().hex}"
    sizes = spy_pipelines(client)
    before = await evalsha_calls(client)
    replies = await asyncio.gather(*(echo(keys=[counter], args=[f"n{i}"]) for i in range(100)))
    assert replies == [f"n{i}" for i in range(100)]
    assert sizes == [100]
    assert await evalsha_calls(client) - before == 100
    assert int(await client.get(counter)) == 100


async def test_a_lone_call_goes_without_a_pipeline_and_recovers_from_noscript(client):
    batcher = ScriptBatcher(client)
    other = batcher.script(OTHER)
    sizes = spy_pipelines(client)
    before = await evalsha_calls(client)
    assert await other(keys=[], args=["x"]) == "other:x"
    await client.script_flush()
    assert await other(keys=[], args=["y"]) == "other:y"  # NOSCRIPT, loaded, sent again
    assert sizes == [] and await evalsha_calls(client) - before == 3


async def test_a_failing_script_fails_only_its_caller(client):
    batcher = ScriptBatcher(client)
    echo, counter = batcher.script(ECHO), f"batch:{uuid.uuid4().hex}"
    sizes = spy_pipelines(client)
    args = ["a", "fail", "b", "c"]
    replies = await asyncio.gather(*(echo(keys=[counter], args=[arg]) for arg in args), return_exceptions=True)
    assert replies[0] == "a" and replies[2:] == ["b", "c"]
    assert isinstance(replies[1], ResponseError) and "asked to fail" in str(replies[1])
    assert sizes == [4]
    assert int(await client.get(counter)) == 4  # each script ran once, the failing one too


async def test_a_batch_is_capped_and_the_rest_goes_in_the_next_pipeline(client):
    batcher = ScriptBatcher(client, max_batch=256)
    echo, counter = batcher.script(ECHO), f"batch:{uuid.uuid4().hex}"
    sizes = spy_pipelines(client)
    replies = await asyncio.gather(*(echo(keys=[counter], args=[str(i)]) for i in range(300)))
    assert replies == [str(i) for i in range(300)]
    assert sorted(sizes) == [44, 256]


async def test_after_script_flush_the_scripts_are_loaded_again_and_each_runs_once(client):
    batcher = ScriptBatcher(client)
    echo, other, counter = batcher.script(ECHO), batcher.script(OTHER), f"batch:{uuid.uuid4().hex}"
    await asyncio.gather(echo(keys=[counter], args=["warm"]), other(keys=[], args=["warm"]))
    await client.script_flush()
    sizes = spy_pipelines(client)
    calls = [echo(keys=[counter], args=[str(i)]) for i in range(5)] + [other(keys=[], args=["o"])]
    assert await asyncio.gather(*calls) == ["0", "1", "2", "3", "4", "other:o"]
    assert sizes == [6, 6]  # all answered NOSCRIPT (none ran), then all sent again
    assert int(await client.get(counter)) == 1 + 5


async def test_a_caller_cancelled_before_its_batch_leaves_runs_no_script(client):
    batcher = ScriptBatcher(client)
    echo, counter = batcher.script(ECHO), f"batch:{uuid.uuid4().hex}"
    kept = asyncio.ensure_future(echo(keys=[counter], args=["kept"]))
    dropped = asyncio.ensure_future(echo(keys=[counter], args=["dropped"]))
    await asyncio.sleep(0)  # both have joined the batch, which has not left yet
    dropped.cancel()
    assert await kept == "kept"
    assert dropped.cancelled() and int(await client.get(counter)) == 1


async def test_a_stopped_server_fails_every_caller_with_store_error_and_a_restart_recovers(own_redis):
    store = RedisStore(own_redis.url, prefix=f"b{uuid.uuid4().hex[:8]}")
    await store.start()
    try:
        ids = [f"c{i}" for i in range(10)]
        own_redis.stop()
        outcomes = await asyncio.gather(*(store.set_presence(i, Presence.AVAILABLE, 1.0) for i in ids),
                                        return_exceptions=True)
        assert all(isinstance(outcome, StoreError) for outcome in outcomes), outcomes
        own_redis.start()  # an empty server: no scripts loaded, so each call meets NOSCRIPT first
        await asyncio.gather(*(store.set_presence(i, Presence.AVAILABLE, 2.0) for i in ids))
    finally:
        await store.close()


async def test_events_published_in_one_tick_share_one_pipeline_and_keep_their_order(redis_url):
    spied: list[list[int]] = []

    def connect(**options):
        made = redis_client(redis_url, **options)
        spied.append(spy_pipelines(made))
        return made

    prefix = f"b{uuid.uuid4().hex[:8]}"
    sender, receiver = RedisBus(connect, prefix), RedisBus(partial(redis_client, redis_url), prefix)
    await sender.start()
    await receiver.start()
    got: list[str] = []
    all_in = asyncio.Event()

    def heard(event) -> None:
        got.append(event.token)
        if len(got) == 50:
            all_in.set()

    receiver.subscribe(heard)
    try:
        await asyncio.gather(*(sender.publish(Barrier(token=f"t{i:02d}")) for i in range(50)))
        await asyncio.wait_for(all_in.wait(), 10)
        assert got == [f"t{i:02d}" for i in range(50)]  # publish order, each once
        publisher_sizes = spied[0]
        assert publisher_sizes == [50]
    finally:
        await sender.close()
        await receiver.close()
