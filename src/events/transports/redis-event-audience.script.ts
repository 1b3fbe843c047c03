/**
 * The Lua script by which the Redis event transport learns whether anyone but itself would hear its events.
 *
 * ARGV: the probe message (`{"origin":"…","events":[]}`, which readers take as no events), the global channel, a
 * queue channel and a task channel no real queue or task has (their segment holds a character that channel names
 * of real ones never do), then the glob of the namespace's task channels and of its queue channels. The message is
 * published on the three channels, so every pattern or channel subscriber that could hear some event of the
 * namespace counts once per channel it hears; subscribers of one real task or queue channel are counted by
 * `PUBSUB CHANNELS`. Returns `{ heard, subscribed }`: the PUBLISH receivers (this process's own subscriber among
 * them: the global channel and, through its pattern, the queue channel) and the task and queue channels with a
 * subscriber.
 */
export const EVENT_AUDIENCE_LUA = `
local heard = 0
for c = 2, 4 do heard = heard + redis.call('PUBLISH', ARGV[c], ARGV[1]) end
local subscribed = #redis.call('PUBSUB', 'CHANNELS', ARGV[5]) + #redis.call('PUBSUB', 'CHANNELS', ARGV[6])
return { heard, subscribed }
`;
