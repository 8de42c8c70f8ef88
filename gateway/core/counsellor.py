"""What a counsellor does through the console, as use cases the console adapter calls.

Log in and out, the console's opening snapshot, the team, opening a conversation, replying
once per client id, and whether a session still lives. The adapter parses a frame, calls one
of these and renders what comes back; the store is reached only from here (and the rest of
the core). Presence across sockets (the offline grace) is in core/console_presence.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core import audit
from gateway.core.accounts import authenticate, hash_token, open_session, session_counsellor
from gateway.core.handover import Handover, reassign, transfer
from gateway.core.helpline import Helpline
from gateway.core.limits import LoginGuard
from gateway.core.ports import MessageId
from gateway.core.supervision import start_of_day
from gateway.domain.errors import AuthError, ProtocolError
from gateway.domain.events import SessionEnded
from gateway.domain.login_guard import account_key
from gateway.domain.model import Author, Conversation, Counsellor, Message, Presence

MAX_CLIENT_ID = 64


# --- sessions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Login:
    """A login's outcome: a counsellor and their new token, or a wait (throttled)."""

    counsellor: Counsellor | None = None
    token: str | None = None
    retry_after: float | None = None


async def log_in(helpline: Helpline, guard: LoginGuard, username: str, password: str, address_key: str) -> Login:
    """Check the throttle, then the password; AuthError with one answer whether the account exists or not."""
    account = account_key(username)
    wait = await guard.check(account, address_key)
    if wait is not None:  # same answer whether the account exists or not
        return Login(retry_after=wait)
    try:
        counsellor = await authenticate(helpline.store, username, password)
    except AuthError:
        await guard.failed(account, address_key)
        audit.record("login_refused", None, at=helpline.clock.now())
        raise
    await guard.succeeded(account, address_key)
    token = await open_session(helpline.store, counsellor, helpline.config.session_hours)
    audit.record("login", counsellor.id, at=helpline.clock.now())
    return Login(counsellor, token)


async def counsellor_of_session(helpline: Helpline, token: str | None) -> Counsellor | None:
    """The counsellor whose live session this cookie token opens, else None."""
    return await session_counsellor(helpline.store, token)


async def session_alive(helpline: Helpline, token_hash: str) -> bool:
    return bool(await helpline.store.session_counsellor(token_hash))


async def log_out(helpline: Helpline, token: str) -> None:
    """End the session everywhere: deleted, and every process closes its sockets (SessionEnded).
    Logging out is leaving: first offline, which hands every open conversation back to the head
    of the queue (each teen told at once someone else takes over), so no teen is left alone
    while the console's grace runs. Another session of theirs still open sees it too."""
    who = await counsellor_of_session(helpline, token)
    audit.record("logout", who.id if who else None, at=helpline.clock.now())
    if who is not None:
        await helpline.set_presence(who.id, Presence.OFFLINE)
    await helpline.store.delete_session(hash_token(token))
    await helpline.bus.publish(SessionEnded(hash_token(token)))


# --- the console's reads -----------------------------------------------------------------------

CLOSED_TODAY_MAX = 50  # "Terminées aujourd'hui": a shift's worth, newest first


@dataclass(frozen=True)
class ConsoleStart:
    """What a console shows when it opens: my open conversations, those I closed today (so a
    reload does not make them vanish), the last line of each (the list's preview) and my colleagues."""

    conversations: list[Conversation]
    team: list[Counsellor]
    last_lines: dict[str, Message]  # conversation id -> its latest spoken line (absent: none yet)


async def console_start(helpline: Helpline, counsellor_id: str) -> ConsoleStart:
    store = helpline.store
    conversations = await store.conversations_of(counsellor_id) + await _closed_today_of(helpline, counsellor_id)
    last_lines = {}
    for conversation in conversations:
        # Automatic lines are the same for everyone ("Camille est là…"): the preview says what a person wrote.
        spoken = [m for m in await store.messages(conversation.id) if m.author is not Author.SYSTEM]
        if spoken:
            last_lines[conversation.id] = spoken[-1]
    return ConsoleStart(conversations, await team_of(helpline, counsellor_id), last_lines)


async def _closed_today_of(helpline: Helpline, counsellor_id: str) -> list[Conversation]:
    """Conversations I held when they closed today (Europe/Paris), not erased, newest first."""
    since = start_of_day(helpline, helpline.clock.now())
    closed = [c for c in await helpline.store.conversations_since(since)
              if c.counsellor_id == counsellor_id and not c.is_open and c.erased_at is None]
    closed.sort(key=lambda c: c.closed_at or 0, reverse=True)
    return closed[:CLOSED_TODAY_MAX]


async def team_of(helpline: Helpline, counsellor_id: str) -> list[Counsellor]:
    """Colleagues, for transfers (everyone but me and the disabled accounts)."""
    return [c for c in await helpline.store.counsellors() if c.id != counsellor_id and not c.disabled]


async def open_conversation(helpline: Helpline, counsellor_id: str,
                            conversation_id: object) -> tuple[Conversation, list[Message]]:
    """My conversation's history; audited, and "seen" on the platforms that show it."""
    conversation = await helpline.conversation_of(counsellor_id, conversation_id)
    messages = await helpline.store.messages(conversation.id)
    audit.record("open", counsellor_id, at=helpline.clock.now(), conversation_id=conversation.id)
    await helpline.seen(counsellor_id, conversation.id)
    return conversation, messages


async def resume_conversations(helpline: Helpline, counsellor_id: str, marks: dict[str, int]) -> list[str]:
    """Of the conversations a reconnecting console names, those it still holds (the ones its
    `init` lists): only their lines may be sent to it again."""
    held = {c.id for c in await helpline.store.conversations_of(counsellor_id)}
    return [conversation_id for conversation_id in marks if conversation_id in held]


# --- replies -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Replied:
    """A reply's outcome: the stored line, or `duplicate` (this client id was already stored)."""

    conversation_id: str
    message: Message | None
    duplicate: bool = False


async def reply_once(helpline: Helpline, counsellor_id: str, conversation_id: object, client_id: object,
                     text: object) -> Replied:
    """Store and send a reply once per (counsellor, client id), even if the page re-sends it
    after a reconnect. The client id is claimed only with the stored line (one store step): a
    reply refused (window closed, conversation ended…) or lost in a crash claims nothing, so
    the same client id may be tried again."""
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise ProtocolError("bad_client_id", "Réponse sans identifiant.")
    message_id = MessageId("console", f"{counsellor_id}:{client_id}", helpline.config.dedupe_ttl_seconds)
    try:  # the store step itself drops a re-sent id: no read of the claim before it
        message = await helpline.reply(counsellor_id, conversation_id, text, message_id)
    except ProtocolError as exc:
        # A re-send of a stored reply is a duplicate even if the conversation has closed (or its
        # window, or …) since: the claim is read only once the reply was refused. Not when it is
        # no longer mine: that says so first, as before.
        if exc.code == "not_yours" or await helpline.store.stored_under(message_id) is None:
            raise
        message = None
    return Replied(str(conversation_id), message, duplicate=message is None)


# --- handovers, audited ----------------------------------------------------------------------

async def transfer_conversation(helpline: Helpline, counsellor_id: str, conversation_id: object, *,
                                to_counsellor: object = None, to_skill: object = None,
                                note: object = None) -> Handover:
    """Hand my conversation to a colleague or a skill (core/handover.py), and audit it."""
    done = await transfer(helpline, counsellor_id, conversation_id, to_counsellor=to_counsellor,
                          to_skill=to_skill, note=note)
    audit.record("transfer", counsellor_id, at=helpline.clock.now(), conversation_id=done.conversation_id,
                 outcome=done.outcome)
    return done


async def reassign_conversation(helpline: Helpline, supervisor_id: str, conversation_id: object,
                                to_counsellor: object) -> Handover:
    """A supervisor gives a conversation to someone else (core/handover.py), and it is audited."""
    done = await reassign(helpline, supervisor_id, conversation_id, to_counsellor)
    audit.record("reassign", supervisor_id, at=helpline.clock.now(), conversation_id=done.conversation_id)
    return done


# --- the line's gauges (metrics) ---------------------------------------------------------------

@dataclass(frozen=True)
class LineGauges:
    """Helpline-wide numbers a scrape shows: conversations waiting, counsellors available."""

    queue_length: int
    counsellors_available: int


async def line_gauges(helpline: Helpline) -> LineGauges:
    """Read now from the store (a StoreError goes to the caller: the last values stay)."""
    queue = await helpline.store.queue()
    counsellors = await helpline.store.counsellors()
    return LineGauges(len(queue), sum(1 for c in counsellors if c.presence is Presence.AVAILABLE))
