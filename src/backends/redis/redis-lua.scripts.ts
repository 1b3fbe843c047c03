/**
 * Lua scripts of the Redis backend: every state change is one script, atomic on the server. Keys are derived
 * from the prefix passed as ARGV[1] (single-node Redis/Valkey; not a Cluster layout).
 *
 * Key layout (P = keyPrefix):
 *   P:task:<id>            hash of the record (snake_case fields of the SQL table; absent field = null), plus
 *                          ready_member (its ready-set member while due; stale while running) and seq (insertion order, kept for life)
 *   P:ready:<queue>|<exec> sorted set of due claimable records: score -priority, member "<queuedAt:11 hex>:<seq:10 hex>:<id>",
 *                          so equal scores order FIFO by member. The member stays under 64 bytes, so the record's
 *                          hash (which keeps a copy) stays in Redis's compact listpack encoding
 *   P:readysets            set of "<queue>|<exec>" names that have a ready set
 *   P:delayed              sorted set of scheduled records by due time (promoted in bounded batches by claims)
 *   P:running              sorted set of running records by heartbeat (0 = cleared), stale recovery reads its head
 *   P:keys / P:lastkey     hash dedup key -> active holder / latest record with the key
 *   P:stats:<queue>        hash status -> count;  P:queues: set of queues
 *   P:terminal             sorted set of terminal records by completion time (cleanup)
 *   P:completed:<taskName> sorted set of completed records by completion time
 *   P:external             set of non-terminal records that carry an execution ref
 *   P:created              sorted set of every record by creation time (ms): the newest-first listing reads its
 *                          end. P:created:indexed marks that records written before it existed were added
 *   P:seq                  FIFO tie-breaker counter;  P:lease:<name>: lease owner with a TTL
 */
const COMMON = `
local p = ARGV[1]
local function tkey(id) return p .. ':task:' .. id end
local function stat(queue, status, delta)
  if not queue or not status then return end -- a hash written around us may lack them; never fail the script
  redis.call('HINCRBY', p .. ':stats:' .. queue, status, delta)
end
-- Add a due record to its ready set ("<queue>|<exec>"); returns its member (FIFO within a priority by member).
local function add_ready(id, set, priority, queued_at, seq)
  local member = string.format('%011x:%010x:', tonumber(queued_at), seq) .. id
  redis.call('ZADD', p .. ':ready:' .. set, -tonumber(priority), member)
  return member
end
local function place(id, now)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'queue', 'execution_backend', 'priority', 'queued_at', 'scheduled_at', 'seq')
  local due = tonumber(f[5] or '0') or 0
  if due > now then
    redis.call('ZADD', p .. ':delayed', due, id)
    redis.call('HDEL', t, 'ready_member')
    return
  end
  -- The insertion sequence is kept for the record's life, so a released claim goes back to its old place.
  local seq = tonumber(f[6])
  if not seq then
    seq = redis.call('INCR', p .. ':seq')
    redis.call('HSET', t, 'seq', seq)
  end
  local set = f[1] .. '|' .. f[2]
  local member = add_ready(id, set, f[3], f[4], seq)
  redis.call('SADD', p .. ':readysets', set)
  redis.call('HSET', t, 'ready_member', member)
end
local function unplace(id)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'queue', 'execution_backend', 'ready_member')
  if f[3] and f[1] and f[2] then redis.call('ZREM', p .. ':ready:' .. f[1] .. '|' .. f[2], f[3]) end
  redis.call('ZREM', p .. ':delayed', id)
  redis.call('HDEL', t, 'ready_member')
end
local function set_status(id, status)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'status', 'queue')
  if f[1] == status then return end
  stat(f[2], f[1], -1)
  stat(f[2], status, 1)
  redis.call('HSET', t, 'status', status)
  if f[1] == 'running' then redis.call('ZREM', p .. ':running', id) end
end
-- Free the record's dedup key if it still holds it; \`key\` when the caller has read it already.
local function release_key(id, key)
  key = key or redis.call('HGET', tkey(id), 'task_key')
  if key and redis.call('HGET', p .. ':keys', key) == id then redis.call('HDEL', p .. ':keys', key) end
end
local function finish(id, status, now)
  local t = tkey(id)
  unplace(id)
  set_status(id, status)
  redis.call('HSET', t, 'completed_at', now)
  redis.call('HDEL', t, 'heartbeat_at')
  release_key(id)
  redis.call('SREM', p .. ':external', id)
  redis.call('ZADD', p .. ':terminal', now, id)
  if status == 'completed' then
    redis.call('ZADD', p .. ':completed:' .. redis.call('HGET', t, 'task_name'), now, id)
  end
end
local function requeue(id, now, retry_at)
  local t = tkey(id)
  if retry_at and retry_at ~= '' then redis.call('HSET', t, 'scheduled_at', retry_at) else redis.call('HDEL', t, 'scheduled_at') end
  redis.call('HSET', t, 'queued_at', now)
  redis.call('HDEL', t, 'worker_id', 'heartbeat_at', 'execution_ref')
  redis.call('SREM', p .. ':external', id)
  local due = tonumber(retry_at ~= nil and retry_at ~= '' and retry_at or '0')
  set_status(id, due > now and 'scheduled' or 'pending')
  place(id, now)
end
local function fenced(id, expected)
  local f = redis.call('HMGET', tkey(id), 'status', 'retry_count')
  if f[1] ~= 'running' then return false end
  if expected ~= '' and f[2] ~= expected then return false end
  return true
end
local function is_active(status) return status == 'pending' or status == 'scheduled' or status == 'running' end
-- Why a record could not be enqueued (its key holds something else than a record hash, a placement field is not a
-- number), or nil.
local function unstorable(id, priority, queued_at, scheduled_at)
  local kind = redis.call('TYPE', tkey(id)).ok
  if kind ~= 'none' and kind ~= 'hash' then return 'record ' .. id .. ': its key holds a ' .. kind end
  if not tonumber(priority) or not tonumber(queued_at) or (scheduled_at ~= '' and not tonumber(scheduled_at)) then
    return 'record ' .. id .. ': priority, queued_at or scheduled_at is not a number'
  end
  return nil
end
-- The hot path (claims, completions) sums its status-counter moves here and writes each once per script.
local stat_deltas = {}
local function stat_later(queue, status, delta)
  if not queue or not status then return end
  local q = stat_deltas[queue]
  if not q then q = {} stat_deltas[queue] = q end
  q[status] = (q[status] or 0) + delta
end
local function flush_stats()
  for queue, deltas in pairs(stat_deltas) do
    for status, delta in pairs(deltas) do
      if delta ~= 0 then redis.call('HINCRBY', p .. ':stats:' .. queue, status, delta) end
    end
  end
  stat_deltas = {}
end
-- Claimed records leave as one JSON array of row objects: one bulk string for the client to parse natively,
-- instead of two bulk strings per field for its RESP decoder (the largest client-side cost of a drain).
local function encode_rows(rows)
  if #rows == 0 then return '[]' end -- cjson writes an empty table as {}
  return cjson.encode(rows)
end
-- f = {status, queue} of a pending or scheduled record, as the caller read them. Its ready_member
-- field is left behind (the completion deletes it in the HDEL it makes anyway): a stale member is never in a
-- ready set, since placing a record again rewrites the field, so removing it later is a harmless no-op.
local function mark_running(id, f, now, worker)
  local t = tkey(id)
  stat_later(f[2], f[1], -1)
  stat_later(f[2], 'running', 1)
  redis.call('HSET', t, 'status', 'running', 'started_at', now, 'heartbeat_at', now, 'worker_id', worker)
  redis.call('ZADD', p .. ':running', now, id)
end
`;

const script = (body: string) => `${COMMON}\n${body}`;

/**
 * ARGV: p, now, channel ('' = no wakeup), wakeup payload, count, then per record: id, key, queue, status, execution
 * backend, priority, queuedAt, scheduledAt ('' = none), field count, field/value pairs... → per record {1, {}}
 * created, or {0, holderHash}. Records are handled in order, so dedup within one batch keeps the first. The
 * placement fields travel in the header, so a record is placed without reading its hash back; sequence numbers are
 * taken for the whole batch at once, and set memberships and counters are written once per batch. One wakeup is
 * published for the batch when any due record was created.
 */
export const ENQUEUE = script(`
local now, channel, payload, count = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
-- Every record is checked before any is written (Redis does not roll a script back): one the store cannot take
-- fails the batch with nothing written.
local check_at = 6
for r = 1, count do
  local problem = unstorable(ARGV[check_at], ARGV[check_at + 5], ARGV[check_at + 6], ARGV[check_at + 7])
  if problem then return redis.error_reply(problem) end
  check_at = check_at + 9 + tonumber(ARGV[check_at + 8])
end
local seq0 = redis.call('INCRBY', p .. ':seq', count) - count
local results, due, at, queues, sets = {}, false, 6, {}, {}
for r = 1, count do
  local id, key, queue, status = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local backend, priority, queued_at, scheduled_at = ARGV[at + 4], ARGV[at + 5], ARGV[at + 6], ARGV[at + 7]
  local first = at + 9
  at = first + tonumber(ARGV[at + 8])
  local holder = nil
  if key ~= '' then holder = redis.call('HGET', p .. ':keys', key) end
  if not holder and redis.call('EXISTS', tkey(id)) == 1 then holder = id end
  if holder then
    results[r] = {0, redis.call('HGETALL', tkey(holder))}
  else
    queues[queue] = true
    stat_later(queue, status, 1)
    if key ~= '' then
      redis.call('HSET', p .. ':keys', key, id)
      redis.call('HSET', p .. ':lastkey', key, id)
    end
    -- Placement first, so the record's hash is written by one HSET (its fields last: unpack must end the call).
    local seq = seq0 + r
    local due_at = tonumber(scheduled_at) or 0
    if (status == 'pending' or status == 'scheduled') and due_at <= now then
      local set = queue .. '|' .. backend
      sets[set] = true
      redis.call('HSET', tkey(id), 'seq', seq, 'ready_member', add_ready(id, set, priority, queued_at, seq), unpack(ARGV, first, at - 1))
    else
      if status == 'pending' or status == 'scheduled' then redis.call('ZADD', p .. ':delayed', due_at, id) end
      redis.call('HSET', tkey(id), 'seq', seq, unpack(ARGV, first, at - 1))
    end
    for i = first, at - 1, 2 do
      if ARGV[i] == 'created_at' then redis.call('ZADD', p .. ':created', tonumber(ARGV[i + 1]), id) break end
    end
    if status == 'pending' then due = true end
    results[r] = {1, {}}
  end
end
for queue in pairs(queues) do redis.call('SADD', p .. ':queues', queue) end
for set in pairs(sets) do redis.call('SADD', p .. ':readysets', set) end
flush_stats()
if due and channel ~= '' then redis.call('PUBLISH', channel, payload) end
return results
`);

/**
 * The check `ENQUEUE` makes before writing, for a batch sent in several scripts: ARGV: p, then per record: id,
 * priority, queuedAt, scheduledAt ('' = none) → 0, or an error naming the first record the store cannot take.
 */
export const ENQUEUE_CHECK = script(`
for at = 2, #ARGV, 4 do
  local problem = unstorable(ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
  if problem then return redis.error_reply(problem) end
end
return 0
`);

/**
 * Claim of a batch across the worker's queues: promote due delayed records (bounded), then take the best head of
 * the wanted ready sets, `limit` times. queues: comma list, '!' and a comma list of queues to leave out, or '' (all);
 * backends: comma list or '*'.
 */
const CLAIM_FUNCTION = `
local function claim(now, limit, worker, queues, backends)
  if limit <= 0 then return {} end -- a completion batch that claims nothing need not promote or scan
  local due = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', p .. ':delayed', id)
    local status = redis.call('HGET', tkey(id), 'status')
    if status == 'pending' or status == 'scheduled' then place(id, now) end
  end
  local wanted_q, wanted_b, unwanted_q = nil, nil, nil
  if string.sub(queues, 1, 1) == '!' then
    unwanted_q = {} for q in string.gmatch(string.sub(queues, 2), '[^,]+') do unwanted_q[q] = true end
  elseif queues ~= '' then wanted_q = {} for q in string.gmatch(queues, '[^,]+') do wanted_q[q] = true end end
  if backends ~= '*' then wanted_b = {} for b in string.gmatch(backends, '[^,]+') do wanted_b[b] = true end end
  local sets = {}
  for _, name in ipairs(redis.call('SMEMBERS', p .. ':readysets')) do
    local sep = string.find(name, '|', 1, true)
    local q, b = string.sub(name, 1, sep - 1), string.sub(name, sep + 1)
    if (not wanted_q or wanted_q[q]) and (not unwanted_q or not unwanted_q[q]) and (not wanted_b or wanted_b[b]) then
      sets[#sets + 1] = p .. ':ready:' .. name
    end
  end
  local claimed = {}
  local function take(id)
    local t = tkey(id)
    local f = redis.call('HMGET', t, 'status', 'queue')
    if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return end
    mark_running(id, f, now, worker)
    local flat, row = redis.call('HGETALL', t), {}
    for i = 1, #flat, 2 do row[flat[i]] = flat[i + 1] end
    row.ready_member = nil -- stale from here on (see mark_running), and not part of the record
    claimed[#claimed + 1] = row
  end
  if #sets == 1 then
    -- One wanted ready set (the common case): pop the batch in claim order.
    while #claimed < limit do
      local want = limit - #claimed
      local popped = redis.call('ZPOPMIN', sets[1], want)
      for i = 1, #popped, 2 do take(string.sub(popped[i], 24)) end
      if #popped < want * 2 then break end
    end
  end
  while #sets > 1 and #claimed < limit do
    local best_set, best_member, best_score = nil, nil, nil
    for _, set in ipairs(sets) do
      local top = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
      if top[1] then
        local score = tonumber(top[2])
        if not best_set or score < best_score or (score == best_score and top[1] < best_member) then
          best_set, best_member, best_score = set, top[1], score
        end
      end
    end
    if not best_set then break end
    redis.call('ZREM', best_set, best_member)
    take(string.sub(best_member, 24))
  end
  flush_stats()
  return claimed
end
`;

/** ARGV: p, now, limit, worker, queues (comma list or ''), backends (comma list or '*') → JSON array of rows. */
export const CLAIM = script(`${CLAIM_FUNCTION}
return encode_rows(claim(tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]))
`);

/** ARGV: p, now, id, worker → hash or {}. */
export const CLAIM_ONE = script(`
local now, id, worker = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local f = redis.call('HMGET', tkey(id), 'status', 'queue', 'scheduled_at')
if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return {} end
if f[3] and tonumber(f[3]) > now then return {} end
unplace(id)
mark_running(id, f, now, worker)
flush_stats()
return redis.call('HGETALL', tkey(id))
`);

/**
 * Fenced completion: true when applied. A running record is in no ready or delayed set (claims take it out), so
 * only the running bookkeeping moves; the status counters are summed (flush_stats() writes them).
 */
const COMPLETE_FUNCTION = `
local function complete(now, id, expected, result_json)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'status', 'retry_count', 'queue', 'task_name', 'task_key', 'execution_ref')
  if f[1] ~= 'running' then return false end
  if expected ~= '' and f[2] ~= expected then return false end
  stat_later(f[3], 'running', -1)
  stat_later(f[3], 'completed', 1)
  if result_json ~= '' then
    redis.call('HSET', t, 'status', 'completed', 'completed_at', now, 'result_json', result_json)
    redis.call('HDEL', t, 'error', 'heartbeat_at', 'ready_member')
  else
    redis.call('HSET', t, 'status', 'completed', 'completed_at', now)
    redis.call('HDEL', t, 'error', 'heartbeat_at', 'result_json', 'ready_member')
  end
  redis.call('ZREM', p .. ':running', id)
  if f[5] then release_key(id, f[5]) end
  if f[6] then redis.call('SREM', p .. ':external', id) end
  redis.call('ZADD', p .. ':terminal', now, id)
  redis.call('ZADD', p .. ':completed:' .. f[4], now, id)
  return true
end
`;

/**
 * ARGV: p, taskName → running records of that task. Reads the running set (as large as the running records of
 * every worker): it is asked once per schedule occurrence, while a per-task set cost two calls on every task.
 */
export const COUNT_RUNNING = script(`
local n = 0
for _, id in ipairs(redis.call('ZRANGE', p .. ':running', 0, -1)) do
  if redis.call('HGET', tkey(id), 'task_name') == ARGV[2] then n = n + 1 end
end
return n
`);

/** ARGV: p, now, id, expectedRetryCount or '', result JSON or '' → hash or {}. */
export const COMPLETE = script(`${COMPLETE_FUNCTION}
if not complete(tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]) then return {} end
flush_stats()
return redis.call('HGETALL', tkey(ARGV[3]))
`);

/**
 * The worker's hot path in one round trip: complete a batch of records, then claim for the slots they freed.
 * ARGV: p, now, limit, worker, queues, backends, count, then per item: id, expectedRetryCount, result JSON or ''
 * → {applied (1, or 0 where fenced off, per item), JSON array of claimed rows}.
 */
export const COMPLETE_AND_CLAIM = script(`${COMPLETE_FUNCTION}${CLAIM_FUNCTION}
local now, count = tonumber(ARGV[2]), tonumber(ARGV[7])
local done = {}
for i = 1, count do
  local at = 8 + (i - 1) * 3
  done[i] = complete(now, ARGV[at], ARGV[at + 1], ARGV[at + 2]) and 1 or 0
end
-- Written before the claim: Redis does not roll a script back, so an error in the claim must not leave the
-- completions' status writes without their counter moves.
flush_stats()
local claimed = claim(now, tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]) -- flushes its own counters
return {done, encode_rows(claimed)}
`);

/** ARGV: p, now, id, expectedRetryCount or '', error, retry ('1'/'0'), retryAt or '' → hash or {}. */
export const FAIL = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
if not fenced(id, ARGV[4]) then return {} end
local t = tkey(id)
redis.call('HSET', t, 'error', ARGV[5])
local f = redis.call('HMGET', t, 'retry_count', 'max_retries')
local rc, mr = tonumber(f[1]), tonumber(f[2])
if ARGV[6] == '1' and rc < mr then
  redis.call('HSET', t, 'retry_count', rc + 1)
  requeue(id, now, ARGV[7])
else
  finish(id, 'failed', now)
end
return redis.call('HGETALL', t)
`);

/** ARGV: p, now, id → hash or {}. */
export const CANCEL = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local status = redis.call('HGET', tkey(id), 'status')
if not status or not is_active(status) then return {} end
finish(id, 'cancelled', now)
return redis.call('HGETALL', tkey(id))
`);

/** ARGV: p, now, id → hash or {} (not failed/cancelled, or the key is held by another active record). */
export const RETRY = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local t = tkey(id)
local f = redis.call('HMGET', t, 'status', 'task_key', 'task_name')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return {} end
if f[2] and redis.call('HEXISTS', p .. ':keys', f[2]) == 1 then return {} end
redis.call('HSET', t, 'retry_count', 0)
redis.call('HDEL', t, 'started_at', 'completed_at', 'result_json')
redis.call('ZREM', p .. ':terminal', id)
redis.call('ZREM', p .. ':completed:' .. f[3], id)
if f[2] then
  redis.call('HSET', p .. ':keys', f[2], id)
  redis.call('HSET', p .. ':lastkey', f[2], id)
end
requeue(id, now, '')
return redis.call('HGETALL', t)
`);

/** ARGV: p, now, mode ('touch'|'clear'), id1, rc1, id2, rc2, ... → applied ids. */
export const HEARTBEATS = script(`
local now, mode = tonumber(ARGV[2]), ARGV[3]
local applied = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if fenced(id, ARGV[i + 1]) then
    if mode == 'touch' then
      redis.call('HSET', tkey(id), 'heartbeat_at', now)
      redis.call('ZADD', p .. ':running', now, id)
    else
      redis.call('HDEL', tkey(id), 'heartbeat_at')
      redis.call('ZADD', p .. ':running', 0, id)
    end
    applied[#applied + 1] = id
  end
end
return applied
`);

/** ARGV: p, now, id1, rc1, id2, rc2, ... → released ids (back to pending in their old place, no retry used). */
export const RELEASE = script(`
local now = tonumber(ARGV[2])
local released = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if fenced(id, ARGV[i + 1]) then
    redis.call('HDEL', tkey(id), 'worker_id', 'heartbeat_at', 'started_at')
    set_status(id, 'pending')
    place(id, now)
    released[#released + 1] = id
  end
end
return released
`);

/** ARGV: p, now, cutoff, limit, failNames (comma list) → {requeuedHashes, failedHashes}. */
export const STALE = script(`
local now, cutoff, limit = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local fail_names = {}
for n in string.gmatch(ARGV[5], '[^,]+') do fail_names[n] = true end
local requeued, failed = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. ':running', '-inf', '(' .. cutoff, 'LIMIT', 0, limit)) do
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'retry_count', 'max_retries', 'task_name', 'queue', 'execution_backend', 'priority')
  if redis.call('EXISTS', t) == 0 then
    redis.call('ZREM', p .. ':running', id) -- its hash is gone: nothing to recover
  else
    local rc, mr = tonumber(f[1]), tonumber(f[2])
    -- A hash written around us that lacks what a requeue needs is failed instead: it could never be placed.
    local placeable = rc and mr and f[4] and f[5] and tonumber(f[6])
    redis.call('HSET', t, 'error', 'Task heartbeat stale')
    if placeable and not fail_names[f[3] or ''] and rc < mr then
      redis.call('HSET', t, 'retry_count', rc + 1)
      requeue(id, now, '')
      requeued[#requeued + 1] = redis.call('HGETALL', t)
    else
      finish(id, 'failed', now)
      failed[#failed + 1] = redis.call('HGETALL', t)
    end
  end
end
return {requeued, failed}
`);

/**
 * Compare-and-swap of a running record's metadata (and optionally its key). ARGV: p, id, expectedRetryCount or '',
 * old metadata JSON, new metadata JSON, releaseKey ('1'/'0') → 1 applied, 0 not.
 */
export const METADATA_CAS = script(`
local id = ARGV[2]
if not fenced(id, ARGV[3]) then return 0 end
local t = tkey(id)
if redis.call('HGET', t, 'metadata_json') ~= ARGV[4] then return -1 end
if ARGV[6] == '1' then
  if not redis.call('HGET', t, 'task_key') then return 0 end
  release_key(id)
  redis.call('HDEL', t, 'task_key')
end
redis.call('HSET', t, 'metadata_json', ARGV[5])
return 1
`);

/**
 * ARGV: p, id, ref or '' (clear), expectedRef mode ('any'|'none'|'value'), expectedRef, expectedRetryCount or ''
 * → hash or {}.
 */
export const SET_REF = script(`
local id = ARGV[2]
local t = tkey(id)
local f = redis.call('HMGET', t, 'status', 'execution_ref', 'retry_count')
if not f[1] or not is_active(f[1]) then return {} end
if ARGV[4] == 'none' and f[2] then return {} end
if ARGV[4] == 'value' and f[2] ~= ARGV[5] then return {} end
if ARGV[6] ~= '' and f[3] ~= ARGV[6] then return {} end
if ARGV[3] == '' then
  redis.call('HDEL', t, 'execution_ref')
  redis.call('SREM', p .. ':external', id)
else
  redis.call('HSET', t, 'execution_ref', ARGV[3])
  redis.call('SADD', p .. ':external', id)
end
return redis.call('HGETALL', t)
`);

/** ARGV: p, now, id, backend, profile mode ('keep'|'set'|'clear'), profile, expectedRetryCount or '' → hash or {}. */
export const SET_BACKEND = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local t = tkey(id)
local f = redis.call('HMGET', t, 'status', 'retry_count')
if not f[1] or not is_active(f[1]) then return {} end
if ARGV[7] ~= '' and f[2] ~= ARGV[7] then return {} end
local claimable = f[1] == 'pending' or f[1] == 'scheduled'
if claimable then unplace(id) end
redis.call('HSET', t, 'execution_backend', ARGV[4])
if ARGV[5] == 'set' then redis.call('HSET', t, 'execution_profile', ARGV[6]) end
if ARGV[5] == 'clear' then redis.call('HDEL', t, 'execution_profile') end
redis.call('HDEL', t, 'execution_ref')
redis.call('SREM', p .. ':external', id)
if claimable then place(id, now) end
return redis.call('HGETALL', t)
`);

/** ARGV: p, before, limit → number deleted. */
export const CLEANUP = script(`
local ids = redis.call('ZRANGEBYSCORE', p .. ':terminal', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'queue', 'status', 'task_name', 'task_key')
  if f[1] then
    stat(f[1], f[2], -1)
    redis.call('ZREM', p .. ':completed:' .. f[3], id)
    if f[4] and redis.call('HGET', p .. ':lastkey', f[4]) == id then redis.call('HDEL', p .. ':lastkey', f[4]) end
    redis.call('DEL', t)
  end
  redis.call('ZREM', p .. ':terminal', id)
  redis.call('ZREM', p .. ':created', id)
end
return #ids
`);

/** ARGV: p, name, owner, ttl → 1 held, 0 not. */
export const LEASE = script(`
local k = p .. ':lease:' .. ARGV[2]
local owner = redis.call('GET', k)
if owner and owner ~= ARGV[3] then return 0 end
redis.call('SET', k, ARGV[3], 'PX', tonumber(ARGV[4]))
return 1
`);
