"""The Redis store's Lua scripts: every state change that must not race is one of them.

Each script runs alone on the server, so two gateway processes never give one sender two
conversations nor assign one conversation twice. Some build key names inside the script
(marked "mirrors Keys…"): see redis.py's key layout, and how on Redis Cluster one hash tag per helpline keeps them single-slot.

Queue scores are computed here as in redis_codec.queue_score: -priority * 1e13 + arrival in
ms, an exact integer in a double. Lua would write a number passed to redis.call with 14
significant digits, so scores are formatted with '%.0f' (exact for an integer double).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway.store.redis_batch import ScriptBatcher
from gateway.store.redis_inbox import INBOX_CLAIM
from gateway.store.redis_limits import FAILURE_ADD, LIMIT_HIT

# KEYS: active key, new conversation hash, queue, every-conversation index.
# ARGV: prefix, id, queue score ("" = not queued), opened_at, field/value pairs.
# Returns nil when it stored the new conversation, else the fields of the sender's open
# conversation. The key name built here mirrors Keys.conversation.
CREATE_OR_GET_ACTIVE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local key = ARGV[1] .. ':conv:{' .. existing .. '}'
  local state = redis.call('HGET', key, 'state')
  if state and state ~= 'closed' then return redis.call('HGETALL', key) end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
return false
"""

# KEYS: conversation hash, queue, counsellor hash, counsellor's open set.
# ARGV: conversation id, counsellor id, capacity, at. Returns an AssignOutcome value.
TRY_ASSIGN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 'not_queued' end
if redis.call('HGET', KEYS[3], 'presence') ~= 'available' then return 'not_available' end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'assigned', 'counsellor_id', ARGV[2], 'assigned_at', ARGV[4])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[3], 'last_assigned_at', ARGV[4])
return 'assigned'
"""

# KEYS: conversation hash, queue, target counsellor hash, target's open set.
# ARGV: prefix, conversation id, expected owner ("" = any), target id, capacity, at.
# Queued -> assigned (as TRY_ASSIGN), or assigned -> assigned to another counsellor. An
# expected owner must own it now: a queued conversation is nobody's. Returns {AssignOutcome
# value, the owner just before the move ("" = none)}. The key name built here mirrors
# Keys.counsellor_open.
REASSIGN = """
local f = redis.call('HMGET', KEYS[1], 'state', 'counsellor_id')
local state, owner = f[1], f[2]
if state == 'queued' then
  if ARGV[3] ~= '' then return {'not_queued', ''} end
elseif state == 'assigned' then
  if owner == ARGV[4] then return {'not_queued', ''} end
  if ARGV[3] ~= '' and owner ~= ARGV[3] then return {'not_queued', ''} end
else
  return {'not_queued', ''}
end
if redis.call('HGET', KEYS[3], 'presence') ~= 'available' then return {'not_available', ''} end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[5]) then return {'full', ''} end
if state == 'queued' then
  redis.call('ZREM', KEYS[2], ARGV[2])
elseif owner then
  redis.call('SREM', ARGV[1] .. ':counsellor:{' .. owner .. '}:open', ARGV[2])
  redis.call('HSET', KEYS[1], 'handed_over_by', owner)  -- assigned -> assigned: who handed it over
end
redis.call('HSET', KEYS[1], 'state', 'assigned', 'counsellor_id', ARGV[4], 'assigned_at', ARGV[6])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[3], 'last_assigned_at', ARGV[6])
return {'assigned', owner or ''}
"""

# KEYS: conversation hash, queue. ARGV: prefix, conversation id, expected owner ("" = any),
# queued_at, arrival in ms, required skill ("" = none), handed over by ("" = nobody: cleared).
# Assigned -> queued; returns the conversation's fields, or nil when it did not move.
# Mirrors _Keys.counsellor_open.
REQUEUE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'counsellor_id', 'priority')
if f[1] ~= 'assigned' then return false end
if ARGV[3] ~= '' and f[2] ~= ARGV[3] then return false end
if f[2] then redis.call('SREM', ARGV[1] .. ':counsellor:{' .. f[2] .. '}:open', ARGV[2]) end
redis.call('HSET', KEYS[1], 'state', 'queued', 'queued_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'counsellor_id')
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'required_skill')
else
  redis.call('HSET', KEYS[1], 'required_skill', ARGV[6])
end
if (ARGV[7] or '') == '' then
  redis.call('HDEL', KEYS[1], 'handed_over_by')
else
  redis.call('HSET', KEYS[1], 'handed_over_by', ARGV[7])
end
local score = -(tonumber(f[3]) or 0) * 10^13 + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], string.format('%.0f', score), ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: conversation hash, queue. ARGV: conversation id, priority, reason, required skill
# ("" = none). Only upwards, only an open conversation; a waiting one keeps its arrival
# (the score's ms part) and moves up. Returns 1 when raised.
RAISE_PRIORITY = """
local f = redis.call('HMGET', KEYS[1], 'state', 'priority')
if not f[1] or f[1] == 'closed' then return 0 end
local old, new = tonumber(f[2]) or 0, tonumber(ARGV[2])
if new <= old then return 0 end
redis.call('HSET', KEYS[1], 'priority', ARGV[2], 'priority_reason', ARGV[3])
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], 'required_skill')
else
  redis.call('HSET', KEYS[1], 'required_skill', ARGV[4])
end
if f[1] == 'queued' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score then
    redis.call('ZADD', KEYS[2], string.format('%.0f', tonumber(score) + (old - new) * 10^13), ARGV[1])
  end
end
return 1
"""

# KEYS: conversation hash, queue, closed index, messages list, delivery hash.
# ARGV: prefix, conversation id, reason, at, content TTL in seconds ("0" = none).
# The content keys get their retention safety net here (see RedisStore), and so does the
# sender's conversation index. Key names built here mirror _Keys.counsellor_open, _Keys.active
# and Keys.sender_conversations.
CLOSE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'counsellor_id', 'sender_key')
if not f[1] or f[1] == 'closed' then return false end
redis.call('HSET', KEYS[1], 'state', 'closed', 'close_reason', ARGV[3], 'closed_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
if f[2] then redis.call('SREM', ARGV[1] .. ':counsellor:{' .. f[2] .. '}:open', ARGV[2]) end
local active = ARGV[1] .. ':active:' .. f[3]
if redis.call('GET', active) == ARGV[2] then redis.call('DEL', active) end
if tonumber(ARGV[5]) > 0 then
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  redis.call('EXPIRE', KEYS[5], ARGV[5])
  redis.call('EXPIRE', ARGV[1] .. ':sender:' .. f[3] .. ':convs', ARGV[5])
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: conversation hash, messages list, delivery hash, outbox, outbox attempts, closed index,
# provider links set, outbox windows. ARGV: prefix, conversation id, at, erased sender key, erased alias.
# Only a closed conversation. Every outbox job has its entry in the delivery hash (APPEND
# writes both), so the hash's fields name the jobs to drop; the links set names its provider
# keys. The first `erased_at` is kept; a record that no longer exists leaves the closed index.
# The conversation leaves its sender's index; with the sender's last one, their follow-up code
# and links go too (returning teens: no pseudonym link outlives the retention).
# Returns 1 when erased. Mirrors _Keys.active, Keys.sender_* and Keys.follow_up.
ERASE = """
local f = redis.call('HMGET', KEYS[1], 'state', 'sender_key', 'erased_at')
if f[1] ~= 'closed' then
  if not f[1] then redis.call('ZREM', KEYS[6], ARGV[2]) end
  return 0
end
for _, seq in ipairs(redis.call('HKEYS', KEYS[3])) do
  local job = ARGV[2] .. '|' .. seq
  redis.call('ZREM', KEYS[4], job)
  redis.call('HDEL', KEYS[5], job)
  redis.call('HDEL', KEYS[8], job)
end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[7])) do redis.call('DEL', key) end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[7])
redis.call('DEL', ARGV[1] .. ':qual:{' .. ARGV[2] .. '}:summary')  -- casework: Keys.qualification_summary
if f[2] then
  local active = ARGV[1] .. ':active:' .. f[2]
  if redis.call('GET', active) == ARGV[2] then redis.call('DEL', active) end
  local sender = ARGV[1] .. ':sender:' .. f[2]
  redis.call('ZREM', sender .. ':convs', ARGV[2])
  if redis.call('ZCARD', sender .. ':convs') == 0 then
    local code = redis.call('GET', sender .. ':code')
    if code then redis.call('DEL', ARGV[1] .. ':followup:' .. code) end
    redis.call('DEL', sender .. ':convs', sender .. ':code', sender .. ':links')
  end
end
redis.call('HDEL', KEYS[1], 'reply_to', 'business_id', 'last_inbound_id', 'priority_reason')
redis.call('HSET', KEYS[1], 'sender_key', ARGV[4], 'alias', ARGV[5])
if not f[3] then redis.call('HSET', KEYS[1], 'erased_at', ARGV[3]) end
redis.call('ZREM', KEYS[6], ARGV[2])
return 1
"""

# KEYS: conversation hash. ARGV: at. Starts `waiting_since` only if it was unset.
TOUCH_TEEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_teen_message_at', ARGV[1])
redis.call('HSETNX', KEYS[1], 'waiting_since', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_inbound_id', ARGV[2]) end
return 1
"""

# A Lua function: conversation hash `conv` answered at `at`. The first answer is kept; the teen
# no longer waits and the inactivity check starts again (MARK_ANSWERED, and STORE_REPLY's step).
_MARK_ANSWERED_FN = """
local function mark_answered(conv, at)
  redis.call('HSETNX', conv, 'first_answer_at', at)
  redis.call('HSET', conv, 'last_answer_at', at)
  redis.call('HDEL', conv, 'waiting_since', 'checked_at')
end
"""

# KEYS: conversation hash. ARGV: at.
MARK_ANSWERED = _MARK_ANSWERED_FN + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
mark_answered(KEYS[1], ARGV[1])
return 1
"""

# KEYS: a hash. ARGV: field/value pairs, "" = delete the field. Updates a known record, never
# creates a partial one. Returns the updated fields, or nil when the record is unknown.
UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: counsellor hash. ARGV: presence, at. `presence_since` moves only on a change.
SET_PRESENCE = """
local presence = redis.call('HGET', KEYS[1], 'presence')
if not presence or presence == ARGV[1] then return 0 end
if ARGV[1] ~= 'offline' and redis.call('HGET', KEYS[1], 'disabled') == '1' then return 0 end  -- stays offline
redis.call('HSET', KEYS[1], 'presence', ARGV[1], 'presence_since', ARGV[2])
return 1
"""

# KEYS: counsellor hash. ARGV: "1" (disable) or "" (enable), at. One step: disabled and offline
# together (redis_accounts; SET_PRESENCE then keeps it offline).
SET_DISABLED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'disabled', '1')
  if redis.call('HGET', KEYS[1], 'presence') ~= 'offline' then
    redis.call('HSET', KEYS[1], 'presence', 'offline', 'presence_since', ARGV[2])
  end
else
  redis.call('HDEL', KEYS[1], 'disabled')
end
return redis.call('HGETALL', KEYS[1])
"""


# KEYS: username key, counsellor hash, counsellor id set. ARGV: id, field/value pairs.
ADD_COUNSELLOR = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

# KEYS: messages list, delivery hash, outbox, conversation hash, outbox windows. ARGV: encoded
# message, its send window ("" = not to send), due, id, content TTL ("0" = none). Storing a
# message and queueing its sending (with its window) is one step: a reply is never stored unsent. A message added to a closed conversation (the closing
# notice, an out-of-hours exchange) gives the content keys their TTL if they have none yet.
APPEND = """
local seq = redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  local job = ARGV[4] .. '|' .. seq
  redis.call('HSET', KEYS[2], seq, 'pending|')
  redis.call('ZADD', KEYS[3], ARGV[3], job)
  redis.call('HSET', KEYS[5], job, ARGV[2])
end
if tonumber(ARGV[5]) > 0 and redis.call('HGET', KEYS[4], 'state') == 'closed' then
  if redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
  if redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
end
return seq
"""


# A Lua function the intake scripts start with: append one line to conversation `id`, queue
# it for sending when it has a window, give a closed conversation's content keys their TTL;
# returns its seq. Does what APPEND does; the key names mirror Keys.messages/delivery/outbox.
_APPEND_LINE = """
local function append_line(prefix, id, encoded, window, due, content_ttl)
  local conv = prefix .. ':conv:{' .. id .. '}'
  local msgs, delivery = conv .. ':msgs', conv .. ':delivery'
  local seq = redis.call('RPUSH', msgs, encoded)
  if window ~= '' then
    local job = id .. '|' .. seq
    redis.call('HSET', delivery, seq, 'pending|')
    redis.call('ZADD', prefix .. ':outbox', due, job)
    redis.call('HSET', prefix .. ':outbox:windows', job, window)
  end
  if tonumber(content_ttl) > 0 and redis.call('HGET', conv, 'state') == 'closed' then
    if redis.call('TTL', msgs) == -1 then redis.call('EXPIRE', msgs, content_ttl) end
    if redis.call('TTL', delivery) == -1 then redis.call('EXPIRE', delivery, content_ttl) end
  end
  return seq
end
"""

# KEYS: dedupe key, active key, queue, every-conversation index, closed index, new
# conversation hash, the sender's conversations (returning teens; TTL = content TTL). ARGV: prefix, claim TTL, encoded line ("" = none), content TTL, new id
# ("" = none: only the open one), queue score ("" = not queued), opened_at, closed score
# ("" = open), field/value pairs. A teen's message in one step: the claim exists only with
# its line, and a new queued conversation enters the queue with its first line. The dedupe
# key keeps "id|seq", so a duplicate learns where the first went.
# Returns {'duplicate', "id|seq" or "1"}, {'no_open'} or {'stored', id, seq, created, fields}.
STORE_INBOUND = _APPEND_LINE + """
local first = redis.call('GET', KEYS[1])
if first then return {'duplicate', first} end
local id = false
local open = redis.call('GET', KEYS[2])
if open then
  local state = redis.call('HGET', ARGV[1] .. ':conv:{' .. open .. '}', 'state')
  if state and state ~= 'closed' then id = open end
end
local created = 0
if not id then
  if ARGV[5] == '' then return {'no_open'} end
  id, created = ARGV[5], 1
  redis.call('HSET', KEYS[6], unpack(ARGV, 9))
  redis.call('ZADD', KEYS[4], ARGV[7], id)
  redis.call('ZADD', KEYS[7], ARGV[7], id)
  if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[7], ARGV[4]) end
  if ARGV[8] ~= '' then redis.call('ZADD', KEYS[5], ARGV[8], id) else redis.call('SET', KEYS[2], id) end
end
local seq = 0
if ARGV[3] ~= '' then seq = append_line(ARGV[1], id, ARGV[3], '', '', ARGV[4]) end
if created == 1 and ARGV[6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[6], id) end
redis.call('SET', KEYS[1], id .. '|' .. seq, 'EX', ARGV[2])
return {'stored', id, seq, created, redis.call('HGETALL', ARGV[1] .. ':conv:{' .. id .. '}')}
"""

# KEYS: conversation hash[, dedupe key]. ARGV: prefix, id, counsellor id, encoded line, its
# send window ("" = not to send), due (= the line's time), content TTL, claim TTL. A
# counsellor's line, stored only while the conversation is theirs, claimed with it, and the
# conversation marked answered at the line's time, all in the one step.
# Returns {'duplicate', "id|seq" or "1"}, {'refused'} or {'stored', id, seq}.
STORE_REPLY = _APPEND_LINE + _MARK_ANSWERED_FN + """
if KEYS[2] then
  local first = redis.call('GET', KEYS[2])
  if first then return {'duplicate', first} end
end
local f = redis.call('HMGET', KEYS[1], 'state', 'counsellor_id')
if f[1] ~= 'assigned' or f[2] ~= ARGV[3] then return {'refused'} end
local seq = append_line(ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[2] .. '|' .. seq, 'EX', ARGV[8]) end
mark_answered(KEYS[1], ARGV[6])
return {'stored', ARGV[2], seq}
"""

# KEYS: messages list, delivery hash. ARGV: seq, "state|error". Only for a stored message (an
# erased conversation gets no delivery hash back from a late receipt); the hash expires with
# the list.
SET_DELIVERY = """
local seq = tonumber(ARGV[1])
if seq < 1 or redis.call('LLEN', KEYS[1]) < seq then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
"""

# KEYS: outbox, attempts hash, windows hash. ARGV: now, lease end, limit. Leases due jobs,
# returns member, attempts, window triples ("" for a job queued without its window).
CLAIM_DELIVERIES = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
  table.insert(out, member)
  table.insert(out, redis.call('HGET', KEYS[2], member) or '0')
  table.insert(out, redis.call('HGET', KEYS[3], member) or '')
end
return out
"""

# KEYS: outbox, attempts hash. ARGV: member, due, attempts. Only a job still in the outbox.
RETRY_DELIVERY = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: the conversation's answer claim, the day's counts hash. ARGV: ttl, "channel:value".
# The claim (no content, a TTL) refuses a second answer; the count keeps no conversation id.
SURVEY_ANSWER = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""


class Scripts:
    """The Lua scripts registered on one client, each called as redis-py's registered script
    (`await script(keys=[…], args=[…])`) but batched per loop tick (redis_batch): one round
    trip for the calls of one tick, a NOSCRIPT loaded and sent again, nothing retried."""

    def __init__(self, client: aioredis.Redis) -> None:
        script = ScriptBatcher(client).script
        self.create = script(CREATE_OR_GET_ACTIVE)
        self.assign = script(TRY_ASSIGN)
        self.reassign = script(REASSIGN)
        self.requeue = script(REQUEUE)
        self.raise_priority = script(RAISE_PRIORITY)
        self.close = script(CLOSE)
        self.erase = script(ERASE)
        self.touch_teen = script(TOUCH_TEEN)
        self.mark_answered = script(MARK_ANSWERED)
        self.update_if_exists = script(UPDATE_IF_EXISTS)
        self.set_presence = script(SET_PRESENCE)
        self.set_disabled = script(SET_DISABLED)  # redis_accounts
        self.add_counsellor = script(ADD_COUNSELLOR)
        self.append = script(APPEND)
        self.set_delivery = script(SET_DELIVERY)
        self.claim_deliveries = script(CLAIM_DELIVERIES)
        self.retry_delivery = script(RETRY_DELIVERY)
        self.survey_answer = script(SURVEY_ANSWER)
        self.store_inbound = script(STORE_INBOUND)
        self.store_reply = script(STORE_REPLY)
        self.limit_hit = script(LIMIT_HIT)  # redis_limits
        self.failure_add = script(FAILURE_ADD)
        self.inbox_claim = script(INBOX_CLAIM)  # redis_inbox

    async def load(self, client: aioredis.Redis) -> None:
        """Load every script now, to fail fast at start."""
        for registered in vars(self).values():
            await client.script_load(registered.script)
