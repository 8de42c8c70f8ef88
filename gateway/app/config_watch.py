"""Live reload of config.yaml: notice an edit, validate it, apply it or refuse it.

Owns the watch state (which file bytes are in force, what is on disk, the last refusal) that
/healthz/details reports. Polls with `stat` (mtime_ns, size, inode) and confirms with a sha256 of the
bytes, so a touch is a no-op and an editor's write-then-rename is caught by the inode change.
Polls on a `Periodic` (the wall clock unless told otherwise); SIGHUP asks for an immediate,
forced check. A refused edit leaves the last good config in force. The file is read and
validated by the same two functions as `config check` (read_config_file, config_from_bytes), so
the command and the reload agree on every file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gateway.core.periodic import Periodic
from gateway.core.status import config_view
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.config import Config, config_from_bytes, read_config_file
from gateway.domain.errors import ConfigError

log = logging.getLogger(__name__)

# Settings read once at startup (store connection, bus, pseudonym key, the Graph API client in
# server.py): a live change would be silently ignored or would split the data, so it is refused.
RESTART_ONLY: tuple[tuple[str, str], ...] = (
    ("store.url", "store_url"),
    ("store.prefix", "store_prefix"),
    ("store.wait_replicas", "store_wait_replicas"),  # the store's acknowledgement is built at start
    ("pseudonym.key_env", "pseudonym_key_env"),
    ("meta.graph_api_url", "graph_api_url"),
    ("meta.graph_api_version", "graph_api_version"),
    ("retention.days", "retention_days"),  # the Redis safety-net TTL is set at start
    ("retention.sweep_seconds", "retention_sweep_seconds"),
    ("retention.case_years", "case_years"),  # the sweeper is built with it at start
    ("http.tls", "tls"),  # the headers middleware is built at start
    ("http.request_head_seconds", "request_head_seconds"),  # the HTTP server is built at start
    ("http.request_body_seconds", "request_body_seconds"),
    ("http.health_token_env", "health_token_env"),  # the token is read from the environment at start
    ("limits.widget_messages_per_minute", "widget_messages_per_minute"),  # buckets built at start
    ("limits.widget_sockets_per_address", "widget_sockets_per_address"),
    ("limits.widget_connects_per_minute", "widget_connects_per_minute"),
)

# An mtime this recent may be followed by another write in the same timestamp tick with the same
# size (git's "racy clean" problem): such a stat is not trusted, the next check re-reads the bytes.
RACY_NS = 2_000_000_000

Signature = tuple[int, int, int]  # (mtime_ns, size, inode)


def restart_only_change(old: Config, new: Config) -> ConfigError | None:
    """The first setting in RESTART_ONLY that differs, as the error to refuse the edit with."""
    for key, attr in RESTART_ONLY:
        if getattr(old, attr) != getattr(new, attr):
            return ConfigError(key, f"{key} cannot change while running; restart the gateway")
    return None


def changed_sections(old: Config, new: Config) -> list[str]:
    """Top-level section names whose parsed YAML differs (names only: values may be long texts)."""
    return sorted(k for k in set(old.raw) | set(new.raw) if old.raw.get(k) != new.raw.get(k))


@dataclass(frozen=True)
class _Read:
    """One look at the file, done off the event loop."""

    signature: Signature | None
    digest: str | None
    config: Config | None = None
    error: ConfigError | None = None
    unchanged: bool = False  # stat signature as last time: nothing was read
    settled: bool = True  # False: the file changed while we read it


class ConfigWatcher:
    """Watches one config file and feeds each valid edit to `apply` (e.g. `Helpline.reload`).

    `apply` runs on the event loop; if it raises, the edit counts as refused. (It should not
    half-apply: `Helpline.reload` only swaps a reference.) `check`, when given, is asked first
    with the valid new config and may refuse it with a ConfigError (what the file cannot tell:
    e.g. a casework value stored records still use). Construct it right after loading
    `config` from `path`: the bytes on disk at that moment are taken as the ones in force.
    """

    def __init__(self, path: str | Path, config: Config, apply: Callable[[Config], None], *,
                 interval: float = 1.0, parse: Callable[[bytes], Config] = config_from_bytes,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), clock: Clock | None = None,
                 check: Callable[[Config], Awaitable[ConfigError | None]] | None = None):
        self.path = Path(path)
        self.config = config
        self.interval = interval
        self._apply, self._parse, self._now, self._check = apply, parse, now, check
        try:
            self._in_force: str | None = hashlib.sha256(read_config_file(self.path)).hexdigest()
        except ConfigError:
            self._in_force = None  # the first readable, valid file will be applied
        self._on_disk = self._in_force
        self._signature: Signature | None = None
        self._error: ConfigError | None = None
        self._refused: tuple[str | None, str] | None = None  # (digest, "key: problem") last logged
        self._last_reload: datetime | None = None
        self._lock = asyncio.Lock()
        self._force_next = False  # SIGHUP: the next poll re-reads whatever the stat says
        # The wall clock by default, even when the helpline runs on a test's ManualClock: files
        # are edited in real time, and their mtimes are real.
        self._polling = Periodic("config-watch", self._poll_once, interval, clock or SystemClock())
        self._side_tasks: set[asyncio.Task[bool]] = set()
        self._sighup_loop: asyncio.AbstractEventLoop | None = None

    # --- one check ------------------------------------------------------------------------
    async def check_now(self, *, force: bool = False) -> bool:
        """Look at the file once; True when a new config was applied.

        `force` re-reads even if the stat signature is unchanged and retries bytes refused before.
        """
        async with self._lock:
            read = await asyncio.to_thread(self._read, None if force else self._signature)
            if read.unchanged:
                return False
            if not read.settled:
                log.debug("config %s changed while being read; will look again", self.path)
                return False
            self._signature, self._on_disk = read.signature, read.digest
            if read.error is not None:
                self._refuse(read.error)
                return False
            if read.digest == self._in_force:
                self._clear_error("matches the configuration in force again")
                return False
            if not force and self._refused is not None and self._refused[0] == read.digest:
                return False  # same refused bytes, e.g. touched: already logged
            assert read.config is not None
            return await self._try_apply(read.config, read.digest)

    def _read(self, known: Signature | None) -> _Read:
        """Blocking part (stat, read, parse), run in a worker thread."""
        for _ in range(3):
            try:
                st = os.stat(self.path)
            except OSError as exc:
                return _Read(None, None, error=ConfigError("(file)", f"cannot read: {exc.strerror or exc}"))
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
            if signature == known:
                return _Read(signature, self._on_disk, unchanged=True)
            try:
                data = read_config_file(self.path)  # refused unread past the size cap
            except ConfigError as exc:
                return _Read(None, None, error=exc)
            digest = hashlib.sha256(data).hexdigest()
            if time.time_ns() - st.st_mtime_ns < RACY_NS:
                signature = None  # too recent to trust: re-read next time
            if digest == self._in_force:
                return _Read(signature, digest)
            try:
                config, error = self._parse(data), None
            except ConfigError as exc:
                config, error = None, exc
            except Exception as exc:  # a parser bug must not kill the watcher
                config, error = None, ConfigError("(load)", f"validation failed with {type(exc).__name__}")
            try:
                again = hashlib.sha256(read_config_file(self.path)).hexdigest()
            except ConfigError:
                again = None
            if again == digest:  # still the bytes we parsed: not caught mid-save
                return _Read(signature, digest, config=config, error=error)
        return _Read(None, None, settled=False)

    async def _try_apply(self, config: Config, digest: str | None) -> bool:
        problem = restart_only_change(self.config, config) or await self._checked(config)
        if problem is not None:
            self._refuse(problem)
            return False
        try:
            self._apply(config)
        except Exception as exc:
            log.debug("applying config %s failed", self.path, exc_info=True)
            self._refuse(ConfigError("(apply)", f"applying it failed with {type(exc).__name__}"))
            return False
        sections = changed_sections(self.config, config)
        self.config, self._in_force = config, digest
        self._error, self._refused, self._last_reload = None, None, self._now()
        log.info("config reloaded from %s; changed: %s", self.path, ", ".join(sections) or "nothing (comments only)")
        return True

    async def _checked(self, config: Config) -> ConfigError | None:
        """The `check`'s refusal, if any; a check that fails (the store is down) refuses too:
        the edit is tried again when the file or SIGHUP says so."""
        if self._check is None:
            return None
        try:
            return await self._check(config)
        except Exception as exc:
            log.debug("checking config %s failed", self.path, exc_info=True)
            return ConfigError("(check)", f"could not be checked against stored data ({type(exc).__name__}); "
                                          f"send SIGHUP to retry")

    def _refuse(self, error: ConfigError) -> None:
        self._error = error
        refusal = (self._on_disk, f"{error.key}: {error.problem}")
        if refusal != self._refused:  # once per distinct refusal, not once per poll
            log.error("config %s refused: %s: %s; keeping the last good configuration",
                      self.path, error.key, error.problem)
        self._refused = refusal

    def _clear_error(self, why: str) -> None:
        if self._error is not None:
            log.info("config %s %s", self.path, why)
        self._error, self._refused = None, None

    # --- for the process itself and /healthz/details ---------------------------------------
    def state(self) -> dict:
        """The whole watch state, for this process only (its log, its tests): the path, short
        hashes of the bytes in force and on disk, and the refusal word for word. Never served."""
        return {
            "path": str(self.path),
            "in_force_sha256": self._in_force[:12] if self._in_force else None,
            "on_disk_sha256": self._on_disk[:12] if self._on_disk else None,
            "matches_disk": self._on_disk is not None and self._on_disk == self._in_force,
            "error": f"{self._error.key}: {self._error.problem}" if self._error else None,
            "last_reload_at": self._last_reload.isoformat() if self._last_reload else None,
        }

    def status(self) -> dict:
        """No path, no hash, no text of the file (core/status.config_view): the full reason is
        in the log line `_refuse` wrote."""
        return config_view(self._error, matches_disk=self._on_disk is not None and self._on_disk == self._in_force,
                           last_reload_at=self._last_reload)

    # --- polling and SIGHUP ---------------------------------------------------------------
    def start(self) -> None:
        """Start polling every `interval` seconds (call from the running loop)."""
        self._polling.start()

    async def stop(self) -> None:
        if self._sighup_loop is not None:
            self._sighup_loop.remove_signal_handler(signal.SIGHUP)
            self._sighup_loop = None
        await self._polling.stop()
        tasks = list(self._side_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll_once(self) -> None:
        """One round of polling (a failure is logged by Periodic; live reload goes on)."""
        force, self._force_next = self._force_next, False
        await self.check_now(force=force)

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Make SIGHUP force an immediate check. False where signals are unsupported (Windows,
        a loop outside the main thread)."""
        sighup = getattr(signal, "SIGHUP", None)
        if sighup is None:
            return False
        try:
            loop.add_signal_handler(sighup, self._on_sighup)
        except (NotImplementedError, RuntimeError, ValueError):
            return False
        self._sighup_loop = loop
        return True

    def _on_sighup(self) -> None:
        log.info("SIGHUP: checking config %s now", self.path)
        if self._polling.running:
            self._force_next = True
            self._polling.kick()
            return
        task = asyncio.get_running_loop().create_task(self.check_now(force=True))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task[bool]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("config check after SIGHUP failed", exc_info=task.exception())
