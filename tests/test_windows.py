"""Messaging windows, with times given by hand."""

from gateway.model import Channel
from gateway.windows import DAY, Window, window

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
