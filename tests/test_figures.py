"""The supervisor's figures, the teen's estimated wait and the pacing of position updates."""

import pytest

from gateway.domain.figures import (
    NOBODY_AVAILABLE_FR,
    TYPICAL_HANDLING_SECONDS,
    ConversationRecord,
    WaitEstimate,
    day_figures,
    estimate_wait,
    meaningful_change,
    percentile,
    position_update_due,
)

DAY = 1_700_000_000.0  # start of the opening
NOW = DAY + 8 * 3600


def answered(wait: float, at: float = DAY + 100, channel: str = "web", priority: int = 0) -> ConversationRecord:
    return ConversationRecord(channel, at, at + wait, at + wait + 30, at + wait + 900, "answered", priority)


def abandoned(after: float, at: float = DAY + 100, channel: str = "web") -> ConversationRecord:
    return ConversationRecord(channel, at, None, None, at + after, "abandoned")


def waiting(at: float = DAY + 100, channel: str = "web", priority: int = 0) -> ConversationRecord:
    return ConversationRecord(channel, at, None, None, None, None, priority)


def out_of_hours(at: float = DAY + 100, channel: str = "whatsapp") -> ConversationRecord:
    return ConversationRecord(channel, at, None, None, at, "out_of_hours")


def line_closed(after: float, at: float = DAY + 100) -> ConversationRecord:
    return ConversationRecord("web", at, None, None, at + after, "closed_while_queued")


# --- percentiles ----------------------------------------------------------------------------------


def test_nearest_rank_percentile_is_always_one_of_the_values():
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 50) == 35
    assert percentile(values, 90) == 50
    assert percentile([3, 1, 2, 4], 50) == 2  # rank ceil(2) = 2: no averaging of 2 and 3
    assert percentile(list(range(1, 11)), 90) == 9
    assert percentile(list(range(1, 101)), 7) == 7  # float maths must not push the rank to 8


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


def test_percentiles_of_the_day_are_over_assigned_waits_only():
    figures = day_figures([answered(w) for w in (10, 20, 30, 40, 600)] + [waiting(), abandoned(900)], DAY, NOW)
    assert figures.wait_p50 == 30
    assert figures.wait_p90 == 600


def test_a_day_without_assignment_has_no_wait_figures():
    figures = day_figures([waiting()], DAY, NOW)
    assert figures.wait_p50 is None and figures.wait_p90 is None
    assert figures.answered_within_1_min is None


# --- counts ---------------------------------------------------------------------------------------


def test_conversations_are_counted_per_channel():
    records = [answered(5, channel="web"), answered(5, channel="whatsapp"), waiting(channel="whatsapp")]
    figures = day_figures(records, DAY, NOW)
    assert figures.conversations == 3
    assert figures.per_channel == {"web": 1, "messenger": 0, "whatsapp": 2}


def test_leaving_under_5_seconds_is_a_short_abandon_not_an_abandon():
    figures = day_figures([abandoned(4.9), abandoned(5), abandoned(300)], DAY, NOW)
    assert figures.abandons == 2
    assert figures.short_abandons == 1


def test_line_closing_is_not_an_abandon():
    figures = day_figures([line_closed(2), line_closed(400)], DAY, NOW)
    assert figures.abandons == 0 and figures.short_abandons == 0


def test_share_answered_within_a_minute_counts_departures_but_not_short_abandons():
    records = [answered(60), answered(61), abandoned(120), line_closed(30), abandoned(2), waiting()]
    figures = day_figures(records, DAY, NOW)
    assert figures.answered_within_1_min == pytest.approx(1 / 4)


def test_waiting_now_and_raised():
    records = [waiting(), waiting(priority=2), answered(10, priority=1), abandoned(60)]
    figures = day_figures(records, DAY, NOW)
    assert figures.waiting_now == 2
    assert figures.raised == 2


def test_out_of_hours_contacts_stay_out_of_the_queue_figures():
    figures = day_figures([out_of_hours(), out_of_hours(channel="messenger"), answered(20)], DAY, NOW)
    assert figures.out_of_hours == 2
    assert figures.conversations == 1
    assert figures.per_channel == {"web": 1, "messenger": 0, "whatsapp": 0}
    assert figures.answered_within_1_min == 1.0
    assert figures.waiting_now == 0


def test_records_outside_the_day_are_left_out():
    records = [answered(20, at=DAY - 1), waiting(at=NOW + 1), answered(20, at=DAY), waiting(at=NOW)]
    figures = day_figures(records, DAY, NOW)
    assert figures.conversations == 2
    assert figures.waiting_now == 1


def test_view_is_plain_json():
    view = day_figures([answered(20), out_of_hours()], DAY, NOW).view()
    assert view == {
        "conversations": 1,
        "per_channel": {"web": 1, "messenger": 0, "whatsapp": 0},
        "wait_p50": 20,
        "wait_p90": 20,
        "answered_within_1_min": 1.0,
        "abandons": 0,
        "short_abandons": 0,
        "waiting_now": 0,
        "raised": 0,
        "out_of_hours": 1,
    }


# --- estimated wait -------------------------------------------------------------------------------


def test_wait_is_position_times_median_handling_over_slots():
    estimate = estimate_wait(3, [600, 1200, 1200, 1800, 7200], active_capacity=4)
    assert estimate == WaitEstimate(3 * 1200 / 4, True, 5)


def test_one_very_long_conversation_does_not_move_the_estimate():
    usual = estimate_wait(2, [900] * 5, active_capacity=3)
    with_crisis = estimate_wait(2, [900] * 5 + [9000], active_capacity=3)
    assert usual.seconds == with_crisis.seconds == 600


def test_without_samples_the_typical_handling_time_gives_a_figure():
    estimate = estimate_wait(2, [], active_capacity=2)
    assert estimate == WaitEstimate(2 * TYPICAL_HANDLING_SECONDS / 2, False, 0)
    assert estimate.text_fr() == "environ 20 minutes"


def test_few_samples_are_blended_with_the_prior_until_there_are_enough():
    # 2 samples of 5 min + 3 priors of 20 min: the median is still the prior.
    assert estimate_wait(1, [300, 300], active_capacity=1).seconds == TYPICAL_HANDLING_SECONDS
    # 3 real samples outnumber the priors: the median is theirs.
    assert estimate_wait(1, [300, 300, 300], active_capacity=1).seconds == 300
    ten = estimate_wait(1, [300] * 10, active_capacity=1)
    assert ten.seconds == 300 and ten.enough_data and ten.text_fr() == "environ 5 minutes"


def test_free_slots_are_served_first_and_all_busy_is_said():
    assert estimate_wait(2, [600] * 5, active_capacity=3, free_slots=2).seconds == 0
    busy = estimate_wait(2, [600] * 5, active_capacity=3, free_slots=0)
    assert busy.seconds == 2 * 600 / 3 and busy.all_busy
    assert not estimate_wait(2, [600] * 5, active_capacity=3).all_busy  # unknown: no claim


def test_nobody_available_says_so_rather_than_guessing():
    estimate = estimate_wait(1, [600] * 10, active_capacity=0)
    assert estimate.seconds is None and estimate.nobody_available
    assert estimate.text_fr() == NOBODY_AVAILABLE_FR


def test_positions_start_at_one():
    with pytest.raises(ValueError):
        estimate_wait(0, [600] * 5, active_capacity=1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "moins de 2 minutes"),
        (119, "moins de 2 minutes"),
        (120, "environ 2 minutes"),
        (5 * 60 + 20, "environ 5 minutes"),
        (5 * 60 + 30, "environ 6 minutes"),
        (9 * 60 + 40, "environ 10 minutes"),
        (17 * 60, "environ 15 minutes"),
        (23 * 60, "environ 25 minutes"),
        (44 * 60, "environ 40 minutes"),
        (57 * 60, "environ 1 heure"),
        (68 * 60, "environ 1 heure 15"),
        (100 * 60, "environ 1 heure 45"),
        (125 * 60, "environ 2 heures"),
        (180 * 60, "environ 3 heures"),
        (200 * 60, "plus de 3 heures"),
    ],
)
def test_wait_text_is_rounded_more_coarsely_as_it_grows(seconds, text):
    assert WaitEstimate(seconds, True, 10).text_fr() == text


def test_only_a_change_of_text_is_worth_a_message():
    first = WaitEstimate(370, True, 10)  # environ 6 minutes
    assert meaningful_change(None, first)
    assert not meaningful_change(first, WaitEstimate(350, True, 10))  # still environ 6 minutes
    assert meaningful_change(first, WaitEstimate(240, True, 10))
    assert meaningful_change(first, WaitEstimate(None, True, 10, nobody_available=True))


# --- pacing of position updates -------------------------------------------------------------------

T = 1000.0
EVERY = 60.0


def test_first_position_is_always_told():
    assert position_update_due(None, None, 12, T, EVERY)


def test_never_twice_within_the_interval():
    assert not position_update_due(10, T, 1, T + EVERY - 1, EVERY)


def test_reaching_first_place_is_told():
    assert position_update_due(2, T, 1, T + EVERY, EVERY)
    assert not position_update_due(1, T, 1, T + 10 * EVERY, EVERY)


def test_a_drop_of_one_place_is_not_told():
    assert not position_update_due(5, T, 4, T + EVERY, EVERY)
    assert position_update_due(5, T, 3, T + EVERY, EVERY)


def test_long_queues_need_a_quarter_drop():
    assert not position_update_due(40, T, 31, T + EVERY, EVERY)
    assert position_update_due(40, T, 30, T + EVERY, EVERY)
    assert not position_update_due(10, T, 8, T + EVERY, EVERY)  # 25 % of 10 is 2.5: 3 places
    assert position_update_due(10, T, 7, T + EVERY, EVERY)


def test_moving_back_is_not_told():
    assert not position_update_due(3, T, 5, T + EVERY, EVERY)
