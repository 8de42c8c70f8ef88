"""schemathesis against the real gateway: every operation of GET /api/openapi.json, fed by the
document itself (examples, coverage and fuzzing phases, positive and negative data), must never
answer a 5xx and every answer must conform to the document (status code, content type, body).

The gateway runs on loopback in its own thread and event loop (schemathesis' pytest plugin
calls it synchronously, with `requests`), on both stores, with a counsellor logged in: the
calls carry her session cookie and the console's Origin, as the console's fetch() would. No
network beyond 127.0.0.1. Bounded: at most 50 examples per operation.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.domain.casework import DEFAULT_CASEWORK
from gateway.domain.model import Role
from gateway.http.casework_openapi import openapi_document
from tests.clients import Widget
from tests.harness import make_config, running_gateway

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
QUALIFIED = {"caller": "jeune", "age_band": "15_17", "categories": ["cyberharcelement"], "outcomes": ["ecoute_conseil"]}
START_SECONDS = 30
LIVE = ("mine-closed", "mine-open", "someone-elses")  # placeholders of real ids in the cases
NOTICE_LIVE = ("my-notice", "someone-elses-notice")
NOTICE = {"platform": "snapchat", "content_kind": "compte", "locations": ["@faux.compte12"], "offence": "312-10",
          "explanation": "Ce compte menace de diffuser des photos intimes.", "consent": True}
LIVE_PATHS = {"/api/conversations/{id}/qualification": LIVE, "/api/conversations/{id}/notices": LIVE,
              "/api/notices/{id}": NOTICE_LIVE, "/api/notices/{id}/export": NOTICE_LIVE}


@dataclass
class LiveGateway:
    """What the cases need: where it listens, the session cookie, and real conversation ids
    (hers open, hers closed and qualified, someone else's), so cases reach stored records."""

    base: str = ""
    cookies: dict = field(default_factory=dict)
    conversation_ids: dict[str, str] = field(default_factory=dict)  # placeholder → real id
    document: dict = field(default_factory=dict)


async def _assign(gw, console, text: str) -> tuple[Widget, str]:
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    return teen, (await console.assigned())["id"]


async def _prepare(gw, live: LiveGateway, hold: list) -> None:
    """Camille: a closed, qualified conversation and an open one; Dominique: one of hers."""
    camille = await gw.on_duty("camille")
    hold.append(camille)
    closed_teen, closed_id = await _assign(gw, camille, "bonjour")
    async with camille.http.post(f"/api/conversations/{closed_id}/qualification", json=QUALIFIED,
                                 headers={"Origin": gw.http}) as r:
        assert r.status == 200, await r.text()
    await camille.send({"type": "close", "conversation_id": closed_id})
    await camille.next("conversation", where=lambda f: f["conversation"]["state"] == "closed")
    open_teen, open_id = await _assign(gw, camille, "re-bonjour")
    await camille.presence("paused")
    dominique = await gw.on_duty("dominique", role=Role.COUNSELLOR)
    other_teen, other_id = await _assign(gw, dominique, "salut")
    hold += [closed_teen, open_teen, dominique, other_teen]
    async with camille.http.get("/api/openapi.json") as r:
        live.document = await r.json()
    live.base = gw.http
    live.cookies = {c.key: c.value for c in camille.http.cookie_jar}
    live.conversation_ids = dict(zip(LIVE, (closed_id, open_id, other_id)))
    notice_ids = [await _notice(who, gw.http, conversation_id) for who, conversation_id in
                  ((camille, closed_id), (dominique, other_id))]
    live.conversation_ids |= dict(zip(NOTICE_LIVE, notice_ids))


async def _notice(console, base: str, conversation_id: str) -> str:
    async with console.http.post(f"/api/conversations/{conversation_id}/notices", json=NOTICE,
                                 headers={"Origin": base}) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["id"]


class GatewayThread(threading.Thread):
    """The gateway on its own event loop: schemathesis' calls are synchronous (`requests`)."""

    def __init__(self, store_url: str):
        super().__init__(daemon=True)
        self.store_url, self.live = store_url, LiveGateway()
        self.ready, self.failure = threading.Event(), []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        hold: list = []
        try:
            async with running_gateway(make_config(self.store_url, prefix=f"st{uuid.uuid4().hex[:10]}")) as gw:
                try:
                    await _prepare(gw, self.live, hold)
                    self.ready.set()
                    await self.stopping.wait()
                finally:
                    for client in reversed(hold):
                        await client.close()
        except BaseException as exc:
            self.failure.append(exc)
            self.ready.set()

    def stop(self) -> None:
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(START_SECONDS)


@pytest.fixture(params=["memory", "redis"])
def live_gateway(request: pytest.FixtureRequest):
    store_url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    gateway = GatewayThread(store_url)
    gateway.start()
    try:
        assert gateway.ready.wait(START_SECONDS), "the gateway did not start"
        if gateway.failure:
            raise gateway.failure[0]
        yield gateway.live
    finally:
        gateway.stop()


def with_live_placeholders(document: dict) -> dict:
    """The document, plus placeholders of this run's real conversations and notices as examples
    of `{id}` (swapped for the real ids at call time): the generator then also reaches stored
    records (200, 403), not only unknown ids (404). Only the test's copy changes."""
    document = copy.deepcopy(document)
    for path, placeholders in LIVE_PATHS.items():
        [parameter] = document["paths"][path]["parameters"]
        parameter["examples"] = {name: {"value": name} for name in placeholders}
        parameter["schema"] = {"anyOf": [{"enum": list(placeholders)}, parameter["schema"]]}
    return document


# What the gateway serves with the built-in lists (checked against the served one below).
DOCUMENT = openapi_document(DEFAULT_CASEWORK.view())
schema = schemathesis.openapi.from_dict(with_live_placeholders(DOCUMENT))


def as_logged_in(case, live: LiveGateway) -> None:
    """The case as the console sends it: the real session cookie (schemathesis would otherwise
    put a generated value in the document's `gw_session` cookie, and every case would be a 401,
    which tests/test_casework_api.py covers), and a placeholder id swapped for its real one."""
    case.cookies = {**(case.cookies or {}), **live.cookies}
    conversation_id = (case.path_parameters or {}).get("id")
    if isinstance(conversation_id, str):  # negative cases may put any JSON value there
        case.path_parameters["id"] = live.conversation_ids.get(conversation_id, conversation_id)


@pytest.fixture
def console_session(live_gateway: LiveGateway):
    with requests.Session() as session:
        session.cookies.update(live_gateway.cookies)
        session.headers["Origin"] = live_gateway.base
        yield session


def test_the_document_under_test_is_the_one_served(live_gateway: LiveGateway):
    assert live_gateway.document == DOCUMENT


@schema.parametrize()
@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_the_casework_api_keeps_to_its_document(case, live_gateway: LiveGateway, console_session):
    as_logged_in(case, live_gateway)
    case.call_and_validate(base_url=live_gateway.base, session=console_session, checks=CHECKS, timeout=10)
