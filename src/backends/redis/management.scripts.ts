import { DROP } from './queue-control.scripts.js';
import { script } from './redis-lua.scripts.js';

/**
 * Lua scripts of the management calls on Redis (DESIGN §13, issue 22): the keyset listing over the creation index,
 * remove, promote, reschedule and persisted logs. Keys (P = keyPrefix): P:log:<id>, a list of a record's logged lines
 * (JSON, oldest first, at most the cap), deleted with the record by every script that deletes one (`drop`, CLEANUP).
 */

/**
 * One step of `listTasks`: the creation index (P:cx, see the key layout) walked newest first from a position (or the
 * newest end), testing each record's fields against the filters. Stops after `limit + 1` matches (the extra one says
 * a next page exists) or after `budget` index entries, so one call keeps the server busy for a bounded time however
 * rare the matches. ARGV: p, limit, budget, after created ms ('' = from the newest), after id, status, queue, task
 * name, key, group ('' = any) → {{id, created, ...} matches, 'more' | 'end', last examined created, last id}.
 * With status 'running' (and at most 10,000 running records) the running set is read and sorted instead.
 */
export const LIST_TASKS = script(`
local RUNNING_SCAN = 10000
local limit, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local after_cr, after_id = ARGV[4], ARGV[5]
local f_status, f_queue, f_task, f_key, f_group = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local filtered = f_status ~= '' or f_queue ~= '' or f_task ~= '' or f_key ~= '' or f_group ~= ''
local top, cp = p .. ':cx', p .. ':cx:'
local out, examined, last_cr, last_id = {}, 0, '', ''
-- True once the step is done (enough matches or the budget spent).
local function consider(id, cr)
  examined = examined + 1
  last_cr, last_id = cr, id
  local ok = true
  if filtered then
    -- A hash exists when it has its task name; an absent status is 'pending'.
    local f = redis.call('HMGET', tkey(id), 's', 'q', 'n', 'ky', 'g')
    ok = f[3] ~= false and (f_status == '' or (f[1] or 'pending') == f_status)
      and (f_queue == '' or queue_of(f[2]) == f_queue) and (f_task == '' or f[3] == f_task)
      and (f_key == '' or f[4] == f_key) and (f_group == '' or f[5] == f_group)
  end
  if ok then out[#out + 1] = id out[#out + 1] = cr end
  return #out / 2 > limit or examined >= budget
end
local function finish(state) return {out, state, last_cr, last_id} end
-- Running records are few (at most every worker's concurrency) and all in P:running: read them there and sort,
-- instead of walking the whole index for them.
if f_status == 'running' and redis.call('ZCARD', p .. ':running') <= RUNNING_SCAN then
  local found = {}
  for _, id in ipairs(redis.call('ZRANGE', p .. ':running', 0, -1)) do
    local f = redis.call('HMGET', tkey(id), 's', 'q', 'n', 'ky', 'g', 'cr')
    local cr = f[3] and created_of(id, f[6])
    if cr and f[1] == 'running' and (f_queue == '' or queue_of(f[2]) == f_queue) and (f_task == '' or f[3] == f_task)
      and (f_key == '' or f[4] == f_key) and (f_group == '' or f[5] == f_group)
      and (after_cr == '' or cr < tonumber(after_cr) or (cr == tonumber(after_cr) and id < after_id)) then
      found[#found + 1] = {cr, id}
    end
  end
  table.sort(found, function(a, b) if a[1] ~= b[1] then return a[1] > b[1] end return a[2] > b[2] end)
  for i = 1, math.min(#found, limit + 1) do out[#out + 1] = found[i][2] out[#out + 1] = found[i][1] end
  return finish('end')
end
local bound = '+'
if after_cr ~= '' then
  -- Index members order as (creation time, id) and all scores are 0 (see cx_member), so the position is a member.
  local position = cx_member(after_cr, after_id)
  local start = chunk_find(top, position)
  if not start then return finish('end') end
  -- The chunk holding the position: its entries strictly after it.
  for _, member in ipairs(redis.call('ZREVRANGEBYLEX', chunk_of(cp, start), '(' .. position, '-')) do
    if consider(cx_id(member), cx_created(member)) then return finish('more') end
  end
  bound = '(' .. start
end
while true do
  local names = redis.call('ZREVRANGEBYLEX', top, bound, '-', 'LIMIT', 0, 16)
  if #names == 0 then break end
  for _, name in ipairs(names) do
    for _, member in ipairs(redis.call('ZREVRANGE', chunk_of(cp, name), 0, -1)) do
      if consider(cx_id(member), cx_created(member)) then return finish('more') end
    end
  end
  bound = '(' .. names[#names]
end
return finish('end')
`);

/** ARGV: p, id → the deleted record's hash, or {} (missing or running). */
export const REMOVE = script(`${DROP}
local id = ARGV[2]
local f = redis.call('HMGET', tkey(id), 's', 'q', 'ky', 'cr', 'n')
if not f[5] then return {} end -- no record (a hash always has its task name)
f[1] = f[1] or 'pending'
if f[1] == 'running' then return {} end
local removed = record(id)
drop(id, f)
return removed
`);

/** ARGV: p, now, id → hash of the promoted record, or {} (not scheduled). */
export const PROMOTE = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local t = tkey(id)
local f = redis.call('HMGET', t, 's', 'n')
if not f[2] or f[1] ~= 'scheduled' then return {} end
unplace(id) -- before qa changes: the ready-set member is computed from it
redis.call('HDEL', t, 'sc')
redis.call('HSET', t, 'qa', now)
set_status(id, 'pending')
place(id, now)
return record(id)
`);

/** ARGV: p, now, id, due ms → hash of the rescheduled record, or {} (not pending or scheduled). */
export const RESCHEDULE = script(`
local now, id, due = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local t = tkey(id)
local f = redis.call('HMGET', t, 's', 'n')
local status = f[1] or 'pending'
if not f[2] or (status ~= 'pending' and status ~= 'scheduled') then return {} end
unplace(id)
redis.call('HSET', t, 'sc', due)
set_status(id, due > now and 'scheduled' or 'pending')
place(id, now)
return record(id)
`);

/**
 * Lines onto records' logs, each kept to the newest \`cap\`; lines of a record that does not exist are dropped (so a
 * removal never leaves a log behind). ARGV: p, cap, then per record: id, line count, lines... → 0.
 */
export const APPEND_LOGS = script(`
local cap, at = tonumber(ARGV[2]), 3
while at <= #ARGV do
  local id, n = ARGV[at], tonumber(ARGV[at + 1])
  if redis.call('EXISTS', tkey(id)) == 1 and n > 0 then
    local log = p .. ':log:' .. id
    redis.call('RPUSH', log, unpack(ARGV, at + 2, at + 1 + n))
    redis.call('LTRIM', log, -cap, -1)
  end
  at = at + 2 + n
end
return 0
`);
