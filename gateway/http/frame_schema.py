"""The shape of every frame a widget or a console may send: one small schema per frame type.

A frame is read whole against its schema before any store call: a field of the wrong type or
out of range is refused with its own `error` code and nothing is done (a widget `hello` with
`last_seq: true` or 2^63 once killed the handler on Redis). What the values mean (whose
conversation, how long a text may be) stays the core's. Keys a schema does not name are
ignored, as before. Used by both sockets (connectors/web_widget.py, http/console_socket.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from gateway.core.survey import ANSWER_VALUES as SURVEY_ANSWERS
from gateway.domain.errors import ProtocolError

MAX_ID = 64
MAX_SEQ = 2**31 - 1  # far beyond any conversation, and always a valid Redis list index
MAX_MISSING = 256  # seqs a widget may say it lacks (`hello.missing`)
MAX_RESUMED = 200  # conversations one console `resume` may name
ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # client ids, conversation, counsellor and mark ids

Check = Callable[[object], bool]


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


def is_flag(value: object) -> bool:
    return isinstance(value, bool)


def is_text(value: object) -> bool:  # emptiness, length and control characters: domain/texts.clean_text
    return isinstance(value, str)


def text_of(max_chars: int) -> Check:
    """A string of 1..max_chars characters (control characters: domain/texts.clean_text)."""
    def check(value: object) -> bool:
        return isinstance(value, str) and 1 <= len(value) <= max_chars and not value.isspace()
    return check


def one_of(values: Collection) -> Check:
    def check(value: object) -> bool:
        return isinstance(value, (str, int)) and not isinstance(value, bool) and value in values
    return check


def is_follow_up_code(value: object) -> bool:  # what it must look like: core/returning.normal_code
    return isinstance(value, str) and 1 <= len(value) <= 32


def seq_list(value: object) -> bool:
    return isinstance(value, list) and len(value) <= MAX_MISSING and all(is_seq(v) and v > 0 for v in value)


def seq_by_conversation(value: object) -> bool:
    return isinstance(value, dict) and len(value) <= MAX_RESUMED and \
        all(is_id(k) and is_seq(v) for k, v in value.items())


@dataclass(frozen=True)
class Field:
    """One field of a frame: its check, the error code when it fails, and whether it may be absent."""

    check: Check
    code: str
    required: bool = True
    nullable: bool = False  # null is as good as absent


def optional(check: Check, code: str) -> Field:
    return Field(check, code, required=False, nullable=True)


Schema = dict[str, Field]


def read_frame(schemas: dict[str, Schema], frame: object, messages: dict[str, str]) -> tuple[str, dict]:
    """(type, the named fields present) of a valid frame, else ProtocolError with the first
    failing field's code; `messages` gives each code its French text (key "" by default)."""
    if not isinstance(frame, dict):
        raise ProtocolError("bad_frame", messages.get("bad_frame", messages[""]))
    kind = frame.get("type")
    schema = schemas.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise ProtocolError("unknown_type", messages.get("unknown_type", messages[""]))
    fields = {}
    for name, spec in schema.items():
        value = frame.get(name)
        if value is None and (name not in frame or spec.nullable):
            if spec.required:
                raise ProtocolError(spec.code, messages.get(spec.code, messages[""]))
            continue
        if not spec.check(value):
            raise ProtocolError(spec.code, messages.get(spec.code, messages[""]))
        fields[name] = value
    return kind, fields


# --- the widget (docs/protocol.md, "Widget") ----------------------------------------------------

PING: Schema = {}  # `id` is echoed if it is a short string, else null: never refused (ping_id)

WIDGET_HELLO: Schema = {
    # `token`: anything but one of ours gets a fresh token (a teen's stale tab), so not checked here.
    "last_seq": optional(is_seq, "bad_hello"),
    "missing": optional(seq_list, "bad_hello"),
}
WIDGET_FRAMES: dict[str, Schema] = {
    "message": {"client_id": Field(is_id, "bad_client_id"), "text": Field(is_text, "bad_text")},
    "typing": {"active": Field(is_flag, "bad_frame")},
    "end": {},
    "ping": PING,
    "follow_up_code": {},  # after the end: a code to give next time (core/returning)
    "survey_answer": {"value": Field(one_of(SURVEY_ANSWERS), "bad_frame")},  # the post-chat question (core/survey)
}

# --- the console (docs/protocol.md, "Console") ----------------------------------------------------

CONVERSATION = Field(is_id, "bad_conversation_id")
PRESENCES = ("available", "paused", "offline")
ABUSE_HOURS = (24, 168)
MAX_NOTE_CHARS = 1000  # an internal note (as a transfer's note)

CONSOLE_FRAMES: dict[str, Schema] = {
    "presence": {"presence": Field(one_of(PRESENCES), "bad_presence")},
    "open": {"conversation_id": CONVERSATION},
    "reply": {"conversation_id": CONVERSATION, "client_id": Field(is_id, "bad_client_id"),
              "text": Field(is_text, "bad_text")},
    "typing": {"conversation_id": CONVERSATION, "active": Field(is_flag, "bad_frame")},
    "close": {"conversation_id": CONVERSATION},
    "ping": PING,
    "heartbeat": {},  # the page is there (console/shared.js, every init.heartbeat_seconds); no answer
    "team": {},
    "transfer": {"conversation_id": CONVERSATION, "to_counsellor": optional(is_id, "bad_target"),
                 "to_skill": optional(is_text, "bad_target"), "note": optional(is_text, "bad_text")},
    "mark_abusive": {"conversation_id": CONVERSATION, "hours": Field(one_of(ABUSE_HOURS), "bad_duration")},
    "erase": {"conversation_id": CONVERSATION},
    "lift_abuse": {"mark_id": Field(is_id, "unknown_mark")},
    "reassign": {"conversation_id": CONVERSATION, "to_counsellor": optional(is_id, "bad_target")},  # absent: the core says
    "resume": {"conversations": Field(seq_by_conversation, "bad_resume")},
    # An internal note at any time (core/casework.add_note): never to the teen.
    "note": {"conversation_id": CONVERSATION, "text": Field(text_of(MAX_NOTE_CHARS), "bad_note")},
    # A returning teen (core/returning): an earlier conversation read-only; a follow-up code typed in.
    "open_earlier": {"conversation_id": CONVERSATION, "earlier_id": Field(is_id, "bad_conversation_id")},
    "link_earlier": {"conversation_id": CONVERSATION, "code": Field(is_follow_up_code, "bad_code")},
    # Care for counsellors (core/care): is a pause offered after this closed conversation; take it.
    "care_offer": {"conversation_id": CONVERSATION},
    "care_pause": {},
}
