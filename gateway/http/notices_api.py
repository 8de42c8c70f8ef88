"""Trusted-flagger notices as a JSON API (issue #13, items 1, 2 and 6; docs/protocol.md):

- `GET /api/notices/options` — the form's lists (platforms with their provider, kinds, offences,
  decisions);
- `POST /api/conversations/{id}/notices` — a new draft from a conversation → 201;
- `GET /api/notices?state=&platform=` — the notices this account may see, newest first;
- `GET|PATCH /api/notices/{id}` — one notice; PATCH edits a draft or moves it (409 out of order);
- `GET /api/notices/{id}/export?format=json|html` — the Art. 16(2) document, or its printable page.

Same session cookie, CSRF check on writes, error shape and 405s as the casework API
(gateway/http/json_api.py). Thin: who may see what, and every rule of a notice, are the core's
(gateway/core/notices.py) and the domain's (gateway/domain/notices.py).
"""

from __future__ import annotations

from aiohttp import web

from gateway.core import notices
from gateway.domain.notices import STATES, Notice, is_overdue
from gateway.http.console import HELPLINE
from gateway.http.json_api import Refusal, answer_of, by_method, check_csrf, json_body, logged_in_id, path_id
from gateway.http.notice_page import notice_page

UNKNOWN_CONVERSATION = "Conversation inconnue."
UNKNOWN_NOTICE = "Signalement inconnu."
EXPORT_FORMATS = ("json", "html")


def notice_json(request: web.Request, notice: Notice) -> dict:
    """A notice as the API shows it: its view, plus `overdue` (the console's "à relancer")."""
    helpline = request.app[HELPLINE]
    options = notices.options(helpline)
    return {**notice.view(options.appeal_months), "overdue": is_overdue(notice, options, helpline.clock.now())}


def _query_choice(request: web.Request, name: str, allowed, unknown: str) -> str | None:
    """An optional filter of the query string; a value outside the list is a 400 naming it."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise Refusal(400, f"{unknown} : {value[:40]}.", name)
    return value


async def _get_options(request: web.Request) -> web.Response:
    await logged_in_id(request)
    return web.json_response(notices.options(request.app[HELPLINE]).view())


async def _post_notice(request: web.Request) -> web.Response:
    check_csrf(request)
    counsellor_id = await logged_in_id(request)
    conversation_id = path_id(request, UNKNOWN_CONVERSATION)
    body = await json_body(request)
    created = await answer_of(notices.create(request.app[HELPLINE], counsellor_id, conversation_id, body))
    return web.json_response(notice_json(request, created), status=201)


async def _list_notices(request: web.Request) -> web.Response:
    counsellor_id = await logged_in_id(request)
    helpline = request.app[HELPLINE]
    state = _query_choice(request, "state", STATES, "État inconnu")
    platform = _query_choice(request, "platform", notices.options(helpline).values("platforms"),
                             "Plateforme inconnue")
    found = await answer_of(notices.list_for(helpline, counsellor_id, state, platform))
    return web.json_response({"notices": [notice_json(request, n) for n in found]})


async def _get_notice(request: web.Request) -> web.Response:
    counsellor_id = await logged_in_id(request)
    notice_id = path_id(request, UNKNOWN_NOTICE)
    found = await answer_of(notices.get(request.app[HELPLINE], counsellor_id, notice_id))
    return web.json_response(notice_json(request, found))


async def _patch_notice(request: web.Request) -> web.Response:
    check_csrf(request)
    counsellor_id = await logged_in_id(request)
    notice_id = path_id(request, UNKNOWN_NOTICE)
    body = await json_body(request)
    changed = await answer_of(notices.update(request.app[HELPLINE], counsellor_id, notice_id, body))
    return web.json_response(notice_json(request, changed))


async def _export_notice(request: web.Request) -> web.Response:
    """The document to send through the platform's priority channel; html opens in a tab to print."""
    counsellor_id = await logged_in_id(request)
    notice_id = path_id(request, UNKNOWN_NOTICE)
    output_format = request.query.get("format", "json")
    if output_format not in EXPORT_FORMATS:
        raise Refusal(400, f"Format inconnu : {output_format[:20]} (json ou html).", "format")
    document = await answer_of(notices.export(request.app[HELPLINE], counsellor_id, notice_id))
    name = f"signalement-{notice_id}.{output_format}"
    if output_format == "json":
        return web.json_response(document, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return web.Response(text=notice_page(document), content_type="text/html", charset="utf-8",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})


def add_notice_routes(app: web.Application) -> None:
    """Registered before any `{id}` route of /api/notices, so `options` is never taken for an id."""
    app.router.add_route("*", "/api/notices/options", by_method({"GET": _get_options}))
    app.router.add_route("*", "/api/notices", by_method({"GET": _list_notices}))
    app.router.add_route("*", "/api/notices/{id}", by_method({"GET": _get_notice, "PATCH": _patch_notice}))
    app.router.add_route("*", "/api/notices/{id}/export", by_method({"GET": _export_notice}))
    app.router.add_route("*", "/api/conversations/{id}/notices", by_method({"POST": _post_notice}))
