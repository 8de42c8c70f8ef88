"""The Redis store's key names and its error boundary, shared by its modules (see redis.py's key layout)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisClusterException, RedisError

from gateway.domain.errors import StoreError

if TYPE_CHECKING:  # annotations only: the scripts module imports this one
    import redis.asyncio as aioredis

    from gateway.store.redis_scripts import Scripts

T = TypeVar("T")


class Keys:
    """Key names; see the module docstring."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self.conversation_ids = f"{prefix}:convs"
        self.closed = f"{prefix}:closed"
        self.abuse = f"{prefix}:abuse"
        self.counsellor_ids = f"{prefix}:counsellors"
        self.outbox = f"{prefix}:outbox"
        self.outbox_attempts = f"{prefix}:outbox:attempts"
        self.outbox_windows = f"{prefix}:outbox:windows"
        self.qualifications = f"{prefix}:quals"  # casework: qualified conversation ids by ended_at
        self.qualification_values = f"{prefix}:quals:values"  # "field|value" ever used
        self.notices = f"{prefix}:notices"  # trusted-flagger notice ids by created_at (redis_notices)
        self.notices_sent = f"{prefix}:notices:sent"  # … by sent_at
        self.notices_decided = f"{prefix}:notices:decided"  # … by decided_at

    def dedupe(self, channel: str, provider_message_id: str) -> str:
        # Hashed: a provider id can be long and is nobody's business in a key listing.
        digest = hashlib.sha256(f"{channel}\x00{provider_message_id}".encode()).hexdigest()
        return f"{self.prefix}:dedupe:{digest}"

    def conversation(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}"

    def delivery(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:delivery"

    def provider(self, channel: str, provider_message_id: str) -> str:
        digest = hashlib.sha256(f"{channel}\x00{provider_message_id}".encode()).hexdigest()
        return f"{self.prefix}:provider:{digest}"

    def links(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:links"

    def messages(self, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{{{conversation_id}}}:msgs"

    def active(self, sender_key: str) -> str:
        return f"{self.prefix}:active:{sender_key}"

    def counsellor(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}"

    def counsellor_open(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}:open"

    def counsellor_sessions(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}:sessions"

    def counsellor_consoles(self, counsellor_id: str) -> str:
        return f"{self.prefix}:counsellor:{{{counsellor_id}}}:consoles"

    def username(self, username: str) -> str:
        return f"{self.prefix}:username:{username}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}:session:{token_hash}"

    # Returning teens (redis_senders); the ERASE and CLOSE scripts build these names too.
    def sender_conversations(self, sender_key: str) -> str:
        return f"{self.prefix}:sender:{sender_key}:convs"

    def sender_links(self, sender_key: str) -> str:
        return f"{self.prefix}:sender:{sender_key}:links"

    def sender_code(self, sender_key: str) -> str:
        return f"{self.prefix}:sender:{sender_key}:code"

    def follow_up(self, code_hash: str) -> str:
        return f"{self.prefix}:followup:{code_hash}"

    # Casework (redis_casework); the ERASE script builds the summary's name too.
    def qualification(self, conversation_id: str) -> str:
        return f"{self.prefix}:qual:{{{conversation_id}}}"

    def qualification_summary(self, conversation_id: str) -> str:
        return f"{self.prefix}:qual:{{{conversation_id}}}:summary"

    def value_uses(self, list_field: str, value: str) -> str:
        return f"{self.prefix}:quals:uses:{list_field}:{value}"

    # Trusted-flagger notices (redis_notices).
    def notice(self, notice_id: str) -> str:
        return f"{self.prefix}:notice:{{{notice_id}}}"

    def notices_of_state(self, state: str) -> str:
        return f"{self.prefix}:notices:state:{state}"

    def notices_of_decision(self, decision: str) -> str:
        return f"{self.prefix}:notices:decision:{decision}"

    def notices_of_conversation(self, conversation_id: str) -> str:
        return f"{self.prefix}:notices:conv:{conversation_id}"

    # Limits shared by every process (redis_limits): `key` is an opaque keyed hash, never an
    # address nor a username; one hash tag per counter and its lock.
    def limit(self, name: str, key: str) -> str:
        return f"{self.prefix}:limit:{name}:{{{key}}}"

    def limit_lock(self, name: str, key: str) -> str:
        return f"{self.prefix}:limit:{name}:{{{key}}}:lock"


def redis_errors(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The boundary: every Redis failure of a store call leaves as StoreError (a cluster's
    client-side refusals, RedisClusterException, are not RedisErrors: caught too)."""

    @functools.wraps(method)
    async def guarded(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return await method(self, *args, **kwargs)
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StoreError(f"redis store {method.__name__}: {exc}") from exc

    return guarded


class RedisPart:
    """What RedisStore gives the modules its methods are split into (conversations, intake,
    console holds): the key names, the content TTL, the client and the registered scripts."""

    _keys: Keys
    _content_ttl: int

    @property
    def _r(self) -> "aioredis.Redis":
        raise NotImplementedError

    @property
    def _s(self) -> "Scripts":
        raise NotImplementedError
