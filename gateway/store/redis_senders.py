"""The Redis store's returning teens: a pseudonym's conversations, follow-up codes and links.

A mixin of RedisStore (redis.py). The index `sender:{key}:convs` is written by the scripts that
create a conversation (STORE_INBOUND) and pruned by ERASE, which also drops the sender's code
and links with their last conversation; every key here carries a TTL as a safety net, so no
link between pseudonyms outlives the retention even if no sweeper runs.
"""

from __future__ import annotations

from gateway.domain.model import Conversation
from gateway.store.redis_codec import parse_conversation
from gateway.store.redis_keys import RedisPart, redis_errors


class RedisSenders(RedisPart):
    """conversations_of_sender, follow-up codes, sender links; RedisStore provides the client."""

    @redis_errors
    async def conversations_of_sender(self, sender_key: str, limit: int) -> list[Conversation]:
        if limit <= 0:
            return []
        ids = await self._r.zrevrange(self._keys.sender_conversations(sender_key), 0, limit - 1)
        async with self._r.pipeline(transaction=False) as pipe:
            for conversation_id in ids:
                pipe.hgetall(self._keys.conversation(conversation_id))
            rows = await pipe.execute()
        found = [parse_conversation(fields) for fields in rows if fields]
        # An erase renames the sender in the record: an index entry racing it is not theirs any more.
        theirs = [c for c in found if c.sender_key == sender_key]
        return sorted(theirs, key=lambda c: (c.opened_at, c.id), reverse=True)

    @redis_errors
    async def save_follow_up_code(self, code_hash: str, sender_key: str, ttl: int) -> None:
        k = self._keys
        earlier = await self._r.get(k.sender_code(sender_key))
        async with self._r.pipeline(transaction=True) as pipe:
            if earlier and earlier != code_hash:
                pipe.delete(k.follow_up(earlier))  # one code per teen: the new one replaces it
            pipe.set(k.follow_up(code_hash), sender_key, ex=ttl)
            pipe.set(k.sender_code(sender_key), code_hash, ex=ttl)
            await pipe.execute()

    @redis_errors
    async def sender_of_follow_up_code(self, code_hash: str) -> str | None:
        return await self._r.get(self._keys.follow_up(code_hash))

    @redis_errors
    async def link_senders(self, sender_key: str, earlier: set[str], ttl: int) -> None:
        if not earlier:
            return
        links = self._keys.sender_links(sender_key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.sadd(links, *sorted(earlier))
            pipe.expire(links, ttl)
            await pipe.execute()

    @redis_errors
    async def linked_senders(self, sender_key: str) -> set[str]:
        return set(await self._r.smembers(self._keys.sender_links(sender_key)))
