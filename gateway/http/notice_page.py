"""The printable French page of a notice (GET /api/notices/{id}/export?format=html).

It renders the Art. 16(2) document built by gateway/domain/notices.notice_document, nothing
more: the page can only show what the JSON export holds, so both carry the same elements and
neither another conversation's data. Every value is escaped here (html.escape), the page has no
script and no inline style (the CSP allows neither): its print layout is the static
/console/static/notice_print.css. Locations are text, not links: the counsellor copies them
into the platform's form, nobody should land on the abusive content by a click.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

STYLESHEET = "/console/static/notice_print.css"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
NOT_GIVEN = "Non renseigné"


def french_date(iso: str | None) -> str:
    """"1 décembre 2026 à 10 h 05 (UTC)" from the document's ISO time (UTC, to the second)."""
    if not iso:
        return NOT_GIVEN
    moment = datetime.fromisoformat(iso)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} à {moment.hour} h {moment.minute:02d} (UTC)"


def _paragraphs(text: str | None) -> str:
    """A free text as typed: its line breaks kept as paragraphs, every character escaped."""
    if not text:
        return f"<p>{NOT_GIVEN}</p>"
    return "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())


def _row(term: str, value_html: str) -> str:
    return f"<dt>{escape(term)}</dt><dd>{value_html}</dd>"


def _section(title: str, body_html: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{body_html}</section>"


def _labelled(choice: dict) -> str:
    return f"{escape(choice['label'] or '')} <span class=\"code\">({escape(choice['value'])})</span>"


def _locations(locations: list[str]) -> str:
    items = "".join(f"<li><code>{escape(where)}</code></li>" for where in locations)
    return f"<ol class=\"locations\">{items}</ol>" if items else f"<p>{NOT_GIVEN}</p>"


def _notifier(document: dict) -> str:
    """(c): the notifier's name and email, or the statement of the Art. 16(2)(c) exemption."""
    notifier = document.get("notifier")
    if notifier is None:
        return f"<p>{escape(document.get('notifier_exemption') or '')}</p>"
    return "<dl>" + _row("Nom", escape(notifier["name"])) + _row("Adresse électronique", escape(notifier["email"])) \
        + "</dl>"


def _summary(document: dict) -> str:
    platform = document["platform"]
    rows = [
        _row("Référence", f"<code>{escape(document['reference'])}</code>"),
        _row("Plateforme", _labelled(platform)),
        _row("Fournisseur (destinataire)", escape(platform["provider"])),
        _row("Type de contenu", _labelled(document["content_kind"])),
        _row("Infraction", _labelled(document["offence"])),
        _row("Catégorie DSA", f"<code>{escape(document['dsa_category'])}</code>"),
        _row("Dates des faits", escape(document.get("facts_dates") or NOT_GIVEN)),
        _row("Notification établie le", escape(french_date(document.get("created_at")))),
        _row("Envoyée le", escape(french_date(document.get("sent_at")) if document.get("sent_at") else "Pas encore envoyée")),
    ]
    return "<dl>" + "".join(rows) + "</dl>"


def notice_page(document: dict) -> str:
    """The whole page, in French, for the document of one notice."""
    title = f"Notification de contenu illicite — {document['platform']['label']}"
    sections = [
        _section("Résumé", _summary(document)),
        _section("a) Explication : pourquoi ce contenu est illicite", _paragraphs(document.get("explanation"))),
        _section("b) Emplacement(s) exact(s) du contenu", _locations(document.get("locations") or [])),
        _section("c) Notifiant", _notifier(document)),
        _section("d) Déclaration de bonne foi", _paragraphs(document.get("good_faith"))),
        _section("Preuves conservées par la victime", _paragraphs(document.get("evidence"))),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title>"
        f"<link rel=\"stylesheet\" href=\"{STYLESHEET}\"></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f"<p class=\"regulation\">{escape(document['regulation'])}</p>"
        "<p class=\"screen-only\">Pour l'envoyer : imprimez cette page ou enregistrez-la en PDF (Ctrl+P), "
        "ou copiez ses éléments dans le formulaire prioritaire de la plateforme.</p>"
        + "".join(sections)
        + "</main></body></html>\n"
    )
