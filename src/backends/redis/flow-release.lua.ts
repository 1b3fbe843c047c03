/**
 * Lua shared by every Redis script (part of COMMON in redis-lua.scripts.ts): flow parents (docs/flows.md). A flow
 * record's hash has `pa` (its parent's id) and a parent's has `pc` (its children not yet terminal). Every terminal
 * transition of a child calls `release_parent` in its own script, so the decrement and the release are atomic with
 * the child's end: with any number of workers ending children at once the counter reaches 0 once, and the parent is
 * made due exactly once, and a wakeup is published for it. Keys (P = keyPrefix): P:children:<parent>, a list of the
 * parent's children in flow order; P:wch, the wakeup channel (written at open).
 */
export const FLOW_RELEASE_LUA = `
local function release_parent(parent, now)
  local pt = tkey(parent)
  if redis.call('EXISTS', pt) == 0 then return end
  if redis.call('HINCRBY', pt, 'pc', -1) ~= 0 then return end
  if redis.call('HGET', pt, 's') ~= 'waiting' then return end
  local due = tonumber(redis.call('HGET', pt, 'sc') or '0') or 0
  set_status(parent, due > now and 'scheduled' or 'pending')
  place(parent, now)
  -- Wake the other workers too (not only this script's caller): the channel is stored at open in P:wch, none when
  -- notifications are off. A scheduled parent is promoted when due, like any delayed record.
  if due <= now then
    local ch = redis.call('GET', p .. ':wch')
    local msg = 'flow|' .. queue_of(redis.call('HGET', pt, 'q'))
    if ch and string.sub(ch, 1, 2) == 's|' then redis.call('SPUBLISH', string.sub(ch, 3), msg)
    elseif ch then redis.call('PUBLISH', ch, msg) end
  end
end
-- Whether a record's flow parent exists and has not ended (it has yet to read the record's result).
local function parent_lives(id)
  local parent = redis.call('HGET', tkey(id), 'pa')
  if not parent then return false end
  local f = redis.call('HMGET', tkey(parent), 's', 'n')
  if not f[2] then return false end -- no hash (a hash always has its task name)
  local status = status_of(f[1])
  return status ~= 'completed' and status ~= 'failed' and status ~= 'cancelled'
end
`;
