"""Trusted-flagger notices (issue #13; DSA Art. 16, 20, 22): the notice, its moves, its export.

The `notices:` section's shape (`NoticeOptions`, `DEFAULT_NOTICES`) is notice_options.py's,
re-exported here. This module owns the parsing of a counsellor's notice (`parse_new_notice`,
`parse_edit`: French refusals naming the field), the forward-only life of a notice (`move`: brouillon →
envoye → accuse_reception → decision, then the Art. 20 appeal), the Art. 16(2) export
(`notice_document`) and when its personal data is erased (`erase_due_at`). Pure: no I/O.

A notice's locations, explanation, facts dates and evidence description are the victim's
personal data; everything else (platform, kind, offence, category, states, times) is anonymous
and stays for the Art. 22(3) report after `erased`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.domain.casework import DSA_CATEGORIES
from gateway.domain.errors import NoticeConflict, NoticeRefused
from gateway.domain.notice_options import (
    DECISIONS,
    DEFAULT_NOTICES,
    MAX_NOTICE_LABEL_CHARS,
    OFFENCE_VALUE,
    NoticeOptions,
    Offence,
    Platform,
    check_decision_value,
    check_notice_label,
    check_notice_options,
    check_offence_value,
    notice_options_from,
)

# The section's names, re-exported: one import for the notice's users.
__all__ = ["DECISIONS", "DEFAULT_NOTICES", "MAX_NOTICE_LABEL_CHARS", "OFFENCE_VALUE", "NoticeOptions", "Offence",
           "Platform", "check_decision_value", "check_notice_label", "check_notice_options", "check_offence_value",
           "notice_options_from"]

# --- states, decisions ---------------------------------------------------------------------
STATES = ("brouillon", "envoye", "accuse_reception", "decision")
REMOVAL_DECISIONS = frozenset({"retire", "restreint", "compte_suspendu"})  # content acted on
APPEALS = ("depose", "accepte", "rejete")
MANUAL_CHANNEL = "manuel"  # platforms' intake is manual today: the counsellor sends and records it
DEFAULT_DSA = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"

MAX_LOCATIONS = 20
MAX_URL_CHARS = 2048
MAX_IDENTIFIER_CHARS = 200
MIN_EXPLANATION_CHARS = 10  # Art. 22(6): imprecise notices cost the status; a word is not an explanation
MAX_EXPLANATION_CHARS = 4000
MAX_FACTS_DATES_CHARS = 200
MAX_EVIDENCE_CHARS = 1000
MAX_CHANNEL_CHARS = 80
MAX_TICKET_CHARS = 120

_IDENTIFIER = re.compile(rf"[^\s/\\<>\"']{{1,{MAX_IDENTIFIER_CHARS}}}")  # @pseudo, 1234567890, user#0001
_DISCORD_HOSTS = frozenset({"discord.com", "www.discord.com", "ptb.discord.com", "canary.discord.com"})
_DISCORD_MESSAGE = re.compile(r"/channels/(\d{1,20}|@me)/(\d{1,20})/(\d{1,20})/?")
_DISCORD_USER = re.compile(r"/users/\d{1,20}/?")

EXEMPTION_STATEMENT = ("Identité et adresse du notifiant omises : la notification porte sur une infraction "
                       "visée aux articles 3 à 7 de la directive 2011/93/UE (article 16, paragraphe 2, "
                       "point c), du règlement (UE) 2022/2065).")


# --- time ------------------------------------------------------------------------------------
def add_months(t: float, months: int) -> float:
    """`t` plus calendar months in UTC (31 August + 6 months = 28/29 February)."""
    moment = datetime.fromtimestamp(t, UTC)
    year, month0 = divmod(moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(moment.year + year, month0 + 1)[1])
    return moment.replace(year=moment.year + year, month=month0 + 1, day=day).timestamp()


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _hours(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start) / 3600, 2)


# --- the notice --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    """One notice to one platform, and what became of it."""

    id: str
    conversation_id: str
    counsellor_id: str
    platform: str
    content_kind: str
    offence: str
    dsa_category: str
    created_at: float
    identity_exempt: bool = False  # Art. 16(2)(c): fixed from the offence when parsed
    locations: tuple[str, ...] = field(default=(), repr=False)  # personal data: erased
    explanation: str = field(default="", repr=False)  # personal data: erased
    facts_dates: str | None = field(default=None, repr=False)  # personal data: erased
    evidence: str | None = field(default=None, repr=False)  # personal data: erased
    consent: bool = True
    state: str = "brouillon"
    channel: str | None = None
    ticket_id: str | None = field(default=None, repr=False)
    decision: str | None = None
    decided_at: float | None = None
    automated: bool | None = None  # Art. 16(6): the platform says it decided by automated means
    appeal: str | None = None
    sent_at: float | None = None
    acknowledged_at: float | None = None
    appeal_at: float | None = None
    erased_at: float | None = None

    @property
    def hours_to_ack(self) -> float | None:
        return _hours(self.sent_at, self.acknowledged_at)

    @property
    def hours_to_removal(self) -> float | None:
        """Sent to acted on; None unless the platform removed, restricted or suspended."""
        return _hours(self.sent_at, self.decided_at) if self.decision in REMOVAL_DECISIONS else None

    def appeal_until(self, appeal_months: int) -> float | None:
        """The end of the Art. 20 window (None before a decision)."""
        return None if self.decided_at is None else add_months(self.decided_at, appeal_months)

    def view(self, appeal_months: int = DEFAULT_NOTICES.appeal_months) -> dict:
        """The API's JSON (times in ms since the epoch, durations in hours)."""
        return {"id": self.id, "conversation_id": self.conversation_id, "counsellor_id": self.counsellor_id,
                "platform": self.platform, "content_kind": self.content_kind, "locations": list(self.locations),
                "offence": self.offence, "dsa_category": self.dsa_category, "explanation": self.explanation,
                "facts_dates": self.facts_dates, "evidence": self.evidence, "consent": self.consent,
                "state": self.state, "channel": self.channel, "ticket_id": self.ticket_id,
                "decision": self.decision, "decided_at": _ms(self.decided_at), "automated": self.automated,
                "appeal": self.appeal, "created_at": _ms(self.created_at), "sent_at": _ms(self.sent_at),
                "acknowledged_at": _ms(self.acknowledged_at), "appeal_at": _ms(self.appeal_at),
                "erased_at": _ms(self.erased_at), "hours_to_ack": self.hours_to_ack,
                "hours_to_removal": self.hours_to_removal, "appeal_until": _ms(self.appeal_until(appeal_months)),
                "identity_exempt": self.identity_exempt}

    def record(self) -> dict:
        """The stored form (seconds as floats), read back by `from_record`."""
        return {"id": self.id, "conversation_id": self.conversation_id, "counsellor_id": self.counsellor_id,
                "platform": self.platform, "content_kind": self.content_kind, "offence": self.offence,
                "dsa_category": self.dsa_category, "created_at": self.created_at,
                "identity_exempt": self.identity_exempt, "locations": list(self.locations),
                "explanation": self.explanation, "facts_dates": self.facts_dates, "evidence": self.evidence,
                "consent": self.consent, "state": self.state, "channel": self.channel,
                "ticket_id": self.ticket_id, "decision": self.decision, "decided_at": self.decided_at,
                "automated": self.automated, "appeal": self.appeal, "sent_at": self.sent_at,
                "acknowledged_at": self.acknowledged_at, "appeal_at": self.appeal_at, "erased_at": self.erased_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Notice:
        return cls(**{**record, "locations": tuple(record.get("locations", ()))})


# --- parsing a counsellor's notice -------------------------------------------------------------
NOTICE_FIELDS = ("platform", "content_kind", "locations", "offence", "dsa_category", "explanation",
                 "facts_dates", "evidence", "consent")
FIELD_NAMES_FR = {"platform": "Plateforme", "content_kind": "Type de contenu", "locations": "Emplacements",
                  "offence": "Infraction", "dsa_category": "Catégorie DSA", "explanation": "Explication",
                  "facts_dates": "Dates des faits", "evidence": "Preuves conservées", "consent": "Accord"}


def _choice(body: Mapping[str, Any], name: str, allowed: Iterable[str], unknown: str) -> str:
    value = body.get(name)
    if value is None:
        raise NoticeRefused(name, f"{FIELD_NAMES_FR[name]} : champ obligatoire.")
    if not isinstance(value, str) or value not in set(allowed):
        raise NoticeRefused(name, f"{unknown} : {str(value)[:40]}.")
    return value


def _text(body: Mapping[str, Any], name: str, limit: int, *, at_least: int = 0) -> str | None:
    """A free text as typed, control characters removed; None when absent or blank (optional)."""
    value = body.get(name)
    what = FIELD_NAMES_FR[name]
    if value is None or (isinstance(value, str) and not value.strip() and not at_least):
        if at_least:
            raise NoticeRefused(name, f"{what} : champ obligatoire.")
        return None
    if not isinstance(value, str):
        raise NoticeRefused(name, f"{what} : un texte est attendu.")
    kept = "".join(ch for ch in value if ch in "\n\t" or ord(ch) >= 32 and ord(ch) != 127).strip()
    if len(kept) > limit:
        raise NoticeRefused(name, f"{what} : {limit} caractères au plus ({len(kept)} saisis).")
    if len(kept) < at_least:
        raise NoticeRefused(name, f"{what} : {at_least} caractères au moins, pour que la plateforme "
                                  f"comprenne pourquoi le contenu est illégal.")
    return kept


def check_location(location: str, platform: str) -> str:
    """One location: an http(s) URL, or the platform's identifier (@pseudo, an account id).
    Discord: a discord.com link must be a message link (server/channel/message ids) or a user's."""
    where = location.strip()
    if not where:
        raise NoticeRefused("locations", "Emplacements : un emplacement est vide.")
    if where.lower().startswith(("http://", "https://")):
        return _check_url(where, platform)
    if "://" in where or where.lower().startswith("www.") or not _IDENTIFIER.fullmatch(where):
        raise NoticeRefused("locations", f"Emplacements : « {where[:60]} » n'est ni une adresse web complète "
                                         f"(https://…) ni un identifiant (@pseudo, numéro de compte).")
    return where


def _check_url(url: str, platform: str) -> str:
    if len(url) > MAX_URL_CHARS:
        raise NoticeRefused("locations", f"Emplacements : une adresse web a {MAX_URL_CHARS} caractères au plus.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", None
    if parts is None or not host or "." not in host or any(ch.isspace() for ch in url):
        raise NoticeRefused("locations", f"Emplacements : « {url[:60]} » n'est pas une adresse web valide.")
    if platform == "discord" and host in _DISCORD_HOSTS and not (
            _DISCORD_MESSAGE.fullmatch(parts.path) or _DISCORD_USER.fullmatch(parts.path)):
        raise NoticeRefused("locations", "Emplacements : un lien Discord doit être le lien du message "
                                         "(https://discord.com/channels/<serveur>/<salon>/<message>, clic droit "
                                         "sur le message, « Copier le lien du message ») ou celui du compte.")
    return url


def _locations(body: Mapping[str, Any], platform: str) -> tuple[str, ...]:
    values = body.get("locations")
    if values is None or values == []:
        raise NoticeRefused("locations", "Emplacements : indiquez au moins une adresse ou un identifiant.")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise NoticeRefused("locations", "Emplacements : une liste d'adresses est attendue.")
    if len(values) > MAX_LOCATIONS:
        raise NoticeRefused("locations", f"Emplacements : {MAX_LOCATIONS} au plus par signalement "
                                         f"(faites-en un autre pour les suivants).")
    checked = tuple(check_location(v, platform) for v in values)
    if len(set(checked)) != len(checked):
        raise NoticeRefused("locations", "Emplacements : une adresse est donnée deux fois.")
    return checked


def _dsa(body: Mapping[str, Any], default_dsa: str) -> str:
    value = body.get("dsa_category")
    if value is None:
        return default_dsa
    if not isinstance(value, str) or value not in DSA_CATEGORIES:
        raise NoticeRefused("dsa_category", f"Catégorie DSA inconnue : {str(value)[:60]}.")
    return value


def _consent(body: Mapping[str, Any]) -> bool:
    if body.get("consent") is not True:
        raise NoticeRefused("consent", "Accord : le ou la jeune (ou son parent) doit avoir donné son accord "
                                       "au signalement.")
    return True


def _known_keys(body: object, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise NoticeRefused("body", "Le signalement doit être un objet JSON.")
    allowed = set(allowed)
    for key in body:
        if key not in allowed:
            raise NoticeRefused(str(key)[:40], f"Champ inconnu : {str(key)[:40]}.")
    return body


def parse_new_notice(body: object, options: NoticeOptions, default_dsa: str = DEFAULT_DSA) -> dict[str, Any]:
    """A new notice's fields (Notice's keyword arguments) as the console sends them, or
    NoticeRefused(field, French). `default_dsa`: from the conversation's qualification."""
    body = _known_keys(body, NOTICE_FIELDS)
    platform = _choice(body, "platform", options.values("platforms"), "Plateforme inconnue")
    offence = _choice(body, "offence", options.values("offences"), "Infraction inconnue")
    return {
        "platform": platform,
        "content_kind": _choice(body, "content_kind", options.values("content_kinds"), "Type de contenu inconnu"),
        "locations": _locations(body, platform),
        "offence": offence,
        "identity_exempt": options.offence(offence).csam_or_solicitation,  # type: ignore[union-attr]
        "dsa_category": _dsa(body, default_dsa),
        "explanation": _text(body, "explanation", MAX_EXPLANATION_CHARS, at_least=MIN_EXPLANATION_CHARS),
        "facts_dates": _text(body, "facts_dates", MAX_FACTS_DATES_CHARS),
        "evidence": _text(body, "evidence", MAX_EVIDENCE_CHARS),
        "consent": _consent(body),
    }


def parse_edit(body: object, options: NoticeOptions, notice: Notice) -> Notice:
    """`notice` with the given fields changed (a draft only), every field checked as on creation."""
    body = _known_keys(body, NOTICE_FIELDS)
    if notice.state != "brouillon":
        raise NoticeConflict("Le signalement a été envoyé : il ne peut plus être modifié.")
    if notice.erased_at is not None:
        raise NoticeConflict("Le contenu de ce signalement a été effacé (durée de conservation dépassée).")
    merged = {**{k: v for k, v in notice.view().items() if k in NOTICE_FIELDS}, **body}
    return replace(notice, **parse_new_notice(merged, options, notice.dsa_category))


# --- moves ---------------------------------------------------------------------------------------
MOVE_KEYS = {"envoye": {"state", "channel", "ticket_id"}, "accuse_reception": {"state"},
             "decision": {"state", "decision", "decided_at", "automated"}}


def is_move(body: object) -> bool:
    """A PATCH body moves the notice (state or appeal) rather than editing a draft."""
    return isinstance(body, dict) and ("state" in body or "appeal" in body)


def move(notice: Notice, body: object, now: float, options: NoticeOptions = DEFAULT_NOTICES) -> Notice:
    """The notice one step further, or NoticeConflict (a skip, a step back, a closed window) /
    NoticeRefused (a malformed field). Forward only: the report counts each step once. One skip
    is allowed: envoye → decision `sans_reponse` (a platform that never even acknowledged)."""
    if isinstance(body, dict) and "appeal" in body:
        return _appeal(notice, _known_keys(body, {"appeal"}), now, options)
    if not isinstance(body, dict) or body.get("state") not in STATES:
        raise NoticeRefused("state", f"État inconnu : {str(body.get('state') if isinstance(body, dict) else '')[:40]}.")
    target = body["state"]
    here, there = STATES.index(notice.state), STATES.index(target)
    skip_to_no_answer = notice.state == "envoye" and target == "decision" and body.get("decision") == "sans_reponse"
    if there != here + 1 and not skip_to_no_answer:
        raise NoticeConflict(_move_refusal(notice.state, target))
    body = _known_keys(body, MOVE_KEYS[target])
    if target == "envoye":
        return replace(notice, state="envoye", sent_at=now,
                       channel=_text_field(body, "channel", MAX_CHANNEL_CHARS, "Canal") or MANUAL_CHANNEL,
                       ticket_id=_text_field(body, "ticket_id", MAX_TICKET_CHARS, "Numéro de ticket"))
    if target == "accuse_reception":
        return replace(notice, state="accuse_reception", acknowledged_at=now)
    return _decide(notice, body, now, options)


def _move_refusal(state: str, target: str) -> str:
    if STATES.index(target) <= STATES.index(state):
        return f"Le signalement est déjà à l'état « {state} » : on ne revient pas en arrière."
    expected = STATES[STATES.index(state) + 1]
    return f"Étape sautée : après « {state} », l'étape suivante est « {expected} »."


def _text_field(body: Mapping[str, Any], name: str, limit: int, what: str) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > limit or any(ord(ch) < 32 for ch in value):
        raise NoticeRefused(name, f"{what} : un texte d'une ligne de {limit} caractères au plus est attendu.")
    return value.strip()


def _decide(notice: Notice, body: Mapping[str, Any], now: float, options: NoticeOptions) -> Notice:
    decision = body.get("decision")
    if decision is None:
        raise NoticeRefused("decision", "Décision : champ obligatoire.")
    if not isinstance(decision, str) or decision not in options.values("decisions"):
        raise NoticeRefused("decision", f"Décision inconnue : {str(decision)[:40]}.")
    decided_at = _decided_at(body.get("decided_at"), notice, now)
    automated = body.get("automated")
    if automated is not None and not isinstance(automated, bool):
        raise NoticeRefused("automated", "Décision automatisée : oui ou non (true/false) est attendu.")
    return replace(notice, state="decision", decision=decision, decided_at=decided_at, automated=automated)


def _decided_at(given: object, notice: Notice, now: float) -> float:
    """The platform's decision date (ms since the epoch, as every time in the API), default now."""
    if given is None:
        return now
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        raise NoticeRefused("decided_at", "Date de la décision : une date (millisecondes) est attendue.")
    at = given / 1000
    if notice.sent_at is not None and at < notice.sent_at or at > now:
        raise NoticeRefused("decided_at", "Date de la décision : entre l'envoi du signalement et maintenant.")
    return at


def _appeal(notice: Notice, body: Mapping[str, Any], now: float, options: NoticeOptions) -> Notice:
    """Art. 20: an appeal is filed within the window after a decision, then accepted or rejected."""
    appeal = body["appeal"]
    if appeal not in APPEALS:
        raise NoticeRefused("appeal", f"Recours inconnu : {str(appeal)[:40]}.")
    if notice.state != "decision" or notice.decision == "sans_reponse":
        raise NoticeConflict("Un recours n'est possible qu'après une décision de la plateforme.")
    if appeal == "depose":
        if notice.appeal is not None:
            raise NoticeConflict("Un recours a déjà été déposé pour ce signalement.")
        if now > notice.appeal_until(options.appeal_months):  # type: ignore[operator]
            raise NoticeConflict(f"Le délai de recours ({options.appeal_months} mois après la décision) est dépassé.")
        return replace(notice, appeal="depose", appeal_at=now)
    if notice.appeal != "depose":
        raise NoticeConflict("Le résultat d'un recours s'enregistre après son dépôt, une seule fois.")
    return replace(notice, appeal=appeal)


# --- follow-up, retention ------------------------------------------------------------------------
def is_overdue(notice: Notice, options: NoticeOptions, now: float) -> bool:
    """Sent, no decision yet, after the platform's reminder_hours (an acknowledgement is not an answer)."""
    if notice.state not in ("envoye", "accuse_reception") or notice.sent_at is None:
        return False
    platform = options.platform(notice.platform)
    hours = platform.reminder_hours if platform is not None else Platform.reminder_hours
    return now - notice.sent_at >= hours * 3600


def refused_share(notices: Iterable[Notice]) -> float | None:
    """Art. 22(6)'s risk: refused among the notices a platform decided (no answer is no decision)."""
    counts: dict[str, int] = {}
    for notice in notices:
        if notice.decision is not None:
            counts[notice.decision] = counts.get(notice.decision, 0) + 1
    return refused_share_of(counts)


def refused_share_of(decision_counts: Mapping[str, int]) -> float | None:
    """The same share from counts per decision (`Store.notice_decision_counts`); None: no decision."""
    decided = sum(n for decision, n in decision_counts.items() if decision != "sans_reponse")
    return decision_counts.get("refuse", 0) / decided if decided else None  # callers round for display


DAY_SECONDS = 24 * 3600


def erase_due_at(notice: Notice, options: NoticeOptions) -> float | None:
    """When the personal data goes: `keep_days_after_close` after the appeal window (or after the
    appeal's filing, whichever is later). A draft never sent counts its window from its creation;
    an open notice (sent, undecided, or an appeal pending) is kept. None: not due (or done)."""
    if notice.erased_at is not None or notice.appeal == "depose":
        return None
    keep = options.keep_days_after_close * DAY_SECONDS
    if notice.state == "brouillon":
        return add_months(notice.created_at, options.appeal_months) + keep
    if notice.state != "decision":
        return None
    window_end = notice.appeal_until(options.appeal_months) or notice.created_at
    return max(window_end, notice.appeal_at or 0.0) + keep


def erased(notice: Notice, at: float) -> Notice:
    """The anonymous remainder: what the annual report counts, no location, text or ticket."""
    return replace(notice, locations=(), explanation="", facts_dates=None, evidence=None, ticket_id=None,
                   erased_at=at)


# --- the Art. 16(2) export -----------------------------------------------------------------------
def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def notice_document(notice: Notice, options: NoticeOptions) -> dict:
    """The JSON sent to the platform's priority channel: every Art. 16(2) element of this notice
    only (its own locations and texts; no conversation id, pseudonym or other notice)."""
    platform = options.platform(notice.platform)
    offence = options.offence(notice.offence)
    exempt = notice.identity_exempt
    return {
        "reference": notice.id,
        "regulation": "Règlement (UE) 2022/2065 (DSA), article 16 ; signaleur de confiance (article 22)",
        "platform": {"value": notice.platform, "label": platform.label if platform else notice.platform,
                     "provider": options.provider(notice.platform)},
        "content_kind": {"value": notice.content_kind, "label": options.label("content_kinds", notice.content_kind)},
        "explanation": notice.explanation,  # 16(2)(a)
        "offence": {"value": notice.offence, "label": offence.label if offence else notice.offence},
        "dsa_category": notice.dsa_category,
        "locations": list(notice.locations),  # 16(2)(b)
        "notifier": None if exempt else {"name": options.notifier_name, "email": options.notifier_email},  # (c)
        "notifier_exemption": EXEMPTION_STATEMENT if exempt else None,
        "good_faith": options.good_faith,  # 16(2)(d)
        "facts_dates": notice.facts_dates,
        "evidence": notice.evidence,
        "created_at": _iso(notice.created_at),
        "sent_at": _iso(notice.sent_at),
    }
