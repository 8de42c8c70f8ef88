"""Two real gateway processes on one Redis serve one helpline."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.domain.message_templates import DEFAULT_MESSAGES
from tests.clients import Console, Widget
from tests.processes import GatewayProcess, add_counsellor, write_config

PASSWORD = "shared-redis-password"


@pytest.fixture(params=["redis", "cluster"])
def two_gateways(request, tmp_path):
    """Two gateway processes on one single Redis, or on one Redis Cluster."""
    url = request.getfixturevalue("redis_cluster").url if request.param == "cluster" else \
        request.getfixturevalue("redis_url")
    config = write_config(tmp_path / "config.yaml", url, f"mp{uuid.uuid4().hex[:8]}",
                          routing={"max_conversations_per_counsellor": 2},
                          limits={"new_conversations_per_minute": 100})  # 12 teens from one address
    for name in ("alix", "bao", "chloe", "dina"):
        add_counsellor(config, name, PASSWORD)
    a = GatewayProcess(config, tmp_path / "a.log")
    b = GatewayProcess(config, tmp_path / "b.log")
    yield a, b
    a.stop()
    b.stop()


async def test_teen_on_one_process_and_counsellor_on_the_other_converse(two_gateways):
    a, b = two_gateways
    console = await Console.login(b.http, "alix", PASSWORD)
    await console.presence("available")
    teen = await Widget.connect(a.ws)
    await teen.say("bonjour, j'ai besoin d'aide")
    conversation = await console.assigned()
    await console.reply(conversation["id"], "Je t'écoute.")
    assert (await teen.message(lambda m: m["from"] == "counsellor"))["text"] == "Je t'écoute."
    await teen.say("merci")
    assert (await console.message(conversation["id"], lambda m: m["from"] == "teen"))["text"] == "merci"

    # The teen reloads the page on the other process: the conversation is still there.
    await teen.close()
    again = await Widget.connect(b.ws, token=teen.token)
    assert again.welcome["conversation"]["state"] == "assigned"
    assert [m["text"] for m in again.welcome["messages"] if m["from"] != "system"] == [
        "bonjour, j'ai besoin d'aide", "Je t'écoute.", "merci"]
    await again.close()
    await console.close()


async def test_no_conversation_is_assigned_twice_across_processes(two_gateways):
    a, b = two_gateways
    consoles = [await Console.login(gw.http, name, PASSWORD)
                for gw, name in ((a, "alix"), (b, "bao"), (a, "chloe"), (b, "dina"))]
    for console in consoles:
        await console.presence("available")
    teens = [await Widget.connect((a, b)[i % 2].ws) for i in range(12)]
    await asyncio.gather(*(teen.say(f"message {i}") for i, teen in enumerate(teens)))

    # 4 counsellors x capacity 2 = 8 assignments, each conversation to exactly one console.
    async def two_assignments(console: Console) -> list[dict]:
        return [await console.assigned(10), await console.assigned(10)]

    assigned = await asyncio.gather(*(two_assignments(c) for c in consoles))
    ids = [conv["id"] for pair in assigned for conv in pair]
    assert len(ids) == 8 and len(set(ids)) == 8
    # Every assignment was published before its console got it: after a barrier on each
    # socket, what each one holds is all there is.
    for client in consoles + teens:
        await client.barrier()
    for console in consoles:
        console.assert_none("conversation", where=lambda f: f["conversation"]["state"] == "assigned")
    assigned_teens = [teen for teen in teens if teen.seen("state", where=lambda f: f["conversation"]["state"] == "assigned")]
    assert len(assigned_teens) == 8
    for client in consoles + teens:
        await client.close()


async def test_a_crashed_process_leaves_its_queue_to_the_other(two_gateways):
    a, b = two_gateways
    teen = await Widget.connect(a.ws)
    await teen.say("personne n'est là ?")
    a.kill()
    console = await Console.login(b.http, "alix", PASSWORD)
    await console.presence("available")
    conversation = await console.assigned()
    await console.send({"type": "open", "conversation_id": conversation["id"]})
    history = await console.next("history")
    assert [m["text"] for m in history["messages"] if m["from"] == "teen"] == ["personne n'est là ?"]
    reconnected = await Widget.connect(b.ws, token=teen.token)
    assert reconnected.welcome["conversation"]["state"] == "assigned"
    await reconnected.close()
    await console.close()


async def test_a_pong_follows_every_event_published_before_the_ping_even_from_the_other_process(two_gateways):
    """The widget's ping is a barrier through Redis: a reply acknowledged on process B reaches
    the teen on process A before A's pong (docs/protocol.md, "ping")."""
    a, b = two_gateways
    console = await Console.login(b.http, "alix", PASSWORD)
    await console.presence("available")
    teen = await Widget.connect(a.ws)
    await teen.say("bonjour")
    conversation = await console.assigned()
    for i in range(5):
        await console.reply(conversation["id"], f"réponse {i}")  # acknowledged: published on Redis
        await teen.barrier()
        assert [f["message"]["text"] for f in teen.seen("message", lambda f: f["message"]["from"] == "counsellor")
                ][-1:] == [f"réponse {i}"]
    await teen.close()
    await console.close()


async def test_a_counsellor_whose_process_died_with_their_console_goes_offline_and_the_teen_back(two_gateways):
    """kill -9 of the process holding Alix's only console, her browser gone too: nobody arms the
    offline grace there, so the other process's heartbeat sees her held by no one (twice, some
    seconds apart), sets her offline and hands her teen back to the queue, told so."""
    a, b = two_gateways
    watcher = await Console.login(b.http, "bao", PASSWORD)  # b has had a console: its heartbeat runs
    alix = await Console.login(a.http, "alix", PASSWORD)
    await alix.presence("available")
    teen = await Widget.connect(b.ws)
    await teen.say("tu es là ?")
    conversation = await alix.assigned()
    await teen.state(lambda s: s["state"] == "assigned")
    await teen.barrier()
    teen.buffer.clear()  # what follows is after the assignment
    a.kill()
    await alix.close()
    # Holds last 15 s, the check confirms 10 s later; then the teen is back in the queue, told so.
    await teen.state(lambda s: s["state"] == "queued", timeout=45)
    await teen.message(lambda m: m["from"] == "system" and m["text"] == DEFAULT_MESSAGES["requeued"])
    bao = await Console.login(b.http, "dina", PASSWORD)
    await bao.presence("available")
    assert (await bao.assigned(10))["id"] == conversation["id"]  # the teen is not stuck with a ghost
    await bao.close()
    await teen.close()
    await watcher.close()
