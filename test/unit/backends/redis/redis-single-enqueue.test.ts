import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { ThrowawayRedis, freePort } from '../../../chaos/support/throwaway-redis.js';
import { skipUnless } from '../../../support/services.js';

// A single enqueue into a ready set that has a chunk already skips the SADDs of the set's name and its queue
// (ENQUEUE_ONE in redis-lua.scripts.ts): both are listed by the script that gave the set its first member. A
// redis-server of its own, so INFO commandstats counts only this test's commands.

describe('Redis single enqueue', { skip: skipUnless('redis') }, () => {
  let server: ThrowawayRedis;
  let admin: Redis;
  before(async () => {
    server = new ThrowawayRedis(await freePort());
    await server.start();
    admin = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  after(async () => {
    admin.disconnect();
    await server.stop();
  });

  const saddCalls = async () =>
    Number(/cmdstat_sadd:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);

  test('the first record of a queue lists the queue and its ready set; the next ones write neither again', async () => {
    const backend = new RedisQueueBackend({
      type: 'redis',
      url: `redis://127.0.0.1:${server.port}/0`,
      keyPrefix: 'single',
    });
    await backend.open();
    try {
      await admin.config('RESETSTAT');
      await backend.enqueue(newTaskRecord({ taskName: 'single.t', queue: 'sq' }));
      assert.equal(await saddCalls(), 2, 'the first record lists its queue and its ready set');
      await backend.enqueue(newTaskRecord({ taskName: 'single.t', queue: 'sq' }));
      await backend.enqueue(newTaskRecord({ taskName: 'single.t', queue: 'sq' }));
      assert.equal(await saddCalls(), 2, 'the next records list nothing again');
      assert.deepEqual(await admin.smembers('single:queues'), ['sq']);
      assert.deepEqual(await admin.smembers('single:readysets'), ['sq|local']);
      assert.equal((await backend.getStatistics({ queue: 'sq' })).pending, 3);
      assert.equal((await backend.claimMany({ limit: 5, workerId: 'w' })).length, 3);
    } finally {
      await backend.close();
    }
  });
});
