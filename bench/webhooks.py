"""The webhook phase of `scripts/bench`: Meta posting to the gateway (issue #15 item 2).

Two figures, each beside its aim (single events first, so the batch's aftermath, a thousand
welcome lines to send, does not weigh on their latency):
  batch ack       one WhatsApp POST carrying `batch` new teens' messages: time to its 200
                  (aim < 1 s), then the time until the inbox is empty again (every event handled,
                  read from the gateway's own gauge `gateway_webhook_inbox_batches`);
  single-event    one-message POSTs at `rate`/s for `seconds` s, open loop (each latency counted
                  from the moment it was due, so a slow server is not hidden by a waiting client):
                  ack p50/p99 (aim p99 ≤ 10 ms at 1,000/s).
The gateway's sends to Meta (welcome lines) go to the Meta stand-in, a process of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

import aiohttp
import yaml

from meta_standin.server import meta_json, signature_256, whatsapp_envelope

from .procs import Service, free_port

# Bench-only values: the gateway and the stand-in get the same (never real secrets).
SECRETS = {
    "META_APP_SECRET": "bench-app-secret-not-a-secret",
    "MESSENGER_PAGE_TOKEN": "bench-page-token",
    "MESSENGER_VERIFY_TOKEN": "bench-messenger-verify",
    "WHATSAPP_TOKEN": "bench-whatsapp-token",
    "WHATSAPP_VERIFY_TOKEN": "bench-whatsapp-verify",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
}
WABA_ID = "102290129340398"
SINGLE_AIM_P99_MS = 10.0
SINGLE_SENDERS = 200  # single-event webhooks cycle through this many teens (new, then known)
IN_FLIGHT = 256  # open connections of the single-event client
IDS = itertools.count(1)


def start_standin(workdir: Path, env: dict[str, str], root: Path) -> tuple[Service, str]:
    port = free_port()
    argv = [sys.executable, "-m", "meta_standin", "--host", "127.0.0.1", "--port", str(port)]
    service = Service("meta-standin", argv, workdir / "standin.log", {**env, **SECRETS}, root)
    service.start()
    return service, f"http://127.0.0.1:{port}"


def point_config(config: Path, standin_url: str) -> None:
    """The gateway's sends to Meta go to the stand-in."""
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    doc.setdefault("meta", {})["graph_api_url"] = standin_url
    config.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def wait_standin(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/_standin/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Meta stand-in did not answer on {url}")
            await asyncio.sleep(0.1)


def _value(messages: list[dict]) -> dict:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": SECRETS["WHATSAPP_PHONE_NUMBER_ID"]},
            "contacts": [{"profile": {"name": "Sam"}, "wa_id": m["from"]} for m in messages],
            "messages": messages}


def _message(phone: str) -> dict:
    return {"from": phone, "id": f"wamid.bench{next(IDS)}", "timestamp": str(int(time.time())), "type": "text",
            "text": {"body": "bonjour, j'ai besoin d'aide"}}


def signed(messages: list[dict]) -> tuple[bytes, dict[str, str]]:
    body = meta_json(whatsapp_envelope(WABA_ID, _value(messages)))
    return body, {"Content-Type": "application/json",
                  "X-Hub-Signature-256": signature_256(body, SECRETS["META_APP_SECRET"])}


async def inbox_batches(http: aiohttp.ClientSession, base: str) -> float | None:
    async with http.get(f"{base}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("gateway_webhook_inbox_batches "):
                return float(line.split()[1])
    return None


async def batch_ack(base: str, size: int, drain_cap: float = 120.0) -> dict:
    """One POST of `size` new teens: ms to its 200, then s until the inbox is empty."""
    body, headers = signed([_message(f"3370{n:07d}") for n in range(size)])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        t0 = time.perf_counter()
        async with http.post(f"{base}/webhooks/whatsapp", data=body, headers=headers) as response:
            await response.read()
            status = response.status
        ack = time.perf_counter() - t0
        drained = None
        while time.perf_counter() - t0 < drain_cap:
            depth = await inbox_batches(http, base)
            if depth is None:  # a gateway without the inbox: the work was done before the 200
                drained = ack
                break
            if depth == 0:
                drained = time.perf_counter() - t0
                break
            await asyncio.sleep(0.05)
    return {"size": size, "status": status, "ack_ms": ack * 1000, "drained_s": drained, "bytes": len(body)}


async def single_events(base: str, rate: float, seconds: float) -> dict:
    """Single-message POSTs at `rate`/s, open loop: latency from when each was due."""
    total = max(1, int(rate * seconds))
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def post(due: float, n: int) -> None:
            body, headers = signed([_message(f"3371{n % SINGLE_SENDERS:07d}")])
            try:
                async with http.post(f"{base}/webhooks/whatsapp", data=body, headers=headers) as response:
                    await response.read()
                    key: int | str = response.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1
            if key == 200:
                latencies.append(time.perf_counter() - due)

        tasks = []
        t0 = time.perf_counter()
        for n in range(total):
            due = t0 + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.ensure_future(post(due, n)))
        sent_wall = time.perf_counter() - t0
        await asyncio.gather(*tasks)
    latencies.sort()

    def pct(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None

    return {"rate": rate, "total": total, "statuses": statuses, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "achieved_rate": total / max(sent_wall, 1e-9)}


async def webhook_phase(base: str, batch: int, rate: float, seconds: float) -> dict:
    """Single events first: the batch's aftermath (a thousand welcome lines sent) must not
    weigh on their latency."""
    single = await single_events(base, rate, seconds) if rate > 0 and seconds > 0 else None
    return {"single": single, "batch": await batch_ack(base, batch) if batch > 0 else None}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def report(result: dict) -> list[str]:
    """Rows for the summary table: (label, value, note)."""
    rows = []
    batch = result.get("batch")
    if batch:  # the batch row first: the aim the issue names first
        drained = "not within the cap" if batch["drained_s"] is None else f"{batch['drained_s']:.1f} s"
        rows.append((f"{batch['size']:,}-event WhatsApp batch", f"acked in {_ms(batch['ack_ms'])}",
                     f"(aim < 1 s; HTTP {batch['status']}; every event handled {drained} after the POST)"))
    single = result.get("single")
    if single:
        others = {k: v for k, v in single["statuses"].items() if k != 200}
        rows.append((f"webhook ack p99 at {single['rate']:,.0f}/s",
                     f"{_ms(single['p99_ms'])} (p50 {_ms(single['p50_ms'])})",
                     f"(aim ≤ {SINGLE_AIM_P99_MS:.0f} ms at 1,000/s; single-event webhooks, {single['total']:,} POSTs"
                     f" sent at {single['achieved_rate']:,.0f}/s" + (f"; not 200: {others}" if others else "") + ")"))
    return rows
