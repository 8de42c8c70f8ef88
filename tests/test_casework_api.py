"""The casework HTTP JSON API (docs/casework.md): qualifying a conversation, reading it back,
the form's lists, and the OpenAPI document that describes them.

Real gateway on loopback (tests/harness.py), real HTTP with aiohttp, both stores where
something is stored; the counsellor logs in as the console does (session cookie, Origin).
"""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from gateway.domain.casework import DEFAULT_CASEWORK
from gateway.domain.model import Role
from tests.clients import Console, Widget
from tests.harness import make_config, running_gateway

QUALIFIED = {"caller": "jeune", "age_band": "13_14", "gender": "fille", "categories": ["sextorsion"],
             "platforms": ["snapchat", "instagram"], "outcomes": ["ecoute_conseil", "signalement_plateforme"],
             "summary": "Chantage après un échange de photos ; captures faites."}


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def config_for(store_url: str = "memory://", **overrides):
    return make_config(store_url, prefix=f"k{uuid.uuid4().hex[:10]}", **overrides)


def path_of(conversation_id: str) -> str:
    return f"/api/conversations/{conversation_id}/qualification"


async def post(http: aiohttp.ClientSession, base: str, conversation_id: str, body, **headers):
    """A console POST: JSON, from the console's own origin unless `headers` say otherwise."""
    headers = {"Origin": base, **headers}
    async with http.post(path_of(conversation_id), json=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def get(http: aiohttp.ClientSession, path: str):
    async with http.get(path) as r:
        return r.status, await r.json(), r.headers


def assert_error(status: int, body: dict, expected_status: int, field: str | None = None) -> None:
    """The one error shape: {"error": French text, "field"?: key}."""
    assert status == expected_status, body
    assert set(body) <= {"error", "field"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert body.get("field") == field, body


async def an_assigned_conversation(gw, console: Console) -> tuple[Widget, str]:
    teen = await Widget.connect(gw.ws)
    await teen.say("on me fait du chantage avec une photo")
    return teen, (await console.assigned())["id"]


async def test_the_holder_qualifies_and_reads_the_same_record_back(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        status, stored, headers = await post(console.http, gw.http, conversation_id, QUALIFIED)
        assert status == 200, stored
        assert headers["Cache-Control"] == "no-store"
        assert stored["conversation_id"] == conversation_id and stored["channel"] == "web"
        assert stored["categories"] == ["sextorsion"] and stored["platforms"] == ["snapchat", "instagram"]
        assert stored["summary"] == QUALIFIED["summary"] and stored["closed_at"] is None
        assert stored["counsellor_id"] == console.init["me"]["id"]

        status, again, _ = await get(console.http, path_of(conversation_id))
        assert (status, again) == (200, stored)
        await teen.close()


async def test_a_later_post_replaces_the_earlier_one_also_after_the_close(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        assert (await post(console.http, gw.http, conversation_id, QUALIFIED))[0] == 200
        await console.send({"type": "close", "conversation_id": conversation_id})
        await console.next("conversation", where=lambda f: f["conversation"]["state"] == "closed")
        gw.clock.advance(60)

        corrected = {"caller": "parent", "age_band": "inconnu", "categories": ["arnaque"], "outcomes": ["suivi"]}
        status, stored, _ = await post(console.http, gw.http, conversation_id, corrected)
        assert status == 200, stored
        assert (stored["caller"], stored["categories"], stored["platforms"]) == ("parent", ["arnaque"], [])
        assert stored["gender"] is None and stored["summary"] is None
        assert stored["closed_at"] is not None and stored["duration_seconds"] >= 0
        assert (await get(console.http, path_of(conversation_id)))[1] == stored
        await teen.close()


REFUSED = [
    ({**QUALIFIED, "caller": "voisin"}, "caller"),
    ({k: v for k, v in QUALIFIED.items() if k != "age_band"}, "age_band"),
    ({**QUALIFIED, "categories": []}, "categories"),
    ({**QUALIFIED, "categories": "sextorsion"}, "categories"),
    ({**QUALIFIED, "platforms": ["myspace"]}, "platforms"),
    ({**QUALIFIED, "outcomes": ["suivi", "suivi"]}, "outcomes"),
    ({k: v for k, v in QUALIFIED.items() if k != "outcomes"}, "outcomes"),
    ({**QUALIFIED, "summary": "x" * 501}, "summary"),
    ({**QUALIFIED, "summary": 12}, "summary"),
    ({**QUALIFIED, "pseudonym": "Jeune 4821"}, "pseudonym"),
    (["jeune"], "body"),
]


async def test_a_refused_qualification_names_the_field_in_french_and_stores_nothing(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        for body, field in REFUSED:
            status, answer, _ = await post(console.http, gw.http, conversation_id, body)
            assert_error(status, answer, 400, field)
        status, answer, _ = await post(console.http, gw.http, conversation_id, {**QUALIFIED, "caller": "voisin"})
        assert "voisin" in answer["error"] and "inconnu" in answer["error"]
        status, answer, _ = await post(console.http, gw.http, conversation_id, {**QUALIFIED, "summary": "x" * 501})
        assert "500" in answer["error"]
        assert_error(*(await get(console.http, path_of(conversation_id)))[:2], 404)
        await teen.close()


async def test_a_body_that_is_not_json_is_refused_with_the_error_shape():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        origin = {"Origin": gw.http}
        async with console.http.post(path_of(conversation_id), data=b"{caller: jeune",
                                     headers={**origin, "Content-Type": "application/json"}) as r:
            assert_error(r.status, await r.json(), 400, "body")
        async with console.http.post(path_of(conversation_id), data=b"caller=jeune",
                                     headers={**origin, "Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert_error(r.status, await r.json(), 415, "body")
        async with console.http.post(path_of(conversation_id), data=b"[" + b"1," * 40_000 + b"1]",
                                     headers={**origin, "Content-Type": "application/json"}) as r:
            assert_error(r.status, await r.json(), 413, "body")
        assert_error(*(await get(console.http, path_of(conversation_id)))[:2], 404)
        await teen.close()


async def test_someone_elses_conversation_is_forbidden_and_a_supervisor_may_qualify_it(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as camille:
        teen, conversation_id = await an_assigned_conversation(gw, camille)
        async with await gw.on_duty("dominique", presence="paused") as other:
            assert_error(*(await post(other.http, gw.http, conversation_id, QUALIFIED))[:2], 403)
            assert_error(*(await get(other.http, path_of(conversation_id)))[:2], 403)
        assert_error(*(await get(camille.http, path_of(conversation_id)))[:2], 404)  # nothing stored

        async with await gw.on_duty("sam", presence="paused", role=Role.SUPERVISOR) as supervisor:
            status, stored, _ = await post(supervisor.http, gw.http, conversation_id, QUALIFIED)
            assert status == 200, stored
            assert (await get(supervisor.http, path_of(conversation_id)))[1] == stored
        await teen.close()


async def test_unknown_and_queued_conversations(store_url):
    async with running_gateway(config_for(store_url)) as gw, \
            await gw.on_duty("sam", presence="paused", role=Role.SUPERVISOR) as supervisor:
        for unknown in (uuid.uuid4().hex, "a.b", "%E2%82%AC"):
            assert_error(*(await post(supervisor.http, gw.http, unknown, QUALIFIED))[:2], 404)
            assert_error(*(await get(supervisor.http, path_of(unknown)))[:2], 404)

        async with await Widget.connect(gw.ws) as teen:  # nobody available: it waits
            await teen.say("bonjour")
            [waiting] = await gw.helpline.store.queue()
            status, answer, _ = await post(supervisor.http, gw.http, waiting.conversation_id, QUALIFIED)
            assert_error(status, answer, 400, "conversation")
            assert_error(*(await get(supervisor.http, path_of(waiting.conversation_id)))[:2], 404)


async def test_without_a_session_every_route_but_the_document_answers_401():
    async with running_gateway(config_for()) as gw, aiohttp.ClientSession(base_url=gw.http) as anonymous:
        conversation_id = uuid.uuid4().hex
        assert_error(*(await post(anonymous, gw.http, conversation_id, QUALIFIED))[:2], 401)
        assert_error(*(await get(anonymous, path_of(conversation_id)))[:2], 401)
        assert_error(*(await get(anonymous, "/api/qualification/options"))[:2], 401)
        status, _, _ = await get(anonymous, "/api/openapi.json")
        assert status == 200


async def test_a_post_from_another_origin_or_none_is_refused_and_stores_nothing(store_url):
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                        {"Origin": gw.http, "Sec-Fetch-Site": "cross-site"}):
            assert_error(*(await post(console.http, gw.http, conversation_id, QUALIFIED, **headers))[:2], 403)
        async with console.http.post(path_of(conversation_id), json=QUALIFIED) as r:  # no Origin, no Referer
            assert_error(r.status, await r.json(), 403)
        assert_error(*(await get(console.http, path_of(conversation_id)))[:2], 404)
        await teen.close()


async def test_other_methods_get_405_with_allow_and_the_error_shape():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille", presence="paused") as console:
        origin = {"Origin": gw.http}
        for method, path, allow in (("PUT", path_of(uuid.uuid4().hex), "GET, HEAD, POST"),
                                    ("DELETE", path_of(uuid.uuid4().hex), "GET, HEAD, POST"),
                                    ("POST", "/api/qualification/options", "GET, HEAD"),
                                    ("PATCH", "/api/openapi.json", "GET, HEAD")):
            async with console.http.request(method, path, json={}, headers=origin) as r:
                assert_error(r.status, await r.json(), 405)
                assert r.headers["Allow"] == allow


async def test_the_options_are_the_configured_lists_with_french_labels():
    async with running_gateway(config_for()) as gw, await gw.on_duty("camille", presence="paused") as console:
        status, lists, _ = await get(console.http, "/api/qualification/options")
        assert status == 200
        assert lists == DEFAULT_CASEWORK.view()
        assert {"value": "professionnel", "label": "Professionnel·le"} in lists["caller"]
        sextorsion = next(c for c in lists["categories"] if c["value"] == "sextorsion")
        assert sextorsion["dsa"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE" and sextorsion["chi"]


async def test_the_openapi_document_validates_and_enumerates_the_lists_in_force():
    async with running_gateway(config_for()) as gw, aiohttp.ClientSession(base_url=gw.http) as anonymous:
        status, document, headers = await get(anonymous, "/api/openapi.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        validate(document)  # raises on anything that is not valid OpenAPI 3.1
        assert document["openapi"].startswith("3.1")
        assert set(document["paths"]) >= {"/api/conversations/{id}/qualification", "/api/qualification/options",
                                          "/api/openapi.json"}
        assert document["components"]["securitySchemes"]["session"] == {
            **document["components"]["securitySchemes"]["session"], "type": "apiKey", "in": "cookie",
            "name": "gw_session"}
        body = document["components"]["schemas"]["QualificationInput"]["properties"]
        assert body["caller"]["enum"] == [o.value for o in DEFAULT_CASEWORK.caller]
        assert body["categories"]["items"]["enum"] == [c.value for c in DEFAULT_CASEWORK.categories]
        assert body["summary"]["maxLength"] == 500


async def test_a_value_an_admin_adds_is_offered_documented_and_accepted():
    callers = [{"value": "jeune", "label": "Jeune"}, {"value": "educateur", "label": "Éducateur·rice"}]
    async with running_gateway(config_for(casework={"caller": callers})) as gw, \
            await gw.on_duty("camille") as console:
        assert (await get(console.http, "/api/qualification/options"))[1]["caller"] == callers
        document = (await get(console.http, "/api/openapi.json"))[1]
        validate(document)
        assert document["components"]["schemas"]["QualificationInput"]["properties"]["caller"]["enum"] == \
            ["jeune", "educateur"]
        teen, conversation_id = await an_assigned_conversation(gw, console)
        status, stored, _ = await post(console.http, gw.http, conversation_id, {**QUALIFIED, "caller": "educateur"})
        assert (status, stored["caller"]) == (200, "educateur")
        assert_error(*(await post(console.http, gw.http, conversation_id, {**QUALIFIED, "caller": "parent"}))[:2],
                     400, "caller")
        await teen.close()


async def test_a_stored_qualification_conforms_to_the_published_schema(store_url):
    """Guard for the schemathesis test: the record's real shape is the documented one, no more."""
    async with running_gateway(config_for(store_url)) as gw, await gw.on_duty("camille") as console:
        teen, conversation_id = await an_assigned_conversation(gw, console)
        _, stored, _ = await post(console.http, gw.http, conversation_id, QUALIFIED)
        _, document, _ = await get(console.http, "/api/openapi.json")
        record = Draft202012Validator(document["components"]["schemas"]["Qualification"])
        record.validate(stored)
        assert not record.is_valid({**stored, "phone": "33612345678"})  # nothing undocumented slips out
        await teen.close()
