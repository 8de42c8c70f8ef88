"""Prometheus metrics of one gateway process, counted from the event bus and nothing else.

Labels are bounded enums only (author, state, channel, delivery state, presence, socket kind):
never an id, an alias, a text, a name or anything a teen sent. Three reasons. A metrics
endpoint is scraped, stored and charted by tools outside the helpline's data map (Prometheus,
Grafana, their backups and their admins), so a label is a copy of personal data in a place
nobody erases; a conversation id in a label links a series to a stored conversation, and a
platform id or alias identifies a teen outright. And Prometheus keeps one series per label
value: an unbounded label (an id) grows without end. Values outside the enum count as "other".

What is counted: messages by author, conversation transitions by state and channel, priority
raises by channel, our Messenger/WhatsApp messages by delivery state, presence changes,
typing and "seen" events. Gauges: open sockets by kind (per process, from the hubs), and the
queue length and counsellors available (helpline-wide, refreshed by the caller or read through
the core's `line_gauges` use case at each scrape).

Several processes: the Redis bus delivers every event to every process, so each process's
counters describe the whole helpline. Aggregate them with `max` across instances, not `sum`;
socket gauges are per process and do sum.

Counted from the core's typed events, one counter per event type (COUNTERS): a triage raise
is its own event (PriorityRaised), a handover too (HandedOver, counted as "transferred").

Security events (`gateway_security_events_total{kind,where}`, core/security_events.py) are the
exception: each process counts only the refusals it made itself (they are not on the bus), so
aggregate them with `sum` across instances. Both labels are the bounded enums of that module;
the pairs in SECURITY_SERIES exist from the start at 0, any other pair from its first event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from gateway.core.counsellor import LineGauges
from gateway.core.ports import Bus
from gateway.domain.errors import GatewayError
from gateway.domain.events import (
    ConversationChanged,
    DeliveryChanged,
    Event,
    HandedOver,
    MessageAdded,
    PresenceChanged,
    PriorityRaised,
    Seen,
    Typing,
)
from gateway.domain.model import Author, Channel, ConversationState, Delivery, Presence

log = logging.getLogger(__name__)

OTHER = "other"  # any value outside an enum: counted, never echoed
AUTHORS = tuple(a.value for a in Author)
CHANNELS = tuple(c.value for c in Channel)
TRANSFERRED = "transferred"  # a HandedOver event, counted as a transition
STATES = (ConversationState.QUEUED.value, ConversationState.ASSIGNED.value, ConversationState.CLOSED.value,
          TRANSFERRED)
DELIVERIES = tuple(d.value for d in Delivery)
PRESENCES = tuple(p.value for p in Presence)
SOCKET_KINDS = ("widget", "console")


def bounded(value: object, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else "other": no free text ever becomes a label."""
    return value if isinstance(value, str) and value in allowed else OTHER


class _LineGauges(Collector):
    """Queue length and counsellors available: read at scrape time from the last values set."""

    def __init__(self) -> None:
        self.queue_length = 0
        self.counsellors_available = 0

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("gateway_queue_length", "Conversations waiting in the queue (whole helpline).",
                                value=self.queue_length)
        yield GaugeMetricFamily("gateway_counsellors_available",
                                "Counsellors whose presence is available (whole helpline).",
                                value=self.counsellors_available)


# (kind, where) pairs a gateway can produce, shown at 0 before the first one (an alert on
# `increase(...[5m]) > 0` needs the series to exist before it moves).
SECURITY_SERIES: tuple[tuple[str, str], ...] = (
    ("origin_refused", "widget_socket"), ("origin_refused", "console_socket"),
    ("csrf_refused", "console_login"), ("csrf_refused", "console_api"),
    ("rate_limited", "widget_socket"), ("rate_limited", "console_login"), ("flood_refused", "widget_socket"),
    ("bad_signature", "webhook_messenger"), ("bad_signature", "webhook_whatsapp"),
    ("login_refused", "console_login"), ("login_lockout", "console_login"),
    ("slow_client", "http"), ("bad_request", "http"), ("handler_error", "http"),
    ("idle_socket", "console_socket"), ("idle_socket", "widget_socket"), ("health_refused", "health"),
    ("forbidden", "console_api"),
)
SecuritySnapshot = Callable[[], Iterable[tuple[str, str, int]]]


class _SecurityEvents(Collector):
    """`gateway_security_events_total{kind,where}`, read at scrape time from the core's counter."""

    def __init__(self, snapshot: SecuritySnapshot):
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("gateway_security_events",
                                     "Refusals this process made (sum across instances), by kind and where.",
                                     labels=["kind", "where"])
        counts = {pair: 0 for pair in SECURITY_SERIES}
        for kind, where, n in self._snapshot():
            counts[(kind, where)] = n  # kind and where are checked enums (SecurityEvents.record)
        for (kind, where), n in sorted(counts.items()):
            family.add_metric([kind, where], n)
        yield family


class Metrics:
    """One process's metrics, in a registry of its own (tests build several apps side by side)."""

    def __init__(self, bus: Bus, line_gauges: Callable[[], Awaitable[LineGauges]] | None = None,
                 security: SecuritySnapshot | None = None):
        """`line_gauges`: read at each scrape (the core's use case); None: set by the caller.
        `security`: the helpline's `security.snapshot` (None: no security series)."""
        self.registry = CollectorRegistry()
        self._read_line_gauges = line_gauges
        r = self.registry
        self.messages = Counter("gateway_messages", "Messages stored, by author.", ["author"], registry=r)
        self.transitions = Counter("gateway_conversation_transitions",
                                   "Conversations moving into a state, by channel.", ["state", "channel"], registry=r)
        self.raises = Counter("gateway_priority_raises",
                              "Conversations whose priority triage raised (at creation or later).", ["channel"],
                              registry=r)
        self.deliveries = Counter("gateway_deliveries",
                                  "Our Messenger/WhatsApp messages reaching a delivery state.", ["state"], registry=r)
        self.presence_changes = Counter("gateway_presence_changes", "Counsellor presence changes, by new presence.",
                                        ["presence"], registry=r)
        self.typing = Counter("gateway_typing_events", "Typing indicator changes, by who types.", ["by"], registry=r)
        self.seen = Counter("gateway_seen_events", "Conversations marked seen on Messenger/WhatsApp.", registry=r)
        self.sockets = Gauge("gateway_open_sockets", "WebSockets open on this process, by kind.", ["kind"],
                             registry=r)
        self.inbox = Gauge("gateway_webhook_inbox_batches",
                           "Large webhook batches stored, waiting or being handled (whole helpline).", registry=r)
        self.inbox_depth: Callable[[], Awaitable[int]] | None = None  # core/inbox.Inbox.depth, set by the app
        self._line = _LineGauges()
        r.register(self._line)
        if security is not None:
            r.register(_SecurityEvents(security))
        self._zero_series()
        bus.subscribe(self.on_event)

    def _zero_series(self) -> None:
        """Every expected series exists from the start at 0 (a missing series is not a zero)."""
        for author in AUTHORS:
            self.messages.labels(author)
        for state in STATES:
            for channel in CHANNELS:
                self.transitions.labels(state, channel)
        for channel in CHANNELS:
            self.raises.labels(channel)
        for delivery in DELIVERIES:
            self.deliveries.labels(delivery)
        for presence in PRESENCES:
            self.presence_changes.labels(presence)
        for author in (Author.TEEN.value, Author.COUNSELLOR.value):
            self.typing.labels(author)
        for kind in SOCKET_KINDS:
            self.sockets.labels(kind)

    # --- fed by the bus --------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Count one bus event. Never raises: a metric must not break the bus's other handlers."""
        try:
            self._count(event)
        except Exception as exc:  # noqa: BLE001 - counted or not, the bus goes on
            log.warning("metrics: %s not counted (%s)", getattr(event, "name", "event"), type(exc).__name__)

    def _count(self, event: Event) -> None:
        count = COUNTERS.get(type(event))
        if count is not None:
            count(self, event)

    def _message(self, event: MessageAdded) -> None:
        self.messages.labels(bounded(event.message.author.value, AUTHORS)).inc()
        if event.message.delivery is Delivery.PENDING:
            self.deliveries.labels(Delivery.PENDING.value).inc()

    def _transition(self, event: ConversationChanged) -> None:
        channel = bounded(event.conversation.channel.value, CHANNELS)
        self.transitions.labels(bounded(event.state.value, STATES), channel).inc()

    def _handed_over(self, event: HandedOver) -> None:
        self.transitions.labels(TRANSFERRED, bounded(event.conversation.channel.value, CHANNELS)).inc()

    def _raised(self, event: PriorityRaised) -> None:
        self.raises.labels(bounded(event.conversation.channel.value, CHANNELS)).inc()

    def _typing(self, event: Typing) -> None:
        if event.active:
            self.typing.labels(bounded(event.by.value, AUTHORS)).inc()

    # --- set by the hubs and the caller -------------------------------------------------------------
    def socket_opened(self, kind: str) -> None:
        self.sockets.labels(self._kind(kind)).inc()

    def socket_closed(self, kind: str) -> None:
        self.sockets.labels(self._kind(kind)).dec()

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in SOCKET_KINDS:
            raise ValueError(f"socket kind must be one of {SOCKET_KINDS}")
        return kind

    def set_queue(self, waiting: int) -> None:
        self._line.queue_length = waiting

    def set_counsellors_available(self, available: int) -> None:
        self._line.counsellors_available = available

    async def sample(self) -> None:
        """Refresh the queue and counsellor gauges through the core, if given; on a failure the
        last values stay (the scrape still answers)."""
        if self.inbox_depth is not None:
            try:
                self.inbox.set(await self.inbox_depth())
            except GatewayError as exc:
                log.warning("metrics: inbox depth not read (%s)", exc.code)
        if self._read_line_gauges is None:
            return
        try:
            gauges = await self._read_line_gauges()
        except GatewayError as exc:
            log.warning("metrics: line gauges not read (%s)", exc.code)
            return
        self.set_queue(gauges.queue_length)
        self.set_counsellors_available(gauges.counsellors_available)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# One counter per event type; events not listed (SessionEnded, Barrier…) are not counted.
COUNTERS: dict[type, Callable[[Metrics, Event], None]] = {
    MessageAdded: Metrics._message,
    ConversationChanged: Metrics._transition,
    HandedOver: Metrics._handed_over,
    PriorityRaised: Metrics._raised,
    DeliveryChanged: lambda m, e: m.deliveries.labels(bounded(e.delivery.value, DELIVERIES)).inc(),
    PresenceChanged: lambda m, e: m.presence_changes.labels(bounded(e.presence.value, PRESENCES)).inc(),
    Typing: Metrics._typing,
    Seen: lambda m, e: m.seen.inc(),
}

METRICS = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    """`GET /metrics` in Prometheus' text format (0.0.4, what `generate_latest` writes)."""
    metrics = request.app[METRICS]
    await metrics.sample()
    return web.Response(body=metrics.render(),
                        headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"})
