import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { RedisClusterQueueBackend } from '../../../../src/backends/redis/redis-cluster.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { ThrowawayRedisCluster } from '../../../support/redis-cluster.js';
import { uniqueSuffix } from '../../../support/services.js';

/** An index entry is kept for a minute after it was written (an enqueue may still be writing its record). */
const PAST_THE_GRACE = 61_000;

/**
 * The cluster's id index (`{P#i<n>}` buckets: id → queue) has an entry per stored record. Records deleted inside a
 * queue's slot (retention, cleanup, removeOnComplete) cannot drop their entry in the same script, so before the
 * sweep the index kept one for every record ever enqueued: it grew without bound.
 */
describe('Redis Cluster id index: entries of deleted records go', () => {
  const cluster = new ThrowawayRedisCluster();
  let raw: Cluster;
  before(async () => {
    await cluster.start();
    raw = new Cluster(cluster.nodes);
  });
  after(async () => {
    raw.disconnect();
    await cluster.stop();
  });

  const open = async () => {
    const prefix = `idx_${uniqueSuffix()}`;
    const backend = new RedisClusterQueueBackend({
      type: 'redis',
      cluster: { nodes: cluster.nodes },
      keyPrefix: prefix,
    });
    await backend.open();
    const entries = async () => {
      let total = 0;
      for (let n = 0; n < 16; n++) total += await raw.hlen(`{${prefix}#i${n}}`);
      return total;
    };
    return { backend, entries };
  };
  const enqueue = (backend: RedisClusterQueueBackend, count: number) =>
    backend.enqueueMany(
      Array.from({ length: count }, (_, i) =>
        newTaskRecord({ taskName: 't', args: [i], queue: `q${i % 3}` }),
      ),
    );
  const claimAll = async (backend: RedisClusterQueueBackend) => {
    const claimed: QueuedTaskRecord[] = [];
    for (;;) {
      const batch = await backend.claimMany({ limit: 100, workerId: 'w', queues: ['q0', 'q1', 'q2'] });
      if (batch.length === 0) return claimed;
      claimed.push(...batch);
    }
  };
  const waitFor = async (what: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await what()); i++) await sleep(20);
    assert.ok(await what());
  };

  test('removeOnComplete drops the entry with the completion; a retention delete leaves it to the sweep, which drops it and keeps live ones', async () => {
    const { backend, entries } = await open();
    try {
      await enqueue(backend, 150);
      const claimed = await claimAll(backend);
      assert.equal(claimed.length, 150);
      assert.equal(await entries(), 150);
      const [removed, kept] = [claimed.slice(0, 60), claimed.slice(60)];
      const done = await backend.completeAndClaim(
        claimed.map((r) => ({ id: r.id, result: null, expectedRetryCount: 0, remove: removed.includes(r) })),
        undefined,
      );
      assert.ok(done.completed.every(Boolean));
      await waitFor(async () => (await entries()) === kept.length);

      // Retention deletes the kept completed records in their slots: their entries stay, dangling.
      assert.equal(
        await backend.cleanupTerminal(new Date(Date.now() + 1_000), { limit: 1_000 }),
        kept.length,
      );
      assert.equal(await entries(), kept.length);
      const live = await enqueue(backend, 30);
      // Younger than the grace: nothing is dropped yet.
      assert.equal(await backend.sweepIdIndex(1_000), 0);
      assert.equal(await backend.sweepIdIndex(1_000, Date.now() + PAST_THE_GRACE), kept.length);
      assert.equal(await entries(), live.length, 'only the live records keep an entry');
      for (const record of live) assert.equal((await backend.getTask(record.id))?.id, record.id);
    } finally {
      await backend.close();
    }
  });

  test("a queue's clean and drain, and single completions and failures that delete, drop their entries themselves, no sweep", async () => {
    const { backend, entries } = await open();
    try {
      await enqueue(backend, 150);
      const claimed = await backend.claimMany({ limit: 60, workerId: 'w', queues: ['q0', 'q1', 'q2'] });
      assert.equal(claimed.length, 60);
      const failed = claimed.slice(0, 10);
      for (const record of failed)
        assert.ok(await backend.failTask(record.id, 'boom', { retry: false, expectedRetryCount: 0 }));
      // Deleted as they end, one at a time (not through the batch): their entries go with them.
      for (const record of claimed.slice(10, 13))
        assert.ok(await backend.completeTask(record.id, 1, { expectedRetryCount: 0, remove: true }));
      for (const record of claimed.slice(13, 15))
        assert.ok(
          await backend.failTask(record.id, 'x', { retry: false, expectedRetryCount: 0, remove: true }),
        );
      assert.equal(await entries(), 145);
      await backend.completeAndClaim(
        claimed.slice(15).map((r) => ({ id: r.id, result: null, expectedRetryCount: 0 })),
        undefined,
      );
      const before = new Date(Date.now() + 1_000);
      let cleaned = 0;
      for (const queue of ['q0', 'q1', 'q2'])
        cleaned += await backend.deleteTerminal(queue, { statuses: ['completed'], before, limit: 1_000 });
      assert.equal(cleaned, 45);
      assert.equal(await entries(), 100, 'the cleaned records have no entry left: 90 waiting, 10 failed');
      let drained = 0;
      for (const queue of ['q0', 'q1']) drained += await backend.deleteWaiting(queue, 1_000);
      assert.equal(await entries(), 100 - drained);
      const left = await backend.getStatistics();
      assert.equal(await entries(), left.pending + left.failed, 'an entry for each stored record, no more');
      for (const record of failed) assert.equal((await backend.getTask(record.id))?.status, 'failed');
    } finally {
      await backend.close();
    }
  });

  test("the retention pass's removeAged runs a sweep step, which goes on where the last one stopped", async () => {
    const { backend, entries } = await open();
    try {
      await enqueue(backend, 2_400);
      const claimed = await claimAll(backend);
      await backend.completeAndClaim(
        claimed.map((r) => ({ id: r.id, result: null, expectedRetryCount: 0 })),
        undefined,
      );
      let left = claimed.length;
      while (left > 0) left -= await backend.cleanupTerminal(new Date(Date.now() + 1_000), { limit: 1_000 });
      assert.equal(await entries(), 2_400);
      // Steps of about 500 entries each walk the whole index in turn, never reading the same bucket twice in a row
      // before the others.
      const later = Date.now() + PAST_THE_GRACE;
      let steps = 0;
      while ((await entries()) > 0 && steps < 20) {
        await backend.removeAged(later, 500);
        steps++;
      }
      assert.equal(await entries(), 0);
      assert.ok(steps >= 3, `${steps} steps of 500 for 2,400 entries`);
    } finally {
      await backend.close();
    }
  });
});
