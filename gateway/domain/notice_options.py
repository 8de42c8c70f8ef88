"""config.yaml's `notices:` section once parsed (issue #13): the platforms with their legal
entity and reminder delay, the content kinds, the offences (and which exempt the notifier's
identity, Art. 16(2)(c) DSA), the decisions' labels, the notifier and the statements, the appeal
window and how long a closed notice's personal data stays. Built-in lists in `DEFAULT_NOTICES`;
config_schema checks each entry, `check_notice_options` the whole. Pure: no I/O. Re-exported by
gateway/domain/notices.py, where the notice itself lives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.domain.casework import Option
from gateway.domain.errors import ConfigError

DECISIONS = ("retire", "restreint", "compte_suspendu", "refuse", "sans_reponse")
MAX_NOTICE_LABEL_CHARS = 160  # offence labels cite the article
OFFENCE_VALUE = re.compile(r"[a-z0-9_-]{1,40}")


# --- the `notices:` section ----------------------------------------------------------------
@dataclass(frozen=True)
class Platform(Option):
    """A platform the helpline flags to, with the legal entity the annual report names."""

    provider: str = ""
    reminder_hours: int = 48  # sent and still no decision after this: a reminder

    def view(self) -> dict:
        return {"value": self.value, "label": self.label, "provider": self.provider}


@dataclass(frozen=True)
class Offence(Option):
    """A French offence; `csam_or_solicitation`: Directive 2011/93/EU, the notifier stays unnamed."""

    csam_or_solicitation: bool = False


@dataclass(frozen=True)
class NoticeOptions:
    """config.yaml's `notices:` section, checked whole (see `check_notice_options`)."""

    platforms: tuple[Platform, ...]
    content_kinds: tuple[Option, ...]
    offences: tuple[Offence, ...]
    decisions: tuple[Option, ...]
    notifier_name: str = "3018 — e-Enfance / 3018"
    notifier_email: str = "signalement@example.org"
    good_faith: str = ("Nous déclarons de bonne foi que les informations et allégations contenues dans "
                       "cette notification sont exactes et complètes.")
    independence: str = ("L'association e-Enfance / 3018 exerce sa mission de signaleur de confiance en toute "
                         "indépendance des fournisseurs de plateformes en ligne, dont elle ne reçoit aucune "
                         "instruction sur les contenus qu'elle notifie.")
    appeal_months: int = 6  # Art. 20(1): at least six months after the decision
    keep_days_after_close: int = 30

    def platform(self, value: str) -> Platform | None:
        return next((p for p in self.platforms if p.value == value), None)

    def offence(self, value: str) -> Offence | None:
        return next((o for o in self.offences if o.value == value), None)

    def values(self, list_field: str) -> frozenset[str]:
        return frozenset(o.value for o in getattr(self, list_field))

    def label(self, list_field: str, value: str | None) -> str | None:
        """The French label of a value (the value itself if the list no longer has it)."""
        if value is None:
            return None
        return next((o.label for o in getattr(self, list_field) if o.value == value), value)

    def provider(self, platform: str) -> str:
        found = self.platform(platform)
        return found.provider if found is not None and found.provider else platform

    def view(self) -> dict:
        """GET /api/notices/options."""
        return {"platforms": [p.view() for p in self.platforms],
                "content_kinds": [o.view() for o in self.content_kinds],
                "offences": [Option.view(o) for o in self.offences],
                "decisions": [o.view() for o in self.decisions]}


def _platform(value: str, label: str, provider: str) -> Platform:
    return Platform(value, label, provider)


DEFAULT_NOTICES = NoticeOptions(
    platforms=(
        _platform("facebook", "Facebook", "Meta Platforms Ireland Ltd"),
        _platform("instagram", "Instagram", "Meta Platforms Ireland Ltd"),
        _platform("snapchat", "Snapchat", "Snap B.V."),
        _platform("tiktok", "TikTok", "TikTok Technology Ltd"),
        _platform("x", "X (Twitter)", "Twitter International Unlimited Company"),
        _platform("twitch", "Twitch", "Twitch Interactive Inc."),
        _platform("youtube", "YouTube", "Google Ireland Ltd"),
        _platform("roblox", "Roblox", "Roblox Corporation"),
        _platform("discord", "Discord", "Discord Netherlands B.V."),
        _platform("yubo", "Yubo", "Twelve App SAS"),
        _platform("autre", "Autre", "Autre"),
    ),
    content_kinds=tuple(Option(v, lbl) for v, lbl in (
        ("compte", "Compte"), ("publication", "Publication"), ("message", "Message"), ("story", "Story"),
        ("video", "Vidéo"), ("live", "Live"), ("autre", "Autre"))),
    offences=(
        Offence("226-2-1", "Diffusion d'images à caractère sexuel sans consentement (art. 226-2-1 CP)"),
        Offence("222-33-2-2", "Harcèlement moral, cyberharcèlement (art. 222-33-2-2 CP)"),
        Offence("312-10", "Chantage, sextorsion (art. 312-10 CP)"),
        Offence("226-4-1", "Usurpation d'identité (art. 226-4-1 CP)"),
        Offence("227-22-1", "Propositions sexuelles à un mineur de 15 ans (art. 227-22-1 CP)", True),
        Offence("227-23", "Images ou représentations pédopornographiques (art. 227-23 CP)", True),
        Offence("226-1", "Atteinte à la vie privée, image sans consentement (art. 226-1 CP)"),
        Offence("227-24", "Message violent ou pornographique vu par un mineur (art. 227-24 CP)"),
        Offence("323-1", "Accès frauduleux à un compte, piratage (art. 323-1 CP)"),
        Offence("313-1", "Escroquerie (art. 313-1 CP)"),
        Offence("autre", "Autre infraction (préciser dans l'explication)"),
    ),
    decisions=tuple(Option(v, lbl) for v, lbl in (
        ("retire", "Contenu retiré"), ("restreint", "Contenu restreint"), ("compte_suspendu", "Compte suspendu"),
        ("refuse", "Signalement refusé"), ("sans_reponse", "Sans réponse"))),
)


def check_offence_value(value: str) -> str:
    """An offence value: the article number as written (226-2-1), or a short [a-z0-9_-] word."""
    if not OFFENCE_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} must be 1 to 40 characters among a-z, 0-9, - and _")
    return value


def check_notice_label(label: str) -> str:
    if not label.strip() or len(label) > MAX_NOTICE_LABEL_CHARS:
        raise ValueError(f"must be a non-empty text of at most {MAX_NOTICE_LABEL_CHARS} characters")
    return label


def check_decision_value(value: str) -> str:
    """Decisions may be relabelled, not invented: the reports and the removal times read them."""
    if value not in DECISIONS:
        raise ValueError(f"{value!r} is not a decision the gateway knows; known: {', '.join(DECISIONS)}")
    return value


def check_notice_options(options: NoticeOptions) -> NoticeOptions:
    """Cross-entry rules as ConfigError naming the key: unique values, no empty list."""
    for name in ("platforms", "content_kinds", "offences", "decisions"):
        entries = getattr(options, name)
        if not entries:
            raise ConfigError(f"notices.{name}", "must list at least one value")
        seen: set[str] = set()
        for entry in entries:
            if entry.value in seen:
                raise ConfigError(f"notices.{name}", f"value {entry.value!r} is given twice")
            seen.add(entry.value)
    return options


def notice_options_from(given: Mapping[str, Any], base: NoticeOptions = DEFAULT_NOTICES) -> NoticeOptions:
    """The section as validated by config_schema (plain dicts and lists) over the built-in one."""
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if key == "platforms":
            changes[key] = tuple(Platform(**item) for item in value)
        elif key == "offences":
            changes[key] = tuple(Offence(**item) for item in value)
        elif key in ("content_kinds", "decisions"):
            changes[key] = tuple(Option(item["value"], item["label"]) for item in value)
        elif key == "notifier":
            changes.update({f"notifier_{k}": v for k, v in value.items()})
        else:
            changes[key] = value
    return check_notice_options(replace(base, **changes))
