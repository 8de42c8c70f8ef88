"""config.yaml's shape as one strict schema: every section, key, type, range and list bound.

pydantic v2 models with `extra="forbid"` and strict types refuse by construction an unknown
key at any depth (`limits.widget_mesages_per_minute`), `"3"` or `yes` where a number is
wanted, a section that is not a mapping, a list past its bound. Each field defaults to None,
meaning "absent": `Config` holds every default, once (an explicit `null` is still refused, as
defaults are not validated but given values are). The schedule keys (timezone, opening_hours,
closures, public_holidays, last_admission_minutes) and `triage` keep their own parsers and
exact messages (schedule.py, closures.py, triage.py, which bound their own lists); here they
are only named, so a misspelt top-level key is refused too. `config_error` turns pydantic's
first error into the gateway's `ConfigError(dotted key, reason)`.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from gateway.domain.casework import (
    MAX_CARE_PAUSE_MINUTES,
    MAX_OPTIONS,
    check_dsa,
    check_label,
    check_ready_text,
    check_value,
)
from gateway.domain.errors import ConfigError
from gateway.domain.message_templates import MESSAGE_FIELDS, check_template
from gateway.domain.notice_options import check_decision_value, check_notice_label, check_offence_value
from gateway.domain.origins import normalise_origin

# List bounds (documented in the README's configuration table): far above any real helpline,
# low enough that a pasted or generated list cannot slow each request.
MAX_ORIGINS = 50  # per list, http.widget_origins and http.console_origins
MAX_ATTACHMENT_TYPES = 20
MAX_NAME_CHARS = 128  # prefix, environment variable names, API version
MAX_URL_CHARS = 2048

PLAIN_STORE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")
SENTINEL_SHAPE = "redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]"
_HOST_PORT = r"(?:\[[0-9A-Fa-f:.]+\]|[^\s,/:@\[\]]+):\d{1,5}"
CLUSTER_SHAPE = "redis+cluster://HOST:PORT[,HOST:PORT…]"
_CLUSTER_URL = re.compile(rf"redis\+cluster://(?:[^@/\s]*@)?{_HOST_PORT}(?:,{_HOST_PORT})*/?")
_SENTINEL_URL = re.compile(rf"redis\+sentinel://(?:[^@/\s]*@)?{_HOST_PORT}(?:,{_HOST_PORT})*/[^/\s?#]+(?:/\d+)?/?")


def whole(low: int, high: int) -> Any:
    """A whole number from `low` to `high` (a YAML `true` is not 1: the models are strict)."""
    return Annotated[int, Field(ge=low, le=high)]


def masked(url: str) -> str:
    """`url` with its userinfo hidden: an error message must never repeat a password."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def store_url_shape(url: str) -> str:
    """The shape of a store URL only; gateway/store/redis_client.parse_store_url is the parser."""
    if url.startswith(PLAIN_STORE_SCHEMES):
        return url
    if url.startswith("redis+sentinel://"):
        if _SENTINEL_URL.fullmatch(url):
            return url
        raise ValueError(f"{masked(url)!r} must read {SENTINEL_SHAPE}")
    if url.startswith("redis+cluster://"):
        if _CLUSTER_URL.fullmatch(url):
            return url
        raise ValueError(f"{masked(url)!r} must read {CLUSTER_SHAPE}")
    raise ValueError(f"must start with memory://, redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://, "
                     f"got {masked(url)!r}")


def _prefix(prefix: str) -> str:
    if not prefix or len(prefix) > MAX_NAME_CHARS or any(ch in prefix for ch in "{}: "):
        raise ValueError("must be a short name without spaces, braces or colons")
    return prefix


def _env_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError("must name an environment variable")
    return name


def _http_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URL_CHARS:
        raise ValueError("must be an http(s) URL")
    return url.rstrip("/")


def _api_version(version: str) -> str:
    if not re.fullmatch(r"v\d+(\.\d+)?", version):
        raise ValueError("must look like v25.0")
    return version


def _origin(entry: str) -> str:
    if normalise_origin(entry) is None:
        raise ValueError(f"{entry!r} is not an origin like https://www.3018.fr (scheme and host, no path, no *)")
    return entry


Origins = Annotated[list[Annotated[str, AfterValidator(_origin)]], Field(max_length=MAX_ORIGINS)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Store(Section):
    url: Annotated[str, AfterValidator(store_url_shape)] = None
    prefix: Annotated[str, AfterValidator(_prefix)] = None
    wait_replicas: whole(0, 5) = None  # replicas that must hold a write before it is acknowledged


class Routing(Section):
    max_conversations_per_counsellor: whole(1, 50) = None
    skill_wait_seconds: whole(0, 3600) = None


class Queue(Section):
    abandon_after_minutes: whole(1, 24 * 60) = None
    widget_leave_seconds: whole(1, 3600) = None
    left_frees_place_minutes: whole(0, 24 * 60) = None
    position_update_seconds: whole(6, 3600) = None


class Inactivity(Section):
    check_after_minutes: whole(1, 24 * 60) = None
    close_after_minutes: whole(1, 24 * 60) = None


class Limits(Section):
    widget_messages_per_minute: whole(1, 600) = None
    widget_sockets_per_address: whole(1, 1_000_000) = None
    widget_connects_per_minute: whole(1, 1_000_000) = None
    widget_idle_seconds: whole(1, 7 * 24 * 3600) = None
    new_conversations_per_minute: whole(1, 100_000) = None
    max_message_chars: whole(1, 10_000) = None
    dedupe_ttl_seconds: whole(60, 30 * 24 * 3600) = None


class Console(Section):
    session_hours: whole(1, 24 * 7) = None
    disconnect_grace_seconds: whole(0, 3600) = None
    idle_seconds: whole(10, 3600) = None  # the console sends a heartbeat every third of it


class Retention(Section):
    days: whole(1, 3650) = None
    sweep_seconds: whole(60, 24 * 3600) = None
    case_years: whole(1, 50) = None  # qualification records (casework), counted from the close


class Pseudonym(Section):
    key_env: Annotated[str, AfterValidator(_env_name)] = None


class Meta(Section):
    graph_api_url: Annotated[str, AfterValidator(_http_url)] = None
    graph_api_version: Annotated[str, AfterValidator(_api_version)] = None


class Attachments(Section):
    allowed_types: Annotated[list[str], Field(max_length=MAX_ATTACHMENT_TYPES)] = None


class Http(Section):
    tls: bool = None
    trust_proxy: bool = None
    widget_origins: Origins = None
    console_origins: Origins = None
    request_head_seconds: whole(1, 600) = None
    request_body_seconds: whole(1, 600) = None
    health_token_env: Annotated[str, AfterValidator(_env_name)] = None


# casework: the qualification lists (gateway/domain/casework.py checks them across lists).
Value = Annotated[str, AfterValidator(check_value)]
Label = Annotated[str, AfterValidator(check_label)]
ReadyText = Annotated[str, AfterValidator(check_ready_text)]


def bounded(item: Any) -> Any:
    return Annotated[list[item], Field(max_length=MAX_OPTIONS)]


class OptionEntry(Section):
    value: Value
    label: Label


class CategoryEntry(OptionEntry):
    chi: Label = None  # Child Helpline International data framework category
    dsa: Annotated[str, AfterValidator(check_dsa)] = None


class ReadyAnswerEntry(Section):
    key: Value
    label: Label
    text: ReadyText


class OrientationEntry(Section):
    command: Value
    label: Label
    outcome: Value
    text: ReadyText


class Casework(Section):
    caller: bounded(OptionEntry) = None
    age_band: bounded(OptionEntry) = None
    gender: bounded(OptionEntry) = None
    categories: bounded(CategoryEntry) = None
    platforms: bounded(OptionEntry) = None
    outcomes: bounded(OptionEntry) = None
    heavy_categories: bounded(Value) = None
    care_pause_minutes: whole(0, MAX_CARE_PAUSE_MINUTES) = None
    ready_answers: bounded(ReadyAnswerEntry) = None
    orientations: bounded(OrientationEntry) = None
    post_chat_question: bool = None


# notices: the trusted-flagger lists and statements (gateway/domain/notices.py checks them whole).
NoticeLabel = Annotated[str, AfterValidator(check_notice_label)]
MAX_STATEMENT_CHARS = 2000


def _statement(text: str) -> str:
    if not text.strip() or len(text) > MAX_STATEMENT_CHARS:
        raise ValueError(f"must be a non-empty text of at most {MAX_STATEMENT_CHARS} characters")
    return text


def _email(address: str) -> str:
    if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}", address):
        raise ValueError(f"{address!r} is not an e-mail address")
    return address


Statement = Annotated[str, AfterValidator(_statement)]


class PlatformEntry(Section):
    value: Value
    label: Label
    provider: Label  # the legal entity the annual report names (Meta Platforms Ireland Ltd)
    reminder_hours: whole(1, 24 * 30) = None


class OffenceEntry(Section):
    value: Annotated[str, AfterValidator(check_offence_value)]
    label: NoticeLabel
    csam_or_solicitation: bool = None  # Directive 2011/93/EU: the notifier's identity is left out


class DecisionEntry(Section):
    value: Annotated[str, AfterValidator(check_decision_value)]
    label: Label


class Notifier(Section):
    name: Label = None
    email: Annotated[str, AfterValidator(_email)] = None


class Notices(Section):
    platforms: bounded(PlatformEntry) = None
    content_kinds: bounded(OptionEntry) = None
    offences: bounded(OffenceEntry) = None
    decisions: bounded(DecisionEntry) = None
    notifier: Notifier = None
    good_faith: Statement = None
    independence: Statement = None
    appeal_months: whole(6, 36) = None  # Art. 20(1) DSA: at least six months
    keep_days_after_close: whole(0, 3650) = None


# One field per automatic message, each checked against the placeholders it knows.
Messages = create_model(  # type: ignore[call-overload]
    "Messages", __base__=Section,
    **{name: (Annotated[str, AfterValidator(partial(check_template, name))], None) for name in MESSAGE_FIELDS},
)


class ConfigFile(Section):
    """The whole document. `Any` fields are validated by their own parsers (see the docstring)."""

    timezone: Any = None
    opening_hours: Any = None
    closures: Any = None
    public_holidays: Any = None
    last_admission_minutes: Any = None
    triage: Any = None
    store: Store = None
    routing: Routing = None
    queue: Queue = None
    inactivity: Inactivity = None
    limits: Limits = None
    console: Console = None
    retention: Retention = None
    pseudonym: Pseudonym = None
    meta: Meta = None
    attachments: Attachments = None
    http: Http = None
    casework: Casework = None
    notices: Notices = None
    messages: Messages = None  # type: ignore[valid-type]


TOP_LEVEL_KEYS = frozenset(ConfigFile.model_fields)
SECTIONS = tuple(name for name, info in ConfigFile.model_fields.items() if info.annotation is not Any)


def validate_document(raw: Any) -> ConfigFile:
    """The document checked against the schema; the first problem as a ConfigError."""
    try:
        return ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc) from None
    except RecursionError:
        raise ConfigError("(top level)", "nested too deeply") from None


# --- pydantic's errors, in the words of the old hand-written checks ---------------------------
_REASONS = {
    "int_type": "must be a whole number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "string_type": "must be a text, got {input!r}",
    "list_type": "must be a list, got {input!r}",
    "too_long": "must have at most {max_length} entries, got {actual_length}",
    "invalid_key": "is not a text key; quote it (YAML reads yes/no/on/off as true/false and 2026 as a number)",
    "missing": "missing",
}


def config_error(exc: ValidationError) -> ConfigError:
    """The first of pydantic's errors as ConfigError(dotted key, reason)."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    if error["type"] == "invalid_key":  # pydantic reads the key `true` as 1: name it as written
        loc = loc[:-1] + (str(error["input"]),)
    return ConfigError(dotted(loc) or "(top level)", _reason(error, loc))


def dotted(loc: tuple[Any, ...]) -> str:
    """('http', 'widget_origins', 0) → http.widget_origins[0]."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) and key else f".{part}"
    return key.removeprefix(".")


def _reason(error: Any, loc: tuple[Any, ...]) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "extra_forbidden":
        return f"unknown key; known: {', '.join(sorted(_model_at(loc[:-1]).model_fields))}"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(loc)
        return f"must be between {low} and {high}, got {value}"
    if kind == "model_type":
        return f"must be a mapping of settings, got {'nothing (an empty section)' if value is None else repr(value)}"
    if kind in _REASONS:
        return _REASONS[kind].format(input=value, **ctx)
    return error["msg"]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = ConfigFile
    for part in loc:
        if isinstance(part, int):
            continue  # an entry of a list (casework): its model was taken with the list
        model = _entry_model(model.model_fields[part].annotation)
    return model


def _entry_model(annotation: Any) -> Any:
    """`list[Entry]` (possibly Annotated) → Entry; anything else as it is."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_args(annotation)[0] if get_origin(annotation) is list else annotation


def _bounds(loc: tuple[Any, ...]) -> tuple[Any, Any]:
    info = _model_at(loc[:-1]).model_fields[loc[-1]]
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    return low, high
