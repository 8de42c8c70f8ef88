"""The test clients' barrier: absence checked after a ping's round trip, never by waiting.

`assert_none` is what guards rules such as "an internal note never reaches a teen": these
tests show it fails when the frame did come, and refuses to judge without a barrier.
"""

from __future__ import annotations

import uuid

import pytest

from tests.harness import make_config


@pytest.fixture(params=["memory", "redis"])
def config(request: pytest.FixtureRequest):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return make_config(url, prefix=f"b{uuid.uuid4().hex[:10]}")


async def test_a_frame_caused_before_the_ping_is_there_after_the_barrier(web_chat):
    """The counsellor's typing is published before the teen pings: the pong comes after it."""
    await web_chat.teen.state(lambda c: c["state"] == "assigned")
    await web_chat.console.send({"type": "typing", "conversation_id": web_chat.id, "active": True})
    await web_chat.console.barrier()  # the console's typing frame has been handled
    await web_chat.teen.barrier()
    assert [f["active"] for f in web_chat.teen.seen("typing")] == [True]
    with pytest.raises(AssertionError, match="unexpected typing"):
        web_chat.teen.assert_none("typing")
    web_chat.teen.assert_none("typing", where=lambda f: f["active"] is False)


async def test_assert_none_refuses_to_judge_without_a_barrier_after_the_last_frame(web_chat):
    await web_chat.teen.barrier()
    web_chat.teen.assert_none("error")
    await web_chat.teen.send({"type": "typing", "active": True})
    with pytest.raises(AssertionError, match="needs `await client.barrier"):
        web_chat.teen.assert_none("error")
