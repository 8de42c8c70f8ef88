"""The audit log: who opened which conversation, who handed it over, erased it, marked abuse.

One JSON line per action on the `gateway.audit` logger (the admin points it at a file with
the environment variable GATEWAY_AUDIT_FILE, or collects the process output). It names counsellors by account
id and conversations by their random id; never a message, a platform id or a pseudonym.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

log = logging.getLogger("gateway.audit")
log.propagate = True

ACTIONS = frozenset({"login", "login_refused", "logout", "open", "transfer", "reassign", "erase", "abuse_mark",
                     "abuse_lift", "open_earlier", "link_earlier", "qualify",
                     "notice_create", "notice_edit", "notice_move", "notice_appeal", "notice_export",
                     "privacy_find", "privacy_export", "counsellor_disable", "counsellor_enable",
                     "counsellor_delete"})


def record(action: str, actor_id: str | None, *, at: float, conversation_id: str | None = None,
           **detail: str | int | None) -> None:
    """One audited action; `detail` holds enums and counts only (e.g. outcome, hours)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = {"at": round(at, 3), "action": action, "by": actor_id, "conversation": conversation_id, **detail}
    log.info("%s", orjson.dumps({k: v for k, v in entry.items() if v is not None}).decode())


def log_to_file(path: str | Path) -> logging.Handler:
    """Append audit lines to `path` (created if needed), one JSON object per line."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
