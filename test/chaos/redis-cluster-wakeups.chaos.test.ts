import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisClusterQueueBackend } from '../../src/backends/redis/redis-cluster.backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { ThrowawayRedisCluster } from '../support/redis-cluster.js';

/** Enqueue→wakeup of another backend's waiter, far below the wait's own 10 s (margins for a loaded machine). */
const WAKEUP_MS = 2_000;

// Wakeups through sharded pub/sub (SSUBSCRIBE/SPUBLISH) on a Redis 7 cluster of the test's own: each queue's channel
// lives in the queue's slot, on its master only, and a backend hears a queue another process adds after it opened.
describe('Redis Cluster wakeups: sharded pub/sub per queue slot (own cluster)', () => {
  const cluster = new ThrowawayRedisCluster();
  const opened: RedisClusterQueueBackend[] = [];
  const open = async (keyPrefix: string) => {
    const backend = new RedisClusterQueueBackend({
      type: 'redis',
      cluster: { nodes: cluster.nodes },
      keyPrefix,
    });
    await backend.open();
    opened.push(backend);
    return backend;
  };
  /** The node's `PUBSUB <kind>` reply. */
  const pubsub = async (port: number, kind: 'CHANNELS' | 'SHARDCHANNELS') => {
    const node = new Redis({ host: '127.0.0.1', port });
    try {
      return ((await node.call('PUBSUB', kind)) as string[]).sort();
    } finally {
      node.disconnect();
    }
  };
  /** How long `listener`'s wait took to wake on an enqueue of `queue` by `enqueuer`. */
  const wakeupAfterEnqueue = async (
    listener: RedisClusterQueueBackend,
    enqueuer: RedisClusterQueueBackend,
    queue: string,
  ) => {
    const woken = listener.waitForNotifications(10_000);
    const started = Date.now();
    await enqueuer.enqueue(newTaskRecord({ taskName: 'wake.me', queue }));
    assert.equal(await woken, true, `no wakeup for ${queue}`);
    return Date.now() - started;
  };

  before(async () => {
    await cluster.start();
  });
  after(async () => {
    for (const backend of opened) await backend.close();
    await cluster.stop();
  });

  test('a queue wakes the waiters of another backend through its slot channel, not the broadcast one', async () => {
    const listener = await open('wake');
    const enqueuer = await open('wake');
    await enqueuer.enqueue(newTaskRecord({ taskName: 'wake.me', queue: 'emails' }));
    // The first wait opens the subscriptions (the queues known then, and the home channel) and wakes at once.
    await listener.waitForNotifications(2_000);
    await listener.claimMany({ limit: 10, workerId: 'w' });
    assert.equal(await listener.waitForNotifications(300), false, 'nothing to wake for yet');

    const took = await wakeupAfterEnqueue(listener, enqueuer, 'emails');
    assert.ok(took < WAKEUP_MS, `woken after ${took} ms`);
    const master = cluster.masterOf('{wake:emails}').port;
    assert.ok((await pubsub(master, 'SHARDCHANNELS')).includes('{wake:emails}:wakeup'));
    for (const port of cluster.ports)
      assert.deepEqual(
        (await pubsub(port, 'CHANNELS')).filter((channel) => channel.includes('wake')),
        [],
        `no plain wakeup channel subscribed on ${port}`,
      );
    assert.equal(listener.listenerAlive, true);
  });

  test('a queue added by another process after the subscriptions opened wakes them too', async () => {
    const listener = await open('wake2');
    const enqueuer = await open('wake2');
    await listener.waitForNotifications(500); // subscribed: the home channel only, no queue yet
    await listener.waitForNotifications(300);
    // The first record of a new queue: its adder names it on the home channel once written, which wakes the listener
    // and subscribes it to the queue's channel; the next record's wakeup comes on that channel.
    await wakeupAfterEnqueue(listener, enqueuer, 'reports');
    await listener.claimMany({ limit: 10, workerId: 'w' });
    await listener.waitForNotifications(300);
    const took = await wakeupAfterEnqueue(listener, enqueuer, 'reports');
    assert.ok(took < WAKEUP_MS, `woken after ${took} ms`);
    assert.ok(
      (await pubsub(cluster.masterOf('{wake2:reports}').port, 'SHARDCHANNELS')).includes(
        '{wake2:reports}:wakeup',
      ),
    );
  });
});
