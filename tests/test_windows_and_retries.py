"""Messaging windows, with times given by hand."""

from gateway.domain.model import Channel
from gateway.domain.windows import DAY, Window, window

T = 1_800_000_000.0


def test_both_platforms_are_open_for_24_hours_after_the_teens_last_message():
    assert window(Channel.WHATSAPP, T, T + DAY - 1) is Window.OPEN
    assert window(Channel.MESSENGER, T, T + DAY - 1) is Window.OPEN


def test_whatsapp_closes_after_24_hours():
    assert window(Channel.WHATSAPP, T, T + DAY) is Window.CLOSED


def test_messenger_allows_the_human_agent_tag_up_to_7_days():
    assert window(Channel.MESSENGER, T, T + DAY) is Window.HUMAN_AGENT
    assert window(Channel.MESSENGER, T, T + 7 * DAY - 1) is Window.HUMAN_AGENT
    assert window(Channel.MESSENGER, T, T + 7 * DAY) is Window.CLOSED


def test_the_web_widget_has_no_window():
    assert window(Channel.WEB, T, T + 30 * DAY) is None


# --- retries of a failed send (gateway/delivery.py) ------------------------------------------------

import pytest  # noqa: E402

from gateway.core.delivery import retry_delay  # noqa: E402


def test_retry_backoff_is_exponential_jittered_within_bounds_and_capped():
    low, high = (lambda: 0.0), (lambda: 0.999999)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (5, 32.0)]:
        assert retry_delay(attempt, "rate_limit", rng=low) == ceiling / 2
        assert ceiling / 2 <= retry_delay(attempt, "server", rng=high) < ceiling
    for attempt in (6, 10, 100, 10_000):
        assert 30.0 <= retry_delay(attempt, "network", rng=high) <= 60.0
    with pytest.raises(ValueError):
        retry_delay(-1, "server")


def test_the_whatsapp_pair_rate_limit_backs_off_4_to_the_n_seconds_capped():
    assert [retry_delay(n, "pair_rate", rng=lambda: 0.5) for n in range(5)] == [1.0, 4.0, 16.0, 60.0, 60.0]
    assert retry_delay(3, "pair_rate", cap=600.0) == 64.0
