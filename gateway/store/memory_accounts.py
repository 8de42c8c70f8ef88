"""The memory store's part for ports_accounts.AccountRecords (a mixin of MemoryStore).

It works on MemoryStore's own dictionaries (`_counsellors`, `_usernames`, `_sessions`,
`_consoles`): the memory store has no index of sessions, a scan of one process's dict is enough.
"""

from __future__ import annotations

import time
from dataclasses import replace

from gateway.domain.model import Counsellor, Presence


class MemoryAccountRecords:
    _counsellors: dict[str, Counsellor]
    _usernames: dict[str, str]
    _sessions: dict[str, tuple[str, float]]
    _consoles: dict[str, dict[str, float]]

    def __init__(self) -> None:
        pass

    async def set_counsellor_disabled(self, counsellor_id: str, disabled: bool, at: float) -> Counsellor | None:
        counsellor = self._counsellors.get(counsellor_id)
        if counsellor is None:
            return None
        changes: dict = {"disabled": disabled}
        if disabled and counsellor.presence is not Presence.OFFLINE:
            changes.update(presence=Presence.OFFLINE, presence_since=at)
        self._counsellors[counsellor_id] = updated = replace(counsellor, **changes)
        return updated

    async def end_sessions_of(self, counsellor_id: str) -> list[str]:
        theirs = [(token_hash, expires) for token_hash, (owner, expires) in self._sessions.items()
                  if owner == counsellor_id]
        for token_hash, _ in theirs:
            del self._sessions[token_hash]
        now = time.monotonic()  # the sessions' own clock (MemoryStore.create_session)
        return [token_hash for token_hash, expires in theirs if expires > now]

    async def delete_counsellor(self, counsellor_id: str) -> bool:
        counsellor = self._counsellors.pop(counsellor_id, None)
        if counsellor is None:
            return False
        if self._usernames.get(counsellor.username) == counsellor_id:
            del self._usernames[counsellor.username]
        await self.end_sessions_of(counsellor_id)
        self._consoles.pop(counsellor_id, None)
        return True
