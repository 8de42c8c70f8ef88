"""What one process says about itself on /healthz: is its store reachable, which Meta channels
are on and what an admin must fix on them, whether the line is open, and the live config.

The composition root gathers the parts into a `ProcessStatus`; the health route only renders
`health_report`. "degraded" means someone must act: the store is away or a channel alerts, and
then `reasons` says what. The process can serve only while its store answers: a load balancer
reading `serving` (HTTP 503 when false) sends clients elsewhere meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.delivery import DeliveryWorker
from gateway.core.helpline import Helpline


@dataclass(frozen=True)
class ProcessStatus:
    """The parts /healthz reads; `config_status` only when config.yaml is watched live."""

    helpline: Helpline
    delivery: DeliveryWorker  # its `alerts`: channel -> what an admin must fix
    messenger_on: bool
    whatsapp_on: bool
    config_status: Callable[[], dict] | None = None


PING_SECONDS = 2.0  # a store that takes longer than this to answer a PING is not serving
STORE_UNREACHABLE = "store unreachable"


@dataclass(frozen=True)
class Health:
    serving: bool  # False: /healthz answers 503
    document: dict


async def store_reachable(helpline: Helpline) -> bool:
    """Bounded: with retries on, a PING to a Redis that is away could wait for every backoff."""
    try:
        async with asyncio.timeout(PING_SECONDS):
            return await helpline.store.ping()
    except TimeoutError:
        return False


def _channel(name: str, on: bool, alerts: dict[str, str]) -> dict:
    return {"on": on, **({"alert": alerts[name]} if name in alerts else {})}


async def health_report(status: ProcessStatus) -> Health:
    """The /healthz document (its shape is a public contract: monitoring reads it)."""
    helpline = status.helpline
    reachable = await store_reachable(helpline)
    alerts = status.delivery.alerts
    reasons = ([] if reachable else [STORE_UNREACHABLE]) + [f"{name}: {alert}" for name, alert in sorted(alerts.items())]
    report = {
        "status": "ok" if not reasons else "degraded",
        "store": {"kind": helpline.store.kind, "reachable": reachable},
        "channels": {
            "web": {"on": True},
            "messenger": _channel("messenger", status.messenger_on, alerts),
            "whatsapp": _channel("whatsapp", status.whatsapp_on, alerts),
        },
        "line": helpline.line_status(),
    }
    if status.config_status is not None:
        report["config"] = status.config_status()
    if reasons:
        report["reasons"] = reasons  # only when degraded: the "ok" document keeps its exact shape
    return Health(serving=reachable, document=report)
