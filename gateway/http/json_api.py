"""What every JSON route of the console's API shares (casework_api.py, notices_api.py): the one
error shape `{"error": <French>, "field"?: <key>}`, the session check, the JSON body, the core's
refusals as answers, and a 405 in that shape. One place, so the routes cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from gateway.domain.errors import GatewayError, StoreError
from gateway.http.console import FORBIDDEN, HELPLINE, csrf_refused, current_counsellor
from gateway.http.frame_schema import ID_RE

JSON_TYPE = "application/json"
NOT_LOGGED_IN = "Non connecté."
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refusal(Exception):
    """An answer other than 200, raised by the checks below and turned into the error shape."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None,
                 recorded: bool = False):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers
        self.recorded = recorded  # already a security event (a CSRF refusal)

    def response(self) -> web.Response:
        body = {"error": self.message} if self.field is None else {"error": self.message, "field": self.field}
        return web.json_response(body, status=self.status, headers=self.headers)


def refusal_of(exc: GatewayError) -> Refusal:
    """The core's and the domain's refusals (QualificationRefused, Forbidden, NotFound…), as said."""
    return Refusal(exc.http_status, getattr(exc, "message", None) or str(exc), getattr(exc, "field", None))


async def logged_in_id(request: web.Request) -> str:
    """The counsellor of the session cookie, or a 401."""
    counsellor = await current_counsellor(request)
    if counsellor is None:
        raise Refusal(401, NOT_LOGGED_IN)
    return counsellor.id


def path_id(request: web.Request, unknown: str) -> str:
    """The path's `{id}`; one that cannot be ours is unknown (404) without asking the store."""
    value = request.match_info["id"]
    if ID_RE.fullmatch(value) is None:
        raise Refusal(404, unknown)
    return value


def check_csrf(request: web.Request) -> None:
    """A write must come from the console (Origin/Referer, Sec-Fetch-Site), as its login does;
    a refusal is a security event (`csrf_refused` at `console_api`)."""
    if csrf_refused(request, "console_api") is not None:
        raise Refusal(403, FORBIDDEN["error"], recorded=True)


async def json_body(request: web.Request) -> object:
    """The body as JSON. Requiring `application/json` also keeps cross-site HTML forms out:
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


async def answer_of(call):
    """Await a core call; its refusals become answers, a store outage goes on to `store_outages`."""
    try:
        return await call
    except StoreError:
        raise
    except GatewayError as exc:
        if not 400 <= exc.http_status < 500:
            raise
        raise refusal_of(exc) from None


def by_method(handlers: dict[str, Handler]) -> Handler:
    """One handler per path that answers a method it does not serve with a 405 in the API's error
    shape (aiohttp's router would answer text/plain). HEAD is GET without the body."""
    allowed = ", ".join(sorted({*handlers, "HEAD"} if "GET" in handlers else handlers))

    async def route(request: web.Request) -> web.StreamResponse:
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers.get(method)
        try:
            if handler is None:
                raise Refusal(405, "Méthode non permise ici.", headers={"Allow": allowed})
            return await handler(request)
        except Refusal as refusal:
            if refusal.status == 403 and not refusal.recorded:  # someone reached past their role
                request.app[HELPLINE].security.record("forbidden", "console_api")
            return refusal.response()

    return route
