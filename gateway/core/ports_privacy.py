"""Store port: finding a teen's conversations for their rights (core/privacy.py). Part of `Store`.

A search by platform id or code goes through the indexes of core/returning (`conversations_of_sender`,
`sender_of_follow_up_code`, `linked_senders`); by pseudonym, through `conversations_since`. What this
part adds is the erasure receipt: an erase takes a conversation out of its sender's index, so without
a receipt a search right after "Effacer" would answer "nothing found" and the supervisor could not
tell an erased conversation from a wrong number.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class PrivacyLookups(ABC):
    """Erasure receipts: sender key → conversation ids erased on request, each for a bounded time."""

    @abstractmethod
    async def remember_erasure(self, sender_key: str, conversation_id: str, until: float, now: float) -> None:
        """Keep until `until` (at most what retention would have kept the index; times on the
        caller's clock, `now` its present) that this sender's conversation was erased on
        request. Holds the keyed hash and the id only. `until <= now`: nothing kept."""

    @abstractmethod
    async def erasures_of_sender(self, sender_key: str, now: float) -> list[str]:
        """The ids of the sender's conversations erased on request whose receipt is still in
        force at `now` (ended ones are dropped), in no particular order."""
