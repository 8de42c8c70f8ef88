"""Store port: a counsellor account's lifecycle: disable, enable, delete, and its sessions.

Part of `Store` (core/ports.py); the use cases are in core/accounts.py. Why a part of its own:
ending an account must reach every trace the store keeps of the person (sessions, console
holds, the username index, the record with the name, password hash and skills), while the
account's random id stays in the anonymous records (conversations, qualifications, notices).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from gateway.domain.model import Counsellor


class AccountRecords(ABC):
    """The store methods for this part; each store implements them in its own module."""

    @abstractmethod
    async def set_counsellor_disabled(self, counsellor_id: str, disabled: bool, at: float) -> Counsellor | None:
        """Disable (or enable again) an account; None if there is none. Disabling also puts it
        offline in the same step (`presence_since` = `at` if that changed), and from then on
        `set_presence` keeps a disabled account offline: it can never be available, so no
        assignment or hand-over can reach it, whatever another process planned."""

    @abstractmethod
    async def end_sessions_of(self, counsellor_id: str) -> list[str]:
        """Delete every live session of this counsellor; the token hashes that were deleted
        (for SessionEnded: each process closes those sockets)."""

    @abstractmethod
    async def delete_counsellor(self, counsellor_id: str) -> bool:
        """Delete the account: its record (name, password hash, skills…), its username (free
        again), its sessions, console holds and open set. False if there was none. Records
        that name the id (conversations, qualifications, notices) are left as they are."""
