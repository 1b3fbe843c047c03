/**
 * The Lua script that publishes one flush of the Redis event transport, so each envelope's JSON crosses the wire
 * once however many channels it goes to, and the messages are assembled next to the data.
 *
 * ARGV: the message prefix (`{"origin":"…"`), the most characters of envelopes one message groups, then per
 * envelope: its channel count n, its n channels, its JSON. Each channel gets its envelopes in order, in one message
 * (`…,"event":E}` for one, `…,"events":[E,…]}` for several), or in several when they pass the character limit.
 * Returns the number of channels published to.
 */
export const PUBLISH_EVENTS_LUA = publishEventsLua('PUBLISH');

/**
 * The same script with SPUBLISH, for a cluster's shard channels: called with one channel as KEYS[1] (so the client
 * sends it to that channel's master) and only that channel in ARGV.
 */
export const SPUBLISH_EVENTS_LUA = publishEventsLua('SPUBLISH');

function publishEventsLua(command: 'PUBLISH' | 'SPUBLISH'): string {
  return `
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local order, groups = {}, {}
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local json = ARGV[i + n + 1]
  for c = i + 1, i + n do
    local channel = ARGV[c]
    local list = groups[channel]
    if not list then
      list = {}
      groups[channel] = list
      order[#order + 1] = channel
    end
    list[#list + 1] = json
  end
  i = i + n + 2
end
local function send(channel, list, from, to)
  if from == to then
    redis.call('${command}', channel, prefix .. ',"event":' .. list[from] .. '}')
  else
    redis.call('${command}', channel, prefix .. ',"events":[' .. table.concat(list, ',', from, to) .. ']}')
  end
end
for _, channel in ipairs(order) do
  local list = groups[channel]
  local from, chars = 1, 0
  for k = 1, #list do
    if k > from and chars + #list[k] > limit then
      send(channel, list, from, k - 1)
      from, chars = k, 0
    end
    chars = chars + #list[k] + 1
  end
  send(channel, list, from, #list)
end
return #order
`;
}
