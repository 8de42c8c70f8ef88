"""SharedRead: a burst of callers shares reads, and each gets a read begun after its call."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.shared_read import SharedRead


class CountingRead:
    """A read that returns the store's version when it started, and can be held open."""

    def __init__(self) -> None:
        self.version = 0
        self.started = 0
        self.release = asyncio.Event()
        self.release.set()
        self.in_flight = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.started += 1
        seen = self.version
        self.in_flight.set()
        await self.release.wait()
        self.in_flight.clear()
        if self.fail is not None:
            raise self.fail
        return seen


async def test_a_burst_of_callers_costs_one_read():
    read = CountingRead()
    shared = SharedRead(read)
    results = await asyncio.gather(*(shared() for _ in range(100)))
    assert results == [0] * 100
    assert read.started == 1


async def test_a_caller_arriving_during_a_read_gets_the_next_one_and_sees_its_write():
    read = CountingRead()
    shared = SharedRead(read)
    read.release.clear()
    early = asyncio.ensure_future(shared())
    await read.in_flight.wait()  # the first read started before the write below
    read.version = 1  # a caller's own write, then its call
    late = [asyncio.ensure_future(shared()) for _ in range(50)]
    read.release.set()
    assert await early == 0
    assert await asyncio.gather(*late) == [1] * 50
    assert read.started == 2  # 51 callers, two reads


async def test_a_failed_read_reaches_every_waiting_caller_and_the_next_call_reads_again():
    read = CountingRead()
    shared = SharedRead(read)
    read.fail = RuntimeError("store away")
    results = await asyncio.gather(*(shared() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    read.fail = None
    assert await shared() == 0
    assert read.started == 2


async def test_a_cancelled_caller_leaves_the_read_to_the_others():
    read = CountingRead()
    shared = SharedRead(read)
    read.release.clear()
    quitter = asyncio.ensure_future(shared())
    stayer = asyncio.ensure_future(shared())
    await read.in_flight.wait()
    quitter.cancel()
    read.release.set()
    assert await stayer == 0
    with pytest.raises(asyncio.CancelledError):
        await quitter
