"""`config.yaml`: load, validate, explain. An invalid file raises ConfigError naming the key.

Secrets never live in the file: it names environment variables instead.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from gateway.domain.errors import ConfigError
from gateway.domain.origins import normalise_origin
from gateway.domain.schedule import DEFAULT_TIMEZONE, Schedule
from gateway.domain.triage import Triage, parse_triage

DEFAULT_MESSAGES: dict[str, str] = {
    "out_of_hours": (
        "Merci pour ton message. Le tchat du 3018 est fermé pour l'instant : "
        "on rouvre {next_opening}. Tu pourras nous écrire à ce moment-là, on sera là pour toi.\n"
        "Si tu es en danger maintenant, appelle le 17 ou le 112. "
        "Si un enfant ou un ado est en danger, appelle le 119 (gratuit, 24h/24)."
    ),
    "queued": (
        "Merci de nous avoir écrit. Ce tchat est anonyme et gratuit. "
        "Tu es {position} dans la file : un·e conseiller·e va te répondre dès que possible. {wait} "
        "Reste là, tu n'es pas seul·e."
    ),
    "position_update": "Tu es maintenant {position} dans la file. {wait} Reste là, on arrive.",
    "line_closing": (
        "Le tchat du 3018 ferme maintenant et aucun·e conseiller·e n'a pu te répondre à temps, "
        "on en est désolé·es. On rouvre {next_opening} : réécris-nous, on sera là.\n"
        "Si tu es en danger maintenant, appelle le 17 ou le 112. "
        "Si un enfant ou un ado est en danger, appelle le 119 (gratuit, 24h/24)."
    ),
    "abandoned": (
        "On n'a plus de nouvelles de toi depuis un moment, alors on a fermé cette demande. "
        "Tu peux nous réécrire quand tu veux, on sera là."
    ),
    "transferred": (
        "Un·e autre conseiller·e va prendre le relais pour mieux t'aider. "
        "Tu n'as rien à répéter : reste là."
    ),
    "requeued": (
        "Ton ou ta conseiller·e a dû s'absenter. Quelqu'un d'autre va te répondre très vite : "
        "tu passes en premier. Reste là."
    ),
    "inactivity_check": "Tu es toujours là ? Tu peux continuer à écrire quand tu veux, on t'écoute.",
    "abuse_closed": (
        "Cette conversation est terminée : les messages reçus ne respectent pas ce tchat, "
        "qui est là pour aider les jeunes en difficulté."
    ),
    "abuse_reply": (
        "Ce tchat ne peut pas te répondre pour le moment. "
        "Si tu es en danger, appelle le 17 ou le 112, ou le 119 (gratuit, 24h/24)."
    ),
    "inactivity_closed": (
        "Comme on n'a plus de nouvelles, on termine la conversation. "
        "Tu peux nous réécrire quand tu veux, ou appeler le 3018."
    ),
    "assigned": "{counsellor} est là pour t'écouter. Tu peux tout lui raconter, sans crainte d'être jugé·e.",
    "closed_by_counsellor": (
        "La conversation est terminée. Merci de ta confiance. "
        "Tu peux nous réécrire quand tu veux, ou appeler le 3018."
    ),
    "closed_by_teen": "Tu as terminé la conversation. Tu peux nous réécrire quand tu veux.",
    "attachment_refused": (
        "On a bien vu que tu as envoyé un fichier, mais on ne l'ouvre pas et on ne le garde pas : "
        "c'est pour te protéger. N'envoie jamais de photo intime, même à nous. "
        "Décris-nous avec des mots ce qui se passe, on va t'aider à le signaler."
    ),
}

# Which {placeholders} each automatic message may use.
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "out_of_hours": frozenset({"next_opening"}),
    "queued": frozenset({"position", "wait"}),
    "position_update": frozenset({"position", "wait"}),
    "line_closing": frozenset({"next_opening"}),
    "abandoned": frozenset(),
    "transferred": frozenset(),
    "requeued": frozenset(),
    "inactivity_check": frozenset(),
    "abuse_closed": frozenset(),
    "abuse_reply": frozenset(),
    "inactivity_closed": frozenset(),
    "assigned": frozenset({"counsellor"}),
    "closed_by_counsellor": frozenset(),
    "closed_by_teen": frozenset(),
    "attachment_refused": frozenset(),
}

TOP_LEVEL_KEYS = frozenset(
    {"timezone", "opening_hours", "closures", "public_holidays", "last_admission_minutes", "store", "routing",
     "queue", "inactivity", "triage", "messages", "limits", "console", "pseudonym", "meta", "attachments",
     "retention", "http"}
)


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
    max_conversations_per_counsellor: int = 3
    skill_wait_seconds: int = 60  # a skilled conversation waits this long for a specialist, then anyone
    abandon_after_minutes: int = 45  # Messenger/WhatsApp: silent this long while queued = left
    widget_leave_seconds: int = 60  # widget: no socket this long while queued = left (a reload comes back)
    position_update_seconds: int = 60  # Messenger/WhatsApp: at most one position message per this
    disconnect_grace_seconds: int = 120  # a counsellor offline this long: their teens go back to the queue
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
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a mapping, got {type(value).__name__}")
    return value


# The whole-number settings: Config field -> (config.yaml section, key, lowest, highest).
# Their defaults are Config's.
WHOLE_NUMBERS: Mapping[str, tuple[str, str, int, int]] = {
    "max_conversations_per_counsellor": ("routing", "max_conversations_per_counsellor", 1, 50),
    "skill_wait_seconds": ("routing", "skill_wait_seconds", 0, 3600),
    "abandon_after_minutes": ("queue", "abandon_after_minutes", 1, 24 * 60),
    "widget_leave_seconds": ("queue", "widget_leave_seconds", 1, 3600),
    "position_update_seconds": ("queue", "position_update_seconds", 6, 3600),
    "disconnect_grace_seconds": ("console", "disconnect_grace_seconds", 0, 3600),
    "inactivity_check_minutes": ("inactivity", "check_after_minutes", 1, 24 * 60),
    "inactivity_close_minutes": ("inactivity", "close_after_minutes", 1, 24 * 60),
    "widget_messages_per_minute": ("limits", "widget_messages_per_minute", 1, 600),
    "widget_sockets_per_address": ("limits", "widget_sockets_per_address", 1, 1_000_000),
    "widget_connects_per_minute": ("limits", "widget_connects_per_minute", 1, 1_000_000),
    "widget_idle_seconds": ("limits", "widget_idle_seconds", 1, 7 * 24 * 3600),
    "max_message_chars": ("limits", "max_message_chars", 1, 10_000),
    "dedupe_ttl_seconds": ("limits", "dedupe_ttl_seconds", 60, 30 * 24 * 3600),
    "session_hours": ("console", "session_hours", 1, 24 * 7),
    "retention_days": ("retention", "days", 1, 3650),
    "retention_sweep_seconds": ("retention", "sweep_seconds", 60, 24 * 3600),
}


def _whole_numbers(doc: Mapping[str, Any]) -> dict[str, int]:
    """Every setting of WHOLE_NUMBERS, checked; an absent one keeps Config's default."""
    values: dict[str, int] = {}
    for name, (section_name, key, low, high) in WHOLE_NUMBERS.items():
        section = _mapping(doc.get(section_name), section_name)
        if key in section:
            values[name] = _int(section, key, section_name, low, high)
    return values


def _int(section: Mapping[str, Any], key: str, path: str, low: int, high: int) -> int:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}.{key}", f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{path}.{key}", f"must be between {low} and {high}, got {value}")
    return value


def _messages(section: Mapping[str, Any]) -> dict[str, str]:
    messages = dict(DEFAULT_MESSAGES)
    for name, text in section.items():
        key = f"messages.{name}"
        if name not in MESSAGE_FIELDS:
            raise ConfigError(key, f"unknown message; known: {', '.join(sorted(MESSAGE_FIELDS))}")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(key, "must be a non-empty text")
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise ConfigError(key, f"bad braces: {exc} (write {{{{ and }}}} for literal braces)") from exc
        unknown = used - MESSAGE_FIELDS[name]
        if unknown:
            allowed = ", ".join("{" + f + "}" for f in sorted(MESSAGE_FIELDS[name])) or "none"
            raise ConfigError(key, f"unknown placeholder {{{sorted(map(str, unknown))[0]}}}; allowed: {allowed}")
        try:  # what is accepted must be writable: placeholders get texts, plain {name} only
            text.format(**{f: "x" for f in MESSAGE_FIELDS[name]})
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ConfigError(key, f"cannot be filled in ({exc}); write placeholders as plain {{name}}") from exc
        messages[name] = text
    return messages


def _http(section: Mapping[str, Any]) -> dict[str, Any]:
    """The `http` section: TLS, proxy, and the origin allowlists (exact scheme://host[:port])."""
    out: dict[str, Any] = {}
    for flag in ("tls", "trust_proxy"):
        value = section.get(flag, getattr(Config, flag))
        if not isinstance(value, bool):
            raise ConfigError(f"http.{flag}", f"must be true or false, got {value!r}")
        out[flag] = value
    for name in ("widget_origins", "console_origins"):
        entries = section.get(name) or []
        if not isinstance(entries, list):
            raise ConfigError(f"http.{name}", "must be a list of origins like https://www.3018.fr")
        for i, entry in enumerate(entries):
            if not isinstance(entry, str) or normalise_origin(entry) is None:
                raise ConfigError(f"http.{name}[{i}]", f"{entry!r} is not an origin like https://www.3018.fr "
                                                       "(scheme and host, no path, no *)")
        out[name] = tuple(entries)
    unknown = set(section) - {"tls", "trust_proxy", "widget_origins", "console_origins"}
    if unknown:
        raise ConfigError(f"http.{sorted(map(str, unknown))[0]}", "unknown key; known: console_origins, tls, trust_proxy, "
                                                        "widget_origins")
    return out


def parse_config(raw: Any) -> Config:
    """Validate a parsed YAML document and build the Config."""
    doc = _mapping(raw, "(top level)")
    unknown = set(doc) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(sorted(map(str, unknown))[0], f"unknown key; known: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    timezone = doc.get("timezone", Config.timezone)
    if not isinstance(timezone, str):
        raise ConfigError("timezone", "must be a time zone name such as Europe/Paris")
    schedule = Schedule.from_config(doc)
    store = _store(_mapping(doc.get("store"), "store"))
    for section_name in ("routing", "queue", "inactivity", "console", "limits"):
        _mapping(doc.get(section_name), section_name)  # a section's type before its values
    pseudonym = _mapping(doc.get("pseudonym"), "pseudonym")
    key_env = pseudonym.get("key_env", Config.pseudonym_key_env)
    if not isinstance(key_env, str) or not key_env:
        raise ConfigError("pseudonym.key_env", "must name an environment variable")
    http = _http(_mapping(doc.get("http"), "http"))
    meta = _meta(_mapping(doc.get("meta"), "meta"))
    attachments = _mapping(doc.get("attachments"), "attachments")
    allowed = attachments.get("allowed_types", [])
    if not isinstance(allowed, list) or not all(isinstance(t, str) for t in allowed):
        raise ConfigError("attachments.allowed_types", "must be a list of types such as [document]")
    return Config(
        **store,
        **meta,
        allowed_attachment_types=frozenset(allowed),
        schedule=schedule,
        timezone=timezone,
        triage=parse_triage(doc.get("triage")),
        **_whole_numbers(doc),
        **http,
        pseudonym_key_env=key_env,
        messages=_messages(_mapping(doc.get("messages"), "messages")),
        raw=doc,
    )


def _store(store: Mapping[str, Any]) -> dict[str, str]:
    url = os.environ.get("GATEWAY_STORE_URL") or store.get("url", Config.store_url)
    if not isinstance(url, str) or not url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError("store.url", f"must start with memory:// or redis://, got {url!r}")
    prefix = store.get("prefix", Config.store_prefix)
    if not isinstance(prefix, str) or not prefix or any(ch in prefix for ch in "{}: "):
        raise ConfigError("store.prefix", "must be a short name without spaces, braces or colons")
    return {"store_url": url, "store_prefix": prefix}


def _meta(meta: Mapping[str, Any]) -> dict[str, str]:
    url = meta.get("graph_api_url", Config.graph_api_url)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError("meta.graph_api_url", "must be an http(s) URL")
    version = meta.get("graph_api_version", Config.graph_api_version)
    if not isinstance(version, str) or not version.startswith("v"):
        raise ConfigError("meta.graph_api_version", "must look like v25.0")
    return {"graph_api_url": url.rstrip("/"), "graph_api_version": version}


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; every problem is a ConfigError naming the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("(yaml)", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    return parse_config(raw)
