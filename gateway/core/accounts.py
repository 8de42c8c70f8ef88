"""Counsellor accounts and console sessions: argon2id password hashes, random session tokens.

The store only ever sees a token's SHA-256, so a copy of the store opens no session.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.domain.errors import AuthError
from gateway.domain.model import Counsellor, Role
from gateway.core.ports import Store

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A hash to verify against when the username is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


def parse_skills(text: str) -> frozenset[str]:
    """"psychologue, Juriste" -> {"psychologue", "juriste"}; a skill is one lowercase word."""
    skills = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    for skill in skills:
        if len(skill) > 40 or not skill.replace("-", "").isalnum():
            raise ValueError(f"skill {skill!r}: one word (letters, digits, '-')")
    return skills


async def create_counsellor(
    store: Store, username: str, display_name: str, password: str, role: Role = Role.COUNSELLOR,
    skills: frozenset[str] = frozenset(), max_conversations: int | None = None,
) -> Counsellor:
    if not username or len(username) > 64 or not username.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise ValueError("username: letters, digits, '.', '-' and '_' only, 1 to 64 characters")
    if len(password) < 10:
        raise ValueError("password: at least 10 characters")
    counsellor = Counsellor(
        id=uuid.uuid4().hex,
        username=username,
        display_name=display_name.strip() or username,
        password_hash=_hasher.hash(password),
        role=role,
        skills=skills,
        max_conversations=max_conversations,
    )
    await store.add_counsellor(counsellor)
    return counsellor


async def authenticate(store: Store, username: str, password: str) -> Counsellor:
    """The counsellor, or AuthError with one answer whether the account exists or not."""
    counsellor = await store.counsellor_by_username(username) if username else None
    try:
        _hasher.verify(counsellor.password_hash if counsellor else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError) as exc:
        raise AuthError("wrong username or password") from exc
    if counsellor is None:
        raise AuthError("wrong username or password")
    return counsellor


async def open_session(store: Store, counsellor: Counsellor, hours: float) -> str:
    """A new session token (for the cookie); the store keeps only its hash."""
    token = secrets.token_urlsafe(32)
    await store.create_session(hash_token(token), counsellor.id, int(hours * 3600))
    return token


async def session_counsellor(store: Store, token: str | None) -> Counsellor | None:
    if not token or len(token) > 128:
        return None
    counsellor_id = await store.session_counsellor(hash_token(token))
    return await store.get_counsellor(counsellor_id) if counsellor_id else None
