"""Token buckets, per-key buckets, the concurrency cap and the sliding window, as pure logic on a
hand-moved clock."""

import math

import pytest

from gateway.domain.clock import ManualClock
from gateway.domain.rate_limit import ConcurrencyCap, KeyedBuckets, SlidingWindowLog, TokenBucket

T0 = 1_700_000_000.0


def test_a_new_bucket_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=1, burst=3)
    assert [bucket.take(T0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate():
    clock = ManualClock(T0)
    bucket = TokenBucket(rate=2, burst=2)  # one token every half second
    assert bucket.take(clock.now()) and bucket.take(clock.now())
    assert not bucket.take(clock.now())
    clock.advance(0.4)
    assert not bucket.take(clock.now())
    clock.advance(0.1)
    assert bucket.take(clock.now())
    assert not bucket.take(clock.now())


def test_refill_never_exceeds_the_burst():
    bucket = TokenBucket(rate=10, burst=2)
    bucket.take(T0)
    assert [bucket.take(T0 + 3600) for _ in range(3)] == [True, True, False]


def test_a_refused_take_costs_nothing():
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(T0)
    for _ in range(10):
        assert not bucket.take(T0 + 0.5)  # hammering does not push the next token further away
    assert bucket.take(T0 + 1.0)


def test_retry_after_says_when_the_next_take_succeeds():
    bucket = TokenBucket(rate=0.5, burst=1)  # one token every 2 s
    assert bucket.retry_after(T0) == 0.0
    bucket.take(T0)
    assert bucket.retry_after(T0) == pytest.approx(2.0)
    assert bucket.retry_after(T0 + 1.5) == pytest.approx(0.5)
    assert bucket.retry_after(T0 + 1.5) == pytest.approx(0.5)  # asking changes nothing
    assert bucket.take(T0 + 2.0)


def test_costly_actions_take_several_tokens():
    bucket = TokenBucket(rate=1, burst=5)
    assert bucket.take(T0, cost=4)
    assert not bucket.take(T0, cost=2)
    assert bucket.retry_after(T0, cost=2) == pytest.approx(1.0)
    assert math.isinf(bucket.retry_after(T0, cost=6))  # more than a full bucket: never


def test_a_clock_stepping_back_neither_refills_nor_punishes():
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(T0)
    assert not bucket.take(T0 - 100)  # no refill from the jump back...
    assert bucket.take(T0 - 99)  # ...and counting restarts from there, not from T0


def test_bucket_parameters_are_validated():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        KeyedBuckets(rate=1, burst=0)


def test_each_key_has_its_own_bucket():
    buckets = KeyedBuckets(rate=1, burst=2)
    assert buckets.take("a", T0) and buckets.take("a", T0)
    assert not buckets.take("a", T0)
    assert buckets.take("b", T0)
    assert buckets.retry_after("a", T0) == pytest.approx(1.0)
    assert buckets.retry_after("never-seen", T0) == 0.0


def test_keyed_buckets_never_hold_more_than_max_keys():
    buckets = KeyedBuckets(rate=1, burst=1, max_keys=100)
    for i in range(10_000):
        buckets.take(f"key-{i}", T0)
    assert len(buckets) == 100


def test_buckets_full_again_are_forgotten_before_busy_ones():
    buckets = KeyedBuckets(rate=1, burst=1, max_keys=3)
    buckets.take("old", T0)
    buckets.take("busy", T0 + 10)
    buckets.take("busy2", T0 + 10)
    buckets.take("new", T0 + 10.5)  # "old" is full again: it goes, the busy ones stay in debt
    assert len(buckets) == 3
    assert not buckets.take("busy", T0 + 10.5)
    assert not buckets.take("busy2", T0 + 10.5)


def test_when_all_are_busy_the_least_recently_used_key_is_forgiven():
    buckets = KeyedBuckets(rate=1, burst=1, max_keys=2)
    buckets.take("a", T0)
    buckets.take("b", T0)
    buckets.take("a", T0)  # "a" used again: "b" is now the least recently used
    buckets.take("c", T0)
    assert buckets.take("b", T0)  # "b" was dropped, so it starts with a full bucket
    assert not buckets.take("c", T0)


def test_prune_drops_every_full_bucket():
    buckets = KeyedBuckets(rate=1, burst=2)
    buckets.take("early", T0)
    buckets.take("late", T0 + 0.5)  # "early" is not full yet: both kept
    assert len(buckets) == 2
    assert buckets.prune(T0 + 1.2) == 1  # "early" is full again, "late" not yet
    assert len(buckets) == 1
    assert buckets.retry_after("late", T0 + 1.2, cost=2) > 0


def test_concurrency_cap_refuses_above_the_limit_per_key():
    cap = ConcurrencyCap(limit=2)
    assert cap.acquire("k") and cap.acquire("k")
    assert not cap.acquire("k")
    assert cap.acquire("other")
    cap.release("k")
    assert cap.acquire("k")


def test_concurrency_cap_forgets_keys_at_zero_and_never_goes_negative():
    cap = ConcurrencyCap(limit=1)
    assert cap.acquire("k")
    cap.release("k")
    assert len(cap) == 0 and cap.held("k") == 0
    cap.release("k")  # one release too many
    cap.release("unknown")
    assert len(cap) == 0
    assert cap.acquire("k")
    assert not cap.acquire("k")  # the extra release did not leave a spare slot


# --- the sliding window of the shared counters (the memory store's; Redis mirrors it in Lua) ---------


def test_a_sliding_window_allows_the_limit_then_says_when_the_oldest_leaves():
    log = SlidingWindowLog()
    assert [log.hit("k", T0 + i, 60, 3) for i in range(3)] == [None, None, None]
    assert log.hit("k", T0 + 10, 60, 3) == pytest.approx(50)
    assert log.hit("k", T0 + 60, 60, 3) is None  # an event exactly one window old has left


def test_a_sliding_window_keeps_at_most_limit_times_per_key_and_max_keys_keys():
    log = SlidingWindowLog(max_keys=20)
    for i in range(1000):
        log.hit(f"k{i}", T0, 60, 5)
        log.hit("busy", T0, 60, 5)
    assert len(log) == 20
    assert len(log._logs["busy"][0]) <= 5  # noqa: SLF001 - the bound itself is what is tested


def test_keys_whose_events_left_their_window_are_forgotten_first():
    log = SlidingWindowLog(max_keys=2)
    log.hit("old", T0, 60, 1)
    log.hit("busy", T0 + 50, 60, 1)
    log.hit("new", T0 + 61, 60, 1)  # "old" has nothing left in its window: it goes, not "busy"
    assert log.hit("busy", T0 + 61, 60, 1) is not None


def test_sliding_window_parameters_are_validated():
    with pytest.raises(ValueError):
        SlidingWindowLog().hit("k", T0, 0, 1)
    with pytest.raises(ValueError):
        SlidingWindowLog().hit("k", T0, 60, 0)
