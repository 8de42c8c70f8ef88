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


# --- the decision stored with one of our lines (gateway/core/lines.py) ---------------------------

import pytest  # noqa: E402

from gateway.core.lines import ours  # noqa: E402
from gateway.domain.errors import ProtocolError  # noqa: E402
from gateway.domain.model import Author, Conversation, ConversationState  # noqa: E402
from gateway.domain.windows import SendWindow, send_window  # noqa: E402


def talking_on(channel: Channel, last_teen_message_at: float | None = T) -> Conversation:
    return Conversation(id="c1", channel=channel, sender_key="k", alias="Jeune", state=ConversationState.ASSIGNED,
                        opened_at=T, last_teen_message_at=last_teen_message_at, reply_to="psid")


def test_the_send_window_is_fixed_by_the_teens_last_message():
    assert send_window(Channel.MESSENGER, T) == SendWindow(T + DAY, T + 7 * DAY)
    assert send_window(Channel.WHATSAPP, T) == SendWindow(T + DAY, T + DAY)
    assert send_window(Channel.WEB, T) is None
    assert send_window(Channel.WHATSAPP, None).at(T) is Window.CLOSED  # the teen never wrote there


def test_a_reply_is_queued_with_its_window_decided_once():
    reply = ours(talking_on(Channel.MESSENGER), Author.COUNSELLOR, "Je suis là.", T + DAY - 1, "Ana")
    assert reply.deliver and reply.author_name == "Ana"
    # Stored a second before the plain window closes, a retry after it goes out with the tag.
    assert reply.window.at(T + DAY - 1) is Window.OPEN
    assert reply.window.at(T + DAY + 60) is Window.HUMAN_AGENT
    assert not ours(talking_on(Channel.WEB), Author.COUNSELLOR, "Je suis là.", T).deliver


def test_past_the_window_a_reply_is_refused_and_a_notice_stays_in_the_record():
    late = T + 7 * DAY
    with pytest.raises(ProtocolError) as refused:
        ours(talking_on(Channel.MESSENGER), Author.COUNSELLOR, "pardon", late)
    assert refused.value.code == "window_closed"
    notice = ours(talking_on(Channel.WHATSAPP), Author.SYSTEM, "La conversation est terminée.", T + DAY)
    assert not notice.deliver and notice.window is None


# --- retries of a failed send (gateway/core/delivery.py) -------------------------------------------

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
