"""Live reload of config.yaml: valid edits are applied, bad ones refused with the key named."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
import yaml

from gateway.domain.clock import ManualClock
from gateway.domain.config import Config, load_config
from gateway.app.config_watch import ConfigWatcher
from tests.processes import ALWAYS_OPEN

LOGGER = "gateway.app.config_watch"
OLD = 10**9 * 1_000_000_000  # an mtime long ago (2001), so the stat signature is trusted


def write(path: Path, routing_cap: int = 3, **extra) -> None:
    doc = {"store": {"url": "memory://", "prefix": "3018"}, "opening_hours": ALWAYS_OPEN,
           "routing": {"max_conversations_per_counsellor": routing_cap}, **extra}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


class Applied(list):
    """The `apply` callback: records each config it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.grew = asyncio.Event()

    def __call__(self, config: Config) -> None:
        self.append(config)
        self.grew.set()

    async def first(self) -> Config:
        await asyncio.wait_for(self.grew.wait(), timeout=5)
        return self[0]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    write(path)
    return path


@pytest.fixture
def applied() -> Applied:
    return Applied()


@pytest.fixture
async def watcher(config_file: Path, applied: Applied):
    w = ConfigWatcher(config_file, load_config(config_file), applied, interval=0.05)
    yield w
    await w.stop()


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]


async def test_a_valid_edit_is_applied_and_the_status_matches_the_disk(watcher, config_file, applied, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    before = watcher.state()["in_force_sha256"]
    write(config_file, routing_cap=5)

    assert await watcher.check_now() is True

    assert [c.max_conversations_per_counsellor for c in applied] == [5]
    assert watcher.config.max_conversations_per_counsellor == 5
    status = watcher.state()
    assert status["matches_disk"] and status["error"] is None and status["last_reload_at"]
    assert status["in_force_sha256"] == status["on_disk_sha256"] != before
    assert f"config reloaded from {config_file}; changed: routing" in caplog.messages


async def test_invalid_yaml_is_refused_and_the_last_good_config_stays(watcher, config_file, applied, caplog):
    config_file.write_text("routing: [unclosed\n", encoding="utf-8")

    assert await watcher.check_now() is False

    assert applied == [] and watcher.config.max_conversations_per_counsellor == 3
    status = watcher.state()
    assert not status["matches_disk"] and status["on_disk_sha256"] != status["in_force_sha256"]
    assert status["error"].startswith("(yaml): not valid YAML")
    [line] = refusals(caplog)
    assert line.startswith(f"config {config_file} refused: (yaml): not valid YAML")
    assert line.endswith("; keeping the last good configuration")


async def test_an_invalid_value_is_refused_naming_its_key(watcher, config_file, applied, caplog):
    write(config_file, routing_cap=0)

    assert await watcher.check_now() is False

    assert applied == []
    assert watcher.state()["error"] == "routing.max_conversations_per_counsellor: must be between 1 and 50, got 0"
    assert "routing.max_conversations_per_counsellor: must be between 1 and 50" in refusals(caplog)[0]


async def test_fixing_the_file_clears_the_error(watcher, config_file, applied):
    write(config_file, routing_cap=0)
    await watcher.check_now()
    write(config_file, routing_cap=4)

    assert await watcher.check_now() is True

    assert [c.max_conversations_per_counsellor for c in applied] == [4]
    assert watcher.state()["error"] is None and watcher.state()["matches_disk"]


async def test_restoring_the_file_in_force_clears_the_error_without_reapplying(watcher, config_file, applied):
    good = config_file.read_bytes()
    write(config_file, routing_cap=0)
    await watcher.check_now()
    config_file.write_bytes(good)

    assert await watcher.check_now() is False

    assert applied == [] and watcher.state()["error"] is None and watcher.state()["matches_disk"]


async def test_a_refused_file_is_logged_once_not_on_every_check(watcher, config_file, caplog):
    write(config_file, routing_cap=0)
    for _ in range(3):
        await watcher.check_now()
        os.utime(config_file)  # touched between checks

    assert len(refusals(caplog)) == 1


async def test_a_touch_with_the_same_bytes_does_nothing(watcher, config_file, applied, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    os.utime(config_file)

    assert await watcher.check_now() is False

    assert applied == [] and caplog.messages == [] and watcher.state()["matches_disk"]


async def test_an_atomic_replace_with_same_size_and_mtime_is_caught_by_the_inode(watcher, config_file, applied):
    os.utime(config_file, ns=(OLD, OLD))
    await watcher.check_now()  # remembers a trusted stat signature
    tmp = config_file.with_suffix(".tmp")
    write(tmp, routing_cap=7)  # same length as routing_cap=3
    os.utime(tmp, ns=(OLD, OLD))
    assert tmp.stat().st_size == config_file.stat().st_size

    os.replace(tmp, config_file)

    assert await watcher.check_now() is True
    assert [c.max_conversations_per_counsellor for c in applied] == [7]


async def test_an_unchanged_trusted_stat_skips_reading(watcher, config_file, applied):
    os.utime(config_file, ns=(OLD, OLD))
    await watcher.check_now()
    config_file.write_text(config_file.read_text().replace("counsellor: 3", "counsellor: 8"), encoding="utf-8")
    os.utime(config_file, ns=(OLD, OLD))  # an edit the stat cannot see (same size, mtime, inode)

    assert await watcher.check_now() is False
    assert await watcher.check_now(force=True) is True  # what SIGHUP does
    assert [c.max_conversations_per_counsellor for c in applied] == [8]


async def test_a_file_missing_mid_save_keeps_the_old_config_until_it_is_back(watcher, config_file, applied, caplog):
    config_file.unlink()

    assert await watcher.check_now() is False
    status = watcher.state()
    assert status["error"] == "(file): cannot read: No such file or directory"
    assert status["on_disk_sha256"] is None and not status["matches_disk"]
    assert watcher.config.max_conversations_per_counsellor == 3

    write(config_file, routing_cap=6)
    assert await watcher.check_now() is True
    assert [c.max_conversations_per_counsellor for c in applied] == [6]
    assert watcher.state()["error"] is None
    assert len(refusals(caplog)) == 1


@pytest.mark.parametrize("edit, key", [
    ({"store": {"url": "redis://127.0.0.1:6379/0", "prefix": "3018"}}, "store.url"),
    ({"store": {"url": "memory://", "prefix": "autre"}}, "store.prefix"),
    ({"pseudonym": {"key_env": "OTHER_KEY"}}, "pseudonym.key_env"),
    ({"store": {"url": "memory://", "prefix": "3018", "wait_replicas": 1}}, "store.wait_replicas"),
])
async def test_a_restart_only_setting_is_refused(watcher, config_file, applied, caplog, edit, key):
    write(config_file, routing_cap=5, **edit)

    assert await watcher.check_now() is False

    assert applied == [] and watcher.config.max_conversations_per_counsellor == 3
    assert watcher.state()["error"] == f"{key}: {key} cannot change while running; restart the gateway"
    assert "redis://" not in " ".join(refusals(caplog))  # the problem names the key, not the value


async def test_an_exception_in_apply_refuses_the_config(config_file, caplog):
    def broken(config: Config) -> None:
        raise RuntimeError("boom")

    w = ConfigWatcher(config_file, load_config(config_file), broken)
    write(config_file, routing_cap=5)

    assert await w.check_now() is False

    assert w.config.max_conversations_per_counsellor == 3
    assert w.state()["error"] == "(apply): applying it failed with RuntimeError"
    assert not w.state()["matches_disk"]
    assert "(apply): applying it failed with RuntimeError" in refusals(caplog)[0]


async def test_the_polling_loop_picks_up_an_edit_when_its_period_has_passed(config_file, applied):
    clock = ManualClock(0)
    watcher = ConfigWatcher(config_file, load_config(config_file), applied, interval=1.0, clock=clock)
    watcher.start()
    try:
        await clock.wait_for_sleepers()  # the first poll is done
        write(config_file, routing_cap=9)
        assert applied == []  # no poll before the period is over

        clock.advance(1.0)

        assert (await applied.first()).max_conversations_per_counsellor == 9
    finally:
        await watcher.stop()


async def test_sighup_triggers_a_check(watcher, config_file, applied):
    assert watcher.install_sighup(asyncio.get_running_loop())
    os.utime(config_file, ns=(OLD, OLD))
    await watcher.check_now()
    config_file.write_text(config_file.read_text().replace("counsellor: 3", "counsellor: 8"), encoding="utf-8")
    os.utime(config_file, ns=(OLD, OLD))  # invisible to stat: only the forced SIGHUP check sees it

    os.kill(os.getpid(), signal.SIGHUP)

    assert (await applied.first()).max_conversations_per_counsellor == 8


async def test_sighup_forces_a_check_at_once_while_polling(config_file, applied):
    clock = ManualClock(0)
    watcher = ConfigWatcher(config_file, load_config(config_file), applied, interval=1.0, clock=clock)
    assert watcher.install_sighup(asyncio.get_running_loop())
    os.utime(config_file, ns=(OLD, OLD))
    watcher.start()
    try:
        await clock.wait_for_sleepers()  # the first poll remembered a trusted stat signature
        config_file.write_text(config_file.read_text().replace("counsellor: 3", "counsellor: 8"), encoding="utf-8")
        os.utime(config_file, ns=(OLD, OLD))  # invisible to stat: a plain poll would skip it

        os.kill(os.getpid(), signal.SIGHUP)

        assert (await applied.first()).max_conversations_per_counsellor == 8
        assert clock.now() == 0  # the kick, not the period
    finally:
        await watcher.stop()
