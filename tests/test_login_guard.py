"""Login throttling per account and per address, on a hand-moved clock."""

import pytest

from gateway.domain.clock import ManualClock
from gateway.domain.login_guard import LoginGuard, account_key

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def fail(guard: LoginGuard, times: int, account: str = "alice", address: str = "addr-1") -> None:
    for _ in range(times):
        guard.failed(account, address)


def test_a_fresh_attempt_is_not_blocked(clock):
    assert LoginGuard(clock).check("alice", "addr-1") is None


def test_five_failures_lock_the_account_for_the_lockout(clock):
    guard = LoginGuard(clock, max_failures_per_account=5, lockout_seconds=900)
    fail(guard, 4)
    assert guard.check("alice", "addr-1") is None
    guard.failed("alice", "addr-1")
    assert guard.check("alice", "addr-1") == pytest.approx(900)
    clock.advance(600)
    assert guard.check("alice", "addr-1") == pytest.approx(300)


def test_an_account_lock_holds_from_every_address(clock):
    guard = LoginGuard(clock, max_failures_per_account=5)
    for i in range(5):
        guard.failed("alice", f"addr-{i}")  # spread over addresses: still one account
    assert guard.check("alice", "addr-new") is not None
    assert guard.check("bob", "addr-new") is None


def test_the_lockout_ends_and_the_account_starts_afresh(clock):
    guard = LoginGuard(clock, max_failures_per_account=3, window_seconds=900, lockout_seconds=300)
    fail(guard, 3)
    clock.advance(300)
    assert guard.check("alice", "addr-1") is None
    fail(guard, 2)
    assert guard.check("alice", "addr-1") is None  # old failures do not count again
    guard.failed("alice", "addr-1")
    assert guard.check("alice", "addr-1") == pytest.approx(300)


def test_failures_slide_out_of_the_window(clock):
    guard = LoginGuard(clock, max_failures_per_account=3, window_seconds=900)
    fail(guard, 2)
    clock.advance(901)
    guard.failed("alice", "addr-1")
    assert guard.check("alice", "addr-1") is None  # only one failure within the last 900 s
    clock.advance(100)
    guard.failed("alice", "addr-1")
    assert guard.check("alice", "addr-1") is None
    guard.failed("alice", "addr-1")
    assert guard.check("alice", "addr-1") is not None


def test_failing_while_locked_does_not_extend_the_lock(clock):
    guard = LoginGuard(clock, max_failures_per_account=2, lockout_seconds=900)
    fail(guard, 2)
    clock.advance(800)
    fail(guard, 5)
    assert guard.check("alice", "addr-1") == pytest.approx(100)


def test_one_address_trying_many_accounts_is_locked(clock):
    guard = LoginGuard(clock, max_failures_per_account=5, max_failures_per_address=20, lockout_seconds=900)
    for i in range(19):
        guard.failed(f"user-{i}", "addr-1")
    assert guard.check("someone", "addr-1") is None
    guard.failed("user-19", "addr-1")
    assert guard.check("someone", "addr-1") == pytest.approx(900)
    assert guard.check("someone", "addr-2") is None


def test_the_longer_of_two_locks_is_the_wait(clock):
    guard = LoginGuard(clock, max_failures_per_account=2, max_failures_per_address=3, lockout_seconds=900)
    fail(guard, 2, address="addr-1")  # locks alice at T0
    clock.advance(100)
    fail(guard, 3, account="bob", address="addr-2")  # locks addr-2 at T0+100
    assert guard.check("alice", "addr-2") == pytest.approx(900)


def test_success_clears_the_account_but_not_the_address(clock):
    guard = LoginGuard(clock, max_failures_per_account=5, max_failures_per_address=9)
    fail(guard, 4)
    guard.succeeded("alice", "addr-1")
    fail(guard, 4)
    assert guard.check("alice", "addr-1") is None  # the account counts from zero again
    fail(guard, 1, account="mallory")
    assert guard.check("mallory", "addr-1") is not None  # 4 + 4 + 1 = 9 on the address


def test_unknown_accounts_are_treated_exactly_like_real_ones(clock):
    """The guard has no idea which usernames exist: same counts, same lock, same wait."""
    guard = LoginGuard(clock, max_failures_per_account=5)
    answers = {}
    for name in ("real.counsellor", "no-such-user"):
        fail(guard, 4, account=name, address=f"addr-{name}")
        before = guard.check(name, f"addr-{name}")
        guard.failed(name, f"addr-{name}")
        answers[name] = (before, guard.check(name, f"addr-{name}"))
    assert answers["real.counsellor"] == answers["no-such-user"] == (None, pytest.approx(900))


def test_account_keys_ignore_case_and_surrounding_spaces():
    assert account_key(" Alice ") == account_key("alice") == "alice"


def test_an_administrator_can_unlock_an_account(clock):
    guard = LoginGuard(clock, max_failures_per_account=2)
    fail(guard, 2, address="addr-1")
    guard.unlock("alice")
    assert guard.check("alice", "addr-2") is None


def test_memory_stays_bounded_under_a_flood_of_usernames(clock):
    guard = LoginGuard(clock, max_failures_per_address=10**9, max_keys=50)
    for i in range(5000):
        guard.failed(f"user-{i}", "addr-1")
    accounts, addresses = guard.tracked()
    assert accounts == 50 and addresses == 1


def test_a_flood_of_usernames_cannot_push_out_a_lock(clock):
    guard = LoginGuard(clock, max_failures_per_account=5, max_failures_per_address=10**9, max_keys=50)
    fail(guard, 5, account="target")
    for i in range(5000):
        guard.failed(f"user-{i}", "addr-1")
    assert guard.check("target", "addr-2") is not None


def test_forgotten_entries_are_dropped_first(clock):
    guard = LoginGuard(clock, max_failures_per_account=3, max_failures_per_address=10**9, window_seconds=60, max_keys=3)
    fail(guard, 2, account="stale")
    clock.advance(61)
    fail(guard, 2, account="recent-1")
    fail(guard, 2, account="recent-2")
    fail(guard, 1, account="newcomer")  # "stale" has nothing left to remember: it goes
    fail(guard, 1, account="recent-1")
    assert guard.check("recent-1", "addr-2") is not None  # recent-1 kept its two earlier failures
