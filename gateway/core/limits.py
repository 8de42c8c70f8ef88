"""The limits every gateway process shares, counted in the store (ports_limits.LimitCounters).

With a Redis store one counter serves every process, so rotating widget tokens or spreading
attempts over N processes does not buy N times the limit (issue #14: one address opened 21
queued conversations in 20 s); with the memory store they are this process's, the only one.

- Address keys: `address_secret()` is HMAC(pseudonym key, "address-key:" + the UTC day), the
  same in every process (the pseudonym key is shared) and new each day, so keys cannot be
  linked across days. http/security.request_address_key turns a request into its key; the
  widget, the console login and the security events all use that one.
- New conversations per address key per minute (`limits.new_conversations_per_minute`, read
  at each call: a reload applies at once), widget connects per address key per minute.
- The console login guard: the rules are domain/login_guard.py's, the counts the store's.

Every refusal is one security event (core/security_events.py). Time is the helpline's clock.
What stays per process (the simultaneous sockets per address, a teen's message rate): see
docs/security.md, "Known limits".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from gateway.domain.errors import ProtocolError, StoreError
from gateway.domain.login_guard import LoginRules

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

MINUTE = 60.0
TOO_MANY_CONVERSATIONS = ("Beaucoup de personnes écrivent depuis ce réseau en ce moment. Attends une minute et "
                          "réessaie : ton message n'est pas perdu, il est encore dans la zone d'écriture.")


def address_secret(helpline: Helpline) -> bytes:
    """Today's (UTC) secret for address keys, shared by every process of this helpline."""
    day = datetime.fromtimestamp(helpline.clock.now(), timezone.utc).date().isoformat()
    return helpline.pseudonyms.derived_key(f"address-key:{day}")


def _opaque(helpline: Helpline, label: str, value: str) -> str:
    """A keyed hash for a store key: what reaches Redis never names a user."""
    secret = helpline.pseudonyms.derived_key(label)
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


async def widget_connect(helpline: Helpline, address_key: str) -> float | None:
    """A new widget socket from this address: None when allowed (and counted), else the wait.
    With the store away the socket is let through: nothing can be stored then anyway, and its
    hello is answered `unavailable` and closed with 1013, so the page retries (docs/protocol.md)."""
    try:
        wait = await helpline.store.limit_hit("widget_connects", address_key, helpline.clock.now(), MINUTE,
                                              helpline.config.widget_connects_per_minute)
    except StoreError:
        log.warning("widget connect not counted: store unavailable")
        return None
    if wait is not None:
        helpline.security.record("rate_limited", "widget_socket", address_key=address_key, limit="widget_connects")
    return wait


async def open_conversation(helpline: Helpline, address_key: str) -> None:
    """A widget message about to open a new conversation: counted against its address key, or
    refused (ProtocolError `too_many_conversations`, nothing stored, the text stays with the teen)."""
    wait = await helpline.store.limit_hit("conversations", address_key, helpline.clock.now(), MINUTE,
                                          helpline.config.new_conversations_per_minute)
    if wait is not None:
        helpline.security.record("flood_refused", "widget_socket", address_key=address_key)
        raise ProtocolError("too_many_conversations", TOO_MANY_CONVERSATIONS)


class LoginGuard:
    """Ask `check()` before verifying a password; report the outcome with `failed()` or
    `succeeded()`. While `check()` returns a wait, answer 429 without verifying anything.
    Account keys (login_guard.account_key) are hashed here before they reach the store."""

    ACCOUNT, ADDRESS = "login_account", "login_address"

    def __init__(self, helpline: Helpline, rules: LoginRules = LoginRules()):
        self.helpline = helpline
        self.rules = rules

    def _account(self, account_key: str) -> str:
        return _opaque(self.helpline, "login-account", account_key)

    async def check(self, account_key: str, address_key: str) -> float | None:
        """Seconds to wait if this attempt must be refused now, else None."""
        store, now = self.helpline.store, self.helpline.clock.now()
        waits = [w for w in (await store.failure_wait(self.ACCOUNT, self._account(account_key), now),
                             await store.failure_wait(self.ADDRESS, address_key, now)) if w is not None]
        if not waits:
            return None
        self.helpline.security.record("rate_limited", "console_login", address_key=address_key, limit="login")
        return max(waits)

    async def failed(self, account_key: str, address_key: str) -> None:
        store, now, security = self.helpline.store, self.helpline.clock.now(), self.helpline.security
        security.record("login_refused", "console_login", address_key=address_key)
        for name, key, rule, scope in ((self.ACCOUNT, self._account(account_key), self.rules.account, "account"),
                                       (self.ADDRESS, address_key, self.rules.address, "address")):
            if await store.failure_add(name, key, now, rule.max_failures, rule.window_seconds,
                                       rule.lockout_seconds) is not None:
                security.record("login_lockout", "console_login", address_key=address_key, scope=scope)

    async def succeeded(self, account_key: str, address_key: str) -> None:
        """Clears the account's failures. The address keeps its count: otherwise one valid
        account would let its owner reset the address limit while guessing others."""
        await self.helpline.store.failure_clear(self.ACCOUNT, self._account(account_key))

    async def unlock(self, account_key: str) -> None:
        """For an administrator: lift an account's lock now."""
        await self.helpline.store.failure_clear(self.ACCOUNT, self._account(account_key))
