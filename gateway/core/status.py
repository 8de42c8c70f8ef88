"""What one process says about itself on /healthz: is its store reachable, which Meta channels
are on and what an admin must fix on them, whether the line is open, and the live config.

The composition root gathers the parts into a `ProcessStatus`; the health route only renders
`health_report`. "degraded" means someone must act: the store is away or a channel alerts.
"""

from __future__ import annotations

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


async def store_reachable(helpline: Helpline) -> bool:
    return await helpline.store.ping()


def _channel(name: str, on: bool, alerts: dict[str, str]) -> dict:
    return {"on": on, **({"alert": alerts[name]} if name in alerts else {})}


async def health_report(status: ProcessStatus) -> dict:
    """The /healthz document (its shape is a public contract: monitoring reads it)."""
    helpline = status.helpline
    reachable = await store_reachable(helpline)
    alerts = status.delivery.alerts
    report = {
        "status": "ok" if reachable and not alerts else "degraded",
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
    return report
