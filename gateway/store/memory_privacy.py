"""The memory store's part for ports_privacy.PrivacyLookups (a mixin of MemoryStore)."""

from __future__ import annotations


class MemoryPrivacyLookups:
    """Erasure receipts in a dict: sender key → {conversation id: receipt end}."""

    def __init__(self) -> None:
        self._erasures: dict[str, dict[str, float]] = {}

    async def remember_erasure(self, sender_key: str, conversation_id: str, until: float, now: float) -> None:
        if until > now:
            self._erasures.setdefault(sender_key, {})[conversation_id] = until

    async def erasures_of_sender(self, sender_key: str, now: float) -> list[str]:
        receipts = self._erasures.get(sender_key, {})
        for conversation_id in [c for c, until in receipts.items() if until <= now]:
            del receipts[conversation_id]
        if not receipts:
            self._erasures.pop(sender_key, None)
        return list(receipts)
