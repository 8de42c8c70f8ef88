"""Metrics count the core's typed events into bounded labels, and read the line's gauges through
the core at scrape time (never the store)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.bus import LocalBus
from gateway.core.counsellor import LineGauges
from gateway.domain.errors import StoreError
from gateway.domain.events import (
    Barrier,
    ConversationChanged,
    ConversationFacts,
    DeliveryChanged,
    HandedOver,
    MessageAdded,
    PresenceChanged,
    PriorityRaised,
    SessionEnded,
    Typing,
)
from gateway.domain.model import Author, Channel, ConversationState, Delivery, Message, Presence
from gateway.http.metrics import Metrics

FACTS = ConversationFacts(id="c1", channel=Channel.WHATSAPP, alias="Jeune 1234", state=ConversationState.ASSIGNED,
                          opened_at=1.0, counsellor_id="k1")


def value(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no sample {name}{labels}")


async def test_each_typed_event_is_counted_once_in_its_own_series():
    bus = LocalBus()
    metrics = Metrics(bus)
    events = [
        MessageAdded("c1", "k1", Message("c1", 1, Author.COUNSELLOR, "salut", 2.0, delivery=Delivery.PENDING)),
        ConversationChanged(FACTS),
        PriorityRaised(FACTS),
        HandedOver(FACTS, previous_counsellor_id="k0"),
        DeliveryChanged("c1", "k1", 1, Delivery.READ, None),
        PresenceChanged("k1", Presence.PAUSED),
        Typing("c1", "k1", Author.TEEN, True),
        Typing("c1", "k1", Author.TEEN, False),  # only a start of typing counts
        SessionEnded("hash"),
        Barrier("token"),
    ]
    for event in events:
        await bus.publish(event)
    assert value(metrics, "gateway_messages_total", author="counsellor") == 1
    assert value(metrics, "gateway_deliveries_total", state="pending") == 1
    assert value(metrics, "gateway_deliveries_total", state="read") == 1
    assert value(metrics, "gateway_conversation_transitions_total", state="assigned", channel="whatsapp") == 1
    assert value(metrics, "gateway_conversation_transitions_total", state="transferred", channel="whatsapp") == 1
    assert value(metrics, "gateway_conversation_transitions_total", state="queued", channel="whatsapp") == 0
    assert value(metrics, "gateway_priority_raises_total", channel="whatsapp") == 1
    assert value(metrics, "gateway_presence_changes_total", presence="paused") == 1
    assert value(metrics, "gateway_typing_events_total", by="teen") == 1


async def test_the_line_gauges_are_read_at_each_sample_and_kept_when_the_read_fails():
    readings = [LineGauges(3, 2), StoreError("redis away")]

    async def line_gauges() -> LineGauges:
        reading = readings.pop(0)
        if isinstance(reading, Exception):
            raise reading
        return reading

    metrics = Metrics(LocalBus(), line_gauges)
    await metrics.sample()
    assert value(metrics, "gateway_queue_length") == 3
    assert value(metrics, "gateway_counsellors_available") == 2
    await metrics.sample()  # the store is away: the last values stay, the scrape still answers
    assert value(metrics, "gateway_queue_length") == 3
    assert readings == []
