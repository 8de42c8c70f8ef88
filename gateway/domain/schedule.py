"""Opening hours of the helpline: pure logic, no clock of its own, no I/O.

Owns the weekly schedule read from config.yaml (`timezone`, `opening_hours`), the full
`Schedule` (weekly slots minus closures and public holidays, plus `last_admission_minutes`),
the questions "open now?", "may a new conversation come in?", "when do we open?", "when do we
close?", and the French sentence that tells a young person when to come back. Slots are local
wall-clock times: on daylight-saving nights a slot keeps its wall-clock hours, so the instants
move, not the hours on the clock. Closed days themselves live in `closures.py`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.domain.closures import Closure, closures_from_config, french_holidays, public_holidays_from_config
from gateway.domain.errors import ConfigError

__all__ = ["DEFAULT_OPENING_HOURS", "Closure", "Schedule", "Slot", "WeeklySchedule", "describe_opening"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_OPENING_HOURS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {day: ("09:00-20:00",) for day in WEEKDAYS[:6]} | {"sunday": ()}
)

_END_OF_DAY = 24 * 60  # "24:00", in minutes since midnight
_SLOT_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
# Days of slots walked from `at`'s date, never minute by minute: any change comes within a week,
# one more day for a period ending past midnight, one more for a week whose only slot fell
# into a spring-forward gap.
_HORIZON_DAYS = 9
# With closures and holidays a change may be weeks away (a summer closure): walk a year and a
# bit, day by day. Past it, "never" (None) is the honest answer for a line shut that long.
_CALENDAR_HORIZON_DAYS = 400
_MAX_LAST_ADMISSION_MINUTES = 240
_MAX_SLOTS_PER_DAY = 24  # a day cut into more pieces than hours is a mistake, and each is walked
_JOURS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MOIS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
         "septembre", "octobre", "novembre", "décembre")


@dataclass(frozen=True)
class Slot:
    """Open from `start` to `end`, in minutes since local midnight; `end` may be 1440 (24:00)."""

    start: int
    end: int


@dataclass(frozen=True)
class WeeklySchedule:
    """The same week, repeated; `week[0]` is Monday, each day's slots sorted and disjoint."""

    tz: ZoneInfo
    week: tuple[tuple[Slot, ...], ...]

    @classmethod
    def from_config(cls, opening_hours: Mapping[str, Any], timezone: str) -> WeeklySchedule:
        """Validate the config; every error names the exact key so an admin can find it."""
        tz = _zone(timezone)
        if not isinstance(opening_hours, Mapping):
            raise ConfigError("opening_hours", "expected a mapping of weekday names to lists of slots")
        days: list[list[tuple[Slot, str]]] = [[] for _ in WEEKDAYS]
        for name, slots in opening_hours.items():
            index = _weekday_index(name)
            if not isinstance(slots, (list, tuple)):
                raise ConfigError(
                    f"opening_hours.{name}", 'expected a list of "HH:MM-HH:MM" slots ([] when closed)'
                )
            if len(slots) > _MAX_SLOTS_PER_DAY:
                raise ConfigError(f"opening_hours.{name}",
                                  f"must have at most {_MAX_SLOTS_PER_DAY} slots, got {len(slots)}")
            for i, raw in enumerate(slots):
                key = f"opening_hours.{name}[{i}]"
                start, end = _parse_slot(raw, key)
                if start < end:
                    days[index].append((Slot(start, end), key))
                    continue
                # Crossing midnight: the evening on this day, the early hours on the next one.
                days[index].append((Slot(start, _END_OF_DAY), key))
                if end:
                    days[(index + 1) % 7].append((Slot(0, end), key))
        return cls(tz, tuple(_disjoint(day, WEEKDAYS[i]) for i, day in enumerate(days)))

    def is_open(self, at: datetime) -> bool:
        """Judged on the local wall clock, whatever zone `at` comes in."""
        local = _aware(at).astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(slot.start <= minute < slot.end for slot in self.week[local.weekday()])

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the next instant we open (in `self.tz`); None if never."""
        if self.is_open(at):
            return at
        if not any(self.week):
            return None
        return self._first_flip(at, to_open=True)

    def closes_at(self, at: datetime) -> datetime | None:
        """End of the open period in progress, across contiguous slots and midnights.

        None when closed, and also when the schedule never closes (open all week).
        """
        if not self.is_open(at):
            return None
        return self._first_flip(at, to_open=False)

    def _first_flip(self, at: datetime, to_open: bool) -> datetime | None:
        # Openness can only change where the wall clock reaches a slot boundary or jumps (an
        # offset change), so those instants are the only candidates. All compared in UTC:
        # aware datetimes sharing a tzinfo compare wall times and ignore `fold`.
        after = _aware(at).astimezone(UTC)
        first_day = after.astimezone(self.tz).date()
        candidates: list[datetime] = []
        for offset in range(_HORIZON_DAYS):
            day = first_day + timedelta(days=offset)
            for slot in self.week[day.weekday()]:
                candidates += _instants(day, slot.start if to_open else slot.end, self.tz)
            candidates += _offset_changes(day, self.tz)
        for instant in sorted(candidates):
            if instant > after and self.is_open(instant) == to_open:
                return instant.astimezone(self.tz)
        return None


@dataclass(frozen=True)
class Schedule:
    """The weekly slots, minus closed days (closures, public holidays), plus a last admission.

    A day is closed as a whole, by the local date of the instant asked about: a slot crossing
    midnight into a closed day stops at midnight, and one crossing out of a closed day opens at
    midnight. A teen writing at 00:30 on 25 December hears "closed", which is what the admin
    who closed Christmas meant.
    """

    weekly: WeeklySchedule
    closures: tuple[Closure, ...] = ()
    closed_on_public_holidays: bool = True
    last_admission_minutes: int = 0

    @classmethod
    def from_config(cls, doc: Mapping[str, Any]) -> Schedule:
        """Read the top-level config keys; every error names the exact key to fix."""
        if not isinstance(doc, Mapping):
            raise ConfigError("(top level)", "expected a mapping of settings")
        weekly = WeeklySchedule.from_config(
            doc.get("opening_hours", DEFAULT_OPENING_HOURS), doc.get("timezone", DEFAULT_TIMEZONE)
        )
        return cls(
            weekly,
            closures_from_config(doc.get("closures")),
            public_holidays_from_config(doc.get("public_holidays", "closed")),
            _last_admission(doc.get("last_admission_minutes", 0)),
        )

    @property
    def tz(self) -> ZoneInfo:
        return self.weekly.tz

    def is_open(self, at: datetime) -> bool:
        """In a weekly slot, on a day that is neither closed nor a (closed) public holiday."""
        return self.weekly.is_open(at) and not self._day_closed(self._local_date(at))

    def admits(self, at: datetime) -> bool:
        """Open, and not in the last minutes before closing, so a counsellor can still answer."""
        if not self.is_open(at):
            return False
        return self._admits_until(at, self.closes_at(at))

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the next instant we open (in `self.tz`).

        None when the line does not open within `_CALENDAR_HORIZON_DAYS` (or has no slot).
        """
        if self.is_open(at):
            return at
        if not any(self.weekly.week):
            return None
        return self._first_flip(at, to_open=True)

    def next_admission(self, at: datetime) -> datetime | None:
        """`at` when it admits, else the first instant a new conversation may come in.

        Inside the last-admission window that is the opening after this period's close; a
        period shorter than the window never admits and is skipped.
        """
        limit = _aware(at).astimezone(UTC) + timedelta(days=_CALENDAR_HORIZON_DAYS)
        opening = self.next_opening(at)
        while opening is not None and opening.astimezone(UTC) <= limit:
            closing = self.closes_at(opening)
            if self._admits_until(opening, closing):
                return opening
            opening = self.next_opening(closing)
        return None

    def closes_at(self, at: datetime) -> datetime | None:
        """End of the open period in progress: a slot end, or midnight before a closed day.

        None when closed, and when the line never closes within the horizon.
        """
        if not self.is_open(at):
            return None
        return self._first_flip(at, to_open=False)

    def status_until(self, at: datetime) -> datetime | None:
        """The next boundary after `at`: the first instant at which what the line tells a teen
        may change (admits or not, the next admission, the closure of the day, the wording of
        `describe_opening` relative to today). None: nothing changes within the horizon.

        Lets a caller compute the line status once per boundary, not once per request.
        """
        if self.admits(at):
            closing = self.closes_at(at)  # admits() stays true until last_admission before it
            if closing is None:
                return None
            return closing.astimezone(UTC) - timedelta(minutes=self.last_admission_minutes)
        midnight = _instants(self._local_date(at) + timedelta(days=1), 0, self.tz)[0]
        admission = self.next_admission(at)
        return midnight if admission is None else min(midnight, admission.astimezone(UTC))

    def closure_on(self, at: datetime) -> Closure | None:
        """The closure covering `at`'s local date; the first listed one if several overlap."""
        day = self._local_date(at)
        return next((closure for closure in self.closures if closure.covers(day)), None)

    def holiday_name(self, at: datetime) -> str | None:
        """French name of the public holiday on `at`'s local date, whether we close or not."""
        day = self._local_date(at)
        return french_holidays(day.year).get(day)

    def _local_date(self, at: datetime) -> date:
        return _aware(at).astimezone(self.tz).date()

    def _day_closed(self, day: date) -> bool:
        if any(closure.covers(day) for closure in self.closures):
            return True
        return self.closed_on_public_holidays and day in french_holidays(day.year)

    def _admits_until(self, at: datetime, closing: datetime | None) -> bool:
        # Real elapsed time (UTC), so a DST night neither adds nor removes admission minutes.
        if closing is None:
            return True
        left = closing.astimezone(UTC) - _aware(at).astimezone(UTC)
        return left > timedelta(minutes=self.last_admission_minutes)

    def _first_flip(self, at: datetime, to_open: bool) -> datetime | None:
        # Day by day, each day's candidates in order; a candidate of one day is never later
        # than the next day's (a slot end at 24:00 is that next day's midnight), so the first
        # match is the first flip. A closed day cannot hold an opening and is skipped whole.
        after = _aware(at).astimezone(UTC)
        first_day = after.astimezone(self.tz).date()
        for offset in range(_CALENDAR_HORIZON_DAYS):
            day = first_day + timedelta(days=offset)
            if to_open and self._day_closed(day):
                continue
            for instant in self._boundaries(day, to_open):
                if instant > after and self.is_open(instant) == to_open:
                    return instant.astimezone(self.tz)
        return None

    def _boundaries(self, day: date, to_open: bool) -> list[datetime]:
        """UTC instants of `day` where openness may flip: its midnight (a closed day begins or
        ends), the slots' starts (or ends), and an offset change (the wall clock jumps)."""
        candidates = _instants(day, 0, self.tz) + _offset_changes(day, self.tz)
        for slot in self.weekly.week[day.weekday()]:
            candidates += _instants(day, slot.start if to_open else slot.end, self.tz)
        return sorted(candidates)


def _last_admission(raw: Any) -> int:
    # bool is an int in Python; `last_admission_minutes: yes` is a mistake, not 1 minute.
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= _MAX_LAST_ADMISSION_MINUTES:
        return raw
    raise ConfigError(
        "last_admission_minutes",
        f"expected a whole number of minutes from 0 to {_MAX_LAST_ADMISSION_MINUTES}, got {raw!r}",
    )


def describe_opening(opening: datetime, now: datetime) -> str:
    """When we open, in plain French for a 14-year-old, in the opening's own zone."""
    today = _aware(now).astimezone(_aware(opening).tzinfo).date()
    days = (opening.date() - today).days
    hour = f"{opening.hour}h{opening.minute:02d}" if opening.minute else f"{opening.hour}h"
    if days == 0:
        return f"aujourd'hui à {hour}"
    if days == 1:
        return f"demain à {hour}"
    weekday = _JOURS[opening.weekday()]
    if 1 < days <= 6:
        return f"{weekday} à {hour}"
    # Past a week "lundi" would be ambiguous, so give the date ("1er" is how French writes day 1);
    # past half a year "4 janvier" could be read as a date gone by, so give the year too.
    day = "1er" if opening.day == 1 else str(opening.day)
    year = f" {opening.year}" if days > 180 else ""
    return f"{weekday} {day} {_MOIS[opening.month - 1]}{year} à {hour}"


def _aware(at: datetime) -> datetime:
    # A naive datetime would silently be read as the server's zone.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {at!r}")
    return at


def _zone(name: Any) -> ZoneInfo:
    problem = f"unknown time zone {name!r}; use an IANA name like Europe/Paris"
    if not isinstance(name, str) or not name:
        raise ConfigError("timezone", problem)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Europe" is a folder
        raise ConfigError("timezone", problem) from exc


def _weekday_index(name: Any) -> int:
    if isinstance(name, str) and name.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(name.strip().lower())
    expected = ", ".join(WEEKDAYS)
    raise ConfigError(f"opening_hours.{name}", f"unknown weekday {name!r}; expected one of {expected}")


def _parse_slot(raw: Any, key: str) -> tuple[int, int]:
    """(start, end) in minutes; start > end means the slot crosses midnight."""
    if not isinstance(raw, str):
        raise ConfigError(key, f'expected a string like "09:00-20:00", got {raw!r}')
    match = _SLOT_RE.fullmatch(raw.strip())
    if match is None:
        raise ConfigError(key, f'{raw!r} is not in the form "HH:MM-HH:MM", e.g. "09:00-20:00"')
    start, end = _minutes(match[1], match[2], key), _minutes(match[3], match[4], key)
    if start == _END_OF_DAY:
        raise ConfigError(key, f"{raw!r} starts at 24:00; start at 00:00 on the next day instead")
    if start == end:
        raise ConfigError(
            key, f"{raw!r} opens and closes at the same time; use 00:00-24:00 for a whole day"
        )
    return start, end


def _minutes(hours: str, minutes: str, key: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 24:
        raise ConfigError(key, f"hour {h} does not exist; hours go from 00 to 24")
    if m > 59:
        raise ConfigError(key, f"minute {m} does not exist; minutes go from 00 to 59")
    if h == 24 and m:
        raise ConfigError(key, f"24:{m:02d} does not exist; 24:00 is the latest time")
    return h * 60 + m


def _disjoint(entries: list[tuple[Slot, str]], weekday: str) -> tuple[Slot, ...]:
    """The day's slots sorted; touching slots are fine, overlapping ones are a config error."""
    ordered = sorted(entries, key=lambda entry: (entry[0].start, entry[0].end))
    for (before, before_key), (slot, key) in zip(ordered, ordered[1:]):
        if slot.start < before.end:
            raise ConfigError(
                key, f"{_hhmm(slot)} on {weekday} overlaps {_hhmm(before)} from {before_key}"
            )
    return tuple(slot for slot, _ in ordered)


def _hhmm(slot: Slot) -> str:
    return f"{slot.start // 60:02d}:{slot.start % 60:02d}-{slot.end // 60:02d}:{slot.end % 60:02d}"


def _instants(day: date, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall clock in `tz` reads `minute` on `day`.

    Usually one; two in the hour repeated on a fall-back night; for a time skipped on a
    spring-forward night, the first instant after the gap (the clock jumps over it).
    """
    if minute == _END_OF_DAY:
        day, minute = day + timedelta(days=1), 0
    earlier_offset = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    first = earlier_offset.astimezone(UTC)
    second = earlier_offset.replace(fold=1).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != earlier_offset.replace(tzinfo=None):
        # In a gap, fold=1 reads the wall time with the new offset: an instant before the jump.
        return [_offset_change_between(second, first, tz)]
    return sorted({first, second})


def _offset_changes(day: date, tz: ZoneInfo) -> list[datetime]:
    """The instant `tz` changes offset during `day`, if it does (fall-back reopens wall times)."""
    start, end = _instants(day, 0, tz)[0], _instants(day, _END_OF_DAY, tz)[0]
    if start.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset():
        return []
    return [_offset_change_between(start, end, tz)]


def _offset_change_between(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """First whole second in (lo, hi] already on `hi`'s offset.

    Bisection, because zoneinfo keeps its transition table private; about 12 steps for an hour.
    """
    target = hi.astimezone(tz).utcoffset()
    low, high = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)
