/**
 * Lua of queue caps (DESIGN §13) that the common part of every script needs (see redis-lua.scripts.ts): the group
 * index of queues claimed with `groupConcurrency`. Kept here, apart from the other scripts' code, and interpolated
 * into their common part before `add_ready`. Keys (P = keyPrefix, <set> = "<queue>|<exec>"):
 *   P:gqueues             set of queues whose ready records are also indexed by group (registered by the first
 *                         grouped claim of the queue, which indexes what is ready then)
 *   P:gx:<set>|<group>    sorted set of a group's ready records (score and member as in the ready set); records
 *                         without a group are the group '' (uncapped)
 *   P:gring:<set>         sorted set of the groups with ready records, by turn (P:gturn:<set>, a counter): the
 *                         lowest turn is served next, and a served group goes to the back
 *   P:grun:<queue>|<group> set of ids a grouped claim started; an id counts while its record runs in that group
 *   P:rate:<queue>        sorted set of the last starts of a rate-limited queue by start time (P:rate:<queue>:n
 *                         numbers them)
 */
export const GROUP_INDEX = `
local gq_known = {}
local function group_queue(queue)
  local known = gq_known[queue]
  if known == nil then
    known = redis.call('SISMEMBER', p .. ':gqueues', queue) == 1
    gq_known[queue] = known
  end
  return known
end
local set_queues = {}
local function set_queue(set)
  local queue = set_queues[set]
  if not queue then
    queue = string.sub(set, 1, string.find(set, '|', 1, true) - 1)
    set_queues[set] = queue
  end
  return queue
end
local function gx_key(set, group) return p .. ':gx:' .. set .. '|' .. (group or '') end
local function gring_key(set) return p .. ':gring:' .. set end
-- A ready record of a grouped queue also goes to its group's set, and its group into the ring if not there.
local function group_ready(set, group, score, member)
  if not group_queue(set_queue(set)) then return end
  group = group or ''
  redis.call('ZADD', gx_key(set, group), score, member)
  if not redis.call('ZSCORE', gring_key(set), group) then
    redis.call('ZADD', gring_key(set), redis.call('INCR', p .. ':gturn:' .. set), group)
  end
end
local function group_unready(set, group, member)
  if not group_queue(set_queue(set)) then return end
  redis.call('ZREM', gx_key(set, group), member)
end
`;
