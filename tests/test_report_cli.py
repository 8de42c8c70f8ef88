"""`python -m gateway report trusted-flagger|activity` (issue #13): a real process, a config
file pointing at a redis-server of the test's own, the store seeded as in tests/test_reports.py.
A bad flag value prints one line naming the flag and exits 2, before any store is opened.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gateway.core import reports as core_reports
from gateway.store.redis import RedisStore
from tests.processes import ROOT, gateway_env, write_config
from tests.redis_server import RedisServer
from tests.test_reports import (
    YEAR,
    assert_no_personal_data,
    paris_year,
    seed_store,
    sources,
)


def run_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "report", *args], cwd=ROOT, env=gateway_env(),
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
async def seeded(own_redis: RedisServer, tmp_path: Path):
    """(config path, seed, a store on the same Redis) — the CLI reads what the test wrote."""
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    store = RedisStore(own_redis.url, prefix=prefix)
    await store.start()
    try:
        seed = await seed_store(store)
        yield write_config(tmp_path / "config.yaml", own_redis.url, prefix), seed, store
    finally:
        await store.close()


async def test_the_annual_report_from_the_command_line_is_the_api_s(seeded):
    config, seed, store = seeded
    done = run_report("trusted-flagger", "--year", str(YEAR), "--config", str(config))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == await core_reports.trusted_flagger_report(sources(store), YEAR)
    sent = [n for n in seed.notices if n.sent_at is not None and paris_year(n.sent_at) == YEAR]
    assert sum(r["count"] for r in report["rows"]) == len(sent) == 61
    assert_no_personal_data(done.stdout, seed.secrets)


async def test_the_annual_report_as_csv_and_html(seeded):
    config, seed, _ = seeded
    sheet = run_report("trusted-flagger", "--year", str(YEAR), "--format", "csv", "--config", str(config))
    assert sheet.returncode == 0, sheet.stderr
    rows = list(csv.DictReader(io.StringIO(sheet.stdout)))
    assert sum(int(r["value"]) for r in rows if r["metric"] == "count") == 61
    page = run_report("trusted-flagger", "--year", str(YEAR), "--format", "html", "--config", str(config))
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("<!DOCTYPE html>") and "<script" not in page.stdout
    assert "Meta Platforms Ireland Ltd" in page.stdout or "Snap B.V." in page.stdout
    for text in (sheet.stdout, page.stdout):
        assert_no_personal_data(text, seed.secrets)


async def test_the_activity_from_the_command_line(seeded):
    config, seed, store = seeded
    done = run_report("activity", "--from", "2026-03-01", "--to", "2026-03-31", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == await core_reports.activity_report(sources(store), "2026-03-01", "2026-03-31")
    sheet = run_report("activity", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv",
                       "--config", str(config))
    assert sheet.returncode == 0 and sheet.stdout.startswith("section,key,label,detail,value")
    for text in (done.stdout, sheet.stdout):
        assert_no_personal_data(text, seed.secrets)


@pytest.mark.parametrize(("args", "flag"), [
    (["trusted-flagger", "--year", "1900"], "--year"),
    (["trusted-flagger", "--year", "deux-mille"], "--year"),
    (["trusted-flagger"], "--year"),
    (["trusted-flagger", "--year", "2026", "--format", "pdf"], "--format"),
    (["activity", "--from", "2026-12-31", "--to", "2026-01-01"], "--to"),
    (["activity", "--from", "2026-02-30", "--to", "2026-03-01"], "--from"),
    (["activity", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "html"], "--format"),
])
def test_a_bad_flag_value_is_one_line_naming_the_flag_and_exit_2(args, flag, tmp_path: Path):
    # The config points at no Redis at all: the flags are refused before any store is opened.
    config = write_config(tmp_path / "config.yaml", "redis://127.0.0.1:1/0", "none")
    done = run_report(*args, "--config", str(config))
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{flag}: "), done.stderr


def test_the_memory_store_has_nothing_to_report(tmp_path: Path):
    config = write_config(tmp_path / "config.yaml", "memory://", "none")
    done = run_report("trusted-flagger", "--year", "2026", "--config", str(config))
    assert done.returncode == 2 and "memory store" in done.stderr and done.stdout == ""
