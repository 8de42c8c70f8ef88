"""A young person's rights as JSON routes for the supervision page's "Droits des jeunes"
(supervisors and admins; a counsellor gets 403):

- `POST /api/console/privacy/find` — body {channel, id} | {alias, since?} | {code} → {"conversations": [...]}
  (POST, so a phone number or a code never sits in a URL, a proxy's access log or the history);
- `GET /api/console/privacy/export/{id}?format=txt|json` — the Art. 15 export, as an attachment;
- `POST /api/console/privacy/erase/{id}` — the Art. 17 erase (closed first if open) → the result row.

Thin: the rules are gateway/domain/privacy.py, the use cases gateway/core/privacy.py; session,
CSRF, error shape and 405s are gateway/http/json_api.py's.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core import privacy
from gateway.domain import privacy as rules
from gateway.http.console import HELPLINE
from gateway.http.json_api import Refusal, answer_of, by_method, check_csrf, json_body, logged_in_id, path_id


async def _find(request: web.Request) -> web.Response:
    check_csrf(request)
    by = await logged_in_id(request)
    body = await json_body(request)
    found = await answer_of(_found(request, by, body))
    return web.json_response({"conversations": [rules.found_view(c) for c in found]})


async def _found(request: web.Request, by: str, body: object):
    helpline = request.app[HELPLINE]
    await privacy.allowed(helpline, by)  # a counsellor learns nothing, not even that the body was wrong
    return await privacy.find(helpline, by, rules.parse_find(body))


async def _export(request: web.Request) -> web.Response:
    by = await logged_in_id(request)
    conversation_id = path_id(request, rules.UNKNOWN)
    output_format = request.query.get("format", "txt")
    if output_format not in rules.FORMATS:
        raise Refusal(400, "Format inconnu (txt ou json).", "format")
    document = await answer_of(privacy.export(request.app[HELPLINE], by, conversation_id, output_format))
    kind = "application/json" if output_format == "json" else "text/plain"
    disposition = f'attachment; filename="conversation-3018-{conversation_id}.{output_format}"'
    return web.Response(text=document, content_type=kind, charset="utf-8",
                        headers={"Content-Disposition": disposition})


async def _erase(request: web.Request) -> web.Response:
    check_csrf(request)
    by = await logged_in_id(request)
    conversation_id = path_id(request, rules.UNKNOWN)
    erased = await answer_of(privacy.erase(request.app[HELPLINE], by, conversation_id))
    return web.json_response(rules.found_view(erased))


def add_privacy_routes(app: web.Application) -> None:
    app.router.add_route("*", "/api/console/privacy/find", by_method({"POST": _find}))
    app.router.add_route("*", "/api/console/privacy/export/{id}", by_method({"GET": _export}))
    app.router.add_route("*", "/api/console/privacy/erase/{id}", by_method({"POST": _erase}))
