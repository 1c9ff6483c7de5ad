"""Lua scripts of the lane protocol. Every key they reach carries the install's hash tag
(``common.keys``), so each touches one slot, on a single node or a Redis Cluster.

KEYS, always in this order (see ``common.keys.Partition.keys``):
  1 ready  2 active  3 holders  4 fence  5 attempts  6 backlog  7 oldest  8 dead
Lane stream and seen-set names are built from the partition's prefixes, which carry the
install's hash tag. Times come from the server clock, so replicas need not agree.

A commit whose outputs stand only if a write of its own stands (a run's record, a web chat
send's receipt: a precommit) is one SETTLE call: the precommit, then, if the key it guards
holds the value whose SHA1 is given (or any value, for an empty SHA1), the outputs'
publishes and the lane's finish, all in one step; otherwise nothing more, and {-2}.
"""

from __future__ import annotations


def _lean(text: str) -> str:
    """A script as it is sent: without its comment lines and indentation. The publishes go
    by their text, which Redis hashes (SHA1) on every call: a sixth of their bytes."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--")) + "\n"


# now_s is now as a string: a number handed to redis.call is formatted with
# snprintf("%.17g") on every call, a third of a microsecond each.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = string.format('%d', now)
"""

# The same time, read when called: for a script whose common path needs none.
_CLOCK = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# ARGV: lane_prefix, seen_prefix, dedup_window_ms, then (lane, id, data) triples.
# Returns {lanes_woken, dup_flag_1, dup_flag_2, ...} (1 = duplicate, not added).
# Work is done per lane, not per entry, wherever it can be: a commit under load carries
# many entries for one lane, and every command a script runs costs Redis a dispatch and,
# for a write, an AOF record. First, with reads only, each lane's ids are looked up in its
# seen set in one ZMSCORE (an id twice in the call is a duplicate the second time); the
# backlog is counted up once for all that will be appended, before any append, so a call
# cut short leaves it high, never low. Then, lane by lane, its group, oldest and ready
# marks go before its first append (a call cut short never leaves an appended entry
# unready), its entries are appended, and only then are their ids marked seen, in one
# ZADD: an append that fails leaves no mark that would turn the retry into a dropped
# "duplicate". A seen set's expiry is pushed out to twice the window whenever less than a
# window is left: every id stays at least a window, and a busy lane costs a PTTL read per
# call instead of a PEXPIRE write.
PUBLISH = (
    _NOW
    + """
local window = tonumber(ARGV[3])
local out = {0}
local order = {}
local groups = {}
for i = 4, #ARGV, 3 do
  local lane = ARGV[i]
  local group = groups[lane]
  if not group then
    group = {}
    groups[lane] = group
    order[#order + 1] = lane
  end
  group[#group + 1] = i
  out[#out + 1] = 0
end
local count = 0
for _, lane in ipairs(order) do
  local group = groups[lane]
  if window > 0 then
    local ids = {}
    for k, i in ipairs(group) do ids[k] = ARGV[i + 1] end
    local scores = redis.call('ZMSCORE', ARGV[2] .. lane, unpack(ids))
    local here = {}
    local keep = {}
    for k, i in ipairs(group) do
      local id = ARGV[i + 1]
      if id ~= '' and (here[id] or (scores[k] and tonumber(scores[k]) > now - window)) then
        out[(i - 1) / 3 + 1] = 1
      else
        if id ~= '' then here[id] = true end
        keep[#keep + 1] = i
      end
    end
    groups[lane] = keep
  end
  count = count + #groups[lane]
end
if count == 0 then return out end
redis.call('INCRBY', KEYS[6], count)
for _, lane in ipairs(order) do
  local keep = groups[lane]
  if #keep > 0 then
    local stream = ARGV[1] .. lane
    -- A lane has an oldest mark exactly while it has entries, and is then ready or held
    -- already: the mark, set only where there is none, says which lane this is, with no
    -- look at the stream first
    if redis.call('ZADD', KEYS[7], 'NX', now_s, lane) == 1 then
      local ready = true
      -- A new lane gets its stream and group here; one that has them (held, drained:
      -- a held lane keeps its stream until it is released) says so by refusing, in the
      -- one command: no holder without a stream
      local made = redis.pcall('XGROUP', 'CREATE', stream, 'g', '$', 'MKSTREAM')
      if type(made) == 'table' and made.err then
        if not string.find(made.err, 'BUSYGROUP', 1, true) then
          redis.call('ZREM', KEYS[7], lane)  -- no mark is left for a lane not made
          return redis.error_reply(made.err)
        end
        ready = not redis.call('ZSCORE', KEYS[2], lane)
      end
      if ready and redis.call('ZADD', KEYS[1], 'NX', now_s, lane) == 1 then
        out[1] = out[1] + 1
      end
    end
    local marks = {}
    for _, i in ipairs(keep) do
      redis.call('XADD', stream, '*', 'e', ARGV[i + 2])
      if window > 0 and ARGV[i + 1] ~= '' then
        marks[#marks + 1] = now_s
        marks[#marks + 1] = ARGV[i + 1]
      end
    end
    if #marks > 0 then
      local seen = ARGV[2] .. lane
      redis.call('ZADD', seen, unpack(marks))
      -- ids older than the window are dropped by about one call in eight (by time and
      -- id): the set stays bounded by the window without a trim per publish
      if (now + string.byte(marks[#marks], -1)) % 8 == 0 then
        redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - window)
      end
      if redis.call('PTTL', seen) < window then redis.call('PEXPIRE', seen, 2 * window) end
    end
  end
end
return out
"""
)

# ARGV: lane_prefix, max_lanes, lease_ttl_ms, batch, budget, scan(0/1)[, list_prefix,
#       value_prefix, hash, writers, writer[, slots, cap, slot_ttl_ms, holder_prefix]]
# Returns {now, table, more, room, {lane, token, entries, attempts, pending[, list, value]}...}.
# Once the lanes taken have brought ``budget`` strings (entries and list items), no further
# lane is taken and ``more`` is 1 if ready lanes were left: Lua interns every string a
# script handles, and Redis 6.2's Lua hashes a long string by about 32 of its characters,
# so strings alike in those (envelopes of one kind) share a chain that each new one walks.
# A call with thousands of them held a 6.2 server for seconds (7.0 hashes every character:
# there such a call costs in proportion, still 0.14 to 0.17 s for 20,000 entries). A lane
# whose lease expired had a dead holder: its pending head is charged one attempt and the
# lane is ready again. ``pending`` is 1 when the entries were read before (a re-delivery).
# No more ready lanes are looked at than the budget could take (``more`` says when there
# may be others).
# With ``scan`` the claim first looks for leases that expired, and slots (below): one lost
# to a dead holder is found by the next claim that looks, and claimers look a few times a
# second each, not on every claim. A ready lane's mark is half a millisecond early (ends
# in .5) when the lane went back with entries its holder had read (released, handed back,
# failed, or its lease expired): only such a lane can have pending entries, and only for
# it are they read; a lane made ready by a publish was never read.
# The leases of the lanes taken are written at the end, one command per key for them all
# (their ready marks, fencing tokens, expiries and holders), not four per lane.
# With the further arguments the claim also reads, for each lane it hands over, the list
# at list_prefix .. lane and the string at value_prefix .. (the lane's name up to its first
# '|'), and once the hash ``hash`` (``table``; else false): state a consumer needs before it
# can start, in the claim's round trip. A list whose last writer, as the hash ``writers``
# records it per lane, is the claimer (``writer``) comes back as its length only: the
# claimer holds it already.
# With ``slots`` (a semaphore's sorted set, see ``common.semaphore``) the claim takes no
# more lanes than the cap leaves room for, and a slot for each lane it takes, named
# holder_prefix .. token and leased for slot_ttl_ms: a lane never waits for its slot in a
# round trip of its own, and no slot is taken for a lane that did not come. ``room`` is the
# slots left free then (false without ``slots``).
CLAIM = (
    _NOW
    + """
local ttl = tonumber(ARGV[3])
local batch = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local reads = ARGV[7] ~= nil and ARGV[7] ~= ''
local slots = ARGV[12] ~= nil and ARGV[12] ~= ''
local expired = {}
if ARGV[6] == '1' then
  expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_s, 'LIMIT', 0, 100)
end
for _, lane in ipairs(expired) do
  redis.call('ZREM', KEYS[2], lane)
  redis.call('HDEL', KEYS[3], lane)
  local stream = ARGV[1] .. lane
  if redis.call('EXISTS', stream) == 1 then
    local head = redis.call('XPENDING', stream, 'g', '-', '+', 1)
    if head[1] then redis.call('HINCRBY', KEYS[5], lane .. '|' .. head[1][1], 1) end
    redis.call('ZADD', KEYS[1], string.format('%d.5', now - 1), lane)
  end
end
local out = {now, false, 0, false}
local strings = 0
local looked = {}
local taken = {}
-- no more lanes are looked at than the budget lets be taken (each brings an entry): a
-- claim of 1,000 lanes read 1,000 names to take a few
local want = tonumber(ARGV[2])
if slots then
  if ARGV[6] == '1' then redis.call('ZREMRANGEBYSCORE', ARGV[12], '-inf', now_s) end
  local room = math.max(tonumber(ARGV[13]) - redis.call('ZCARD', ARGV[12]), 0)
  out[4] = room
  want = math.min(want, room)
end
local look = math.min(want, budget)
local marks = {}
if look > 0 then
  marks = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'WITHSCORES', 'LIMIT', 0, look)
end
for j = 1, #marks, 2 do
  if strings >= budget then
    out[3] = 1
    break
  end
  local lane = marks[j]
  looked[#looked + 1] = lane
  local stream = ARGV[1] .. lane
  -- A ready lane whose stream is gone has nothing to hand over: the first read says so
  -- (NOGROUP), with no look at the key first. A lane never read since it was made ready
  -- has no pending entries to read.
  local read = string.find(marks[j + 1], '.', 1, true) and '0' or '>'
  local first = redis.pcall('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', batch, 'STREAMS', stream,
                            read)
  local refused = type(first) == 'table' and first.err
  if refused and not string.find(refused, 'NOGROUP', 1, true) then
    return redis.error_reply(refused)
  end
  if not refused then
    local entries = {}
    local attempts = {}
    local pending = 0
    if first and first[1] then entries = first[1][2] end
    if read == '>' then
      for i = 1, #entries do attempts[i] = 0 end
    elseif #entries > 0 then
      pending = 1
      -- only an entry read before can have been charged an attempt
      for i, e in ipairs(entries) do
        attempts[i] = tonumber(redis.call('HGET', KEYS[5], lane .. '|' .. e[1]) or '0')
      end
    else
      -- A re-delivery is handed over alone, exactly as first read, so a re-run of the
      -- same entries derives the same output ids (and the lanes drop the repeats).
      local new = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', batch,
                             'STREAMS', stream, '>')
      if new and new[1] then entries = new[1][2] end
      for i = 1, #entries do attempts[i] = 0 end
    end
    strings = strings + #entries
    local got = {lane, false, entries, attempts, pending}
    taken[#taken + 1] = got
    if reads and #entries > 0 then
      if ARGV[11] and ARGV[11] ~= '' and redis.call('HGET', ARGV[10], lane) == ARGV[11] then
        got[6] = redis.call('LLEN', ARGV[7] .. lane)
      else
        got[6] = redis.call('LRANGE', ARGV[7] .. lane, 0, -1)
        strings = strings + #got[6]
      end
      got[7] = redis.call('GET', ARGV[8] .. string.match(lane, '^[^|]*'))
      if not out[2] then out[2] = redis.call('HGETALL', ARGV[9]) end
    end
    table.insert(out, got)
  end
end
if #marks == 2 * look and look < want then out[3] = 1 end
-- the leases of all lanes taken, in one write per key: a fencing token each, the lease's
-- expiry and its holder
if #looked > 0 then redis.call('ZREM', KEYS[1], unpack(looked)) end
if #taken > 0 then
  local token = redis.call('INCRBY', KEYS[4], #taken) - #taken
  local expiry = string.format('%d', now + ttl)
  local expiries = {}
  local holders = {}
  for k, got in ipairs(taken) do
    got[2] = string.format('%d', token + k)
    expiries[2 * k - 1] = expiry
    expiries[2 * k] = got[1]
    holders[2 * k - 1] = got[1]
    holders[2 * k] = got[2]
  end
  redis.call('ZADD', KEYS[2], unpack(expiries))
  redis.call('HSET', KEYS[3], unpack(holders))
  if slots then
    local leased = string.format('%d', now + tonumber(ARGV[14]))
    local held = {}
    for k, got in ipairs(taken) do
      held[2 * k - 1] = leased
      held[2 * k] = ARGV[15] .. got[2]
    end
    redis.call('ZADD', ARGV[12], unpack(held))
    out[4] = out[4] - #taken
  end
end
return out
"""
)

_CHECK = """
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[3] then return {-1} end
local stream = ARGV[1] .. ARGV[2]
"""

_ACK = """
local function forget(ids)
  -- attempts are charged only on failures: with none anywhere in the partition, no id
  -- has a count to clear
  if redis.call('HLEN', KEYS[5]) > 0 then
    for _, id in ipairs(ids) do redis.call('HDEL', KEYS[5], ARGV[2] .. '|' .. id) end
  end
end
-- charged: whether any id may have an attempt count (nil: it may)
local function ack(ids, charged)
  if #ids == 0 then return 0 end
  -- A write that memory pressure refuses, before anything is acked: a server out of memory
  -- fails this script here, as it failed any publish sent ahead of it in the same pipeline.
  redis.call('DECRBY', KEYS[6], #ids)
  local n = redis.call('XACK', stream, 'g', unpack(ids))
  if n < #ids then redis.call('INCRBY', KEYS[6], #ids - n) end
  redis.call('XDEL', stream, unpack(ids))
  if charged ~= false then forget(ids) end
  return n
end
local function head_ms()
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if head[1] then
    local ms = string.match(head[1][1], '^(%d+)')
    redis.call('ZADD', KEYS[7], ms, ARGV[2])
    return ms
  end
  redis.call('ZREM', KEYS[7], ARGV[2])
  return nil
end
local function unhold()
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
-- a lane that goes back with entries is marked as one whose entries may have been read:
-- its mark half a millisecond early (see CLAIM)
local function release(ready_at)
  unhold()
  if head_ms() then
    redis.call('ZADD', KEYS[1], string.format('%d.5', ready_at - 1), ARGV[2])
    return 2
  end
  redis.call('DEL', stream)
  return 1
end
"""

# ARGV: lane_prefix, lane, token, release(0/1), lease_ttl_ms, charged(0/1), ids...
# Acks and deletes the ids. With charged 0 the holder says none of them was charged an
# attempt when it claimed them (and none can be since, while it holds the lease): their
# counts are not looked for. With release, frees the lane and re-arms it if entries remain
# (returns {2}) or deletes the drained lane (returns {1}); else renews the lease.
# The ids are distinct entries the holder read from the lane under this lease, so a lane
# released with as many entries as ids holds those entries only: it is deleted whole,
# without acking and deleting them one by one first: two writes fewer for every lane that
# drains (most of them, at a moderate rate), and a read of its length instead of its head.
# Such a lane needs no time either: the clock is read only by the paths that use it.
FINISH = (
    _CLOCK
    + _CHECK
    + _ACK
    + """
local ids = {unpack(ARGV, 7)}
local charged = ARGV[6] == '1'
local drained = ARGV[4] == '1' and #ids > 0 and redis.call('XLEN', stream) == #ids
if drained then
  redis.call('DECRBY', KEYS[6], #ids)
  if charged then forget(ids) end
  unhold()
  redis.call('ZREM', KEYS[7], ARGV[2])
  redis.call('DEL', stream)
  return {1}
end
ack(ids, charged)
if ARGV[4] == '1' then return {release(string.format('%d', clock()))} end
head_ms()
redis.call('ZADD', KEYS[2], 'XX', clock() + tonumber(ARGV[5]), ARGV[2])
return {1}
"""
)

# ARGV: lane_prefix, lane, token, delay_ms, max_attempts, error, stage, dlq_maxlen, force,
#       charge, ids...
# Charges one attempt to the first id (unless charge=0: a rate limit is not a failure).
# Below max_attempts the lane backs off as a whole (its entries stay pending, in order).
# At max_attempts, or with force=1, the ids move to the dead-letter stream with the error.
# Returns {dead(0/1), attempts}.
FAIL = (
    _NOW
    + _CHECK
    + _ACK
    + """
local ids = {unpack(ARGV, 11)}
local n
if ARGV[10] == '1' then
  n = redis.call('HINCRBY', KEYS[5], ARGV[2] .. '|' .. ids[1], 1)
else
  n = tonumber(redis.call('HGET', KEYS[5], ARGV[2] .. '|' .. ids[1]) or '0')
end
if n >= tonumber(ARGV[5]) or ARGV[9] == '1' then
  for _, id in ipairs(ids) do
    local e = redis.call('XRANGE', stream, id, id)
    if e[1] then
      redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[8], '*', 'lane', ARGV[2], 'stage', ARGV[7],
                 'error', ARGV[6], 'attempts', n, 'src', id, 'e', e[1][2][2])
    end
  end
  ack(ids)
  release(now_s)
  return {1, n}
end
release(now + tonumber(ARGV[4]))
return {0, n}
"""
)

# ARGV: lane_prefix, lane, token. Hands a lane back untouched (graceful shutdown):
# its entries stay pending and the next holder takes them over first; no attempt charged.
HANDBACK = (
    _NOW
    + _CHECK
    + _ACK
    + """
return {release(now_s)}
"""
)

# ARGV: lease_ttl_ms, then (lane, token) pairs. Returns "token|lane" of the leases lost.
RENEW = (
    _NOW
    + """
local lost = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), ARGV[i])
  else
    table.insert(lost, ARGV[i + 1] .. '|' .. ARGV[i])
  end
end
return lost
"""
)

# ARGV: lane_prefix, dead-letter entry id. Puts a dead letter back at the tail of its lane
# and removes it from the dead-letter stream. Returns the lane, or false if not found.
REPLAY = (
    _NOW
    + """
local d = redis.call('XRANGE', KEYS[8], ARGV[2], ARGV[2])
if not d[1] then return false end
local f = d[1][2]
local fields = {}
for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
local lane = fields['lane']
local stream = ARGV[1] .. lane
if redis.call('EXISTS', stream) == 0 then
  redis.call('XGROUP', 'CREATE', stream, 'g', '$', 'MKSTREAM')
end
redis.call('XADD', stream, '*', 'e', fields['e'])
redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[7], 'NX', now, lane)
if not redis.call('ZSCORE', KEYS[2], lane) then redis.call('ZADD', KEYS[1], 'NX', now, lane) end
redis.call('XDEL', KEYS[8], ARGV[2])
return lane
"""
)

# The global semaphore (see ``common.semaphore``); its slots are taken by CLAIM.
# KEYS: slots zset. Returns the number of live holders.
SLOTS_IN_USE = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], now, '+inf')
"""
)

# KEYS: slots zset. ARGV: ttl_ms, holder ids... Returns the holders that were lost.
SLOTS_RENEW = (
    _NOW
    + """
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i]) == 0 then
    if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then table.insert(lost, ARGV[i]) end
  end
end
return lost
"""
)

# Leader lease / generic lease. KEYS: lease key. ARGV: token, ttl_ms.
LEASE_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

LEASE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


PUBLISH, CLAIM, FINISH, FAIL, HANDBACK, RENEW, REPLAY = (
    _lean(text) for text in (PUBLISH, CLAIM, FINISH, FAIL, HANDBACK, RENEW, REPLAY)
)


# KEYS: the precommit's keys, each publish's partition keys, the lane's partition keys, the
#       guard key.
# ARGV: parts (the precommit, each publish, the finish), mode (0 keep, 1 drop, 2 drop
#       unwritten), each part's key count and argument count in that order; then each
#       part's arguments in turn; with mode 2 the guard's value and its time to live (s);
#       the SHA1 the guard key's value must have ('' for any value).
# Runs the precommit; if the guard key then holds what it must, the publishes and the
# finish, as PUBLISH and FINISH would (with drop, the guard key is deleted once the finish
# acked: a record needed only as long as its entries could be handed over again). Returns
# {finish's result, the precommit's reply, each publish's reply...}, or {-2, the
# precommit's reply} when the guard key holds anything else (or nothing). One step: a
# connection lost, or a server stopped, cannot leave the precommit written and the rest not.
# With mode 2 a precommit that finds the guard key unset leaves it so and answers false:
# its value stands without being written, read, hashed and deleted in the one step that
# acks the entries, and is written only where the step stops short of that ack (a publish
# or the finish refused), so a re-run still finds it.
_SETTLE = """
local parts = tonumber(ARGV[1])
local nk, na = 0, 2 + 2 * parts
local function part(i)
  local k, a = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local keys, args = {unpack(KEYS, nk + 1, nk + k)}, {unpack(ARGV, na + 1, na + a)}
  nk, na = nk + k, na + a
  return keys, args
end
local reply = pre(part(1))
if reply == nil then reply = false end
if type(reply) == 'table' and reply.err then return reply end
local guard, sha = KEYS[#KEYS], ARGV[#ARGV]
local unwritten = ARGV[2] == '2' and reply == false
-- where the step stops short of the ack, the record a mode 2 precommit left unset is written
local function short(result)
  if unwritten then redis.call('SET', guard, ARGV[#ARGV - 2], 'EX', ARGV[#ARGV - 1]) end
  return result
end
local function run(step, keys, args)
  local ok, result = pcall(step, keys, args)
  if ok or type(result) == 'table' then return result end
  return redis.error_reply(tostring(result))
end
if not unwritten then
  local held = redis.call('GET', guard)
  if not held or (sha ~= '' and redis.sha1hex(held) ~= sha) then return {-2, reply} end
end
local out = {0, reply}
for i = 2, parts - 1 do
  local published = run(publish, part(i))
  if published.err then return short(published) end
  out[#out + 1] = published
end
local finished = run(finish, part(parts))
if finished.err then return short(finished) end
out[1] = finished[1]
if finished[1] <= 0 then return short(out) end
if ARGV[2] ~= '0' and not unwritten then redis.call('DEL', guard) end
return out
"""


def _function(name: str, body: str) -> str:
    return f"local function {name}(KEYS, ARGV)\n{body}end\n"


def settle(precommit: str) -> str:
    """The SETTLE script for a precommit's script text: that text, PUBLISH and FINISH as
    local functions of their own keys and arguments, then the step that runs them."""
    lean = _function("publish", PUBLISH) + _function("finish", FINISH) + _lean(_SETTLE)
    return _function("pre", precommit.rstrip("\n") + "\n") + lean
