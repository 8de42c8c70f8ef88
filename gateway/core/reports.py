"""Report use cases (issue #13): the Art. 22(3) annual report and the activity figures.

Reads the store (notices, conversations, qualifications) and hands the records to the pure
aggregations of gateway/domain/reports.py. Used by the HTTP routes (supervisors and admins
only: `require_reader`) and by the CLI (`python -m gateway report …`), which has no account
and no running gateway: both pass anything holding a `store` and a `config` (the Helpline, or
the CLI's Parts). Nothing here logs or returns a text, an id or a pseudonym.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from gateway.core.ports import Store
from gateway.core.supervision import record_of
from gateway.domain import reports
from gateway.domain.config import Config
from gateway.domain.errors import Forbidden
from gateway.domain.model import CloseReason
from gateway.domain.permissions import supervises


class Sources(Protocol):
    store: Store
    config: Config


async def require_reader(sources: Sources, counsellor_id: str) -> None:
    """Reports are for supervisors and admins: anyone else gets Forbidden (403)."""
    if not supervises(await sources.store.get_counsellor(counsellor_id)):
        raise Forbidden("Les rapports sont réservés aux superviseur·es et aux administrateur·ices.")


def _tz(sources: Sources):
    return sources.config.schedule.weekly.tz  # the helpline's days and years, as the supervisor's figures


async def trusted_flagger_report(sources: Sources, year: object) -> dict:
    """The annual report of `year` (refused with ReportRefused when not a plausible year)."""
    year = reports.parse_year(year)
    start, end = reports.year_bounds(year, _tz(sources))
    sent = reports.sent_between(await sources.store.notices_between(start, end), start, end)
    return reports.trusted_flagger(sent, sources.config.notices, year)


async def activity_report(sources: Sources, from_date: object, to_date: object) -> dict:
    """The activity figures from `from_date` to `to_date` (AAAA-MM-JJ, both included)."""
    first, last = reports.parse_period(from_date, to_date)
    return await activity_between(sources, first, last)


async def activity_between(sources: Sources, first: date, last: date) -> dict:
    tz = _tz(sources)
    start, end = reports.period_bounds(first, last, tz)
    store = sources.store
    # conversations_since reads to now: the tail after `end` is cut by the domain.
    opened = [c for c in await store.conversations_since(start)
              if c.opened_at < end and c.close_reason is not CloseReason.BLOCKED]  # abusive: not our figures
    qualified = {q.conversation_id: q for q in await store.qualifications_since(start)}
    contacts = [reports.Contact(record_of(c), qualified.get(c.id)) for c in opened]
    notices = await store.notices_between(start, end)
    return reports.activity(contacts, notices, sources.config.casework, sources.config.notices, first, last, tz)

