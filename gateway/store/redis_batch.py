"""Lua script calls batched per event-loop tick: one pipeline, one round trip, for the lot.

Under load many intakes, replies and assignments call their script in the same loop tick;
sent one by one, each costs a round trip and holds a pooled connection while it waits. Here
the calls of one tick are collected and sent as one non-transactional pipeline of EVALSHAs
(`client.pipeline(transaction=False)`, which a Redis Cluster client groups by node), and each
caller gets its own reply or its own error:
- a script that fails (a Lua error) fails only its caller: its reply is a ResponseError, the
  others' replies are theirs;
- a NOSCRIPT (a `SCRIPT FLUSH`, a restarted or failed-over server) means that script did not
  run: it is loaded and sent again, once, as redis-py's own `Script` does;
- a connection or timeout error fails every caller of that batch with that error, as each
  call alone would have failed. Nothing is retried here (the writer client retries nothing
  either): a script whose reply was lost may have run, and must not run twice (at most once).
The first call of a tick schedules the batch's sender task, which starts on the next loop
iteration (the cost of a `call_soon`) and takes every call made until then, up to
`MAX_BATCH`; the next call opens a new batch, sent alongside on another connection. A caller
cancelled before its batch leaves is dropped from it (its script never runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

# Calls per pipeline: enough to take a burst of hundreds of teens and consoles in a few
# round trips, small enough that one batch's replies are read in well under a millisecond.
MAX_BATCH = 256


@dataclass
class _Call:
    script: AsyncScript
    keys: Sequence[Any]
    args: Sequence[Any]
    future: asyncio.Future = field(repr=False)


class ScriptBatcher:
    """Collects the script calls of one loop tick on one client and sends them together."""

    def __init__(self, client: aioredis.Redis, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max(int(max_batch), 1)
        self._open: list[_Call] | None = None  # the batch still taking calls this tick
        self._senders: set[asyncio.Task] = set()  # keeps the running sender tasks referenced

    def script(self, source: str) -> BatchedScript:
        """`source` registered on the client (its sha), called through this batcher."""
        return BatchedScript(self, self._client.register_script(source))

    def submit(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> asyncio.Future:
        """Queue one call in this tick's batch; the future holds its reply or its error."""
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None or len(batch) >= self._max_batch:
            batch = self._open = []
            sender = loop.create_task(self._send(batch), name="redis-script-batch")
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        call = _Call(script, keys, args, loop.create_future())
        batch.append(call)
        return call.future

    async def _send(self, batch: list[_Call]) -> None:
        """Runs on the tick after the batch opened: closes it and settles every caller."""
        if self._open is batch:
            self._open = None
        calls = [call for call in batch if not call.future.done()]  # done: cancelled meanwhile
        if not calls:
            return
        try:
            replies = await _attempt(self._run, calls)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # only those: a failed reload must not fail the scripts that ran
                again = await _attempt(self._reload_and_run, [calls[i] for i in missing])
                for i, reply in zip(missing, again):
                    replies[i] = reply
        except asyncio.CancelledError:  # the loop is closing: nobody waits for ever
            for call in calls:
                call.future.cancel()
            raise
        for call, reply in zip(calls, replies):
            _settle(call.future, reply)

    async def _run(self, calls: list[_Call]) -> list[Any]:
        """One pipeline, one EVALSHA per call; a failing script's reply is its ResponseError.
        A lone call goes without a pipeline: the same one round trip, less CPU."""
        if len(calls) == 1:
            call = calls[0]
            try:
                return [await self._client.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)]
            except ResponseError as exc:  # as a pipeline reply would hold it
                return [exc]
        async with self._client.pipeline(transaction=False) as pipe:
            for call in calls:
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks the named
                # method, yet routes a raw EVALSHA by its keys' slot (all one slot per helpline).
                pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
            return await pipe.execute(raise_on_error=False)

    async def _reload_and_run(self, calls: list[_Call]) -> list[Any]:
        """Load the scripts the server did not know (they did not run) and send those calls again."""
        for script in {id(call.script): call.script for call in calls}.values():
            script.sha = await self._client.script_load(script.script)
        return await self._run(calls)


class BatchedScript:
    """A registered script called as redis-py's (`await script(keys=[…], args=[…])`), batched."""

    def __init__(self, batcher: ScriptBatcher, registered: AsyncScript) -> None:
        self._batcher = batcher
        self.registered = registered

    @property
    def script(self) -> str:
        return self.registered.script

    async def __call__(self, keys: Sequence[Any] | None = None, args: Sequence[Any] | None = None) -> Any:
        return await self._batcher.submit(self.registered, list(keys or ()), list(args or ()))


async def _attempt(run: Callable[[list[_Call]], Awaitable[list[Any]]], calls: list[_Call]) -> list[Any]:
    """`run(calls)`'s replies, or its error as every call's reply (a connection lost: none
    of them knows whether its script ran, exactly as a lone call would not)."""
    try:
        return await run(calls)
    except Exception as exc:  # noqa: BLE001 - each caller's own redis_errors boundary converts it
        return [exc] * len(calls)


def _settle(future: asyncio.Future, outcome: Any) -> None:
    """Give a caller its reply, or raise its error in it; a caller who gave up is skipped."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
