"""What one process says about itself: the public liveness answer of /healthz, and the detailed
status of /healthz/details (is its store reachable, which Meta channels are on and what an
admin must fix on them, whether the line is open, and the state of the live config).

The composition root gathers the parts into a `ProcessStatus`; the health routes only render
`liveness` and `health_report`. "degraded" means someone must act: the store is away or a
channel alerts, and then `reasons` says what. The process can serve only while its store
answers: a load balancer reading `serving` (HTTP 503 when false) sends clients elsewhere.

Why two documents (issue #14): /healthz is public and said the config file's absolute path,
its hashes and the error text, which quoted the file (pointing config.yaml at another YAML
file printed that file's first key). The public answer now says only ok/unavailable; the
details are for supervisors and the monitoring token, and even they get our fixed words for a
refused config (`config_view`), never a path, a hash or a text from the file. The whole
explanation stays in the process log and in `python -m gateway config check FILE`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from gateway.core.delivery import DeliveryWorker
from gateway.core.helpline import Helpline
from gateway.domain.config_schema import ConfigFile
from gateway.domain.errors import ConfigError


@dataclass(frozen=True)
class ProcessStatus:
    """The parts /healthz reads; `config_status` only when config.yaml is watched live."""

    helpline: Helpline
    delivery: DeliveryWorker  # its `alerts`: channel -> what an admin must fix
    messenger_on: bool
    whatsapp_on: bool
    config_status: Callable[[], dict] | None = None


PING_SECONDS = 2.0  # a store that takes longer than this to answer a PING is not serving
STORE_UNREACHABLE = "store unreachable"


@dataclass(frozen=True)
class Health:
    serving: bool  # False: /healthz answers 503
    document: dict


async def store_reachable(helpline: Helpline) -> bool:
    """Bounded: with retries on, a PING to a Redis that is away could wait for every backoff."""
    try:
        async with asyncio.timeout(PING_SECONDS):
            return await helpline.store.ping()
    except TimeoutError:
        return False


async def liveness(status: ProcessStatus) -> Health:
    """The public /healthz: `{"status": "ok"}` or `{"status": "unavailable"}`, nothing else
    (no store kind, no line, no config: anyone may ask it)."""
    reachable = await store_reachable(status.helpline)
    return Health(serving=reachable, document={"status": "ok" if reachable else "unavailable"})


def _channel(name: str, on: bool, alerts: dict[str, str]) -> dict:
    return {"on": on, **({"alert": alerts[name]} if name in alerts else {})}


async def health_report(status: ProcessStatus) -> Health:
    """The /healthz/details document (its shape is a contract: monitoring reads it)."""
    helpline = status.helpline
    reachable = await store_reachable(helpline)
    alerts = status.delivery.alerts
    reasons = ([] if reachable else [STORE_UNREACHABLE]) + [f"{name}: {alert}" for name, alert in sorted(alerts.items())]
    report = {
        "status": "ok" if not reasons else "degraded",
        "store": {"kind": helpline.store.kind, "reachable": reachable},
        "channels": {
            "web": {"on": True},
            "messenger": _channel("messenger", status.messenger_on, alerts),
            "whatsapp": _channel("whatsapp", status.whatsapp_on, alerts),
        },
        "line": helpline.line_status(),
    }
    if status.config_status is not None:
        report["config"] = status.config_status()
    if reasons:
        report["reasons"] = reasons  # only when degraded: the "ok" document keeps its exact shape
    return Health(serving=reachable, document=report)


# --- a refused config, in our own fixed words --------------------------------------------------
# The categories /healthz/details may say (docs/security.md). Each ConfigError the gateway raises
# falls in one; tests/test_health_split.py builds one real file per category.
NOT_YAML = "not YAML"
UNKNOWN_KEY = "unknown key"
WRONG_VALUE = "wrong type or range"
NOT_CONFIG = "not a config file"
TOO_LARGE = "too large"
UNREADABLE = "unreadable"
RESTART_NEEDED = "restart needed"  # a restart-only setting edited while running
IN_USE = "in use by stored records"  # a casework value removed while qualifications use it
NOT_CHECKED = "not checked"  # the check against stored data failed (store away): SIGHUP retries
NOT_APPLIED = "not applied"  # applying or validating failed unexpectedly (see the log)
PROBLEMS = frozenset({NOT_YAML, UNKNOWN_KEY, WRONG_VALUE, NOT_CONFIG, TOO_LARGE, UNREADABLE, RESTART_NEEDED,
                      IN_USE, NOT_CHECKED, NOT_APPLIED})

# (ConfigError.key, pattern searched in ConfigError.problem) → category, first match wins. The
# messages are ours (domain/config.py, config_schema.py, closures.py, schedule.py, casework.py,
# app/config_watch.py); tests/test_health_split.py pins one real error per category.
_BY_KEY_AND_TEXT: tuple[tuple[str | None, re.Pattern[str], str], ...] = tuple(
    (key, re.compile(pattern), category) for key, pattern, category in (
        ("(file)", r"^cannot read", UNREADABLE),
        ("(file)", r"^is not UTF-8", NOT_YAML),
        ("(file)", r"^is empty", NOT_CONFIG),
        ("(file)", r"^is \d+ bytes", TOO_LARGE),
        ("(yaml)", r"", NOT_YAML),
        ("(top level)", r"nested too deeply", NOT_YAML),
        ("(top level)", r"", NOT_CONFIG),  # a list or a text where a mapping of settings was expected
        ("(check)", r"", NOT_CHECKED),
        ("(apply)", r"", NOT_APPLIED),
        ("(load)", r"", NOT_APPLIED),
        (None, r"^unknown (key|weekday)", UNKNOWN_KEY),
        (None, r"cannot change while running", RESTART_NEEDED),
        (None, r"is used by stored", IN_USE),
    ))


def config_problem(error: ConfigError) -> str:
    """The fixed category of a refused config (one of PROBLEMS): never the error's own text."""
    for key, pattern, category in _BY_KEY_AND_TEXT:
        if (key is None or error.key == key) and pattern.search(error.problem):
            return category
    return WRONG_VALUE


def schema_key(key: str) -> str | None:
    """The part of a dotted key path our schema knows (`http.widget_origins[0]` →
    `http.widget_origins`, `http.no_such_key` → `http`), or None when even its first part is
    not ours: a key from another file never leaves the process log."""
    known: list[str] = []
    model: Any = ConfigFile
    for part in re.sub(r"\[\d+\]", "", key).split("."):
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else None
        if fields is None or part not in fields:
            break
        known.append(part)
        model = _inner(fields[part].annotation)
    return ".".join(known) or None


def _inner(annotation: Any) -> Any:
    """A field's model: itself, a list's entry, or the first model inside Annotated/Optional."""
    if get_origin(annotation) is list:
        return _inner(get_args(annotation)[0])
    for arg in get_args(annotation):
        inner = _inner(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def config_view(error: ConfigError | None, *, matches_disk: bool, last_reload_at: datetime | None) -> dict:
    """The live config as /healthz/details shows it: whether the file on disk is the one in
    force, and for a refused edit only the schema key and our category."""
    return {
        "state": "rejected" if error is not None else "in_force",
        "matches_disk": matches_disk,
        "last_reload_at": last_reload_at.isoformat() if last_reload_at else None,
        "rejected_key": schema_key(error.key) if error is not None else None,
        "problem": config_problem(error) if error is not None else None,
    }
