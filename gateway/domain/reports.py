"""The helpline's reports (issue #13 items 3 and 4): pure aggregations and their renderings.

Owns the rules of the two reports and nothing else; the core (gateway/core/reports.py) reads
the store and hands the records in:

- the Art. 22(3) DSA annual report of a trusted flagger (`trusted_flagger`): notices counted
  by platform (and the provider, its legal entity) × type of illegal content (the offence) ×
  action taken, the median time to removal per platform, the share refused, the independence
  statement. A notice belongs to the year it was SENT (a draft is no notice yet), in the
  helpline's time zone; its action is its decision, or `en_attente` while there is none;
- the activity figures of any period (`activity`): contacts per day and per hour by channel,
  waits, abandons (the queue rules of gateway/domain/figures.py, reused as they are), the
  qualification fields of the answered conversations (the others "non qualifié"), notices sent
  in the period by platform and action.

Anonymous aggregates only: the inputs carry ids and texts, the outputs never do (only the
configured values, their labels, dates and numbers). Pure: no I/O, no clock.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from gateway.domain.casework import CaseworkOptions, Qualification
from gateway.domain.errors import FieldRefused
from gateway.domain.figures import OUT_OF_HOURS, ConversationRecord, day_figures
from gateway.domain.model import Channel
from gateway.domain.notices import (
    DECISIONS,
    REMOVAL_DECISIONS,
    Notice,
    NoticeOptions,
    refused_share,
)

PENDING = "en_attente"  # the action of a sent notice without a decision yet
PENDING_LABEL = "En attente de décision"
ACTIONS = (*DECISIONS, PENDING)  # the order of the rows and columns
NOT_QUALIFIED = "non_qualifie"
NOT_QUALIFIED_LABEL = "Non qualifié"
MIN_YEAR, MAX_YEAR = 2000, 2100  # a year outside is a typo, not a report
MAX_PERIOD_DAYS = 3 * 366  # the per-day series stays a chart, not a dump
DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")
# Qualification list field → the activity report's key (who contacts, ages, problems, follow-ups).
QUALIFICATION_KEYS = (("caller", "callers"), ("age_band", "age_bands"), ("categories", "categories"),
                      ("platforms", "platforms"), ("outcomes", "outcomes"))


class ReportRefused(FieldRefused):
    """A report asked with a bad parameter: `field` names it (year, from, to, format)."""

    code = "bad_report"


# --- parameters -------------------------------------------------------------------------------
def parse_year(value: object) -> int:
    """`?year=` / `--year`: four digits between MIN_YEAR and MAX_YEAR."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ReportRefused("year", "Année manquante : indiquez l'année du rapport (par exemple 2026).")
    if not text.isdigit() or not MIN_YEAR <= int(text) <= MAX_YEAR:
        raise ReportRefused("year", f"Année invalide : {text[:10]} (une année entre {MIN_YEAR} et {MAX_YEAR} "
                                    f"est attendue).")
    return int(text)


def _date(value: object, name: str, what: str) -> date:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ReportRefused(name, f"{what} manquante : AAAA-MM-JJ attendu.")
    try:
        day = date.fromisoformat(text) if DATE_FORM.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ReportRefused(name, f"{what} invalide : {text[:12]} (AAAA-MM-JJ attendu, par exemple 2026-01-31).")
    return day


def parse_period(from_value: object, to_value: object) -> tuple[date, date]:
    """`from` and `to`, both days included; `to` before `from`, or too long a period, is refused."""
    first = _date(from_value, "from", "Date de début")
    last = _date(to_value, "to", "Date de fin")
    if last < first:
        raise ReportRefused("to", f"La date de fin ({last.isoformat()}) précède la date de début "
                                  f"({first.isoformat()}).")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ReportRefused("to", f"Période trop longue : {MAX_PERIOD_DAYS} jours au plus.")
    return first, last


def period_bounds(first: date, last: date, tz: tzinfo) -> tuple[float, float]:
    """[start of `first`, start of the day after `last`) in the helpline's time zone, as epoch seconds."""
    start = datetime.combine(first, time(), tz).timestamp()
    end = datetime.combine(last + timedelta(days=1), time(), tz).timestamp()
    return start, end


def year_bounds(year: int, tz: tzinfo) -> tuple[float, float]:
    return period_bounds(date(year, 1, 1), date(year, 12, 31), tz)


# --- notices ----------------------------------------------------------------------------------
def action_of(notice: Notice) -> str:
    return notice.decision or PENDING


def sent_between(notices: Iterable[Notice], start: float, end: float) -> list[Notice]:
    """The notices a report counts: sent in [start, end). A draft was never sent: not counted."""
    return [n for n in notices if n.sent_at is not None and start <= n.sent_at < end]


def _median_hours(hours: Sequence[float]) -> float | None:
    """The median (mean of the two middle values for an even count), to 0.1 h."""
    return round(statistics.median(hours), 1) if hours else None


def median_hours_to_removal(notices: Iterable[Notice]) -> dict[str, float]:
    """Per platform, over its removal decisions (retiré, restreint, compte suspendu) only;
    a platform that removed nothing has no entry (there is no time to give)."""
    hours: dict[str, list[float]] = {}
    for n in notices:
        if n.decision in REMOVAL_DECISIONS and n.hours_to_removal is not None:
            hours.setdefault(n.platform, []).append(n.hours_to_removal)
    return {platform: _median_hours(values) for platform, values in hours.items()}  # type: ignore[misc]


def _order(values: Iterable[str], known: Sequence[str]) -> list[str]:
    """Configured values in the configured order, then those the config no longer lists."""
    rank = {value: i for i, value in enumerate(known)}
    return sorted(set(values), key=lambda v: (rank.get(v, len(rank)), v))


def trusted_flagger(notices: Iterable[Notice], options: NoticeOptions, year: int) -> dict:
    """The Art. 22(3) report of `year`, from the notices SENT that year (see `sent_between`)."""
    sent = list(notices)
    counts = Counter((n.platform, n.offence, action_of(n)) for n in sent)
    platforms = [p.value for p in options.platforms]
    offences = [o.value for o in options.offences]
    rows = [{"platform": platform, "provider": options.provider(platform), "content_type": offence,
             "action": action, "count": counts[(platform, offence, action)]}
            for platform in _order((k[0] for k in counts), platforms)
            for offence in _order((k[1] for k in counts if k[0] == platform), offences)
            for action in ACTIONS if counts[(platform, offence, action)]]
    return {"year": year, "rows": rows, "median_hours_to_removal": median_hours_to_removal(sent),
            "refused_share": refused_share(sent), "independence": options.independence}


def notice_figures(notices: Iterable[Notice], options: NoticeOptions) -> dict:
    """The activity report's notices: per platform (every configured one) and action."""
    sent = list(notices)
    per_platform = Counter(n.platform for n in sent)
    per_action = Counter((n.platform, action_of(n)) for n in sent)
    platforms = _order([*(p.value for p in options.platforms), *per_platform], [p.value for p in options.platforms])
    removal_hours = [n.hours_to_removal for n in sent if n.hours_to_removal is not None]
    return {
        "total": len(sent),
        "actions": [{"value": a, "label": _action_label(options, a)} for a in ACTIONS],
        "by_platform": [{"platform": p, "label": options.label("platforms", p), "provider": options.provider(p),
                         "total": per_platform[p], "actions": {a: per_action[(p, a)] for a in ACTIONS}}
                        for p in platforms],
        "median_hours_to_removal": median_hours_to_removal(sent),
        "median_hours_to_removal_all": _median_hours(removal_hours),
        "refused_share": refused_share(sent),
    }


def _action_label(options: NoticeOptions, action: str) -> str:
    return PENDING_LABEL if action == PENDING else options.label("decisions", action)  # type: ignore[return-value]


# --- activity -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Contact:
    """One conversation of the period as the activity report sees it: its anonymous figure, and
    its qualification if a counsellor gave one."""

    record: ConversationRecord
    qualification: Qualification | None = None


def _per_channel(counter: Counter, key) -> dict:
    row = {c.value: counter[(key, c.value)] for c in Channel}
    return {**row, "total": sum(row.values())}


def _series(queued: Sequence[ConversationRecord], first: date, last: date, tz: tzinfo) -> tuple[list, list]:
    """Contacts per local day (every day of the period, zeros included) and per local hour."""
    by_day: Counter = Counter()
    by_hour: Counter = Counter()
    for r in queued:
        local = datetime.fromtimestamp(r.queued_at, tz)
        by_day[(local.date(), r.channel)] += 1
        by_hour[(local.hour, r.channel)] += 1
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return ([{"date": d.isoformat(), **_per_channel(by_day, d)} for d in days],
            [{"hour": h, **_per_channel(by_hour, h)} for h in range(24)])


def _breakdown(answered: Sequence[Contact], casework: CaseworkOptions, list_field: str) -> list[dict]:
    """Counts per value of one qualification field over the answered contacts; a multi-choice
    field counts each value ticked (the counts may add up to more than the contacts). A contact
    answered but not qualified counts once as "non qualifié"."""
    counts: Counter = Counter()
    for contact in answered:
        q = contact.qualification
        if q is None:
            counts[NOT_QUALIFIED] += 1
        else:
            counts.update(q.values_of(list_field))
    known = [o.value for o in casework.options_of(list_field)]
    values = _order([*known, *(v for v in counts if v != NOT_QUALIFIED)], known)
    return [*({"value": v, "label": casework.label(list_field, v), "count": counts[v]} for v in values),
            {"value": NOT_QUALIFIED, "label": NOT_QUALIFIED_LABEL, "count": counts[NOT_QUALIFIED]}]


def activity(contacts: Iterable[Contact], notices: Iterable[Notice], casework: CaseworkOptions,
             notice_options: NoticeOptions, first: date, last: date, tz: tzinfo) -> dict:
    """The figures of the conversations OPENED from `first` to `last` (local days, included),
    and of the notices SENT then. The queue figures are day_figures' over the whole period."""
    start, end = period_bounds(first, last, tz)
    within = [c for c in contacts if start <= c.record.queued_at < end]
    queue = day_figures([c.record for c in within], start, end)
    queued = [c.record for c in within if c.record.outcome != OUT_OF_HOURS]
    answered = [c for c in within if c.record.outcome != OUT_OF_HOURS and c.record.assigned_at is not None]
    per_day, per_hour = _series(queued, first, last, tz)
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": str(tz),
        "channels": [c.value for c in Channel],
        "contacts": {"total": queue.conversations, "by_channel": dict(queue.per_channel),
                     "out_of_hours": queue.out_of_hours, "raised": queue.raised, "answered": len(answered),
                     "qualified": sum(1 for c in answered if c.qualification is not None)},
        "per_day": per_day, "per_hour": per_hour,
        "waits": {"p50_seconds": queue.wait_p50, "p90_seconds": queue.wait_p90,
                  "answered_within_1_min": None if queue.answered_within_1_min is None
                  else round(queue.answered_within_1_min, 4)},
        "abandons": {"abandons": queue.abandons, "short_abandons": queue.short_abandons},
        **{key: _breakdown(answered, casework, list_field) for list_field, key in QUALIFICATION_KEYS},
        "notices": notice_figures(sent_between(notices, start, end), notice_options),
    }


# --- renderings -----------------------------------------------------------------------------------
TRUSTED_FLAGGER, ACTIVITY = "trusted-flagger", "activity"
FORMATS = {TRUSTED_FLAGGER: ("json", "csv", "html"), ACTIVITY: ("json", "csv")}
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html"}


def parse_format(value: object, kind: str) -> str:
    """`?format=` / `--format` (json when absent), among the formats of that report."""
    text = "json" if value is None or value == "" else str(value)
    if text not in FORMATS[kind]:
        raise ReportRefused("format", f"Format inconnu : {text[:10]} (au choix : {', '.join(FORMATS[kind])}).")
    return text


def render(report: dict, kind: str, output_format: str, options: NoticeOptions) -> str:
    """The report as text in a format `parse_format` accepted."""
    if output_format == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if output_format == "html":
        return trusted_flagger_html(report, options)
    return trusted_flagger_csv(report) if kind == TRUSTED_FLAGGER else activity_csv(report)


def _cell(value: object) -> object:
    """Spreadsheets run a cell that starts with = + - @ as a formula (CSV injection): quote it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def trusted_flagger_csv(report: dict) -> str:
    """One table, a line per figure: `metric` is count, median_hours_to_removal, refused_share or
    independence; the other columns say what it is about."""
    rows: list[list[object]] = [["count", r["platform"], r["provider"], r["content_type"], r["action"], r["count"]]
                                for r in report["rows"]]
    rows += [["median_hours_to_removal", platform, "", "", "", hours]
             for platform, hours in report["median_hours_to_removal"].items()]
    rows += [["refused_share", "", "", "", "", report["refused_share"]],
             ["independence", "", "", "", "", report["independence"]]]
    return _csv(("metric", "platform", "provider", "content_type", "action", "value"), rows)


def activity_csv(report: dict) -> str:
    """The activity report flattened: a line per figure (section, key, label, detail, value)."""
    rows: list[list[object]] = [["period", k, "", "", report[k]] for k in ("from", "to", "timezone")]
    rows += [["contacts", k, "", "", v] for k, v in report["contacts"].items() if k != "by_channel"]
    rows += [["contacts", "by_channel", "", c, n] for c, n in report["contacts"]["by_channel"].items()]
    for section, key in (("per_day", "date"), ("per_hour", "hour")):
        rows += [[section, entry[key], "", c, entry[c]] for entry in report[section] for c in report["channels"]]
    rows += [["waits", k, "", "", v] for k, v in report["waits"].items()]
    rows += [["abandons", k, "", "", v] for k, v in report["abandons"].items()]
    for _, key in QUALIFICATION_KEYS:
        rows += [[key, o["value"], o["label"], "", o["count"]] for o in report[key]]
    notices = report["notices"]
    rows.append(["notices", "total", "", "", notices["total"]])
    rows += [["notices", p["platform"], p["label"], a, n] for p in notices["by_platform"]
             for a, n in p["actions"].items()]
    rows += [["notices_median_hours_to_removal", p, "", "", h] for p, h in notices["median_hours_to_removal"].items()]
    rows += [["notices_summary", k, "", "", notices[k]] for k in ("median_hours_to_removal_all", "refused_share")]
    return _csv(("section", "key", "label", "detail", "value"), rows)


def _number(value: float | None, unit: str = "") -> str:
    """French decimals: 12,5 h."""
    if value is None:
        return "—"
    text = f"{value:.1f}".replace(".", ",").removesuffix(",0")
    return f"{text}\u00a0{unit}" if unit else text


def _row(cells: Iterable[object], header: bool = False) -> str:
    tag = "th" if header else "td"
    scope = ' scope="col"' if header else ""
    return "<tr>" + "".join(f"<{tag}{scope}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    body = "".join(_row(r) for r in rows) or _row(["Aucune notification envoyée."] + [""] * (len(header) - 1))
    return (f"<table><caption>{html.escape(caption)}</caption><thead>{_row(header, header=True)}</thead>"
            f"<tbody>{body}</tbody></table>")


def trusted_flagger_html(report: dict, options: NoticeOptions) -> str:
    """A printable French page of the report: every value escaped, no script, no inline style
    (the gateway's CSP), tables with captions and column headers for screen readers."""
    year = report["year"]
    offence = {o.value: o.label for o in options.offences}
    counts = [(options.label("platforms", r["platform"]), r["provider"], offence.get(r["content_type"],
               r["content_type"]), _action_label(options, r["action"]), r["count"]) for r in report["rows"]]
    total = sum(r["count"] for r in report["rows"])
    medians = [(options.label("platforms", p), options.provider(p), _number(h, "h"))
               for p, h in report["median_hours_to_removal"].items()]
    share = report["refused_share"]
    share_text = "aucune décision reçue" if share is None else f"{_number(share * 100)}\u00a0% des décisions reçues"
    title = f"Rapport annuel {year} des notifications du signaleur de confiance"
    e = html.escape
    return "".join([
        f'<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>{e(title)}</title></head><body><main>',
        f"<h1>{e(title)}</h1>",
        (f"<p>{e(options.notifier_name)} — article 22, paragraphe 3, du règlement (UE) 2022/2065 "
         f"(règlement sur les services numériques).</p>"),
        (f"<p>{total} notification(s) envoyée(s) en {year}. Une notification est comptée l'année de son envoi ; "
         f"sa suite est la décision de la plateforme, ou « {e(PENDING_LABEL)} ». Aucune donnée personnelle : "
         f"ni texte, ni adresse, ni pseudonyme.</p>"),
        "<h2>Notifications par fournisseur, type de contenu illicite et suite donnée</h2>",
        _table("Nombre de notifications", ("Plateforme", "Fournisseur", "Type de contenu illicite",
                                           "Suite donnée", "Nombre"), counts),
        "<h2>Délai médian de retrait</h2>",
        "<p>De l'envoi à la décision, sur les contenus retirés, restreints ou les comptes suspendus.</p>",
        _table("Délai médian de retrait par plateforme", ("Plateforme", "Fournisseur", "Délai médian"), medians),
        "<h2>Part des notifications refusées</h2>",
        f"<p>{e(share_text)} (« sans réponse » n'est pas une décision).</p>",
        "<h2>Déclaration d'indépendance</h2>",
        f"<p>{e(report['independence'])}</p>",
        "</main></body></html>\n",
    ])
