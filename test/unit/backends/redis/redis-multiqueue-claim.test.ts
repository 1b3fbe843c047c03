import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { sharedClientRedisBackends } from '../../../support/redis-backends.js';
import { skipUnless } from '../../../support/services.js';

// A claim across several queues on one Redis keeps one order over all of them: higher priority first, then earlier
// queuedAt, then enqueue order (claim_across in redis-lua.scripts.ts reads each queue's head once per call and pops
// runs from the best queue until the second-best head). Backlogs here span several 120-member chunks per queue, mix
// long runs of one queue with queues filled side by side, and leave out a paused and an excluded queue.

describe('Redis claim across queues', { skip: skipUnless('redis') }, () => {
  const redis = sharedClientRedisBackends('mqclaim');
  const { open } = redis;
  after(redis.close);

  /** Claim order of `records`, enqueued in this order: priority descending, queuedAt, then enqueue order. */
  const claimOrder = (records: QueuedTaskRecord[]) =>
    records
      .map((record, i) => ({ record, i }))
      .sort(
        (a, b) =>
          b.record.priority - a.record.priority ||
          a.record.queuedAt.getTime() - b.record.queuedAt.getTime() ||
          a.i - b.i,
      )
      .map(({ record }) => record.id);

  /** A small deterministic generator, so a failure repeats. */
  const random = (seed: number) => () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };

  test('claims of any size take records of four queues in one order, leaving paused and excluded queues', async () => {
    const { backend, prefix } = await open();
    try {
      const next = random(7);
      const t = Date.now() - 3_600_000;
      const queues = ['qa', 'qb', 'qc', 'qd'];
      const records: QueuedTaskRecord[] = [];
      for (let i = 0; i < 1_600; i++) {
        // qa gets long runs of its own (old queuedAt blocks), the others interleave at a few priorities and times.
        const queue = i % 200 < 60 ? 'qa' : queues[Math.floor(next() * queues.length)]!;
        const at =
          queue === 'qa' && i % 200 < 60 ? t + Math.floor(i / 200) * 1_000 : t + Math.floor(next() * 20_000);
        records.push(
          newTaskRecord(
            { taskName: 'mq.task', queue, priority: [0, 0, 0, 1, 5][Math.floor(next() * 5)]! },
            new Date(at),
          ),
        );
      }
      const paused = Array.from({ length: 50 }, () =>
        newTaskRecord({ taskName: 'mq.task', queue: 'qpaused', priority: 9 }, new Date(t)),
      );
      const excluded = Array.from({ length: 50 }, () =>
        newTaskRecord({ taskName: 'mq.task', queue: 'qexcluded', priority: 9 }, new Date(t)),
      );
      // In slices, so chunks split as they do under a stream of enqueues.
      for (let i = 0; i < records.length; i += 173) await backend.enqueueMany(records.slice(i, i + 173));
      await backend.enqueueMany([...paused, ...excluded]);
      await backend.setQueuePaused('qpaused', true);

      const claimed: QueuedTaskRecord[] = [];
      const limits = [1, 2, 7, 120, 50, 333, 3];
      for (let round = 0; ; round++) {
        const batch = await backend.claimMany({
          limit: limits[round % limits.length]!,
          excludeQueues: ['qexcluded'],
          workerId: 'w',
        });
        if (batch.length === 0) break;
        claimed.push(...batch);
      }
      assert.deepEqual(
        claimed.map((r) => r.id),
        claimOrder(records),
      );
      assert.ok(claimed.every((r) => r.status === 'running' && r.workerId === 'w'));
      // Nothing of the paused or excluded queue was taken, and each ready set was emptied chunk by chunk.
      assert.equal(
        (await backend.claimMany({ limit: 100, queues: ['qexcluded'], workerId: 'w' })).length,
        50,
      );
      await backend.setQueuePaused('qpaused', false);
      assert.equal((await backend.claimMany({ limit: 100, workerId: 'w' })).length, 50);
      for (const queue of queues) {
        const chunks = (await redis.client().keys(`${prefix}:r:${queue}|local#*`)).filter((key) =>
          /#\d+$/.test(key),
        );
        assert.deepEqual(chunks, [], queue);
        assert.equal(await redis.client().exists(`${prefix}:r:${queue}|local`), 0, queue);
      }
    } finally {
      await backend.close();
    }
  });

  test('completeAndClaim across queues continues the same order after records come back', async () => {
    const { backend } = await open();
    try {
      const t = Date.now() - 60_000;
      const records = Array.from({ length: 300 }, (_, i) =>
        newTaskRecord(
          { taskName: 'mq.task', queue: `q${i % 3}`, priority: i % 7 === 0 ? 2 : 0 },
          new Date(t + i),
        ),
      );
      await backend.enqueueMany(records);
      const order = claimOrder(records);
      let batch = await backend.claimMany({ limit: 10, workerId: 'w' });
      const claimed = [...batch];
      while (batch.length > 0) {
        const outcome = await backend.completeAndClaim(
          batch.map((r) => ({ id: r.id, result: null, expectedRetryCount: 0 })),
          { limit: 10, workerId: 'w' },
        );
        batch = outcome.claimed;
        claimed.push(...batch);
      }
      assert.deepEqual(
        claimed.map((r) => r.id),
        order,
      );
    } finally {
      await backend.close();
    }
  });
});
