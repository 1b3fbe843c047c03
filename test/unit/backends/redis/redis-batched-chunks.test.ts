import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { sharedClientRedisBackends } from '../../../support/redis-backends.js';
import { skipUnless } from '../../../support/services.js';

// The enqueue script adds a batch's ready-set and creation-index members in one ZADD per chunk (chunk_batching in
// redis-lua.scripts.ts), splitting a chunk that would pass 120 members as adding one at a time would. Large batches
// with mixed priorities (members below every chunk, so the first chunk's bound moves mid-batch) must leave every
// chunk a listpack of at most 120 members and the same order as one sorted set.

describe('Redis batched chunk adds', { skip: skipUnless('redis') }, () => {
  const redis = sharedClientRedisBackends('batched');
  const { open } = redis;
  after(redis.close);

  /** Every chunk key under `pattern` (`…:<n>` or `…#<n>`): each a listpack of at most 120; their total size. */
  async function chunkMembers(pattern: string, chunkKey: RegExp): Promise<number> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.client().scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      keys.push(...found.filter((key) => chunkKey.test(key)));
    } while (cursor !== '0');
    let total = 0;
    for (const key of keys) {
      const size = await redis.client().zcard(key);
      assert.ok(size <= 120, `${key} holds ${size}`);
      assert.equal(await redis.client().object('ENCODING', key), 'listpack', key);
      total += size;
    }
    return total;
  }

  /** Claim order: higher priority first, then enqueue order. */
  const claimOrder = (records: QueuedTaskRecord[]) =>
    records
      .map((record, i) => ({ record, i }))
      .sort((a, b) => b.record.priority - a.record.priority || a.i - b.i)
      .map(({ record }) => record.id);

  test('one enqueueMany of 1,500 records with mixed priorities claims in order from full listpack chunks', async () => {
    const { backend, prefix } = await open();
    try {
      // Rising priorities now and then put members below every chunk (the sort key starts with -priority).
      const records = Array.from({ length: 1_500 }, (_, i) =>
        newTaskRecord({
          taskName: 'batched.task',
          queue: 'bq',
          priority: i % 400 === 399 ? i : (i * 37) % 5,
        }),
      );
      const stored = await backend.enqueueMany(records);
      assert.deepEqual(
        stored.map((r) => r.id),
        records.map((r) => r.id),
      );
      assert.equal(await chunkMembers(`${prefix}:r:bq|local#*`, /#\d+$/), records.length);
      assert.equal(await chunkMembers(`${prefix}:cx:*`, /:cx:\d+$/), records.length);
      const claimed: string[] = [];
      for (;;) {
        const batch = await backend.claimMany({ limit: 97, workerId: 'w' });
        if (batch.length === 0) break;
        claimed.push(...batch.map((r) => r.id));
      }
      assert.deepEqual(claimed, claimOrder(records));
    } finally {
      await backend.close();
    }
  });

  test('batches appended to a populated store keep the creation index complete and newest first', async () => {
    const { backend, prefix } = await open();
    try {
      const all: QueuedTaskRecord[] = [];
      for (const size of [130, 1, 450, 240, 7]) {
        const batch = Array.from({ length: size }, () =>
          newTaskRecord({ taskName: 'batched.cx', queue: 'cq' }),
        );
        await backend.enqueueMany(batch);
        all.push(...batch);
      }
      assert.equal(await chunkMembers(`${prefix}:cx:*`, /:cx:\d+$/), all.length);
      assert.equal(await chunkMembers(`${prefix}:r:cq|local#*`, /#\d+$/), all.length);
      const newest = [...all]
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
        .map((r) => r.id);
      assert.deepEqual(
        (await backend.listRecords({ limit: 1_000 })).map((r) => r.id),
        newest,
      );
      assert.equal((await backend.getStatistics()).pending, all.length);
    } finally {
      await backend.close();
    }
  });
});
