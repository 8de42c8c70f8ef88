"""Presence across processes: a counsellor is "hors ligne" only once no process holds a console
of theirs. Two gateways share one Redis (one prefix), each on its own ManualClock, both started
at the same time and moved together, as two processes on one wall clock."""

from __future__ import annotations

import uuid

import pytest

from gateway.core.console_presence import (
    HEARTBEAT_SECONDS,
    HOLD_SECONDS,
    OFFLINE_GRACE_SECONDS,
)
from gateway.domain.model import ConversationState, Presence
from gateway.http.console import CONSOLE_HUB
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway


@pytest.fixture
def shared_config(redis_url):
    return make_config(redis_url, prefix=f"t{uuid.uuid4().hex[:10]}")


def presence_of(gw):
    return gw.server.app[CONSOLE_HUB].presence


async def stored_presence(gw, username: str) -> Presence:
    return (await gw.helpline.store.counsellor_by_username(username)).presence


async def advance_with_heartbeat(gw, seconds: float) -> None:
    """Move this process's clock; return once its heartbeat has run at the new time."""
    beat = presence_of(gw).next_beat()
    gw.clock.advance(seconds)
    await beat


async def test_a_console_that_moved_to_another_process_keeps_the_counsellor_available(shared_config):
    async with running_gateway(shared_config) as a, running_gateway(shared_config) as b:
        console = await a.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        teen = await Widget.connect(a.ws)
        await teen.say("aide moi stp")
        conversation = await console.assigned()
        await console.close()  # A's socket drops (a network change) …
        await presence_of(a).grace_armed(me)
        held = presence_of(b).next_beat()
        moved = await Console.login(b.http, "camille", PASSWORD)  # … and the console comes back on B
        await held
        await advance_with_heartbeat(b, OFFLINE_GRACE_SECONDS)
        grace = presence_of(a).pending_grace(me)
        a.clock.advance(OFFLINE_GRACE_SECONDS)
        await grace  # A's grace ended: B still holds a console of Camille's
        assert await stored_presence(a, "camille") is Presence.AVAILABLE
        # Long past the disconnect grace, her teen is still hers.
        await advance_with_heartbeat(b, 130)
        a.clock.advance(130)
        await a.housekeeper.sweep_once()
        stored = await a.helpline.store.get_conversation(conversation["id"])
        assert stored.state is ConversationState.ASSIGNED and stored.counsellor_id == me
        await moved.barrier()
        moved.assert_none("presence")
        for client in (teen, moved):
            await client.close()


async def test_the_counsellor_goes_offline_once_no_process_holds_a_console(shared_config):
    async with running_gateway(shared_config) as a, running_gateway(shared_config) as b:
        console = await a.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        await console.close()
        await presence_of(a).grace_armed(me)
        held = presence_of(b).next_beat()
        moved = await Console.login(b.http, "camille", PASSWORD)
        await held
        await advance_with_heartbeat(b, HEARTBEAT_SECONDS)
        await moved.close()  # then the console on B goes too: B releases its hold at once
        await presence_of(b).grace_armed(me)
        grace = presence_of(a).pending_grace(me)
        a.clock.advance(OFFLINE_GRACE_SECONDS)
        await grace  # A's grace ends first: no process holds a console of hers
        assert await stored_presence(a, "camille") is Presence.OFFLINE


async def test_a_hold_runs_out_when_its_process_stops_refreshing_it(shared_config):
    async with running_gateway(shared_config) as a, running_gateway(shared_config) as b:
        console = await a.on_duty("camille", "Camille")
        me = console.init["me"]["id"]
        store = b.helpline.store
        assert await store.console_held_elsewhere(me, presence_of(b).holder, b.clock.now())
        await advance_with_heartbeat(a, HEARTBEAT_SECONDS)  # refreshed on A's clock
        assert await store.console_held_elsewhere(me, "another", a.clock.now() + HOLD_SECONDS - 0.1)
        # A stops refreshing (as a process killed -9 does): the hold runs out on its own.
        assert not await store.console_held_elsewhere(me, "another", a.clock.now() + HOLD_SECONDS)
        await console.close()
