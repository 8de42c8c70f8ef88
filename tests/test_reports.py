"""The reports (issue #13): the Art. 22(3) annual report and the activity figures.

A seeded year (notices, conversations, qualifications written through the store, both stores)
against counts computed here, independently, from the seed itself; the outputs (JSON, CSV,
HTML) scanned for every text, URL, pseudonym, ticket and id of the fixtures; the HTTP routes on
a real gateway (supervisors only, the one error shape).
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from gateway.core import reports as core_reports
from gateway.core.ports import AssignOutcome, Store
from gateway.domain.casework import DEFAULT_CASEWORK, Qualification, parse_qualification
from gateway.domain.model import (
    Channel,
    CloseReason,
    Conversation,
    ConversationState,
    Counsellor,
    Presence,
    Role,
)
from gateway.domain.notices import DEFAULT_NOTICES, Notice
from gateway.domain.reports import (
    ReportRefused,
    activity_csv,
    render,
    trusted_flagger_csv,
    trusted_flagger_html,
)
from tests.harness import make_config, running_gateway

PARIS = ZoneInfo("Europe/Paris")
YEAR = 2026
REMOVALS = {"retire", "restreint", "compte_suspendu"}
PLATFORMS = ["facebook", "instagram", "snapchat", "tiktok", "discord", "yubo"]
OFFENCES = ["226-2-1", "222-33-2-2", "312-10", "227-23"]
OUTCOMES = ["retire", "restreint", "compte_suspendu", "refuse", "sans_reponse", None]  # None: no decision yet


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


@dataclass
class Seed:
    """What was written, and every personal value in it (none may reach a report)."""

    notices: list[Notice] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    qualifications: list[Qualification] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


def a_notice(rng: random.Random, i: int, sent_at: float | None, decision: str | None, hours: int) -> Notice:
    platform, offence = rng.choice(PLATFORMS), rng.choice(OFFENCES)
    state = "brouillon" if sent_at is None else "decision" if decision else rng.choice(["envoye", "accuse_reception"])
    return Notice(
        id=uuid.uuid4().hex, conversation_id=uuid.uuid4().hex, counsellor_id=uuid.uuid4().hex,
        platform=platform, content_kind=rng.choice(["compte", "publication", "message"]), offence=offence,
        dsa_category="STATEMENT_CATEGORY_CYBER_VIOLENCE", created_at=(sent_at or at(YEAR, 6, 1)) - 3600,
        locations=(f"https://www.{platform}.com/p/secret-post-{i}", f"@pseudo_victime_{i}"),
        explanation=f"Explication confidentielle numéro {i} : la photo de Léa circule.",
        facts_dates=f"depuis le {i} mars", evidence=f"captures d'écran gardées par Inès-{i}",
        state=state, channel="manuel" if sent_at else None, ticket_id=f"TICKET-{i:05d}" if sent_at else None,
        decision=decision, decided_at=sent_at + hours * 3600 if decision and sent_at else None,
        sent_at=sent_at, acknowledged_at=sent_at + 600 if state != "envoye" and sent_at else None)


def seeded_notices(rng: random.Random) -> list[Notice]:
    """60 notices sent across the year, drafts, and the edges of the year in Paris time."""
    found = [a_notice(rng, i, at(YEAR, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)),
                      rng.choice(OUTCOMES), rng.randint(1, 96)) for i in range(60)]
    found += [a_notice(rng, 100 + i, None, None, 0) for i in range(5)]  # drafts: never sent, never counted
    found += [a_notice(rng, 200, at(YEAR, 12, 31, 23, 30), "retire", 5),  # 22:30 UTC: still 2026 in Paris
              a_notice(rng, 201, at(YEAR + 1, 1, 1, 0, 30), "retire", 5),  # 23:30 UTC on the 31st: 2027
              a_notice(rng, 202, at(YEAR - 1, 12, 31, 23, 0), "refuse", 5)]
    return found


def notice_secrets(n: Notice) -> set[str]:
    return {*n.locations, n.explanation, n.facts_dates or "", n.evidence or "", n.ticket_id or "", n.id,
            n.conversation_id, n.counsellor_id} - {""}


# --- conversations of March 2026 ---------------------------------------------------------------
async def write_conversation(store: Store, rng: random.Random, i: int, counsellor_id: str, seed: Seed) -> None:
    """One conversation of March: answered (some qualified), abandoned, short-abandoned, out of
    hours or blocked, on a random channel, day and hour."""
    opened = at(YEAR, 3, rng.randint(1, 31), rng.randint(0, 23), rng.randint(0, 59))
    kind = rng.choice(["answered", "answered", "answered", "abandon", "short", "out_of_hours", "blocked"])
    c = Conversation(id=uuid.uuid4().hex, channel=rng.choice(list(Channel)), sender_key=f"sender-key-{i}",
                     alias=f"Loutre-Secrete-{i}", state=ConversationState.QUEUED, opened_at=opened, queued_at=opened)
    seed.secrets |= {c.id, c.sender_key, c.alias}
    if kind in ("out_of_hours", "blocked"):
        reason = CloseReason.OUT_OF_HOURS if kind == "out_of_hours" else CloseReason.BLOCKED
        c = c.close(reason, opened)
        await store.create_closed(c)
    else:
        assert (await store.create_or_get_active(c))[1]
        if kind == "answered":
            wait = rng.choice([5, 20, 45, 59, 61, 120, 300, 900])
            assert await store.try_assign(c.id, counsellor_id, 99, opened + wait) is AssignOutcome.ASSIGNED
        reason = CloseReason.BY_COUNSELLOR if kind == "answered" else CloseReason.ABANDONED
        after = 2 if kind == "short" else 1200 if kind == "answered" else 90
        await store.close_conversation(c.id, reason, opened + after)
        c = await store.get_conversation(c.id)  # type: ignore[assignment]
    seed.conversations.append(c)
    if kind == "answered" and rng.random() < 0.7:
        fields = parse_qualification({"caller": rng.choice(["jeune", "parent"]),
                                      "age_band": rng.choice(["11_12", "13_14", "15_17"]),
                                      "categories": rng.sample(["cyberharcelement", "sextorsion", "arnaque"], 2),
                                      "outcomes": [rng.choice(["ecoute_conseil", "orientation_119"])],
                                      "summary": f"Résumé secret {i} : Noé harcelé"}, DEFAULT_CASEWORK)
        q = Qualification.of(c, fields, counsellor_id, c.closed_at)  # type: ignore[arg-type]
        await store.save_qualification(q)
        seed.qualifications.append(q)
        seed.secrets.add(q.summary)  # type: ignore[arg-type]


async def seed_store(store: Store, rng_seed: int = 13) -> Seed:
    rng, seed = random.Random(rng_seed), Seed()
    counsellor_id = uuid.uuid4().hex
    await store.add_counsellor(Counsellor(id=counsellor_id, username=f"ecoutante-{counsellor_id[:8]}",
                                          display_name="Prénom-Secret", password_hash="x",
                                          presence=Presence.AVAILABLE))
    seed.secrets |= {counsellor_id, "Prénom-Secret"}
    for notice in seeded_notices(rng):
        await store.save_notice(notice)
        seed.notices.append(notice)
        seed.secrets |= notice_secrets(notice)
    for i in range(50):
        await write_conversation(store, rng, i, counsellor_id, seed)
    return seed


def sources(store: Store):
    return SimpleNamespace(store=store, config=make_config())


# --- independent expectations -----------------------------------------------------------------------
def paris_year(t: float) -> int:
    return datetime.fromtimestamp(t, PARIS).year


def middle(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-p * len(ordered) // 100) - 1)]


def assert_no_personal_data(text: str, secrets: set[str]) -> None:
    leaked = sorted(s for s in secrets if s in text)
    assert not leaked, leaked


# --- the annual report --------------------------------------------------------------------------------
async def test_the_annual_report_counts_the_notices_sent_that_year(store: Store):
    seed = await seed_store(store)
    report = await core_reports.trusted_flagger_report(sources(store), YEAR)

    sent = [n for n in seed.notices if n.sent_at is not None and paris_year(n.sent_at) == YEAR]
    expected = Counter((n.platform, n.offence, n.decision or "en_attente") for n in sent)
    got = {(r["platform"], r["content_type"], r["action"]): r["count"] for r in report["rows"]}
    assert got == dict(expected)
    assert sum(got.values()) == 61  # 60 of the year and the one of 31 December 23:30
    assert all(r["provider"] == DEFAULT_NOTICES.provider(r["platform"]) for r in report["rows"])
    assert {r["provider"] for r in report["rows"] if r["platform"] == "facebook"} <= {"Meta Platforms Ireland Ltd"}

    removal_hours: dict[str, list[float]] = {}
    for n in sent:
        if n.decision in REMOVALS:
            removal_hours.setdefault(n.platform, []).append((n.decided_at - n.sent_at) / 3600)
    assert report["median_hours_to_removal"] == {p: round(middle(h), 1) for p, h in removal_hours.items()}
    decided = [n for n in sent if n.decision not in (None, "sans_reponse")]
    refused = sum(n.decision == "refuse" for n in decided)
    assert report["refused_share"] == pytest.approx(refused / len(decided), abs=1e-4) and 0 < refused < len(decided)
    assert report["independence"] == DEFAULT_NOTICES.independence
    assert set(report) == {"year", "rows", "median_hours_to_removal", "refused_share", "independence"}
    assert report["year"] == YEAR


async def test_a_notice_whose_personal_data_was_erased_still_counts(store: Store):
    seed = await seed_store(store)
    before = await core_reports.trusted_flagger_report(sources(store), YEAR)
    for notice in seed.notices:
        assert await store.erase_notice_content(notice.id, at(YEAR + 1, 7, 1))
    assert await core_reports.trusted_flagger_report(sources(store), YEAR) == before


async def test_no_report_holds_a_text_a_url_a_pseudonym_or_an_id_of_the_fixtures(store: Store):
    seed = await seed_store(store)
    annual = await core_reports.trusted_flagger_report(sources(store), YEAR)
    activity = await core_reports.activity_report(sources(store), "2026-01-01", "2026-12-31")
    for text in (json.dumps(annual, ensure_ascii=False), trusted_flagger_csv(annual),
                 trusted_flagger_html(annual, DEFAULT_NOTICES), json.dumps(activity, ensure_ascii=False),
                 activity_csv(activity)):
        assert_no_personal_data(text, seed.secrets)
    assert len(seed.secrets) > 400  # the scan looked for something


async def test_a_year_without_notices_is_an_empty_report_not_an_error(store: Store):
    report = await core_reports.trusted_flagger_report(sources(store), "2031")
    assert report["rows"] == [] and report["median_hours_to_removal"] == {} and report["refused_share"] is None
    assert "Aucune notification envoyée." in trusted_flagger_html(report, DEFAULT_NOTICES)


def test_the_html_report_escapes_what_it_shows_and_runs_nothing():
    options = DEFAULT_NOTICES.__class__(**{**DEFAULT_NOTICES.__dict__,
                                           "independence": "<script>alert(1)</script> & indépendance"})
    report = {"year": YEAR, "rows": [{"platform": "<b>x</b>", "provider": "<i>p</i>", "content_type": "226-2-1",
                                      "action": "retire", "count": 2}],
              "median_hours_to_removal": {"<b>x</b>": 3.5}, "refused_share": 0.125, "independence": options.independence}
    page = trusted_flagger_html(report, options)
    assert "<script" not in page and "style=" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; indépendance" in page
    assert "3,5\u00a0h" in page and "12,5\u00a0%" in page and "Contenu retiré" in page


def test_a_csv_cell_never_starts_a_formula():
    report = {"year": YEAR, "rows": [{"platform": "=HYPERLINK(1)", "provider": "+x", "content_type": "-1",
                                      "action": "@a", "count": 1}],
              "median_hours_to_removal": {}, "refused_share": None, "independence": "ok"}
    lines = trusted_flagger_csv(report).splitlines()
    assert lines[0] == "metric,platform,provider,content_type,action,value"
    assert lines[1] == "count,'=HYPERLINK(1),'+x,'-1,'@a,1"


@pytest.mark.parametrize("year", ["1900", "2101", "abc", "", None, "2026.5"])
async def test_an_implausible_year_is_refused_naming_the_field(store: Store, year):
    with pytest.raises(ReportRefused) as refused:
        await core_reports.trusted_flagger_report(sources(store), year)
    assert refused.value.field == "year" and refused.value.http_status == 400


@pytest.mark.parametrize(("first", "last", "field"), [
    ("2026-02-01", "2026-01-31", "to"), ("2026-13-01", "2026-12-31", "from"), ("20260101", "2026-12-31", "from"),
    (None, "2026-12-31", "from"), ("2026-01-01", "", "to"), ("2020-01-01", "2026-12-31", "to")])
async def test_a_bad_period_is_refused_naming_the_field(store: Store, first, last, field):
    with pytest.raises(ReportRefused) as refused:
        await core_reports.activity_report(sources(store), first, last)
    assert refused.value.field == field


# --- the activity figures -----------------------------------------------------------------------------
async def test_the_activity_of_march_matches_the_conversations_and_qualifications(store: Store):
    seed = await seed_store(store)
    report = await core_reports.activity_report(sources(store), "2026-03-01", "2026-03-31")

    counted = [c for c in seed.conversations if c.close_reason is not CloseReason.BLOCKED]
    queued = [c for c in counted if c.close_reason is not CloseReason.OUT_OF_HOURS]
    contacts = report["contacts"]
    assert contacts["total"] == len(queued) and contacts["out_of_hours"] == len(counted) - len(queued)
    assert contacts["by_channel"] == {ch.value: sum(c.channel is ch for c in queued) for ch in Channel}
    per_day = Counter(datetime.fromtimestamp(c.opened_at, PARIS).date().isoformat() for c in queued)
    assert len(report["per_day"]) == 31
    assert {d["date"]: d["total"] for d in report["per_day"] if d["total"]} == dict(per_day)
    per_hour = Counter((datetime.fromtimestamp(c.opened_at, PARIS).hour, c.channel.value) for c in queued)
    assert {(h["hour"], ch): h[ch] for h in report["per_hour"] for ch in report["channels"] if h[ch]} == dict(per_hour)

    answered = [c for c in queued if c.assigned_at is not None]
    waits = [c.assigned_at - c.opened_at for c in answered]
    assert report["waits"]["p50_seconds"] == nearest_rank(waits, 50)
    assert report["waits"]["p90_seconds"] == nearest_rank(waits, 90)
    left = [c for c in queued if c.assigned_at is None]
    short = [c for c in left if c.closed_at - c.opened_at < 5]
    assert report["abandons"] == {"abandons": len(left) - len(short), "short_abandons": len(short)}
    fast = sum(w <= 60 for w in waits)
    assert report["waits"]["answered_within_1_min"] == round(fast / (len(answered) + len(left) - len(short)), 4)

    qualified = {q.conversation_id: q for q in seed.qualifications}
    expected = Counter(v for c in answered if c.id in qualified for v in qualified[c.id].categories)
    unqualified = sum(c.id not in qualified for c in answered)
    categories = {o["value"]: o["count"] for o in report["categories"]}
    assert categories == {**{o.value: expected[o.value] for o in DEFAULT_CASEWORK.categories},
                          "non_qualifie": unqualified}
    assert unqualified > 0 and contacts["qualified"] == len(qualified) and contacts["answered"] == len(answered)
    callers = {o["value"]: o["count"] for o in report["callers"]}
    assert callers["jeune"] + callers["parent"] == len(qualified) and callers["non_qualifie"] == unqualified
    assert next(o for o in report["outcomes"] if o["value"] == "orientation_119")["label"] == "Orientation vers le 119"


async def test_the_activity_counts_the_notices_sent_in_the_period(store: Store):
    seed = await seed_store(store)
    report = await core_reports.activity_report(sources(store), "2026-01-01", "2026-12-31")
    sent = [n for n in seed.notices if n.sent_at is not None and paris_year(n.sent_at) == YEAR]
    notices = report["notices"]
    assert notices["total"] == len(sent)
    by_platform = {p["platform"]: p for p in notices["by_platform"]}
    for platform in PLATFORMS:
        mine = [n for n in sent if n.platform == platform]
        assert by_platform[platform]["total"] == len(mine)
        assert by_platform[platform]["actions"] == {a: sum((n.decision or "en_attente") == a for n in mine)
                                                    for a in (*OUTCOMES[:-1], "en_attente")}
    removal = [(n.decided_at - n.sent_at) / 3600 for n in sent if n.decision in REMOVALS]
    assert notices["median_hours_to_removal_all"] == round(middle(removal), 1)
    assert by_platform["twitch"]["total"] == 0  # every configured platform, for the chart's axis


async def test_the_activity_csv_flattens_every_figure(store: Store):
    await seed_store(store)
    report = await core_reports.activity_report(sources(store), "2026-03-01", "2026-03-31")
    lines = activity_csv(report).splitlines()
    assert lines[0] == "section,key,label,detail,value"
    assert f"contacts,total,,,{report['contacts']['total']}" in lines
    assert sum(1 for line in lines if line.startswith("per_day,")) == 31 * 3
    non_qualified = next(o["count"] for o in report["categories"] if o["value"] == "non_qualifie")
    assert f"categories,non_qualifie,Non qualifié,,{non_qualified}" in lines


# --- HTTP -------------------------------------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


async def test_a_supervisor_gets_the_reports_over_http_and_a_counsellor_does_not(store_url):
    config = make_config(store_url, prefix=f"r{uuid.uuid4().hex[:10]}")
    async with running_gateway(config) as gw, await gw.on_duty("sam", role=Role.SUPERVISOR) as boss, \
            await gw.on_duty("camille") as counsellor:
        seed = await seed_store(gw.helpline.store)
        async with boss.http.get(f"/api/reports/trusted-flagger?year={YEAR}") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            annual = await r.json()
        assert annual == await core_reports.trusted_flagger_report(gw.helpline, YEAR)
        async with boss.http.get("/api/openapi.json") as r:
            schemas = (await r.json())["components"]["schemas"]
        Draft202012Validator(schemas["TrustedFlaggerReport"]).validate(annual)
        async with boss.http.get("/api/reports/trusted-flagger?year=2026&format=html") as r:
            page = await r.text()
            assert r.status == 200 and r.content_type == "text/html" and "<script" not in page
            assert "default-src 'none'" in r.headers["Content-Security-Policy"] or "script-src" in \
                r.headers["Content-Security-Policy"]
        async with boss.http.get("/api/reports/activity?from=2026-03-01&to=2026-03-31&format=csv") as r:
            sheet = await r.text()
            assert r.status == 200 and r.content_type == "text/csv" and sheet.startswith("section,key,")
            assert 'filename="activite-2026-03-01_2026-03-31.csv"' in r.headers["Content-Disposition"]
        async with boss.http.get("/api/reports/activity?from=2026-03-01&to=2026-03-31") as r:
            activity = await r.json()
            assert activity["contacts"]["total"] > 0
        Draft202012Validator(schemas["ActivityReport"]).validate(activity)
        for text in (json.dumps(annual, ensure_ascii=False), page, sheet, json.dumps(activity, ensure_ascii=False)):
            assert_no_personal_data(text, seed.secrets)

        async with counsellor.http.get(f"/api/reports/trusted-flagger?year={YEAR}") as r:
            assert r.status == 403 and set(await r.json()) == {"error"}
        async with counsellor.http.get("/api/reports/activity?from=2026-03-01&to=2026-03-31") as r:
            assert r.status == 403


@pytest.mark.parametrize(("query", "field"), [
    ("trusted-flagger?year=1900", "year"), ("trusted-flagger", "year"),
    ("trusted-flagger?year=2026&format=xml", "format"), ("activity?from=2026-12-31&to=2026-01-01", "to"),
    ("activity?from=2026-01-01&to=2026-12-31&format=html", "format"), ("activity?to=2026-12-31", "from")])
async def test_a_bad_parameter_is_a_400_naming_it(query, field):
    async with running_gateway(make_config()) as gw, await gw.on_duty("sam", role=Role.SUPERVISOR) as boss, \
            boss.http.get(f"/api/reports/{query}") as r:
        body = await r.json()
        assert r.status == 400 and body["field"] == field and body["error"], body


async def test_reports_need_a_session_and_only_answer_get():
    async with running_gateway(make_config()) as gw, await gw.on_duty("sam", role=Role.SUPERVISOR) as boss:
        async with boss.http.post("/api/reports/trusted-flagger?year=2026", headers={"Origin": gw.http}) as r:
            assert r.status == 405 and "GET" in r.headers["Allow"] and "error" in await r.json()
        async with aiohttp.ClientSession() as anonymous, \
                anonymous.get(f"{gw.http}/api/reports/activity?from=2026-01-01&to=2026-01-31") as r:
            assert r.status == 401 and "error" in await r.json()


def test_render_gives_json_csv_and_html():
    report = {"year": YEAR, "rows": [], "median_hours_to_removal": {}, "refused_share": None, "independence": "x"}
    assert json.loads(render(report, "trusted-flagger", "json", DEFAULT_NOTICES)) == report
    assert render(report, "trusted-flagger", "csv", DEFAULT_NOTICES).startswith("metric,")
    assert render(report, "trusted-flagger", "html", DEFAULT_NOTICES).startswith("<!DOCTYPE html>")
