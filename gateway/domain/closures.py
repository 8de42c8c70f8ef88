"""Whole days the helpline is closed: admin closures and French public holidays. Pure, no I/O.

Owns the `Closure` value, reading `closures` and `public_holidays` from config.yaml, and the
public-holiday calendar. Holidays come from the `holidays` package (metropolitan France, no
subdivision: Alsace-Moselle's Good Friday and 26 December are not included, because the
helpline is national), never from a hand-written list that would go stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import holidays

from gateway.domain.errors import ConfigError

_CLOSURE_KEYS = frozenset({"date", "from", "to", "message"})
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A closure longer than this is almost surely a typo in the year (2062 for 2026); a
# helpline closed for over a year would be switched off, not scheduled.
_LONGEST_CLOSURE_DAYS = 366
# The schedule checks every closure for each day it walks: an unbounded list (300,000 closures
# once blocked the event loop for 82 s) is refused. Two years of single days fit.
MAX_CLOSURES = 750


@dataclass(frozen=True)
class Closure:
    """Closed from `first` to `last` included (local dates); `message` is told to teens.

    `message` None means "use the default closed message".
    """

    first: date
    last: date
    message: str | None = None

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@lru_cache(maxsize=64)
def french_holidays(year: int) -> Mapping[date, str]:
    """Metropolitan France public holidays of `year`, with their French names.

    Cached per year: building the calendar computes Easter and friends, and the schedule asks
    about the same year hundreds of times when it walks days ahead.
    """
    calendar = holidays.country_holidays("FR", years=year, language="fr")
    return MappingProxyType(dict(calendar))


def closures_from_config(raw: Any) -> tuple[Closure, ...]:
    """Read the `closures` list; an empty `closures:` line in YAML (None) means none."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("closures", "expected a list of closures, each with date (or from and to)")
    if len(raw) > MAX_CLOSURES:
        raise ConfigError("closures", f"must have at most {MAX_CLOSURES} closures, got {len(raw)}; "
                                      "remove the past ones or write a range with from and to")
    return tuple(_closure(item, f"closures[{i}]") for i, item in enumerate(raw))


def public_holidays_from_config(raw: Any) -> bool:
    """`public_holidays: closed` (the default) or `open`; True means closed on holidays."""
    if isinstance(raw, str) and raw.strip().lower() in ("closed", "open"):
        return raw.strip().lower() == "closed"
    raise ConfigError("public_holidays", f'expected "closed" or "open", got {raw!r}')


def _closure(item: Any, key: str) -> Closure:
    if not isinstance(item, Mapping):
        raise ConfigError(key, "expected a mapping with date (or from and to) and an optional message")
    for name in item:
        if name not in _CLOSURE_KEYS:
            raise ConfigError(f"{key}.{name}", f"unknown key; known: {', '.join(sorted(_CLOSURE_KEYS))}")
    if "date" in item and ("from" in item or "to" in item):
        raise ConfigError(key, "give either date (one day) or from and to (a range), not both")
    if "date" in item:
        first = last = _date(item["date"], f"{key}.date")
    else:
        first, last = _range(item, key)
    return Closure(first, last, _message(item.get("message"), f"{key}.message"))


def _range(item: Mapping[str, Any], key: str) -> tuple[date, date]:
    for name in ("from", "to"):
        if name not in item:
            raise ConfigError(f"{key}.{name}", "missing; a closure needs date, or both from and to")
    first, last = _date(item["from"], f"{key}.from"), _date(item["to"], f"{key}.to")
    if last < first:
        raise ConfigError(f"{key}.to", f"ends before it starts ({last} is before {first})")
    if (last - first).days >= _LONGEST_CLOSURE_DAYS:
        raise ConfigError(f"{key}.to", f"lasts more than a year ({first} to {last}); check the year")
    return first, last


def _date(raw: Any, key: str) -> date:
    """A local date; YAML already turns an unquoted 2026-12-24 into a `date`, quoted is a str."""
    if isinstance(raw, datetime):  # a subclass of date: "2026-12-24 10:00" in YAML
        raise ConfigError(key, f"{raw} has a time; closures are whole days, write 2026-12-24")
    if isinstance(raw, date):
        return raw
    # fullmatch first: date.fromisoformat also takes "20261224" and "2026-W52-4".
    if not isinstance(raw, str) or not _ISO_DATE_RE.fullmatch(raw.strip()):
        raise ConfigError(key, f"{raw!r} is not a date like 2026-12-24")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ConfigError(key, f"{raw!r} does not exist in the calendar") from exc


def _message(raw: Any, key: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ConfigError(key, f"expected a text in quotes, got {raw!r}")
    if not raw.strip():
        raise ConfigError(key, "is empty; remove the line to use the default closed message")
    return raw.strip()
