"""A helpline without its worker loops, on either store: the core's use cases called directly,
conversations moving only when a test says so (the dispatcher does not run)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.app.server import build_parts
from gateway.core.helpline import Helpline
from gateway.domain.clock import ManualClock
from gateway.domain.model import Counsellor, Presence, Role
from tests.harness import TUESDAY_10H, make_config


@asynccontextmanager
async def bare_helpline(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Helpline]:
    """`request.param` names the store ("memory" or "redis": the session's Redis server)."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    parts = build_parts(make_config(url, prefix=f"{prefix}{uuid.uuid4().hex[:8]}"), clock=ManualClock(TUESDAY_10H))
    await parts.store.start()
    await parts.bus.start()
    try:
        yield Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    finally:
        await parts.bus.close()
        await parts.store.close()


async def an_account(helpline: Helpline, name: str, role: Role = Role.COUNSELLOR) -> Counsellor:
    """An available account, stored directly (no password: these tests never log in)."""
    counsellor = Counsellor(id=uuid.uuid4().hex, username=name, display_name=name.title(), password_hash="x",
                            role=role, presence=Presence.AVAILABLE)
    await helpline.store.add_counsellor(counsellor)
    return counsellor
