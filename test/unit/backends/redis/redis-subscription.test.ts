import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { deleteRedisKeys } from '../../../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

/** Subscribers of `channel` on the server, polled until it is `want` (or a second has passed). */
async function subscribersOf(admin: Redis, channel: string, want: number): Promise<number> {
  let count = -1;
  for (let i = 0; i < 100 && count !== want; i++) {
    const [, n] = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    count = Number(n);
    if (count !== want) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return count;
}

describe('Redis wakeup subscription', { skip: skipUnless('redis') }, () => {
  const keyPrefix = `sub_${uniqueSuffix()}`;
  const channel = `${keyPrefix}:wakeup`;
  const admin = new Redis(testServices.redisUrl);
  after(async () => {
    await deleteRedisKeys(keyPrefix);
    admin.disconnect();
  });

  test('a process that only enqueues holds no subscriber; the first wait opens it, and it still wakes', async () => {
    const producer = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    const worker = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    await producer.open();
    await worker.open();
    try {
      assert.equal(producer.capabilities.notifications, true, 'enqueues still publish wakeups');
      await producer.enqueue(newTaskRecord({ taskName: 'sub.t', queue: keyPrefix }));
      assert.equal(await subscribersOf(admin, channel, 0), 0, 'nobody subscribed before a wait');
      assert.equal(producer.listenerAlive, true, 'no listener is needed yet, so health is fine');

      // The first wait opens the worker's subscription (and wakes at once: a wakeup may have been missed).
      assert.equal(await worker.waitForNotifications(2_000), true);
      assert.equal(await subscribersOf(admin, channel, 1), 1);
      // From then on, another process's enqueue wakes it.
      const woken = worker.waitForNotifications(5_000);
      await producer.enqueue(newTaskRecord({ taskName: 'sub.t', queue: keyPrefix }));
      assert.equal(await woken, true);
      assert.equal(await subscribersOf(admin, channel, 1), 1, 'the producer never subscribed');
    } finally {
      await producer.close();
      await worker.close();
    }
    assert.equal(await subscribersOf(admin, channel, 0), 0, 'close drops the subscription');
  });

  test('close while the first subscription is still connecting leaves no connection behind', async () => {
    const backend = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    await backend.open();
    void backend.waitForNotifications(1_000);
    await backend.close();
    assert.equal(await subscribersOf(admin, channel, 0), 0);
  });
});
