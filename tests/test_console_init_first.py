"""The console's `init` is the first frame of every socket (docs/protocol.md), even while events
for that counsellor stream in as it opens: a socket listens before its `init` is read (so nothing
between the read and the listening is lost) and holds what comes meanwhile until the `init` is out.

Found by the bench (issue #15): a second console of a busy counsellor sometimes got a
`conversation` or `presence` frame before its `init`, so the page rendered an event against a
state it did not have yet.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.clients import Console
from tests.harness import PASSWORD, make_config, running_gateway

OPENINGS = 25


@pytest.fixture(params=["memory", "redis"])
def config(request: pytest.FixtureRequest):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return make_config(url, prefix=f"t{uuid.uuid4().hex[:10]}")


async def test_init_comes_first_while_the_counsellors_presence_keeps_changing(config):
    async with running_gateway(config) as gw:
        first = await gw.on_duty("camille", "Camille")
        stop = asyncio.Event()

        async def toggle() -> int:
            """Presence back and forth as fast as the first console can: an event to every socket of hers."""
            changes = 0
            while not stop.is_set():
                await first.presence("paused" if changes % 2 == 0 else "available")
                changes += 1
            return changes

        toggling = asyncio.create_task(toggle())
        early: list[str] = []
        held_back = 0
        try:
            for _ in range(OPENINGS):
                other = await Console.login(gw.http, "camille", PASSWORD)  # reads up to its `init`
                early += [frame["type"] for frame in other.buffer]  # what came before the `init`
                frame = await other.next("presence")  # the events go on after it
                held_back += frame["type"] == "presence"
                await other.close()
        finally:
            stop.set()
            changes = await toggling
        await first.close()
    assert changes > OPENINGS  # events really streamed while the sockets opened
    assert early == []
    assert held_back == OPENINGS
