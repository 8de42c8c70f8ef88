"""The trusted-flagger notices HTTP API (issue #13; docs/protocol.md "Notices API"): a notice
built from a conversation, followed to the platform's decision and the appeal, exported as the
Art. 16(2) JSON document and as its printable French page.

Real gateway on loopback (tests/harness.py), real HTTP with aiohttp, both stores; counsellors
log in as the console does (session cookie, Origin). Time moves with the injected clock.
"""

from __future__ import annotations

import uuid

import aiohttp
import orjson
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from gateway.domain.model import Role
from gateway.domain.notices import DEFAULT_NOTICES, EXEMPTION_STATEMENT
from tests.clients import Console, Widget
from tests.harness import make_config, running_gateway

NOTICE = {"platform": "snapchat", "content_kind": "compte", "locations": ["https://www.snapchat.com/add/faux.compte12"],
          "offence": "312-10", "explanation": "Ce compte menace de diffuser des photos intimes si la jeune ne paie pas.",
          "facts_dates": "du 2 au 4 novembre 2026", "evidence": "Captures d'écran des messages, gardées par la jeune.",
          "consent": True}
OTHER = {"platform": "discord", "content_kind": "message",
         "locations": ["https://discord.com/channels/111111111111/222222222222/333333333333"],
         "offence": "222-33-2-2", "explanation": "Messages de harcèlement répétés signés Zorglub-7781 dans un salon.",
         "evidence": "Liste des messages notée par Dominique-preuve-42.", "consent": True}
HOUR = 3600


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str = "memory://"):
    return make_config(store_url, prefix=f"n{uuid.uuid4().hex[:10]}")


async def call(http: aiohttp.ClientSession, method: str, path: str, body=None, *, origin: str | None = None,
               **headers):
    """A console request: JSON in and out; writes carry the console's Origin when `origin` is given."""
    if origin is not None:
        headers = {"Origin": origin, **headers}
    async with http.request(method, path, json=body, headers=headers) as r:
        answer = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, answer, r.headers


async def create(http, base: str, conversation_id: str, body=NOTICE):
    return await call(http, "POST", f"/api/conversations/{conversation_id}/notices", body, origin=base)


async def patch(http, base: str, notice_id: str, body):
    return await call(http, "PATCH", f"/api/notices/{notice_id}", body, origin=base)


def assert_error(status: int, body: dict, expected_status: int, field: str | None = None) -> None:
    """The one error shape: {"error": French text, "field"?: key}."""
    assert status == expected_status, body
    assert set(body) <= {"error", "field"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert body.get("field") == field, body


async def assigned(gw, console: Console, text: str = "on me fait du chantage") -> tuple[Widget, str]:
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    return teen, (await console.assigned())["id"]


async def two_counsellors(gw):
    """Camille holds one conversation, Dominique another."""
    camille = await gw.on_duty("camille")
    teen_a, mine = await assigned(gw, camille)
    await camille.presence("paused")
    dominique = await gw.on_duty("dominique")
    teen_b, theirs = await assigned(gw, dominique, "on me harcèle sur discord")
    return camille, dominique, mine, theirs, [teen_a, teen_b]


async def test_the_holder_files_a_draft_and_reads_the_same_notice_back(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        status, created, headers = await create(console.http, gw.http, conversation_id)
        assert status == 201, created
        assert headers["Cache-Control"] == "no-store"
        assert created["state"] == "brouillon" and created["conversation_id"] == conversation_id
        assert created["locations"] == NOTICE["locations"] and created["explanation"] == NOTICE["explanation"]
        assert created["dsa_category"] == "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"  # not qualified yet
        assert created["counsellor_id"] == console.init["me"]["id"]
        assert created["overdue"] is False and created["identity_exempt"] is False
        assert created["created_at"] == int(gw.clock.now() * 1000)

        assert (await call(console.http, "GET", f"/api/notices/{created['id']}"))[:2] == (200, created)
        assert (await call(console.http, "GET", "/api/notices"))[:2] == (200, {"notices": [created]})
        await teen.close()


async def test_the_options_are_the_lists_in_force():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        status, options, _ = await call(console.http, "GET", "/api/notices/options")
        assert (status, options) == (200, DEFAULT_NOTICES.view())
        facebook = next(p for p in options["platforms"] if p["value"] == "facebook")
        assert facebook["provider"] == "Meta Platforms Ireland Ltd"


REFUSED = [
    ({k: v for k, v in NOTICE.items() if k != "locations"}, "locations"),
    ({**NOTICE, "locations": []}, "locations"),
    ({**NOTICE, "locations": ["pas une adresse"]}, "locations"),
    ({**NOTICE, "locations": ["https://"]}, "locations"),
    ({**NOTICE, "platform": "myspace"}, "platform"),
    ({**NOTICE, "offence": "999-9"}, "offence"),
    ({**NOTICE, "consent": False}, "consent"),
    ({**OTHER, "locations": ["https://discord.com/channels/abc"]}, "locations"),
    ({**NOTICE, "dsa_category": "STATEMENT_CATEGORY_INVENTED"}, "dsa_category"),
    ({**NOTICE, "pseudonym": "Jeune 4821"}, "pseudonym"),
    (["snapchat"], "body"),
]


async def test_a_refused_notice_names_the_field_in_french_and_stores_nothing(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        for body, field in REFUSED:
            status, answer, _ = await create(console.http, gw.http, conversation_id, body)
            assert_error(status, answer, 400, field)
        status, answer, _ = await create(console.http, gw.http, conversation_id, {**NOTICE, "platform": "myspace"})
        assert "myspace" in answer["error"] and "inconnue" in answer["error"]
        assert (await call(console.http, "GET", "/api/notices"))[:2] == (200, {"notices": []})
        await teen.close()


async def test_someone_elses_notice_is_forbidden_and_an_unknown_one_not_found(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille, dominique, mine, theirs, teens = await two_counsellors(gw)
        status, created, _ = await create(dominique.http, gw.http, theirs, OTHER)
        assert status == 201, created
        assert_error(*(await create(camille.http, gw.http, theirs))[:2], 403)
        assert_error(*(await call(camille.http, "GET", f"/api/notices/{created['id']}"))[:2], 403)
        assert_error(*(await patch(camille.http, gw.http, created["id"], {"state": "envoye"}))[:2], 403)
        assert_error(*(await call(camille.http, "GET", f"/api/notices/{created['id']}/export"))[:2], 403)
        assert (await call(camille.http, "GET", "/api/notices"))[1] == {"notices": []}

        assert_error(*(await create(camille.http, gw.http, uuid.uuid4().hex))[:2], 404)
        assert_error(*(await create(camille.http, gw.http, "a.b"))[:2], 404)
        assert_error(*(await call(camille.http, "GET", f"/api/notices/{uuid.uuid4().hex}"))[:2], 404)
        assert_error(*(await patch(camille.http, gw.http, uuid.uuid4().hex, {"state": "envoye"}))[:2], 404)
        assert (await call(dominique.http, "GET", f"/api/notices/{created['id']}"))[0] == 200
        for client in [*teens, camille, dominique]:
            await client.close()


async def test_a_supervisor_sees_every_notice_and_filters_them(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille, dominique, mine, theirs, teens = await two_counsellors(gw)
        first = (await create(camille.http, gw.http, mine))[1]
        gw.clock.advance(60)
        second = (await create(dominique.http, gw.http, theirs, OTHER))[1]
        await patch(dominique.http, gw.http, second["id"], {"state": "envoye"})
        supervisor = await gw.on_duty("sacha", role=Role.SUPERVISOR, presence="paused")

        listed = (await call(supervisor.http, "GET", "/api/notices"))[1]["notices"]
        assert [n["id"] for n in listed] == [second["id"], first["id"]]  # newest first
        by_state = (await call(supervisor.http, "GET", "/api/notices?state=envoye"))[1]["notices"]
        assert [n["id"] for n in by_state] == [second["id"]]
        by_platform = (await call(supervisor.http, "GET", "/api/notices?platform=snapchat"))[1]["notices"]
        assert [n["id"] for n in by_platform] == [first["id"]]
        assert_error(*(await call(supervisor.http, "GET", "/api/notices?state=perdu"))[:2], 400, "state")
        assert_error(*(await call(supervisor.http, "GET", "/api/notices?platform=myspace"))[:2], 400, "platform")
        assert (await call(supervisor.http, "GET", f"/api/notices/{first['id']}"))[0] == 200
        for client in [*teens, camille, dominique, supervisor]:
            await client.close()


async def test_a_notice_is_followed_to_the_decision_and_the_appeal_in_order(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        notice_id = (await create(console.http, gw.http, conversation_id))[1]["id"]
        status, edited, _ = await patch(console.http, gw.http, notice_id, {"facts_dates": "le 3 novembre 2026"})
        assert (status, edited["facts_dates"]) == (200, "le 3 novembre 2026")

        status, conflict, _ = await patch(console.http, gw.http, notice_id, {"state": "accuse_reception"})
        assert_error(status, conflict, 409)
        assert "envoye" in conflict["error"]
        appeal_too_early = await patch(console.http, gw.http, notice_id, {"appeal": "depose"})
        assert_error(*appeal_too_early[:2], 409)

        sent = (await patch(console.http, gw.http, notice_id, {"state": "envoye", "ticket_id": "SNAP-12345"}))[1]
        assert (sent["state"], sent["channel"], sent["ticket_id"]) == ("envoye", "manuel", "SNAP-12345")
        assert_error(*(await patch(console.http, gw.http, notice_id, {"explanation": "x" * 40}))[:2], 409)
        assert_error(*(await patch(console.http, gw.http, notice_id, {"state": "brouillon"}))[:2], 409)
        gw.clock.advance(2 * HOUR)
        acknowledged = (await patch(console.http, gw.http, notice_id, {"state": "accuse_reception"}))[1]
        assert acknowledged["hours_to_ack"] == 2.0
        assert_error(*(await patch(console.http, gw.http, notice_id, {"state": "decision"}))[:2], 400, "decision")
        gw.clock.advance(3 * HOUR)
        decided = (await patch(console.http, gw.http, notice_id,
                               {"state": "decision", "decision": "retire", "automated": False}))[1]
        assert (decided["state"], decided["decision"], decided["hours_to_removal"]) == ("decision", "retire", 5.0)
        assert decided["appeal_until"] > decided["decided_at"]
        assert (await patch(console.http, gw.http, notice_id, {"appeal": "depose"}))[1]["appeal"] == "depose"
        assert (await patch(console.http, gw.http, notice_id, {"appeal": "rejete"}))[1]["appeal"] == "rejete"
        assert_error(*(await patch(console.http, gw.http, notice_id, {"appeal": "accepte"}))[:2], 409)
        assert (await call(console.http, "GET", f"/api/notices/{notice_id}"))[1]["appeal"] == "rejete"
        await teen.close()


async def test_a_sent_notice_without_an_answer_is_overdue_after_the_platforms_delay():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        notice_id = (await create(console.http, gw.http, conversation_id))[1]["id"]
        await patch(console.http, gw.http, notice_id, {"state": "envoye"})
        gw.clock.advance(47 * HOUR)
        assert (await call(console.http, "GET", f"/api/notices/{notice_id}"))[1]["overdue"] is False
        gw.clock.advance(1 * HOUR)
        assert (await call(console.http, "GET", f"/api/notices/{notice_id}"))[1]["overdue"] is True
        await teen.close()


async def test_writes_need_the_console_origin_a_session_and_json():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        path = f"/api/conversations/{conversation_id}/notices"
        assert_error(*(await call(console.http, "POST", path, NOTICE))[:2], 403)
        assert_error(*(await call(console.http, "POST", path, NOTICE, origin="https://evil.example"))[:2], 403)
        async with console.http.post(path, data=b"platform=snapchat", headers={
                "Origin": gw.http, "Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert_error(r.status, await r.json(), 415, "body")
        async with console.http.delete(path, headers={"Origin": gw.http}) as r:
            assert_error(r.status, await r.json(), 405)
            assert r.headers["Allow"] == "POST"
        async with aiohttp.ClientSession(gw.http) as anonymous:
            assert_error(*(await call(anonymous, "GET", "/api/notices"))[:2], 401)
            assert_error(*(await call(anonymous, "GET", "/api/notices/options"))[:2], 401)
            assert_error(*(await create(anonymous, gw.http, conversation_id))[:2], 401)
        assert (await call(console.http, "GET", "/api/notices"))[1] == {"notices": []}
        await teen.close()


async def test_the_json_export_holds_every_art_16_2_element_of_this_notice_only(store_url):
    async with running_gateway(config_for(store_url)) as gw:
        camille, dominique, mine, theirs, teens = await two_counsellors(gw)
        notice = (await create(camille.http, gw.http, mine))[1]
        other = (await create(dominique.http, gw.http, theirs, OTHER))[1]
        status, document, headers = await call(camille.http, "GET", f"/api/notices/{notice['id']}/export")
        assert status == 200, document
        assert headers["Content-Disposition"] == f'attachment; filename="signalement-{notice["id"]}.json"'
        assert document["explanation"] == NOTICE["explanation"]  # (a)
        assert document["locations"] == NOTICE["locations"]  # (b)
        assert document["notifier"] == {"name": DEFAULT_NOTICES.notifier_name,
                                        "email": DEFAULT_NOTICES.notifier_email}  # (c)
        assert document["good_faith"] == DEFAULT_NOTICES.good_faith  # (d)
        assert document["platform"]["provider"] == "Snap B.V." and document["evidence"] == NOTICE["evidence"]

        text = orjson.dumps(document).decode()
        for value in (theirs, mine, other["id"], OTHER["locations"][0], OTHER["explanation"], "Zorglub-7781",
                      "Dominique-preuve-42"):
            assert value not in text
        for client in [*teens, camille, dominique]:
            await client.close()


async def test_the_notifier_is_left_out_for_child_sexual_abuse_offences():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await assigned(gw, console)
        created = (await create(console.http, gw.http, conversation_id, {**NOTICE, "offence": "227-23"}))[1]
        assert created["identity_exempt"] is True
        document = (await call(console.http, "GET", f"/api/notices/{created['id']}/export?format=json"))[1]
        assert document["notifier"] is None and document["notifier_exemption"] == EXEMPTION_STATEMENT
        page = (await call(console.http, "GET", f"/api/notices/{created['id']}/export?format=html"))[1]
        assert DEFAULT_NOTICES.notifier_email not in page and "2011/93/UE" in page
        await teen.close()


async def test_the_printable_page_is_french_escaped_without_script_and_holds_the_same_elements(store_url):
    hostile = {**NOTICE, "explanation": "Il écrit <script>alert('x')</script> & menace de tout publier.",
               "locations": ["https://www.snapchat.com/add/a?b=<i>1</i>", "@faux&compte"]}
    async with running_gateway(config_for(store_url)) as gw:
        camille, dominique, mine, theirs, teens = await two_counsellors(gw)
        notice = (await create(camille.http, gw.http, mine, hostile))[1]
        await create(dominique.http, gw.http, theirs, OTHER)
        status, page, headers = await call(camille.http, "GET", f"/api/notices/{notice['id']}/export?format=html")
        assert status == 200 and headers["Content-Type"].startswith("text/html"), page
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert "<script" not in page and "style=" not in page and "<i>" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; menace" in page
        assert "https://www.snapchat.com/add/a?b=&lt;i&gt;1&lt;/i&gt;" in page and "@faux&amp;compte" in page
        assert '<html lang="fr">' in page and 'href="/console/static/notice_print.css"' in page
        for element in (DEFAULT_NOTICES.notifier_name, DEFAULT_NOTICES.notifier_email, "Snap B.V.",
                        "Chantage, sextorsion", "Déclaration de bonne foi", "du 2 au 4 novembre 2026",
                        "Captures d&#x27;écran"):
            assert element in page, element
        for value in (theirs, "Zorglub-7781", "Dominique-preuve-42", "333333333333"):
            assert value not in page
        async with camille.http.get("/console/static/notice_print.css") as r:
            assert r.status == 200 and "@media print" in await r.text()
        assert_error(*(await call(camille.http, "GET", f"/api/notices/{notice['id']}/export?format=pdf"))[:2],
                     400, "format")
        for client in [*teens, camille, dominique]:
            await client.close()


def validator(document: dict, schema: str) -> Draft202012Validator:
    """A component schema of the served document, its `$ref`s resolved within the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": document["components"]})


async def test_the_openapi_document_describes_the_notices_and_their_answers():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        document = (await call(console.http, "GET", "/api/openapi.json"))[1]
        validate(document)  # raises on anything that is not valid OpenAPI 3.1
        assert {"/api/notices/options", "/api/conversations/{id}/notices", "/api/notices", "/api/notices/{id}",
                "/api/notices/{id}/export"} <= set(document["paths"])
        assert set(document["paths"]["/api/notices/{id}"]) == {"parameters", "get", "patch"}
        body = document["components"]["schemas"]["NoticeInput"]["properties"]
        assert body["platform"]["enum"] == [p.value for p in DEFAULT_NOTICES.platforms]
        assert body["offence"]["enum"] == [o.value for o in DEFAULT_NOTICES.offences]

        teen, conversation_id = await assigned(gw, console)
        created = (await create(console.http, gw.http, conversation_id))[1]
        validator(document, "NoticeInput").validate(NOTICE)
        validator(document, "Notice").validate(created)
        assert not validator(document, "Notice").is_valid({**created, "pseudonym": "Jeune 4821"})
        sent = (await patch(console.http, gw.http, created["id"], {"state": "envoye", "ticket_id": "T-1"}))[1]
        validator(document, "Notice").validate(sent)
        validator(document, "NoticeList").validate((await call(console.http, "GET", "/api/notices"))[1])
        validator(document, "NoticeOptions").validate((await call(console.http, "GET", "/api/notices/options"))[1])
        exported = (await call(console.http, "GET", f"/api/notices/{created['id']}/export"))[1]
        validator(document, "NoticeDocument").validate(exported)
        for move in ({"state": "accuse_reception"}, {"state": "decision", "decision": "refuse"}, {"appeal": "depose"}):
            validator(document, "NoticePatch").validate(move)
        await teen.close()
