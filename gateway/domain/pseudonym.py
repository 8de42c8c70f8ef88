"""Pseudonyms: a keyed hash of a platform id, so nobody reading the store learns who wrote.

The key is a secret from the environment. Without the key, a PSID or phone number
cannot be matched to its `sender_key`; with it, the same person gets the same alias.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from gateway.domain.errors import ConfigError


class Pseudonyms:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ConfigError("pseudonym.key_env", "the pseudonym key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_env(cls, env_name: str, *, allow_ephemeral: bool) -> tuple["Pseudonyms", bool]:
        """The key from `env_name`; a random one only where nothing outlives the process.

        Returns (pseudonyms, ephemeral?)."""
        value = os.environ.get(env_name, "")
        if value:
            return cls(value.encode("utf-8")), False
        if not allow_ephemeral:
            raise ConfigError(
                "pseudonym.key_env",
                f"set the environment variable {env_name} to a long random secret "
                "(every gateway process sharing a Redis store needs the same one)",
            )
        return cls(secrets.token_bytes(32)), True

    def sender_key(self, channel: str, platform_id: str) -> str:
        """A stable, non-reversible key for one person on one channel."""
        digest = hmac.new(self._key, f"{channel}:{platform_id}".encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()

    def derived_key(self, label: str) -> bytes:
        """A secret of its own for another use (e.g. "address-key:2026-12-01"), the same in
        every process sharing the pseudonym key, and telling nothing about that key."""
        return hmac.new(self._key, f"derived:{label}".encode("utf-8"), hashlib.sha256).digest()

    @staticmethod
    def alias(sender_key: str) -> str:
        """What counsellors see: "Jeune 4821". Collisions are harmless: it is a label, not a key."""
        return f"Jeune {int(sender_key[:8], 16) % 9000 + 1000}"
