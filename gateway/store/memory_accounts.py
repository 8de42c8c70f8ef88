"""The memory store's part for ports_accounts.AccountRecords (a mixin of MemoryStore)."""

from __future__ import annotations


class MemoryAccountRecords:
    def __init__(self) -> None:
        pass
