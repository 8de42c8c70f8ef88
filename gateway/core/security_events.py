"""Security events: every refusal an attack would cause, as one JSON log line and one counter.

Why: a refused Origin, a CSRF failure, a 429 or a forged webhook used to leave no trace, so
nobody could see an attack happening (issue #14). Each is now one line on the
`gateway.security` logger and one increment of `gateway_security_events_total{kind,where}`
in /metrics (docs/security.md says what to alert on).

What a line holds: the time, the kind and where it happened (both bounded enums below), at
most the keyed hash the limits already use for the client address (`address_key`, never the
address), and small enums or counts in `detail`. Never a text, a token, a username, a path
with its query string or a platform id: `detail` values must be ints or one of the enum
strings the caller passes, checked here so a careless caller cannot leak a free string.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable

import orjson

from gateway.domain.clock import Clock

log = logging.getLogger("gateway.security")

KINDS = frozenset({
    "origin_refused",    # a WebSocket handshake from a page not in the allowlists
    "csrf_refused",      # a state-changing console request without our Origin
    "forbidden",         # a console API call past the caller's role (a counsellor on a supervisor route)
    "rate_limited",      # a 429 or a `slow_down` (detail `limit` names which)
    "flood_refused",     # new conversations per address over the limit (widget)
    "bad_signature",     # a Meta webhook whose X-Hub-Signature-256 does not match
    "login_refused",     # a wrong username or password
    "login_lockout",     # an account or an address locked after repeated failures
    "slow_client",       # a request head or body not received in time: connection dropped
    "idle_socket",       # a socket silent past its idle timeout: closed
    "bad_request",       # a malformed HTTP request answered 400 by the server
    "health_refused",    # the detailed /healthz asked without a session or the token
    "handler_error",     # an unexpected error in a handler (logged with the route only)
})
WHERE = frozenset({
    "widget_socket", "console_socket", "console_login", "console_api", "health",
    "webhook_messenger", "webhook_whatsapp", "http",
})
# Values a `detail` string may take: short lowercase identifiers (limit names, route names
# such as "/api/console/login" are NOT allowed: they could carry ids). Enforced below.
_ENUM = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class SecurityEvents:
    """One per process (on the Helpline): logs each event and counts it by (kind, where)."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, kind: str, where: str, *, address_key: str | None = None, **detail: str | int) -> None:
        """One event. Raises ValueError on an unknown kind/where or a free-text detail: a
        programming error, caught by the tests, never a reason to log something unsafe."""
        if kind not in KINDS or where not in WHERE:
            raise ValueError(f"unknown security event {kind!r} at {where!r}")
        for name, value in detail.items():
            if not (isinstance(value, int) or (isinstance(value, str) and _ENUM.match(value))):
                raise ValueError(f"security event detail {name!r} must be an int or an enum word")
        self.counts[(kind, where)] += 1
        entry: dict[str, object] = {"at": round(self.clock.now(), 3), "event": kind, "where": where}
        if address_key is not None:
            entry["address_key"] = address_key[:16]  # a prefix of the keyed hash is enough to correlate
        entry.update(detail)
        log.warning("%s", orjson.dumps(entry).decode())

    def snapshot(self) -> Iterable[tuple[str, str, int]]:
        """(kind, where, count) for /metrics, in a stable order."""
        return [(kind, where, n) for (kind, where), n in sorted(self.counts.items())]
