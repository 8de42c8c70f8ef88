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

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from gateway.core.casework import options, qualification, qualify
from gateway.domain.errors import GatewayError, StoreError
from gateway.http.casework_openapi import openapi_document
from gateway.http.console import FORBIDDEN, HELPLINE, current_counsellor
from gateway.http.frame_schema import ID_RE
from gateway.http.security import csrf_ok

JSON_TYPE = "application/json"
NOT_LOGGED_IN = "Non connecté."
UNKNOWN_CONVERSATION = "Conversation inconnue."
Handler = Callable[[web.Request], Awaitable[web.Response]]


class Refusal(Exception):
    """An answer other than 200, raised by the checks below and turned into the error shape."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers

    def response(self) -> web.Response:
        body = {"error": self.message} if self.field is None else {"error": self.message, "field": self.field}
        return web.json_response(body, status=self.status, headers=self.headers)


def _refusal_of(exc: GatewayError) -> Refusal:
    """The core's and the domain's refusals (QualificationRefused, Forbidden, NotFound…), as said."""
    return Refusal(exc.http_status, getattr(exc, "message", None) or str(exc), getattr(exc, "field", None))


async def _counsellor_id(request: web.Request) -> str:
    counsellor = await current_counsellor(request)
    if counsellor is None:
        raise Refusal(401, NOT_LOGGED_IN)
    return counsellor.id


def _conversation_id(request: web.Request) -> str:
    """The path's id; one that cannot be ours is unknown without asking the store."""
    conversation_id = request.match_info["id"]
    if ID_RE.fullmatch(conversation_id) is None:
        raise Refusal(404, UNKNOWN_CONVERSATION)
    return conversation_id


async def _json_body(request: web.Request) -> object:
    """The POST body as JSON. Requiring `application/json` also keeps cross-site HTML forms out:
    they can only send form or text types (CORS-safelisted), never this one without a preflight."""
    if request.content_type != JSON_TYPE:
        raise Refusal(415, "Le corps doit être du JSON (Content-Type: application/json).", "body")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refusal(413, "Requête trop volumineuse.", "body") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refusal(400, "Requête invalide : le corps n'est pas du JSON.", "body") from None


async def _post_qualification(request: web.Request) -> web.Response:
    helpline = request.app[HELPLINE]
    if not csrf_ok(request, helpline.config.console_origins):
        raise Refusal(403, FORBIDDEN["error"])
    counsellor_id = await _counsellor_id(request)
    conversation_id = _conversation_id(request)
    body = await _json_body(request)
    stored = await _core(qualify(helpline, counsellor_id, conversation_id, body))
    return web.json_response(stored.view())


async def _get_qualification(request: web.Request) -> web.Response:
    counsellor_id = await _counsellor_id(request)
    conversation_id = _conversation_id(request)
    stored = await _core(qualification(request.app[HELPLINE], counsellor_id, conversation_id))
    return web.json_response(stored.view())


async def _get_options(request: web.Request) -> web.Response:
    await _counsellor_id(request)
    return web.json_response(options(request.app[HELPLINE]).view())


async def _get_openapi(request: web.Request) -> web.Response:
    """Public: it describes the API, holds no case data; the lists are those in force."""
    return web.json_response(openapi_document(options(request.app[HELPLINE]).view()))


async def _core(call):
    """Await a core call; its refusals become answers, a store outage goes on to `store_outages`."""
    try:
        return await call
    except StoreError:
        raise
    except GatewayError as exc:
        if not 400 <= exc.http_status < 500:
            raise
        raise _refusal_of(exc) from None


def _by_method(handlers: dict[str, Handler]) -> Handler:
    """One handler per path that answers a method it does not serve with a 405 in the API's error
    shape (aiohttp's router would answer text/plain). HEAD is GET without the body."""
    allowed = ", ".join(sorted({*handlers, "HEAD"} if "GET" in handlers else handlers))

    async def route(request: web.Request) -> web.Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers.get(method)
        try:
            if handler is None:
                raise Refusal(405, "Méthode non permise ici.", headers={"Allow": allowed})
            return await handler(request)
        except Refusal as refusal:
            return refusal.response()

    return route


def add_casework_routes(app: web.Application) -> None:
    app.router.add_route("*", "/api/conversations/{id}/qualification",
                         _by_method({"GET": _get_qualification, "POST": _post_qualification}))
    app.router.add_route("*", "/api/qualification/options", _by_method({"GET": _get_options}))
    app.router.add_route("*", "/api/openapi.json", _by_method({"GET": _get_openapi}))
