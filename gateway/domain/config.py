"""`config.yaml`: read, validate whole, explain. An invalid file raises ConfigError naming the key.

One way in for the `config check` command and the live reload alike: `read_config_file` (size
cap) then `config_from_bytes` (UTF-8, YAML, not empty, then the schema). The shape of every
section lives in config_schema.py; the defaults live on `Config`, once. Secrets never live in
the file: it names environment variables instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.domain.casework import DEFAULT_CASEWORK, CaseworkOptions, options_from
from gateway.domain.config_schema import (
    SECTIONS,
    TOP_LEVEL_KEYS,
    store_url_shape,
    validate_document,
)
from gateway.domain.errors import ConfigError
from gateway.domain.message_templates import DEFAULT_MESSAGES, MESSAGE_FIELDS
from gateway.domain.notice_options import DEFAULT_NOTICES, NoticeOptions, notice_options_from
from gateway.domain.schedule import DEFAULT_TIMEZONE, Schedule
from gateway.domain.triage import Triage, parse_triage

__all__ = ["DEFAULT_MESSAGES", "MAX_FILE_BYTES", "MESSAGE_FIELDS", "TOP_LEVEL_KEYS", "Config", "config_from_bytes",
           "load_config", "parse_config", "read_config_file"]

# A config is a page of settings (the shipped one is 6 KiB): past this it is a mistake or an
# attack, refused before it is parsed (a 9.6 MB file once blocked the event loop for 82 s).
MAX_FILE_BYTES = 256 * 1024

# Config fields not named after their key (the others are: `limits.max_message_chars` →
# `max_message_chars`).
FIELD_OF_KEY: Mapping[str, str] = {
    "store.url": "store_url",
    "store.prefix": "store_prefix",
    "store.wait_replicas": "store_wait_replicas",
    "inactivity.check_after_minutes": "inactivity_check_minutes",
    "inactivity.close_after_minutes": "inactivity_close_minutes",
    "retention.days": "retention_days",
    "retention.sweep_seconds": "retention_sweep_seconds",
    "retention.case_years": "case_years",
    "pseudonym.key_env": "pseudonym_key_env",
    "attachments.allowed_types": "allowed_attachment_types",
    "console.idle_seconds": "console_idle_seconds",
}


@dataclass(frozen=True)
class Config:
    """The validated configuration. Each default is written here and only here: parse_config
    and the modules that need one when no config is given (the stores, the Graph client)
    read it from this class, e.g. `Config.retention_days`."""

    schedule: Schedule
    triage: Triage = field(default_factory=lambda: parse_triage(None))
    timezone: str = DEFAULT_TIMEZONE  # schedule.py owns it (the weekly schedule falls back to it)
    store_url: str = "memory://"
    store_prefix: str = "3018"
    store_wait_replicas: int = 0  # replicas that must acknowledge a write before the gateway does
    max_conversations_per_counsellor: int = 3
    skill_wait_seconds: int = 60  # a skilled conversation waits this long for a specialist, then anyone
    abandon_after_minutes: int = 45  # Messenger/WhatsApp: silent this long while queued = left
    widget_leave_seconds: int = 60  # widget: no socket this long = left (queued: abandoned; assigned: shown)
    left_frees_place_minutes: int = 5  # a teen left this long ago: no longer counts against capacity (0: at once)
    position_update_seconds: int = 60  # Messenger/WhatsApp: at most one position message per this
    disconnect_grace_seconds: int = 120  # safety net: offline this long, still holding teens: back to the queue
    inactivity_check_minutes: int = 10  # teen silent after our answer: a gentle check
    inactivity_close_minutes: int = 10  # then still silent: closed with a message
    max_message_chars: int = 2000
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    session_hours: float = 12.0
    pseudonym_key_env: str = "GATEWAY_PSEUDONYM_KEY"
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"
    allowed_attachment_types: frozenset[str] = frozenset()
    retention_days: int = 30  # closed conversations: texts and platform ids erased after this
    retention_sweep_seconds: int = 3600  # how often each process looks for conversations to erase
    case_years: int = 5  # qualification records (anonymous) are deleted this long after the close
    casework: CaseworkOptions = DEFAULT_CASEWORK  # the qualification lists, ready answers, orientations
    notices: NoticeOptions = DEFAULT_NOTICES  # trusted-flagger notices: platforms, offences, statements
    messages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    # HTTP hardening (docs/security.md): origins allowed besides the gateway's own page.
    tls: bool = False  # behind TLS: Secure cookie, HSTS
    trust_proxy: bool = False  # read the client address from X-Forwarded-For (one trusted proxy)
    widget_origins: tuple[str, ...] = ()  # sites embedding the widget, e.g. https://www.3018.fr
    console_origins: tuple[str, ...] = ()
    widget_messages_per_minute: int = 20
    widget_sockets_per_address: int = 50
    widget_connects_per_minute: int = 60
    widget_idle_seconds: int = 2 * 3600  # no frame from the page this long: socket closed (it reconnects)
    new_conversations_per_minute: int = 10  # per address key, across processes (a class writing at once)
    console_idle_seconds: int = 90  # console socket: no frame (the console's heartbeat) this long: closed
    request_head_seconds: int = 20  # the whole request head must arrive within this (slowloris)
    request_body_seconds: int = 20  # and the body within this once the head is in
    health_token_env: str = "GATEWAY_HEALTH_TOKEN"  # the monitoring system's token for /healthz/details
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_config(raw: Any) -> Config:
    """Validate a parsed YAML document and build the Config.

    None means "no document" (tools and tests: every default); a file is never read as None,
    `config_from_bytes` refuses an empty one."""
    doc = validate_document({} if raw is None else raw)
    values: dict[str, Any] = {}
    for section_name in SECTIONS:
        section = getattr(doc, section_name)
        if section is None or section_name in ("messages", "casework", "notices"):
            continue
        for key, value in section.model_dump(exclude_unset=True).items():
            name = FIELD_OF_KEY.get(f"{section_name}.{key}", key)
            values[name] = frozenset(value) if name == "allowed_attachment_types" else \
                tuple(value) if isinstance(value, list) else value
    values.update(_store_url_from_environment())
    _refuse_wait_replicas_on_a_cluster(values)
    given_messages = doc.messages.model_dump(exclude_unset=True) if doc.messages is not None else {}
    raw = dict(raw or {})
    return Config(
        schedule=Schedule.from_config(raw),
        timezone=raw.get("timezone", DEFAULT_TIMEZONE),
        triage=parse_triage(raw.get("triage")),
        **values,
        messages={**DEFAULT_MESSAGES, **given_messages},
        casework=_casework(doc),
        notices=_notices(doc),
        raw=raw,
    )


def _casework(doc: Any) -> CaseworkOptions:
    """The `casework:` section over the built-in lists (the keys left out keep theirs)."""
    if doc.casework is None:
        return DEFAULT_CASEWORK
    return options_from(doc.casework.model_dump(exclude_unset=True))


def _notices(doc: Any) -> NoticeOptions:
    """The `notices:` section over the built-in lists (the keys left out keep theirs)."""
    if doc.notices is None:
        return DEFAULT_NOTICES
    return notice_options_from(doc.notices.model_dump(exclude_unset=True))


def _store_url_from_environment() -> dict[str, str]:
    """GATEWAY_STORE_URL, when set, overrides store.url (and is held to the same shape)."""
    url = os.environ.get("GATEWAY_STORE_URL")
    if not url:
        return {}
    try:
        return {"store_url": store_url_shape(url)}
    except ValueError as exc:
        raise ConfigError("store.url", f"(from GATEWAY_STORE_URL) {exc}") from None


def _refuse_wait_replicas_on_a_cluster(values: dict) -> None:
    """store.wait_replicas needs a WAIT that counts every earlier write; a cluster gives none
    (see gateway/store/redis.py), so the pair is refused rather than silently weakened."""
    if str(values.get("store_url", "")).startswith("redis+cluster://") and values.get("store_wait_replicas"):
        raise ConfigError("store.wait_replicas", "is not supported with a redis+cluster:// store yet; set it to 0 "
                                                 "(a cluster's replicas still take over when a master fails)")


# --- the file --------------------------------------------------------------------------------
def read_config_file(path: str | Path) -> bytes:
    """The file's bytes, refused unread when larger than MAX_FILE_BYTES."""
    try:
        with open(path, "rb") as file:
            _check_size(os.fstat(file.fileno()).st_size)
            data = file.read(MAX_FILE_BYTES + 1)  # it may grow between the stat and the read
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror or exc}") from exc
    _check_size(len(data))
    return data


def config_from_bytes(data: bytes) -> Config:
    """The one validation of a config file's content, for `config check` and the live reload."""
    _check_size(len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("(file)", f"is not UTF-8 text (byte {exc.start}, line {line}); save it as UTF-8") from None
    raw = _yaml(text)
    if raw is None:
        raise ConfigError("(file)", "is empty (or only comments); refusing to apply every default in its "
                                    "place: write the settings (start from the shipped config.yaml)")
    return parse_config(raw)


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; every problem is a ConfigError naming the key."""
    return config_from_bytes(read_config_file(path))


def _check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ConfigError("(file)", f"is {size} bytes; a config file may have at most {MAX_FILE_BYTES} "
                                    f"({MAX_FILE_BYTES // 1024} KiB)")


class _StrictLoader(yaml.SafeLoader):
    """YAML without surprises: a key given twice (the second silently won) and aliases (a
    few lines of `*ref` can expand into millions of nodes) are errors."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in the configuration",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader refuses it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("(yaml)", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    except RecursionError:
        raise ConfigError("(yaml)", "not valid YAML: nested too deeply") from None
