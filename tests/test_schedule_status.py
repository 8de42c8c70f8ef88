"""The line status is computed once per boundary of the schedule, and is still exact: it changes
at the very second the line stops admitting, opens, or a new day changes its wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.app.server import build_parts
from gateway.core.helpline import Helpline
from gateway.domain.clock import ManualClock, as_datetime
from gateway.domain.config import parse_config
from gateway.domain.schedule import Schedule

PARIS = ZoneInfo("Europe/Paris")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LINE = {"opening_hours": {day: ["09:00-20:00"] for day in DAYS}, "last_admission_minutes": 10,
        "public_holidays": "open"}


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def helpline_at(at: datetime, **doc) -> tuple[Helpline, ManualClock]:
    clock = ManualClock(at)
    parts = build_parts(parse_config({**LINE, **doc}), clock=clock)
    return Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms), clock


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The instants at which the status was really computed (Schedule.admits is asked then)."""
    seen: list[datetime] = []
    admits = Schedule.admits

    def counted(self: Schedule, at: datetime) -> bool:
        seen.append(at)
        return admits(self, at)

    monkeypatch.setattr(Schedule, "admits", counted)
    return seen


def test_the_cached_status_changes_exactly_at_each_boundary(computations):
    helpline, clock = helpline_at(paris(2026, 11, 24, 19, 49, 59))  # a Tuesday; last admission 19:50
    assert helpline.line_status()["open"] is True
    clock.advance(1)
    assert helpline.line_status() == {"open": False, "next_opening": paris(2026, 11, 25, 9).isoformat(),
                                      "next_opening_text": "demain à 9h"}
    clock.set(paris(2026, 11, 24, 23, 59, 59))
    assert helpline.line_status()["next_opening_text"] == "demain à 9h"
    clock.advance(1)  # midnight: the same opening is now "today"
    assert helpline.line_status()["next_opening_text"] == "aujourd'hui à 9h"
    clock.set(paris(2026, 11, 25, 8, 59, 59))
    assert helpline.line_status()["open"] is False
    clock.advance(1)
    assert helpline.line_status()["open"] is True


def test_between_two_boundaries_the_status_is_computed_once(computations):
    helpline, clock = helpline_at(paris(2026, 11, 24, 10, 0))
    for _ in range(100):
        assert helpline.line_status()["open"] is True
        clock.advance(60)  # 100 minutes of requests, all before 19:50
    assert len(set(computations)) == 1  # once, at the first request


def test_a_reload_is_seen_at_once(computations):
    helpline, _ = helpline_at(paris(2026, 11, 24, 10, 0))
    assert helpline.line_status()["open"] is True
    helpline.reload(parse_config({**LINE, "closures": [{"date": "2026-11-24", "message": "Fermé aujourd'hui."}]}))
    status = helpline.line_status()
    assert status["open"] is False and status["closure_message"] == "Fermé aujourd'hui."


def test_a_status_asked_back_in_time_is_computed_again():
    helpline, clock = helpline_at(paris(2026, 11, 24, 21, 0))
    assert helpline.line_status()["open"] is False
    clock.set(paris(2026, 11, 24, 12, 0))  # a test (or an NTP step) moving the clock back
    assert helpline.line_status()["open"] is True


def test_a_line_that_never_closes_is_never_computed_again(computations):
    helpline, clock = helpline_at(paris(2026, 11, 24, 10, 0),
                                  opening_hours={day: ["00:00-24:00"] for day in DAYS}, last_admission_minutes=0)
    for _ in range(10):
        assert helpline.line_status()["open"] is True
        clock.advance(30 * 86400)
    assert len(set(computations)) == 1  # once, at the first request


SHAPES = st.sampled_from([
    LINE,
    {**LINE, "opening_hours": {**LINE["opening_hours"], "sunday": [], "saturday": ["22:00-02:00"]}},
    {**LINE, "public_holidays": "closed", "closures": [{"from": "2026-12-24", "to": "2026-12-26", "message": "Fêtes."},
                                                       {"date": "2027-03-28"}]},
    {**LINE, "last_admission_minutes": 0, "opening_hours": {"monday": ["00:00-24:00"], "friday": ["02:00-03:00"]}},
])


@settings(max_examples=60, deadline=None, database=None)
@given(doc=SHAPES, start=st.sampled_from([paris(2026, 10, 24, 18, 0), paris(2026, 12, 23, 19, 0),
                                          paris(2027, 3, 27, 23, 0)]),
       steps=st.lists(st.integers(1, 2 * 86400), min_size=1, max_size=40))
def test_the_cached_status_always_equals_a_fresh_one(doc, start, steps):
    """Across DST nights, closures, holidays and midnights: caching never shows a stale status."""
    helpline, clock = helpline_at(start, **doc)
    for step in steps:
        now = as_datetime(clock.now())
        assert helpline.line_status() == Helpline._line_status_at(helpline.config.schedule, now), now
        until = helpline.config.schedule.status_until(now)
        # Land on the boundary itself, or just before it, as often as anywhere else.
        clock.advance(step if until is None or step % 3 == 0 else
                      (until.astimezone(UTC) - now).total_seconds() - (step % 2))


def test_status_until_names_the_next_boundary():
    line = parse_config(LINE).schedule
    assert line.status_until(paris(2026, 11, 24, 10)) == paris(2026, 11, 24, 19, 50)
    assert line.status_until(paris(2026, 11, 24, 19, 55)) == paris(2026, 11, 25, 0, 0)
    assert line.status_until(paris(2026, 11, 25, 3, 0)) == paris(2026, 11, 25, 9, 0)
    assert line.status_until(paris(2026, 11, 25, 3, 0)) - paris(2026, 11, 25, 3, 0) == timedelta(hours=6)
