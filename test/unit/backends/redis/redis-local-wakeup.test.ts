import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { deleteRedisKeys } from '../../../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

describe('Redis wakeup of a worker in the enqueuing process', { skip: skipUnless('redis') }, () => {
  const keyPrefix = `lw_${uniqueSuffix()}`;
  after(() => deleteRedisKeys(keyPrefix));

  test('a single enqueue wakes it as its script leaves, and the claim it sends then finds the record', async () => {
    const backend = new RedisQueueBackend({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    await backend.open();
    try {
      // The first wait opens the subscription and wakes at once (a wakeup may have been missed before it).
      assert.equal(await backend.waitForNotifications(2_000), true);
      const order: string[] = [];
      // As the worker's claim loop does: claim as soon as the wait ends, through the same backend.
      const claimed = backend.waitForNotifications(5_000).then((woken) => {
        order.push(`woken ${woken}`);
        return backend.claimMany({ limit: 5, queues: [keyPrefix], workerId: 'w' });
      });
      const record = newTaskRecord({ taskName: 'lw.t', queue: keyPrefix });
      await backend.enqueue(record).then(() => order.push('stored'));
      // Woken before the enqueue's reply came back (its own wakeup message is dropped as this process's echo).
      assert.deepEqual(order, ['woken true', 'stored']);
      // Sent right behind the enqueue on the same connection, so run after it: the record is there to claim.
      assert.deepEqual(
        (await claimed).map((r) => r.id),
        [record.id],
      );
      // A delayed record wakes nobody early (nothing is due).
      const early = backend.waitForNotifications(300);
      await backend.enqueue(
        newTaskRecord({ taskName: 'lw.t', queue: keyPrefix, scheduledAt: new Date(Date.now() + 60_000) }),
      );
      assert.equal(await early, false);
    } finally {
      await backend.close();
    }
  });
});
