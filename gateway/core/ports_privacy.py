"""Store port: finding a teen's conversations for their rights (helper D). Part of `Store` (core/ports.py)."""

from __future__ import annotations

from abc import ABC


class PrivacyLookups(ABC):  # noqa: B024 - methods are added by the part's owner
    """The store methods for this part; each store implements them in its own module."""
