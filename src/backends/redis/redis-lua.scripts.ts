import { GROUP_INDEX } from './queue-caps.lua.js';
import { FLOW_RELEASE_LUA } from './flow-release.lua.js';
import { pruneLua } from './lua-prune.js';

/**
 * Lua scripts of the Redis backend: every state change is one script, atomic on the server. Keys are derived
 * from the prefix passed as ARGV[1] (single-node Redis/Valkey; not a Cluster layout).
 *
 * Key layout (P = keyPrefix):
 *   P:t:<id>               hash of the record in short fields (see FIELDS in redis-record-fields.ts and
 *                          docs/backends/redis.md): an absent field holds its default (s 'pending', q 'default',
 *                          x 'local', p/m/r 0, k/md '{}', qa = cr, cr = the time in a UUIDv7 id) or null; the id is
 *                          the key's, so a hash exists when it has 'n'. Read s through status_of() and cr through
 *                          created_of(). o = insertion sequence, kept for life. Times are epoch ms. Small values keep
 *                          the hash in Redis's compact listpack encoding
 *   P:r:<queue>|<exec>     chunked sorted set (below) of due claimable records: score -priority, member
 *                          rx_member(queuedAt, seq, id) = queuedAt in 6 bytes and seq in 5 (big-endian), then the
 *                          id (timed_member: 10 bytes for a UUIDv7 made at queuedAt, 17 for another UUID, else the id
 *                          as it is), so equal scores order FIFO by member (computed from
 *                          the hash's qa/cr and o, not stored); chunks P:r:<queue>|<exec>#<n>. (Layout 3 named them
 *                          P:rx:… with text members "<queuedAt:11 hex>:<seq:10 hex>:<id>"; MIGRATE_READY moves them,
 *                          and its hashes P:task:<id>, which RENAME_RECORDS moves)
 *   P:readysets            set of "<queue>|<exec>" names that have a ready set
 *   P:delayed              sorted set of scheduled records by due time (promoted in bounded batches by claims)
 *   P:running              sorted set of running records by heartbeat (0 = cleared), stale recovery reads its head
 *   P:keys / P:lastkey     hash dedup key -> active holder / latest record with the key
 *   P:stats:<queue>        hash status -> count;  P:queues: set of queues
 *   P:terminal             sorted set of terminal records by completion time (cleanup)
 *   P:removeat             sorted set of ended records that carry their own retention age (fields kc/kf), by when
 *                          they are due for deletion (end time + age; REMOVE_AGED)
 *   P:expiry               sorted set of records that expire (field ex), by expiry: added whenever one becomes
 *                          claimable, read and trimmed by the expiry sweep (EXPIRE_WAITING)
 *   P:completed:<taskName> sorted set of completed records by completion time
 *   P:external             set of non-terminal records that carry an execution ref
 *   P:cx, P:cx:<n>         the creation index of every record, ordered by (creation time, id): chunks P:cx:<n>
 *                          (sorted sets, score 0, member timed_member(creation ms, id): 16 bytes for a UUIDv7, at most
 *                          CHUNK members so each stays a listpack: ~22 bytes per record instead of ~134 in one large
 *                          sorted set) and P:cx, whose members "<lowest member>\n<n>" (all scores 0, lexicographic)
 *                          name each chunk by the least entry it may hold. The newest-first listing reads the newest chunks;
 *                          P:created:indexed marks that records written before the index existed were added;
 *                          P:cx:n numbers the chunks
 *   P:qstate / P:paused    hash queue -> '1' paused / '0' resumed (stored state, see queue-control.scripts.ts) /
 *                          set of the paused queues, which claims leave out
 *   P:log:<id>             list of the record's persisted ctx.log lines (management.scripts.ts), deleted with it
 *   P:seq                  FIFO tie-breaker counter;  P:lease:<name>: lease owner with a TTL
 *   P:workers, P:workers:exp  the worker registry (redis-worker-registry.ts): entries by worker id, ids by expiry
 *   P:layout               '4' once the store is in this layout (short-field hashes, MIGRATE; chunked ready sets
 *                          with packed members, MIGRATE_READY; creation index of packed ids, rebuilt by the first
 *                          listing after the layout-3 one is dropped)
 */
const COMMON = `
local p = ARGV[1]
local function tkey(id) return p .. ':t:' .. id end
-- An absent field holds its default (see the key layout above).
local function queue_of(v) return v or 'default' end
local function backend_of(v) return v or 'local' end
local function status_of(v) return v or 'pending' end
-- A status as stored: 'pending', the default, is left out.
local function store_status(t, status)
  if status == 'pending' then redis.call('HDEL', t, 's') else redis.call('HSET', t, 's', status) end
end
-- The creation ms of a UUIDv7 id (its first 48 bits; newTaskId stamps the record's createdAt there), or nil.
local function id_time(id)
  if string.find(id, '^%x%x%x%x%x%x%x%x%-%x%x%x%x%-7') then
    return tonumber(string.sub(id, 1, 8) .. string.sub(id, 10, 13), 16)
  end
  return nil
end
-- A record's creation ms: its cr field, left out when the id holds it.
local function created_of(id, cr) return tonumber(cr) or id_time(id) end
-- An id inside an index member: a lowercase UUID as a NUL and its 16 bytes, any other id as it is (ids never start
-- with NUL); unpacked_id reverses it. Ids of 10 bytes or starting with a byte below 3 get a \\2 in front, or \\1 at
-- both ends where that would make 10 bytes (timed_member uses those forms).
local UUID = '^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$'
-- The same with its parts captured (8, 4, 4, 4, 4 and 8 hex digits): packed_id reads the id in one match.
local UUID_PARTS = '^(%x%x%x%x%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x)%-(%x%x%x%x)(%x%x%x%x%x%x%x%x)$'
local UUID_TEXT = '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x'
-- Packed ids of this script run (an enqueue packs each id for the ready set and the creation index).
local packed_ids = {}
local function packed_id(id)
  local packed = packed_ids[id]
  if packed then return packed end
  if #id == 10 or (string.byte(id, 1) or 0) < 3 then
    -- Never 10 bytes, which a timed member reads as a UUIDv7's tail: an id of 9 gets \\1 at both ends instead.
    packed = #id == 9 and '\\1' .. id .. '\\1' or '\\2' .. id
  elseif #id ~= 36 then
    packed = id
  else
    local h1, h2, h3, h4, h5, h6 = string.match(id, UUID_PARTS)
    -- Uppercase hex stays as it is (unpacked_id gives lowercase); string.lower finds that in a fifth of the time of
    -- string.find(id, '%u'), which tries the pattern at each of the 36 places.
    if not h1 or string.lower(id) ~= id then
      packed = id
    else
      -- Three numbers of 48, 48 and 32 bits (exact in a Lua number), written big-endian by one struct.pack.
      packed = '\\0' .. struct.pack('>I6I6I4', tonumber(h1 .. h2, 16), tonumber(h3 .. h4 .. h5, 16), tonumber(h6, 16))
    end
  end
  packed_ids[id] = packed
  return packed
end
local function unpacked_id(s)
  if #s == 17 and string.byte(s, 1) == 0 then return string.format(UUID_TEXT, string.byte(s, 2, 17)) end
  local first = string.byte(s, 1)
  if first == 2 then return string.sub(s, 2) end
  if first == 1 then return string.sub(s, 2, -2) end
  return s
end
-- n as 6 or 5 big-endian bytes (n < 256^width), so packed numbers order as their values.
local function be(n, width) return struct.pack(width == 6 and '>I6' or '>I5', n) end
-- An index member that starts with a time (6 bytes, be) ends with the id: a UUIDv7 holding that same time as its
-- last 10 bytes (the time is not written twice; packed_id never gives 10 bytes), any other id as packed_id.
-- timed_id reverses it.
local function timed_member(time6, id)
  local packed = packed_id(id)
  if #packed == 17 and string.sub(packed, 2, 7) == time6 then return time6 .. string.sub(packed, 8) end
  return time6 .. packed
end
local function timed_id(time6, tail)
  if #tail == 10 then return string.format(UUID_TEXT, string.byte(time6 .. tail, 1, 16)) end
  return unpacked_id(tail)
end
-- A record's hash as a flat reply, with its id (the hash leaves it to the key); {} when there is none.
local function record(id)
  local flat = redis.call('HGETALL', tkey(id))
  if #flat > 0 then flat[#flat + 1] = 'id' flat[#flat + 1] = id end
  return flat
end
-- A ready-set member: queuedAt (6 bytes), sequence (5 bytes), the id (timed_member: 10 bytes for a UUIDv7 made at
-- queuedAt, the usual case); member_id gives the id back.
local function rx_member(queued_at, seq, id)
  local packed = packed_id(id)
  local head = struct.pack('>I6I5', queued_at, seq)
  if #packed == 17 and string.sub(packed, 2, 7) == string.sub(head, 1, 6) then return head .. string.sub(packed, 8) end
  return head .. packed
end
local function member_id(member) return timed_id(string.sub(member, 1, 6), string.sub(member, 12)) end
-- A due record's ready-set member, from its queuedAt (qa, else its creation) and sequence (o); nil when it cannot be
-- formed.
local function member_of(id, qa, cr, seq)
  local at, n = tonumber(qa) or created_of(id, cr), tonumber(seq)
  if not at or not n then return nil end
  return rx_member(at, n, id)
end
-- Chunked sorted sets (the creation index and the ready sets, see the key layout): a large sorted set is a skiplist
-- (~85 bytes of node and dict entry per member); chunks of at most CHUNK members stay listpacks. A chunked set is a
-- top key, whose members "<sort key>\\n<n>" (all scores 0, lexicographic) name each chunk <cp><n> by the least sort
-- key it may hold, and the chunks, ordinary sorted sets whose (score, member) order is the sort key's order. The
-- chunk that holds (or would hold) a sort key is the last one whose bound is not above it; the first chunk's bound
-- moves down for a key below every chunk's.
local CHUNK = 120
local function chunk_of(cp, top_member) return cp .. string.match(top_member, '\\n(%d+)$') end
local function chunk_find(top, sk)
  return redis.call('ZREVRANGEBYLEX', top, '[' .. sk .. '\\n\\255', '-', 'LIMIT', 0, 1)[1]
end
-- sort_key(score, member) must give the (score, member) order of the chunks' members. Returns whether the set had a
-- chunk for the member already.
local function chunk_add_now(top, cp, sk, score, member, sort_key)
  local found = chunk_find(top, sk)
  local existed = found ~= nil
  if not found then
    local first = redis.call('ZRANGE', top, 0, 0)[1]
    local n = first and string.match(first, '\\n(%d+)$') or redis.call('INCR', cp .. 'n')
    if first then redis.call('ZREM', top, first) end
    found = sk .. '\\n' .. n
    redis.call('ZADD', top, 0, found)
  end
  local chunk = chunk_of(cp, found)
  redis.call('ZADD', chunk, score, member)
  local card = redis.call('ZCARD', chunk)
  if card > CHUNK then
    -- Split: the upper half moves to a new chunk named by its least member; a member appended at the end (the
    -- usual case: created or queued now) moves alone, so chunks fill up instead of staying half full.
    local half = math.floor(CHUNK / 2)
    if redis.call('ZREVRANGE', top, 0, 0)[1] == found and redis.call('ZRANGE', chunk, -1, -1)[1] == member then
      half = CHUNK
    end
    -- At most CHUNK members move per split, so a chunk grown past its size outside these scripts (a raw copy) sheds
    -- its top instead of overflowing unpack.
    local start = math.max(half, card - CHUNK)
    local upper = redis.call('ZRANGE', chunk, start, -1, 'WITHSCORES')
    local n = redis.call('INCR', cp .. 'n')
    local add = {}
    for i = 1, #upper, 2 do add[#add + 1] = upper[i + 1] add[#add + 1] = upper[i] end
    redis.call('ZADD', cp .. n, unpack(add))
    redis.call('ZREMRANGEBYRANK', chunk, start, -1)
    redis.call('ZADD', top, 0, sort_key(upper[2], upper[1]) .. '\\n' .. n)
  end
  return existed
end
-- An enqueue adds its batch's members per chunk (chunk_batching(), then chunk_flush() before it returns): each
-- member's chunk is still found as above, but the members wait in \`chunk_waiting\` and go in one ZADD per chunk, and
-- a chunk's size is read once and counted on, so a bulk enqueue makes about one call per record per chunked set
-- instead of three. A chunk that would pass CHUNK is written out and the member goes through chunk_add_now, which
-- splits it exactly as one add at a time would. Nothing else runs between the first add and the flush.
local chunk_waiting = nil -- chunk key -> {n = its size once written out, the waiting score/member pairs...}
local chunk_waiting_order = {}
-- The last chunk of each top while a batch adds: {chunk, a, b, c, prev = the chunk before it, the same way}, its name
-- and its bound as the numbers a sort key orders by (numeric(sk), see rx_numeric and cx_numeric), or false when the
-- bound has none. A member whose numbers are above the bound's belongs to the last chunk (no chunk starts after it),
-- so a batch that appends in order skips the lookup: one ZRANGE per top instead of one ZREVRANGEBYLEX per member.
-- One below the last bound but above the one before belongs to the chunk before: the creation index's members of one
-- ms come in random order (random UUIDv7 tails), and after a split at half those had been looked up one by one (0.6
-- lookups per bulk-enqueued record). Numbers, not strings, are compared: Lua compares strings by the server's locale
-- (strcoll), not byte by byte as sorted sets do.
local chunk_last = {}
local function chunk_batching() chunk_waiting = {} chunk_waiting_order = {} chunk_last = {} end
local function above(a, b, c, last)
  if a ~= last[2] then return a > last[2] end
  if b ~= last[3] then return b > last[3] end
  return c > last[4]
end
local function last_chunk(top, cp, numeric)
  local last = chunk_last[top]
  if last ~= nil then return last end
  last = false
  local tail = redis.call('ZRANGE', top, -2, -1)
  local m = tail[#tail]
  if m then
    local a, b, c = numeric(string.match(m, '^(.*)\\n%d+$'))
    if a then last = {chunk_of(cp, m), a, b, c} end
    if last and #tail == 2 then
      local pa, pb, pc = numeric(string.match(tail[1], '^(.*)\\n%d+$'))
      if pa then last.prev = {chunk_of(cp, tail[1]), pa, pb, pc} end
    end
  end
  chunk_last[top] = last
  return last
end
local function chunk_write(chunk)
  local w = chunk_waiting[chunk]
  if w and #w > 0 then
    w.n = w.n + redis.call('ZADD', chunk, unpack(w))
    for i = #w, 1, -1 do w[i] = nil end
  end
end
local function chunk_flush()
  if not chunk_waiting then return end
  for _, chunk in ipairs(chunk_waiting_order) do chunk_write(chunk) end
  chunk_waiting = nil
end
-- numeric(sk) gives three numbers in the order of sort keys (or nil for a key without them); a caller that has them
-- at hand passes them as a, b, c (numeric(sk) would give the same), and may pass sk as nil: it is made
-- (sort_key(score, member)) only when a lookup or a split needs it.
local function chunk_add(top, cp, sk, score, member, sort_key, numeric, a, b, c)
  if not chunk_waiting then return chunk_add_now(top, cp, sk or sort_key(score, member), score, member, sort_key) end
  local chunk = nil
  local last = last_chunk(top, cp, numeric)
  if last then
    if a == nil then
      sk = sk or sort_key(score, member)
      a, b, c = numeric(sk)
    end
    if a then
      if above(a, b, c, last) then
        chunk = last[1]
      elseif last.prev and above(a, b, c, last.prev) and (a ~= last[2] or b ~= last[3] or c ~= last[4]) then
        chunk = last.prev[1]
      end
    end
  end
  if not chunk then
    sk = sk or sort_key(score, member)
    local found = chunk_find(top, sk)
    chunk = found and chunk_of(cp, found)
  end
  local w = chunk and chunk_waiting[chunk]
  if chunk and not w then
    w = {n = redis.call('ZCARD', chunk)}
    chunk_waiting[chunk] = w
    chunk_waiting_order[#chunk_waiting_order + 1] = chunk
  end
  if not chunk or w.n + #w / 2 >= CHUNK then
    -- Below every chunk (chunk_add_now moves the first one's bound) or full (it splits): what waits is written first,
    -- and the chunks whose size may change are read again.
    for _, c in ipairs(chunk_waiting_order) do chunk_write(c) end
    chunk_add_now(top, cp, sk or sort_key(score, member), score, member, sort_key)
    chunk_batching()
    return
  end
  w[#w + 1] = score
  w[#w + 1] = member
end
local function chunk_rem(top, cp, sk, member)
  local found = chunk_find(top, sk)
  if not found then return end
  local chunk = chunk_of(cp, found)
  redis.call('ZREM', chunk, member)
  if redis.call('EXISTS', chunk) == 0 then redis.call('ZREM', top, found) end
end
-- The least members with their scores, removed (ZPOPMIN across the chunks), as a flat {member, score, ...}.
local function chunk_popmin(top, cp, want)
  local out = {}
  while want > 0 do
    local first = redis.call('ZRANGE', top, 0, 0)[1]
    if not first then break end
    local chunk = chunk_of(cp, first)
    local popped = redis.call('ZPOPMIN', chunk, want)
    for i = 1, #popped do out[#out + 1] = popped[i] end
    want = want - #popped / 2
    if redis.call('EXISTS', chunk) == 0 then redis.call('ZREM', top, first) end
  end
  return out
end
-- The least member and its score, left in place, or nil.
local function chunk_head(top, cp)
  local first = redis.call('ZRANGE', top, 0, 0)[1]
  if not first then return nil end
  return redis.call('ZRANGE', chunk_of(cp, first), 0, 0, 'WITHSCORES')
end
-- The creation index: score 0, member timed_member(creation ms, id), so members order by (creation time, id) and a
-- UUIDv7 id's entry is 16 bytes. cr may be nil where the id holds it (created_of).
local function cx_key(_, member) return member end
-- A creation-index key as numbers (for chunk_add's batches): time, and a UUIDv7's last 10 bytes as two numbers.
local function cx_numeric(sk)
  if not sk or #sk ~= 16 then return nil end
  return (struct.unpack('>I6', sk)), (struct.unpack('>I5', sk, 7)), (struct.unpack('>I5', sk, 12))
end
local function cx_member(cr, id) return timed_member(be(tonumber(cr), 6), id) end
local function index_created(cr, id)
  if not cr then
    -- A lowercase UUIDv7 holding the creation time (newTaskId's ids) is its own member: its packed bytes without the
    -- leading NUL (what cx_member gives, without reading the time out of the hex and comparing it back).
    local packed = packed_id(id)
    if #packed == 17 and string.byte(id, 15) == 55 then
      local member = string.sub(packed, 2)
      local a, b, c = struct.unpack('>I6I5I5', member)
      return chunk_add(p .. ':cx', p .. ':cx:', member, '0', member, cx_key, cx_numeric, a, b, c)
    end
  end
  cr = created_of(id, cr)
  if not cr then return end
  local member = cx_member(cr, id)
  chunk_add(p .. ':cx', p .. ':cx:', member, 0, member, cx_key, cx_numeric)
end
-- A record that leaves the index: its member, and cx_numeric's numbers of it when it has them. A lowercase UUIDv7 id
-- whose time is the record's creation (no cr field: newTaskId's ids) is its own 16 bytes there (cx_member drops the
-- time it would write twice), read here straight from its hex as those numbers: ~1 µs against ~3 for cx_member's
-- general path (packed_id's checks and its gsub), which was the most of a removal once its chunk is known.
local UUID7 = '^[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]%-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]%-'
  .. '7[0-9a-f][0-9a-f][0-9a-f]%-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]%-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
  .. '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$'
local function indexed_member(cr, id)
  if not cr and string.find(id, UUID7) then
    -- 6 bytes of time, then 5 and 5: hex 1-8 10-13, 15-18 20-23 25-26, 27-36.
    local a = tonumber(string.sub(id, 1, 8), 16) * 65536 + tonumber(string.sub(id, 10, 13), 16)
    local b = (tonumber(string.sub(id, 15, 18), 16) * 65536 + tonumber(string.sub(id, 20, 23), 16)) * 256
      + tonumber(string.sub(id, 25, 26), 16)
    local c = tonumber(string.sub(id, 27, 36), 16)
    return struct.pack('>I6I5I5', a, b, c), a, b, c
  end
  cr = created_of(id, cr)
  if not cr then return nil end
  local member = cx_member(cr, id)
  return member, cx_numeric(member)
end
-- A script that removes many records (a batch of completions with removeOnComplete, cleanup, retention) unindexes
-- them together (cx_unindexing(), then cx_unindex_flush() before it returns): one ZREVRANGEBYLEX per record to find
-- its chunk, then ZREM and EXISTS, were most of what a removal cost. The members wait per chunk in \`cx_gone\` and
-- leave in one ZREM per chunk; a chunk found once is known by its range (its bound and the next chunk's as
-- cx_numeric's numbers, open above for the last chunk), so a batch of records created near each other (a drain)
-- looks up a few chunks (7 for 100 records of a bulk enqueue of 3,000, whose ids order at random within a ms). A
-- member or bound without those numbers (an id that is not a UUIDv7) is looked up alone. Nothing reads or adds to
-- the index between the first removal and the flush, so no reader sees a removed record's entry and none is left
-- behind.
local cx_gone = nil -- chunk key -> {top = its member in P:cx, the members to remove...}
local cx_gone_order = {}
local cx_ranges = {} -- {chunk, bound's a, b, c, next bound's a, b, c (nil: the last chunk)}
local function cx_unindexing() cx_gone = {} cx_gone_order = {} cx_ranges = {} end
-- The chunk whose range holds the numbers (a, b, c), compared inline: this runs once per record removed.
local function cx_range_of(a, b, c)
  for i = 1, #cx_ranges do
    local r = cx_ranges[i]
    if (a > r[2] or (a == r[2] and (b > r[3] or (b == r[3] and c >= r[4]))))
      and (r[5] == nil or a < r[5] or (a == r[5] and (b < r[6] or (b == r[6] and c < r[7])))) then
      return r[1]
    end
  end
  return nil
end
local function cx_bound(top_member) return cx_numeric(string.match(top_member, '^(.*)\\n%d+$')) end
-- The chunk that holds member (nil: none), noted in cx_gone; a, b, c its numbers (nil when it has none).
local function cx_chunk_of(member, a, b, c)
  local chunk = a and cx_range_of(a, b, c)
  if chunk then return chunk end
  local top = p .. ':cx'
  local found = chunk_find(top, member)
  if not found then return nil end
  chunk = chunk_of(p .. ':cx:', found)
  if not cx_gone[chunk] then
    cx_gone[chunk] = {top = found}
    cx_gone_order[#cx_gone_order + 1] = chunk
  end
  local la, lb, lc = cx_bound(found)
  if a and la then
    local after = redis.call('ZRANGEBYLEX', top, '(' .. found, '+', 'LIMIT', 0, 1)[1]
    if not after then
      cx_ranges[#cx_ranges + 1] = {chunk, la, lb, lc}
    else
      local ha, hb, hc = cx_bound(after)
      if ha then cx_ranges[#cx_ranges + 1] = {chunk, la, lb, lc, ha, hb, hc} end
    end
  end
  return chunk
end
local function cx_unindex_flush()
  if not cx_gone then return end
  for _, chunk in ipairs(cx_gone_order) do
    local gone = cx_gone[chunk]
    for i = 1, #gone, 500 do redis.call('ZREM', chunk, unpack(gone, i, math.min(i + 499, #gone))) end
    if redis.call('EXISTS', chunk) == 0 then redis.call('ZREM', p .. ':cx', gone.top) end
  end
  cx_gone = nil
end
local function unindex_created(cr, id)
  local member, a, b, c = indexed_member(cr, id)
  if not member then return end
  if not cx_gone then return chunk_rem(p .. ':cx', p .. ':cx:', member, member) end
  local chunk = cx_chunk_of(member, a, b, c)
  if chunk then
    local gone = cx_gone[chunk]
    gone[#gone + 1] = member
  end
end
-- An index member's id, and its creation ms as a decimal string.
local function cx_id(member) return timed_id(string.sub(member, 1, 6), string.sub(member, 7)) end
local function cx_created(member)
  local n = 0
  for i = 1, 6 do n = n * 256 + string.byte(member, i) end
  return string.format('%.0f', n)
end
-- A ready set "<queue>|<exec>": score -priority, member rx_member(queuedAt, seq, id); its sort key puts the priority
-- first, descending, in 8 hex digits (priorities are 32-bit integers).
-- Key names made once per set and script run (an enqueue asks for them per record).
local ready_tops, ready_cps = {}, {}
local function ready_top(set)
  local key = ready_tops[set]
  if not key then
    key = p .. ':r:' .. set
    ready_tops[set] = key
  end
  return key
end
local function ready_cp(set)
  local key = ready_cps[set]
  if not key then
    key = p .. ':r:' .. set .. '#'
    ready_cps[set] = key
  end
  return key
end
local function rx_key(score, member)
  local rank = 2147483648 + math.min(math.max(tonumber(score), -2147483648), 2147483647)
  return string.format('%08x', rank) .. member
end
-- A ready-set key as numbers (for chunk_add's batches): its rank, queuedAt and sequence.
local function rx_numeric(sk)
  if not sk or #sk < 19 then return nil end
  local rank = tonumber(string.sub(sk, 1, 8), 16)
  if not rank then return nil end
  return rank, (struct.unpack('>I6', sk, 9)), (struct.unpack('>I5', sk, 15))
end
local function stat(queue, status, delta)
  if not queue or not status then return end -- a hash written around us may lack them; never fail the script
  redis.call('HINCRBY', p .. ':stats:' .. queue, status, delta)
end
${GROUP_INDEX}
-- Add a due record to its ready set ("<queue>|<exec>"); returns its member (FIFO within a priority by member), and
-- true when added alone (not in a batch) to a set that had a chunk for it already.
-- The group (its g field) indexes it by group too when its queue is claimed by group (queue-caps.lua.ts).
local function add_ready(id, set, priority, queued_at, seq, group)
  local at, n = tonumber(queued_at), tonumber(seq)
  local member = rx_member(at, n, id)
  local score = -tonumber(priority)
  -- rx_numeric's numbers of the sort key, known here when they are whole and in range (they always are for records
  -- this library writes); the default priority's score goes as text, which the server does not format per call.
  local rank, a, b, c = 2147483648 + math.min(math.max(score, -2147483648), 2147483647), nil, nil, nil
  if rank % 1 == 0 and at % 1 == 0 and at >= 0 and at < 281474976710656 and n % 1 == 0 and n >= 0
    and n < 1099511627776 then
    a, b, c = rank, at, n
  end
  local existed = chunk_add(ready_top(set), ready_cp(set), not a and rx_key(score, member) or nil,
    priority == '0' and '-0' or score, member, rx_key, rx_numeric, a, b, c)
  group_ready(set, group, score, member)
  return member, existed
end
local function place(id, now)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'q', 'x', 'p', 'qa', 'sc', 'o', 'cr', 'g', 'ex')
  -- A record that expires is indexed by its expiry whenever it becomes claimable (the sweep drops other entries).
  if f[9] then redis.call('ZADD', p .. ':expiry', f[9], id) end
  local due = tonumber(f[5] or '0') or 0
  if due > now then
    redis.call('ZADD', p .. ':delayed', due, id)
    return
  end
  -- The insertion sequence is kept for the record's life, so a released claim goes back to its old place.
  local seq = tonumber(f[6])
  if not seq then
    seq = redis.call('INCR', p .. ':seq')
    redis.call('HSET', t, 'o', seq)
  end
  local set = queue_of(f[1]) .. '|' .. backend_of(f[2])
  add_ready(id, set, f[3] or 0, tonumber(f[4]) or created_of(id, f[7]), seq, f[8])
  redis.call('SADD', p .. ':readysets', set)
end
-- Out of its ready set (the member is computed, as place wrote it) and the delayed set. Placing rewrites qa only
-- after this, so the member read here is the one in the set.
local function unplace(id)
  local f = redis.call('HMGET', tkey(id), 'q', 'x', 'qa', 'cr', 'o', 'p', 'g')
  local member = member_of(id, f[3], f[4], f[5])
  local score = -(tonumber(f[6] or '0') or 0)
  if member then
    local set = queue_of(f[1]) .. '|' .. backend_of(f[2])
    chunk_rem(ready_top(set), ready_cp(set), rx_key(score, member), member)
    group_unready(set, f[7], member)
  end
  redis.call('ZREM', p .. ':delayed', id)
end
local function set_status(id, status)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 's', 'q')
  local old = status_of(f[1])
  if old == status then return end
  stat(queue_of(f[2]), old, -1)
  stat(queue_of(f[2]), status, 1)
  store_status(t, status)
  if old == 'running' then redis.call('ZREM', p .. ':running', id) end
end
-- Free the record's dedup key if it still holds it; \`key\` when the caller has read it already.
local function release_key(id, key)
  key = key or redis.call('HGET', tkey(id), 'ky')
  if key and redis.call('HGET', p .. ':keys', key) == id then redis.call('HDEL', p .. ':keys', key) end
end
${FLOW_RELEASE_LUA}
local function finish(id, status, now)
  local t = tkey(id)
  unplace(id)
  set_status(id, status)
  redis.call('HSET', t, 'ct', now)
  redis.call('HDEL', t, 'hb')
  release_key(id)
  redis.call('SREM', p .. ':external', id)
  redis.call('ZADD', p .. ':terminal', now, id)
  -- The record's own retention age for this state: indexed by when it is due for deletion (REMOVE_AGED).
  local keep = tonumber(redis.call('HGET', t, status == 'completed' and 'kc' or 'kf'))
  if keep then redis.call('ZADD', p .. ':removeat', now + keep, id) end
  if status == 'completed' then
    redis.call('ZADD', p .. ':completed:' .. redis.call('HGET', t, 'n'), now, id)
  else
    -- Retention by task of failed and cancelled records (count and age; docs/backends/redis.md).
    redis.call('ZADD', p .. ':failed:' .. redis.call('HGET', t, 'n'), now, id)
  end
  local parent = redis.call('HGET', t, 'pa')
  if parent then release_parent(parent, now) end
end
-- Delete an ended record, its index entries and its persisted log (cleanup and retention; an ended record is in
-- no ready set). queue-control.scripts.ts has \`drop\` for records in any state but running.
local function drop_ended(id)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'q', 's', 'n', 'ky', 'cr')
  if f[3] then
    stat(queue_of(f[1]), status_of(f[2]), -1)
    redis.call('ZREM', p .. ':completed:' .. f[3], id)
    redis.call('ZREM', p .. ':failed:' .. f[3], id)
    if f[4] and redis.call('HGET', p .. ':lastkey', f[4]) == id then redis.call('HDEL', p .. ':lastkey', f[4]) end
    unindex_created(f[5], id)
    redis.call('DEL', t, p .. ':log:' .. id, p .. ':children:' .. id)
  end
  redis.call('ZREM', p .. ':terminal', id)
  redis.call('ZREM', p .. ':removeat', id)
end
local function requeue(id, now, retry_at)
  local t = tkey(id)
  if retry_at and retry_at ~= '' then redis.call('HSET', t, 'sc', retry_at) else redis.call('HDEL', t, 'sc') end
  redis.call('HSET', t, 'qa', now)
  redis.call('HDEL', t, 'w', 'hb', 'xr')
  redis.call('SREM', p .. ':external', id)
  local due = tonumber(retry_at ~= nil and retry_at ~= '' and retry_at or '0')
  set_status(id, due > now and 'scheduled' or 'pending')
  place(id, now)
end
-- A record's status, and whether its hash exists (every hash has 'n').
local function status_exists(id)
  local f = redis.call('HMGET', tkey(id), 's', 'n')
  if not f[2] then return nil end
  return status_of(f[1])
end
local function fenced(id, expected)
  local f = redis.call('HMGET', tkey(id), 's', 'r')
  if f[1] ~= 'running' then return false end
  if expected ~= '' and (f[2] or '0') ~= expected then return false end
  return true
end
local function is_active(status)
  return status == 'pending' or status == 'scheduled' or status == 'running' or status == 'waiting'
end
-- Why a record could not be enqueued (its key holds something else than a record hash, a placement field is not a
-- number), or nil.
-- The TYPE each checked record's key had (the enqueue reads it there instead of asking EXISTS again).
local key_kinds = {}
-- A batch's keys asked in one EXISTS per 1,000 ids: when none exists (fresh ids, the usual case) each is known as
-- 'none' and unstorable asks no TYPE per record, a Redis call that was about a fifth of a bulk enqueue's server time.
-- When any exists, each is asked on its own as before.
local function note_absent(ids)
  local found = 0
  for i = 1, #ids, 1000 do
    local keys = {}
    for j = i, math.min(i + 999, #ids) do keys[#keys + 1] = tkey(ids[j]) end
    found = found + redis.call('EXISTS', unpack(keys))
    if found > 0 then return end
  end
  for i = 1, #ids do key_kinds[ids[i]] = 'none' end
end
local function unstorable(id, priority, queued_at, scheduled_at)
  local kind = key_kinds[id]
  if kind == nil then
    kind = redis.call('TYPE', tkey(id)).ok
    key_kinds[id] = kind
  end
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
-- f = {status, queue field} of a pending or scheduled record, as the caller read them (status through status_of).
local function mark_running(id, f, now, worker)
  local t = tkey(id)
  stat_later(queue_of(f[2]), status_of(f[1]), -1)
  stat_later(queue_of(f[2]), 'running', 1)
  redis.call('HSET', t, 's', 'running', 'st', now, 'hb', now, 'w', worker)
  redis.call('ZADD', p .. ':running', now, id)
end
-- Take the best head across the ready sets named in sets (claim order: lowest score, then lowest member) out of its
-- set: returns its set, member and score, or nil when every set is empty. The batch claim and the controlled claim
-- both take their records through it when they read more than one set.
local function pop_best_head(sets)
  local best_set, best_member, best_score = nil, nil, nil
  for _, set in ipairs(sets) do
    local top = chunk_head(ready_top(set), ready_cp(set))
    if top and top[1] then
      local score = tonumber(top[2])
      if not best_set or score < best_score or (score == best_score and top[1] < best_member) then
        best_set, best_member, best_score = set, top[1], score
      end
    end
  end
  if best_set then chunk_rem(ready_top(best_set), ready_cp(best_set), rx_key(best_score, best_member), best_member) end
  return best_set, best_member, best_score
end
`;

/** A script body with the shared helpers above in front (scripts of other files use it too). */
export const script = (body: string) => `${COMMON}\n${body}`;

/** A hot script's body with only the shared helpers it reaches in front (see `pruneLua`). */
export const leanScript = (body: string) => `${pruneLua(COMMON, body)}\n${body}`;

/**
 * ARGV: p, now, channel ('' = no wakeup), wakeup payload, count, then per record: id, key, queue, status, execution
 * backend, priority, queuedAt, scheduledAt ('' = none), field count, field/value pairs... → {flags, holder
 * hashes...}: flags has '1' per created record and '0' per record already held, whose holder's hash follows, in
 * order. Records are handled in order, so dedup within one batch keeps the first. The
 * placement fields travel in the header, so a record is placed without reading its hash back; sequence numbers are
 * taken for the whole batch at once, and set memberships and counters are written once per batch. One wakeup is
 * published for the batch when any due record was created.
 */
export const ENQUEUE_BODY = `
local now, channel, payload, count = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
-- Every record is checked before any is written (Redis does not roll a script back): one the store cannot take
-- fails the batch with nothing written.
local check_at = 6
if count > 1 then
  local ids = {}
  for r = 1, count do
    ids[r] = ARGV[check_at]
    check_at = check_at + 9 + tonumber(ARGV[check_at + 8])
  end
  note_absent(ids)
  check_at = 6
end
for r = 1, count do
  local problem = unstorable(ARGV[check_at], ARGV[check_at + 5], ARGV[check_at + 6], ARGV[check_at + 7])
  if problem then return redis.error_reply(problem) end
  check_at = check_at + 9 + tonumber(ARGV[check_at + 8])
end
local seq0 = redis.call('INCRBY', p .. ':seq', count) - count
-- The reply: a string of one '1' per created record and '0' per one already held (by its key or id), then the
-- holders' hashes in that order; a pair of tables per record had cost both sides about a microsecond each.
local results, created, due, at, queues, sets = {''}, {}, false, 6, {}, {}
-- One record adds at once (the same three calls per chunked set, without the batch's tables).
if count > 1 then chunk_batching() end
for r = 1, count do
  local id, key, queue, status = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local backend, priority, queued_at, scheduled_at = ARGV[at + 4], ARGV[at + 5], ARGV[at + 6], ARGV[at + 7]
  local first = at + 9
  at = first + tonumber(ARGV[at + 8])
  local holder = nil
  if key ~= '' then holder = redis.call('HGET', p .. ':keys', key) end
  -- Its key's TYPE from the check above, unless this batch wrote it since (the same id twice).
  local kind = key_kinds[id]
  if kind == nil then kind = redis.call('TYPE', tkey(id)).ok end
  if not holder and kind ~= 'none' then holder = id end
  if holder then
    created[r] = '0'
    results[#results + 1] = record(holder)
  else
    -- A ready set that had a chunk already is in readysets and its queue in queues: both sets only grow, and the
    -- script that gives a set its first member adds both. So a single enqueue behind others skips the two SADDs.
    local listed = false
    stat_later(queue, status, 1)
    if key ~= '' then
      redis.call('HSET', p .. ':keys', key, id)
      redis.call('HSET', p .. ':lastkey', key, id)
    end
    -- The record's hash is written by one HSET (its fields last: unpack must end the call).
    local seq = seq0 + r
    local due_at = tonumber(scheduled_at) or 0
    if (status == 'pending' or status == 'scheduled') and due_at <= now then
      local set = queue .. '|' .. backend
      local group = nil
      if group_queue(queue) then
        for i = first, at - 1, 2 do
          if ARGV[i] == 'g' then group = ARGV[i + 1] break end
        end
      end
      local _, had_chunk = add_ready(id, set, priority, queued_at, seq, group)
      listed = had_chunk == true
      if not listed then sets[set] = true end
    elseif status == 'pending' or status == 'scheduled' then
      redis.call('ZADD', p .. ':delayed', due_at, id)
    end
    if not listed then queues[queue] = true end
    redis.call('HSET', tkey(id), 'o', seq, unpack(ARGV, first, at - 1))
    local cr = nil
    for i = first, at - 1, 2 do
      if ARGV[i] == 'cr' then cr = ARGV[i + 1] end
      -- A waiting record that expires goes into the expiry index (a waiting flow parent when it is placed).
      if ARGV[i] == 'ex' and (status == 'pending' or status == 'scheduled') then
        redis.call('ZADD', p .. ':expiry', ARGV[i + 1], id)
      end
    end
    index_created(cr, id)
    if status == 'pending' then due = true end
    key_kinds[id] = 'hash'
    created[r] = '1'
  end
end
chunk_flush()
for queue in pairs(queues) do redis.call('SADD', p .. ':queues', queue) end
for set in pairs(sets) do redis.call('SADD', p .. ':readysets', set) end
flush_stats()
-- 's|<channel>': a shard channel of this script's slot (sharded pub/sub on a cluster, see cluster-wakeups.ts).
if due and channel ~= '' then
  if string.sub(channel, 1, 2) == 's|' then redis.call('SPUBLISH', string.sub(channel, 3), payload)
  else redis.call('PUBLISH', channel, payload) end
end
results[1] = table.concat(created)
return results
`;
export const ENQUEUE = leanScript(ENQUEUE_BODY);

/**
 * The check `ENQUEUE` makes before writing, for a batch sent in several scripts: ARGV: p, the batch's guard, then
 * per record: id, priority, queuedAt, scheduledAt ('' = none) → 0, or an error naming the first record the store
 * cannot take. A slice that passes counts itself in P:ek:<guard>, which the batch's chunks (`ENQUEUE_GUARDED`) read.
 */
export const ENQUEUE_CHECK = script(`
local ids = {}
for at = 3, #ARGV, 4 do ids[#ids + 1] = ARGV[at] end
note_absent(ids)
for at = 3, #ARGV, 4 do
  local problem = unstorable(ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
  if problem then return redis.error_reply(problem) end
end
local passed = p .. ':ek:' .. ARGV[2]
redis.call('INCR', passed)
redis.call('PEXPIRE', passed, 600000)
return 0
`);

/**
 * \`ENQUEUE\` for a chunk of a batch sent in several scripts, sent right behind the batch's check slices
 * (\`ENQUEUE_CHECK\`) instead of after their replies: ARGV as \`ENQUEUE\`'s, then the batch's guard, its number of check
 * slices and whether this is its last chunk (1/0). It writes only when every slice passed (P:ek:<guard> counts them;
 * one connection runs the slices before it), so a refused record still leaves the batch unwritten, and a slice that
 * never ran (taken back at its timeout) refuses it too. The last chunk deletes the count; it expires in 10 minutes
 * otherwise.
 */
export const ENQUEUE_GUARDED = leanScript(`
do
  local passed = p .. ':ek:' .. ARGV[#ARGV - 2]
  if redis.call('GET', passed) ~= ARGV[#ARGV - 1] then
    return redis.error_reply('enqueue batch ' .. ARGV[#ARGV - 2] .. ': its whole-batch check did not pass; nothing written')
  end
  if ARGV[#ARGV] == '1' then redis.call('DEL', passed) end
end
${ENQUEUE_BODY}`);

/**
 * \`ENQUEUE\` for one record (\`QueueBackend.enqueue\`, and a batch of one), with the same arguments and reply: the
 * same checks and writes, in one pass without the batch's machinery (the whole-batch check, its tables of chunks,
 * counters and set names, the reply's flag string), and with only the helpers it reaches in front. About a third of
 * the single-enqueue script's server time was that machinery and the definitions of the helpers it drags in.
 * test/unit/backends/redis/redis-enqueue-one.test.ts checks that it leaves the store exactly as \`ENQUEUE\` does.
 */
export const ENQUEUE_ONE_BODY = `
local now, channel, payload = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local id, key, queue, status = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local backend, priority, queued_at, scheduled_at = ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local last = 14 + tonumber(ARGV[14])
local problem = unstorable(id, priority, queued_at, scheduled_at)
if problem then return redis.error_reply(problem) end
-- Its sequence number is taken before the dedup check, as ENQUEUE takes a batch's (a held record uses one up).
local seq = redis.call('INCR', p .. ':seq')
local holder = false
if key ~= '' then holder = redis.call('HGET', p .. ':keys', key) end
if not holder and key_kinds[id] ~= 'none' then holder = id end
if holder then return {'0', record(holder)} end
redis.call('HINCRBY', p .. ':stats:' .. queue, status, 1)
if key ~= '' then
  redis.call('HSET', p .. ':keys', key, id)
  redis.call('HSET', p .. ':lastkey', key, id)
end
local waits = status == 'pending' or status == 'scheduled'
local due_at = tonumber(scheduled_at) or 0
-- A ready set that had a chunk already is in readysets and its queue in queues (see ENQUEUE).
local listed = false
if waits and due_at <= now then
  local set = queue .. '|' .. backend
  local member = rx_member(tonumber(queued_at), seq, id)
  local score = -tonumber(priority)
  -- Its sort key (rx_key) and score as add_ready writes them; the default priority's without formatting a number.
  local sk = priority == '0' and '80000000' .. member or rx_key(score, member)
  listed = chunk_add_now(p .. ':r:' .. set, p .. ':r:' .. set .. '#', sk, priority == '0' and '-0' or score, member, rx_key)
  if group_queue(queue) then
    local group = nil
    for i = 15, last, 2 do
      if ARGV[i] == 'g' then group = ARGV[i + 1] break end
    end
    group_ready(set, group, score, member)
  end
  if not listed then redis.call('SADD', p .. ':readysets', set) end
elseif waits then
  redis.call('ZADD', p .. ':delayed', due_at, id)
end
if not listed then redis.call('SADD', p .. ':queues', queue) end
redis.call('HSET', p .. ':t:' .. id, 'o', seq, unpack(ARGV, 15, last))
local cr = nil
for i = 15, last, 2 do
  if ARGV[i] == 'cr' then cr = ARGV[i + 1] end
  if ARGV[i] == 'ex' and waits then redis.call('ZADD', p .. ':expiry', ARGV[i + 1], id) end
end
-- The creation index, as index_created adds one record.
local packed = not cr and packed_id(id)
if packed and #packed == 17 and string.byte(id, 15) == 55 then
  local member = string.sub(packed, 2)
  chunk_add_now(p .. ':cx', p .. ':cx:', member, '0', member, cx_key)
else
  cr = created_of(id, cr)
  if cr then
    local member = cx_member(cr, id)
    chunk_add_now(p .. ':cx', p .. ':cx:', member, 0, member, cx_key)
  end
end
if status == 'pending' and channel ~= '' then
  if string.sub(channel, 1, 2) == 's|' then redis.call('SPUBLISH', string.sub(channel, 3), payload)
  else redis.call('PUBLISH', channel, payload) end
end
return {'1'}
`;
export const ENQUEUE_ONE = leanScript(ENQUEUE_ONE_BODY);

/**
 * The claim order across several ready sets, as pop_best_head record by record would take them (the least
 * (score, member); equal heads by the sets' order), without that scan: each set's head is read once per call and
 * kept, and the set holding the best head gives up, in one run, every member that still comes before the best head
 * of the others (the second-best head). A run reads on from its head in growing slices (1 member, then 2, 4, ...:
 * queues filled side by side give runs of one), and what runs take leaves each chunk by rank once, when the call
 * ends or the chunk is used up, so a record costs one call here however many queues there are, instead of two per
 * queue. take(id, member, set) claims a popped record (or skips one no longer claimable); it reads no ready set.
 */
const CLAIM_ACROSS_FUNCTION = `
local function claim_across(sets, limit, claimed, take)
  -- heads[i] = {score, member, top member, chunk, taken} of sets[i]'s least member not yet taken, nil when it has
  -- none: taken members of the chunk (its least ones) are still in it.
  local heads = {}
  local function read_head(i)
    local first = redis.call('ZRANGE', ready_top(sets[i]), 0, 0)[1]
    local chunk = first and chunk_of(ready_cp(sets[i]), first)
    local top = chunk and redis.call('ZRANGE', chunk, 0, 0, 'WITHSCORES')
    heads[i] = top and top[1] and {tonumber(top[2]), top[1], first, chunk, 0} or nil
  end
  for i = 1, #sets do read_head(i) end
  local function before(a, ai, b, bi)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return ai < bi
  end
  while #claimed < limit do
    local best, second = nil, nil
    for i = 1, #sets do
      local h = heads[i]
      if h then
        if not best or before(h, i, heads[best], best) then
          best, second = i, best
        elseif not second or before(h, i, heads[second], second) then
          second = i
        end
      end
    end
    if not best then break end
    local head, want = heads[best], limit - #claimed
    local chunk, taken = head[4], head[5]
    local run, next_head, size, ended = {head[2]}, nil, 1, false
    while not next_head and not ended do
      local from = taken + #run
      local to = math.min(from + size, taken + want + 1)
      local slice = redis.call('ZRANGE', chunk, from, to - 1, 'WITHSCORES')
      for j = 1, #slice, 2 do
        local h = {tonumber(slice[j + 1]), slice[j], head[3], chunk, 0}
        if #run == want or (second and not before(h, best, heads[second], second)) then
          next_head = h
          break
        end
        run[#run + 1] = slice[j]
      end
      ended = #slice < (to - from) * 2
      size = size * 2
    end
    if next_head then
      next_head[5] = taken + #run
      heads[best] = next_head
    else
      -- The run took the rest of the chunk.
      redis.call('ZREMRANGEBYRANK', chunk, 0, taken + #run - 1)
      if redis.call('EXISTS', chunk) == 0 then redis.call('ZREM', ready_top(sets[best]), head[3]) end
      read_head(best)
    end
    for _, member in ipairs(run) do take(member_id(member), member, sets[best]) end
  end
  for i = 1, #sets do
    local h = heads[i]
    if h and h[5] > 0 then redis.call('ZREMRANGEBYRANK', h[4], 0, h[5] - 1) end
  end
end
`;

/**
 * Claim of a batch across the worker's queues: promote due delayed records (bounded), then take the best head of
 * the wanted ready sets, `limit` times. queues: comma list, '!' and a comma list of queues to leave out, or '' (all);
 * backends: comma list or '*'.
 */
const CLAIM_FUNCTION = `${CLAIM_ACROSS_FUNCTION}
local function claim(now, limit, worker, queues, backends)
  if limit <= 0 then return {} end -- a completion batch that claims nothing need not promote or scan
  local due = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', p .. ':delayed', id)
    local status = status_exists(id)
    if status == 'pending' or status == 'scheduled' then place(id, now) end
  end
  local wanted_q, wanted_b, unwanted_q = nil, nil, nil
  if string.sub(queues, 1, 1) == '!' then
    unwanted_q = {} for q in string.gmatch(string.sub(queues, 2), '[^,]+') do unwanted_q[q] = true end
  elseif queues ~= '' then wanted_q = {} for q in string.gmatch(queues, '[^,]+') do wanted_q[q] = true end end
  if backends ~= '*' then wanted_b = {} for b in string.gmatch(backends, '[^,]+') do wanted_b[b] = true end end
  local paused = {}
  for _, q in ipairs(redis.call('SMEMBERS', p .. ':paused')) do paused[q] = true end
  local sets = {}
  for _, name in ipairs(redis.call('SMEMBERS', p .. ':readysets')) do
    local sep = string.find(name, '|', 1, true)
    local q, b = string.sub(name, 1, sep - 1), string.sub(name, sep + 1)
    if (not wanted_q or wanted_q[q]) and (not unwanted_q or not unwanted_q[q]) and (not wanted_b or wanted_b[b])
      and not paused[q] then
      sets[#sets + 1] = name
    end
  end
  local claimed = {}
  -- A record of a queue indexed by group leaves its group's set too (member and set: where it was popped from).
  local function take(id, member, set)
    local t = tkey(id)
    local f = redis.call('HMGET', t, 's', 'q', 'g', 'n', 'ex')
    if not f[4] then return end -- no hash
    f[1] = status_of(f[1])
    if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return end
    group_unready(set, f[3], member)
    -- Expired: left waiting, out of its ready set, for the expiry sweep (P:expiry holds it) to end; never started.
    -- An expiry that is not a number (a hash written around us) never expires: comparing nil failed the script.
    if (tonumber(f[5]) or math.huge) <= now then return end
    -- Started in time: its expiry entry goes (or P:expiry would hold every expiring record until its expiry).
    if f[5] then redis.call('ZREM', p .. ':expiry', id) end
    mark_running(id, f, now, worker)
    local flat, row = redis.call('HGETALL', t), {}
    for i = 1, #flat, 2 do row[flat[i]] = flat[i + 1] end
    row.id = id
    claimed[#claimed + 1] = row
  end
  if #sets == 1 then
    -- One wanted ready set (the common case): pop the batch in claim order.
    while #claimed < limit do
      local want = limit - #claimed
      local popped = chunk_popmin(ready_top(sets[1]), ready_cp(sets[1]), want)
      for i = 1, #popped, 2 do take(member_id(popped[i]), popped[i], sets[1]) end
      if #popped < want * 2 then break end
    end
  end
  if #sets > 1 then claim_across(sets, limit, claimed, take) end
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
local f = redis.call('HMGET', tkey(id), 's', 'q', 'sc', 'n', 'ex')
if not f[4] then return {} end
f[1] = status_of(f[1])
if f[1] ~= 'pending' and f[1] ~= 'scheduled' then return {} end
if (tonumber(f[3]) or 0) > now then return {} end
-- Expired: left waiting for the expiry sweep (P:expiry holds it), as a batch claim leaves it.
if (tonumber(f[5]) or math.huge) <= now then return {} end
unplace(id)
mark_running(id, f, now, worker)
flush_stats()
return record(id)
`);

/**
 * Fenced completion: true when applied. A running record is in no ready or delayed set (claims take it out), so
 * only the running bookkeeping moves; the status counters are summed (flush_stats() writes them).
 */
const COMPLETE_FUNCTION = `
local function complete(now, id, expected, result_json, remove)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 's', 'r', 'q', 'n', 'ky', 'xr', 'pa', 'cr', 'kc')
  if f[1] ~= 'running' then return false end
  if expected ~= '' and (f[2] or '0') ~= expected then return false end
  if remove == '1' and not f[7] then
    -- removeOnComplete: true (never a flow child's, whose parent reads its result). The record leaves with its
    -- index entries; nothing is written for it.
    stat_later(queue_of(f[3]), 'running', -1)
    redis.call('ZREM', p .. ':running', id)
    if f[5] then
      release_key(id, f[5])
      if redis.call('HGET', p .. ':lastkey', f[5]) == id then redis.call('HDEL', p .. ':lastkey', f[5]) end
    end
    if f[6] then redis.call('SREM', p .. ':external', id) end
    unindex_created(f[8], id)
    redis.call('DEL', t, p .. ':log:' .. id)
    return true
  end
  stat_later(queue_of(f[3]), 'running', -1)
  stat_later(queue_of(f[3]), 'completed', 1)
  if result_json ~= '' then
    redis.call('HSET', t, 's', 'completed', 'ct', now, 'rs', result_json)
    redis.call('HDEL', t, 'e', 'hb')
  else
    redis.call('HSET', t, 's', 'completed', 'ct', now)
    redis.call('HDEL', t, 'e', 'hb', 'rs')
  end
  redis.call('ZREM', p .. ':running', id)
  if f[5] then release_key(id, f[5]) end
  if f[6] then redis.call('SREM', p .. ':external', id) end
  redis.call('ZADD', p .. ':terminal', now, id)
  redis.call('ZADD', p .. ':completed:' .. f[4], now, id)
  -- Its own age (as in finish); one that is not a number (a hash written around us) is none: a sum with nil failed
  -- the script, and every completion of the batch with it.
  local keep = tonumber(f[9])
  if keep then redis.call('ZADD', p .. ':removeat', now + keep, id) end
  if f[7] then release_parent(f[7], now) end
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
  if redis.call('HGET', tkey(id), 'n') == ARGV[2] then n = n + 1 end
end
return n
`);

/**
 * ARGV: p, now, id, expectedRetryCount or '', result JSON or '', remove ('1': delete it) → hash or {}. A removed
 * record's hash comes back as it was before the completion.
 */
export const COMPLETE = script(`${COMPLETE_FUNCTION}
local before = ARGV[6] == '1' and record(ARGV[3]) or nil
if not complete(tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6]) then return {} end
flush_stats()
return before or record(ARGV[3])
`);

/**
 * The worker's hot path in one round trip: complete a batch of records, then claim for the slots they freed.
 * ARGV: p, now, limit, worker, queues, backends, count, then per item: id, expectedRetryCount, result JSON or '',
 * remove ('1' or '') → {applied (1, or 0 where fenced off, per item), JSON array of claimed rows}.
 */
export const COMPLETE_AND_CLAIM = script(`${COMPLETE_FUNCTION}${CLAIM_FUNCTION}
local now, count = tonumber(ARGV[2]), tonumber(ARGV[7])
local done = {}
cx_unindexing() -- removed records leave the creation index per chunk (cx_unindex_flush)
for i = 1, count do
  local at = 8 + (i - 1) * 4
  done[i] = complete(now, ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]) and 1 or 0
end
-- Written before the claim: Redis does not roll a script back, so an error in the claim must not leave the
-- completions' status writes without their counter moves, nor removed records in the creation index.
flush_stats()
cx_unindex_flush()
local claimed = claim(now, tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]) -- flushes its own counters
return {done, encode_rows(claimed)}
`);

/**
 * ARGV: p, now, id, expectedRetryCount or '', error, retry ('1'/'0'), retryAt or '', remove ('1': delete the record
 * when the failure is final; its failed hash comes back) → hash or {}.
 */
export const FAIL = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
if not fenced(id, ARGV[4]) then return {} end
local t = tkey(id)
redis.call('HSET', t, 'e', ARGV[5])
local f = redis.call('HMGET', t, 'r', 'm')
local rc, mr = tonumber(f[1] or '0'), tonumber(f[2] or '0')
if ARGV[6] == '1' and rc and mr and rc < mr then
  redis.call('HSET', t, 'r', rc + 1)
  requeue(id, now, ARGV[7])
else
  finish(id, 'failed', now)
  if ARGV[8] == '1' and not parent_lives(id) then
    local out = record(id)
    drop_ended(id)
    return out
  end
end
return record(id)
`);

/** ARGV: p, now, id → hash or {}. */
export const CANCEL = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local status = status_exists(id)
if not status or not is_active(status) then return {} end
finish(id, 'cancelled', now)
return record(id)
`);

/** ARGV: p, now, id → hash or {} (not failed/cancelled, or the key is held by another active record). */
export const RETRY = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local t = tkey(id)
local f = redis.call('HMGET', t, 's', 'ky', 'n')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return {} end
if f[2] and redis.call('HEXISTS', p .. ':keys', f[2]) == 1 then return {} end
redis.call('HDEL', t, 'r', 'st', 'ct', 'rs') -- retry count back to its default, 0
redis.call('ZREM', p .. ':terminal', id)
redis.call('ZREM', p .. ':completed:' .. f[3], id)
redis.call('ZREM', p .. ':failed:' .. f[3], id)
if f[2] then
  redis.call('HSET', p .. ':keys', f[2], id)
  redis.call('HSET', p .. ':lastkey', f[2], id)
end
requeue(id, now, '')
return record(id)
`);

/** ARGV: p, now, mode ('touch'|'clear'), id1, rc1, id2, rc2, ... → applied ids. */
export const HEARTBEATS = script(`
local now, mode = tonumber(ARGV[2]), ARGV[3]
local applied = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if fenced(id, ARGV[i + 1]) then
    if mode == 'touch' then
      redis.call('HSET', tkey(id), 'hb', now)
      redis.call('ZADD', p .. ':running', now, id)
    else
      redis.call('HDEL', tkey(id), 'hb')
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
    redis.call('HDEL', tkey(id), 'w', 'hb', 'st')
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
  local f = redis.call('HMGET', t, 'r', 'm', 'n', 'p')
  if redis.call('EXISTS', t) == 0 then
    redis.call('ZREM', p .. ':running', id) -- its hash is gone: nothing to recover
  else
    local rc, mr = tonumber(f[1] or '0'), tonumber(f[2] or '0')
    -- A hash written around us whose placement fields are not numbers is failed instead: it could never be placed.
    local placeable = rc and mr and tonumber(f[4] or '0')
    redis.call('HSET', t, 'e', 'Task heartbeat stale')
    if placeable and not fail_names[f[3] or ''] and rc < mr then
      redis.call('HSET', t, 'r', rc + 1)
      requeue(id, now, '')
      requeued[#requeued + 1] = record(id)
    else
      finish(id, 'failed', now)
      failed[#failed + 1] = record(id)
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
if (redis.call('HGET', t, 'md') or '{}') ~= ARGV[4] then return -1 end
if ARGV[6] == '1' then
  if not redis.call('HGET', t, 'ky') then return 0 end
  release_key(id)
  redis.call('HDEL', t, 'ky')
end
if ARGV[5] == '{}' then redis.call('HDEL', t, 'md') else redis.call('HSET', t, 'md', ARGV[5]) end
return 1
`);

/**
 * ARGV: p, id, ref or '' (clear), expectedRef mode ('any'|'none'|'value'), expectedRef, expectedRetryCount or ''
 * → hash or {}.
 */
export const SET_REF = script(`
local id = ARGV[2]
local t = tkey(id)
local f = redis.call('HMGET', t, 's', 'xr', 'r', 'n')
if not f[4] or not is_active(status_of(f[1])) then return {} end
if ARGV[4] == 'none' and f[2] then return {} end
if ARGV[4] == 'value' and f[2] ~= ARGV[5] then return {} end
if ARGV[6] ~= '' and (f[3] or '0') ~= ARGV[6] then return {} end
if ARGV[3] == '' then
  redis.call('HDEL', t, 'xr')
  redis.call('SREM', p .. ':external', id)
else
  redis.call('HSET', t, 'xr', ARGV[3])
  redis.call('SADD', p .. ':external', id)
end
return record(id)
`);

/** ARGV: p, now, id, backend, profile mode ('keep'|'set'|'clear'), profile, expectedRetryCount or '' → hash or {}. */
export const SET_BACKEND = script(`
local now, id = tonumber(ARGV[2]), ARGV[3]
local t = tkey(id)
local f = redis.call('HMGET', t, 's', 'r', 'n')
if not f[3] or not is_active(status_of(f[1])) then return {} end
if ARGV[7] ~= '' and (f[2] or '0') ~= ARGV[7] then return {} end
local claimable = status_of(f[1]) == 'pending' or f[1] == 'scheduled'
if claimable then unplace(id) end
if ARGV[4] == 'local' then redis.call('HDEL', t, 'x') else redis.call('HSET', t, 'x', ARGV[4]) end
if ARGV[5] == 'set' then redis.call('HSET', t, 'xp', ARGV[6]) end
if ARGV[5] == 'clear' then redis.call('HDEL', t, 'xp') end
redis.call('HDEL', t, 'xr')
redis.call('SREM', p .. ':external', id)
if claimable then place(id, now) end
return record(id)
`);

/**
 * ARGV: p, before, limit, statuses (comma list, or '' for every terminal status), task ('' for any), now → number
 * deleted. Flow children whose parent lives are kept (moved to \`now\` in the end-time index, so they are looked
 * at again a retention period later instead of blocking the batch).
 */
export const CLEANUP = script(`
local before, limit, task, now = ARGV[2], tonumber(ARGV[3]), ARGV[5], tonumber(ARGV[6])
local wanted = nil
if ARGV[4] ~= '' then wanted = {} for s in string.gmatch(ARGV[4], '[^,]+') do wanted[s] = true end end
-- One task's records come from its own sets; otherwise the end-time index of every terminal record.
local sources = { p .. ':terminal' }
if task ~= '' then
  sources = {}
  if not wanted or wanted.completed then sources[#sources + 1] = p .. ':completed:' .. task end
  if not wanted or wanted.failed or wanted.cancelled then sources[#sources + 1] = p .. ':failed:' .. task end
end
local removed, examined = 0, 0
cx_unindexing() -- the deleted records leave the creation index per chunk
for _, source in ipairs(sources) do
  -- Records of other statuses are stepped over (offset), at most ten batches' worth per call.
  local offset = 0
  while removed < limit and examined < limit * 10 do
    local ids = redis.call('ZRANGEBYSCORE', source, '-inf', '(' .. before, 'LIMIT', offset, limit - removed)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      examined = examined + 1
      local f = redis.call('HMGET', tkey(id), 's', 'n')
      local s = status_of(f[1]) -- a hash exists when it names its task (the status is left out when pending)
      if not f[2] then
        redis.call('ZREM', source, id)
        redis.call('ZREM', p .. ':terminal', id)
      elseif parent_lives(id) then
        -- Its flow parent has yet to read its result.
        if source == p .. ':terminal' then redis.call('ZADD', source, now, id) else offset = offset + 1 end
      elseif (s == 'completed' or s == 'failed' or s == 'cancelled') and (not wanted or wanted[s])
        and (task == '' or f[2] == task) then
        drop_ended(id)
        removed = removed + 1
      else
        offset = offset + 1
      end
    end
  end
end
cx_unindex_flush()
return removed
`);

/**
 * Retention by count. ARGV: p, task, statuses (comma list of one class: completed, or failed/cancelled), keep,
 * limit → records deleted (those past the newest `keep` of the task's set, at most `limit`). An entry whose record
 * is gone or whose status is not of the set's class (only a hash written around us has one: a retry takes its record
 * out of the set) leaves the set; one kept (another status of the class, a flow child whose parent lives) is stepped
 * over. Neither takes a deletion's place, so a batch comes back short only when nothing more is due (the retention
 * pass stops at a short batch): at most ten batches' worth of entries are read per call.
 */
export const TRIM = script(`
local task, keep, limit = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
local wanted = {}
for s in string.gmatch(ARGV[3], '[^,]+') do wanted[s] = true end
local completed = wanted.completed
local source = p .. (completed and ':completed:' or ':failed:') .. task
local removed, examined, offset = 0, 0, keep
cx_unindexing() -- the deleted records leave the creation index per chunk
while removed < limit and examined < limit * 10 do
  local ids = redis.call('ZREVRANGE', source, offset, offset + limit - removed - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    examined = examined + 1
    local f = redis.call('HMGET', tkey(id), 's', 'n')
    local s = status_of(f[1])
    local of_class = completed and s == 'completed' or (not completed and (s == 'failed' or s == 'cancelled'))
    if not f[2] or not of_class then redis.call('ZREM', source, id)
    elseif wanted[s] and not parent_lives(id) then drop_ended(id) removed = removed + 1
    else offset = offset + 1 end
  end
end
cx_unindex_flush()
return removed
`);

/**
 * Retention by a record's own age. ARGV: p, now, limit → records deleted. Reads the head of P:removeat: a record due
 * is dropped, a flow child whose parent lives moves just past `now` (looked at again next pass), an entry of a record
 * retried since, gone or not readable as ended leaves the index, one not due yet moves to when it is. Every entry
 * read leaves the range read, so none is read twice and none takes a deletion's place: the head is read again until
 * `limit` are deleted, nothing is due, or ten batches' worth of entries were read (a short batch ends the pass).
 */
export const REMOVE_AGED = script(`
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local removed, examined = 0, 0
cx_unindexing() -- the deleted records leave the creation index per chunk
while removed < limit and examined < limit * 10 do
  local ids = redis.call('ZRANGEBYSCORE', p .. ':removeat', '-inf', now, 'LIMIT', 0, limit - removed)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    examined = examined + 1
    local f = redis.call('HMGET', tkey(id), 's', 'ct', 'kc', 'kf', 'n')
    local s = status_of(f[1])
    local keep = tonumber(s == 'completed' and f[3] or f[4])
    local ended = s == 'completed' or s == 'failed' or s == 'cancelled'
    if not f[5] or not ended or not keep or not tonumber(f[2]) then
      redis.call('ZREM', p .. ':removeat', id)
    elseif tonumber(f[2]) + keep > now then
      redis.call('ZADD', p .. ':removeat', tonumber(f[2]) + keep, id)
    elseif parent_lives(id) then
      redis.call('ZADD', p .. ':removeat', now + 1, id)
    else
      drop_ended(id)
      removed = removed + 1
    end
  end
end
cx_unindex_flush()
return removed
`);

/**
 * The expiry sweep. ARGV: p, now, id1, error1, id2, error2, ... (candidates read from P:expiry, each with the
 * error naming its expiry) → the ids ended here. A record still waiting with its expiry passed ends `failed` like
 * any end (`finish`: key freed, flow parent released); any other entry (claimed, ended, gone) leaves P:expiry.
 */
export const EXPIRE_WAITING = script(`
local now, ended = tonumber(ARGV[2]), {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local f = redis.call('HMGET', tkey(id), 's', 'ex', 'n')
  local s = status_of(f[1])
  if f[3] and (s == 'pending' or s == 'scheduled') and tonumber(f[2]) and tonumber(f[2]) <= now then
    redis.call('HSET', tkey(id), 'e', ARGV[i + 1])
    finish(id, 'failed', now)
    ended[#ended + 1] = id
  end
  if not (f[3] and tonumber(f[2]) and tonumber(f[2]) > now and (s == 'pending' or s == 'scheduled')) then
    redis.call('ZREM', p .. ':expiry', id)
  end
end
return ended
`);

/** ARGV: p, id → 1 when a terminal record was deleted, else 0. */
export const REMOVE_TERMINAL = script(`
local s = redis.call('HGET', tkey(ARGV[2]), 's') -- nil: pending, or no record
if s ~= 'completed' and s ~= 'failed' and s ~= 'cancelled' then return 0 end
if parent_lives(ARGV[2]) then return 0 end
drop_ended(ARGV[2])
return 1
`);

/** ARGV: p, name, owner, ttl → 1 held, 0 not. */
export const LEASE = script(`
local k = p .. ':lease:' .. ARGV[2]
local owner = redis.call('GET', k)
if owner and owner ~= ARGV[3] then return 0 end
redis.call('SET', k, ARGV[3], 'PX', tonumber(ARGV[4]))
return 1
`);

/**
 * The one-time rewrite of record hashes written by 0.1 (snake_case fields, every default written, a copy of the
 * ready-set member) into the short-field layout; their ready-set members are the same, so no index moves. A hash
 * already in the new layout (no `status` field) is left alone, so concurrent runs are harmless.
 * ARGV: p, id1, id2, ... → number rewritten.
 */
export const MIGRATE = script(`
local short = {task_name = 'n', args_json = 'a', kwargs_json = 'k', queue = 'q', execution_backend = 'x',
  execution_profile = 'xp', execution_ref = 'xr', worker_id = 'w', status = 's', priority = 'p', max_retries = 'm',
  retry_count = 'r', scheduled_at = 'sc', queued_at = 'qa', created_at = 'cr', started_at = 'st', completed_at = 'ct',
  heartbeat_at = 'hb', result_json = 'rs', error = 'e', task_key = 'ky', metadata_json = 'md', seq = 'o',
  id = false, ready_member = false}
local defaults = {k = '{}', md = '{}', q = 'default', x = 'local', p = '0', m = '0', r = '0', s = 'pending'}
local n = 0
for i = 2, #ARGV do
  local t = tkey(ARGV[i])
  if redis.call('TYPE', t).ok == 'hash' and redis.call('HEXISTS', t, 'status') == 1 then
    local flat, fields = redis.call('HGETALL', t), {}
    for j = 1, #flat, 2 do
      local name = short[flat[j]]
      if name == nil then name = flat[j] end -- a field of neither layout is kept as it is
      if name and defaults[name] ~= flat[j + 1] then fields[name] = flat[j + 1] end
    end
    if fields.qa and fields.qa == fields.cr then fields.qa = nil end
    if fields.cr and id_time(ARGV[i]) == tonumber(fields.cr) then fields.cr = nil end
    local args = {}
    for name, value in pairs(fields) do args[#args + 1] = name args[#args + 1] = value end
    redis.call('DEL', t)
    if #args > 0 then redis.call('HSET', t, unpack(args)) end
    n = n + 1
  end
end
return n
`);

/**
 * Records into the creation index (the records of a store older than it). ARGV: p, ids → 0. A record whose hash
 * is gone is left out; adding an entry that is there already changes nothing.
 */
export const INDEX_CREATED = script(`
for i = 2, #ARGV do
  local f = redis.call('HMGET', tkey(ARGV[i]), 'cr', 'n')
  if f[2] then index_created(f[1], ARGV[i]) end
end
return 0
`);

/**
 * A page of the creation index, newest first: ARGV: p, start (entries to skip), count → ids. Skipped chunks are
 * counted, not read.
 */
export const CREATED_PAGE = script(`
local skip, count, ids = tonumber(ARGV[2]), tonumber(ARGV[3]), {}
local top, at = p .. ':cx', 0
while #ids < count do
  local chunks = redis.call('ZREVRANGE', top, at, at + 15)
  if #chunks == 0 then break end
  at = at + #chunks
  for _, member in ipairs(chunks) do
    local chunk = chunk_of(p .. ':cx:', member)
    local size = redis.call('ZCARD', chunk)
    if skip >= size then
      skip = skip - size
    else
      for _, member in ipairs(redis.call('ZREVRANGE', chunk, skip, skip + count - #ids - 1)) do
        ids[#ids + 1] = cx_id(member)
      end
      skip = 0
      if #ids >= count then break end
    end
  end
end
return ids
`);

/**
 * Members of a ready set of an earlier layout moved into its chunked set of packed members, at most ARGV[3] per
 * call: from one sorted set P:ready:<set> (0.1) or layout 3's chunked P:rx:<set>, both with text members
 * "<queuedAt:11 hex>:<seq:10 hex>:<id>". ARGV: p, set, count → members left in the old sets (0 when moved).
 */
export const MIGRATE_READY = script(`
local set, count = ARGV[2], tonumber(ARGV[3])
local function move(page)
  for i = 1, #page, 2 do
    local text, score = page[i], tonumber(page[i + 1])
    local at, seq = tonumber(string.sub(text, 1, 11), 16), tonumber(string.sub(text, 13, 22), 16)
    if at and seq then
      local member = rx_member(at, seq, string.sub(text, 24))
      chunk_add(ready_top(set), ready_cp(set), rx_key(score, member), score, member, rx_key)
    end
  end
end
local old = p .. ':ready:' .. set
local page = redis.call('ZRANGE', old, 0, count - 1, 'WITHSCORES')
move(page)
for i = 1, #page, 2 do redis.call('ZREM', old, page[i]) end
move(chunk_popmin(p .. ':rx:' .. set, p .. ':rx:' .. set .. '#', count - #page / 2))
local left = redis.call('ZCARD', old) + redis.call('ZCARD', p .. ':rx:' .. set)
if left == 0 then redis.call('DEL', p .. ':rx:' .. set .. '#n') end
return left
`);

/**
 * Record hashes of earlier layouts (P:task:<id>) renamed to P:t:<id>; a key that is not a record hash, or whose
 * new name is taken, stays. ARGV: p, ids → number renamed.
 */
export const RENAME_RECORDS = script(`
local n = 0
for i = 2, #ARGV do
  local old = p .. ':task:' .. ARGV[i]
  if redis.call('TYPE', old).ok == 'hash' and redis.call('EXISTS', tkey(ARGV[i])) == 0 then
    redis.call('RENAME', old, tkey(ARGV[i]))
    n = n + 1
  end
end
return n
`);

/**
 * Layout 3's creation index (text ids) dropped, at most ARGV[2] chunks per call; the first listing indexes every
 * record again (ensureCreationIndex). ARGV: p, count → chunks left.
 */
export const DROP_CREATED_INDEX = script(`
local top = p .. ':cx'
for _, member in ipairs(redis.call('ZRANGE', top, 0, tonumber(ARGV[2]) - 1)) do
  redis.call('DEL', chunk_of(p .. ':cx:', member))
  redis.call('ZREM', top, member)
end
local left = redis.call('ZCARD', top)
if left == 0 then redis.call('DEL', p .. ':cx:n', p .. ':created:indexed') end
return left
`);

/** A ready set's first records in claim order: ARGV: p, set, count → ids. */
export const READY_HEAD = script(`
local top, cp, count, out, at = ready_top(ARGV[2]), ready_cp(ARGV[2]), tonumber(ARGV[3]), {}, 0
while #out < count do
  local names = redis.call('ZRANGE', top, at, at + 15)
  if #names == 0 then break end
  at = at + #names
  for _, name in ipairs(names) do
    for _, member in ipairs(redis.call('ZRANGE', chunk_of(cp, name), 0, count - #out - 1)) do
      out[#out + 1] = member_id(member)
    end
    if #out >= count then break end
  end
end
return out
`);
