"""The gateway on a real Redis Cluster (tests/redis_cluster.py: three masters on loopback ports).

The store contract, the conversation flows and the two-process tests also run on the cluster
(their `cluster` parameter); this file checks what only a cluster has: every key of one
helpline sits in the one slot of its hash tag, helplines spread over the masters, a key
layout without the tag is refused by the cluster (so the tag is what makes the scripts work),
and a master killed -9 is replaced by its replica while the gateway goes on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from gateway.app.server import build_parts
from gateway.bus import RedisBus
from gateway.core.ports import NewMessage
from gateway.domain.errors import StoreError
from gateway.domain.events import Seen
from gateway.domain.model import Author
from gateway.store import open_store
from gateway.store.redis import RedisStore
from gateway.store.redis_keys import Keys
from tests.harness import make_config, running_gateway
from tests.redis_cluster import RedisClusterSet
from tests.test_event_log import Listener
from tests.test_sentinel_gateway import T0, a_conversation, a_counsellor, until_stored


def _prefix() -> str:
    return f"cl{uuid.uuid4().hex[:10]}"


async def _a_conversation_walked_through(url: str, prefix: str) -> None:
    """A teen writes on the widget, a counsellor answers and closes: most key kinds get written."""
    from tests.clients import Widget

    async with running_gateway(make_config(url, prefix=prefix)) as gw:
        console = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        try:
            await teen.say("bonjour, on me harcèle")
            conversation = await console.assigned()
            await console.reply(conversation["id"], "Je suis là, raconte-moi.")
            await teen.message(lambda m: m["text"] == "Je suis là, raconte-moi.")
            await console.send({"type": "close", "conversation_id": conversation["id"]})
            await teen.state(lambda c: c["state"] == "closed")
        finally:
            await teen.close()
            await console.close()


async def test_every_key_of_a_helpline_is_in_the_slot_of_its_tag_and_helplines_spread(redis_cluster) -> None:
    first = _prefix()
    other = next(p for p in (_prefix() for _ in range(200))
                 if redis_cluster.master_of(f"{{{p}}}") is not redis_cluster.master_of(f"{{{first}}}"))
    for prefix in (first, other):
        await _a_conversation_walked_through(redis_cluster.url, prefix)

    keys = redis_cluster.keys_by_node()
    for prefix in (first, other):
        home = redis_cluster.master_of(f"{{{prefix}}}").port
        written = {port: [k for k in names if k.startswith(f"{{{prefix}}}:")] for port, names in keys.items()}
        assert len(written[home]) >= 8, written[home]  # conversation, messages, queue index, events…
        assert {f"{{{prefix}}}:events", f"{{{prefix}}}:convs", f"{{{prefix}}}:counsellors"} <= set(written[home])
        assert all(not names for port, names in written.items() if port != home)  # nothing elsewhere
        assert {redis_cluster.keyslot(k) for k in written[home]} == {redis_cluster.keyslot(f"{{{prefix}}}")}


async def test_without_the_tag_the_cluster_refuses_the_scripts(redis_cluster) -> None:
    """The probe: the same store with plain key names (as on a single Redis) fails on a cluster,
    so the test above passes because of the tag, not by luck."""
    store = RedisStore(redis_cluster.url, prefix=_prefix())
    await store.start()
    try:
        store._keys = Keys(store._keys.prefix.strip("{}"))  # the single-Redis layout
        with pytest.raises(StoreError, match="same key slot"):
            for _ in range(20):  # the conversation's own tag and the prefix's differ: some land apart
                await store.create_or_get_active(a_conversation())
    finally:
        await store.close()


async def test_build_parts_on_a_cluster_url_tags_the_store_and_the_bus(redis_cluster) -> None:
    prefix = _prefix()
    parts = build_parts(make_config(redis_cluster.url, prefix=prefix))
    assert parts.store.kind == "redis" and isinstance(parts.bus, RedisBus)
    await parts.store.start()
    await parts.bus.start()
    try:
        listener = Listener(parts.bus)
        await parts.store.add_counsellor(a_counsellor())
        await parts.bus.publish(Seen("c1"))
        assert await listener.until(1) == [Seen("c1")]
        names = redis_cluster.keys_by_node()[redis_cluster.master_of(f"{{{prefix}}}").port]
        assert f"{{{prefix}}}:events" in names and f"{{{prefix}}}:counsellors" in names
    finally:
        await parts.bus.close()
        await parts.store.close()


# --- failover: a master killed, its replica promoted -------------------------------------------------
@pytest.fixture
def replicated_cluster() -> Iterator[RedisClusterSet]:
    """Three masters with a replica each, for this test alone (it kills one)."""
    cluster = RedisClusterSet(replicas_each=1)
    cluster.start()
    yield cluster
    cluster.cleanup()


async def test_a_killed_master_is_replaced_and_the_gateway_goes_on(replicated_cluster, opened) -> None:
    cluster, prefix = replicated_cluster, _prefix()
    parts = build_parts(make_config(cluster.url, prefix=prefix))
    store, bus = parts.store, parts.bus
    for part in (store, bus):
        await part.start()
        opened.append(part)
    listener = Listener(bus)
    conversation, _ = await store.create_or_get_active(a_conversation())
    for n in range(10):
        await store.append_message(conversation.id, NewMessage(Author.TEEN, f"ligne {n}", T0 + n))
    await bus.publish(Seen("before"))
    await listener.until(1)
    home = cluster.master_of(f"{{{prefix}}}")
    replica = cluster.replica_of(home)
    await asyncio.to_thread(cluster.replicated, home, f"{{{prefix}}}:test-mark")  # the replica holds it all

    home.stop()  # kill -9
    await asyncio.to_thread(cluster.wait_for_promotion, replica)

    history = await until_stored(lambda: store.messages(conversation.id), within=30)
    assert [m.text for m in history] == [f"ligne {n}" for n in range(10)]
    later = await until_stored(lambda: store.append_message(conversation.id, NewMessage(Author.TEEN, "après", T0 + 99)),
                               within=30)
    assert later.seq == 11
    await until_stored(lambda: bus.publish(Seen("after")), within=30)
    assert await listener.until(2, within=30) == [Seen("before"), Seen("after")]
    assert cluster.role(replica) == "master"


def test_a_cluster_store_refuses_wait_replicas() -> None:
    with pytest.raises(Exception, match="wait_replicas"):
        open_store("redis+cluster://127.0.0.1:7000", prefix="x", wait_replicas=1)
