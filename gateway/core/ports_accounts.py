"""Store port: counsellor account lifecycle: disable, delete, sessions (helper E). Part of `Store` (core/ports.py)."""

from __future__ import annotations

from abc import ABC


class AccountRecords(ABC):  # noqa: B024 - methods are added by the part's owner
    """The store methods for this part; each store implements them in its own module."""
