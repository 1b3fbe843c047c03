import { script } from './redis-lua.scripts.js';

/**
 * Lua scripts of queue control (DESIGN §13) on Redis: the stored pause state and the batch deletes behind a queue
 * handle's `drain` and `clean`. Keys (P = keyPrefix): P:qstate, a hash queue -> '1' (paused) or '0' (resumed) for
 * every queue whose state was ever set, and P:paused, the set of paused queues that the claim scripts read.
 */

/**
 * Forget a record that is not running: its indexes, counters, key, persisted log and hash (shared by the deletes below
 * and by \`remove\`, management.scripts.ts).
 */
export const DROP = `
local function drop(id, f)
  -- f = {status (through status_of), queue, key, created} as the caller read them
  unplace(id)
  stat(queue_of(f[2]), f[1], -1)
  if f[3] then
    release_key(id, f[3])
    if redis.call('HGET', p .. ':lastkey', f[3]) == id then redis.call('HDEL', p .. ':lastkey', f[3]) end
  end
  unindex_created(f[4], id)
  redis.call('SREM', p .. ':external', id)
  redis.call('ZREM', p .. ':terminal', id)
  redis.call('ZREM', p .. ':completed:' .. (redis.call('HGET', tkey(id), 'n') or ''), id)
  -- A flow child deleted before it ended counts as ended: its parent must not wait for it forever (flows).
  local parent = redis.call('HGET', tkey(id), 'pa')
  if parent and (f[1] == 'pending' or f[1] == 'scheduled' or f[1] == 'waiting') then
    local time = redis.call('TIME')
    release_parent(parent, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
  end
  redis.call('ZREM', p .. ':failed:' .. (redis.call('HGET', tkey(id), 'n') or ''), id) -- retention's index
  redis.call('DEL', tkey(id), p .. ':log:' .. id, p .. ':children:' .. id)
end
`;

/** ARGV: p, queue, paused ('1'/'0'), ifUnset ('1'/'0') → 1 when the stored state changed, else 0. */
export const SET_PAUSED = script(`
local queue, value = ARGV[2], ARGV[3]
local stored = redis.call('HGET', p .. ':qstate', queue)
if ARGV[4] == '1' and stored then return 0 end
redis.call('HSET', p .. ':qstate', queue, value)
if value == '1' then redis.call('SADD', p .. ':paused', queue) else redis.call('SREM', p .. ':paused', queue) end
if (stored or '0') == value then return 0 end
return 1
`);

/**
 * Delete waiting records of one queue: first its due records, popped from the queue's ready sets, then scheduled
 * ones found in the delayed set from rank `offset`, reading at most `scan` entries of it (the delayed set holds
 * every queue's). ARGV: p, queue, limit, offset, scan → {deleted, delayed entries read, deleted among those, ids
 * deleted} (a cluster drops the ids from its id index, which is in no queue's slot).
 */
export const DELETE_WAITING = script(`${DROP}
local queue, limit, offset, scan = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local deleted, ids_deleted = 0, {}
cx_unindexing() -- the deleted records leave the creation index per chunk
local function drop_if_waiting(id)
  local f = redis.call('HMGET', tkey(id), 's', 'q', 'ky', 'cr', 'n')
  if not f[5] then return end -- no hash
  f[1] = status_of(f[1])
  if (f[1] == 'pending' or f[1] == 'scheduled') and queue_of(f[2]) == queue then
    drop(id, f)
    deleted = deleted + 1
    ids_deleted[deleted] = id
  end
end
for _, name in ipairs(redis.call('SMEMBERS', p .. ':readysets')) do
  if deleted >= limit then break end
  if string.sub(name, 1, #queue + 1) == queue .. '|' then
    while deleted < limit do
      local popped = chunk_popmin(ready_top(name), ready_cp(name), math.min(limit - deleted, 500))
      if #popped == 0 then break end
      for i = 1, #popped, 2 do drop_if_waiting(member_id(popped[i])) end
    end
  end
end
local read, before_scan = 0, deleted
if deleted < limit then
  local ids = redis.call('ZRANGE', p .. ':delayed', offset, offset + scan - 1)
  for _, id in ipairs(ids) do
    if deleted >= limit then break end
    read = read + 1
    drop_if_waiting(id)
  end
end
cx_unindex_flush()
return {deleted, read, deleted - before_scan, ids_deleted}
`);

/**
 * Delete terminal records of one queue with the given statuses that ended before `before`, reading the terminal set
 * (every queue's, by completion time) from rank `offset`, at most `scan` entries. ARGV: p, queue, statuses (comma
 * list), before, limit, offset, scan → {deleted, entries read, ids deleted}.
 */
export const DELETE_TERMINAL = script(`${DROP}
local queue, before, limit = ARGV[2], ARGV[4], tonumber(ARGV[5])
local offset, scan = tonumber(ARGV[6]), tonumber(ARGV[7])
local wanted = {}
for s in string.gmatch(ARGV[3], '[^,]+') do wanted[s] = true end
local deleted, read, ids_deleted = 0, 0, {}
cx_unindexing() -- the deleted records leave the creation index per chunk
local ids = redis.call('ZRANGEBYSCORE', p .. ':terminal', '-inf', '(' .. before, 'LIMIT', offset, scan)
for _, id in ipairs(ids) do
  if deleted >= limit then break end
  read = read + 1
  local f = redis.call('HMGET', tkey(id), 's', 'q', 'ky', 'cr', 'n')
  f[1] = status_of(f[1])
  if f[5] and wanted[f[1]] and queue_of(f[2]) == queue then
    drop(id, f)
    deleted = deleted + 1
    ids_deleted[deleted] = id
  end
end
cx_unindex_flush()
return {deleted, read, ids_deleted}
`);
