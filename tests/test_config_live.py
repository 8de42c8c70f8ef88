"""An admin edits config.yaml under a running gateway process: a valid edit applies within
seconds without dropping a socket; a broken one is refused, the last good one stays, and
/healthz/details says the file on disk is not the one in force."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

import websockets
import yaml

from tests.harness import health_headers
from tests.processes import ALWAYS_OPEN, GatewayProcess, write_config

CLOSED_ALL_WEEK = {day: [] for day in ALWAYS_OPEN}


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def details(gateway: GatewayProcess) -> dict:
    """/healthz/details with the monitoring token (the process inherits it from conftest.py)."""
    request = urllib.request.Request(f"{gateway.http}/healthz/details", headers=health_headers())
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.loads(response.read())


def edit(path: Path, **changes) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.update(changes)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc), encoding="utf-8")
    os.replace(tmp, path)  # what editors do: an atomic rename


async def test_config_edits_apply_live_and_a_broken_edit_keeps_the_last_good_one(tmp_path):
    config = write_config(tmp_path / "config.yaml", "memory://", "live")
    gateway = GatewayProcess(config, tmp_path / "gateway.log")
    try:
        assert get(f"{gateway.http}/api/line")["open"] is True
        async with websockets.connect(f"{gateway.ws}/ws/widget", origin=gateway.http) as teen:
            await teen.send(json.dumps({"type": "hello", "token": None, "last_seq": 0}))
            assert json.loads(await teen.recv())["type"] == "welcome"

            # The watcher logs its verdict once it is in force: waiting for that line is exact.
            seen = gateway.output.mark()
            edit(config, opening_hours=CLOSED_ALL_WEEK)  # valid: the line closes
            gateway.output.wait_for("config reloaded", after=seen)
            assert get(f"{gateway.http}/api/line")["open"] is False
            health = details(gateway)
            assert health["config"]["matches_disk"] is True and health["config"]["state"] == "in_force"

            seen = gateway.output.mark()
            edit(config, opening_hours=ALWAYS_OPEN, routing={"max_conversations_per_counsellor": 0})
            gateway.output.wait_for("keeping the last good", after=seen)
            health = details(gateway)
            assert health["config"]["matches_disk"] is False and health["config"]["state"] == "rejected"
            assert health["config"]["rejected_key"] == "routing.max_conversations_per_counsellor"
            assert health["config"]["problem"] == "wrong type or range"
            assert get(f"{gateway.http}/api/line")["open"] is False  # the last good hours stay
            log = gateway.log_path.read_text(errors="replace")
            assert "routing.max_conversations_per_counsellor" in log and "keeping the last good" in log

            # Saved empty by mistake: not "all defaults" (which would open the line), refused.
            seen, saved = gateway.output.mark(), config.read_bytes()
            config.write_bytes(b"")
            gateway.output.wait_for("is empty", after=seen)
            health = details(gateway)
            assert health["config"]["matches_disk"] is False
            assert (health["config"]["rejected_key"], health["config"]["problem"]) == (None, "not a config file")
            assert get(f"{gateway.http}/api/line")["open"] is False
            config.write_bytes(saved)

            # Fixed, and told with SIGHUP rather than waiting for the poll.
            edit(config, opening_hours=ALWAYS_OPEN, routing={"max_conversations_per_counsellor": 2})
            seen = gateway.output.mark()
            gateway.process.send_signal(signal.SIGHUP)
            gateway.output.wait_for("config reloaded", after=seen)
            assert get(f"{gateway.http}/api/line")["open"] is True
            assert details(gateway)["config"]["matches_disk"] is True

            # The teen's socket lived through all of it.
            await teen.send(json.dumps({"type": "typing", "active": True}))
            await teen.ping()
    finally:
        gateway.kill()
