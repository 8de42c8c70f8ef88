"""Opening hours: default helpline week, midnight crossings, DST nights, French wording, config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.domain.errors import ConfigError
from gateway.domain.schedule import (
    DEFAULT_OPENING_HOURS,
    Slot,
    WeeklySchedule,
    describe_opening,
)

PARIS = ZoneInfo("Europe/Paris")
# Monday to Saturday 09:00-20:00, closed on Sunday.
HELPLINE = WeeklySchedule.from_config(DEFAULT_OPENING_HOURS, "Europe/Paris")


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)


def schedule(**days: list[str]) -> WeeklySchedule:
    return WeeklySchedule.from_config(days, "Europe/Paris")


def same_instant(a: datetime | None, b: datetime) -> bool:
    # Aware datetimes sharing a tzinfo compare wall times and ignore fold; compare in UTC.
    return a is not None and a.astimezone(UTC) == b.astimezone(UTC)


# --- the default helpline week -------------------------------------------------------------


def test_default_hours_are_monday_to_saturday_9_to_20():
    assert HELPLINE.week == (((Slot(540, 1200),),) * 6) + ((),)
    assert HELPLINE.tz == PARIS


def test_open_on_a_weekday_morning():
    assert HELPLINE.is_open(paris(2026, 3, 2, 10, 15))


def test_open_on_saturday_afternoon():
    assert HELPLINE.is_open(paris(2026, 3, 7, 15, 0))


def test_closed_on_sunday():
    assert not HELPLINE.is_open(paris(2026, 3, 8, 12, 0))


def test_closed_at_night_on_a_weekday():
    assert not HELPLINE.is_open(paris(2026, 3, 3, 3, 0))


def test_opens_exactly_at_9_00():
    assert not HELPLINE.is_open(paris(2026, 3, 2, 8, 59, 59))
    assert HELPLINE.is_open(paris(2026, 3, 2, 9, 0, 0))


def test_closes_exactly_at_20_00():
    assert HELPLINE.is_open(paris(2026, 3, 2, 19, 59, 59))
    assert not HELPLINE.is_open(paris(2026, 3, 2, 20, 0, 0))


def test_open_is_judged_on_paris_wall_time_whatever_zone_the_instant_comes_in():
    # 07:30 UTC is 08:30 in Paris in winter (closed), 09:30 in summer (open).
    assert not HELPLINE.is_open(datetime(2026, 1, 5, 7, 30, tzinfo=UTC))
    assert HELPLINE.is_open(datetime(2026, 6, 1, 7, 30, tzinfo=UTC))
    # 17:00 in Tokyo on Monday 2 March is 09:00 in Paris.
    assert HELPLINE.is_open(datetime(2026, 3, 2, 17, 0, tzinfo=ZoneInfo("Asia/Tokyo")))


def test_a_naive_datetime_is_refused_rather_than_read_as_server_time():
    with pytest.raises(ValueError):
        HELPLINE.is_open(datetime(2026, 3, 2, 10, 0))


def test_next_opening_while_open_is_now():
    now = paris(2026, 3, 2, 10, 0)
    assert HELPLINE.next_opening(now) is now


def test_early_morning_next_opening_is_9h_the_same_day():
    assert HELPLINE.next_opening(paris(2026, 3, 3, 6, 0)) == paris(2026, 3, 3, 9, 0)


def test_weekday_evening_next_opening_is_tomorrow_9h():
    assert HELPLINE.next_opening(paris(2026, 3, 3, 20, 0)) == paris(2026, 3, 4, 9, 0)


def test_saturday_evening_next_opening_is_monday_9h():
    assert HELPLINE.next_opening(paris(2026, 3, 7, 20, 30)) == paris(2026, 3, 9, 9, 0)


def test_next_opening_is_given_in_the_schedule_zone():
    opening = HELPLINE.next_opening(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    assert opening.tzinfo is PARIS
    assert opening == paris(2026, 3, 9, 9, 0)


def test_closes_at_20h_while_open():
    assert HELPLINE.closes_at(paris(2026, 3, 2, 10, 0)) == paris(2026, 3, 2, 20, 0)


def test_closes_at_is_none_while_closed():
    assert HELPLINE.closes_at(paris(2026, 3, 8, 10, 0)) is None


def test_a_schedule_without_any_slot_never_opens():
    closed = schedule()
    assert not closed.is_open(paris(2026, 3, 2, 10, 0))
    assert closed.next_opening(paris(2026, 3, 2, 10, 0)) is None


def test_missing_weekdays_are_closed():
    only_wednesday = schedule(wednesday=["14:00-18:00"])
    assert only_wednesday.week[2] == (Slot(840, 1080),)
    assert all(day == () for i, day in enumerate(only_wednesday.week) if i != 2)


def test_weekday_names_may_be_capitalised():
    assert schedule(Monday=["09:00-12:00"]).week[0] == (Slot(540, 720),)


# --- daylight saving (Paris: 29 March 2026 02:00->03:00, 25 October 2026 03:00->02:00) -----


def test_spring_forward_weekend_next_opening_is_monday_9h_summer_time():
    opening = HELPLINE.next_opening(paris(2026, 3, 28, 21, 0))
    assert opening == paris(2026, 3, 30, 9, 0)
    assert opening.utcoffset() == timedelta(hours=2)
    assert opening.astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_fall_back_weekend_next_opening_is_monday_9h_winter_time():
    opening = HELPLINE.next_opening(paris(2026, 10, 24, 21, 0))
    assert opening == paris(2026, 10, 26, 9, 0)
    assert opening.utcoffset() == timedelta(hours=1)
    assert opening.astimezone(UTC) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_opening_hours_keep_their_wall_clock_times_around_dst_sundays():
    assert HELPLINE.is_open(datetime(2026, 3, 30, 7, 0, tzinfo=UTC))  # 09:00 CEST
    assert not HELPLINE.is_open(datetime(2026, 3, 30, 6, 59, tzinfo=UTC))
    assert HELPLINE.is_open(datetime(2026, 10, 26, 8, 0, tzinfo=UTC))  # 09:00 CET
    assert not HELPLINE.is_open(datetime(2026, 10, 26, 7, 59, tzinfo=UTC))


def test_slot_starting_in_the_spring_forward_gap_opens_at_3h():
    night = schedule(sunday=["02:30-05:00"])
    opening = night.next_opening(paris(2026, 3, 29, 1, 0))
    assert same_instant(opening, datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert (opening.hour, opening.minute, opening.utcoffset()) == (3, 0, timedelta(hours=2))
    assert night.is_open(opening)


def test_slot_entirely_inside_the_spring_forward_gap_is_skipped_that_week():
    night = schedule(sunday=["02:10-02:50"])
    opening = night.next_opening(paris(2026, 3, 29, 1, 0))
    assert opening == paris(2026, 4, 5, 2, 10)


def test_open_overnight_through_spring_forward_closes_at_8h_summer_time():
    night = schedule(saturday=["20:00-08:00"])
    closing = night.closes_at(paris(2026, 3, 28, 23, 0))
    assert closing == paris(2026, 3, 29, 8, 0)
    assert closing.utcoffset() == timedelta(hours=2)


def test_repeated_fall_back_hour_is_open_both_times_it_is_on_the_clock():
    night = schedule(sunday=["02:00-03:00"])
    first = paris(2026, 10, 25, 2, 30, fold=0)
    second = paris(2026, 10, 25, 2, 30, fold=1)
    assert night.is_open(first) and night.is_open(second)
    assert same_instant(night.next_opening(paris(2026, 10, 25, 1, 0)), paris(2026, 10, 25, 2, 0, fold=0))


def test_slot_ending_in_the_repeated_hour_reopens_when_the_clock_goes_back():
    night = schedule(sunday=["01:00-02:30"])
    between = paris(2026, 10, 25, 2, 45, fold=0)  # first 02:45, CEST: closed
    assert not night.is_open(between)
    reopening = night.next_opening(between)
    assert same_instant(reopening, datetime(2026, 10, 25, 1, 0, tzinfo=UTC))  # 02:00 CET
    assert same_instant(night.closes_at(reopening), paris(2026, 10, 25, 2, 30, fold=1))


# --- whole days, 24:00 and midnight crossings ------------------------------------------------


def test_open_all_day_every_day_is_always_open_and_never_closes():
    always = schedule(**{day: ["00:00-24:00"] for day in
                         ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")})
    for at in (paris(2026, 3, 29, 2, 30), paris(2026, 10, 25, 2, 30, fold=1), paris(2026, 12, 31, 23, 59)):
        assert always.is_open(at)
        assert always.next_opening(at) is at
        assert always.closes_at(at) is None


def test_slot_ending_at_24_00_is_open_until_midnight():
    evening = schedule(friday=["18:00-24:00"])
    assert evening.is_open(paris(2026, 3, 6, 23, 59, 59))
    assert not evening.is_open(paris(2026, 3, 7, 0, 0))
    assert evening.closes_at(paris(2026, 3, 6, 19, 0)) == paris(2026, 3, 7, 0, 0)


def test_24_00_followed_by_00_00_is_one_open_period():
    late = schedule(friday=["18:00-24:00"], saturday=["00:00-03:00"])
    assert late.closes_at(paris(2026, 3, 6, 19, 0)) == paris(2026, 3, 7, 3, 0)


def test_touching_slots_on_one_day_are_one_open_period():
    split = schedule(monday=["09:00-12:00", "12:00-14:00"])
    assert split.closes_at(paris(2026, 3, 2, 10, 0)) == paris(2026, 3, 2, 14, 0)


def test_slot_crossing_midnight_is_open_into_the_next_morning():
    friday_night = schedule(friday=["22:00-02:00"])
    assert friday_night.week[4] == (Slot(1320, 1440),)
    assert friday_night.week[5] == (Slot(0, 120),)
    assert not friday_night.is_open(paris(2026, 3, 6, 21, 59))
    assert friday_night.is_open(paris(2026, 3, 6, 23, 30))
    assert friday_night.is_open(paris(2026, 3, 7, 1, 59, 59))
    assert not friday_night.is_open(paris(2026, 3, 7, 2, 0))
    assert friday_night.next_opening(paris(2026, 3, 6, 21, 0)) == paris(2026, 3, 6, 22, 0)
    assert friday_night.closes_at(paris(2026, 3, 6, 23, 0)) == paris(2026, 3, 7, 2, 0)


def test_sunday_night_slot_wraps_into_monday():
    sunday_night = schedule(sunday=["23:00-01:00"])
    assert sunday_night.week[0] == (Slot(0, 60),)
    assert sunday_night.is_open(paris(2026, 3, 9, 0, 30))


# --- describe_opening --------------------------------------------------------------------------


def test_describes_an_opening_later_today():
    assert describe_opening(paris(2026, 3, 2, 14, 0), paris(2026, 3, 2, 8, 0)) == "aujourd'hui à 14h"


def test_describes_an_opening_tomorrow():
    assert describe_opening(paris(2026, 3, 3, 9, 0), paris(2026, 3, 2, 21, 0)) == "demain à 9h"


def test_describes_an_opening_this_week_by_weekday_with_minutes():
    assert describe_opening(paris(2026, 3, 9, 9, 30), paris(2026, 3, 7, 21, 0)) == "lundi à 9h30"


def test_describes_an_opening_six_days_away_by_weekday():
    assert describe_opening(paris(2026, 3, 8, 9, 0), paris(2026, 3, 2, 10, 0)) == "dimanche à 9h"


def test_describes_an_opening_more_than_six_days_away_with_its_date():
    assert describe_opening(paris(2026, 12, 28, 9, 0), paris(2026, 12, 20, 10, 0)) == "lundi 28 décembre à 9h"


def test_describes_the_first_of_the_month_as_1er():
    assert describe_opening(paris(2026, 6, 1, 9, 0), paris(2026, 5, 20, 10, 0)) == "lundi 1er juin à 9h"


def test_describe_reads_now_in_the_openings_zone():
    # 23:30 UTC on Sunday 1 March is already 00:30 on Monday in Paris.
    now = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert describe_opening(paris(2026, 3, 2, 9, 0), now) == "aujourd'hui à 9h"


# --- config errors: each names the key an admin has to fix -------------------------------------


@pytest.mark.parametrize(
    ("opening_hours", "key", "words"),
    [
        (["09:00-20:00"], "opening_hours", "mapping"),
        ({"funday": []}, "opening_hours.funday", "unknown weekday"),
        ({"monday": "09:00-20:00"}, "opening_hours.monday", "list"),
        ({"monday": None}, "opening_hours.monday", "list"),
        ({"monday": [900]}, "opening_hours.monday[0]", "string"),
        ({"monday": ["9h-20h"]}, "opening_hours.monday[0]", "HH:MM-HH:MM"),
        ({"monday": ["09:00-20:00", "25:00-26:00"]}, "opening_hours.monday[1]", "hour 25"),
        ({"tuesday": ["09:60-20:00"]}, "opening_hours.tuesday[0]", "minute 60"),
        ({"tuesday": ["20:00-24:30"]}, "opening_hours.tuesday[0]", "24:00 is the latest"),
        ({"friday": ["10:00-10:00"]}, "opening_hours.friday[0]", "same time"),
        ({"friday": ["24:00-02:00"]}, "opening_hours.friday[0]", "starts at 24:00"),
        ({"monday": ["09:00-12:00", "11:00-14:00"]}, "opening_hours.monday[1]", "overlaps 09:00-12:00"),
        ({"sunday": ["22:00-02:00"], "monday": ["01:00-09:00"]}, "opening_hours.monday[0]",
         "from opening_hours.sunday[0]"),
    ],
)
def test_invalid_opening_hours_name_the_key(opening_hours, key, words):
    with pytest.raises(ConfigError) as caught:
        WeeklySchedule.from_config(opening_hours, "Europe/Paris")
    assert caught.value.key == key
    assert words in caught.value.problem


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "Europe", "", None, "../etc/passwd"])
def test_unknown_timezone_names_the_timezone_key(timezone):
    with pytest.raises(ConfigError) as caught:
        WeeklySchedule.from_config(DEFAULT_OPENING_HOURS, timezone)
    assert caught.value.key == "timezone"
    assert "unknown time zone" in caught.value.problem


# --- properties over 2026 ----------------------------------------------------------------------

SCHEDULES = [
    HELPLINE,
    schedule(friday=["22:00-02:00"], sunday=["02:30-05:00", "14:00-24:00"]),
    schedule(sunday=["01:00-02:30"], wednesday=["00:00-24:00"], thursday=["00:00-12:00"]),
]
instants_2026 = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31, 23, 59), timezones=st.just(UTC))
# Random instants rarely land on the two DST nights, so those are always tried too.
DST_NIGHTS = [
    datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # 01:59:59 CET, one second before the jump
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),  # first 02:45 (CEST)
    datetime(2026, 10, 25, 1, 15, tzinfo=UTC),  # second 02:15 (CET)
]


def on_dst_nights(test):
    for at in DST_NIGHTS:
        for sched in SCHEDULES:
            test = example(at=at, sched=sched)(test)
    return test


@settings(max_examples=300, deadline=None)
@given(at=instants_2026, sched=st.sampled_from(SCHEDULES))
@on_dst_nights
def test_next_opening_is_open_and_not_before_now(at, sched):
    opening = sched.next_opening(at)
    assert sched.is_open(opening)
    assert opening.astimezone(UTC) >= at
    if opening.astimezone(UTC) > at:  # it is the first opening, not just some later one
        assert not sched.is_open(opening.astimezone(UTC) - timedelta(seconds=1))


@settings(max_examples=300, deadline=None)
@given(at=instants_2026, sched=st.sampled_from(SCHEDULES))
@on_dst_nights
def test_closes_at_is_after_now_and_closed(at, sched):
    closing = sched.closes_at(at)
    if not sched.is_open(at):
        assert closing is None
        return
    assert closing.astimezone(UTC) > at
    assert not sched.is_open(closing)
    assert sched.is_open(closing.astimezone(UTC) - timedelta(seconds=1))
