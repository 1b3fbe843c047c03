import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { ListPosition } from '../../../../src/management/task-list.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { sharedClientRedisBackends } from '../../../support/redis-backends.js';
import type { RedisQueueBackend } from '../../../../src/backends/redis/redis.backend.js';
import { skipUnless } from '../../../support/services.js';

// Scripts that delete many records (a batch of completions with removeOnComplete, cleanup, a queue drain) take them
// out of the creation index together, one ZREM per chunk, finding each member's chunk by the ranges of the chunks
// found before (cx_unindexing in redis-lua.scripts.ts), and pack a UUIDv7 id's member on a path of their own. A wrong
// chunk or member would leave a deleted record's entry behind (the index grows with every removal) or take a live
// one's: after many removals the index must hold exactly the live records, each once, and keyset pages list them all.

describe('Redis creation index after batched removals', { skip: skipUnless('redis') }, () => {
  const redis = sharedClientRedisBackends('rmindex');
  const { open } = redis;
  after(redis.close);

  /** The creation index's chunks: each named by P:cx, none empty, none past 120; every member, as raw bytes. */
  async function indexMembers(prefix: string): Promise<Buffer[]> {
    const tops = await redis.client().zrangeBuffer(`${prefix}:cx`, 0, -1);
    const members: Buffer[] = [];
    for (const top of tops) {
      const n = /\n(\d+)$/.exec(top.toString('latin1'))![1];
      const chunk = await redis.client().zrangeBuffer(`${prefix}:cx:${n}`, 0, -1);
      assert.ok(chunk.length > 0 && chunk.length <= 120, `chunk ${n} holds ${chunk.length}`);
      members.push(...chunk);
    }
    let chunkKeys = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.client().scan(cursor, 'MATCH', `${prefix}:cx:*`, 'COUNT', 1_000);
      cursor = next;
      chunkKeys += keys.filter((key) => /:cx:\d+$/.test(key)).length;
    } while (cursor !== '0');
    assert.equal(chunkKeys, tops.length, 'every chunk key is named in P:cx');
    return members;
  }

  /** Every record through keyset pages of `limit`, newest first. */
  async function listAll(backend: RedisQueueBackend, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let position: ListPosition | undefined;
    for (;;) {
      const page = await backend.listTasks({ limit, ...(position ? { after: position } : {}) });
      ids.push(...page.records.map((record) => record.id));
      if (!page.next) return ids;
      position = page.next;
    }
  }

  /**
   * Records spread over chunks and times: UUIDv7 ids of records created at many instants (the packed path), and
   * ids that take cx_member's general path (a UUIDv4, an id that is no UUID, an uppercase UUIDv7).
   */
  let serial = 0;
  function mixedRecords(count: number): QueuedTaskRecord[] {
    const base = Date.now() - 3_600_000;
    return Array.from({ length: count }, (_, i) => {
      const at = new Date(base + Math.floor(i / 7) * 13 + (i % 3) * 5_000);
      if (i % 11 === 0) return newTaskRecord({ taskName: 'rm.index', id: randomUUID() }, at);
      if (i % 13 === 0) return newTaskRecord({ taskName: 'rm.index', id: `custom-${++serial}` }, at);
      const record = newTaskRecord({ taskName: 'rm.index' }, at);
      return i % 19 === 0 ? { ...record, id: record.id.toUpperCase() } : record;
    });
  }

  /** Claims everything and completes it in batches of `batch`, removing the records `remove` picks. */
  async function drain(
    backend: RedisQueueBackend,
    batch: number,
    remove: (id: string) => boolean,
  ): Promise<void> {
    for (;;) {
      const claimed = await backend.claimMany({ limit: batch, workerId: 'rm-index' });
      if (claimed.length === 0) return;
      const items = claimed.map((record) => ({
        id: record.id,
        expectedRetryCount: record.retryCount,
        result: null,
        remove: remove(record.id),
      }));
      const outcome = await backend.completeAndClaim(items, undefined);
      assert.ok(outcome.completed.every(Boolean));
    }
  }

  test('a drain that removes two records of three leaves exactly the kept ones indexed and listed once', async () => {
    const { backend, prefix } = await open();
    try {
      const records = mixedRecords(1_500);
      await backend.enqueueMany(records);
      assert.equal((await indexMembers(prefix)).length, 1_500);
      const removed = new Set(records.filter((_, i) => i % 3 !== 0).map((record) => record.id));
      await drain(backend, 100, (id) => removed.has(id));

      const live = records.filter((record) => !removed.has(record.id)).map((record) => record.id);
      const listed = await listAll(backend, 37);
      assert.equal(listed.filter((id) => removed.has(id)).length, 0, 'no removed record is listed');
      assert.equal(new Set(listed).size, listed.length, 'no record is listed twice');
      assert.deepEqual([...listed].sort(), [...live].sort(), 'every kept record is listed');
      assert.equal((await indexMembers(prefix)).length, live.length, 'the index holds the kept records only');

      // Cleanup deletes the kept ones in one script: the index is left empty, with no chunk named.
      assert.equal(await backend.cleanupTerminal(new Date(Date.now() + 60_000)), live.length);
      assert.deepEqual(await listAll(backend, 50), []);
      assert.equal((await indexMembers(prefix)).length, 0);
      assert.equal(await redis.client().zcard(`${prefix}:cx`), 0);
    } finally {
      await backend.close();
    }
  });

  test('removals mixed with new records keep the index bounded by the live records', async () => {
    const { backend, prefix } = await open();
    try {
      const live = new Set<string>();
      for (let round = 0; round < 6; round++) {
        const records = mixedRecords(400);
        await backend.enqueueMany(records);
        for (const record of records) live.add(record.id);
        // Every round removes what it completes except one record in five.
        await drain(backend, 64, (id) => {
          const remove = id.charCodeAt(id.length - 1) % 5 !== 0;
          if (remove) live.delete(id);
          return remove;
        });
        assert.equal((await indexMembers(prefix)).length, live.size, `round ${round}`);
      }
      const listed = await listAll(backend, 100);
      assert.equal(new Set(listed).size, listed.length);
      assert.deepEqual([...listed].sort(), [...live].sort());

      // A queue drain deletes waiting records the same way.
      await backend.enqueueMany(mixedRecords(300));
      assert.equal(await backend.deleteWaiting('default', 1_000), 300);
      assert.equal((await indexMembers(prefix)).length, live.size);
      assert.deepEqual((await listAll(backend, 100)).sort(), [...live].sort());
    } finally {
      await backend.close();
    }
  });
});
