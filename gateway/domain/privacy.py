"""A young person's rights (GDPR Art. 15 and 17): what a search may be asked, and what an export shows.

Pure rules, shared by the CLI (`python -m gateway privacy …`) and the console's JSON routes:
- a search is one of: a platform id on one channel (a phone number, a PSID), a pseudonym
  ("Jeune 4821", optionally since a day), or a widget follow-up code; `parse_find` checks it
  and says in French what is wrong;
- a WhatsApp number is brought to the form Meta sends in `from` (international digits, no
  "+"), so "+33 6 12 34 56 78", "0612345678" and "33612345678" find the same teen: the search
  hashes it with the pseudonym key exactly as the intake hashed Meta's `from`;
- an export holds the lines the teen saw (the caller filters with core.teen.shown_to_teen: no
  internal note ever), each with its time in Europe/Paris and, for ours, the écoutant·e's
  display name only: no account id or username, no platform id, no priority reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import orjson

from gateway.domain.errors import FieldRefused, Refused
from gateway.domain.model import Author, Channel, Conversation, Delivery, Message

PARIS = ZoneInfo("Europe/Paris")
FORMATS = ("txt", "json")
ID_CHANNELS = (Channel.WHATSAPP, Channel.MESSENGER)  # the widget has no platform id: its teen has a code
FRENCH_TRUNK = "33"  # a national number typed "06 12 34 56 78" is French: the helpline is
REACHED = frozenset({Delivery.SENT, Delivery.DELIVERED, Delivery.READ})
_SEPARATORS = re.compile(r"[\s.\-/()]+")
_ALIAS = re.compile(r"^(?:jeune\s*)?(\d{4})$", re.IGNORECASE)
_PSID = re.compile(r"^\d{5,32}$")
_BSUID = re.compile(r"^[A-Za-z0-9._:-]{6,128}$")  # WhatsApp's business-scoped user id (no number)
CHANNEL_LABELS = {Channel.WEB: "tchat du site", Channel.MESSENGER: "Messenger", Channel.WHATSAPP: "WhatsApp"}


class PrivacyRefused(FieldRefused):
    """A search or an export refused as asked (`field` names the input)."""

    code = "bad_privacy_request"


class ErasedConversation(Refused):
    """An export of a conversation already erased: nothing is left to give."""

    code = "erased"
    http_status = 410


ERASED = ("Cette conversation a été effacée : ses messages n'existent plus, "
          "il n'y a rien à exporter.")
UNKNOWN = "Conversation inconnue."


@dataclass(frozen=True)
class ByPlatformId:
    channel: Channel
    platform_id: str  # normalised; hashed at once by the caller, never stored or logged


@dataclass(frozen=True)
class ByAlias:
    alias: str  # "Jeune 4821"
    since: date | None = None


@dataclass(frozen=True)
class ByCode:
    code: str  # as typed; core.returning.normal_code checks it


FindQuery = ByPlatformId | ByAlias | ByCode


def whatsapp_number(typed: str) -> str | None:
    """A phone number as Meta writes `from` (country code + number, digits only), or None."""
    raw = _SEPARATORS.sub("", typed)
    if raw.startswith("+"):
        raw = raw[1:]
    elif raw.startswith("00"):
        raw = raw[2:]
    elif len(raw) == 10 and raw.startswith("0"):
        raw = FRENCH_TRUNK + raw[1:]
    return raw if raw.isdigit() and 8 <= len(raw) <= 15 else None  # E.164: at most 15 digits


def normal_platform_id(channel: Channel, typed: object) -> str:
    """The id as the intake received it from Meta, so its keyed hash is the same."""
    if not isinstance(typed, str) or not typed.strip() or len(typed) > 128:
        raise PrivacyRefused("id", "Indiquez le numéro de téléphone ou l'identifiant Messenger (PSID).")
    typed = typed.strip()
    if channel is Channel.WHATSAPP:
        number = whatsapp_number(typed)
        if number is not None:
            return number
        if _BSUID.fullmatch(typed) and any(ch.isalpha() for ch in typed):
            return typed  # a teen who hides their number is known by this id (whatsapp_parse._sender)
        raise PrivacyRefused("id", "Numéro WhatsApp illisible : par exemple +33 6 12 34 56 78.")
    if _PSID.fullmatch(typed):
        return typed
    raise PrivacyRefused("id", "Un identifiant Messenger (PSID) ne contient que des chiffres.")


def normal_alias(typed: object) -> str:
    match = _ALIAS.fullmatch(typed.strip()) if isinstance(typed, str) and len(typed) <= 40 else None
    if match is None:
        raise PrivacyRefused("alias", "Pseudonyme attendu sous la forme « Jeune 4821 ».")
    return f"Jeune {match.group(1)}"


def parse_since(typed: object) -> date | None:
    if typed is None or typed == "":
        return None
    try:
        return date.fromisoformat(typed) if isinstance(typed, str) and len(typed) == 10 else _bad_since()
    except ValueError:
        return _bad_since()


def _bad_since() -> date:
    raise PrivacyRefused("since", "Date attendue sous la forme AAAA-MM-JJ.")


def parse_find(body: object) -> FindQuery:
    """One search: {channel, id} | {alias, since?} | {code}; exactly one of the three."""
    if not isinstance(body, dict):
        raise PrivacyRefused("body", "Recherche attendue : {channel, id}, {alias} ou {code}.")
    given = [name for name in ("id", "alias", "code") if body.get(name) not in (None, "")]
    if len(given) != 1:
        raise PrivacyRefused("body", "Cherchez par un seul critère : numéro ou PSID, pseudonyme, ou code de suivi.")
    if given == ["alias"]:
        return ByAlias(normal_alias(body["alias"]), parse_since(body.get("since")))
    if given == ["code"]:
        if not isinstance(body["code"], str) or len(body["code"]) > 32:
            raise PrivacyRefused("code", "Code de suivi illisible (6 caractères, par exemple 7K4-2QX).")
        return ByCode(body["code"])
    channel = next((c for c in ID_CHANNELS if c.value == body.get("channel")), None)
    if channel is None:
        raise PrivacyRefused("channel", "Canal attendu : whatsapp ou messenger.")
    return ByPlatformId(channel, normal_platform_id(channel, body["id"]))


def parse_format(typed: object) -> str:
    if typed in FORMATS:
        return typed  # type: ignore[return-value]
    raise PrivacyRefused("format", "Format inconnu (txt ou json).")


# --- what a search shows ----------------------------------------------------------------------------

def paris(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=PARIS)


def paris_midnight(day: date) -> float:
    """The start of `day` in Paris, as epoch seconds (a `--since` search)."""
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).timestamp()


def iso(ts: float | None) -> str | None:
    return None if ts is None else paris(ts).isoformat(timespec="seconds")


def french_time(ts: float | None) -> str:
    return "—" if ts is None else paris(ts).strftime("%d/%m/%Y %H:%M")


def found_view(conversation: Conversation) -> dict:
    """One result: ids, channel, pseudonym, times, state, erased or not (never a platform id)."""
    return {"id": conversation.id, "channel": conversation.channel.value, "alias": conversation.alias,
            "opened_at": iso(conversation.opened_at), "closed_at": iso(conversation.closed_at),
            "state": conversation.state.value, "erased": conversation.erased_at is not None,
            "erased_at": iso(conversation.erased_at)}


def found_line(view: dict) -> str:
    """The CLI's line for one result (tab-separated: easy to read, easy to cut)."""
    erased = "effacée" if view["erased"] else "non effacée"
    return "\t".join([view["id"], view["channel"], view["alias"], view["opened_at"] or "-",
                      view["closed_at"] or "-", view["state"], erased])


def newest_first(conversations: list[Conversation]) -> list[Conversation]:
    unique = {c.id: c for c in conversations}
    return sorted(unique.values(), key=lambda c: (c.opened_at, c.id), reverse=True)


# --- the export (Art. 15) ---------------------------------------------------------------------------

def _who(message: Message) -> str:
    return {Author.TEEN: "jeune", Author.COUNSELLOR: "ecoutant", Author.SYSTEM: "automatique"}[message.author]


def _reached(conversation: Conversation, message: Message) -> bool:
    """On Messenger/WhatsApp a line of ours that never left (window closed, refused) did not reach
    the teen: kept in the export, marked, since it is still data held about them."""
    if conversation.channel is Channel.WEB or message.author is Author.TEEN:
        return True
    return message.delivery in REACHED


def export_document(conversation: Conversation, lines: list[Message]) -> dict:
    """The json export; `lines` already hold only what the teen may see (no notes)."""
    if any(m.author is Author.NOTE for m in lines):
        raise ValueError("an internal note cannot be exported")  # the caller filters: a bug, not data
    return {
        "conversation": {"id": conversation.id, "channel": conversation.channel.value,
                         "pseudonyme": conversation.alias, "ouverte_le": iso(conversation.opened_at),
                         "terminee_le": iso(conversation.closed_at), "fuseau": "Europe/Paris"},
        "messages": [{"at": iso(m.at), "from": _who(m),
                      "name": m.author_name if m.author is Author.COUNSELLOR else None,
                      "text": m.text, "received": _reached(conversation, m)} for m in lines],
    }


def _speaker(entry: dict) -> str:
    if entry["from"] == "jeune":
        return "Toi"
    if entry["from"] == "ecoutant":
        return entry["name"] or "L'écoutant·e"
    return "Message automatique du 3018"


def export_text(document: dict) -> str:
    """The txt export, in French, for a teen or a parent to read."""
    head = document["conversation"]
    lines = [
        "Ta conversation avec le 3018",
        "============================",
        f"Canal : {CHANNEL_LABELS[Channel(head['channel'])]}",
        f"Pseudonyme donné par le 3018 : {head['pseudonyme']}",
        f"Commencée le : {french_time(_ts(head['ouverte_le']))}",
        f"Terminée le : {french_time(_ts(head['terminee_le']))}",
        "Heures de Paris. Les notes internes des écoutant·es ne font pas partie de ce que tu as reçu.",
        "",
        "Messages",
        "--------",
    ]
    for entry in document["messages"]:
        mark = "" if entry["received"] else " (non reçu)"
        lines.append(f"[{french_time(_ts(entry['at']))}] {_speaker(entry)}{mark} :")
        lines.extend(f"  {part}" for part in (entry["text"] or "").splitlines() or [""])
    if not document["messages"]:
        lines.append("(aucun message)")
    return "\n".join(lines) + "\n"


def _ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def render_export(document: dict, output_format: str) -> str:
    if output_format == "json":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    return export_text(document)
