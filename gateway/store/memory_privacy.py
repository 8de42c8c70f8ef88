"""The memory store's part for ports_privacy.PrivacyLookups (a mixin of MemoryStore)."""

from __future__ import annotations


class MemoryPrivacyLookups:
    def __init__(self) -> None:
        pass
