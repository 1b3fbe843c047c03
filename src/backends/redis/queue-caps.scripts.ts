import { script } from './redis-lua.scripts.js';

/**
 * Lua shared by the controlled claims (batch and by id): the rate window on the server's clock and a group's running
 * count.
 */
const CAPS_FUNCTIONS = `
local function server_clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
-- Starts the window of rate_key allows at clock (the starts older than the window dropped), and when none: the ms
-- until it frees its next one (else -1).
local function rate_free(rate_key, clock, rate_max, rate_duration)
  redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', clock - rate_duration)
  local used = redis.call('ZCARD', rate_key)
  if used < rate_max then return rate_max - used, -1 end
  local oldest = redis.call('ZRANGE', rate_key, used - rate_max, used - rate_max, 'WITHSCORES')
  return 0, math.max(0, tonumber(oldest[2]) + rate_duration - clock)
end
local function rate_record(rate_key, clock, count, rate_duration)
  local n = redis.call('INCRBY', rate_key .. ':n', count)
  for i = 1, count do redis.call('ZADD', rate_key, clock, n - count + i) end
  redis.call('PEXPIRE', rate_key, rate_duration + 1000)
end
-- Running records of a group: the ids its claims started, those no longer running in it dropped at the cap.
local function group_running(queue, group, group_cap)
  local k = p .. ':grun:' .. queue .. '|' .. group
  if redis.call('SCARD', k) < group_cap then return redis.call('SCARD', k) end
  for _, id in ipairs(redis.call('SMEMBERS', k)) do
    local f = redis.call('HMGET', tkey(id), 's', 'q', 'g')
    if f[1] ~= 'running' or queue_of(f[2]) ~= queue or f[3] ~= group then redis.call('SREM', k, id) end
  end
  return redis.call('SCARD', k)
end
`;

/**
 * The controlled claim on Redis (DESIGN §13, keys in queue-caps.lua.ts): one script, so the checks and the claim
 * are atomic against every other claimer. `concurrency` reads the queue's running counter (P:stats:<queue>, moved
 * by every script that changes a status, so every path out of running gives the slot back); `groupConcurrency`
 * serves the groups of the ring in turn order, passing over groups at their cap (their running ids are checked
 * against the records' status when the count reaches the cap); `rateLimit` keeps the start times of the window.
 * ARGV: p, now, queue, limit, worker, backends (comma list or '*'), concurrency, groupConcurrency, rate max, rate
 * duration ('' = none) → {JSON array of claimed rows, ms until a spent rate limit frees (-1: not limited)}. The window
 * runs on the server's clock (TIME): claimers' clocks and the moments their scripts arrive differ, and a start
 * stamped with an earlier time than one before it would free its place early.
 */
export const CLAIM_CONTROLLED = script(`${CAPS_FUNCTIONS}
local now, queue, limit, worker, backends = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local cap, group_cap = tonumber(ARGV[7]), tonumber(ARGV[8])
local rate_max, rate_duration = tonumber(ARGV[9]), tonumber(ARGV[10])
if redis.call('SISMEMBER', p .. ':paused', queue) == 1 then return {'[]', -1} end
local wanted_b = nil
if backends ~= '*' then wanted_b = {} for b in string.gmatch(backends, '[^,]+') do wanted_b[b] = true end end
local function queue_sets()
  local sets = {}
  for _, name in ipairs(redis.call('SMEMBERS', p .. ':readysets')) do
    local sep = string.find(name, '|', 1, true)
    if string.sub(name, 1, sep - 1) == queue and (not wanted_b or wanted_b[string.sub(name, sep + 1)]) then
      sets[#sets + 1] = name
    end
  end
  return sets
end
-- The first grouped claim of a queue indexes its ready records by group; placements after it index themselves.
if group_cap and not group_queue(queue) then
  redis.call('SADD', p .. ':gqueues', queue)
  gq_known[queue] = true
  for _, set in ipairs(queue_sets()) do
    for _, name in ipairs(redis.call('ZRANGE', ready_top(set), 0, -1)) do
      local flat = redis.call('ZRANGE', chunk_of(ready_cp(set), name), 0, -1, 'WITHSCORES')
      for i = 1, #flat, 2 do
        group_ready(set, redis.call('HGET', tkey(member_id(flat[i])), 'g'), tonumber(flat[i + 1]), flat[i])
      end
    end
  end
end
local due = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', p .. ':delayed', id)
  local status = status_exists(id)
  if status == 'pending' or status == 'scheduled' then place(id, now) end
end
local room = limit
if cap then
  room = math.min(room, cap - (tonumber(redis.call('HGET', p .. ':stats:' .. queue, 'running') or '0') or 0))
end
if room <= 0 then return {'[]', -1} end
local rate_key, clock = p .. ':rate:' .. queue, nil
if rate_max then
  clock = server_clock()
  local free, wait = rate_free(rate_key, clock, rate_max, rate_duration)
  if free == 0 then return {'[]', wait} end
  room = math.min(room, free)
end
local claimed = {}
local function take(id, group)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 's', 'q', 'n', 'ex')
  if not f[3] then return false end -- no hash
  f[1] = status_of(f[1])
  if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return false end
  -- Expired: left waiting, out of its ready set, for the expiry sweep (P:expiry holds it) to end; never started.
  if (tonumber(f[4]) or math.huge) <= now then return false end -- an expiry that is not a number never expires
  mark_running(id, f, now, worker)
  local flat, row = redis.call('HGETALL', t), {}
  for i = 1, #flat, 2 do row[flat[i]] = flat[i + 1] end
  row.id = id
  claimed[#claimed + 1] = row
  if group and group ~= '' then redis.call('SADD', p .. ':grun:' .. queue .. '|' .. group, id) end
  return true
end
-- A group that leaves the line drops the ids of its records that no longer run (the set goes when empty).
local function prune_running(group)
  if group == '' then return end
  local k = p .. ':grun:' .. queue .. '|' .. group
  for _, id in ipairs(redis.call('SMEMBERS', k)) do
    local f = redis.call('HMGET', tkey(id), 's', 'q', 'g')
    if f[1] ~= 'running' or queue_of(f[2]) ~= queue or f[3] ~= group then redis.call('SREM', k, id) end
  end
end
local sets = queue_sets()
if not group_cap then
  while #claimed < room do
    local set, member = pop_best_head(sets)
    if not set then break end
    local id = member_id(member)
    if group_queue(queue) then group_unready(set, redis.call('HGET', tkey(id), 'g'), member) end
    take(id, nil)
  end
else
  for _, set in ipairs(sets) do
    local ring, turn = gring_key(set), p .. ':gturn:' .. set
    -- Groups at their cap stay at the front (skipped: 'at' counts them); a served group goes to the back.
    local at = 0
    while #claimed < room do
      local group = redis.call('ZRANGE', ring, at, at)[1]
      if not group then break end
      if group ~= '' and group_running(queue, group, group_cap) >= group_cap then
        at = at + 1
      else
        local gx = gx_key(set, group)
        local head = redis.call('ZPOPMIN', gx)
        if #head == 0 then
          redis.call('ZREM', ring, group)
          prune_running(group)
        else
          local member, score = head[1], tonumber(head[2])
          chunk_rem(ready_top(set), ready_cp(set), rx_key(score, member), member)
          take(member_id(member), group)
          if redis.call('EXISTS', gx) == 1 then
            redis.call('ZADD', ring, redis.call('INCR', turn), group)
          else
            redis.call('ZREM', ring, group)
            prune_running(group)
          end
        end
      end
    end
  end
end
if rate_max and #claimed > 0 then
  rate_record(rate_key, clock, #claimed, rate_duration)
  -- The window spent by this claim: say when it frees, so the worker sleeps instead of asking again first.
  local free, wait = rate_free(rate_key, clock, rate_max, rate_duration)
  if free == 0 then
    flush_stats()
    return {encode_rows(claimed), wait}
  end
end
flush_stats()
return {encode_rows(claimed), -1}
`);

/**
 * A claim of one record by id under its queue's control (`claimTaskControlled`), atomic with the checks as
 * `CLAIM_CONTROLLED` is. ARGV: p, now, id, worker, concurrency, groupConcurrency, rate max, rate duration ('' = none)
 * → {1, hash} claimed; {0} missing, not due or not claimable; {0, 'expired', its expiry} past its expiry
 * (untouched: the caller ends it as the expiry sweep does); {0, reason} refused ('paused', 'concurrency', 'groupConcurrency'), or
 * {0, 'rateLimit', ms until the window frees its next start}.
 */
export const CLAIM_ONE_CONTROLLED = script(`${CAPS_FUNCTIONS}
local now, id, worker = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cap, group_cap = tonumber(ARGV[5]), tonumber(ARGV[6])
local rate_max, rate_duration = tonumber(ARGV[7]), tonumber(ARGV[8])
local f = redis.call('HMGET', tkey(id), 's', 'q', 'sc', 'n', 'g', 'ex')
if not f[4] then return {0} end
f[1] = status_of(f[1])
if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return {0} end
if (tonumber(f[3]) or 0) > now then return {0} end
if (tonumber(f[6]) or math.huge) <= now then return {0, 'expired', tonumber(f[6])} end
local queue, group = queue_of(f[2]), f[5]
if redis.call('SISMEMBER', p .. ':paused', queue) == 1 then return {0, 'paused'} end
if cap and (tonumber(redis.call('HGET', p .. ':stats:' .. queue, 'running') or '0') or 0) >= cap then
  return {0, 'concurrency'}
end
local grouped = group_cap and group and group ~= ''
if grouped and group_running(queue, group, group_cap) >= group_cap then return {0, 'groupConcurrency'} end
local rate_key, clock = p .. ':rate:' .. queue, nil
if rate_max then
  clock = server_clock()
  local free, wait = rate_free(rate_key, clock, rate_max, rate_duration)
  if free == 0 then return {0, 'rateLimit', wait} end
end
unplace(id)
mark_running(id, f, now, worker)
if rate_max then rate_record(rate_key, clock, 1, rate_duration) end
if grouped then redis.call('SADD', p .. ':grun:' .. queue .. '|' .. group, id) end
flush_stats()
return {1, record(id)}
`);

/**
 * What a rate-limited queue's window holds (`readRateWindow`), on the server's clock as the claims read it, changing
 * nothing (the claims drop the old starts). ARGV: p, queue, rate max, rate duration → {starts counted (at most max),
 * ms until the oldest of them leaves the window (-1: none)}.
 */
export const RATE_WINDOW = script(`${CAPS_FUNCTIONS}
local rate_key, rate_max, rate_duration = p .. ':rate:' .. ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local clock = server_clock()
local after = '(' .. (clock - rate_duration)
local counted = redis.call('ZCOUNT', rate_key, after, '+inf')
local used = math.min(counted, rate_max)
if used == 0 then return {0, -1} end
local oldest = redis.call('ZRANGEBYSCORE', rate_key, after, '+inf', 'WITHSCORES', 'LIMIT', counted - used, 1)
return {used, math.max(0, tonumber(oldest[2]) + rate_duration - clock)}
`);
