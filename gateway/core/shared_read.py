"""`SharedRead`: concurrent callers of one read share a single trip to the store.

Each caller gets a read that *started after it called* (so it sees its own writes), yet a
burst of callers costs two reads, not one each: callers arriving while a read is in flight
all wait for the next one, which starts when that one ends. Used for the queue positions:
a burst of 400 new conversations read the whole queue 800 times (O(n²) Redis commands, the
pool drained — issue #15); now a few dozen times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]]):
        self._read = read
        self._next: asyncio.Future[T] | None = None  # the read the callers not yet served will share
        self._runner: asyncio.Task | None = None

    async def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if self._runner is not None and self._runner.get_loop() is not loop:
            self._runner, self._next = None, None  # left by another event loop (tests): start afresh
        if self._next is None:
            self._next = loop.create_future()
        waiting = self._next
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        return await asyncio.shield(waiting)  # a cancelled caller leaves the read to the others

    async def _run(self) -> None:
        while self._next is not None:
            serving, self._next = self._next, None  # later callers wait for the next round
            try:
                result = await self._read()
            except asyncio.CancelledError:
                serving.cancel()
                raise
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
                serving.set_exception(exc)
            else:
                serving.set_result(result)
