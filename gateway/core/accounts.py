"""Counsellor accounts and console sessions: argon2id password hashes, random session tokens;
an account's lifecycle (disable, enable, delete: issue #14).

The store only ever sees a token's SHA-256, so a copy of the store opens no session. A
disabled account gets the wrong-password answer and its sessions open nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.core import audit
from gateway.domain.errors import AuthError
from gateway.domain.events import SessionEnded
from gateway.domain.model import Counsellor, Presence, Role
from gateway.core.ports import Store

if TYPE_CHECKING:  # the lifecycle use cases take the helpline (bus, clock); no import cycle
    from gateway.core.helpline import Helpline

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
    if counsellor is None or counsellor.disabled:  # disabled: the same answer, no hint
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
    counsellor = await store.get_counsellor(counsellor_id) if counsellor_id else None
    return None if counsellor is None or counsellor.disabled else counsellor


# --- the account's lifecycle: disable, enable, delete (`python -m gateway counsellor …`) ------------

ACCOUNT_ACTOR = "cli"  # who the audit names: the server's shell, not an account


@dataclass(frozen=True)
class AccountChange:
    """What a disable / enable / delete did, for the operator (ids and counts only)."""

    counsellor_id: str
    sessions_ended: int = 0
    handed_back: int = 0
    admins_left: int | None = None  # an admin disabled or deleted: enabled admins left (0: make one)


async def disable_counsellor(helpline: Helpline, username: str) -> AccountChange:
    """The account can no longer log in, at once and everywhere. In this order, so nothing slips
    between two steps: disabled and offline in one store step (no login, no assignment from
    now: another process's stale plan is refused by the store); every session deleted and
    SessionEnded published, so each process closes that console's sockets; then the offline
    presence hands every teen of theirs back to the head of the queue, each told (the same
    path as a logout). Runs in the CLI's process through the store and the bus: the Helpline
    there needs no dispatcher loop (its kick() only sets a flag). Disabling twice is harmless."""
    counsellor = await _account(helpline.store, username)
    now = helpline.clock.now()
    await helpline.store.set_counsellor_disabled(counsellor.id, True, now)
    ended = await helpline.store.end_sessions_of(counsellor.id)
    for token_hash in ended:
        await helpline.bus.publish(SessionEnded(token_hash))
    handed_back = len(await helpline.store.conversations_of(counsellor.id))
    await helpline.set_presence(counsellor.id, Presence.OFFLINE)  # publishes it, hands back (handover.py)
    audit.record("counsellor_disable", ACCOUNT_ACTOR, at=now, counsellor=counsellor.id,
                 sessions=len(ended), handed_back=handed_back)
    admins_left = await _admins_left(helpline.store) if counsellor.role is Role.ADMIN else None
    return AccountChange(counsellor.id, len(ended), handed_back, admins_left)


async def enable_counsellor(helpline: Helpline, username: str) -> AccountChange:
    """Logins work again; the account stays offline until its owner comes back."""
    counsellor = await _account(helpline.store, username)
    await helpline.store.set_counsellor_disabled(counsellor.id, False, helpline.clock.now())
    audit.record("counsellor_enable", ACCOUNT_ACTOR, at=helpline.clock.now(), counsellor=counsellor.id)
    return AccountChange(counsellor.id)


async def delete_counsellor(helpline: Helpline, username: str) -> AccountChange:
    """Disable first (everything above), then delete the account and all that is personal in
    it (display name, password hash, skills, sessions, username). The random id stays in the
    anonymous records (conversations' counsellor_id, qualifications, notices, audit): the views
    that look a name up do so only for an assigned conversation (never a deleted account's,
    handed back just before) and take a missing account as no name. The last admin may be deleted:
    accounts are made by the CLI on the server, which can always create another one, and
    refusing would keep a person's data after they left (the report says when none is left)."""
    done = await disable_counsellor(helpline, username)
    await helpline.store.delete_counsellor(done.counsellor_id)
    audit.record("counsellor_delete", ACCOUNT_ACTOR, at=helpline.clock.now(), counsellor=done.counsellor_id)
    return done if done.admins_left is None else replace(done, admins_left=await _admins_left(helpline.store))


async def _account(store: Store, username: str) -> Counsellor:
    counsellor = await store.counsellor_by_username(username) if username else None
    if counsellor is None:
        raise LookupError(f"no account {username!r}")
    return counsellor


async def _admins_left(store: Store) -> int:
    return sum(1 for c in await store.counsellors() if c.role is Role.ADMIN and not c.disabled)
