"""The two timer helpers every worker stands on: a ManualClock whose sleepers wake exactly when
a test moves time past their deadline, and Periodic, the one loop of every worker."""

from __future__ import annotations

import asyncio
import logging

from gateway.core.periodic import Periodic
from gateway.domain.clock import ManualClock, SystemClock
from gateway.domain.errors import StoreError

T0 = 1_750_000_000.0
EVERY = 5.0
LOGGER = "gateway.core.periodic"


# --- ManualClock ---------------------------------------------------------------------------------


async def test_sleepers_wake_exactly_at_their_deadline_and_in_deadline_order() -> None:
    clock = ManualClock(T0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper(name, s)) for name, s in [("c", 30), ("a", 10), ("a-tie", 10), ("b", 20)]]
    await clock.wait_for_sleepers(4)

    clock.advance(9)
    assert clock.sleepers == 4  # nobody is due a second early
    clock.advance(1)
    assert clock.sleepers == 2  # both ten-second sleepers, at their deadline exactly
    await asyncio.gather(tasks[1], tasks[2])
    assert woke == ["a", "a-tie"]  # a tie wakes in the order it slept

    clock.set(T0 + 60)  # past both others at once: they still wake in deadline order
    await asyncio.gather(*tasks)
    assert woke == ["a", "a-tie", "b", "c"]
    assert clock.sleepers == 0


async def test_a_cancelled_sleeper_is_forgotten_and_does_not_disturb_the_others() -> None:
    clock = ManualClock(T0)
    kept = asyncio.create_task(clock.sleep(10))
    cancelled = [asyncio.create_task(clock.sleep(5)) for _ in range(100)]
    await clock.wait_for_sleepers(101)

    for task in cancelled:
        task.cancel()
    results = await asyncio.gather(*cancelled, return_exceptions=True)

    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert clock.sleepers == 1
    assert len(clock._sleepers) == 1  # no dead entries piling up behind a kicked worker
    clock.advance(10)
    await asyncio.wait_for(kept, timeout=5)


async def test_wait_for_sleepers_returns_only_once_enough_timers_are_armed() -> None:
    clock = ManualClock(T0)
    armed = asyncio.create_task(clock.wait_for_sleepers(2))
    first = asyncio.create_task(clock.sleep(1))
    await clock.wait_for_sleepers(1)
    assert not armed.done()

    second = asyncio.create_task(clock.sleep(1))
    await asyncio.wait_for(armed, timeout=5)

    clock.advance(1)
    await asyncio.gather(first, second)


async def test_the_system_clock_does_not_sleep_for_a_deadline_already_past() -> None:
    await asyncio.wait_for(SystemClock().sleep(-3), timeout=1)


# --- Periodic ------------------------------------------------------------------------------------


class Rounds:
    """A round function that reports each call (with the clock's time) on a queue."""

    def __init__(self, clock: ManualClock, *outcomes: BaseException | None) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)  # what the next rounds raise (None: succeed); then success
        self.calls: asyncio.Queue[float] = asyncio.Queue()

    async def __call__(self) -> None:
        self.calls.put_nowait(self.clock.now())
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    async def next_call(self) -> float:
        return await asyncio.wait_for(self.calls.get(), timeout=5)


async def test_a_round_runs_at_start_then_each_time_the_period_passes_on_the_clock() -> None:
    clock = ManualClock(T0)
    rounds = Rounds(clock)
    worker = Periodic("probe", rounds, EVERY, clock)
    worker.start()
    try:
        assert await rounds.next_call() == T0
        await clock.wait_for_sleepers()

        clock.advance(EVERY - 1)
        assert clock.sleepers == 1 and rounds.calls.empty()  # not due yet: no round could start
        clock.advance(1)
        assert await rounds.next_call() == T0 + EVERY

        await clock.wait_for_sleepers()
        clock.advance(EVERY)
        assert await rounds.next_call() == T0 + 2 * EVERY
    finally:
        await worker.stop()
    assert worker.rounds == 3


async def test_a_kick_runs_a_round_at_once_and_a_kick_during_a_round_runs_one_more() -> None:
    clock = ManualClock(T0)
    entered, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow_round() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            entered.set()
            await release.wait()

    worker = Periodic("probe", slow_round, EVERY, clock)
    worker.start()
    try:
        await clock.wait_for_sleepers()  # the first round is done
        worker.kick()
        await asyncio.wait_for(entered.wait(), timeout=5)  # the second round, the clock untouched
        worker.kick()  # while it runs
        release.set()
        await clock.wait_for_sleepers()
        assert calls == 3 and clock.now() == T0
    finally:
        await worker.stop()


async def test_a_failing_round_is_logged_once_and_the_loop_goes_on(caplog) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    clock = ManualClock(T0)
    rounds = Rounds(clock, RuntimeError("a bug"), StoreError("redis away"))
    worker = Periodic("probe", rounds, EVERY, clock)
    worker.start()
    try:
        for expected in (T0, T0 + EVERY, T0 + 2 * EVERY):
            assert await rounds.next_call() == expected
            await clock.wait_for_sleepers()
            clock.advance(EVERY)
    finally:
        await worker.stop()

    records = [r for r in caplog.records if r.name == LOGGER]
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in records] == [
        (logging.ERROR, "probe round failed", True),  # a bug: with its traceback
        (logging.WARNING, "probe round skipped: redis away", False),  # Redis away: one line
    ]
    assert worker.rounds >= 3


async def test_stop_ends_the_loop_in_the_middle_of_a_round() -> None:
    clock = ManualClock(T0)
    entered, seen_cancel = asyncio.Event(), asyncio.Event()

    async def stuck_round() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen_cancel.set()
            raise

    worker = Periodic("probe", stuck_round, EVERY, clock)
    worker.start()
    await asyncio.wait_for(entered.wait(), timeout=5)

    await asyncio.wait_for(worker.stop(), timeout=5)

    assert seen_cancel.is_set() and not worker.running and worker.rounds == 0


async def test_stop_ends_the_loop_even_when_a_round_turns_the_cancel_into_a_store_error(caplog) -> None:
    """What redis-py can do (redis/redis-py#2028): the cancel comes back as a connection error."""
    caplog.set_level(logging.INFO, LOGGER)
    clock = ManualClock(T0)
    entered = asyncio.Event()
    calls = 0

    async def swallowing_round() -> None:
        nonlocal calls
        calls += 1
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise StoreError("connection lost") from None

    worker = Periodic("probe", swallowing_round, EVERY, clock)
    worker.start()
    await asyncio.wait_for(entered.wait(), timeout=5)

    await asyncio.wait_for(worker.stop(), timeout=5)

    assert calls == 1 and not worker.running
    assert [r for r in caplog.records if r.name == LOGGER] == []  # a shutdown is not an outage


async def test_stop_while_paused_leaves_no_timer_nor_task_behind() -> None:
    clock = ManualClock(T0)
    rounds = Rounds(clock)
    worker = Periodic("probe", rounds, EVERY, clock)
    worker.start()
    await rounds.next_call()
    await clock.wait_for_sleepers()

    await worker.stop()

    assert clock.sleepers == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}
    clock.advance(EVERY * 10)
    assert rounds.calls.empty() and worker.rounds == 1
