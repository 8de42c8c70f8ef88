"""The Redis store's part for ports_accounts.AccountRecords (a mixin of RedisStore).

Keys: `counsellor:{id}:sessions`, a set of the account's session token hashes, written with
each session (RedisStore.create_session calls `index_session`) and expiring with the newest
one; entries of sessions that ran out are simply found gone. A session the index missed (the
set ran out first after `console.session_hours` was shortened) opens nothing anyway: a
disabled or deleted account has no session counsellor (core/accounts.session_counsellor).
"""

from __future__ import annotations

from typing import Any

from gateway.domain.model import Counsellor
from gateway.store.redis_codec import pairs, parse_counsellor
from gateway.store.redis_keys import RedisPart, redis_errors


class RedisAccountRecords(RedisPart):
    """set_counsellor_disabled, end_sessions_of, delete_counsellor; RedisStore provides the client."""

    def index_session(self, pipe: Any, token_hash: str, counsellor_id: str, ttl: int) -> None:
        """Queue on `pipe` the index entry of a new session (create_session runs the pipe)."""
        key = self._keys.counsellor_sessions(counsellor_id)
        pipe.sadd(key, token_hash)
        pipe.expire(key, ttl)  # sessions all live `ttl`: the newest outlives the others

    @redis_errors
    async def set_counsellor_disabled(self, counsellor_id: str, disabled: bool, at: float) -> Counsellor | None:
        fields = await self._s.set_disabled(keys=[self._keys.counsellor(counsellor_id)],
                                            args=["1" if disabled else "", repr(at)])
        return parse_counsellor(pairs(fields)) if fields else None

    @redis_errors
    async def end_sessions_of(self, counsellor_id: str) -> list[str]:
        index = self._keys.counsellor_sessions(counsellor_id)
        hashes = sorted(await self._r.smembers(index))
        if not hashes:
            return []
        async with self._r.pipeline(transaction=False) as pipe:  # sessions live in other slots
            for token_hash in hashes:
                pipe.getdel(self._keys.session(token_hash))
            owners = await pipe.execute()
        await self._r.delete(index)
        return [token_hash for token_hash, owner in zip(hashes, owners) if owner == counsellor_id]

    @redis_errors
    async def delete_counsellor(self, counsellor_id: str) -> bool:
        k = self._keys
        username = await self._r.hget(k.counsellor(counsellor_id), "username")
        if username is None:
            return False
        await self.end_sessions_of(counsellor_id)
        async with self._r.pipeline(transaction=False) as pipe:  # the username key is in another slot
            if await self._r.get(k.username(username)) == counsellor_id:
                pipe.delete(k.username(username))
            pipe.srem(k.counsellor_ids, counsellor_id)
            pipe.delete(k.counsellor(counsellor_id), k.counsellor_open(counsellor_id),
                        k.counsellor_consoles(counsellor_id), k.counsellor_sessions(counsellor_id))
            await pipe.execute()
        return True
