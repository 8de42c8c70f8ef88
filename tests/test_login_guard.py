"""Login throttling per account and per address, on a hand-moved clock.

The guard (core/limits.py) keeps its counts in the store: every rule is checked on the memory
store and on a real Redis alike. The bounded table the memory store keeps is checked on its own.
"""

from __future__ import annotations

import logging

import pytest

from gateway.core.limits import LoginGuard
from gateway.domain.login_guard import FailureRule, FailureTable, LoginRules, account_key
from tests.helplines import bare_helpline

T0 = 1_700_000_000.0


def rules(account: int = 5, address: int = 20, window: float = 900, lockout: float = 900) -> LoginRules:
    return LoginRules(FailureRule(account, window, lockout), FailureRule(address, window, lockout))


@pytest.fixture(params=["memory", "redis"])
async def helpline(request):
    async with bare_helpline(request, "login") as helpline:
        yield helpline


async def fail(guard: LoginGuard, times: int, account: str = "alice", address: str = "addr-1") -> None:
    for _ in range(times):
        await guard.failed(account, address)


async def test_a_fresh_attempt_is_not_blocked(helpline):
    assert await LoginGuard(helpline).check("alice", "addr-1") is None


async def test_five_failures_lock_the_account_for_the_lockout(helpline):
    guard = LoginGuard(helpline, rules(account=5, lockout=900))
    await fail(guard, 4)
    assert await guard.check("alice", "addr-1") is None
    await guard.failed("alice", "addr-1")
    assert await guard.check("alice", "addr-1") == pytest.approx(900)
    helpline.clock.advance(600)
    assert await guard.check("alice", "addr-1") == pytest.approx(300)


async def test_an_account_lock_holds_from_every_address(helpline):
    guard = LoginGuard(helpline, rules(account=5))
    for i in range(5):
        await guard.failed("alice", f"addr-{i}")  # spread over addresses: still one account
    assert await guard.check("alice", "addr-new") is not None
    assert await guard.check("bob", "addr-new") is None


async def test_the_lockout_ends_and_the_account_starts_afresh(helpline):
    guard = LoginGuard(helpline, rules(account=3, lockout=300))
    await fail(guard, 3)
    helpline.clock.advance(300)
    assert await guard.check("alice", "addr-1") is None
    await fail(guard, 2)
    assert await guard.check("alice", "addr-1") is None  # the failures before the lock are gone
    await guard.failed("alice", "addr-1")
    assert await guard.check("alice", "addr-1") == pytest.approx(300)


async def test_failures_slide_out_of_the_window(helpline):
    guard = LoginGuard(helpline, rules(account=3, window=900))
    await fail(guard, 2)
    helpline.clock.advance(900)  # exactly one window later: those two have left it
    await fail(guard, 2)
    assert await guard.check("alice", "addr-1") is None
    await guard.failed("alice", "addr-1")
    assert await guard.check("alice", "addr-1") is not None


async def test_failing_while_locked_does_not_extend_the_lock(helpline):
    guard = LoginGuard(helpline, rules(account=2, lockout=900))
    await fail(guard, 2)
    helpline.clock.advance(500)
    await fail(guard, 3)
    assert await guard.check("alice", "addr-1") == pytest.approx(400)


async def test_one_address_trying_many_accounts_is_locked(helpline):
    guard = LoginGuard(helpline, rules(account=5, address=20, lockout=900))
    for i in range(19):
        await guard.failed(f"user-{i}", "addr-1")
    assert await guard.check("someone", "addr-1") is None
    await guard.failed("user-19", "addr-1")
    assert await guard.check("someone", "addr-1") == pytest.approx(900)
    assert await guard.check("someone", "addr-2") is None


async def test_success_clears_the_account_but_not_the_address(helpline):
    guard = LoginGuard(helpline, rules(account=5, address=9))
    await fail(guard, 4)
    await guard.succeeded("alice", "addr-1")
    await fail(guard, 4)
    assert await guard.check("alice", "addr-1") is None  # 4 since the success
    await fail(guard, 1, account="mallory")
    assert await guard.check("mallory", "addr-1") is not None  # 4 + 4 + 1 = 9 on the address


async def test_unknown_accounts_are_treated_exactly_like_real_ones(helpline):
    """The guard has no idea which usernames exist: same counts, same lock, same wait."""
    guard = LoginGuard(helpline, rules(account=5))
    answers = {}
    for name in ("real.counsellor", "no-such-user"):
        await fail(guard, 4, account=name, address=f"addr-{name}")
        before = await guard.check(name, f"addr-{name}")
        await guard.failed(name, f"addr-{name}")
        answers[name] = (before, await guard.check(name, f"addr-{name}"))
    assert answers["real.counsellor"] == answers["no-such-user"] == (None, pytest.approx(900))


async def test_an_administrator_can_unlock_an_account(helpline):
    guard = LoginGuard(helpline, rules(account=2))
    await fail(guard, 2, address="addr-1")
    await guard.unlock("alice")
    assert await guard.check("alice", "addr-2") is None


async def test_refusals_and_lockouts_are_security_events_without_the_username(helpline, caplog):
    guard = LoginGuard(helpline, rules(account=2))
    with caplog.at_level(logging.WARNING, logger="gateway.security"):
        await fail(guard, 2, account="camille.secret", address="a" * 32)
        assert await guard.check("camille.secret", "a" * 32) is not None
    counts = {(kind, where): n for kind, where, n in helpline.security.snapshot()}
    assert counts == {("login_refused", "console_login"): 2, ("login_lockout", "console_login"): 1,
                      ("rate_limited", "console_login"): 1}
    assert "camille" not in caplog.text and '"scope":"account"' in caplog.text


@pytest.mark.parametrize("helpline", ["redis"], indirect=True)
async def test_the_store_never_sees_the_username(helpline):
    await LoginGuard(helpline).failed("camille.secret", "b" * 32)
    keys = await helpline.store._r.keys(f"{helpline.config.store_prefix}:*")  # noqa: SLF001 - what Redis holds
    assert keys and not any("camille" in key for key in keys)
    assert all(":limit:login_" in key for key in keys)


# --- the memory store's table: bounded ---------------------------------------------------------------

RULE = FailureRule(5, 900, 900)


def test_account_keys_ignore_case_and_surrounding_spaces():
    assert account_key(" Alice ") == account_key("alice") == "alice"


def test_memory_stays_bounded_under_a_flood_of_usernames():
    table = FailureTable(max_keys=50)
    for i in range(5000):
        table.fail(f"user-{i}", T0, RULE)
    assert len(table) == 50


def test_a_flood_of_usernames_cannot_push_out_a_lock():
    table = FailureTable(max_keys=50)
    for _ in range(5):
        table.fail("target", T0, RULE)
    for i in range(5000):
        table.fail(f"user-{i}", T0, RULE)
    assert table.wait("target", T0) is not None


def test_forgotten_entries_are_dropped_first():
    table, rule = FailureTable(max_keys=3), FailureRule(3, 60, 900)
    for name, times in (("stale", 2),):
        for _ in range(times):
            table.fail(name, T0, rule)
    later = T0 + 61
    for name in ("recent-1", "recent-1", "recent-2", "recent-2", "newcomer"):
        table.fail(name, later, rule)  # "stale" has nothing left to remember: it goes
    assert table.fail("recent-1", later, rule) is not None  # recent-1 kept its two earlier failures


def test_rules_are_validated():
    with pytest.raises(ValueError):
        FailureRule(0, 900, 900)
    with pytest.raises(ValueError):
        FailureRule(5, 0, 900)
