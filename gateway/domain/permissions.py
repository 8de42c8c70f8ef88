"""Who may do what beyond their own conversations: supervisors and admins watch the whole line,
reassign, lift abuse marks and erase on request. Pure: the caller reads the account."""

from __future__ import annotations

from gateway.domain.errors import ProtocolError
from gateway.domain.model import Counsellor, Role

SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def supervises(counsellor: Counsellor | None) -> bool:
    return counsellor is not None and counsellor.role in SUPERVISING_ROLES and not counsellor.disabled


def require_supervisor(counsellor: Counsellor | None) -> Counsellor:
    """The account itself if it supervises; else ProtocolError `forbidden`."""
    if counsellor is None or not supervises(counsellor):
        raise ProtocolError("forbidden", "Réservé aux superviseur·es.")
    return counsellor
