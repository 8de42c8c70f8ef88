"""The full Schedule: closures, French public holidays, last admission, far openings, config errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.domain.errors import ConfigError
from gateway.domain.schedule import (
    DEFAULT_OPENING_HOURS,
    Closure,
    Schedule,
    WeeklySchedule,
    describe_opening,
)

PARIS = ZoneInfo("Europe/Paris")
WEEK = WeeklySchedule.from_config(DEFAULT_OPENING_HOURS, "Europe/Paris")  # Mon-Sat 09:00-20:00
HELPLINE = Schedule(WEEK)
CHRISTMAS_MESSAGE = "Le 3018 est fermé pour les fêtes. On se retrouve le 4 janvier !"


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)


def weekly(**days: list[str]) -> WeeklySchedule:
    return WeeklySchedule.from_config(days, "Europe/Paris")


def same_instant(a: datetime | None, b: datetime) -> bool:
    return a is not None and a.astimezone(UTC) == b.astimezone(UTC)


EVERY_DAY = {day: ["00:00-24:00"] for day in
             ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}


# --- closures -----------------------------------------------------------------------------------


def test_closed_all_day_on_a_single_closure_date():
    line = Schedule(WEEK, closures=(Closure(date(2026, 3, 4), date(2026, 3, 4), "Fermeture exceptionnelle"),))
    assert HELPLINE.is_open(paris(2026, 3, 4, 10, 0))
    assert not line.is_open(paris(2026, 3, 4, 10, 0))
    assert line.is_open(paris(2026, 3, 3, 10, 0)) and line.is_open(paris(2026, 3, 5, 10, 0))
    assert line.next_opening(paris(2026, 3, 4, 10, 0)) == paris(2026, 3, 5, 9, 0)


def test_the_evening_before_a_closure_closes_at_20h_as_usual():
    line = Schedule(WEEK, closures=(Closure(date(2026, 3, 4), date(2026, 3, 4)),))
    assert line.closes_at(paris(2026, 3, 3, 10, 0)) == paris(2026, 3, 3, 20, 0)
    assert line.next_opening(paris(2026, 3, 3, 20, 30)) == paris(2026, 3, 5, 9, 0)


def test_closure_range_across_the_year_end_reopens_on_monday_4_january():
    line = Schedule(WEEK, closures=(Closure(date(2026, 12, 24), date(2027, 1, 2), CHRISTMAS_MESSAGE),))
    assert line.is_open(paris(2026, 12, 23, 19, 0))
    for day in (paris(2026, 12, 24, 10, 0), paris(2026, 12, 31, 10, 0), paris(2027, 1, 2, 10, 0)):
        assert not line.is_open(day)
    assert line.next_opening(paris(2026, 12, 28, 10, 0)) == paris(2027, 1, 4, 9, 0)  # 3 January: Sunday


def test_the_closure_message_is_the_one_of_the_closure_covering_the_local_date():
    line = Schedule(WEEK, closures=(
        Closure(date(2026, 12, 24), date(2027, 1, 2), CHRISTMAS_MESSAGE),
        Closure(date(2026, 3, 4), date(2026, 3, 4), None),
    ))
    assert line.closure_on(paris(2027, 1, 1, 22, 0)).message == CHRISTMAS_MESSAGE
    assert line.closure_on(paris(2026, 3, 4, 10, 0)) == Closure(date(2026, 3, 4), date(2026, 3, 4), None)
    assert line.closure_on(paris(2026, 3, 5, 10, 0)) is None
    # 23:30 UTC on 23 December is already 24 December in Paris.
    assert line.closure_on(datetime(2026, 12, 23, 23, 30, tzinfo=UTC)).message == CHRISTMAS_MESSAGE


def test_overlapping_closures_tell_the_first_listed_message():
    line = Schedule(WEEK, closures=(Closure(date(2026, 8, 1), date(2026, 8, 31), "Été"),
                                    Closure(date(2026, 8, 10), date(2026, 8, 10), "Travaux")))
    assert line.closure_on(paris(2026, 8, 10, 10, 0)).message == "Été"


def test_next_opening_after_a_three_week_closure_is_found_beyond_nine_days():
    line = Schedule(WEEK, closures=(Closure(date(2026, 7, 27), date(2026, 8, 16), "Fermé cet été"),))
    now = paris(2026, 7, 27, 10, 0)
    opening = line.next_opening(now)
    assert opening == paris(2026, 8, 17, 9, 0)
    assert describe_opening(opening, now) == "lundi 17 août à 9h"


def test_describes_an_opening_after_a_two_week_closure_with_its_date():
    line = Schedule(WEEK, closures=(Closure(date(2026, 12, 21), date(2027, 1, 2)),))
    now = paris(2026, 12, 21, 10, 0)
    assert describe_opening(line.next_opening(now), now) == "lundi 4 janvier à 9h"


def test_describes_an_opening_more_than_half_a_year_away_with_its_year():
    line = Schedule(WEEK, closures=(Closure(date(2026, 3, 1), date(2026, 12, 31)),))
    now = paris(2026, 3, 2, 10, 0)
    assert describe_opening(line.next_opening(now), now) == "samedi 2 janvier 2027 à 9h"


def test_a_slot_crossing_midnight_into_a_closure_stops_at_midnight():
    # Judged by the local date: the Saturday early hours belong to the closed Saturday.
    line = Schedule(weekly(friday=["22:00-02:00"]), closures=(Closure(date(2026, 3, 7), date(2026, 3, 7)),))
    assert line.is_open(paris(2026, 3, 6, 23, 59))
    assert not line.is_open(paris(2026, 3, 7, 0, 30))
    assert line.closes_at(paris(2026, 3, 6, 23, 0)) == paris(2026, 3, 7, 0, 0)


def test_a_slot_crossing_midnight_out_of_a_closure_opens_at_midnight():
    line = Schedule(weekly(friday=["22:00-02:00"]), closures=(Closure(date(2026, 3, 6), date(2026, 3, 6)),))
    assert not line.is_open(paris(2026, 3, 6, 23, 0))
    assert line.next_opening(paris(2026, 3, 6, 23, 0)) == paris(2026, 3, 7, 0, 0)
    assert line.closes_at(paris(2026, 3, 7, 0, 0)) == paris(2026, 3, 7, 2, 0)


# --- French public holidays ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "name", "reopens"),
    [
        (paris(2026, 5, 14, 10, 0), "Ascension", paris(2026, 5, 15, 9, 0)),
        (paris(2026, 7, 14, 10, 0), "Fête nationale", paris(2026, 7, 15, 9, 0)),
        (paris(2026, 12, 25, 10, 0), "Noël", paris(2026, 12, 26, 9, 0)),
    ],
)
def test_closed_on_public_holidays_by_default(at, name, reopens):
    assert WEEK.is_open(at)
    assert not HELPLINE.is_open(at)
    assert HELPLINE.holiday_name(at) == name
    assert HELPLINE.next_opening(at) == reopens


def test_open_on_public_holidays_when_the_setting_says_so():
    line = Schedule.from_config({"public_holidays": "open"})
    assert not line.closed_on_public_holidays
    assert line.is_open(paris(2026, 5, 14, 10, 0))
    assert line.holiday_name(paris(2026, 5, 14, 10, 0)) == "Ascension"  # a fact, whatever the setting


def test_an_ordinary_day_has_no_holiday_name():
    assert HELPLINE.holiday_name(paris(2026, 5, 13, 10, 0)) is None


def test_holiday_on_a_saturday_closes_the_saturday_and_reopens_on_monday():
    # 15 August 2026 (Assomption) is a Saturday; Sunday is closed every week anyway.
    assert HELPLINE.holiday_name(paris(2026, 8, 15, 10, 0)) == "Assomption"
    assert not HELPLINE.is_open(paris(2026, 8, 15, 10, 0))
    assert HELPLINE.next_opening(paris(2026, 8, 14, 20, 30)) == paris(2026, 8, 17, 9, 0)
    assert Schedule(WEEK, closed_on_public_holidays=False).is_open(paris(2026, 8, 15, 10, 0))


def test_metropolitan_calendar_without_alsace_moselle_extras():
    assert HELPLINE.holiday_name(paris(2026, 4, 3, 10, 0)) is None  # Vendredi saint
    assert HELPLINE.holiday_name(paris(2026, 12, 26, 10, 0)) is None  # Saint-Étienne
    assert HELPLINE.is_open(paris(2026, 12, 26, 10, 0))


def test_open_all_week_still_closes_at_midnight_before_a_holiday():
    always = Schedule(weekly(**EVERY_DAY))
    assert always.closes_at(paris(2026, 5, 13, 12, 0)) == paris(2026, 5, 14, 0, 0)
    assert always.next_opening(paris(2026, 5, 14, 12, 0)) == paris(2026, 5, 15, 0, 0)


def test_open_all_week_with_holidays_open_never_closes():
    always = Schedule(weekly(**EVERY_DAY), closed_on_public_holidays=False, last_admission_minutes=30)
    at = paris(2026, 5, 14, 12, 0)
    assert always.closes_at(at) is None
    assert always.admits(at)
    assert always.next_admission(at) is at


# --- last admission ---------------------------------------------------------------------------


def test_in_the_last_minutes_before_closing_open_but_not_admitting():
    line = Schedule(WEEK, last_admission_minutes=15)
    at = paris(2026, 3, 2, 19, 50)
    assert line.is_open(at)
    assert not line.admits(at)
    assert line.next_admission(at) == paris(2026, 3, 3, 9, 0)


def test_admits_while_more_than_the_window_is_left():
    line = Schedule(WEEK, last_admission_minutes=15)
    at = paris(2026, 3, 2, 19, 44)
    assert line.admits(at)
    assert line.next_admission(at) is at
    assert not line.admits(paris(2026, 3, 2, 19, 45))  # exactly 15 minutes left: no longer


def test_without_a_window_admits_whenever_open():
    assert HELPLINE.admits(paris(2026, 3, 2, 19, 59, 59))
    assert not HELPLINE.admits(paris(2026, 3, 2, 20, 0))


def test_last_admission_on_saturday_evening_points_to_monday():
    line = Schedule(WEEK, last_admission_minutes=15)
    assert line.next_admission(paris(2026, 3, 7, 19, 50)) == paris(2026, 3, 9, 9, 0)


def test_last_admission_before_a_holiday_points_past_it():
    line = Schedule(WEEK, last_admission_minutes=15)
    assert line.next_admission(paris(2026, 5, 13, 19, 50)) == paris(2026, 5, 15, 9, 0)


def test_next_admission_while_closed_is_the_next_opening():
    line = Schedule(WEEK, last_admission_minutes=15)
    assert line.next_admission(paris(2026, 3, 2, 7, 0)) == paris(2026, 3, 2, 9, 0)


def test_last_admission_counts_from_the_end_of_contiguous_slots():
    line = Schedule(weekly(monday=["09:00-12:00", "12:00-14:00"]), last_admission_minutes=15)
    assert line.admits(paris(2026, 3, 2, 11, 50))
    assert not line.admits(paris(2026, 3, 2, 13, 50))


def test_last_admission_counts_from_the_real_end_past_24_00_and_a_midnight_crossing():
    # Friday 18:00 to Sunday 02:00 without a break: only Sunday 02:00 is a closing.
    line = Schedule(weekly(friday=["18:00-24:00"], saturday=["00:00-23:00", "23:00-02:00"]),
                    last_admission_minutes=15)
    assert line.closes_at(paris(2026, 3, 6, 23, 50)) == paris(2026, 3, 8, 2, 0)
    assert line.admits(paris(2026, 3, 6, 23, 50))
    assert line.admits(paris(2026, 3, 7, 22, 55))
    assert not line.admits(paris(2026, 3, 8, 1, 50))


def test_a_holiday_after_midnight_cuts_the_period_and_the_admission_window():
    # Friday 14 August 22:00-02:00; Saturday 15 August is a holiday, so midnight is the end.
    line = Schedule(weekly(friday=["22:00-02:00"]), last_admission_minutes=15)
    assert line.closes_at(paris(2026, 8, 14, 23, 0)) == paris(2026, 8, 15, 0, 0)
    assert not line.admits(paris(2026, 8, 14, 23, 50))
    assert line.next_admission(paris(2026, 8, 14, 23, 50)) == paris(2026, 8, 21, 22, 0)
    holidays_open = Schedule(line.weekly, closed_on_public_holidays=False, last_admission_minutes=15)
    assert holidays_open.admits(paris(2026, 8, 14, 23, 50))


def test_a_period_shorter_than_the_window_never_admits():
    line = Schedule(weekly(monday=["09:00-09:10"]), last_admission_minutes=15)
    assert line.is_open(paris(2026, 3, 2, 9, 0))
    assert not line.admits(paris(2026, 3, 2, 9, 0))
    assert line.next_admission(paris(2026, 3, 2, 8, 0)) is None


# --- daylight saving (Paris: 29 March 2026 02:00->03:00, 25 October 2026 03:00->02:00) -----------


def test_spring_forward_weekend_next_opening_is_monday_9h_summer_time():
    opening = HELPLINE.next_opening(paris(2026, 3, 28, 21, 0))
    assert opening == paris(2026, 3, 30, 9, 0)
    assert opening.astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_fall_back_weekend_next_opening_is_monday_9h_winter_time():
    opening = HELPLINE.next_opening(paris(2026, 10, 24, 21, 0))
    assert opening.astimezone(UTC) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_overnight_through_spring_forward_closes_at_8h_summer_time():
    night = Schedule(weekly(saturday=["20:00-08:00"]))
    closing = night.closes_at(paris(2026, 3, 28, 23, 0))
    assert closing == paris(2026, 3, 29, 8, 0)
    assert closing.utcoffset() == timedelta(hours=2)


def test_last_admission_counts_real_minutes_across_the_spring_forward_jump():
    # 01:50 CET to 03:30 CEST looks like 100 minutes on the clock but is 40 real minutes.
    night = Schedule(weekly(saturday=["20:00-03:30"]), last_admission_minutes=60)
    assert not night.admits(paris(2026, 3, 29, 1, 50))
    assert night.admits(paris(2026, 3, 29, 1, 20))  # 70 real minutes left


def test_last_admission_in_the_repeated_fall_back_hour_waits_for_the_second_pass():
    night = Schedule(weekly(sunday=["01:00-02:30"]), last_admission_minutes=15)
    first_pass = paris(2026, 10, 25, 2, 20, fold=0)  # CEST, 10 minutes before the first 02:30
    assert not night.admits(first_pass)
    # The clock goes back to 02:00 (CET), open until the second 02:30: 30 minutes, admitting.
    assert same_instant(night.next_admission(first_pass), datetime(2026, 10, 25, 1, 0, tzinfo=UTC))


def test_a_closure_on_the_fall_back_sunday_moves_the_night_slot_a_week():
    fall_back_sunday = Closure(date(2026, 10, 25), date(2026, 10, 25))
    night = Schedule(weekly(sunday=["01:00-02:30"]), closures=(fall_back_sunday,))
    assert not night.is_open(paris(2026, 10, 25, 2, 15, fold=1))
    # Sunday 1 November is Toussaint, closed too: two weeks later.
    assert night.next_opening(paris(2026, 10, 24, 12, 0)) == paris(2026, 11, 8, 1, 0)


# --- never open -------------------------------------------------------------------------------


def test_a_schedule_without_any_slot_never_opens():
    closed = Schedule(weekly())
    at = paris(2026, 3, 2, 10, 0)
    assert not closed.is_open(at) and not closed.admits(at)
    assert closed.next_opening(at) is None
    assert closed.next_admission(at) is None
    assert closed.closes_at(at) is None


def test_a_closure_longer_than_the_horizon_means_no_known_opening():
    shut = Schedule(WEEK, closures=(Closure(date(2026, 1, 1), date(2028, 1, 1)),))
    assert shut.next_opening(paris(2026, 3, 2, 10, 0)) is None


# --- config ------------------------------------------------------------------------------------

CONFIG_EXAMPLE = """
timezone: Europe/Paris
opening_hours:
  monday: ["09:00-20:00"]
  tuesday: ["09:00-20:00"]
  wednesday: ["09:00-20:00"]
  thursday: ["09:00-20:00"]
  friday: ["09:00-20:00"]
  saturday: ["09:00-20:00"]
  sunday: []
public_holidays: closed        # or: open
last_admission_minutes: 15     # 0 to 240
closures:
  - date: 2026-05-15
    message: "Fermeture exceptionnelle aujourd'hui. Le 3018 rouvre demain à 9h."
  - from: 2026-12-24
    to: 2027-01-02
    message: "Le 3018 est fermé pour les fêtes."
  - from: "2026-08-10"
    to: "2026-08-11"
"""


def test_defaults_are_the_helpline_week_closed_on_holidays_without_window():
    assert Schedule.from_config({}) == Schedule(WEEK, (), True, 0)


def test_the_documented_yaml_example_reads_as_intended():
    line = Schedule.from_config(yaml.safe_load(CONFIG_EXAMPLE))
    assert line.weekly == WEEK
    assert line.closed_on_public_holidays and line.last_admission_minutes == 15
    assert line.closures == (
        Closure(date(2026, 5, 15), date(2026, 5, 15),
                "Fermeture exceptionnelle aujourd'hui. Le 3018 rouvre demain à 9h."),
        Closure(date(2026, 12, 24), date(2027, 1, 2), "Le 3018 est fermé pour les fêtes."),
        Closure(date(2026, 8, 10), date(2026, 8, 11), None),
    )


def test_an_empty_closures_line_means_no_closure():
    doc = yaml.safe_load("closures:\npublic_holidays: OPEN\n")
    assert Schedule.from_config(doc) == Schedule(WEEK, (), False, 0)


@pytest.mark.parametrize(
    ("doc", "key", "words"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown time zone"),
        ({"opening_hours": {"funday": []}}, "opening_hours.funday", "unknown weekday"),
        ({"closures": {"date": "2026-12-24"}}, "closures", "list"),
        ({"closures": ["2026-12-24"]}, "closures[0]", "mapping"),
        ({"closures": [{"date": "2026-12-24", "reason": "x"}]}, "closures[0].reason", "unknown key"),
        ({"closures": [{"date": "2026-12-24", "from": "2026-12-24"}]}, "closures[0]", "not both"),
        ({"closures": [{"message": "Fermé"}]}, "closures[0].from", "missing"),
        ({"closures": [{"from": "2026-12-24"}]}, "closures[0].to", "missing"),
        ({"closures": [{"to": "2026-12-24"}]}, "closures[0].from", "missing"),
        ({"closures": [{"date": "24/12/2026"}]}, "closures[0].date", "not a date like 2026-12-24"),
        ({"closures": [{"date": "20261224"}]}, "closures[0].date", "not a date like 2026-12-24"),
        ({"closures": [{"date": 20261224}]}, "closures[0].date", "not a date like 2026-12-24"),
        ({"closures": [{"date": "2026-02-30"}]}, "closures[0].date", "does not exist"),
        ({"closures": [{"date": datetime(2026, 12, 24, 10, 0)}]}, "closures[0].date", "has a time"),
        ({"closures": [{"date": "2026-12-24"}, {"from": "2026-12-24", "to": "x"}]}, "closures[1].to",
         "not a date"),
        ({"closures": [{"date": "2026-05-15"}] * 2 + [{"from": "2027-01-02", "to": "2026-12-24"}]},
         "closures[2].to", "ends before it starts"),
        ({"closures": [{"from": "2026-12-24", "to": "2062-01-02"}]}, "closures[0].to", "more than a year"),
        ({"closures": [{"date": "2026-12-24", "message": 3018}]}, "closures[0].message", "text"),
        ({"closures": [{"date": "2026-12-24", "message": "  "}]}, "closures[0].message", "empty"),
        ({"public_holidays": "sometimes"}, "public_holidays", '"closed" or "open"'),
        ({"public_holidays": False}, "public_holidays", '"closed" or "open"'),
        ({"last_admission_minutes": -5}, "last_admission_minutes", "0 to 240"),
        ({"last_admission_minutes": 241}, "last_admission_minutes", "0 to 240"),
        ({"last_admission_minutes": "15"}, "last_admission_minutes", "whole number"),
        ({"last_admission_minutes": 7.5}, "last_admission_minutes", "whole number"),
        ({"last_admission_minutes": True}, "last_admission_minutes", "whole number"),
    ],
)
def test_invalid_schedule_config_names_the_key(doc, key, words):
    with pytest.raises(ConfigError) as caught:
        Schedule.from_config(doc)
    assert caught.value.key == key
    assert words in caught.value.problem


def test_a_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError) as caught:
        Schedule.from_config(["closures"])
    assert caught.value.key == "(top level)"


# --- properties over 2026 ----------------------------------------------------------------------

SCHEDULES = [
    Schedule(WEEK, last_admission_minutes=15),
    Schedule(weekly(friday=["22:00-02:00"], saturday=["20:00-03:30"], sunday=["14:00-24:00"]),
             closures=(Closure(date(2026, 3, 7), date(2026, 3, 7)),
                       Closure(date(2026, 10, 24), date(2026, 10, 24))),
             last_admission_minutes=45),
    Schedule(weekly(**EVERY_DAY), closures=(Closure(date(2026, 7, 27), date(2026, 8, 16), "Été"),),
             last_admission_minutes=240),
]
instants_2026 = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31, 23, 59), timezones=st.just(UTC))
EDGES = [
    datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # one second before the spring-forward jump
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),  # first 02:45 (CEST)
    datetime(2026, 10, 25, 1, 15, tzinfo=UTC),  # second 02:15 (CET)
    datetime(2026, 3, 6, 22, 50, tzinfo=UTC),  # 23:50 before a closed Saturday
    datetime(2026, 5, 13, 21, 59, tzinfo=UTC),  # 23:59 before Ascension
]


def on_edges(test):
    for at in EDGES:
        for line in SCHEDULES:
            test = example(at=at, line=line)(test)
    return test


@settings(max_examples=150, deadline=None)
@given(at=instants_2026, line=st.sampled_from(SCHEDULES))
@on_edges
def test_next_opening_is_the_first_open_instant(at, line):
    opening = line.next_opening(at)
    assert line.is_open(opening)
    assert opening.astimezone(UTC) >= at
    if opening.astimezone(UTC) > at:
        assert not line.is_open(opening.astimezone(UTC) - timedelta(seconds=1))


@settings(max_examples=150, deadline=None)
@given(at=instants_2026, line=st.sampled_from(SCHEDULES))
@on_edges
def test_closes_at_is_the_first_closed_instant(at, line):
    closing = line.closes_at(at)
    if not line.is_open(at):
        assert closing is None
        return
    assert closing.astimezone(UTC) > at
    assert not line.is_open(closing)
    assert line.is_open(closing.astimezone(UTC) - timedelta(seconds=1))


@settings(max_examples=150, deadline=None)
@given(at=instants_2026, line=st.sampled_from(SCHEDULES))
@on_edges
def test_next_admission_admits_and_nothing_admits_just_before(at, line):
    admission = line.next_admission(at)
    assert line.admits(admission)
    assert admission.astimezone(UTC) >= at
    if admission.astimezone(UTC) > at:
        assert not line.admits(admission.astimezone(UTC) - timedelta(seconds=1))
        assert not line.admits(at)
