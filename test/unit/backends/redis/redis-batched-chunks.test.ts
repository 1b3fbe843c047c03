import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { enqueueArguments, recordFields } from '../../../../src/backends/redis/redis-record-fields.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import type { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { sharedClientRedisBackends } from '../../../support/redis-backends.js';
import { skipUnless } from '../../../support/services.js';

// The enqueue script adds a batch's ready-set and creation-index members in one ZADD per chunk (chunk_batching in
// redis-lua.scripts.ts), splitting a chunk that would pass 120 members as adding one at a time would. Large batches
// with mixed priorities (members below every chunk, so the first chunk's bound moves mid-batch) must leave every
// chunk a listpack of at most 120 members and the same order as one sorted set.

/** The backend lists exactly `all`, newest first by creation time then id. */
async function assertListedNewestFirst(backend: RedisQueueBackend, all: readonly QueuedTaskRecord[]) {
  const newest = [...all]
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
    .map((r) => r.id);
  assert.deepEqual(
    (await backend.listRecords({ limit: 1_000 })).map((r) => r.id),
    newest,
  );
}
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
      await assertListedNewestFirst(backend, all);
      assert.equal((await backend.getStatistics()).pending, all.length);
    } finally {
      await backend.close();
    }
  });

  test('ids of one millisecond in random order, as other processes make them, land in the right chunks, listed once', async () => {
    const { backend, prefix } = await open();
    try {
      // Ids of a few milliseconds whose random tails come in any order, as several producers' would: members fall
      // below the last chunk's bound, into the chunk before it or further back.
      const at = Date.now();
      const all: QueuedTaskRecord[] = [];
      for (const size of [300, 250, 180]) {
        const batch = Array.from({ length: size }, (_, i) => {
          const ms = (at + (i % 3)).toString(16).padStart(12, '0');
          const id = `${ms.slice(0, 8)}-${ms.slice(8)}-7${randomUUID().slice(15)}`;
          return newTaskRecord({ id, taskName: 'batched.random', queue: 'rq' }, new Date(at + (i % 3)));
        });
        await backend.enqueueMany(batch);
        all.push(...batch);
      }
      assert.equal(await chunkMembers(`${prefix}:cx:*`, /:cx:\d+$/), all.length);
      await assertListedNewestFirst(backend, all);
    } finally {
      await backend.close();
    }
  });

  test('a batch of several chunks sends them right behind its check, not after its reply', async () => {
    const { backend } = await open();
    // The shared client's script methods, wrapped for this test only (the suite's backends share the client).
    const client = redis.client() as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const names = ['qEnqueueCheck', 'qEnqueueGuarded', 'qEnqueue'];
    const originals = names.map((name) => client[name]!);
    const seen: string[] = [];
    names.forEach((name, i) => {
      client[name] = function (this: unknown, ...args: unknown[]) {
        seen.push(name === 'qEnqueueCheck' ? 'check' : 'chunk');
        return originals[i]!.apply(this, args).then((reply) => {
          if (name === 'qEnqueueCheck') seen.push('check replied');
          return reply;
        });
      };
    });
    try {
      const records = Array.from({ length: 450 }, () =>
        newTaskRecord({ taskName: 'batched.pipe', queue: 'pq' }),
      );
      await backend.enqueueMany(records);
      assert.ok(seen.indexOf('chunk') < seen.indexOf('check replied'), seen.slice(0, 5).join(', '));
      assert.equal((await backend.getStatistics({ queue: 'pq' })).pending, records.length);
    } finally {
      names.forEach((name, i) => (client[name] = originals[i]!));
      await backend.close();
    }
  });

  test('the enqueue script answers a batch with one flag per record and the hashes of the held ones only', async () => {
    const { backend, prefix } = await open();
    try {
      const held = newTaskRecord({ taskName: 'batched.reply', queue: 'yq', key: `k:${randomUUID()}` });
      await backend.enqueue(held);
      const fresh = newTaskRecord({ taskName: 'batched.reply', queue: 'yq' });
      const again = newTaskRecord({ taskName: 'batched.reply', queue: 'yq', key: held.key });
      const client = redis.client() as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const args = [Date.now(), '', 'test|enqueue', 2];
      for (const record of [fresh, again]) args.push(...enqueueArguments(record, recordFields(record)));
      const reply = (await client['qEnqueue']!(prefix, ...args)) as unknown[];
      assert.equal(reply.length, 2);
      assert.equal(reply[0], '10');
      assert.ok(
        (reply[1] as string[]).includes(held.id),
        'the holder of the key, as a flat hash with its id',
      );
      assert.equal(
        (await backend.enqueueMany([fresh, again])).map((r) => r.id).join(),
        [fresh.id, held.id].join(),
      );
    } finally {
      await backend.close();
    }
  });

  test('a chunk of a batch whose check did not pass (failed, or never ran) writes nothing', async () => {
    const { backend, prefix } = await open();
    try {
      const record = newTaskRecord({ taskName: 'batched.guard', queue: 'gq' });
      const client = redis.client() as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const args = [Date.now(), '', 'test|enqueue', 1, ...enqueueArguments(record, recordFields(record))];
      await assert.rejects(
        client['qEnqueueGuarded']!(prefix, ...args, randomUUID(), 1, 1),
        /check did not pass/,
      );
      assert.equal(await backend.getTask(record.id), null);
      assert.equal((await backend.getStatistics({ queue: 'gq' })).total, 0);
    } finally {
      await backend.close();
    }
  });
});
