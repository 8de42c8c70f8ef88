"""Casework (issue #12): the lists a contact is qualified with, and the qualification itself.

Owns the shape of config.yaml's `casework:` section once parsed (`CaseworkOptions`, with the
built-in lists of the issue as `DEFAULT_CASEWORK`), the rule deciding which conversations must
be qualified, and the parsing of a counsellor's qualification (`parse_qualification`), which
refuses anything not in the lists with a French message naming the field. Pure: no I/O.

The qualification record is anonymous and long-lived (`retention.case_years`): the fields
below, the channel, times, wait and duration, the counsellor's id; never a text, a platform id
or a pseudonym. Its one text, `summary`, is erased with the conversation's texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.domain.errors import ConfigError, QualificationRefused
from gateway.domain.message_templates import check_placeholders
from gateway.domain.model import Channel, Conversation, ConversationState
from gateway.domain.texts import clean_text

VALUE_PATTERN = re.compile(r"[a-z0-9_]{1,40}")
MAX_OPTIONS = 100  # per list: far above any real form, low enough to stay a form
MAX_LABEL_CHARS = 80
MAX_SUMMARY_CHARS = 500
MAX_TEXT_CHARS = 2000  # a ready answer or orientation text (as the automatic messages)
READY_ANSWER_FIELDS = frozenset({"conseiller"})  # placeholders a ready text may use
MAX_CARE_PAUSE_MINUTES = 120
MAX_TO_QUALIFY = 100  # the "À qualifier" list shows at most this many

# The EU DSA transparency database's statement categories (API v2, July 2025, and the v1 names
# still accepted), https://transparency.dsa.ec.europa.eu/page/additional-explanation-for-statement-attributes
DSA_CATEGORIES = frozenset({
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
})

# The lists of a qualification, in form order; `values_in_use` and the reload check use them.
LIST_FIELDS = ("caller", "age_band", "gender", "categories", "platforms", "outcomes")
OPTIONAL_LISTS = frozenset({"gender", "platforms"})  # may be empty in the config
BODY_KEYS = frozenset({"caller", "age_band", "gender", "categories", "platforms", "outcomes", "summary"})


@dataclass(frozen=True)
class Option:
    value: str
    label: str

    def view(self) -> dict:
        return {"value": self.value, "label": self.label}


@dataclass(frozen=True)
class Category(Option):
    """A problem category, with where it falls in the two reporting frameworks."""

    chi: str = ""  # Child Helpline International data framework category (a label)
    dsa: str = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"

    def view(self) -> dict:
        return {"value": self.value, "label": self.label, "chi": self.chi, "dsa": self.dsa}


@dataclass(frozen=True)
class ReadyAnswer:
    key: str
    label: str
    text: str  # may hold {conseiller}

    def view(self) -> dict:
        return {"key": self.key, "label": self.label, "text": self.text}


@dataclass(frozen=True)
class Orientation:
    """A shortcut (`/119`): a ready text that also ticks an outcome on the form."""

    command: str
    label: str
    outcome: str
    text: str

    def view(self) -> dict:
        return {"command": self.command, "label": self.label, "text": self.text, "outcome": self.outcome}


def _options(pairs: Iterable[tuple[str, str]]) -> tuple[Option, ...]:
    return tuple(Option(value, label) for value, label in pairs)


@dataclass(frozen=True)
class CaseworkOptions:
    """config.yaml's `casework:` section, checked whole (see `check_options`)."""

    caller: tuple[Option, ...]
    age_band: tuple[Option, ...]
    gender: tuple[Option, ...]
    categories: tuple[Category, ...]
    platforms: tuple[Option, ...]
    outcomes: tuple[Option, ...]
    heavy_categories: frozenset[str] = frozenset()
    care_pause_minutes: int = 10  # 0: no care pause offered
    ready_answers: tuple[ReadyAnswer, ...] = ()
    orientations: tuple[Orientation, ...] = ()
    post_chat_question: bool = False

    def options_of(self, list_field: str) -> tuple[Option, ...]:
        return getattr(self, list_field)

    def values(self, list_field: str) -> frozenset[str]:
        return frozenset(o.value for o in self.options_of(list_field))

    def label(self, list_field: str, value: str) -> str:
        """The French label of a value (the value itself if the list no longer has it)."""
        return next((o.label for o in self.options_of(list_field) if o.value == value), value)

    def view(self) -> dict:
        """GET /api/qualification/options."""
        return {name: [o.view() for o in self.options_of(name)] for name in LIST_FIELDS}

    def console_view(self) -> dict:
        """The console's `init`: what the reply box's `/` list offers."""
        return {"ready_answers": [a.view() for a in self.ready_answers],
                "orientations": [o.view() for o in self.orientations]}


DEFAULT_CASEWORK = CaseworkOptions(
    caller=_options([("jeune", "Jeune"), ("parent", "Parent"), ("professionnel", "Professionnel·le"),
                     ("autre", "Autre")]),
    age_band=_options([("moins_11", "Moins de 11 ans"), ("11_12", "11–12 ans"), ("13_14", "13–14 ans"),
                       ("15_17", "15–17 ans"), ("18_25", "18–25 ans"), ("adulte", "Adulte (plus de 25 ans)"),
                       ("inconnu", "Inconnu")]),
    gender=_options([("fille", "Fille"), ("garcon", "Garçon"), ("autre", "Autre"), ("non_dit", "Non dit")]),
    categories=(
        Category("cyberharcelement", "Cyberharcèlement", "Violence — bullying and cyberbullying",
                 "STATEMENT_CATEGORY_CYBER_VIOLENCE"),
        Category("sextorsion", "Sextorsion (chantage à la webcam)",
                 "Violence — online child sexual exploitation and abuse", "STATEMENT_CATEGORY_CYBER_VIOLENCE"),
        Category("images_intimes", "Diffusion d'images intimes sans consentement",
                 "Violence — online child sexual exploitation and abuse", "STATEMENT_CATEGORY_CYBER_VIOLENCE"),
        Category("usurpation_piratage", "Usurpation d'identité, piratage de compte",
                 "Violence — other online violence", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"),
        Category("contenus_choquants", "Contenus choquants (violence, pornographie)",
                 "Violence — exposure to harmful content online", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"),
        Category("pedocriminalite_grooming", "Pédocriminalité, grooming",
                 "Violence — online child sexual exploitation and abuse", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"),
        Category("haine_discrimination", "Haine en ligne, discrimination", "Discrimination and exclusion",
                 "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"),
        Category("arnaque", "Arnaque", "Other — online fraud and scams", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"),
        Category("ecrans_jeux", "Écrans, jeux vidéo (surexposition)", "Mental health — screen use and gaming",
                 "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"),
        Category("parentalite_numerique", "Parentalité numérique (contrôle parental, paramétrage)",
                 "Family relationships — parenting", "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"),
        Category("autre", "Autre", "Other", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"),
    ),
    platforms=_options([("facebook", "Facebook"), ("instagram", "Instagram"), ("snapchat", "Snapchat"),
                        ("tiktok", "TikTok"), ("x", "X (Twitter)"), ("twitch", "Twitch"), ("youtube", "YouTube"),
                        ("roblox", "Roblox"), ("discord", "Discord"), ("yubo", "Yubo"),
                        ("whatsapp", "WhatsApp"), ("autre", "Autre")]),
    outcomes=_options([("ecoute_conseil", "Écoute, conseil"), ("signalement_plateforme", "Signalement à la plateforme"),
                       ("orientation_119", "Orientation vers le 119"), ("orientation_pharos", "Orientation vers Pharos"),
                       ("orientation_17_112", "Orientation vers le 17 / 112"),
                       ("orientation_3114", "Orientation vers le 3114"),
                       ("orientation_gendarmerie", "Orientation vers la gendarmerie (Brigade numérique)"),
                       ("orientation_juridique", "Orientation juridique (avocat·e)"), ("suivi", "Suivi")]),
    heavy_categories=frozenset({"pedocriminalite_grooming", "sextorsion"}),
    care_pause_minutes=10,
    ready_answers=(
        ReadyAnswer("accueil", "Accueil",
                    "Bonjour, ici {conseiller}, écoutant·e au 3018. Je suis là pour t'écouter. "
                    "Tu peux me raconter ce qui se passe, à ton rythme."),
        ReadyAnswer("preuves", "Garder des preuves",
                    "Avant de bloquer ou de supprimer quoi que ce soit, fais des captures d'écran : "
                    "les messages, le profil de la personne, la date. Ça servira pour signaler."),
        ReadyAnswer("pas_de_ta_faute", "Pas de ta faute",
                    "Ce qui t'arrive n'est pas de ta faute. Tu as bien fait de nous écrire."),
        ReadyAnswer("au_revoir", "Au revoir",
                    "Merci de ta confiance. Tu peux nous réécrire quand tu veux, ou appeler le 3018 (gratuit)."),
    ),
    orientations=(
        Orientation("119", "119 — Enfance en danger", "orientation_119",
                    "Tu peux appeler le 119, c'est gratuit, 24h/24, et ça n'apparaît pas sur la facture. "
                    "Des professionnel·les t'écoutent et peuvent protéger un enfant ou un ado en danger."),
        Orientation("pharos", "Pharos — signaler un contenu illégal", "orientation_pharos",
                    "Tu peux signaler ce contenu à la police sur Pharos : https://www.internet-signalement.gouv.fr "
                    "(c'est anonyme si tu veux). Garde bien tes captures d'écran."),
        Orientation("3114", "3114 — Prévention du suicide", "orientation_3114",
                    "Si tu as des idées de suicide, tu peux appeler le 3114, gratuit, 24h/24. "
                    "Quelqu'un t'écoutera tout de suite."),
        Orientation("17", "17 / 112 — Urgence", "orientation_17_112",
                    "Si tu es en danger maintenant, appelle le 17 (police) ou le 112. "
                    "Tu peux aussi envoyer un SMS au 114."),
        Orientation("gendarmerie", "Brigade numérique de la gendarmerie", "orientation_gendarmerie",
                    "Tu peux parler à un·e gendarme en ligne, 24h/24, sur https://www.gendarmerie.interieur.gouv.fr "
                    "(« Brigade numérique »). Il ou elle peut t'aider à porter plainte."),
        Orientation("juridique", "Aide juridique", "orientation_juridique",
                    "Tu as des droits. Un·e avocat·e peut t'expliquer gratuitement ce que tu peux faire : "
                    "on peut t'aider à trouver une permanence près de chez toi."),
    ),
    post_chat_question=False,
)


# --- checking a configured section --------------------------------------------------------
def check_value(value: str) -> str:
    """A list value: short, lower-case, [a-z0-9_] (it is stored in records for years)."""
    if not VALUE_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} must be 1 to 40 characters among a-z, 0-9 and _")
    return value


def check_label(label: str) -> str:
    if not label.strip() or len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"must be a non-empty text of at most {MAX_LABEL_CHARS} characters")
    return label


def check_dsa(name: str) -> str:
    if name not in DSA_CATEGORIES:
        raise ValueError(f"{name!r} is not a DSA transparency-database category; known: "
                         f"{', '.join(sorted(DSA_CATEGORIES))}")
    return name


def check_ready_text(text: str) -> str:
    """A ready answer or orientation text: plain {conseiller} placeholders only."""
    return check_placeholders(text, READY_ANSWER_FIELDS)


def check_options(options: CaseworkOptions) -> CaseworkOptions:
    """The cross-list rules, as ConfigError naming the key: unique values, non-empty required
    lists, heavy categories and orientation outcomes taken from their lists."""
    for name in LIST_FIELDS:
        _unique(f"casework.{name}", (o.value for o in options.options_of(name)), "value")
        if name not in OPTIONAL_LISTS and not options.options_of(name):
            raise ConfigError(f"casework.{name}", "must list at least one value")
    _unique("casework.ready_answers", (a.key for a in options.ready_answers), "key")
    _unique("casework.orientations", (o.command for o in options.orientations), "command")
    unknown = sorted(options.heavy_categories - options.values("categories"))
    if unknown:
        raise ConfigError("casework.heavy_categories", f"{', '.join(unknown)} is not one of casework.categories")
    for orientation in options.orientations:
        if orientation.outcome not in options.values("outcomes"):
            raise ConfigError("casework.orientations", f"{orientation.command!r} names outcome "
                                                       f"{orientation.outcome!r}, not one of casework.outcomes")
    return options


def _unique(key: str, values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(key, f"{what} {value!r} is given twice")
        seen.add(value)


def options_from(given: Mapping[str, Any], base: CaseworkOptions = DEFAULT_CASEWORK) -> CaseworkOptions:
    """The section as validated by config_schema (plain dicts and lists), over the built-in lists
    for the keys left out, checked whole."""
    builders: dict[str, Any] = {
        "caller": _option_list, "age_band": _option_list, "gender": _option_list, "platforms": _option_list,
        "outcomes": _option_list,
        "categories": lambda items: tuple(Category(**item) for item in items),
        "heavy_categories": frozenset,
        "ready_answers": lambda items: tuple(ReadyAnswer(**item) for item in items),
        "orientations": lambda items: tuple(Orientation(**item) for item in items),
    }
    changes = {key: builders.get(key, lambda value: value)(value) for key, value in given.items()}
    return check_options(replace(base, **changes))


def _option_list(items: Iterable[Mapping[str, str]]) -> tuple[Option, ...]:
    return tuple(Option(item["value"], item["label"]) for item in items)


def removed_in_use(options: CaseworkOptions, in_use: Mapping[str, Iterable[str]]) -> ConfigError | None:
    """The refusal when `options` drops a value a stored qualification uses, else None.
    A value may be relabelled, never removed: reports over years must still read it."""
    for name in LIST_FIELDS:
        gone = sorted(set(in_use.get(name, ())) - options.values(name))
        if gone:
            return ConfigError(f"casework.{name}", f"{', '.join(gone)} is used by stored qualifications and "
                                                   f"cannot be removed (change its label instead)")
    return None


# --- which conversations must be qualified ------------------------------------------------
def needs_qualification(conversation: Conversation) -> bool:
    """Closed after someone talked with the teen: never out-of-hours, blocked or abandoned-in-queue
    ones (nobody held them), nor one whose texts retention already erased."""
    return (conversation.state is ConversationState.CLOSED and conversation.counsellor_id is not None
            and conversation.assigned_at is not None and conversation.erased_at is None)


YEAR_SECONDS = 365.25 * 24 * 3600  # a mean year: leap days included, no calendar needed


def case_retention_cutoff(now: float, case_years: int) -> float:
    """Records that ended before this are past `retention.case_years`."""
    return now - case_years * YEAR_SECONDS


def may_be_qualified(conversation: Conversation) -> bool:
    """Allowed while assigned and after the close; not while it waits (nobody has talked yet)."""
    return conversation.state is not ConversationState.QUEUED and conversation.assigned_at is not None


# --- a counsellor's qualification -----------------------------------------------------------
@dataclass(frozen=True)
class QualificationFields:
    """What the counsellor chose, checked against the lists."""

    caller: str
    age_band: str
    categories: tuple[str, ...]
    outcomes: tuple[str, ...]
    platforms: tuple[str, ...] = ()
    gender: str | None = None
    summary: str | None = None


# "Catégorie inconnue : …", agreeing with each field's French name.
UNKNOWN = {"caller": "Interlocuteur inconnu", "age_band": "Tranche d'âge inconnue", "gender": "Genre inconnu",
           "categories": "Catégorie inconnue", "platforms": "Plateforme inconnue", "outcomes": "Suite donnée inconnue"}


def _one(body: Mapping[str, Any], name: str, options: CaseworkOptions, what: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise QualificationRefused(name, f"{what} : champ obligatoire.")
        return None
    if not isinstance(value, str):
        raise QualificationRefused(name, f"{what} : une valeur de la liste est attendue.")
    if value not in options.values(name):
        raise QualificationRefused(name, f"{UNKNOWN[name]} : {value[:40]}.")
    return value


def _many(body: Mapping[str, Any], name: str, options: CaseworkOptions, what: str, *, at_least: int) -> tuple[str, ...]:
    values = body.get(name, [] if at_least == 0 else None)
    if values is None:
        raise QualificationRefused(name, f"{what} : champ obligatoire (au moins une valeur).")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise QualificationRefused(name, f"{what} : une liste de valeurs est attendue.")
    if len(values) < at_least:
        raise QualificationRefused(name, f"{what} : choisissez au moins une valeur.")
    known = options.values(name)
    for value in values:
        if value not in known:
            raise QualificationRefused(name, f"{UNKNOWN[name]} : {value[:40]}.")
    if len(set(values)) != len(values):
        raise QualificationRefused(name, f"{what} : une valeur est cochée deux fois.")
    return tuple(values)


def _summary(body: Mapping[str, Any]) -> str | None:
    summary = body.get("summary")
    if summary is None:
        return None
    if not isinstance(summary, str):
        raise QualificationRefused("summary", "Résumé : un texte est attendu.")
    if len(summary) > MAX_SUMMARY_CHARS:
        raise QualificationRefused("summary", f"Résumé : {MAX_SUMMARY_CHARS} caractères au plus "
                                              f"({len(summary)} saisis).")
    return clean_text(summary, MAX_SUMMARY_CHARS).strip() if summary.strip() else None  # no control characters


def parse_qualification(body: object, options: CaseworkOptions) -> QualificationFields:
    """A qualification as the console sends it; QualificationRefused(field, French) if not valid."""
    if not isinstance(body, dict):
        raise QualificationRefused("body", "La qualification doit être un objet JSON.")
    for key in body:
        if key not in BODY_KEYS:
            raise QualificationRefused(str(key)[:40], f"Champ inconnu : {str(key)[:40]}.")
    return QualificationFields(
        caller=_one(body, "caller", options, "Interlocuteur", required=True),  # type: ignore[arg-type]
        age_band=_one(body, "age_band", options, "Tranche d'âge", required=True),  # type: ignore[arg-type]
        gender=_one(body, "gender", options, "Genre", required=False),
        categories=_many(body, "categories", options, "Catégorie", at_least=1),
        platforms=_many(body, "platforms", options, "Plateforme", at_least=0),
        outcomes=_many(body, "outcomes", options, "Suite donnée", at_least=1),
        summary=_summary(body),
    )


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, end - start)


@dataclass(frozen=True)
class Qualification:
    """The anonymous record of one contact: what it was, who called, what was done."""

    conversation_id: str
    caller: str
    age_band: str
    categories: tuple[str, ...]
    outcomes: tuple[str, ...]
    counsellor_id: str
    qualified_at: float
    channel: Channel
    opened_at: float
    platforms: tuple[str, ...] = ()
    gender: str | None = None
    summary: str | None = field(default=None, repr=False)  # free text: erased with the conversation's texts
    assigned_at: float | None = None
    closed_at: float | None = None
    wait_seconds: float | None = None  # assigned_at − opened_at
    duration_seconds: float | None = None  # closed_at − assigned_at

    @classmethod
    def of(cls, conversation: Conversation, fields: QualificationFields, counsellor_id: str,
           at: float) -> Qualification:
        """The record: the chosen fields plus the conversation's anonymous times."""
        return cls(conversation_id=conversation.id, caller=fields.caller, age_band=fields.age_band,
                   gender=fields.gender, categories=fields.categories, platforms=fields.platforms,
                   outcomes=fields.outcomes, summary=fields.summary, counsellor_id=counsellor_id,
                   qualified_at=at, channel=conversation.channel, opened_at=conversation.opened_at,
                   assigned_at=conversation.assigned_at, closed_at=conversation.closed_at,
                   wait_seconds=_between(conversation.opened_at, conversation.assigned_at),
                   duration_seconds=_between(conversation.assigned_at, conversation.closed_at))

    def with_times_of(self, conversation: Conversation) -> Qualification:
        """Qualified while assigned, then closed: the close time and duration filled in."""
        return replace(self, assigned_at=conversation.assigned_at, closed_at=conversation.closed_at,
                       wait_seconds=_between(conversation.opened_at, conversation.assigned_at),
                       duration_seconds=_between(conversation.assigned_at, conversation.closed_at))

    @property
    def ended_at(self) -> float:
        """What `retention.case_years` counts from: the close, else the qualification."""
        return self.closed_at if self.closed_at is not None else self.qualified_at

    def values_of(self, list_field: str) -> tuple[str, ...]:
        value = getattr(self, list_field)
        return value if isinstance(value, tuple) else (() if value is None else (value,))

    def view(self) -> dict:
        """The API's JSON (times in ms since the epoch, durations in seconds)."""
        return {"conversation_id": self.conversation_id, "caller": self.caller, "age_band": self.age_band,
                "gender": self.gender, "categories": list(self.categories), "platforms": list(self.platforms),
                "outcomes": list(self.outcomes), "summary": self.summary, "counsellor_id": self.counsellor_id,
                "qualified_at": _ms(self.qualified_at), "channel": self.channel.value,
                "opened_at": _ms(self.opened_at), "assigned_at": _ms(self.assigned_at),
                "closed_at": _ms(self.closed_at), "wait_seconds": self.wait_seconds,
                "duration_seconds": self.duration_seconds}

    def record(self) -> dict:
        """The stored form (seconds as floats), read back by `from_record`."""
        return {**self.view(), "qualified_at": self.qualified_at, "opened_at": self.opened_at,
                "assigned_at": self.assigned_at, "closed_at": self.closed_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Qualification:
        return cls(conversation_id=record["conversation_id"], caller=record["caller"],
                   age_band=record["age_band"], gender=record.get("gender"),
                   categories=tuple(record["categories"]), platforms=tuple(record.get("platforms", ())),
                   outcomes=tuple(record["outcomes"]), summary=record.get("summary"),
                   counsellor_id=record["counsellor_id"], qualified_at=record["qualified_at"],
                   channel=Channel(record["channel"]), opened_at=record["opened_at"],
                   assigned_at=record.get("assigned_at"), closed_at=record.get("closed_at"),
                   wait_seconds=record.get("wait_seconds"), duration_seconds=record.get("duration_seconds"))


def in_use_of(qualifications: Iterable[Qualification]) -> dict[str, set[str]]:
    """The values each list field's stored records use (the reload check)."""
    in_use: dict[str, set[str]] = {name: set() for name in LIST_FIELDS}
    for q in qualifications:
        for name in LIST_FIELDS:
            in_use[name].update(q.values_of(name))
    return in_use

