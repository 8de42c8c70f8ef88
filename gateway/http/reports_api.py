"""The reports as HTTP routes (issue #13 item 6), for supervisors and admins:

- `GET /api/reports/trusted-flagger?year=2026[&format=json|csv|html]` — the Art. 22(3) report;
- `GET /api/reports/activity?from=2026-01-01&to=2026-12-31[&format=json|csv]` — the figures of
  the statistics page (console/stats.js reads the JSON).

Same session cookie, error shape (`{"error", "field"?}`) and 405 handling as the casework API
(gateway/http/json_api.py). GET only, nothing changes: no CSRF check needed, and the
answers carry `Cache-Control: no-store` like every /api/ path (security.py). The rules and the
parameters' checks are the core's and the domain's; this module only translates.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core import reports
from gateway.domain.reports import (
    ACTIVITY,
    CONTENT_TYPES,
    TRUSTED_FLAGGER,
    parse_format,
    render,
)
from gateway.http.console import HELPLINE
from gateway.http.json_api import answer_of, by_method, logged_in_id

FILE_NAMES = {TRUSTED_FLAGGER: "rapport-signaleur-{}", ACTIVITY: "activite-{}"}


async def _answer(request: web.Request, kind: str, report: dict, output_format: str, name: str) -> web.Response:
    if output_format == "json":
        return web.json_response(report)
    text = render(report, kind, output_format, request.app[HELPLINE].config.notices)
    # csv: a download named after the period; html: a page to read and print.
    disposition = "attachment" if output_format == "csv" else "inline"
    return web.Response(text=text, content_type=CONTENT_TYPES[output_format], charset="utf-8",
                        headers={"Content-Disposition": f'{disposition}; filename="{name}.{output_format}"'})


async def _reader(request: web.Request):
    """The helpline, once the session is a supervisor's or an admin's (401 / 403 otherwise)."""
    helpline = request.app[HELPLINE]
    counsellor_id = await logged_in_id(request)
    await answer_of(reports.require_reader(helpline, counsellor_id))
    return helpline


async def _get_trusted_flagger(request: web.Request) -> web.Response:
    helpline = await _reader(request)
    output_format = await answer_of(_checked_format(request, TRUSTED_FLAGGER))
    report = await answer_of(reports.trusted_flagger_report(helpline, request.query.get("year")))
    return await _answer(request, TRUSTED_FLAGGER, report, output_format,
                         FILE_NAMES[TRUSTED_FLAGGER].format(report["year"]))


async def _get_activity(request: web.Request) -> web.Response:
    helpline = await _reader(request)
    output_format = await answer_of(_checked_format(request, ACTIVITY))
    report = await answer_of(reports.activity_report(helpline, request.query.get("from"), request.query.get("to")))
    return await _answer(request, ACTIVITY, report, output_format,
                         FILE_NAMES[ACTIVITY].format(f"{report['from']}_{report['to']}"))


async def _checked_format(request: web.Request, kind: str) -> str:
    return parse_format(request.query.get("format"), kind)


def add_report_routes(app: web.Application) -> None:
    app.router.add_route("*", "/api/reports/trusted-flagger", by_method({"GET": _get_trusted_flagger}))
    app.router.add_route("*", "/api/reports/activity", by_method({"GET": _get_activity}))
