"""The console's case data as a JSON API (issue #12, item 10; docs/casework.md):

- `GET|POST /api/conversations/{id}/qualification` — read / store a conversation's qualification;
- `GET /api/qualification/options` — the lists of the form, with their French labels;
- `GET /api/openapi.json` — the OpenAPI 3.1 document of these routes (casework_openapi.py).

Authenticated by the console's session cookie; a POST passes the same Origin/CSRF check as the
console's login (security.csrf_ok). Thin: the rules (who may qualify what, which values) are the
core's and the domain's. Every error of these routes has one shape, `{"error": <French>,
"field"?: <key>}`, for 400/401/403/404/405/413/415 alike (a 503 from `store_outages` adds
"code"), so the console shows `error` whatever went wrong.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core import notices
from gateway.core.casework import options, qualification, qualify
from gateway.http.casework_openapi import openapi_document
from gateway.http.console import HELPLINE
from gateway.http.json_api import answer_of, by_method, check_csrf, json_body, logged_in_id, path_id

UNKNOWN_CONVERSATION = "Conversation inconnue."


def _conversation_id(request: web.Request) -> str:
    return path_id(request, UNKNOWN_CONVERSATION)


async def _post_qualification(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    check_csrf(request)
    counsellor_id = await logged_in_id(request)
    conversation_id = _conversation_id(request)
    body = await json_body(request)
    stored = await answer_of(qualify(helpline, counsellor_id, conversation_id, body))
    return web.json_response(stored.view())


async def _get_qualification(request: web.Request) -> web.Response:
    counsellor_id = await logged_in_id(request)
    conversation_id = _conversation_id(request)
    stored = await answer_of(qualification(request.app[HELPLINE], counsellor_id, conversation_id))
    return web.json_response(stored.view())


async def _get_options(request: web.Request) -> web.Response:
    await logged_in_id(request)
    return web.json_response(options(request.app[HELPLINE]).view())


async def _get_openapi(request: web.Request) -> web.Response:
    """Public: it describes the API, holds no case data; the lists are those in force."""
    helpline = request.app[HELPLINE]
    return web.json_response(openapi_document(options(helpline).view(), notices.options(helpline).view()))


def add_casework_routes(app: web.Application) -> None:
    app.router.add_route("*", "/api/conversations/{id}/qualification",
                         by_method({"GET": _get_qualification, "POST": _post_qualification}))
    app.router.add_route("*", "/api/qualification/options", by_method({"GET": _get_options}))
    app.router.add_route("*", "/api/openapi.json", by_method({"GET": _get_openapi}))
